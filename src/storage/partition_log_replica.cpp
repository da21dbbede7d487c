// SPDX-License-Identifier: Apache-2.0
//
// What replication needs of a partition log (cluster's raft log view): a
// batch stored verbatim as its leader wrote it, and the batch at an offset.

#include <algorithm>

#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

#include "segment.h"

namespace spate::storage {

Result<AppendResult> PartitionLog::append_replicated(std::span<const std::byte> batch,
                                                     bool validated) {
  if (auto s = check_usable(); !s) return s.error();
  auto header = validated ? protocol::decode_batch_header(batch, config_.batch_bytes_max)
                          : protocol::validate_batch(batch, config_.batch_bytes_max);
  // A batch a cleaner rewrote may lack records inside its offset range.
  if (!header && header.error().code() == Errc::invalid_record) {
    header = protocol::validate_compacted_batch(batch, config_.batch_bytes_max);
  }
  if (!header) return header.error();
  if (header->base() != end_offset_) {
    return Error::invalid(fmt::format("{}: replicated batch at offset {}, the log ends at {}",
                                      name_, header->base(), end_offset_));
  }
  const Term term(header->partition_leader_epoch);
  if (term < last_term()) {
    return Error::invalid(fmt::format("{}: replicated batch of term {} below the last term {}",
                                      name_, term, last_term()));
  }
  return append_stamped(batch, *header);
}

Result<BatchInfo> PartitionLog::batch_at(Offset offset) {
  if (auto s = check_readable(); !s) return s.error();
  if (offset < start_offset_ || offset >= end_offset_) {
    return Error::out_of_range(
        fmt::format("{}: offset {} outside [{}, {})", name_, offset, start_offset_, end_offset_));
  }
  Segment* segment = segment_for(offset);
  // Skip empty segments (a rolled, never-written active one cannot hold it).
  while (segment != nullptr && offset >= segment->end()) {
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const auto& s) { return s.get() == segment; });
    segment = std::next(it) == segments_.end() ? nullptr : std::next(it)->get();
  }
  if (segment == nullptr) {
    return Error::corrupt(fmt::format("{}: no segment holds offset {}", name_, offset));
  }
  auto found = locate_batch(segment, offset);
  if (!found) return found.error();
  const auto& h = found->header;
  return BatchInfo{h.base(),       h.last_offset(), Term(h.partition_leader_epoch),
                   h.is_control(), found->position, static_cast<std::uint32_t>(h.total_bytes())};
}

}  // namespace spate::storage
