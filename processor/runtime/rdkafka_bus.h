// The bus over librdkafka (bus.h): the consumer group member, the idempotent producer and the
// partition reader of `run`. `kafka.*` settings pass through to librdkafka; `consumer.X` and
// `producer.X` scope one to one client, and the clients' own properties go to them only.
// Thread-safety: as bus.h; librdkafka logs from its own threads to the "kafka" logger.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <vector>

#include "processor/runtime/bus.h"

namespace kpi::runtime {

// Creates the clients and subscribes the source to `topics`; `scaled`: the two readers of a
// scaled-out deployment too. Errors name the setting or client.
std::expected<Bus, std::string> OpenRdKafkaBus(const std::map<std::string, std::string>& kafka,
                                               const std::vector<std::string>& topics,
                                               bool scaled = false);

}  // namespace kpi::runtime
