// SPDX-License-Identifier: Apache-2.0

#include "spate/raft/wire.h"

#include <limits>

#include <fmt/format.h>

#include "spate/common/bytes.h"

namespace spate::raft {
namespace {

constexpr std::uint8_t kReject = 1;
constexpr std::uint8_t kForce = 2;
constexpr std::size_t kFixedBytes = 1 + 1 + 4 + 4 + 8 * 5 + 1 + 4;
constexpr std::size_t kEntryHeaderBytes = 8 + 8 + 1 + 4 + 4;

Error bad(std::string_view what, std::string_view why) {
  return Error::malformed(fmt::format("{}: {}", what, why));
}

std::size_t membership_size(const Membership& m) {
  return 4 + 4 * m.voters.size() + 4 + 4 * m.learners.size();
}

void write_membership(ByteWriter& out, const Membership& m) {
  out.write<std::uint32_t>(static_cast<std::uint32_t>(m.voters.size()));
  for (auto id : m.voters) out.write<std::int32_t>(id.value());
  out.write<std::uint32_t>(static_cast<std::uint32_t>(m.learners.size()));
  for (auto id : m.learners) out.write<std::int32_t>(id.value());
}

Result<std::vector<NodeId>> read_ids(ByteReader& in, const WireLimits& limits,
                                     std::string_view what) {
  auto count = in.read<std::uint32_t>();
  if (!count) return bad("membership", fmt::format("{} count truncated", what));
  if (*count > limits.members_max || *count > in.remaining() / 4) {
    return bad("membership", fmt::format("{} {} in {} bytes", *count, what, in.remaining()));
  }
  std::vector<NodeId> ids;
  ids.reserve(*count);
  for (std::uint32_t i = 0; i < *count; ++i) {
    const auto id = *in.read<std::int32_t>();
    if (id < 0) return bad("membership", fmt::format("negative id {} among the {}", id, what));
    if (!ids.empty() && id <= ids.back().value()) {
      return bad("membership", fmt::format("{} not sorted or repeated at {}", what, id));
    }
    ids.emplace_back(id);
  }
  return ids;
}

Result<Membership> read_membership(ByteReader& in, const WireLimits& limits) {
  Membership m;
  auto voters = read_ids(in, limits, "voters");
  if (!voters) return voters.error();
  auto learners = read_ids(in, limits, "learners");
  if (!learners) return learners.error();
  m.voters = std::move(*voters);
  m.learners = std::move(*learners);
  for (auto id : m.learners) {
    if (m.is_voter(id)) return bad("membership", fmt::format("{} is voter and learner", id));
  }
  return m;
}

constexpr std::string_view kWhat = "raft message";

// Entry `i` of a message; `previous` is the entry before it (nullptr for the first).
Result<Entry> read_entry(ByteReader& in, std::uint32_t i, const Entry* previous,
                         const WireLimits& limits) {
  auto index = in.read<std::int64_t>();
  auto term = in.read<std::int64_t>();
  auto kind = in.read<std::uint8_t>();
  auto span = in.read<std::uint32_t>();
  auto size = in.read<std::uint32_t>();
  if (!index || !term || !kind || !span || !size) {
    return bad(kWhat, fmt::format("entry {} truncated", i));
  }
  if (*term < 0) return bad(kWhat, fmt::format("entry {} of term {}", *index, *term));
  if (*span < 1 || *span > std::numeric_limits<std::int32_t>::max()) {
    return bad(kWhat, fmt::format("entry {} spans {} indexes", *index, *span));
  }
  if (*kind > static_cast<std::uint8_t>(kLastEntryKind)) {
    return bad(kWhat, fmt::format("entry {} of kind {}", *index, *kind));
  }
  if (*size > limits.entry_bytes_max) return bad(kWhat, fmt::format("entry of {} bytes", *size));
  auto data = in.read_bytes(*size);
  if (!data) {
    return bad(kWhat, fmt::format("entry {} claims {} bytes, {} left", i, *size, in.remaining()));
  }
  if (*index < static_cast<Index>(*span) ||
      (previous != nullptr && *index - static_cast<Index>(*span) != previous->index)) {
    return bad(kWhat, fmt::format("entry index {} (span {}) out of sequence", *index, *span));
  }
  Entry e{*index, Term(*term), std::vector<std::byte>(data->begin(), data->end()),
          static_cast<EntryKind>(*kind), static_cast<std::int32_t>(*span)};
  if (e.kind == EntryKind::membership) {
    // Checked here so that a replica never holds a membership it cannot read.
    if (auto members = decode_membership(e.data, limits); !members) {
      return bad(kWhat, fmt::format("entry {}: {}", e.index, members.error().message()));
    }
  }
  return e;
}

// A restart's log start: the membership, then the snapshot.
Result<LogStart> read_start(ByteReader& in, const WireLimits& limits) {
  auto members = read_membership(in, limits);
  if (!members) return bad(kWhat, members.error().message());
  LogStart start;
  start.membership = std::move(*members);
  auto size = in.read<std::uint32_t>();
  if (!size) return bad(kWhat, "snapshot size truncated");
  if (*size > limits.snapshot_bytes_max) {
    return bad(kWhat, fmt::format("snapshot of {} bytes", *size));
  }
  auto snapshot = in.read_bytes(*size);
  if (!snapshot) {
    return bad(kWhat, fmt::format("snapshot claims {} bytes, {} left", *size, in.remaining()));
  }
  start.snapshot.assign(snapshot->begin(), snapshot->end());
  return start;
}

}  // namespace

std::vector<std::byte> encode_membership(const Membership& membership) {
  ByteWriter out(membership_size(membership));
  write_membership(out, membership);
  return out.release();
}

Result<Membership> decode_membership(std::span<const std::byte> bytes, const WireLimits& limits) {
  ByteReader in(bytes);
  auto m = read_membership(in, limits);
  if (!m) return m;
  if (!in.empty()) return bad("membership", fmt::format("{} trailing bytes", in.remaining()));
  return m;
}

std::vector<std::byte> encode_message(const Message& m) {
  std::size_t size = kFixedBytes;
  for (const auto& e : m.entries) size += kEntryHeaderBytes + e.data.size();
  const bool restart = m.type == MessageType::restart;
  const LogStart empty;
  const LogStart& start = m.start.empty() ? empty : m.start.front();
  if (restart) size += membership_size(start.membership) + 4 + start.snapshot.size();
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
    out.write<std::uint8_t>(static_cast<std::uint8_t>(e.kind));
    out.write<std::uint32_t>(static_cast<std::uint32_t>(e.span));
    out.write<std::uint32_t>(static_cast<std::uint32_t>(e.data.size()));
    out.write_bytes(e.data);
  }
  if (restart) {
    write_membership(out, start.membership);
    out.write<std::uint32_t>(static_cast<std::uint32_t>(start.snapshot.size()));
    out.write_bytes(start.snapshot);
  }
  return out.release();
}

Result<Message> decode_message(std::span<const std::byte> bytes, const WireLimits& limits) {
  if (bytes.size() < kFixedBytes)
    return bad(kWhat, fmt::format("{} bytes, shorter than the header", bytes.size()));
  ByteReader in(bytes);
  const auto version = *in.read<std::uint8_t>();
  if (version != kWireVersion) {
    return Error(Errc::unsupported_version, fmt::format("raft message version {}", version));
  }
  Message m;
  const auto type = *in.read<std::uint8_t>();
  if (type > static_cast<std::uint8_t>(kLastMessageType)) {
    return bad(kWhat, fmt::format("type {}", type));
  }
  m.type = static_cast<MessageType>(type);
  m.from = NodeId(*in.read<std::int32_t>());
  m.to = NodeId(*in.read<std::int32_t>());
  m.term = Term(*in.read<std::int64_t>());
  m.log_index = *in.read<std::int64_t>();
  m.log_term = Term(*in.read<std::int64_t>());
  m.commit = *in.read<std::int64_t>();
  m.hint = *in.read<std::int64_t>();
  const auto flags = *in.read<std::uint8_t>();
  if ((flags & ~(kReject | kForce)) != 0) return bad(kWhat, fmt::format("flags {:#x}", flags));
  m.reject = (flags & kReject) != 0;
  m.force = (flags & kForce) != 0;
  const auto count = *in.read<std::uint32_t>();
  if (count > limits.entries_max || count > in.remaining() / kEntryHeaderBytes) {
    return bad(kWhat, fmt::format("{} entries in {} bytes", count, in.remaining()));
  }
  if (m.term < Term(0) || m.log_term < Term(0) || m.log_index < -1 || m.commit < 0) {
    return bad(kWhat, "negative term, index or commit");
  }
  m.entries.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto e = read_entry(in, i, m.entries.empty() ? nullptr : &m.entries.back(), limits);
    if (!e) return e.error();
    m.entries.push_back(std::move(*e));
  }
  if (m.type == MessageType::restart) {
    auto start = read_start(in, limits);
    if (!start) return start.error();
    m.start.push_back(std::move(*start));
  }
  if (!in.empty()) return bad(kWhat, fmt::format("{} trailing bytes", in.remaining()));
  return m;
}

}  // namespace spate::raft
