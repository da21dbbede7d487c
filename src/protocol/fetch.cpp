// SPDX-License-Identifier: Apache-2.0
//
// The Fetch response with records from elsewhere: the codec's Encoder, with
// the RECORDS field of each partition taken from a region where there is one.

#include "spate/protocol/messages/fetch.h"

namespace spate::protocol {
namespace {

class RegionEncoder : public Encoder {
 public:
  RegionEncoder(ByteWriter& out, const FetchRecordRegions& regions)
      : Encoder(out), out_(out), regions_(regions) {}

  void records(const std::optional<std::vector<std::byte>>& v, std::string_view field) {
    const std::size_t k = next_++;
    if (const auto size = regions_.size(k)) {
      out_.write<std::int32_t>(*size);
      regions_.splice(k);
      return;
    }
    nullable_bytes(v, false, field);
  }

 private:
  ByteWriter& out_;
  const FetchRecordRegions& regions_;
  std::size_t next_ = 0;
};

}  // namespace

void encode_fetch_response(ByteWriter& out, const FetchResponse& response, std::int16_t version,
                           const FetchRecordRegions& regions) {
  RegionEncoder encoder(out, regions);
  fields(encoder, const_cast<FetchResponse&>(response), version);  // NOLINT: Encoder only reads
}

}  // namespace spate::protocol
