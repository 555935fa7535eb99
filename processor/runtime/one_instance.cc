#include "processor/runtime/one_instance.h"

#include <spdlog/spdlog.h>

#include "processor/row_formats.h"
#include "processor/runtime/published_topic.h"
#include "processor/runtime/scaled_out.h"

namespace kpi::runtime {

void OneInstance::Assign(std::vector<std::pair<TopicPartition, int64_t>>& parts, Date today) {
  // A partial assignment: another member is in the group. Its rows would be sums over some of
  // the tasks, and a row published so stays the output's last value until its cells change
  // again (seen on a real broker: a killed instance's member, whose session had not yet expired,
  // was given half the partitions of its successor). Process nothing until a rebalance gives
  // this instance every partition; the eager protocol hands over whole assignments.
  partial_assignment_ = parts.size() < input_partitions_;
  if (partial_assignment_) {
    std::vector<TopicPartition> paused;
    for (const auto& [tp, offset] : parts) paused.push_back(tp);
    parts_.bus.source->Pause(paused);
    parts_.log.warn(
        "given {} of the {} input partitions: another member is in the group (an instance "
        "stopped less than session.timeout.ms ago, or a second one without scale.enabled); "
        "without scale.enabled one instance must own them all, so nothing is processed until "
        "a rebalance gives it every partition",
        parts.size(), input_partitions_);
    return;
  }
  // The hot-state budget is shared by the tasks owned after this assignment.
  std::set<int32_t> owned = parts_.tasks.owned();
  for (const auto& [tp, offset] : parts) owned.insert(tp.partition);
  parts_.tasks.Budget(owned);
  for (auto& [tp, offset] : parts) {
    if (auto engine = parts_.tasks.Get(tp.partition, today); !engine) {
      parts_.failure.Fail(kExitState, "state of " + engine.error());
      return;
    }
    const std::expected<int64_t, Failure> stored = parts_.positions.Stored(tp);
    if (!stored) {
      parts_.failure.Fail(stored.error());
      return;
    }
    offset = *stored;
    parts_.positions.Serve(tp, offset);
    parts_.log.info("assigned {} [{}] from offset {}", tp.topic, tp.partition, offset);
  }
  // Restored: the committed table of the tasks now owned is what /kpi and the gauges show.
  auto table = parts_.tasks.Table();
  if (!table) {
    parts_.failure.Fail(kExitState, table.error());
    return;
  }
  parts_.probe.Assigned(std::move(*table), today);
}

std::expected<std::vector<Row>, Failure> OneInstance::Stage(Date today, state::WriteBatch& batch,
                                                            std::vector<OutMessage>& outbox) {
  // Derived state, and the global rows of the cells that changed: the output.
  auto totals = parts_.tasks.ChangedTotals();
  if (!totals) return std::unexpected(Failure{kExitState, totals.error()});
  const std::string as_of = today.ToString();
  const int64_t emitted = parts_.clock.UnixMs();
  for (const Row& total : *totals) {
    outbox.push_back(RowMessage(parts_.config, total, as_of, emitted));
  }
  // The published topic: the groups these rows touch, over the committed table (the probe's
  // view: it is updated after this commit is delivered).
  for (OutMessage& m :
       PublishedMessages(parts_.config, *totals, GroupsOf(parts_.probe.view()), as_of, emitted)) {
    outbox.push_back(std::move(m));
  }
  state::WriteBatch ops = parts_.tasks.TakeBatch();
  if (batch.empty()) {
    batch = std::move(ops);
  } else {
    std::move(ops.begin(), ops.end(), std::back_inserter(batch));
  }
  parts_.positions.Stage(batch);
  return std::move(*totals);
}

OutMessage RowMessage(const Config& config, const Row& row, const std::string& as_of,
                      int64_t emitted_unix_ms) {
  OutMessage message{config.output_topic, RowKeyIn(row, config.output_key_format), {}, {}};
  if (config.output_tombstones && row.count == 0 && row.base == 0) {
    message.tombstone = true;
  } else {
    message.value = RowValue(row, config.output_format, as_of, emitted_unix_ms);
  }
  return message;
}

std::expected<std::unique_ptr<Topology>, Failure> MakeTopology(const RuntimeParts& parts) {
  if (parts.config.scale.enabled) return ScaledOut::Create(parts);
  return std::make_unique<OneInstance>(parts);
}

}  // namespace kpi::runtime
