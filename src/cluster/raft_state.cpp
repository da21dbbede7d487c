// SPDX-License-Identifier: Apache-2.0
//
// raft.state (raft_state.h). The body, big-endian, after a reserved u16:
//
//   i64 term  i32 vote  i64 commit
//   i64 start index  i64 start term
//   u8 has start membership, then (if 1) u32 size + raft::encode_membership bytes
//   u32 snapshot size, bytes
//   u32 membership index count, i64 each (ascending, above the start index)
//   (version 2) u32 deleted membership count, each: i64 index (ascending,
//   above the start index), u32 size + raft::encode_membership bytes

#include "spate/cluster/raft_state.h"

#include "spate/common/bytes.h"
#include "spate/raft/wire.h"
#include "spate/storage/envelope.h"

namespace spate::cluster {
namespace {

constexpr std::uint32_t kMagic = 0x53505253;  // "SPRS"
constexpr std::uint16_t kVersion = kRaftStateVersion;
// The envelope, the fixed fields and up to the limits of the variable ones.
constexpr std::size_t kFixedBytes = 2 + 8 + 4 + 8 + 8 + 8 + 1 + 4 + 4 + 4;

Error bad(std::string_view why) { return Error::malformed(fmt::format("raft.state: {}", why)); }

template <typename T>
Result<T> read_int(ByteReader& r, std::string_view field) {
  auto v = r.read<T>();
  if (!v) return bad(fmt::format("truncated at {}", field));
  return *v;
}

Result<std::span<const std::byte>> read_sized(ByteReader& r, std::size_t max,
                                              std::string_view field) {
  auto size = read_int<std::uint32_t>(r, field);
  if (!size) return size.error();
  if (*size > max || *size > r.remaining()) {
    return bad(
        fmt::format("{} of {} bytes (at most {}, {} left)", field, *size, max, r.remaining()));
  }
  return r.read_bytes(*size);
}

Result<raft::Membership> read_membership(ByteReader& r, std::string_view field) {
  // A membership holds at most a few dozen ids: bounded by the bytes left.
  auto bytes = read_sized(r, r.remaining(), field);
  if (!bytes) return bytes.error();
  auto membership = raft::decode_membership(*bytes);
  if (!membership) return bad(fmt::format("{}: {}", field, membership.error().detail()));
  return std::move(*membership);
}

Status decode_start(ByteReader& r, RaftState& s, const RaftStateLimits& limits) {
  auto index = read_int<std::int64_t>(r, "start index");
  if (!index) return index.error();
  auto term = read_int<std::int64_t>(r, "start term");
  if (!term) return term.error();
  if (*index < 0 || *term < 0) return bad("negative start index or term");
  s.start_index = *index;
  s.start_term = Term(*term);
  auto has_membership = read_int<std::uint8_t>(r, "start membership flag");
  if (!has_membership) return has_membership.error();
  if (*has_membership > 1) return bad("start membership flag not 0 or 1");
  if (*has_membership == 1) {
    auto membership = read_membership(r, "start membership");
    if (!membership) return membership.error();
    s.start_membership = std::move(*membership);
  }
  auto snapshot = read_sized(r, limits.snapshot_bytes_max, "snapshot");
  if (!snapshot) return snapshot.error();
  s.start_snapshot.assign(snapshot->begin(), snapshot->end());
  return {};
}

Status decode_deleted_memberships(ByteReader& r, RaftState& s, const RaftStateLimits& limits) {
  auto count = read_int<std::uint32_t>(r, "deleted membership count");
  if (!count) return count.error();
  // Each takes at least 12 bytes.
  if (*count > limits.membership_indexes_max || std::size_t{*count} * 12 > r.remaining()) {
    return bad(fmt::format("{} deleted memberships (at most {}, {} bytes left)", *count,
                           limits.membership_indexes_max, r.remaining()));
  }
  s.deleted_memberships.reserve(*count);
  raft::Index previous = s.start_index;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto index = read_int<std::int64_t>(r, "deleted membership index");
    if (!index) return index.error();
    if (*index <= previous) return bad("deleted memberships not ascending above the start");
    auto membership = read_membership(r, "deleted membership");
    if (!membership) return membership.error();
    s.deleted_memberships.emplace_back(*index, std::move(*membership));
    previous = *index;
  }
  return {};
}

}  // namespace

std::vector<std::byte> encode_raft_state(const RaftState& state) {
  ByteWriter w(kFixedBytes + state.start_snapshot.size() + state.membership_indexes.size() * 8);
  w.write<std::uint16_t>(0);  // reserved
  w.write<std::int64_t>(state.hard.term.value());
  w.write<std::int32_t>(state.hard.vote.value());
  w.write<std::int64_t>(state.hard.commit);
  w.write<std::int64_t>(state.start_index);
  w.write<std::int64_t>(state.start_term.value());
  w.write<std::uint8_t>(state.start_membership ? 1 : 0);
  if (state.start_membership) {
    auto m = raft::encode_membership(*state.start_membership);
    w.write<std::uint32_t>(static_cast<std::uint32_t>(m.size()));
    w.write_bytes(m);
  }
  w.write<std::uint32_t>(static_cast<std::uint32_t>(state.start_snapshot.size()));
  w.write_bytes(state.start_snapshot);
  w.write<std::uint32_t>(static_cast<std::uint32_t>(state.membership_indexes.size()));
  for (auto i : state.membership_indexes) w.write<std::int64_t>(i);
  w.write<std::uint32_t>(static_cast<std::uint32_t>(state.deleted_memberships.size()));
  for (const auto& [index, membership] : state.deleted_memberships) {
    w.write<std::int64_t>(index);
    auto m = raft::encode_membership(membership);
    w.write<std::uint32_t>(static_cast<std::uint32_t>(m.size()));
    w.write_bytes(m);
  }
  return w.release();
}

Result<RaftState> decode_raft_state(std::span<const std::byte> body, const RaftStateLimits& limits,
                                    std::uint16_t version) {
  ByteReader r(body);
  RaftState s;
  if (auto reserved = read_int<std::uint16_t>(r, "reserved"); !reserved) return reserved.error();
  auto term = read_int<std::int64_t>(r, "term");
  if (!term) return term.error();
  auto vote = read_int<std::int32_t>(r, "vote");
  if (!vote) return vote.error();
  auto commit = read_int<std::int64_t>(r, "commit");
  if (!commit) return commit.error();
  if (*term < 0 || *commit < 0 || *vote < -1) return bad("negative term, commit or vote");
  s.hard = raft::HardState{Term(*term), NodeId(*vote), *commit};
  if (auto st = decode_start(r, s, limits); !st) return st.error();
  auto count = read_int<std::uint32_t>(r, "membership index count");
  if (!count) return count.error();
  if (*count > limits.membership_indexes_max || std::size_t{*count} * 8 > r.remaining()) {
    return bad(fmt::format("{} membership indexes (at most {}, {} bytes left)", *count,
                           limits.membership_indexes_max, r.remaining()));
  }
  s.membership_indexes.reserve(*count);
  raft::Index previous = s.start_index;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto index = read_int<std::int64_t>(r, "membership index");
    if (!index) return index.error();
    if (*index <= previous) return bad("membership indexes not ascending above the start");
    s.membership_indexes.push_back(*index);
    previous = *index;
  }
  if (version >= 2) {
    if (auto st = decode_deleted_memberships(r, s, limits); !st) return st.error();
  }
  if (!r.empty()) return bad(fmt::format("{} trailing bytes", r.remaining()));
  return s;
}

Status write_raft_state(storage::Filesystem& fs, const std::filesystem::path& dir,
                        const RaftState& state) {
  auto body = encode_raft_state(state);
  return storage::write_envelope(fs, dir / kRaftStateFile, kMagic, kVersion, body);
}

Result<RaftState> read_raft_state(storage::Filesystem& fs, const std::filesystem::path& dir,
                                  const RaftStateLimits& limits) {
  const auto path = dir / kRaftStateFile;
  const std::size_t bytes_max = kFixedBytes + storage::kEnvelopeOverheadBytes + 4 +
                                limits.snapshot_bytes_max + limits.membership_indexes_max * 8 +
                                (4U << 20U);
  auto file = storage::read_envelope(fs, path, kMagic, kVersion, bytes_max);
  if (!file) {
    if (file.error().code() == Errc::not_found) return RaftState{};
    return file.error();
  }
  auto state = decode_raft_state(file->body, limits, file->version);
  if (!state) return Error::corrupt(fmt::format("{}: {}", path.string(), state.error().detail()));
  return state;
}

}  // namespace spate::cluster
