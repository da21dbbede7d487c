// SPDX-License-Identifier: Apache-2.0
//
// The small-file envelope (magic, version, body, CRC-32C): its layout, each of
// its errors, hostile bytes (never an assertion), the read/write helpers; and
// the partition files built on it (recovery.point, start.offset,
// clean.shutdown): files laid out by hand in the format of the code before the
// envelope still open, and are what the code writes, byte for byte.

#include "spate/storage/envelope.h"

#include <gtest/gtest.h>

#include "spate/common/crc32c.h"
#include "spate/common/rng.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_testing.h"

#include "storage/log_files.h"

namespace spate::storage {
namespace {

// Big-endian bytes laid out by hand, independent of the code under test.
class Bytes {
 public:
  Bytes& u16(std::uint16_t v) { return put(v, 2); }
  Bytes& u32(std::uint32_t v) { return put(v, 4); }
  Bytes& u64(std::uint64_t v) { return put(v, 8); }
  Bytes& raw(std::string_view s) {
    for (char c : s) out_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  Bytes& append(const Bytes& more) {
    out_.insert(out_.end(), more.out_.begin(), more.out_.end());
    return *this;
  }
  // Appends the CRC-32C of every byte so far.
  Bytes& crc() { return u32(crc32c::value(out_)); }
  [[nodiscard]] const std::vector<std::byte>& bytes() const { return out_; }

 private:
  Bytes& put(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::byte>(v >> (8 * i)));
    return *this;
  }
  std::vector<std::byte> out_;
};

constexpr std::uint32_t kMagic = 0x54455354;  // "TEST"

std::vector<std::byte> body_of(std::string_view s) { return Bytes().raw(s).bytes(); }

TEST(Envelope, LayoutIsMagicVersionBodyCrcOfEverythingBefore) {
  const auto expected = Bytes().u32(kMagic).u16(3).raw("body").crc().bytes();
  EXPECT_EQ(encode_envelope(kMagic, 3, body_of("body")), expected);
  auto opened = open_envelope(expected, kMagic, 3);
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ(opened->version, 3);
  EXPECT_EQ(std::vector<std::byte>(opened->body.begin(), opened->body.end()), body_of("body"));
  // An empty body is an envelope of kEnvelopeOverheadBytes.
  auto empty = encode_envelope(kMagic, 1, {});
  ASSERT_EQ(empty.size(), kEnvelopeOverheadBytes);
  auto e = open_envelope(empty, kMagic, 1);
  ASSERT_TRUE(e) << e.error();
  EXPECT_TRUE(e->body.empty());
}

TEST(Envelope, OlderVersionsOpenNewerOnesAreUnsupported) {
  auto v1 = encode_envelope(kMagic, 1, body_of("x"));
  auto v2 = encode_envelope(kMagic, 2, body_of("x"));
  ASSERT_TRUE(open_envelope(v1, kMagic, 2));
  ASSERT_TRUE(open_envelope(v2, kMagic, 2));
  auto newer = open_envelope(v2, kMagic, 1);
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().code(), Errc::unsupported_version);
  EXPECT_NE(newer.error().detail().find("version 2"), std::string::npos) << newer.error();
  // Version 0 is never written: unsupported, not misread.
  auto zero = open_envelope(Bytes().u32(kMagic).u16(0).raw("x").crc().bytes(), kMagic, 5);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), Errc::unsupported_version);
}

TEST(Envelope, EachErrorSaysWhatIsWrong) {
  const auto good = encode_envelope(kMagic, 1, body_of("payload"));
  struct Case {
    const char* name;
    std::vector<std::byte> bytes;
    const char* says;
  };
  auto flipped = [&](std::size_t at) {
    auto b = good;
    b[at] ^= std::byte{0x01};
    return b;
  };
  const std::vector<Case> cases = {
      {"empty", {}, "too short"},
      {"9 bytes", std::vector<std::byte>(good.begin(), good.begin() + 9), "too short"},
      {"other magic", encode_envelope(kMagic + 1, 1, body_of("payload")), "wrong magic"},
      {"flipped magic", flipped(0), "wrong magic"},
      {"flipped version", flipped(5), "CRC mismatch"},
      {"flipped body", flipped(8), "CRC mismatch"},
      {"flipped crc", flipped(good.size() - 1), "CRC mismatch"},
      {"cut short", std::vector<std::byte>(good.begin(), good.end() - 1), "CRC mismatch"},
  };
  for (const auto& c : cases) {
    auto r = open_envelope(c.bytes, kMagic, 1);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().code(), Errc::corrupt_log) << c.name;
    EXPECT_NE(r.error().detail().find(c.says), std::string::npos) << c.name << ": " << r.error();
  }
}

TEST(Envelope, HostileBytesAreRefusedNeverAsserted) {
  const auto good = encode_envelope(kMagic, 1, body_of("some state"));
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    auto damaged = good;
    damaged[bit / 8] ^= std::byte{static_cast<unsigned char>(1U << (bit % 8))};
    EXPECT_FALSE(open_envelope(damaged, kMagic, 1)) << "bit " << bit;
  }
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(open_envelope(std::span(good).first(n), kMagic, 1)) << "truncated to " << n;
  }
  // Random bytes, half of them behind the right magic: refused, never read past the end.
  Rng rng(13);
  int opened = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> bytes(rng.uniform(40));
    for (auto& b : bytes) b = static_cast<std::byte>(rng.uniform(256));
    if (bytes.size() >= 4 && rng.chance(50)) {
      for (std::size_t k = 0; k < 4; ++k) bytes[k] = static_cast<std::byte>(kMagic >> (24 - 8 * k));
    }
    if (open_envelope(bytes, kMagic, 0xFFFF)) ++opened;
  }
  EXPECT_LE(opened, 1);  // a chance of about 10,000 in 2^32
}

TEST(Envelope, WriteAndReadThroughTheFilesystem) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/d"));
  bool replaced = false;
  ASSERT_TRUE(write_envelope(fs, "/d/state", kMagic, 2, body_of("hello"), &replaced));
  EXPECT_TRUE(replaced);
  EXPECT_EQ(*fs.entry_type("/d/state.tmp"), EntryType::none);
  EXPECT_EQ(*fs.contents("/d/state"), encode_envelope(kMagic, 2, body_of("hello")));
  auto read = read_envelope(fs, "/d/state", kMagic, 2, 1024);
  ASSERT_TRUE(read) << read.error();
  EXPECT_EQ(read->version, 2);
  EXPECT_EQ(read->body, body_of("hello"));

  auto missing = read_envelope(fs, "/d/none", kMagic, 2, 1024);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  auto large = read_envelope(fs, "/d/state", kMagic, 2, 8);
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().code(), Errc::limit_exceeded);
  auto newer = read_envelope(fs, "/d/state", kMagic, 1, 1024);
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().code(), Errc::unsupported_version);
  ASSERT_TRUE(fs.corrupt("/d/state", 7, body_of("J")));
  auto damaged = read_envelope(fs, "/d/state", kMagic, 2, 1024);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), Errc::corrupt_log);
  EXPECT_NE(damaged.error().detail().find("/d/state: CRC mismatch"), std::string::npos)
      << damaged.error();
}

// --- recovery.point and start.offset: 20 bytes, unchanged since version 1 ---

std::vector<std::byte> old_offset_file(std::uint32_t magic, std::uint16_t version,
                                       std::int64_t offset) {
  return Bytes()
      .u32(magic)
      .u16(version)
      .u16(0)
      .u64(static_cast<std::uint64_t>(offset))
      .crc()
      .bytes();
}

TEST(OffsetFiles, TheOldLayoutReadsAndIsWhatIsWritten) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/p"));
  for (std::uint32_t magic : {kRecoveryPointMagic, kStartOffsetMagic}) {
    ASSERT_TRUE(write_offset_file(fs, "/p/file", magic, Offset(123456789012)));
    EXPECT_EQ(*fs.contents("/p/file"), old_offset_file(magic, 1, 123456789012));
    ASSERT_TRUE(write_file_atomic(fs, "/p/file", old_offset_file(magic, 1, 42)));
    auto read = read_offset_file(fs, "/p/file", magic);
    ASSERT_TRUE(read) << read.error();
    EXPECT_EQ(*read, Offset(42));
  }
}

TEST(OffsetFiles, DamageOfAnyKindIsCorrupt) {
  MemFs fs;
  ASSERT_TRUE(fs.create_directories("/p"));
  const std::vector<std::pair<const char*, std::vector<std::byte>>> cases = {
      // A newer version is corrupt for these files (a recovery point is then
      // ignored, a start offset stops the open), as before the envelope.
      {"version 2", old_offset_file(kRecoveryPointMagic, 2, 1)},
      {"other magic", old_offset_file(kStartOffsetMagic, 1, 1)},
      {"negative", old_offset_file(kRecoveryPointMagic, 1, -1)},
      {"21 bytes", Bytes().u32(kRecoveryPointMagic).u16(1).u16(0).u64(1).raw("x").crc().bytes()},
      {"12 bytes", Bytes().u32(kRecoveryPointMagic).u16(1).u16(0).crc().bytes()},
  };
  for (const auto& [name, bytes] : cases) {
    ASSERT_TRUE(write_file_atomic(fs, "/p/rp", bytes));
    auto r = read_offset_file(fs, "/p/rp", kRecoveryPointMagic);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code(), Errc::corrupt_log) << name << ": " << r.error();
    EXPECT_NE(r.error().detail().find("/p/rp"), std::string::npos) << name;
  }
  auto good = old_offset_file(kRecoveryPointMagic, 1, 7);
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto damaged = good;
    damaged[i] ^= std::byte{0x10};
    ASSERT_TRUE(write_file_atomic(fs, "/p/rp", damaged));
    auto r = read_offset_file(fs, "/p/rp", kRecoveryPointMagic);
    ASSERT_FALSE(r) << "flip at " << i;
    EXPECT_EQ(r.error().code(), Errc::corrupt_log);
  }
  ASSERT_TRUE(write_file_atomic(fs, "/p/rp", std::vector<std::byte>(65)));
  EXPECT_EQ(read_offset_file(fs, "/p/rp", kRecoveryPointMagic).error().code(),
            Errc::limit_exceeded);
}

// --- clean.shutdown ---

std::vector<std::byte> old_marker(std::int64_t end,
                                  const std::vector<std::pair<std::int64_t, std::uint64_t>>& segs,
                                  const std::vector<std::pair<std::int64_t, std::int64_t>>& terms) {
  Bytes b;
  b.u32(kCleanShutdownMagic).u16(1).u16(0).u64(static_cast<std::uint64_t>(end));
  b.u32(static_cast<std::uint32_t>(segs.size()));
  for (auto [base, size] : segs) b.u64(static_cast<std::uint64_t>(base)).u64(size);
  b.u32(static_cast<std::uint32_t>(terms.size()));
  for (auto [term, start] : terms) {
    b.u64(static_cast<std::uint64_t>(term)).u64(static_cast<std::uint64_t>(start));
  }
  return b.crc().bytes();
}

TEST(CleanMarker, TheOldLayoutDecodesAndIsWhatIsEncoded) {
  CleanMarker m;
  m.end_offset = Offset(300);
  m.segments = {{0, 4096}, {200, 77}};
  m.terms = {{1, 0}, {4, 150}};
  const auto old = old_marker(300, {{0, 4096}, {200, 77}}, {{1, 0}, {4, 150}});
  EXPECT_EQ(encode_clean_marker(m), old);
  // Decoding keeps every field: encoding the result gives the same bytes.
  auto decoded = decode_clean_marker(old);
  ASSERT_TRUE(decoded) << decoded.error();
  EXPECT_EQ(encode_clean_marker(*decoded), old);
}

TEST(CleanMarker, HostileCountsAndLengthsAreCorrupt) {
  // The old layout's header and CRC around what follows the reserved field.
  auto in_envelope = [](const Bytes& rest) {
    return Bytes().u32(kCleanShutdownMagic).u16(1).u16(0).append(rest).crc().bytes();
  };
  const std::vector<std::pair<const char*, std::vector<std::byte>>> cases = {
      {"no counts", in_envelope(Bytes().u64(5))},
      {"no term count", in_envelope(Bytes().u64(5).u32(0))},
      {"huge segment count", in_envelope(Bytes().u64(5).u32(0xFFFFFFFF).u32(0))},
      {"segment count past the end", in_envelope(Bytes().u64(5).u32(2).u64(0).u64(1).u32(0))},
      {"huge term count", in_envelope(Bytes().u64(5).u32(0).u32(0xFFFFFFFF))},
      {"trailing byte", in_envelope(Bytes().u64(5).u32(0).u32(0).raw("x"))},
      {"version 2",
       Bytes().u32(kCleanShutdownMagic).u16(2).u16(0).u64(5).u32(0).u32(0).crc().bytes()},
  };
  for (const auto& [name, bytes] : cases) {
    auto r = decode_clean_marker(bytes);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code(), Errc::corrupt_log) << name;
  }
  const auto good = old_marker(9, {{0, 100}}, {{2, 0}});
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(decode_clean_marker(std::span(good).first(n))) << "truncated to " << n;
  }
}

// A log closed by the code before the envelope: its marker and offset files,
// laid out by hand, open it cleanly at the same state.
TEST(CleanMarker, ALogWithOldFilesOpensClean) {
  MemFs fs;
  ManualClock clock;
  const std::filesystem::path dir = "/data/t-0";
  ASSERT_TRUE(fs.create_directories(dir));
  {
    auto log = PartitionLog::open(fs, dir, LogConfig{}, clock);
    ASSERT_TRUE(log) << log.error();
    Rng rng(3);
    for (std::int64_t ts = 0; ts < 3; ++ts) {
      auto batch = spate::testing::make_varied_batch(rng, 1, 50, ts);
      ASSERT_TRUE((*log)->append(batch, Term(3)));
    }
    ASSERT_TRUE((*log)->close());
  }
  const auto size = fs.contents(dir / "00000000000000000000.log")->size();
  const auto marker = old_marker(3, {{0, size}}, {{3, 0}});
  EXPECT_EQ(*fs.contents(dir / kCleanShutdownFile), marker);  // byte for byte
  EXPECT_EQ(*fs.contents(dir / kRecoveryPointFile), old_offset_file(kRecoveryPointMagic, 1, 3));
  ASSERT_TRUE(write_file_atomic(fs, dir / kCleanShutdownFile, marker));
  ASSERT_TRUE(
      write_file_atomic(fs, dir / kStartOffsetFile, old_offset_file(kStartOffsetMagic, 1, 1)));
  auto log = PartitionLog::open(fs, dir, LogConfig{}, clock);
  ASSERT_TRUE(log) << log.error();
  EXPECT_TRUE((*log)->recovery().clean);
  EXPECT_EQ((*log)->end_offset(), Offset(3));
  EXPECT_EQ((*log)->last_term(), Term(3));
  EXPECT_EQ((*log)->start_offset(), Offset(1));
}

}  // namespace
}  // namespace spate::storage
