// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog test helpers: the log model and comparison.

#include "support/log_testing.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "spate/common/bytes.h"
#include "spate/common/log.h"
#include "spate/protocol/record_batch.h"

#include "support/batches.h"

namespace spate::testing {

void quiet_storage_logs() { log::set_level(spdlog::level::critical); }

std::vector<std::byte> as_stored(std::span<const std::byte> sent, Offset base, Term term) {
  std::vector<std::byte> out(sent.begin(), sent.end());
  protocol::set_base_offset(out, base);
  protocol::set_partition_leader_epoch(out, static_cast<std::int32_t>(term.value()));
  return out;
}

std::int64_t batch_record_count(std::span<const std::byte> batch) {
  return std::int64_t{
             load_be<std::int32_t>(batch.data() + protocol::batch_field::kLastOffsetDelta)} +
         1;
}

void LogModel::append(std::span<const std::byte> sent, Offset base, Term term) {
  const Offset next = base + batch_record_count(sent);
  batches_.push_back({base, next, term, as_stored(sent, base, term)});
}

void LogModel::truncate(Offset end) {
  while (!batches_.empty() && batches_.back().base >= end) batches_.pop_back();
  floor_ = std::min(floor_, end);
}

void LogModel::restart_at(Offset at) {
  batches_.clear();
  floor_ = at;
}

const ModelBatch* LogModel::containing(Offset offset) const {
  auto it = std::upper_bound(batches_.begin(), batches_.end(), offset,
                             [](Offset o, const ModelBatch& b) { return o < b.next; });
  if (it == batches_.end() || it->base > offset) return nullptr;
  return &*it;
}

const ModelBatch* LogModel::at_or_after(Offset offset) const {
  auto it = std::upper_bound(batches_.begin(), batches_.end(), offset,
                             [](Offset o, const ModelBatch& b) { return o < b.next; });
  return it == batches_.end() ? nullptr : &*it;
}

void LogModel::replace(Offset base, std::vector<std::byte> bytes) {
  auto* b = const_cast<ModelBatch*>(starting_at(base));
  if (b != nullptr) b->bytes = std::move(bytes);
}

void LogModel::erase(Offset base) {
  const Offset end_before = end();
  std::erase_if(batches_, [&](const ModelBatch& b) { return b.base == base; });
  floor_ = std::max(floor_, end_before);
}

const ModelBatch* LogModel::starting_at(Offset base) const {
  const ModelBatch* b = containing(base);
  return b != nullptr && b->base == base ? b : nullptr;
}

bool LogModel::is_boundary(Offset offset) const {
  return offset == end() || starting_at(offset) != nullptr;
}

std::optional<Offset> LogModel::first_at_or_after(std::int64_t timestamp, Offset start) const {
  for (const auto& b : batches_) {
    if (b.next <= start) continue;
    auto records = protocol::decode_records(b.bytes);
    if (!records) return std::nullopt;
    for (const auto& r : *records) {
      if (Offset(r.offset) >= start && r.timestamp >= timestamp) return Offset(r.offset);
    }
  }
  return std::nullopt;
}

std::vector<Offset> LogModel::boundaries_from(Offset start) const {
  std::vector<Offset> out;
  for (const auto& b : batches_) {
    if (b.base >= start) out.push_back(b.base);
  }
  out.push_back(end());
  return out;
}

std::string compare_with_model(storage::PartitionLog& log, const LogModel& model) {
  const Offset end = log.end_offset();
  Offset from = log.start_offset();
  // Bounded: every successful read moves `from` forward by at least one batch.
  while (from < end) {
    auto r = log.read(from, std::uint64_t{1} << 20U);
    if (!r) return fmt::format("read({}) failed: {}", from, r.error().message());
    auto bytes = r->bytes.read_all();
    if (!bytes) return fmt::format("read({}) bytes: {}", from, bytes.error().message());
    std::vector<std::span<const std::byte>> parts;
    if (!split_batches(*bytes, parts))
      return fmt::format("read({}) returned a partial batch", from);
    if (parts.empty() && model.at_or_after(from) == nullptr) return {};  // a gap up to the end
    if (parts.empty()) return fmt::format("read({}) below the end {} returned nothing", from, end);
    Offset expected = from;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto base = Offset(load_be<std::int64_t>(parts[i].data()));
      const ModelBatch* want = model.at_or_after(i == 0 ? from : expected);
      if (want == nullptr) {
        return fmt::format("read({}) returned a batch at {} the model does not have", from, base);
      }
      if (want->base != base) {
        return fmt::format("read({}) returned the batch at {}, expected the one at {}", from, base,
                           want->base);
      }
      if (!std::equal(parts[i].begin(), parts[i].end(), want->bytes.begin(), want->bytes.end())) {
        return fmt::format("batch at {} ({} bytes) differs from the model's ({} bytes)", base,
                           parts[i].size(), want->bytes.size());
      }
      expected = want->next;
    }
    // Past the batches read, a read may step over a gap compaction left.
    if (r->next_offset < expected || !model.gap(expected, r->next_offset)) {
      return fmt::format("read({}) next_offset {} but the batches end at {}", from, r->next_offset,
                         expected);
    }
    from = r->next_offset;
  }
  if (from != end) return fmt::format("reads ended at {}, the log ends at {}", from, end);
  return {};
}

Result<std::vector<std::vector<std::byte>>> read_batches(storage::PartitionLog& log,
                                                         std::uint64_t bytes_max) {
  std::vector<std::vector<std::byte>> out;
  Offset from = log.start_offset();
  while (from < log.end_offset()) {
    auto r = log.read(from, bytes_max);
    if (!r) return r.error();
    auto bytes = r->bytes.read_all();
    if (!bytes) return bytes.error();
    std::vector<std::span<const std::byte>> parts;
    if (!split_batches(*bytes, parts) || parts.empty()) {
      return Error::malformed(fmt::format("read({}) did not return whole batches", from));
    }
    for (auto p : parts) out.emplace_back(p.begin(), p.end());
    if (r->next_offset <= from)
      return Error::malformed(fmt::format("read({}) made no progress", from));
    from = r->next_offset;
  }
  return out;
}

std::string unexpected_files(storage::Filesystem& fs, const std::filesystem::path& dir,
                             std::size_t segments) {
  auto names = fs.list_directory(dir);
  if (!names) return fmt::format("list {}: {}", dir.string(), names.error().message());
  std::set<std::string> logs;
  std::vector<std::string> indexes;
  std::string problems;
  auto stem_of = [](const std::string& name,
                    std::string_view suffix) -> std::optional<std::string> {
    if (name.size() != 20 + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
    const std::string stem = name.substr(0, 20);
    if (!std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    return stem;
  };
  for (const auto& name : *names) {
    if (auto s = stem_of(name, ".log")) {
      logs.insert(*s);
    } else if (auto i = stem_of(name, ".index")) {
      indexes.push_back(*i);
    } else if (auto t = stem_of(name, ".timeindex")) {
      indexes.push_back(*t);
    } else if (name != "recovery.point" && name != "start.offset" &&
               name != "producer.snapshot" &&  // the producer state's, beside the log
               name != "cleaner.state") {
      problems += fmt::format(" unexpected file '{}';", name);
    }
  }
  for (const auto& stem : indexes) {
    if (!logs.contains(stem)) problems += fmt::format(" index of missing segment {};", stem);
  }
  if (logs.size() != segments) {
    problems += fmt::format(" {} .log files for {} segments;", logs.size(), segments);
  }
  return problems;
}

}  // namespace spate::testing
