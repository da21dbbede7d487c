// SPDX-License-Identifier: Apache-2.0
//
// check_client_batch / validate_client_batch: Kafka's log validator for what a
// producer sends (issue 12 items 0, 7 and 11). Every batch here has a correct
// CRC, so only the record checks can refuse it.

#include <array>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "spate/common/crc32c.h"
#include "spate/protocol/compression.h"
#include "spate/protocol/record_batch.h"

namespace spate::protocol {
namespace {

constexpr std::size_t kLimit = 1U << 20U;
constexpr std::array kCodecs = {Compression::gzip, Compression::snappy, Compression::lz4,
                                Compression::zstd};

struct Fields {
  std::int8_t magic = kMagicV2;
  std::int16_t attributes = 0;
  std::int32_t record_count = 1;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = 1'700'000'000'000;
  std::int64_t max_timestamp = 1'700'000'000'000;
  std::int64_t producer_id = -1;
  std::int32_t base_sequence = -1;
};

// A batch with the given header fields around `section` (records bytes, or a
// compressed payload), with a correct batchLength and CRC.
std::vector<std::byte> make_batch(const Fields& f, std::span<const std::byte> section) {
  ByteWriter w(kBatchHeaderBytes + section.size());
  w.write<std::int64_t>(0);
  w.write<std::int32_t>(
      static_cast<std::int32_t>(kBatchHeaderBytes - kBatchLogOverheadBytes + section.size()));
  w.write<std::int32_t>(-1);
  w.write<std::int8_t>(f.magic);
  w.write<std::uint32_t>(0);
  w.write<std::int16_t>(f.attributes);
  w.write<std::int32_t>(f.last_offset_delta);
  w.write<std::int64_t>(f.base_timestamp);
  w.write<std::int64_t>(f.max_timestamp);
  w.write<std::int64_t>(f.producer_id);
  w.write<std::int16_t>(-1);
  w.write<std::int32_t>(f.base_sequence);
  w.write<std::int32_t>(f.record_count);
  w.write_bytes(section);
  w.patch<std::uint32_t>(batch_field::kCrc,
                         crc32c::value(w.view().subspan(batch_field::kAttributes)));
  return w.release();
}

// One encoded record (with its length prefix).
std::vector<std::byte> record(std::int32_t offset_delta, std::int64_t timestamp_delta,
                              std::string_view value, std::int32_t header_key_length = 1) {
  ByteWriter body;
  body.write<std::int8_t>(0);
  body.write_varint(timestamp_delta);
  body.write_varint(offset_delta);
  body.write_varint(-1);  // null key
  body.write_varint(static_cast<std::int64_t>(value.size()));
  body.write_string(value);
  body.write_varint(1);  // one header
  body.write_varint(header_key_length);
  if (header_key_length > 0)
    body.write_string(std::string(static_cast<std::size_t>(header_key_length), 'h'));
  body.write_varint(-1);  // null header value
  ByteWriter out;
  out.write_varint(static_cast<std::int64_t>(body.size()));
  out.write_bytes(body.view());
  return out.release();
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Fields fields_for(std::int32_t count, std::int16_t attributes = 0) {
  Fields f;
  f.record_count = count;
  f.last_offset_delta = count - 1;
  f.attributes = attributes;
  return f;
}

Errc error_of(std::span<const std::byte> batch) {
  auto checked = check_client_batch(batch, kLimit);
  return checked ? Errc::ok : checked.error().code();
}

TEST(BatchValidation, BuilderBatchesPassWithEveryCodec) {
  BatchBuilder builder(5000);
  for (int i = 0; i < 50; ++i) builder.add_value(to_bytes("value " + std::to_string(i)));
  auto plain = builder.build();
  auto checked = check_client_batch(plain, kLimit);
  ASSERT_TRUE(checked) << checked.error();
  EXPECT_EQ(checked->max_timestamp, checked->header.max_timestamp);
  for (auto codec : kCodecs) {
    auto packed = compress_batch(plain, codec);
    ASSERT_TRUE(packed) << packed.error();
    auto c = check_client_batch(*packed, kLimit);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->max_timestamp, checked->max_timestamp);
  }
}

TEST(BatchValidation, MaxTimestampIsRecomputedAndTheCrcRewritten) {
  // What sarama 1.22 sends: maxTimestamp -1, records with real timestamps.
  const auto section = concat({record(0, 0, "a"), record(1, 7, "b"), record(2, 3, "c")});
  Fields f = fields_for(3);
  f.max_timestamp = -1;
  for (auto codec : std::array{Compression::none, Compression::gzip, Compression::zstd}) {
    std::vector<std::byte> batch;
    if (codec == Compression::none) {
      batch = make_batch(f, section);
    } else {
      auto packed = compress(codec, section);
      ASSERT_TRUE(packed);
      Fields fc = f;
      fc.attributes = static_cast<std::int16_t>(codec);
      batch = make_batch(fc, *packed);
    }
    const auto sent = batch;
    auto header = validate_client_batch(batch, kLimit);
    ASSERT_TRUE(header) << header.error();
    EXPECT_EQ(header->max_timestamp, f.base_timestamp + 7);
    auto stored = validate_batch(batch, kLimit);  // the CRC matches the new field
    ASSERT_TRUE(stored) << stored.error();
    EXPECT_EQ(stored->max_timestamp, f.base_timestamp + 7);
    EXPECT_EQ(stored->crc, header->crc);
    EXPECT_NE(stored->crc, load_be<std::uint32_t>(sent.data() + batch_field::kCrc));
    // Only maxTimestamp and the CRC changed.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const bool rewritten =
          (i >= batch_field::kCrc && i < batch_field::kCrc + 4) ||
          (i >= batch_field::kMaxTimestamp && i < batch_field::kMaxTimestamp + 8);
      if (!rewritten) {
        EXPECT_EQ(batch[i], sent[i]) << "byte " << i;
      }
    }
    // A header that was right is left alone.
    auto again = batch;
    ASSERT_TRUE(validate_client_batch(again, kLimit));
    EXPECT_EQ(again, batch);
  }
}

TEST(BatchValidation, RecordsWithoutTimestampsKeepMinusOne) {
  Fields f = fields_for(1);
  f.base_timestamp = -1;
  f.max_timestamp = -1;
  auto batch = make_batch(f, record(0, 0, "x"));
  auto header = validate_client_batch(batch, kLimit);
  ASSERT_TRUE(header) << header.error();
  EXPECT_EQ(header->max_timestamp, -1);
}

TEST(BatchValidation, JunkCompressedBatchClaimingInt32MaxRecordsIsInvalid) {
  // The reproduction: "gzip" batches of junk claiming 2^31-1 records.
  std::vector<std::byte> junk(200);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<std::byte>(i * 37 + 11);
  for (auto codec : kCodecs) {
    auto batch = make_batch(
        fields_for(std::numeric_limits<std::int32_t>::max(), static_cast<std::int16_t>(codec)),
        junk);
    ASSERT_TRUE(validate_batch(batch, kLimit)) << "the framing alone looks fine";
    auto checked = check_client_batch(batch, kLimit);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code(), Errc::invalid_record) << checked.error();
  }
  // Well-compressed junk: it decompresses, but holds no records.
  for (auto codec : kCodecs) {
    auto packed = compress(codec, junk);
    ASSERT_TRUE(packed);
    auto batch = make_batch(fields_for(1000, static_cast<std::int16_t>(codec)), *packed);
    EXPECT_EQ(error_of(batch), Errc::invalid_record);
  }
}

TEST(BatchValidation, UncompressedJunkRecordsAreInvalid) {
  std::vector<std::byte> junk(700, std::byte{0x55});
  EXPECT_EQ(error_of(make_batch(fields_for(100), junk)), Errc::invalid_record);
  // Lengths that point past the end, negative lengths.
  std::vector<std::byte> past{std::byte{0x7e}, std::byte{0}, std::byte{0}, std::byte{0},
                              std::byte{1},    std::byte{1}, std::byte{0}};
  EXPECT_EQ(error_of(make_batch(fields_for(1), past)), Errc::invalid_record);
  std::vector<std::byte> negative{std::byte{0x03}, std::byte{0}, std::byte{0}, std::byte{0},
                                  std::byte{1},    std::byte{1}, std::byte{0}};
  EXPECT_EQ(error_of(make_batch(fields_for(1), negative)), Errc::invalid_record);
}

TEST(BatchValidation, RecordCountMustMatchTheRecords) {
  const auto two = concat({record(0, 0, "a"), record(1, 1, "b")});
  // Fewer records than claimed, and more.
  EXPECT_EQ(error_of(make_batch(fields_for(3), two)), Errc::invalid_record);
  EXPECT_EQ(error_of(make_batch(fields_for(1), two)), Errc::invalid_record);
  EXPECT_EQ(error_of(make_batch(fields_for(2), two)), Errc::ok);
  for (auto codec : kCodecs) {
    auto packed = compress(codec, two);
    ASSERT_TRUE(packed);
    const auto c = static_cast<std::int16_t>(codec);
    EXPECT_EQ(error_of(make_batch(fields_for(3, c), *packed)), Errc::invalid_record);
    EXPECT_EQ(error_of(make_batch(fields_for(1, c), *packed)), Errc::invalid_record);
    EXPECT_EQ(error_of(make_batch(fields_for(2, c), *packed)), Errc::ok);
  }
  // lastOffsetDelta that disagrees with recordCount.
  Fields f = fields_for(2);
  f.last_offset_delta = 5;
  EXPECT_EQ(error_of(make_batch(f, two)), Errc::invalid_record);
}

TEST(BatchValidation, OffsetDeltasMustCountFromZero) {
  EXPECT_EQ(error_of(make_batch(fields_for(2), concat({record(0, 0, "a"), record(2, 0, "b")}))),
            Errc::invalid_record);
  EXPECT_EQ(error_of(make_batch(fields_for(2), concat({record(1, 0, "a"), record(0, 0, "b")}))),
            Errc::invalid_record);
  EXPECT_EQ(error_of(make_batch(fields_for(2), concat({record(0, 0, "a"), record(0, 0, "b")}))),
            Errc::invalid_record);
  auto packed = compress(Compression::lz4, concat({record(0, 0, "a"), record(5, 0, "b")}));
  ASSERT_TRUE(packed);
  EXPECT_EQ(error_of(make_batch(fields_for(2, 3), *packed)), Errc::invalid_record);
}

TEST(BatchValidation, RecordFieldsMustParse) {
  // A null header key (Kafka: "Invalid negative header key size").
  EXPECT_EQ(error_of(make_batch(fields_for(1), record(0, 0, "a", -1))), Errc::invalid_record);
  // A timestamp delta that overflows the base timestamp.
  Fields f = fields_for(1);
  f.base_timestamp = std::numeric_limits<std::int64_t>::max() - 1;
  EXPECT_EQ(error_of(make_batch(f, record(0, 5, "a"))), Errc::invalid_record);
  // Trailing bytes inside a record: length says one more byte than the fields.
  auto r = record(0, 0, "a");
  r.push_back(std::byte{0});
  r[0] = static_cast<std::byte>(static_cast<unsigned>(r[0]) + 2);  // zigzag: length + 1
  EXPECT_EQ(error_of(make_batch(fields_for(1), r)), Errc::invalid_record);
}

TEST(BatchValidation, HeaderChecksFollowKafka) {
  const auto one = record(0, 0, "a");
  Fields control = fields_for(1, 0x20);
  EXPECT_EQ(error_of(make_batch(control, one)), Errc::invalid_record);
  Fields append_time = fields_for(1, 0x08);
  EXPECT_EQ(error_of(make_batch(append_time, one)), Errc::invalid_timestamp);
  Fields idempotent = fields_for(1);
  idempotent.producer_id = 42;
  EXPECT_EQ(error_of(make_batch(idempotent, one)), Errc::invalid_record);
  idempotent.base_sequence = 0;
  EXPECT_EQ(error_of(make_batch(idempotent, one)), Errc::ok);
  Fields legacy = fields_for(1);
  for (std::int8_t magic : {std::int8_t{0}, std::int8_t{1}}) {
    legacy.magic = magic;
    EXPECT_EQ(error_of(make_batch(legacy, one)), Errc::unsupported_format);
  }
  legacy.magic = 3;
  EXPECT_EQ(error_of(make_batch(legacy, one)), Errc::malformed);  // Kafka: CORRUPT_MESSAGE
  auto batch = make_batch(fields_for(1), one);
  batch.push_back(std::byte{0});
  EXPECT_EQ(error_of(batch), Errc::invalid_record);  // bytes after the batch
  EXPECT_EQ(error_of(std::span(batch).first(40)), Errc::invalid_record);
  auto flipped = make_batch(fields_for(1), one);
  flipped.back() ^= std::byte{1};
  EXPECT_EQ(error_of(flipped), Errc::crc_mismatch);
}

// A compressed batch of one record holding `value_bytes` zeros.
std::vector<std::byte> zeros_batch(Compression codec, std::size_t value_bytes) {
  ByteWriter body;
  body.write<std::int8_t>(0);
  body.write_varint(0);
  body.write_varint(0);
  body.write_varint(-1);
  body.write_varint(static_cast<std::int64_t>(value_bytes));
  body.write_bytes(std::vector<std::byte>(value_bytes));
  body.write_varint(0);
  ByteWriter section;
  section.write_varint(static_cast<std::int64_t>(body.size()));
  section.write_bytes(body.view());
  auto packed = compress(codec, section.view());
  EXPECT_TRUE(packed);
  return make_batch(fields_for(1, static_cast<std::int16_t>(codec)), *packed);
}

TEST(BatchValidation, DecompressionBombIsRefused) {
  // One record whose value is 40 MiB of zeros: tens of kilobytes compressed.
  for (auto codec : std::array{Compression::gzip, Compression::zstd, Compression::lz4}) {
    auto batch = zeros_batch(codec, std::size_t{40} << 20U);
    ASSERT_LT(batch.size(), kLimit);
    auto checked = check_client_batch(batch, kLimit);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code(), Errc::record_too_large) << checked.error();
    // With a limit that allows it (8 MiB: 64 MiB decompressed), the same batch is fine.
    auto allowed = check_client_batch(batch, std::size_t{8} << 20U);
    EXPECT_TRUE(allowed) << allowed.error();
  }
}

TEST(BatchValidation, OneRequestsBatchesShareTheDecompressionBudget) {
  // Each batch decompresses to ~10 MiB, under the 16 MiB a batch may use.
  const std::size_t value_bytes = std::size_t{10} << 20U;
  for (auto codec : kCodecs) {
    auto batch = zeros_batch(codec, value_bytes);
    ASSERT_LT(batch.size(), kLimit);
    // A budget smaller than one batch: the first batch still goes through,
    // whole, and leaves nothing.
    DecompressBudget budget{.left = std::size_t{1} << 20U};
    auto first = check_client_batch(batch, kLimit, &budget);
    ASSERT_TRUE(first) << first.error();
    EXPECT_EQ(budget.left, 0U);
    EXPECT_FALSE(budget.first);
    auto second = check_client_batch(batch, kLimit, &budget);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), Errc::record_too_large) << second.error();
    EXPECT_NE(second.error().detail().find("--max-request-decompressed-bytes"), std::string::npos)
        << second.error();
    // 25 MiB: the first batch, then one more (15 MiB left of 25), then the
    // third no longer fits what is left (5 MiB).
    DecompressBudget roomy{.left = std::size_t{25} << 20U};
    ASSERT_TRUE(check_client_batch(batch, kLimit, &roomy));
    ASSERT_TRUE(check_client_batch(batch, kLimit, &roomy));
    EXPECT_LT(roomy.left, std::size_t{5} << 20U);
    auto third = check_client_batch(batch, kLimit, &roomy);
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error().code(), Errc::record_too_large);
    // A batch that fails to decompress (here: cut short) costs what it was
    // allowed, so that bombs with a bad trailer cannot each inflate the rest.
    DecompressBudget cut{.left = std::size_t{20} << 20U};
    ASSERT_TRUE(check_client_batch(batch, kLimit, &cut));
    auto truncated = std::vector<std::byte>(batch.begin(), batch.end() - 8);
    truncated = make_batch(fields_for(1, static_cast<std::int16_t>(codec)),
                           std::span(truncated).subspan(kBatchHeaderBytes));
    EXPECT_FALSE(check_client_batch(truncated, kLimit, &cut));
    EXPECT_EQ(cut.left, 0U) << "a failed decompression was free";
    auto after = check_client_batch(batch, kLimit, &cut);
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code(), Errc::record_too_large);
    // Uncompressed batches cost nothing from the budget.
    DecompressBudget none{.left = 0, .first = false};
    auto plain = make_batch(fields_for(1, 0), record(0, 0, "v"));
    EXPECT_TRUE(check_client_batch(plain, kLimit, &none));
  }
}

TEST(BatchValidation, DecompressedBoundScalesWithTheLimit) {
  EXPECT_EQ(records_bytes_max(1U << 20U), std::size_t{16} << 20U);
  EXPECT_EQ(records_bytes_max(std::size_t{64} << 20U), std::size_t{64} << 20U);
  EXPECT_EQ(records_bytes_max(std::size_t{256} << 20U), std::size_t{256} << 20U);
  EXPECT_EQ(records_bytes_max(100), 1600U);
}

}  // namespace
}  // namespace spate::protocol

namespace spate::protocol {
namespace {

// A compacted topic's batches (keys_required): one record with a null key
// refuses the batch, compressed or not, naming the record; keyed records,
// empty keys and tombstones pass; without the flag keyless records pass.
TEST(BatchValidation, KeysAreRequiredOnCompactedTopics) {
  auto spec = [](std::optional<std::string> key, std::optional<std::string> value) {
    RecordSpec r;
    r.timestamp = 1'700'000'000'000;
    auto bytes = [](const std::string& s) {
      auto b = std::as_bytes(std::span<const char>(s.data(), s.size()));
      return std::vector<std::byte>(b.begin(), b.end());
    };
    if (key) r.key = bytes(*key);
    if (value) r.value = bytes(*value);
    return r;
  };
  BatchBuilder keyless(1'700'000'000'000);
  keyless.add(spec("a", "1")).add(spec("b", "2")).add(spec(std::nullopt, "3"));
  BatchBuilder keyed(1'700'000'000'000);
  keyed.add(spec("a", "1")).add(spec("", "2")).add(spec("c", std::nullopt));
  const auto plain_keyless = keyless.build();
  const auto plain_keyed = keyed.build();
  std::vector<std::pair<std::vector<std::byte>, std::vector<std::byte>>> cases = {
      {plain_keyless, plain_keyed}};
  for (auto codec : kCodecs) {
    cases.emplace_back(*compress_batch(plain_keyless, codec), *compress_batch(plain_keyed, codec));
  }
  for (const auto& [without, with] : cases) {
    auto refused = check_client_batch(without, kLimit, nullptr, true);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), Errc::invalid_record);
    EXPECT_NE(refused.error().message().find("record 2"), std::string::npos) << refused.error();
    EXPECT_NE(refused.error().message().find("without a key"), std::string::npos);
    EXPECT_TRUE(check_client_batch(without, kLimit, nullptr, false));
    EXPECT_TRUE(check_client_batch(with, kLimit, nullptr, true));
    auto copy = without;
    auto validated = validate_client_batch(copy, kLimit, nullptr, {}, true);
    ASSERT_FALSE(validated);
    EXPECT_EQ(validated.error().code(), Errc::invalid_record);
    EXPECT_EQ(copy, without);  // refused before anything is rewritten
  }
}

}  // namespace
}  // namespace spate::protocol
