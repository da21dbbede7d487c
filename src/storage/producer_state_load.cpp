// SPDX-License-Identifier: Apache-2.0
//
// The producer state's files: the snapshot beside the segments and the
// rebuild from it plus the batches after it (Kafka's
// ProducerStateManager.truncateAndReload / loadProducersFromRecords).

#include <algorithm>
#include <limits>

#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/envelope.h"
#include "spate/storage/partition_log.h"
#include "spate/storage/producer_state.h"

namespace spate::storage {
namespace {

constexpr std::uint16_t kSnapshotVersion = 1;
// Bytes read from the log per step of a replay (the first batch is always whole).
constexpr std::uint64_t kReplayReadBytes = 1U << 20U;
// The largest batch header a replay trusts (the log validated every batch).
constexpr std::size_t kReplayBatchBytesMax = std::numeric_limits<std::int32_t>::max();

std::size_t snapshot_bytes_max(const ProducerStateLimits& limits) {
  // An entry with its batches is 19 + 5 * 32 bytes.
  const std::size_t need = 64 + limits.producers_max * 200;
  return std::max<std::size_t>(kProducerSnapshotBytesMax, need);
}

// Reads the snapshot into `state` if it is usable. Returns why not otherwise
// (nullopt: used, or there is none).
std::optional<std::string> read_snapshot(Filesystem& fs, const PartitionLog& log,
                                         ProducerState& state, bool* used) {
  auto file = read_envelope(fs, log.dir() / kProducerSnapshotFile, kProducerSnapshotMagic,
                            kSnapshotVersion, snapshot_bytes_max(state.limits()));
  if (!file) {
    if (file.error().code() == Errc::not_found) return std::nullopt;
    return file.error().message();
  }
  auto decoded = ProducerState::decode(file->body, state.limits());
  if (!decoded) return decoded.error().message();
  if (decoded->end_offset() > log.end_offset()) {
    // Taken before a crash lost the log's unflushed tail: it would name
    // batches that are not there.
    return fmt::format("it covers offsets up to {}, past the log's end {}", decoded->end_offset(),
                       log.end_offset());
  }
  state = std::move(*decoded);
  *used = true;
  return std::nullopt;
}

// Records the producer batches of `bytes` (whole batches read from the log)
// at or after `from`. Errors: corrupt_log for bytes that are not batches.
Status replay_batches(std::span<const std::byte> bytes, Offset from, ProducerState& state,
                      std::uint64_t* batches) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    auto header = protocol::decode_batch_header(bytes.subspan(pos), kReplayBatchBytesMax);
    if (!header || header->total_bytes() > bytes.size() - pos) {
      return Error::corrupt(fmt::format("producer state replay: no whole batch at byte {} ({})",
                                        pos, header ? "short" : header.error().message()));
    }
    pos += header->total_bytes();
    if (header->last_offset() < from || header->producer_id < 0 || header->is_control()) continue;
    const ProducerBatch batch{
        .first_seq = header->base_sequence,
        .last_seq = increment_sequence(header->base_sequence, header->last_offset_delta),
        .first_offset = header->base(),
        .last_offset = header->last_offset(),
        .max_timestamp = header->max_timestamp};
    state.record(header->producer_id, header->producer_epoch, batch, header->max_timestamp);
    ++*batches;
  }
  return {};
}

}  // namespace

Result<ProducerLoadReport> load_producer_state(Filesystem& fs, PartitionLog& log,
                                               ProducerState& state, std::int64_t now_ms) {
  ProducerLoadReport report;
  state = ProducerState(state.limits());
  report.snapshot_problem = read_snapshot(fs, log, state, &report.snapshot_used);
  if (!report.snapshot_used) state = ProducerState(state.limits());
  // Segments deleted by retention keep their producers in the snapshot; the
  // replay starts where the log does.
  Offset from = std::max(state.end_offset(), log.start_offset());
  // Bounded: every step moves `from` forward by at least one batch.
  while (from < log.end_offset()) {
    auto read = log.read(from, kReplayReadBytes);
    if (!read) return read.error();
    if (read->bytes.empty() || read->next_offset <= from) break;
    auto bytes = read->bytes.read_all();
    if (!bytes) return bytes.error();
    report.bytes_read += bytes->size();
    if (auto s = replay_batches(*bytes, from, state, &report.batches_replayed); !s) {
      return s.error();
    }
    from = read->next_offset;
  }
  state.set_end_offset(log.end_offset());
  (void)state.expire(now_ms);
  // What was just rebuilt is worth a snapshot only if the replay added to it.
  if (report.snapshot_used && report.batches_replayed == 0) state.mark_clean();
  return report;
}

Status write_producer_snapshot(Filesystem& fs, const std::filesystem::path& dir,
                               std::span<const std::byte> body) {
  return write_envelope(fs, dir / kProducerSnapshotFile, kProducerSnapshotMagic, kSnapshotVersion,
                        body);
}

}  // namespace spate::storage
