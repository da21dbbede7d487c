// SPDX-License-Identifier: Apache-2.0
//
// What a replica hands its driver to make durable and send (Replica::ready),
// and the durable state it starts from.

#pragma once

#include <optional>
#include <vector>

#include "spate/common/types.h"
#include "spate/raft/config.h"
#include "spate/raft/messages.h"

namespace spate::raft {

struct HardState {
  Term term{0};
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

// The log restarts empty after `index`: the leader no longer has the entries
// this node lacks. Everything up to `index` is committed; the driver keeps
// `term`, `membership` and `snapshot` as its log's start (LogView), and a
// state machine installs `snapshot` as its state at `index`.
struct LogRestart {
  Index index = 0;
  Term term{0};
  Membership membership;
  std::vector<std::byte> snapshot;
};

// What the driver must do, in order: persist `hard_state` (if set), restart
// the log (if set), truncate the log from `truncate_from` (if set), append
// `entries`, and only then send `messages`; then call advance(). Committed
// entries up to `commit` may be applied once this Ready's entries are in the
// log. A crash may stop the driver between any two of these steps:
// `hard_state.commit` never covers an entry this Ready replaces or has not
// yet made durable: it lags `commit` until the log holds the entry, and then
// has_ready() asks for one more Ready to persist it (even on an idle node),
// so the durable commit always names entries of the durable log that are
// committed and catches up with `commit` once the log does.
struct Ready {
  std::optional<HardState> hard_state;
  std::optional<LogRestart> restart;
  std::optional<Index> truncate_from;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  Index commit = 0;
  [[nodiscard]] bool empty() const {
    return !hard_state && !restart && !truncate_from && entries.empty() && messages.empty();
  }
};

}  // namespace spate::raft
