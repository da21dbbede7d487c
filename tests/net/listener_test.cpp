// SPDX-License-Identifier: Apache-2.0
//
// net::Listener on loopback with a toy protocol (4-byte big-endian size, the
// response echoes the request): order, frame limits, connection cap, stop.

#include "spate/net/listener.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/net/signal.h"

namespace spate::net {
namespace {

using namespace std::chrono_literals;

// Echoes each frame after a delay of (first byte) x 10 ms; a frame starting
// with 0xff never finishes (until the io_context goes).
class Echo final : public Handler {
 public:
  [[nodiscard]] Result<std::size_t> frame_size(std::span<const std::byte, 4> prefix,
                                               std::size_t max) const override {
    const auto size = load_be<std::uint32_t>(prefix.data());
    if (size > max) return Error::limit(fmt::format("frame of {} bytes is too big", size));
    return std::size_t{size};
  }
  awaitable<Result<std::optional<OutFrame>>> handle(std::vector<std::byte> frame,
                                                    std::string /*peer_host*/) override {
    const auto first = frame.empty() ? 0 : std::to_integer<int>(frame[0]);
    if (first == 0xff) co_await never_.wait();
    asio::steady_timer t(co_await asio::this_coro::executor, first * 10ms);
    co_await t.async_wait(use_awaitable);
    OutFrame out;
    auto& part = out.parts.emplace_back();
    part.bytes.resize(4);
    store_be<std::uint32_t>(part.bytes.data(), static_cast<std::uint32_t>(frame.size()));
    part.bytes.insert(part.bytes.end(), frame.begin(), frame.end());
    co_return std::optional<OutFrame>(std::move(out));
  }

 private:
  Signal never_;
};

struct Counters {
  std::atomic<std::uint64_t> open{0}, rejected{0}, bad{0};
};

// A listener on 127.0.0.1 with its io_context on its own thread.
class Harness {
 public:
  explicit Harness(ListenerConfig config)
      : work_(asio::make_work_guard(io_)),
        listener_(io_, with_loopback(std::move(config)), echo_,
                  Metrics{.connections_open = &counters.open,
                          .connections_rejected = &counters.rejected,
                          .bad_frames = &counters.bad},
                  log::Module::server, clock_) {
    port = listener_.listen().value();
    listener_.start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Harness() {
    if (!stopped_) stop(0ms);
    work_.reset();
    io_.stop();
    thread_.join();
  }
  // Runs Listener::stop on the io_context; returns how long it took.
  std::chrono::steady_clock::duration stop(std::chrono::milliseconds grace) {
    stopped_ = true;
    const auto started = std::chrono::steady_clock::now();
    asio::co_spawn(io_, listener_.stop(grace), asio::use_future).get();
    return std::chrono::steady_clock::now() - started;
  }
  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    return s;
  }

  Counters counters;
  std::uint16_t port = 0;

 private:
  static ListenerConfig with_loopback(ListenerConfig c) {
    c.host = "127.0.0.1";
    c.port = 0;
    return c;
  }
  SystemClock clock_;
  Echo echo_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Listener listener_;
  std::thread thread_;
  asio::io_context client_io_;
  bool stopped_ = false;
};

void send_frame(tcp::socket& s, std::vector<std::uint8_t> body) {
  std::vector<std::byte> out(4);
  store_be<std::uint32_t>(out.data(), static_cast<std::uint32_t>(body.size()));
  for (auto b : body) out.push_back(std::byte{b});
  asio::write(s, asio::buffer(out));
}

// The next response's body, or nullopt at the end of the stream.
std::optional<std::vector<std::uint8_t>> read_frame(tcp::socket& s) {
  std::array<std::byte, 4> prefix{};
  boost::system::error_code ec;
  asio::read(s, asio::buffer(prefix), ec);
  if (ec) return std::nullopt;
  std::vector<std::uint8_t> body(load_be<std::uint32_t>(prefix.data()));
  asio::read(s, asio::buffer(body), ec);
  if (ec) return std::nullopt;
  return body;
}

TEST(Listener, PipelinedResponsesComeBackInRequestOrder) {
  Harness h(ListenerConfig{});
  auto s = h.connect();
  send_frame(s, {5, 1});  // answered last by the handler (50 ms)
  send_frame(s, {0, 2});
  send_frame(s, {1, 3});
  EXPECT_EQ(read_frame(s), (std::vector<std::uint8_t>{5, 1}));
  EXPECT_EQ(read_frame(s), (std::vector<std::uint8_t>{0, 2}));
  EXPECT_EQ(read_frame(s), (std::vector<std::uint8_t>{1, 3}));
}

TEST(Listener, AnUnreadableSizeClosesAfterTheEarlierResponses) {
  ListenerConfig config;
  config.frame_bytes_max = 1024;
  Harness h(config);
  auto s = h.connect();
  send_frame(s, {2, 7});
  const std::array<std::uint8_t, 4> huge{0x00, 0x10, 0x00, 0x00};  // 1 MiB
  asio::write(s, asio::buffer(huge));
  EXPECT_EQ(read_frame(s), (std::vector<std::uint8_t>{2, 7}));
  EXPECT_FALSE(read_frame(s).has_value());
  EXPECT_EQ(h.counters.bad.load(), 1U);
}

TEST(Listener, ConnectionsOverTheMaximumAreRefused) {
  ListenerConfig config;
  config.connections_max = 1;
  Harness h(config);
  auto first = h.connect();
  send_frame(first, {0});
  ASSERT_TRUE(read_frame(first).has_value());  // admitted and served
  auto second = h.connect();
  EXPECT_FALSE(read_frame(second).has_value());
  EXPECT_EQ(h.counters.rejected.load(), 1U);
  EXPECT_EQ(h.counters.open.load(), 1U);
}

TEST(Listener, StopLetsInFlightRequestsFinishThenCloses) {
  Harness h(ListenerConfig{});
  auto s = h.connect();
  send_frame(s, {10, 9});  // 100 ms in the handler
  std::this_thread::sleep_for(20ms);
  auto response = std::async(std::launch::async, [&] { return read_frame(s); });
  const auto took = h.stop(5000ms);
  EXPECT_EQ(response.get(), (std::vector<std::uint8_t>{10, 9}));
  EXPECT_FALSE(read_frame(s).has_value());
  EXPECT_LT(took, 2s);  // woken when the connection finished, not at the grace
  EXPECT_EQ(h.counters.open.load(), 0U);
}

TEST(Listener, StopGivesUpOnAHungRequestAtTheGrace) {
  Harness h(ListenerConfig{});
  auto s = h.connect();
  send_frame(s, {0xff});
  std::this_thread::sleep_for(20ms);
  const auto took = h.stop(100ms);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 2s);
  EXPECT_FALSE(read_frame(s).has_value());
  EXPECT_EQ(h.counters.open.load(), 0U);
}

}  // namespace
}  // namespace spate::net
