// SPDX-License-Identifier: Apache-2.0
//
// ModelSim: the seeded model test of PartitionLog (style.md §3.11,
// reliability.md S1/S2). One run applies thousands of random operations to a
// log on MemFs (through FaultyFs when `faults`) and to a LogModel, with
// crashes, torn writes and injected EIO/ENOSPC, and checks the invariants
// after every step. The checks and fault handling are in log_sim.cpp, the
// operations in log_sim_ops.cpp; the seeds are run by
// tests/storage/sim/log_model_test.cpp. SPATE_SIM_TRACE=1 prints every
// operation as it runs.

#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/compaction.h"
#include "support/log_testing.h"

namespace spate::storage::sim {

using spate::testing::LogModel;

inline const std::filesystem::path kDir = "/data/topic-0";

// Operations that write: a fault there must surface as an error and fence.
enum class Kind : std::uint8_t { write, read, open };

// What the runs exercised, printed once per test (so that a change that
// makes the sim stop crashing, cutting or faulting shows).
struct SimStats {
  std::uint64_t ops = 0;
  std::uint64_t appends = 0;
  std::uint64_t crashes = 0;
  std::uint64_t reopens = 0;
  std::uint64_t cuts = 0;
  std::uint64_t faults = 0;
  std::uint64_t segments_deleted = 0;
  std::uint64_t truncations = 0;
  std::uint64_t restarts = 0;  // opens that restarted an emptied log at its start offset
  std::uint64_t fenced = 0;    // failed writes that fenced the log
  std::uint64_t refused = 0;   // failed writes after which the log refused writes
  std::uint64_t resumed = 0;   // refusing logs that took writes again without a restart
  std::uint64_t absorbed = 0;  // full disks absorbed on purpose (recovery point, retention roll)
  // Compaction (ModelSim with `compact`):
  std::uint64_t passes = 0;              // cleaning passes that ran through
  std::uint64_t passes_failed = 0;       // passes an injected fault stopped
  std::uint64_t records_removed = 0;     // records the passes removed (seen by the model)
  std::uint64_t tombstones_removed = 0;  // of which tombstones past delete.retention.ms
};

class ModelSim {
 public:
  // `compact`: the log has cleanup.policy=compact (keyed batches, some
  // compressed; cleaning passes among the operations; log_sim_clean.cpp).
  ModelSim(std::uint64_t seed, bool faults, SimStats& stats, bool compact = false);

  std::string run(int ops);

 private:
  Filesystem& fs() { return faults_ ? static_cast<Filesystem&>(faulty_) : mem_; }

  void note(std::string line);

  std::string fail(const std::string& what);

  bool check(bool ok, const std::string& what);

  void maybe_inject();

  bool fault_fired();

  static bool named(const std::filesystem::path& p, std::string_view name);

  static bool in_recovery_point_write(const FaultyFs::Fired& f);

  static bool in_roll(const FaultyFs::Fired& f);

  static bool transient_errno(int err) { return err == 28; }  // the only one injected here

  void after_success(const char* op, Kind kind);

  void resume();

  void check_reads_match_model(Offset limit, const char* why);

  void on_error(const Error& e, const char* op, Kind kind);

  void one_step();

  // How many records a random batch has, how long its values may be, and
  // its first timestamp (moves ts_ on).
  struct BatchShape {
    int records = 1;
    std::size_t value_max = 0;
    std::int64_t first_ts = 0;
  };
  BatchShape batch_shape(std::uint64_t records_max, std::size_t largest);

  std::vector<std::byte> random_batch();

  void append();

  void bad_append();

  void read();

  void flush();

  void ticket_flush();

  bool ticket_operation(std::optional<Offset>& truncated, std::optional<Error>& error,
                        const char*& op, Kind& kind);

  void truncate();

  void roll();

  void age();

  void advance_start();

  void retention();

  void time_lookup();

  void terms();

  void crash(std::uint64_t mode);

  void clean_reopen();

  void unclean_reopen();

  bool reopen();

  void verify_after_reopen(const char* why, bool nothing_lost);

  void check_steady();

  // Compaction (log_sim_clean.cpp).
  void setup_compaction();
  std::vector<std::byte> random_keyed_batch();
  void keyless_append();
  void clean();
  void on_clean_error(const Error& e);
  bool clean_tolerated(const std::vector<FaultyFs::Fired>& fired, bool ran);
  // Reads the whole log and checks it against the model record by record
  // (below the clean point) and byte for byte (above it), then makes the
  // model what the log holds. `pass_done`: a pass just ran through.
  void verify_compaction(const char* why, bool pass_done);
  // Truncation never goes below what was committed (cleaning covers only that).
  [[nodiscard]] std::vector<Offset> truncation_targets(Offset start) const;
  // The records of a model batch, decoded once (cached by base offset, size and CRC).
  const std::vector<spate::testing::KeyedRecord>* records_of(const spate::testing::ModelBatch& b);

  std::uint64_t seed_;
  Rng rng_;
  bool faults_;
  bool compact_ = false;
  Offset committed_{0};    // cleaning may cover offsets below; truncation stays above
  std::int64_t keys_ = 0;  // keys k0..k<keys_-1>
  // When each tombstone first lay below the clean point (it may go
  // delete.retention.ms later), by offset.
  std::map<std::int64_t, std::int64_t> tombstone_cleaned_ms_;
  struct Decoded {
    std::size_t size = 0;
    std::uint32_t crc = 0;
    std::vector<spate::testing::KeyedRecord> records;
  };
  std::map<std::int64_t, Decoded> decoded_;  // by base offset
  SimStats& stats_;
  MemFs mem_;
  FaultyFs faulty_{mem_};
  ManualClock clock_;
  LogConfig config_;
  std::unique_ptr<PartitionLog> log_;
  LogModel model_;
  Offset durable_end_{0};      // every batch below is durable
  Offset persisted_start_{0};  // advance_start returned ok for this
  Offset start_ceiling_{0};    // the start may be anything up to here after a restart
  Term term_{1};
  std::int64_t ts_ = 0;
  bool plan_pending_ = false;
  bool crashed_in_reopen_ = false;
  std::vector<std::string> leftover_tmp_;  // an open failed to remove these
  bool index_skipped_ = false;             // an open could not rewrite an index file
  std::uint64_t fired_seen_ = 0;
  int step_ = 0;
  std::deque<std::string> trail_;
  std::string failure_;
};

}  // namespace spate::storage::sim
