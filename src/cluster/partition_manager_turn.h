// SPDX-License-Identifier: Apache-2.0
//
// PartitionManager::Turn, shared by the files that run topic operations.

#pragma once

#include <utility>

#include "spate/cluster/partition_manager.h"

namespace spate::cluster {

// One admin operation's turn; ends it when destroyed.
class PartitionManager::Turn {
 public:
  explicit Turn(PartitionManager* m) : m_(m) {}
  Turn(Turn&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Turn& operator=(Turn&&) = delete;
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
  ~Turn() {
    if (m_ != nullptr) m_->end_turn();
  }

 private:
  PartitionManager* m_;
};

}  // namespace spate::cluster
