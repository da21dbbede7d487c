// SPDX-License-Identifier: Apache-2.0

#include "spate/raft/wire.h"

#include <fmt/format.h>

#include "spate/common/bytes.h"

namespace spate::raft {
namespace {

constexpr std::uint8_t kReject = 1;
constexpr std::uint8_t kForce = 2;
constexpr std::size_t kFixedBytes = 1 + 1 + 4 + 4 + 8 * 5 + 1 + 4;
constexpr std::size_t kEntryHeaderBytes = 8 + 8 + 4;

}  // namespace

std::vector<std::byte> encode_message(const Message& m) {
  std::size_t size = kFixedBytes;
  for (const auto& e : m.entries) size += kEntryHeaderBytes + e.data.size();
  ByteWriter out(size);
  out.write<std::uint8_t>(kWireVersion);
  out.write<std::uint8_t>(static_cast<std::uint8_t>(m.type));
  out.write<std::int32_t>(m.from.value());
  out.write<std::int32_t>(m.to.value());
  out.write<std::int64_t>(m.term.value());
  out.write<std::int64_t>(m.log_index);
  out.write<std::int64_t>(m.log_term.value());
  out.write<std::int64_t>(m.commit);
  out.write<std::int64_t>(m.hint);
  out.write<std::uint8_t>(
      static_cast<std::uint8_t>((m.reject ? kReject : 0) | (m.force ? kForce : 0)));
  out.write<std::uint32_t>(static_cast<std::uint32_t>(m.entries.size()));
  for (const auto& e : m.entries) {
    out.write<std::int64_t>(e.index);
    out.write<std::int64_t>(e.term.value());
    out.write<std::uint32_t>(static_cast<std::uint32_t>(e.data.size()));
    out.write_bytes(e.data);
  }
  return out.release();
}

Result<Message> decode_message(std::span<const std::byte> bytes, const WireLimits& limits) {
  auto bad = [](std::string_view why) {
    return Error::malformed(fmt::format("raft message: {}", why));
  };
  if (bytes.size() < kFixedBytes)
    return bad(fmt::format("{} bytes, shorter than the header", bytes.size()));
  ByteReader in(bytes);
  const auto version = *in.read<std::uint8_t>();
  if (version != kWireVersion) {
    return Error(Errc::unsupported_version, fmt::format("raft message version {}", version));
  }
  Message m;
  const auto type = *in.read<std::uint8_t>();
  if (type > static_cast<std::uint8_t>(kLastMessageType)) return bad(fmt::format("type {}", type));
  m.type = static_cast<MessageType>(type);
  m.from = NodeId(*in.read<std::int32_t>());
  m.to = NodeId(*in.read<std::int32_t>());
  m.term = Term(*in.read<std::int64_t>());
  m.log_index = *in.read<std::int64_t>();
  m.log_term = Term(*in.read<std::int64_t>());
  m.commit = *in.read<std::int64_t>();
  m.hint = *in.read<std::int64_t>();
  const auto flags = *in.read<std::uint8_t>();
  if ((flags & ~(kReject | kForce)) != 0) return bad(fmt::format("flags {:#x}", flags));
  m.reject = (flags & kReject) != 0;
  m.force = (flags & kForce) != 0;
  const auto count = *in.read<std::uint32_t>();
  if (count > limits.entries_max || count > in.remaining() / kEntryHeaderBytes) {
    return bad(fmt::format("{} entries in {} bytes", count, in.remaining()));
  }
  if (m.term < Term(0) || m.log_index < -1 || m.commit < 0) {
    return bad("negative term, index or commit");
  }
  m.entries.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto index = in.read<std::int64_t>();
    auto term = in.read<std::int64_t>();
    auto size = in.read<std::uint32_t>();
    if (!index || !term || !size) return bad(fmt::format("entry {} truncated", i));
    if (*size > limits.entry_bytes_max) return bad(fmt::format("entry of {} bytes", *size));
    auto data = in.read_bytes(*size);
    if (!data)
      return bad(fmt::format("entry {} claims {} bytes, {} left", i, *size, in.remaining()));
    if (*index < 1 || (i > 0 && *index != m.entries.back().index + 1)) {
      return bad(fmt::format("entry index {} out of sequence", *index));
    }
    m.entries.push_back(
        Entry{*index, Term(*term), std::vector<std::byte>(data->begin(), data->end())});
  }
  if (!in.empty()) return bad(fmt::format("{} trailing bytes", in.remaining()));
  return m;
}

}  // namespace spate::raft
