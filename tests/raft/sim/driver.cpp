// SPDX-License-Identifier: Apache-2.0

#include "sim/driver.h"

namespace spate::raft::sim {

void Node::start(const Config& config) {
  replica = std::make_unique<Replica>(config, log, *rng, state);
}

namespace {

// Makes one Ready durable; false if the node crashed or refused part way.
bool persist(Node& n, Ready& ready, ReadyHooks& hooks) {
  const std::uint64_t tear = hooks.tear_point(n, ready);
  auto torn = [&](std::uint64_t step) {
    if (tear != step) return false;
    hooks.crashed(n, step);
    return true;
  };
  if (ready.hard_state) {
    hooks.persisting(n, *ready.hard_state);
    n.state = *ready.hard_state;
  }
  if (torn(0)) return false;
  if (ready.restart) {
    const auto hash = hooks.restarting(n, *ready.restart);
    if (!hash) return false;
    n.log.restart(*ready.restart, *hash);
  }
  if (torn(1)) return false;
  if (ready.truncate_from) {
    hooks.truncating(n, *ready.truncate_from);
    n.log.truncate_from(*ready.truncate_from);
  }
  if (torn(2)) return false;
  if (tear >= 3 && tear < 3 + ready.entries.size()) {
    // Only the first entries reached the disk.
    ready.entries.resize(tear - 3);
    hooks.append(n, ready.entries);
    torn(tear);
    return false;
  }
  hooks.append(n, ready.entries);
  return true;
}

}  // namespace

int drain(Node& n, ReadyHooks& hooks, int max_rounds) {
  int rounds = 0;
  for (; rounds < max_rounds && n.replica && n.replica->has_ready(); ++rounds) {
    Ready ready = n.replica->ready();
    if (!persist(n, ready, hooks)) return -1;
    hooks.apply(n, ready.commit);
    hooks.send(n, ready.messages);
    n.replica->advance(ready);
  }
  return rounds;
}

}  // namespace spate::raft::sim
