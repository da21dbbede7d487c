// SPDX-License-Identifier: Apache-2.0
//
// Controller: proposals (on the leader, or forwarded to it), the calls a
// peer makes, heartbeats, and the bytes of a forwarded proposal's answer.

#include "spate/cluster/controller.h"
#include "spate/cluster/metadata_codec.h"
#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"

namespace spate::cluster {
namespace {

constexpr std::size_t kOutcomeMessageMax = 64U << 10U;

// Worth another try before the deadline: nothing was appended anywhere.
bool retriable(const Error& e) {
  return e.code() == Errc::not_leader || e.code() == Errc::unavailable || e.code() == Errc::busy;
}

Status check_forwarded(const Command& command, NodeId from) {
  // A peer speaks for itself only: it registers, takes producer ids and
  // reports leadership as itself. Fencing is the leader's own verdict (one
  // forwarded by a former leader is stale). Topic changes come from any
  // broker, on behalf of its clients.
  auto refuse = [&](std::string_view what) {
    return Error::invalid(fmt::format("node {} may not propose {}", from, what));
  };
  if (const auto* c = std::get_if<RegisterBroker>(&command); c != nullptr && c->id != from) {
    return refuse(fmt::format("the registration of node {}", c->id));
  }
  if (const auto* c = std::get_if<AllocateProducerIds>(&command);
      c != nullptr && c->broker != from) {
    return refuse(fmt::format("producer ids for node {}", c->broker));
  }
  if (const auto* c = std::get_if<SetPartitionLeader>(&command);
      c != nullptr && c->leader != from) {
    return refuse(fmt::format("node {} as a partition's leader", c->leader));
  }
  if (std::holds_alternative<FenceBroker>(command) ||
      std::holds_alternative<UnfenceBroker>(command)) {
    return refuse("a fencing verdict");
  }
  return Status{};
}

}  // namespace

std::vector<std::byte> encode_proposed(const Proposed& p) {
  ByteWriter w;
  w.write<std::uint8_t>(static_cast<std::uint8_t>(p.outcome.error));
  const auto message = std::string_view(p.outcome.message).substr(0, kOutcomeMessageMax);
  w.write<std::uint32_t>(static_cast<std::uint32_t>(message.size()));
  w.write_string(message);
  w.write<std::int64_t>(p.outcome.value);
  w.write<std::int64_t>(p.index);
  return w.release();
}

Result<Proposed> decode_proposed(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  Proposed p;
  auto code = r.read<std::uint8_t>();
  if (!code) return code.error();
  const auto errc = static_cast<Errc>(*code);
  if (errc_name(errc) == "unknown") {
    return Error(Errc::malformed, fmt::format("proposal outcome: unknown error code {}", *code));
  }
  p.outcome.error = errc;
  auto size = r.read<std::uint32_t>();
  if (!size) return size.error();
  if (*size > kOutcomeMessageMax) {
    return Error(Errc::malformed, fmt::format("proposal outcome: message of {} bytes", *size));
  }
  auto text = r.read_bytes(*size);
  if (!text) return text.error();
  p.outcome.message.assign(reinterpret_cast<const char*>(text->data()), text->size());
  auto value = r.read<std::int64_t>();
  if (!value) return value.error();
  auto index = r.read<std::int64_t>();
  if (!index) return index.error();
  if (!r.empty()) return Error(Errc::malformed, "proposal outcome: trailing bytes");
  p.outcome.value = *value;
  p.index = *index;
  return p;
}

awaitable<Result<Proposed>> Controller::propose(Command command, Clock::SteadyTime deadline) {
  if (auto refused = refusal(command)) co_return Proposed{std::move(*refused), -1};
  // Bounded: each pass waits retry_backoff (or an applied entry) and the
  // loop ends at the deadline.
  while (true) {
    if (stopping_) co_return Error(Errc::shutting_down, "controller closing");
    if (!failed_) co_return failed_.error();
    if (clock_.steady_now() >= deadline) {
      co_return Error(Errc::timeout, "no controller leader took the command in time");
    }
    Result<Proposed> r = Error(Errc::not_leader, "no controller leader known");
    if (is_leader()) {
      r = co_await propose_here(command, deadline);
    } else if (const NodeId to = call_target();
               to != kNoLeader && to != config_.self && transport_ != nullptr) {
      r = co_await forward(to, command, deadline);
    }
    if (r || !retriable(r.error())) co_return r;
    co_await changed_.wait_at_most(
        std::min<Clock::Duration>(config_.retry_backoff, deadline - clock_.steady_now()));
  }
}

awaitable<Result<Proposed>> Controller::propose_here(const Command& command,
                                                     Clock::SteadyTime deadline) {
  protocol::BatchBuilder builder(clock_.wall_ms());
  const auto bytes = encode_command(command);
  builder.add_value(bytes);
  auto batch = builder.build();
  auto appended = partition_->append(batch);
  if (!appended) co_return appended.error();
  const Offset at = appended->last_offset;
  awaited_[at] = Awaited{appended->term, std::nullopt};
  auto committed = co_await partition_->wait_committed(at + 1, deadline, appended->term);
  if (!committed) {
    if (auto it = awaited_.find(at); it != awaited_.end() && it->second.term == appended->term) {
      awaited_.erase(it);
    }
    // Appended: it may commit under the next leader, so not "retriable".
    if (committed.error().code() == Errc::not_leader) {
      co_return Error(Errc::timeout,
                      "the controller leader changed before the command committed; it may still "
                      "apply");
    }
    co_return committed.error();
  }
  const std::function<bool()> applied = [this, at] {
    return applied_end_ > at || stopping_ || !failed_;
  };
  (void)co_await changed_.wait_for(applied, net::deadline_in(deadline - clock_.steady_now()));
  auto it = awaited_.find(at);
  if (it == awaited_.end() || it->second.term != appended->term || !it->second.outcome) {
    if (it != awaited_.end() && it->second.term == appended->term) awaited_.erase(it);
    if (stopping_) co_return Error(Errc::shutting_down, "controller closing");
    if (!failed_) co_return failed_.error();
    co_return Error(Errc::timeout, "the command committed but was not applied in time");
  }
  Proposed out{std::move(*it->second.outcome), at.value() + 1};
  awaited_.erase(it);
  co_return out;
}

awaitable<Result<Proposed>> Controller::forward(NodeId to, const Command& command,
                                                Clock::SteadyTime deadline) {
  auto payload = encode_command(command);
  const auto until = net::deadline_in(deadline - clock_.steady_now());
  auto answer = co_await transport_->call(to, kProposeMethod, std::move(payload), until);
  if (!answer) co_return answer.error();
  auto proposed = decode_proposed(*answer);
  if (!proposed) co_return proposed.error();
  // Answer only once this broker has applied it too.
  const std::int64_t index = proposed->index;
  const std::function<bool()> applied = [this, index] {
    return state_.applied_index() >= index || stopping_ || !failed_;
  };
  if (!co_await changed_.wait_for(applied, net::deadline_in(deadline - clock_.steady_now()))) {
    co_return Error(Errc::timeout, "the command committed but this broker has not applied it yet");
  }
  co_return proposed;
}

awaitable<Result<std::int64_t>> Controller::allocate_producer_id(Clock::SteadyTime deadline) {
  // Bounded: each pass either hands out an id or commits a new block (or fails).
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (!id_blocks_.empty() && next_producer_id_ < id_blocks_.back().second) {
      co_return next_producer_id_++;
    }
    Command command = AllocateProducerIds{config_.self, kProducerIdBlock};
    auto r = co_await propose(std::move(command), deadline);
    if (!r) co_return r.error();
    if (!r->outcome.applied()) co_return Error(r->outcome.error, r->outcome.message);
    const std::int64_t first = r->outcome.value;
    // (Another call may have taken a block meanwhile: the newest wins.)
    if (id_blocks_.empty() || first >= id_blocks_.back().second) {
      id_blocks_.emplace_back(first, first + kProducerIdBlock);
      next_producer_id_ = first;
    }
  }
  co_return Error(Errc::busy, "producer id blocks ran out while being allocated");
}

bool Controller::issued_producer_id(std::int64_t id) const {
  // Ids of an earlier block that were not handed out never will be: taking
  // one over harms nobody. The last block's are issued below next_producer_id_.
  for (std::size_t i = 0; i < id_blocks_.size(); ++i) {
    const auto [first, end] = id_blocks_[i];
    const auto last = i + 1 == id_blocks_.size() ? next_producer_id_ : end;
    if (id >= first && id < last) return true;
  }
  return false;
}

awaitable<Result<std::vector<std::byte>>> Controller::handle_call(NodeId from, std::uint16_t method,
                                                                  std::vector<std::byte> payload) {
  if (method == kHeartbeatMethod) {
    ByteReader r(payload);
    auto id = r.read<std::int32_t>();
    auto epoch = r.read<std::int64_t>();
    if (!id || !epoch || !r.empty() || NodeId(*id) != from) {
      co_return Error::invalid(fmt::format("a bad heartbeat from node {}", from));
    }
    if (!is_leader()) co_return Error(Errc::not_leader, "not the controller leader");
    // Its registration (at index `epoch`) applied here and is gone since: removed.
    if (state_.broker(from) == nullptr && state_.applied_index() >= *epoch) {
      co_return Error(
          Errc::not_found,
          fmt::format("node {} is not registered: it was removed from the cluster", from));
    }
    note_heartbeat(from, *epoch);
    co_return std::vector<std::byte>{};
  }
  if (method != kProposeMethod) {
    co_return Error::invalid(fmt::format("controller: unknown method {}", method));
  }
  auto command = decode_command(payload, config_.limits);
  if (!command) co_return command.error();
  if (auto s = check_forwarded(*command, from); !s) co_return s.error();
  if (auto refused = refusal(*command))
    co_return encode_proposed(Proposed{std::move(*refused), -1});
  // Never forwarded again: a follower's answer sends the proposer to retry.
  if (!is_leader()) co_return Error(Errc::not_leader, "not the controller leader");
  auto r = co_await propose_here(*command, clock_.steady_now() + config_.call_timeout);
  if (!r) co_return r.error();
  co_return encode_proposed(*r);
}

awaitable<Status> Controller::heartbeat(Clock::SteadyTime deadline) {
  if (is_leader()) {
    note_heartbeat(config_.self, broker_epoch_);
    co_return Status{};
  }
  const NodeId to = call_target();
  if (to == kNoLeader || to == config_.self || transport_ == nullptr) {
    co_return Error(Errc::not_leader, "no controller leader known");
  }
  ByteWriter w;
  w.write<std::int32_t>(config_.self.value());
  w.write<std::int64_t>(broker_epoch_);
  auto payload = w.release();
  const auto until = net::deadline_in(deadline - clock_.steady_now());
  auto r = co_await transport_->call(to, kHeartbeatMethod, std::move(payload), until);
  if (!r) {
    // The leader has applied this run's registration and its removal (a
    // removed learner may never get the entry itself).
    if (r.error().code() == Errc::not_found) removed_by_leader_ = true;
    co_return r.error();
  }
  co_return Status{};
}

}  // namespace spate::cluster
