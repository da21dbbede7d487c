// SPDX-License-Identifier: Apache-2.0
//
// compression.type on the log (LogConfig::compression): a batch in another
// codec is stored recompressed into the log's, with its records, producer
// fields and offsets as sent and a valid CRC; `producer` and a matching codec
// store the bytes as sent; a batch too large once recompressed, or whose
// records do not decompress, appends nothing.

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using protocol::Compression;
using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;

constexpr Compression kAll[] = {Compression::none, Compression::gzip, Compression::snappy,
                                Compression::lz4, Compression::zstd};

class Recompression : public PartitionLogTest {
 protected:
  std::vector<std::byte> batch_in(Compression codec, int records = 20) {
    auto plain = make_varied_batch(rng_, records, 300, ts_);
    // An idempotent producer's batch: the header fields duplicate detection uses.
    store_be<std::int64_t>(plain.data() + protocol::batch_field::kProducerId, 9001);
    store_be<std::int16_t>(plain.data() + protocol::batch_field::kProducerEpoch, 2);
    store_be<std::int32_t>(plain.data() + protocol::batch_field::kBaseSequence, 17);
    store_be<std::uint32_t>(plain.data() + protocol::batch_field::kCrc,
                            protocol::compute_batch_crc(plain));
    if (codec == Compression::none) return plain;
    auto packed = protocol::compress_batch(plain, codec);
    EXPECT_TRUE(packed) << packed.error();
    return *packed;
  }
  static std::vector<std::byte> records_of(std::span<const std::byte> batch) {
    auto records = protocol::batch_records(batch, 1U << 24U);
    EXPECT_TRUE(records) << records.error();
    return records ? *records : std::vector<std::byte>{};
  }
};

class EveryCodec : public Recompression, public ::testing::WithParamInterface<Compression> {};

TEST_P(EveryCodec, IsStoredInTheLogsCodec) {
  {
    const Compression to = GetParam();
    config_.compression = to;
    auto log = open_log();
    for (auto from : kAll) {
      SCOPED_TRACE(::testing::Message() << "from " << int(from) << " to " << int(to));
      auto batch = batch_in(from);
      const auto sent = batch;
      const Offset end = log->end_offset();
      auto r = log->append(batch, Term(1));
      ASSERT_TRUE(r) << r.error();
      EXPECT_EQ(r->base_offset, end);
      EXPECT_EQ(r->last_offset, end + 19);
      auto stored = read_one(*log, end);
      auto header = protocol::validate_batch(stored, 1U << 20U);  // CRC holds
      ASSERT_TRUE(header) << header.error();
      EXPECT_EQ(header->compression(), to);
      EXPECT_EQ(header->base_offset, end.value());
      EXPECT_EQ(header->producer_id, 9001);
      EXPECT_EQ(header->producer_epoch, 2);
      EXPECT_EQ(header->base_sequence, 17);
      EXPECT_EQ(header->record_count, 20);
      EXPECT_EQ(records_of(stored), records_of(sent));
      if (from == to) {  // stored as sent, but for the offset and the epoch
        EXPECT_TRUE(std::equal(stored.begin() + 16, stored.end(), sent.begin() + 16));
      }
    }
    EXPECT_EQ(log->end_offset(), Offset(100));
    ASSERT_TRUE(log->close());
    auto reopened = open_log();  // what recovery reads back
    EXPECT_EQ(reopened->end_offset(), Offset(100));
  }
}

INSTANTIATE_TEST_SUITE_P(Recompression, EveryCodec, ::testing::ValuesIn(kAll));

TEST_F(Recompression, ProducerKeepsTheProducersCodec) {
  auto log = open_log();  // compression.type=producer: nullopt
  for (auto from : kAll) {
    auto batch = batch_in(from);
    const auto sent = batch;
    const Offset end = log->end_offset();
    ASSERT_TRUE(log->append(batch, Term(1)));
    auto stored = read_one(*log, end);
    EXPECT_TRUE(std::equal(stored.begin() + 16, stored.end(), sent.begin() + 16)) << int(from);
  }
}

TEST_F(Recompression, TooLargeOnceRecompressedAppendsNothing) {
  // 64 KiB of zeros: a few hundred bytes in zstd, all of it uncompressed.
  protocol::BatchBuilder builder(ts_);
  const std::vector<std::byte> zeros(64U << 10U);
  builder.add_value(zeros);
  auto packed = protocol::compress_batch(builder.build(), Compression::zstd);
  ASSERT_TRUE(packed);
  ASSERT_LT(packed->size(), 4096U);
  config_.batch_bytes_max = 16U << 10U;
  config_.compression = Compression::none;
  auto log = open_log();
  auto batch = *packed;
  auto r = log->append(batch, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::record_too_large);
  EXPECT_EQ(log->end_offset(), Offset(0));
  EXPECT_EQ(log->size_bytes(), 0U);
  // Within the limit in the producer's codec, it is taken as it is.
  config_.compression = Compression::zstd;
  ASSERT_TRUE(log->set_config(config_));
  batch = *packed;
  EXPECT_TRUE(log->append(batch, Term(1)));
}

TEST_F(Recompression, RecordsThatDoNotDecompressAppendNothing) {
  config_.compression = Compression::zstd;
  auto log = open_log();
  auto batch = batch_in(Compression::lz4);
  std::fill(batch.begin() + protocol::kBatchHeaderBytes + 8, batch.end(), std::byte{0x33});
  store_be<std::uint32_t>(batch.data() + protocol::batch_field::kCrc,
                          protocol::compute_batch_crc(batch));
  auto r = log->append(batch, Term(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid_record);  // validation's verdict, as before
  EXPECT_EQ(log->end_offset(), Offset(0));
  EXPECT_EQ(log->size_bytes(), 0U);
}

}  // namespace
}  // namespace spate::storage
