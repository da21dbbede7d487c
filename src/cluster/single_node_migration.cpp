// SPDX-License-Identifier: Apache-2.0
//
// SingleNodeMigration (single_node_migration.h): a single node's topics and
// producer ids proposed to the controller once, then marked done.

#include "spate/cluster/single_node_migration.h"

#include "spate/cluster/metadata_migration.h"
#include "spate/common/log.h"
#include "spate/storage/data_dir.h"

#include "module_shared.h"

namespace spate::cluster {
namespace {

// One attempt at a proposal; a timeout is tried again (a create_topic that
// did commit meanwhile answers already_exists, a block is allocated twice).
constexpr auto kAttemptTimeout = std::chrono::seconds(5);
constexpr auto kRetryBackoff = std::chrono::milliseconds(200);

std::string replicas_of(const TopicMeta& t) {
  std::string out;
  for (std::size_t i = 0; i < t.partitions.size() && i < 8; ++i) {
    out += fmt::format("{}{}:[{}]", i == 0 ? "" : " ", i, fmt::join(t.partitions[i].replicas, ","));
  }
  return t.partitions.size() > 8 ? out + " ..." : out;
}

std::vector<TopicRecord> single_node_topics(const PartitionManager& partitions) {
  std::vector<TopicRecord> out;
  for (const auto& [name, t] : partitions.topics()) {
    if (t.id == 0) {
      out.push_back({name, static_cast<std::int32_t>(t.partitions.size()), t.overrides});
    }
  }
  return out;
}

}  // namespace

SingleNodeMigration::SingleNodeMigration(Controller& controller, PartitionManager& partitions,
                                         storage::Filesystem& fs, std::filesystem::path data_dir,
                                         DiskThread& disk, const Clock& clock,
                                         asio::any_io_executor shard)
    : controller_(controller),
      partitions_(partitions),
      fs_(fs),
      data_dir_(std::move(data_dir)),
      disk_(disk),
      clock_(clock),
      shard_(std::move(shard)) {}

void SingleNodeMigration::start() { task_.spawn(shard_, run()); }

awaitable<void> SingleNodeMigration::stop() {
  stopping_ = true;
  wake_.notify_all();
  co_await task_.ended();
}

awaitable<void> SingleNodeMigration::run() {
  // What the single node left: its topics (kept on disk, not served) and
  // the ids its producer.ids says it may have handed out.
  const std::vector<TopicRecord> topics = single_node_topics(partitions_);
  const std::int64_t ids_next = partitions_.producer_ids().next();
  if (topics.empty() && ids_next <= 0) co_return;
  auto migrated = single_node_migrated(fs_, data_dir_);
  if (!migrated) {
    logger()->error(
        "cannot tell whether this data directory's single node metadata was migrated "
        "({}): not migrating it now",
        migrated.error().message());
    co_return;
  }
  if (*migrated) {
    done_ = true;
    co_return;
  }
  logger()->info(
      "this data directory holds a single node's {} topic(s) and producer ids below {}: "
      "migrating them into the controller once this broker is registered",
      topics.size(), ids_next);
  // Bounded: until the registration applies or stop().
  while (!stopping_ && !controller_.caught_up()) co_await wake_.wait_at_most(kRetryBackoff);
  const NodeId self = controller_.config().self;
  bool complete = true;
  bool first_block = true;
  std::vector<TopicRecord> moved;
  for (auto& command : migration_commands(topics, self, ids_next, controller_.config().limits)) {
    const auto* create = std::get_if<CreateTopic>(&command);
    const std::string name = create != nullptr ? create->name : std::string();
    auto out = co_await propose_until_committed(std::move(command));
    if (!out) co_return;  // stopping: the next start runs it again
    if (create != nullptr) {
      const auto t = std::find_if(topics.begin(), topics.end(),
                                  [&](const TopicRecord& r) { return r.name == name; });
      if (t != topics.end() && check_topic(*t, *out)) moved.push_back(*t);
      continue;
    }
    complete = check_block(*out, first_block, ids_next) && complete;
    first_block = false;
  }
  if (!complete) co_return;
  if (auto s = co_await write_marker(moved); !s) {
    logger()->error("cannot write {} (the migration runs again at the next start): {}",
                    storage::kTopicsMetaMigratedFile, s.error().message());
    co_return;
  }
  done_ = true;
  logger()->info("single node metadata migrated: {} of {} topic(s), producer ids below {} reserved",
                 moved.size(), topics.size(), ids_next);
}

awaitable<std::optional<ApplyOutcome>> SingleNodeMigration::propose_until_committed(
    Command command) {
  // Bounded: until it commits, the controller closes, or stop().
  while (!stopping_) {
    Command attempt = command;  // named: see Controller::propose
    auto r =
        co_await controller_.propose(std::move(attempt), clock_.steady_now() + kAttemptTimeout);
    if (r) co_return std::move(r->outcome);
    if (r.error().code() == Errc::shutting_down) break;
    logger()->debug("migrating a single node: proposing {}: {}", command_name(command), r.error());
    co_await wake_.wait_at_most(kRetryBackoff);
  }
  co_return std::nullopt;
}

bool SingleNodeMigration::check_block(const ApplyOutcome& outcome, bool first,
                                      std::int64_t ids_next) const {
  if (!outcome.applied()) {
    logger()->error(
        "cannot reserve the single node's producer ids in the controller: {}: {} (the "
        "migration runs again at the next start)",
        errc_name(outcome.error), outcome.message);
    return false;
  }
  if (first && outcome.value > 0) {
    logger()->warn(
        "the controller had handed out producer ids below {} before this migration (an "
        "interrupted earlier run, or other brokers' producers): any of them below {} may be "
        "an id this node's producers used too",
        outcome.value, ids_next);
  }
  return true;
}

bool SingleNodeMigration::check_topic(const TopicRecord& topic, const ApplyOutcome& outcome) const {
  const NodeId self = controller_.config().self;
  if (outcome.applied()) {
    logger()->info("topic {} ({} partitions) migrated into the controller as id {}", topic.name,
                   topic.partitions, outcome.value);
    return true;
  }
  const auto* meta = controller_.state().topic(topic.name);
  if (outcome.error == Errc::already_exists && meta != nullptr &&
      migrated_shape(*meta, topic.partitions, self)) {
    logger()->info("topic {} is in the controller already (id {}, on this broker alone)",
                   topic.name, meta->id);
    return true;
  }
  if (outcome.error == Errc::already_exists && meta != nullptr) {
    logger()->error(
        "topic {}: the controller already has a topic of that name with {} partition(s), "
        "replicas {}; this node's {} partition(s) of it (all on broker {}) are kept on disk, "
        "not served and not deleted",
        topic.name, meta->partitions.size(), replicas_of(*meta), topic.partitions, self);
    return false;
  }
  logger()->error(
      "topic {} cannot be migrated into the controller: {}: {}; kept on disk, not served",
      topic.name, errc_name(outcome.error), outcome.message);
  return false;
}

awaitable<Status> SingleNodeMigration::write_marker(std::vector<TopicRecord> topics) {
  // Named, not a temporary in the co_await (see PartitionManager::off_shard).
  auto written = std::make_shared<Status>();
  std::function<void()> job = [this, written, topics = std::move(topics)] {
    *written = mark_single_node_migrated(fs_, data_dir_, topics);
  };
  co_await disk_.run(std::move(job), shard_);
  co_return *written;
}

}  // namespace spate::cluster
