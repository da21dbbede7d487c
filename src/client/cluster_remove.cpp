// SPDX-License-Identifier: Apache-2.0
//
// `spate cluster remove` (commands.h): Kafka's UnregisterBroker, sent to any
// broker of the cluster, which commits it through the controller.

#include <fmt/format.h>

#include "spate/client/client.h"
#include "spate/client/commands.h"
#include "spate/protocol/messages/unregister_broker.h"

#include "common.h"
#include "json.h"

namespace spate::client {

int cluster_remove(const CommonOptions& c, std::int32_t id, Io io) {
  auto client = connect_or_report(c, io);
  if (!client) return 1;
  protocol::UnregisterBrokerRequest request;
  request.broker_id = id;
  auto r = (*client)->call<protocol::UnregisterBrokerResponse>(protocol::ApiKey::unregister_broker,
                                                               request);
  if (!r) return fail(io, fmt::format("cannot remove broker {}: {}", id, r.error().detail()));
  if (r->error_code != 0) {
    return fail(io, fmt::format("cannot remove broker {}: {}{}", id, error_name(r->error_code),
                                r->error_message ? ": " + *r->error_message : ""));
  }
  if (c.format == Format::json) {
    print_json(io.out, Json{{"broker", id}, {"removed", true}});
  } else {
    io.out << fmt::format(
        "broker {} removed from the cluster: stop it now (a restart joins it "
        "again as a new broker)\n",
        id);
  }
  return 0;
}

}  // namespace spate::client
