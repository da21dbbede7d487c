// SPDX-License-Identifier: Apache-2.0

#include "spate/raft/messages.h"

#include <fmt/format.h>

#include "spate/raft/replica.h"

namespace spate::raft {

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::pre_vote:
      return "PreVote";
    case MessageType::pre_vote_reply:
      return "PreVoteReply";
    case MessageType::vote:
      return "Vote";
    case MessageType::vote_reply:
      return "VoteReply";
    case MessageType::append:
      return "Append";
    case MessageType::append_reply:
      return "AppendReply";
    case MessageType::heartbeat:
      return "Heartbeat";
    case MessageType::heartbeat_reply:
      return "HeartbeatReply";
    case MessageType::timeout_now:
      return "TimeoutNow";
    case MessageType::restart:
      return "Restart";
  }
  return "?";
}

const char* role_name(Role role) {
  switch (role) {
    case Role::follower:
      return "follower";
    case Role::pre_candidate:
      return "pre-candidate";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
  }
  return "?";
}

std::string Message::describe() const {
  std::string text =
      fmt::format("{} {}->{} term={} idx={} logterm={} commit={}", message_type_name(type), from,
                  to, term, log_index, log_term, commit);
  if (!entries.empty()) {
    text += fmt::format(" entries=[{}..{}]", entries.front().index, entries.back().index);
  }
  if (reject) text += fmt::format(" REJECT hint={}", hint);
  if (force) text += " force";
  for (const auto& s : start) {
    text += fmt::format(" {} snapshot={}B", s.membership.describe(), s.snapshot.size());
  }
  return text;
}

}  // namespace spate::raft
