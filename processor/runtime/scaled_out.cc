#include "processor/runtime/scaled_out.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "processor/keys.h"
#include "processor/row_formats.h"
#include "processor/runtime/published_topic.h"
#include "processor/values.h"

namespace kpi::runtime {
namespace {

constexpr size_t kLogPartBytes = 256 << 10;  // changelog record parts
constexpr size_t kCellsPerRecord = 4000;     // cells-topic records
constexpr int kGlobalReadsPerTurn = 2000;    // cells records read per poll-loop turn
constexpr const char* kEmitterHeader = "kpi-emitter";

std::string TaskKey(int32_t task) { return "task-" + std::to_string(task); }

}  // namespace

std::expected<std::unique_ptr<Topology>, Failure> ScaledOut::Create(const RuntimeParts& parts) {
  if (parts.bus.restore_reader == nullptr || parts.bus.global_reader == nullptr) {
    return std::unexpected(Failure{kExitConfig, "scale.enabled: the bus lacks its readers"});
  }
  std::string instance_id = parts.config.scale.instance_id;
  if (instance_id.empty()) {
    char host[256] = {};
    instance_id = ::gethostname(host, sizeof host - 1) == 0 ? host : "kpi-processor";
  }
  return std::unique_ptr<Topology>(new ScaledOut(parts, std::move(instance_id)));
}

ScaledOut::ScaledOut(const RuntimeParts& parts, std::string instance_id)
    : parts_(parts), instance_id_(std::move(instance_id)) {
  parts_.publisher.SetChangelog(parts_.config.scale.changelog_topic);
  parts_.probe.SetKpiGauges(false);  // until this instance emits
}

std::vector<std::string> ScaledOut::Topics() const {
  return {parts_.config.scale.changelog_topic, parts_.config.scale.cells_topic};
}

std::expected<void, Failure> ScaledOut::Start(size_t /*input_partitions*/) {
  const Config& config = parts_.config;
  std::vector<std::string> topics = config.input_topics;
  topics.push_back(config.scale.changelog_topic);
  topics.push_back(config.scale.cells_topic);
  std::string first;
  for (const std::string& topic : topics) {
    auto n = parts_.bus.reader->PartitionCount(topic, 10000);
    if (!n) return std::unexpected(Failure{kExitKafka, n.error()});
    if (task_count_ == 0) {
      task_count_ = *n;
      first = topic;
    } else if (*n != task_count_) {
      return std::unexpected(Failure{
          kExitConfig, "scale: topic " + topic + " has " + std::to_string(*n) + " partitions but " +
                           first + " has " + std::to_string(task_count_) +
                           "; the input topics, scale.changelog_topic and scale.cells_topic need "
                           "the same partition count (one partition per task)"});
    }
  }
  // Every instance reads the whole cells topic from its beginning.
  std::vector<std::pair<TopicPartition, int64_t>> cells;
  for (int32_t p = 0; p < task_count_; ++p) {
    cells.emplace_back(TopicPartition{config.scale.cells_topic, p}, kOffsetBeginning);
    global_positions_[{config.scale.cells_topic, p}] = 0;
  }
  if (auto a = parts_.bus.global_reader->Assign(cells); !a) {
    return std::unexpected(Failure{kExitKafka, a.error()});
  }
  return {};
}

void ScaledOut::Assign(std::vector<std::pair<TopicPartition, int64_t>>& parts, Date today) {
  std::vector<TopicPartition> paused;
  for (auto& [tp, offset] : parts) {
    OwnedTask& owned = owned_[tp.partition];
    owned.partitions.push_back(tp);
    if (owned.ready() && owned.epoch == 0) {
      owned.restore = std::make_unique<TaskRestore>(
          TopicPartition{parts_.config.scale.changelog_topic, tp.partition});
    }
    // Fetched only once the task is restored (Serve seeks to the restored offsets).
    paused.push_back(tp);
    parts_.positions.Serve(tp, -1);
  }
  parts_.bus.source->Pause(paused);
  parts_.log.info("assigned {} partition(s) of {} task(s): restoring", parts.size(), owned_.size());
  if (owned_.empty()) {
    // More instances than tasks: this one serves /kpi from the global table only.
    parts_.probe.Assigned(global_.Table(), global_.as_of().value_or(today));
  } else {
    parts_.probe.Revoked();  // not ready until restored
  }
}

void ScaledOut::Revoke(const std::set<int32_t>& tasks) {
  for (const int32_t task : tasks) {
    owned_.erase(task);
    if (task == 0 && emitter_ != Emitter::kNo) {
      emitter_ = Emitter::kNo;
      parts_.probe.SetKpiGauges(false);
    }
  }
}

bool ScaledOut::Accepts(const InRecord& record) const {
  // A task being restored: its partitions are paused, and a record fetched before the pause is
  // read again from the restored offset.
  const auto owned = owned_.find(record.partition);
  if (owned == owned_.end() || !owned->second.ready()) return false;
  // A record fetched before the seek to the restored offset (librdkafka drops those itself;
  // this does not depend on it).
  const int64_t expected =
      parts_.positions.Expected(TopicPartition{std::string(record.topic), record.partition});
  return expected < 0 || record.offset >= expected;
}

void ScaledOut::Step(Date today) {
  today_ = today;
  StepRestores();
  ReadGlobal();
}

std::expected<std::vector<Delivered>, Failure> ScaledOut::ProduceNow(
    const std::vector<OutMessage>& records) {
  for (const OutMessage& m : records) {
    if (auto p = parts_.bus.producer->Produce(m, m.partition); !p) {
      return std::unexpected(Failure{kExitKafka, p.error()});
    }
  }
  auto delivered = parts_.bus.producer->Flush(parts_.config.delivery_timeout_ms);
  if (!delivered) return std::unexpected(Failure{kExitKafka, delivered.error()});
  return std::move(*delivered);
}

OutMessage ScaledOut::LogMessage(int32_t task, const LogRecord& record) const {
  return {
      parts_.config.scale.changelog_topic, TaskKey(task), EncodeLogRecord(record), {}, task, task};
}

OutMessage ScaledOut::CellsMessage(int32_t task, const CellsRecord& record) const {
  return {
      parts_.config.scale.cells_topic, TaskKey(task), EncodeCellsRecord(record), {}, task, task};
}

void ScaledOut::StepRestores() {
  const auto it =
      std::find_if(owned_.begin(), owned_.end(), [](const auto& o) { return !o.second.ready(); });
  if (it == owned_.end() || failed()) return;
  const int32_t task = it->first;
  OwnedTask& owned = it->second;
  auto phase = owned.restore->Step(*parts_.bus.restore_reader, parts_.store,
                                   parts_.config.scale.restore_batch);
  if (!phase) {
    Fail(phase.error().exit_code,
         "restoring task " + std::to_string(task) + ": " + phase.error().message);
    return;
  }
  switch (*phase) {
    case TaskRestore::Phase::kClaim: {
      owned.epoch = owned.restore->max_epoch() + 1;
      LogRecord claim;
      claim.type = LogRecord::Type::kClaim;
      claim.epoch = owned.epoch;
      claim.owner = instance_id_;
      auto delivered = ProduceNow({LogMessage(task, claim)});
      if (!delivered) {
        Fail(delivered.error());
        return;
      }
      owned.restore->Claimed(owned.epoch, delivered->front().offset);
      if (auto s = parts_.publisher.fence().SetLastOffset(task, delivered->front().offset); !s) {
        Fail(s.error());
      }
      return;
    }
    case TaskRestore::Phase::kDone:
      Serve(task, owned);
      return;
    case TaskRestore::Phase::kLost:
      ++fencings_;
      Fail(kExitFenced, "task " + std::to_string(task) +
                            ": another instance claimed it first; exiting to rejoin the group");
      return;
    default:
      return;
  }
}

void ScaledOut::WriteSnapshot(int32_t task, OwnedTask& owned, bool first) {
  // The changelog: the task's whole key range, as our epoch's first commit or its next one.
  const uint64_t seq = first ? 0 : owned.seq + 1;
  auto records = TaskSnapshot(parts_.store, task, owned.epoch, seq, kLogPartBytes);
  if (!records) {
    Fail(kExitState, records.error());
    return;
  }
  std::vector<OutMessage> messages;
  for (const LogRecord& r : *records) {
    messages.push_back(LogMessage(task, r));
  }
  auto delivered = ProduceNow(messages);
  if (!delivered) {
    Fail(delivered.error());
    return;
  }
  auto fenced = parts_.publisher.fence().Check(task, owned.epoch, *delivered);
  if (!fenced) {
    Fail(fenced.error());
    return;
  }
  if (*fenced) {
    ++fencings_;
    Fail(kExitFenced, "task " + std::to_string(task) +
                          " was claimed by another instance; nothing more is published for it");
    return;
  }
  owned.seq = seq;
  owned.log_bytes = 0;
  state::WriteBatch position = {{LogPositionKey(task), EncodeLogPosition(owned.epoch, seq)}};
  if (auto w = parts_.store.Write(position); !w) {
    Fail(kExitState, "task position: " + w.error().message);
    return;
  }
  if (auto s = parts_.publisher.fence().SetLastOffset(task, delivered->back().offset); !s) {
    Fail(s.error());
    return;
  }
  // The cells: the task's whole set, which replaces what the cells topic held for it.
  Engine* engine = parts_.tasks.Find(task);
  if (engine == nullptr) return;
  auto table = engine->Table();
  if (!table) {
    Fail(kExitState, "task " + std::to_string(task) + ": " + table.error().message);
    return;
  }
  std::vector<OutMessage> cells;
  for (const CellsRecord& r :
       CellsSnapshot(owned.epoch, engine->as_of(), *table, kCellsPerRecord)) {
    cells.push_back(CellsMessage(task, r));
  }
  if (auto d = ProduceNow(cells); !d) Fail(d.error());
}

void ScaledOut::Serve(int32_t task, OwnedTask& owned) {
  const TaskRestore::Source source = owned.restore->source();
  owned.restore.reset();
  std::set<int32_t> tasks;
  for (const auto& [t, o] : owned_) tasks.insert(t);
  parts_.tasks.Budget(tasks);
  if (auto engine = parts_.tasks.Get(task, today_); !engine) {
    Fail(kExitState, "state of " + engine.error());
    return;
  }
  WriteSnapshot(task, owned, true);
  if (failed()) return;
  std::vector<std::pair<TopicPartition, int64_t>> resume;
  for (const TopicPartition& tp : owned.partitions) {
    const std::expected<int64_t, Failure> stored = parts_.positions.Stored(tp);
    if (!stored) {
      Fail(stored.error());
      return;
    }
    parts_.positions.Serve(tp, *stored);
    resume.emplace_back(tp, *stored);
  }
  if (auto r = parts_.bus.source->Resume(resume); !r) {
    Fail(kExitKafka, r.error());
    return;
  }
  uint64_t* counts[] = {nullptr, &restored_local_, &restored_changelog_, &rebuilt_};
  if (uint64_t* count = counts[static_cast<int>(source)]) ++*count;
  static constexpr const char* kSources[] = {"none", "local state", "changelog", "input (rebuild)"};
  parts_.log.info("task {} restored from its {}; serving as epoch {}", task,
                  kSources[static_cast<int>(source)], owned.epoch);
  if (task == 0) CatchUp(owned.epoch);
  if (std::all_of(owned_.begin(), owned_.end(), [](const auto& o) { return o.second.ready(); })) {
    parts_.probe.Assigned(global_.Table(), global_.as_of().value_or(today_));
  }
}

void ScaledOut::CatchUp(uint64_t epoch) {
  emitter_ = Emitter::kCatchingUp;
  emitter_id_ = instance_id_ + "/" + std::to_string(epoch);
  catch_up_to_.clear();
  for (int32_t p = 0; p < task_count_; ++p) {
    const TopicPartition tp{parts_.config.scale.cells_topic, p};
    auto marks = parts_.bus.reader->Watermarks(tp, 10000);
    if (!marks) {
      Fail(kExitKafka, marks.error());
      return;
    }
    catch_up_to_[tp] = marks->second;
  }
}

std::expected<void, std::string> ScaledOut::StageTask(int32_t task, OwnedTask& owned,
                                                      state::WriteBatch& batch,
                                                      std::vector<OutMessage>& outbox) {
  Engine* engine = parts_.tasks.Find(task);
  if (engine == nullptr || !owned.ready()) return {};
  auto rows = engine->PrepareCommit();
  if (!rows) return std::unexpected("task " + std::to_string(task) + ": " + rows.error().message);
  state::WriteBatch ops = engine->TakeBatch();
  parts_.positions.Stage(ops, task);
  std::erase_if(*rows, [&](const Row& r) { return r.week > engine->as_of().WeekStart(); });
  if (ops.empty() && rows->empty()) return {};
  ++owned.seq;
  for (const LogRecord& r : CommitRecords(owned.epoch, owned.seq, false, ops, kLogPartBytes)) {
    OutMessage m = LogMessage(task, r);
    owned.log_bytes += m.value.size();
    outbox.push_back(std::move(m));
  }
  std::move(ops.begin(), ops.end(), std::back_inserter(batch));
  batch.push_back({LogPositionKey(task), EncodeLogPosition(owned.epoch, owned.seq)});
  for (size_t from = 0; from < rows->size(); from += kCellsPerRecord) {
    CellsRecord cells;
    cells.epoch = owned.epoch;
    cells.as_of = engine->as_of();
    const size_t to = std::min(rows->size(), from + kCellsPerRecord);
    cells.rows.assign(rows->begin() + static_cast<long>(from),
                      rows->begin() + static_cast<long>(to));
    outbox.push_back(CellsMessage(task, cells));
  }
  return {};
}

std::expected<std::vector<Row>, Failure> ScaledOut::Stage(Date /*today*/, state::WriteBatch& batch,
                                                          std::vector<OutMessage>& outbox) {
  for (auto& [task, owned] : owned_) {
    if (auto staged = StageTask(task, owned, batch, outbox); !staged) {
      return std::unexpected(Failure{kExitState, staged.error()});
    }
  }
  return std::vector<Row>{};  // the global rows come back through the cells topic
}

void ScaledOut::Committed(const std::set<int32_t>& fenced) {
  if (!fenced.empty()) {
    fencings_ += fenced.size();
    Fail(kExitFenced, "task " + std::to_string(*fenced.begin()) +
                          " was claimed by another instance (this one was paused or cut off past "
                          "the session timeout); nothing more is published for it");
    return;
  }
  // Snapshots bound the restores: a task whose changelog grew past scale.snapshot_mb since its
  // last one writes a new one.
  for (auto& [task, owned] : owned_) {
    if (owned.ready() &&
        owned.log_bytes > (static_cast<uint64_t>(parts_.config.scale.snapshot_mb) << 20)) {
      WriteSnapshot(task, owned, false);
      if (failed()) return;
    }
  }
}

void ScaledOut::ReadGlobal() {
  const Config& config = parts_.config;
  for (int n = 0; n < kGlobalReadsPerTurn && !failed(); ++n) {
    auto r = parts_.bus.global_reader->Poll(0);
    if (!r) {
      Fail(kExitKafka, r.error());
      return;
    }
    if (!*r) break;
    const InRecord& rec = **r;
    if (rec.topic == config.scale.cells_topic) {
      global_.Add(rec.partition, DecodeCellsRecord(rec.value));
      global_positions_[{std::string(rec.topic), rec.partition}] = rec.offset + 1;
    } else if ((rec.topic == config.output_topic ||
                (!config.published_topic.empty() && rec.topic == config.published_topic)) &&
               rec.Header(kEmitterHeader) != emitter_id_) {
      // Another instance (an emitter before us, still running) wrote a row or its published
      // form: ours win again (the row and its group are published again).
      if (std::optional<std::string> key = StringKeyOf(rec.key, config.output_key_format)) {
        global_.Touch(*key);
      }
    }
  }
  std::vector<Row> changed = global_.TakeChanged();
  if (!changed.empty()) parts_.probe.TableChanged(changed, global_.as_of().value_or(today_));
  if (emitter_ == Emitter::kCatchingUp) {
    for (const auto& [tp, end] : catch_up_to_) {
      if (global_positions_[tp] < end) return;
    }
    StartEmitting();
  } else if (emitter_ == Emitter::kYes && !changed.empty()) {
    Emit(changed);
  }
}

void ScaledOut::StartEmitting() {
  // Read our own output (and published) topic from here on, then publish every row.
  std::vector<std::pair<TopicPartition, int64_t>> assign;
  for (const auto& [tp, position] : global_positions_) {
    if (tp.topic == parts_.config.scale.cells_topic) assign.emplace_back(tp, position);
  }
  std::vector<std::string> topics = {parts_.config.output_topic};
  if (!parts_.config.published_topic.empty()) topics.push_back(parts_.config.published_topic);
  for (const std::string& topic : topics) {
    auto outputs = parts_.bus.reader->PartitionCount(topic, 10000);
    if (!outputs) {
      Fail(kExitKafka, outputs.error());
      return;
    }
    // From the ends as they are now (not "the end" when the fetch starts, which could pass over
    // a row an earlier emitter writes meanwhile).
    for (int32_t p = 0; p < *outputs; ++p) {
      const TopicPartition tp{topic, p};
      auto marks = parts_.bus.reader->Watermarks(tp, 10000);
      if (!marks) {
        Fail(kExitKafka, marks.error());
        return;
      }
      assign.emplace_back(tp, marks->second);
    }
  }
  if (auto a = parts_.bus.global_reader->Assign(assign); !a) {
    Fail(kExitKafka, a.error());
    return;
  }
  emitter_ = Emitter::kYes;
  parts_.probe.SetKpiGauges(true);
  parts_.log.info("emitting the global rows ({} rows)", global_.rows());
  Emit(global_.All());
}

void ScaledOut::Emit(const std::vector<Row>& rows) {
  const std::string as_of = global_.as_of().value_or(today_).ToString();
  const int64_t emitted = parts_.clock.UnixMs();
  std::vector<OutMessage> messages;
  messages.reserve(rows.size());
  for (const Row& row : rows) {
    OutMessage m = RowMessage(parts_.config, row, as_of, emitted);
    m.headers.emplace_back(kEmitterHeader, emitter_id_);
    messages.push_back(std::move(m));
  }
  // The published topic: the view already holds these rows (ReadGlobal), so the groups are read
  // from it as they are now.
  for (OutMessage& m :
       PublishedMessages(parts_.config, rows, GroupsOf(parts_.probe.view()), as_of, emitted)) {
    m.headers.emplace_back(kEmitterHeader, emitter_id_);
    messages.push_back(std::move(m));
  }
  if (auto d = ProduceNow(messages); !d) Fail(d.error());
}

std::optional<sinks::ScaleStatus> ScaledOut::Report() const {
  sinks::ScaleStatus s;
  for (const auto& [task, owned] : owned_) {
    if (owned.ready()) {
      ++s.tasks_owned;
    } else {
      ++s.tasks_restoring;
      s.restore_records_remaining +=
          std::max<int64_t>(0, owned.restore->records_total() - owned.restore->records_read());
    }
  }
  s.restored_local = restored_local_;
  s.restored_changelog = restored_changelog_;
  s.rebuilt = rebuilt_;
  s.fencings = fencings_;
  s.emitter = emitter_ == Emitter::kYes;
  s.global_rows = global_.rows();
  if (emitter_ == Emitter::kCatchingUp) {
    for (const auto& [tp, end] : catch_up_to_) {
      const auto read = global_positions_.find(tp);
      s.cells_lag +=
          std::max<int64_t>(0, end - (read != global_positions_.end() ? read->second : 0));
    }
  }
  return s;
}

}  // namespace kpi::runtime
