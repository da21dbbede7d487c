// SPDX-License-Identifier: Apache-2.0

#include "spate/groups/coordinator.h"

#include <limits>
#include <random>

#include <fmt/format.h>

#include "spate/common/log.h"

#include "module_shared.h"

namespace spate::groups {
namespace {

JoinResult join_error(GroupError e) {
  JoinResult r;
  r.error = e;
  return r;
}

SyncResult sync_error(GroupError e) {
  SyncResult r;
  r.error = e;
  return r;
}

// The longest client id kept in a member id.
constexpr std::size_t kClientIdInMemberId = 64;

}  // namespace

Coordinator::Coordinator(CoordinatorConfig config, cluster::PartitionManager& partitions,
                         const Clock& clock)
    : Coordinator(std::move(config), local_offsets_topic(partitions), clock) {}

Coordinator::Coordinator(CoordinatorConfig config, std::unique_ptr<OffsetsTopic> topic,
                         const Clock& clock)
    : config_(std::move(config)), topic_(std::move(topic)), clock_(clock) {
  // Member ids must not repeat across restarts (a member from before one
  // must not be taken for a new one): a random start, then a counter.
  std::random_device rd;
  next_member_ = (std::uint64_t{rd()} << 32U) ^ rd();
}

Coordinator::~Coordinator() = default;

std::int64_t Coordinator::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_.steady_now().time_since_epoch())
      .count();
}

std::int32_t Coordinator::partition_for(std::string_view group_id) const {
  return offsets_partition(group_id, partition_count_);
}

awaitable<Status> Coordinator::start() {
  if (auto s = co_await topic_->prepare(config_.offsets_partitions); !s) co_return s;
  started_ = true;
  // Whatever is led now loads at once (on a single node: every partition).
  std::uint64_t unbounded = std::numeric_limits<std::uint64_t>::max();
  if (auto s = follow_leaders(unbounded); !s) co_return s;
  next_expiry_ms_ = now_ms() + config_.expiry_interval_ms;
  co_return Status{};
}

void Coordinator::stop() {
  stopped_ = true;
  for (auto& [id, w] : waiters_) {
    Reply r;
    r.id = id;
    r.join = join_error(GroupError::coordinator_not_available);
    r.sync = sync_error(GroupError::coordinator_not_available);
    w->reply = std::move(r);
    w->signal.notify_all();
  }
  waiters_.clear();
}

GroupError Coordinator::check_group_id(const std::string& group_id, bool may_be_empty) const {
  if (stopped_) return GroupError::coordinator_not_available;
  if (!started_) return GroupError::coordinator_loading;
  if ((!may_be_empty && group_id.empty()) || group_id.size() > config_.group_id_bytes_max) {
    return GroupError::invalid_group_id;
  }
  return route(group_id);
}

GroupError Coordinator::route(const std::string& group_id) const {
  if (stopped_) return GroupError::coordinator_not_available;
  if (!started_) return GroupError::coordinator_loading;
  if (partition_count_ == 0) return GroupError::not_coordinator;
  auto it = served_.find(partition_for(group_id));
  if (it == served_.end()) return GroupError::not_coordinator;
  return it->second.loading ? GroupError::coordinator_loading : GroupError::none;
}

bool Coordinator::serves(std::int32_t index) const {
  auto it = served_.find(index);
  return it != served_.end() && !it->second.loading;
}

Group* Coordinator::find(const std::string& group_id) {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : it->second.get();
}

const Group* Coordinator::find(const std::string& group_id) const {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : it->second.get();
}

Result<Group*> Coordinator::find_or_create(const std::string& group_id) {
  if (auto* g = find(group_id)) return g;
  const auto* stored = offsets_.group(group_id);
  if (stored == nullptr && groups_.size() + offsets_.groups().size() >= config_.groups_max) {
    return Error(Errc::limit_exceeded,
                 fmt::format("this broker coordinates at most {} groups", config_.groups_max));
  }
  auto group = std::make_unique<Group>(group_id, config_.limits);
  auto written = summary_generation_.find(group_id);
  if (written != summary_generation_.end()) group->restore_generation(written->second);
  auto* raw = group.get();
  groups_.emplace(group_id, std::move(group));
  return raw;
}

std::shared_ptr<Coordinator::Waiter> Coordinator::add_waiter(const std::string& group_id) {
  auto w = std::make_shared<Waiter>();
  w->id = next_request_++;
  w->partition = partition_for(group_id);
  waiters_.emplace(w->id, w);
  return w;
}

void Coordinator::deliver(std::vector<Reply> replies) {
  for (auto& r : replies) {
    auto it = waiters_.find(r.id);
    if (it == waiters_.end()) continue;  // its caller gave up waiting
    it->second->reply = std::move(r);
    it->second->signal.notify_all();
    waiters_.erase(it);
  }
}

awaitable<std::optional<Reply>> Coordinator::await_reply(std::shared_ptr<Waiter> waiter,
                                                         Clock::SteadyTime deadline) {
  while (!waiter->reply) {
    const auto now = clock_.steady_now();
    if (now >= deadline) break;
    co_await waiter->signal.wait_at_most(deadline - now);
  }
  waiters_.erase(waiter->id);
  co_return waiter->reply;
}

std::string Coordinator::fresh_member_id(const std::string& client_id) {
  const std::uint64_t n = next_member_++;
  std::string prefix = client_id.substr(0, kClientIdInMemberId);
  return fmt::format("{}-{:016x}-{:08x}", prefix.empty() ? "member" : prefix, n,
                     static_cast<std::uint32_t>(n * 2654435761U));
}

void Coordinator::after_change(Group& group) {
  const auto& id = group.group_id();
  const std::size_t bytes = group.member_bytes();
  auto& held = group_bytes_[id];
  member_bytes_ = member_bytes_ - held + bytes;
  held = bytes;
  auto written = summary_generation_.find(id);
  if (written != summary_generation_.end() && written->second >= group.generation()) return;
  if (group.generation() == 0) return;
  GroupSummary summary;
  summary.protocol_type = group.protocol_type();
  if (summary.protocol_type.empty()) {
    const auto* stored = offsets_.group(id);
    if (stored != nullptr && stored->summary)
      summary.protocol_type = stored->summary->protocol_type;
  }
  summary.generation = group.generation();
  summary.protocol_name = group.protocol_name();
  summary.leader = group.leader();
  summary.state_ms = clock_.wall_ms();
  summary_generation_[id] = group.generation();
  auto end = write(id, {GroupRecord{id, summary}});
  if (!end) {
    logger()->warn("group {}: generation {} not recorded: {}", id, group.generation(),
                   end.error().message());
  }
}

awaitable<JoinResult> Coordinator::join(std::string group_id, JoinRequest request) {
  if (auto e = check_group_id(group_id, false); e != GroupError::none) {
    co_return join_error(e);
  }
  auto group = find_or_create(group_id);
  if (!group) co_return join_error(GroupError::too_many_groups);
  std::size_t incoming = 256 + request.client_id.size() + request.client_host.size();
  for (const auto& p : request.protocols) incoming += p.name.size() + p.metadata.size();
  if (member_bytes_ + incoming > config_.member_bytes_max) {
    logger()->warn("group {}: join refused, members of all groups hold {} bytes (limit {})",
                   group_id, member_bytes_, config_.member_bytes_max);
    co_return join_error(GroupError::too_many_groups);
  }
  if (request.rebalance_timeout_ms > config_.rebalance_timeout_max_ms) {
    request.rebalance_timeout_ms = config_.rebalance_timeout_max_ms;
  }
  auto waiter = add_waiter(group_id);
  request.id = waiter->id;
  auto replies = (*group)->join(request, fresh_member_id(request.client_id), now_ms());
  deliver(std::move(replies));
  after_change(**group);
  const auto deadline = clock_.steady_now() +
                        std::chrono::milliseconds(std::int64_t{config_.rebalance_timeout_max_ms} +
                                                  config_.wait_slack_ms);
  auto reply = co_await await_reply(waiter, deadline);
  if (!reply || !reply->join) co_return join_error(GroupError::rebalance_in_progress);
  co_return std::move(*reply->join);
}

awaitable<SyncResult> Coordinator::sync(std::string group_id, SyncRequest request,
                                        std::optional<std::string> instance_id) {
  if (auto e = check_group_id(group_id, false); e != GroupError::none) {
    co_return sync_error(e);
  }
  auto* group = find(group_id);
  if (group == nullptr) co_return sync_error(GroupError::unknown_member_id);
  if (fenced(*group, request.member_id, instance_id)) {
    co_return sync_error(GroupError::fenced_instance_id);
  }
  auto waiter = add_waiter(group_id);
  request.id = waiter->id;
  deliver(group->sync(request, now_ms()));
  after_change(*group);
  const auto deadline = clock_.steady_now() +
                        std::chrono::milliseconds(std::int64_t{config_.rebalance_timeout_max_ms} +
                                                  config_.wait_slack_ms);
  auto reply = co_await await_reply(waiter, deadline);
  if (!reply || !reply->sync) co_return sync_error(GroupError::rebalance_in_progress);
  co_return std::move(*reply->sync);
}

bool Coordinator::fenced(const Group& group, const std::string& member_id,
                         const std::optional<std::string>& instance_id) {
  if (!instance_id) return false;
  auto owner = group.static_member(*instance_id);
  return owner && *owner != member_id;
}

GroupError Coordinator::heartbeat(const std::string& group_id, const std::string& member_id,
                                  std::int32_t generation,
                                  const std::optional<std::string>& instance_id) {
  if (auto e = check_group_id(group_id, false); e != GroupError::none) return e;
  auto* group = find(group_id);
  if (group == nullptr) return GroupError::unknown_member_id;
  if (fenced(*group, member_id, instance_id)) return GroupError::fenced_instance_id;
  return group->heartbeat(member_id, generation, now_ms());
}

GroupError Coordinator::leave(const std::string& group_id, const std::string& member_id,
                              const std::optional<std::string>& instance_id) {
  if (auto e = check_group_id(group_id, false); e != GroupError::none) return e;
  auto* group = find(group_id);
  if (group == nullptr) return GroupError::unknown_member_id;
  std::string member = member_id;
  if (instance_id) {
    auto owner = group->static_member(*instance_id);
    if (!owner) return GroupError::unknown_member_id;
    if (!member.empty() && *owner != member) return GroupError::fenced_instance_id;
    member = *owner;
  }
  auto [error, replies] = group->leave(member, now_ms());
  deliver(std::move(replies));
  after_change(*group);
  return error;
}

GroupView Coordinator::view_of(const std::string& group_id, const Group* group) const {
  GroupView v;
  v.group_id = group_id;
  v.state = GroupState::empty;
  if (group != nullptr) {
    v.state = group->state();
    v.protocol_type = group->protocol_type();
    v.protocol_name = group->protocol_name();
    v.generation = group->generation();
    v.members = group->members();
  }
  if (v.protocol_type.empty()) {
    const auto* stored = offsets_.group(group_id);
    if (stored != nullptr && stored->summary) v.protocol_type = stored->summary->protocol_type;
  }
  return v;
}

std::vector<GroupView> Coordinator::list() const {
  std::vector<GroupView> out;
  if (!started_) return out;
  for (const auto& [id, g] : groups_) out.push_back(view_of(id, g.get()));
  for (const auto& [id, entry] : offsets_.groups()) {
    if (!groups_.contains(id)) out.push_back(view_of(id, nullptr));
  }
  return out;
}

std::optional<GroupView> Coordinator::describe(const std::string& group_id) const {
  const auto* group = find(group_id);
  if (group == nullptr && offsets_.group(group_id) == nullptr) return std::nullopt;
  return view_of(group_id, group);
}

void Coordinator::forget(const std::string& group_id) {
  auto bytes = group_bytes_.find(group_id);
  if (bytes != group_bytes_.end()) {
    member_bytes_ -= bytes->second;
    group_bytes_.erase(bytes);
  }
  groups_.erase(group_id);
}

void Coordinator::tick() {
  if (!started_ || stopped_) return;
  std::uint64_t budget = config_.load_bytes_per_tick;
  (void)follow_leaders(budget);  // failures are logged; the partition is not served
  const auto now = now_ms();
  std::vector<std::string> idle;
  for (auto& [id, group] : groups_) {
    deliver(group->tick(now));
    after_change(*group);
    if (group->state() == GroupState::empty && group->member_count() == 0 &&
        group->pending_members() == 0) {
      idle.push_back(id);
    }
  }
  for (const auto& id : idle) forget(id);
  for (const auto& entry : served_) apply_durable(entry.first);
  if (now >= next_expiry_ms_) {
    next_expiry_ms_ = now + config_.expiry_interval_ms;
    expire_offsets();
  }
}

}  // namespace spate::groups
