// output.published_topic (KPIS-3.md section 3): the published form of the table on a topic of its
// own, keyed as the output topic. Suppression reads a whole (kpi, week) group, so when any row of a
// group changes, every row of the group is published again: the topic's last value per key is
// then always the published table, a row going from published to suppressed and back included,
// and a row that left the table is a tombstone. One instance stages these messages in the commit's
// outbox (so a kill -9 redelivers them); scaled out, the emitter produces them with its rows.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "processor/runtime/config.h"
#include "processor/runtime/outbox.h"
#include "sinks/kpi_view.h"

namespace kpi::runtime {

// The rows of the group (kpi, week) as the table held them before `changed`.
using GroupRows = std::function<std::vector<Row>(Kpi kpi, Date week)>;

// The groups of `view` (the committed global table) as they are now.
GroupRows GroupsOf(const sinks::KpiView& view);

// The published topic's messages for the groups `changed` touches: each group's rows, `changed`
// over `before`, in their published form (publish.small_count); none when the topic is off.
std::vector<OutMessage> PublishedMessages(const Config& config, const std::vector<Row>& changed,
                                          const GroupRows& before, const std::string& as_of,
                                          int64_t emitted_unix_ms);

}  // namespace kpi::runtime
