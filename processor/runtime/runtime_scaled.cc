// Runtime, scaled out (scale.enabled): tasks restored from and written to the changelog, cells
// published per task, the global table read by every instance and emitted by one. See
// docs/DESIGN.md, "Scale-out", for why the result stays exact.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "processor/keys.h"
#include "processor/output.h"
#include "processor/runtime/runtime.h"
#include "processor/values.h"

namespace kpi::runtime {
namespace {

constexpr size_t kLogPartBytes = 256 << 10;  // changelog record parts
constexpr size_t kCellsPerRecord = 4000;     // cells-topic records
constexpr int kGlobalReadsPerTurn = 2000;    // cells records read per poll-loop turn
constexpr const char* kEmitterHeader = "kpi-emitter";

std::string TaskKey(int32_t task) { return "task-" + std::to_string(task); }

}  // namespace

std::expected<void, Failure> Runtime::CheckScaledTopics() {
  std::vector<std::string> topics = config_.input_topics;
  topics.push_back(config_.scale.changelog_topic);
  topics.push_back(config_.scale.cells_topic);
  std::string first;
  for (const std::string& topic : topics) {
    auto n = bus_.reader->PartitionCount(topic, 10000);
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
    cells.emplace_back(TopicPartition{config_.scale.cells_topic, p}, kOffsetBeginning);
    global_positions_[{config_.scale.cells_topic, p}] = 0;
  }
  if (auto a = bus_.global_reader->Assign(cells); !a) {
    return std::unexpected(Failure{kExitKafka, a.error()});
  }
  return {};
}

void Runtime::ScaledAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts) {
  std::vector<TopicPartition> paused;
  for (auto& [tp, offset] : parts) {
    OwnedTask& owned = owned_[tp.partition];
    owned.partitions.push_back(tp);
    if (owned.ready() && owned.epoch == 0) {
      owned.restore = std::make_unique<TaskRestore>(
          TopicPartition{config_.scale.changelog_topic, tp.partition});
    }
    // Fetched only once the task is restored (Serve seeks to the restored offsets).
    paused.push_back(tp);
    positions_[tp] = -1;
  }
  bus_.source->Pause(paused);
  log_->info("assigned {} partition(s) of {} task(s): restoring", parts.size(), owned_.size());
  if (owned_.empty()) {
    // More instances than tasks: this one serves /kpi from the global table only.
    probe_.Assigned(global_.Table(), global_.as_of().value_or(today_));
  } else {
    probe_.Revoked();  // not ready until restored
  }
}

std::expected<std::vector<Delivered>, Failure> Runtime::ProduceNow(
    const std::vector<OutMessage>& records) {
  for (const OutMessage& m : records) {
    if (auto p = bus_.producer->Produce(m, m.partition); !p) {
      return std::unexpected(Failure{kExitKafka, p.error()});
    }
  }
  auto delivered = bus_.producer->Flush(config_.delivery_timeout_ms);
  if (!delivered) return std::unexpected(Failure{kExitKafka, delivered.error()});
  return std::move(*delivered);
}

OutMessage Runtime::LogMessage(int32_t task, const LogRecord& record) const {
  return {config_.scale.changelog_topic, TaskKey(task), EncodeLogRecord(record), {}, task, task};
}

OutMessage Runtime::CellsMessage(int32_t task, const CellsRecord& record) const {
  return {config_.scale.cells_topic, TaskKey(task), EncodeCellsRecord(record), {}, task, task};
}

void Runtime::StepRestores() {
  const auto it =
      std::find_if(owned_.begin(), owned_.end(), [](const auto& o) { return !o.second.ready(); });
  if (it == owned_.end() || failure_) return;
  const int32_t task = it->first;
  OwnedTask& owned = it->second;
  auto phase = owned.restore->Step(*bus_.restore_reader, *store_, config_.scale.restore_batch);
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
      claim.owner = config_.scale.instance_id;
      auto delivered = ProduceNow({LogMessage(task, claim)});
      if (!delivered) {
        Fail(delivered.error());
        return;
      }
      owned.restore->Claimed(owned.epoch, delivered->front().offset);
      if (auto s = publisher_->fence().SetLastOffset(task, delivered->front().offset); !s)
        Fail(s.error());
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

void Runtime::WriteSnapshot(int32_t task, OwnedTask& owned, bool first) {
  // The changelog: the task's whole key range, as our epoch's first commit or its next one.
  const uint64_t seq = first ? 0 : owned.seq + 1;
  auto records = TaskSnapshot(*store_, task, owned.epoch, seq, kLogPartBytes);
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
  auto fenced = publisher_->fence().Check(task, owned.epoch, *delivered);
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
  if (auto w = store_->Write(position); !w) {
    Fail(kExitState, "task position: " + w.error().message);
    return;
  }
  if (auto s = publisher_->fence().SetLastOffset(task, delivered->back().offset); !s) {
    Fail(s.error());
    return;
  }
  // The cells: the task's whole set, which replaces what the cells topic held for it.
  Engine* engine = tasks_->Find(task);
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

void Runtime::Serve(int32_t task, OwnedTask& owned) {
  const TaskRestore::Source source = owned.restore->source();
  owned.restore.reset();
  std::set<int32_t> tasks;
  for (const auto& [t, o] : owned_) tasks.insert(t);
  tasks_->Budget(tasks);
  if (auto engine = tasks_->Get(task, today_); !engine) {
    Fail(kExitState, "state of " + engine.error());
    return;
  }
  WriteSnapshot(task, owned, true);
  if (failure_) return;
  std::vector<std::pair<TopicPartition, int64_t>> resume;
  for (const TopicPartition& tp : owned.partitions) {
    const std::optional<int64_t> stored = StoredOffset(tp);
    if (!stored) return;
    const int64_t offset = *stored;
    positions_[tp] = offset >= 0 ? offset : -1;
    resume.emplace_back(tp, offset);
  }
  if (auto r = bus_.source->Resume(resume); !r) {
    Fail(kExitKafka, r.error());
    return;
  }
  switch (source) {
    case TaskRestore::Source::kLocal:
      ++restored_local_;
      break;
    case TaskRestore::Source::kLog:
      ++restored_changelog_;
      break;
    case TaskRestore::Source::kRebuild:
      ++rebuilt_;
      break;
    case TaskRestore::Source::kNone:
      break;
  }
  static constexpr const char* kSources[] = {"none", "local state", "changelog", "input (rebuild)"};
  log_->info("task {} restored from its {}; serving as epoch {}", task,
             kSources[static_cast<int>(source)], owned.epoch);
  if (task == 0) {
    // The emitter's role: first read the cells topic up to its current end.
    emitter_ = Emitter::kCatchingUp;
    emitter_id_ = config_.scale.instance_id + "/" + std::to_string(owned.epoch);
    catch_up_to_.clear();
    for (int32_t p = 0; p < task_count_; ++p) {
      const TopicPartition tp{config_.scale.cells_topic, p};
      auto marks = bus_.reader->Watermarks(tp, 10000);
      if (!marks) {
        Fail(kExitKafka, marks.error());
        return;
      }
      catch_up_to_[tp] = marks->second;
    }
  }
  if (std::all_of(owned_.begin(), owned_.end(), [](const auto& o) { return o.second.ready(); })) {
    probe_.Assigned(global_.Table(), global_.as_of().value_or(today_));
  }
}

std::expected<void, std::string> Runtime::StageTask(int32_t task, OwnedTask& owned,
                                                    state::WriteBatch& batch,
                                                    std::vector<OutMessage>& outbox) {
  Engine* engine = tasks_->Find(task);
  if (engine == nullptr || !owned.ready()) return {};
  auto rows = engine->PrepareCommit();
  if (!rows) return std::unexpected("task " + std::to_string(task) + ": " + rows.error().message);
  state::WriteBatch ops = engine->TakeBatch();
  for (const TopicPartition& tp : owned.partitions) {
    const auto next = next_offsets_.find(tp);
    if (next == next_offsets_.end()) continue;
    ops.push_back(
        {keys::OffsetKey(static_cast<uint16_t>(task), tp.topic), EncodeOffset(next->second)});
  }
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

void Runtime::ReadGlobal() {
  for (int n = 0; n < kGlobalReadsPerTurn && !failure_; ++n) {
    auto r = bus_.global_reader->Poll(0);
    if (!r) {
      Fail(kExitKafka, r.error());
      return;
    }
    if (!*r) break;
    const InRecord& rec = **r;
    if (rec.topic == config_.scale.cells_topic) {
      global_.Add(rec.partition, DecodeCellsRecord(rec.value));
      global_positions_[{std::string(rec.topic), rec.partition}] = rec.offset + 1;
    } else if (rec.topic == config_.output_topic && rec.Header(kEmitterHeader) != emitter_id_) {
      // Another instance (an emitter before us, still running) wrote a row: ours wins again.
      global_.Touch(std::string(rec.key));
    }
  }
  std::vector<Row> changed = global_.TakeChanged();
  if (!changed.empty()) probe_.TableChanged(changed, global_.as_of().value_or(today_));
  if (emitter_ == Emitter::kCatchingUp) {
    for (const auto& [tp, end] : catch_up_to_) {
      if (global_positions_[tp] < end) return;
    }
    // Caught up: read our own output topic from here on, then publish every row.
    std::vector<std::pair<TopicPartition, int64_t>> assign;
    for (const auto& [tp, position] : global_positions_) {
      if (tp.topic == config_.scale.cells_topic) assign.emplace_back(tp, position);
    }
    auto outputs = bus_.reader->PartitionCount(config_.output_topic, 10000);
    if (!outputs) {
      Fail(kExitKafka, outputs.error());
      return;
    }
    // From the ends as they are now (not "the end" when the fetch starts, which could pass over
    // a row an earlier emitter writes meanwhile).
    for (int32_t p = 0; p < *outputs; ++p) {
      const TopicPartition tp{config_.output_topic, p};
      auto marks = bus_.reader->Watermarks(tp, 10000);
      if (!marks) {
        Fail(kExitKafka, marks.error());
        return;
      }
      assign.emplace_back(tp, marks->second);
    }
    if (auto a = bus_.global_reader->Assign(assign); !a) {
      Fail(kExitKafka, a.error());
      return;
    }
    emitter_ = Emitter::kYes;
    probe_.SetKpiGauges(true);
    log_->info("emitting the global rows ({} rows)", global_.rows());
    Emit(global_.All());
  } else if (emitter_ == Emitter::kYes && !changed.empty()) {
    Emit(changed);
  }
}

void Runtime::Emit(const std::vector<Row>& rows) {
  const std::string as_of = global_.as_of().value_or(today_).ToString();
  std::vector<OutMessage> messages;
  messages.reserve(rows.size());
  for (const Row& row : rows) {
    OutMessage m = RowMessage(row, as_of);
    m.headers.emplace_back(kEmitterHeader, emitter_id_);
    messages.push_back(std::move(m));
  }
  if (auto d = ProduceNow(messages); !d) Fail(d.error());
}

void Runtime::CommitScaled() {
  const auto started = std::chrono::steady_clock::now();
  state::WriteBatch batch;
  std::vector<OutMessage> outbox = std::move(dead_letters_);
  dead_letters_.clear();
  for (auto& [task, owned] : owned_) {
    if (auto staged = StageTask(task, owned, batch, outbox); !staged) {
      Fail(kExitState, staged.error());
      return;
    }
  }
  const std::optional<std::set<int32_t>> fenced = WriteAndDeliver(std::move(batch), outbox);
  if (!fenced) return;
  if (!fenced->empty()) {
    fencings_ += fenced->size();
    Fail(kExitFenced, "task " + std::to_string(*fenced->begin()) +
                          " was claimed by another instance (this one was paused or cut off past "
                          "the session timeout); nothing more is published for it");
    return;
  }
  // Snapshots bound the restores: a task whose changelog grew past scale.snapshot_mb since its
  // last one writes a new one.
  for (auto& [task, owned] : owned_) {
    if (owned.ready() &&
        owned.log_bytes > (static_cast<uint64_t>(config_.scale.snapshot_mb) << 20)) {
      WriteSnapshot(task, owned, false);
      if (failure_) return;
    }
  }
  TrimHeapAfterEvictions();
  probe_.Committed(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
      event_unix_ms_,
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count(),
      {}, global_.as_of().value_or(today_));
  event_unix_ms_.clear();
}

sinks::ScaleStatus Runtime::ScaleReport() {
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
  for (const auto& [tp, end] : catch_up_to_) {
    if (emitter_ == Emitter::kCatchingUp)
      s.cells_lag += std::max<int64_t>(0, end - global_positions_[tp]);
  }
  return s;
}

}  // namespace kpi::runtime
