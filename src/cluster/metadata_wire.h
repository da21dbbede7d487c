// SPDX-License-Identifier: Apache-2.0
//
// The primitives the metadata command and snapshot codecs share
// (metadata_codec.h describes the layout). The reader keeps the first error
// and from then on returns empty values, so a decoder reads its fields in a
// row and checks once; a count is checked against the limit and the bytes
// left before anything is allocated.

#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spate/cluster/metadata.h"
#include "spate/common/bytes.h"

namespace spate::cluster::wire {

class Writer {
 public:
  template <typename T>
  void num(T v) {
    w_.write<T>(v);
  }
  void str(std::string_view s);
  void opt_str(const std::optional<std::string>& s);
  void ids(const std::vector<NodeId>& ids);
  void assignment(const ReplicaAssignment& a);
  void configs(const ConfigMap& configs);
  void host_port(const HostPort& hp);
  [[nodiscard]] std::vector<std::byte> release() { return w_.release(); }

 private:
  ByteWriter w_;
};

class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const MetadataLimits& limits, std::string_view what)
      : r_(bytes), limits_(limits), what_(what) {}

  template <typename T>
  T num(std::string_view field) {
    if (error_) return T{};
    auto v = r_.read<T>();
    if (!v) {
      fail(fmt::format("{} truncated", field));
      return T{};
    }
    return *v;
  }
  // A count of items each at least `min_bytes` long, at most `max`.
  std::size_t count(std::size_t max, std::size_t min_bytes, std::string_view field);
  std::string str(std::size_t max, std::string_view field);
  std::optional<std::string> opt_str(std::size_t max, std::string_view field);
  std::vector<NodeId> ids(std::size_t max, std::string_view field);
  ReplicaAssignment assignment(std::string_view field);
  ConfigMap configs(std::string_view field);
  HostPort host_port(std::string_view field);

  void fail(std::string why);
  [[nodiscard]] bool ok() const { return !error_.has_value(); }
  [[nodiscard]] const MetadataLimits& limits() const { return limits_; }
  // The first error, or one for bytes left over.
  [[nodiscard]] Status finish();

 private:
  ByteReader r_;
  const MetadataLimits& limits_;
  std::string_view what_;
  std::optional<Error> error_;
};

}  // namespace spate::cluster::wire
