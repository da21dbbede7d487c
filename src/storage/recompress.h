// SPDX-License-Identifier: Apache-2.0
//
// Broker-side recompression for a log whose compression.type is not
// `producer` (LogConfig::compression): Kafka's LogValidator rewrites a batch
// whose codec differs from the topic's.

#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "spate/common/result.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

namespace spate::storage {

// Whether `header`'s batch must be rewritten for `config`: false under
// `producer` and when the codec already matches (then nothing is copied).
[[nodiscard]] bool needs_recompression(const LogConfig& config,
                                       const protocol::BatchHeader& header);

// `batch` (validated) rebuilt into `out` in the log's codec; `header` becomes
// the new batch's. The records decompress within
// protocol::records_bytes_max(batch_bytes_max), as validation allowed.
// Errors: record_too_large when the rewritten batch passes max.message.bytes
//   (Kafka's RecordTooLargeException: MESSAGE_TOO_LARGE) or the records
//   decompress past the bound; malformed when they do not decompress;
//   io_error when a codec fails. Nothing is appended then.
[[nodiscard]] Status recompress(const LogConfig& config, std::span<const std::byte> batch,
                                protocol::BatchHeader& header, std::vector<std::byte>& out);

}  // namespace spate::storage
