#include "processor/runtime/runtime.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "processor/keys.h"
#include "processor/output.h"
#include "processor/runtime/rdkafka_bus.h"
#include "processor/validate.h"
#include "processor/values.h"

namespace kpi::runtime {
namespace {

template <typename C>
int64_t Millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(C::now().time_since_epoch()).count();
}
// Wall time for event-to-commit latency (Kafka timestamps are Unix ms); steady time for the
// heartbeat that /healthz compares with its own steady clock.
int64_t UnixMs() { return Millis<std::chrono::system_clock>(); }

}  // namespace

Runtime::Runtime(const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log)
    : config_(config),
      clock_(clock),
      as_of_policy_(config.fixed_as_of, config.as_of_from_events, clock),
      log_(std::move(log)),
      calendar_(config.closures, config.official_holidays),
      probe_(config.input_topics) {}

Runtime::~Runtime() = default;

std::expected<std::unique_ptr<Runtime>, Failure> Runtime::Create(
    const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log) {
  auto bus = OpenRdKafkaBus(config.kafka, config.input_topics, config.scale.enabled);
  if (!bus) return std::unexpected(Failure{kExitConfig, bus.error()});
  return Create(config, clock, std::move(log), std::move(*bus));
}

std::expected<std::unique_ptr<Runtime>, Failure> Runtime::Create(
    const Config& given, const Clock& clock, std::shared_ptr<spdlog::logger> log, Bus bus,
    const StoreWrapper& wrap_store) {
  Config config = given;
  if (config.scale.enabled && config.scale.instance_id.empty()) {
    char host[256] = {};
    config.scale.instance_id = ::gethostname(host, sizeof host - 1) == 0 ? host : "kpi-processor";
  }
  if (config.scale.enabled && (bus.restore_reader == nullptr || bus.global_reader == nullptr)) {
    return std::unexpected(Failure{kExitConfig, "scale.enabled: the bus lacks its readers"});
  }
  std::unique_ptr<Runtime> rt(new Runtime(config, clock, std::move(log)));
  state::RocksDbOptions db;
  db.path = config.state_path;
  db.block_cache_bytes = config.block_cache_mb << 20;
  db.write_buffer_bytes = config.write_buffer_mb << 20;
  db.bloom_bits_per_key = config.bloom_bits_per_key;
  db.sync = config.state_sync;
  auto store = state::RocksDbStore::Open(db);
  if (!store) return std::unexpected(Failure{kExitState, "state store: " + store.error().message});
  rt->rocksdb_ = std::move(*store);
  rt->store_ = rt->rocksdb_.get();
  if (wrap_store) {
    rt->wrapped_store_ = wrap_store(*rt->rocksdb_);
    rt->store_ = rt->wrapped_store_.get();
  }
  rt->bus_ = std::move(bus);
  // While a commit waits for the cluster, /metrics says so (the loop itself is blocked).
  rt->bus_.producer->ObserveWaits([probe = &rt->probe_](size_t pending, int64_t waited_ms) {
    probe->DeliveryWaiting(pending, waited_ms);
  });
  EngineOptions options;
  options.assessment_limit = config.assessment_limit;
  options.icpc_limit = config.icpc_limit;
  options.limits = config.limits;
  rt->tasks_ = std::make_unique<TaskSet>(*rt->store_, rt->calendar_, options,
                                         static_cast<size_t>(config.state_memory_mb) << 20);
  rt->publisher_ = std::make_unique<Publisher>(*rt->store_, *rt->bus_.producer, *rt->bus_.reader,
                                               config.dlq_topic, config.delivery_timeout_ms);
  if (config.scale.enabled) {
    rt->publisher_->SetChangelog(config.scale.changelog_topic);
    rt->probe_.SetKpiGauges(false);  // until this instance emits
  }
  return rt;
}

void Runtime::SetFaultHook(FaultHook hook) { publisher_->SetFaultHook(std::move(hook)); }

void Runtime::Fail(int exit_code, std::string message) {
  if (failure_) return;
  // A Kafka failure whose cause is a broker refusing our credentials or TLS is a configuration
  // error: say so, and let the supervisor not restart into the same refusal.
  if (exit_code == kExitKafka) {
    if (std::optional<std::string> refused = bus_.source->Refused()) {
      failure_ = Failure{kExitConfig, std::move(*refused)};
      return;
    }
  }
  failure_ = Failure{exit_code, std::move(message)};
}

std::expected<void, Failure> Runtime::CheckTopics() {
  std::vector<std::string> topics = config_.input_topics;
  topics.push_back(config_.output_topic);
  topics.push_back(config_.dlq_topic);
  if (config_.scale.enabled) {
    topics.push_back(config_.scale.changelog_topic);
    topics.push_back(config_.scale.cells_topic);
  }
  input_partitions_ = 0;
  for (const std::string& topic : topics) {
    auto n = bus_.reader->PartitionCount(topic, 10000);
    if (!n) return std::unexpected(Failure{kExitKafka, n.error()});
    if (std::find(config_.input_topics.begin(), config_.input_topics.end(), topic) !=
        config_.input_topics.end()) {
      input_partitions_ += static_cast<size_t>(*n);
    }
    if (*n == 0) {
      return std::unexpected(Failure{
          kExitConfig, "topic " + topic +
                           " does not exist; create it before the processor starts (README, "
                           "\"Running against Kafka\", gives each topic's configuration)"});
    }
  }
  if (config_.scale.enabled) return CheckScaledTopics();
  return {};
}

Date Runtime::Today() {
  // Before the first event (processing.as_of: events): the date the stored engines were left
  // at, or the epoch (a new store starts there and moves with the first event).
  return as_of_policy_.Today(tasks_->LatestAsOf());
}

void Runtime::OnAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts) {
  if (config_.scale.enabled) {
    ScaledAssign(parts);
    return;
  }
  // A partial assignment: another member is in the group. Its rows would be sums over some of
  // the tasks, and a row published so stays the output's last value until its cells change
  // again (seen on a real broker: a killed instance's member, whose session had not yet expired,
  // was given half the partitions of its successor). Process nothing until a rebalance gives
  // this instance every partition; the eager protocol hands over whole assignments.
  partial_assignment_ = parts.size() < input_partitions_;
  if (partial_assignment_) {
    std::vector<TopicPartition> paused;
    for (const auto& [tp, offset] : parts) paused.push_back(tp);
    bus_.source->Pause(paused);
    log_->warn(
        "given {} of the {} input partitions: another member is in the group (an instance "
        "stopped less than session.timeout.ms ago, or a second one without scale.enabled); "
        "without scale.enabled one instance must own them all, so nothing is processed until "
        "a rebalance gives it every partition",
        parts.size(), input_partitions_);
    return;
  }
  // The hot-state budget is shared by the tasks owned after this assignment.
  std::set<int32_t> owned = tasks_->owned();
  for (const auto& [tp, offset] : parts) owned.insert(tp.partition);
  tasks_->Budget(owned);
  for (auto& [tp, offset] : parts) {
    if (auto engine = tasks_->Get(tp.partition, today_); !engine) {
      Fail(kExitState, "state of " + engine.error());
      return;
    }
    const std::optional<int64_t> stored = StoredOffset(tp);
    if (!stored) return;
    offset = *stored;
    positions_[tp] = offset >= 0 ? offset : -1;
    log_->info("assigned {} [{}] from offset {}", tp.topic, tp.partition, offset);
  }
  // Restored: the committed table of the tasks now owned is what /kpi and the gauges show.
  auto table = tasks_->Table();
  if (!table) {
    Fail(kExitState, table.error());
    return;
  }
  probe_.Assigned(std::move(*table), today_);
}

void Runtime::OnRevoke(const std::vector<TopicPartition>& parts, bool lost) {
  Commit();
  probe_.Revoked();
  std::set<int32_t> revoked;
  for (const TopicPartition& tp : parts) {
    revoked.insert(tp.partition);
    positions_.erase(tp);
  }
  for (const int32_t task : revoked) {
    tasks_->Drop(task);
    owned_.erase(task);
    if (task == 0 && emitter_ != Emitter::kNo) {
      emitter_ = Emitter::kNo;
      probe_.SetKpiGauges(false);
    }
  }
  log_->info("revoked {} partition(s)", parts.size());
  // The group session expired (the brokers were out of reach for longer than
  // session.timeout.ms). Rejoining in process has shown intermittent stalls of some partitions;
  // a restart resumes exactly from the committed offsets, so leave and let the supervisor
  // restart us.
  if (lost) {
    Fail(kExitKafka,
         "consumer group session lost; exiting so that a restart resumes from the committed "
         "offsets");
  }
}

void Runtime::DeadLetter(const InRecord& record, DeadLetterReason reason) {
  probe_.DeadLettered(reason);
  // Original key and value bytes, unchanged; delivered with the next commit's outbox.
  OutMessage out;
  out.topic = config_.dlq_topic;
  out.headers = {{kSourceTopic, std::string(record.topic)},
                 {kSourcePartition, std::to_string(record.partition)},
                 {kSourceOffset, std::to_string(record.offset)},
                 {"reason", std::string(ReasonCode(reason))}};
  if (reason == DeadLetterReason::kTooLarge) {
    // Too large for the dead-letter topic too: its size, and where it stays in the input.
    out.headers.emplace_back(kRecordBytes, std::to_string(record.key.size() + record.value.size()));
  } else {
    out.key = record.key;
    out.value = record.value;
  }
  if (config_.scale.enabled) out.task = record.partition;  // published only if not fenced
  dead_letters_.push_back(std::move(out));
}

void Runtime::Process(const InRecord& record) {
  if (partial_assignment_) return;  // paused; a record fetched before the pause is read again
  const TopicPartition tp{std::string(record.topic), record.partition};
  const std::string& topic = tp.topic;
  if (config_.scale.enabled) {
    // A task being restored: its partitions are paused, and a record fetched before the pause is
    // read again from the restored offset.
    const auto owned = owned_.find(record.partition);
    if (owned == owned_.end() || !owned->second.ready()) return;
    // A record fetched before the seek to the restored offset (librdkafka drops those itself;
    // this does not depend on it).
    const auto next = next_offsets_.find(tp);
    const auto position = positions_.find(tp);
    const int64_t expected = next != next_offsets_.end()    ? next->second
                             : position != positions_.end() ? position->second
                                                            : -1;
    if (expected >= 0 && record.offset < expected) return;
  }
  // A record past the bound is not decoded at all (bounded time and memory per record).
  const events::Event* decoded = nullptr;
  const InputRecord in{.bytes = record.value,
                       .json = config_.FormatOf(topic) == Format::kJson,
                       .size = record.key.size() + record.value.size(),
                       .max_bytes = config_.max_record_bytes,
                       .key = record.key};
  if (record.timestamp_ms) event_unix_ms_.push_back(*record.timestamp_ms);
  const auto processing_date = [&](const events::Event& event) {
    // The event's own day moves as_of first (processing.as_of: events), so that it is
    // validated against it.
    if (event.has_recorded_at()) {
      today_ = as_of_policy_.OnEvent(event.recorded_at().seconds(), today_);
    }
    return today_;
  };
  std::expected<const ValidEvent*, DeadLetterReason> valid =
      reader_.Read(in, processing_date, &decoded);
  // Kinds are the body's oneof field numbers less 9 (record.h).
  const int body = decoded != nullptr ? static_cast<int>(decoded->body_case()) : 0;
  probe_.EventConsumed(topic, body >= 10 && body < 10 + kKindCount
                                  ? std::optional(static_cast<Kind>(body - 9))
                                  : std::nullopt);
  if (!valid) {
    DeadLetter(record, valid.error());
  } else {
    auto engine = tasks_->Get(record.partition, today_);
    if (!engine) {
      Fail(kExitState, "state of " + engine.error());
      return;
    }
    const auto applied = (*engine)->Apply(**valid);
    if (!applied) {
      Fail(kExitState, "applying an event of " + topic + " [" + std::to_string(record.partition) +
                           "]: " + applied.error().message);
      return;
    }
    if (*applied == ApplyOutcome::kApplied) {
      probe_.EventApplied();
    } else {
      probe_.EventStale();
    }
  }
  next_offsets_[tp] = record.offset + 1;
  ++pending_;
}

void Runtime::RollAsOf() {
  today_ = Today();
  auto advanced = tasks_->Advance(today_);
  if (!advanced) {
    Fail(kExitState, advanced.error());
    return;
  }
  if (*advanced) {
    log_->info("as_of is now {}", today_.ToString());
    Commit();
  }
}

void Runtime::Commit() {
  if (failure_) return;
  if (config_.scale.enabled) {
    CommitScaled();
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  // 1. Derived state, and the global rows of the cells that changed.
  auto totals = tasks_->ChangedTotals();
  if (!totals) {
    Fail(kExitState, totals.error());
    return;
  }
  // 2. The outbox: those rows and the dead letters of this interval.
  const std::string as_of = today_.ToString();
  std::vector<OutMessage> outbox = std::move(dead_letters_);
  dead_letters_.clear();
  for (const Row& total : *totals) outbox.push_back(RowMessage(total, as_of));
  // 3. State changes, consumed offsets and the outbox, in one atomic batch; 4. delivered.
  state::WriteBatch batch = tasks_->TakeBatch();
  for (const auto& [tp, offset] : next_offsets_) {
    batch.push_back(
        {keys::OffsetKey(static_cast<uint16_t>(tp.partition), tp.topic), EncodeOffset(offset)});
  }
  if (!WriteAndDeliver(std::move(batch), outbox)) return;
  TrimHeapAfterEvictions();
  probe_.Committed(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
      event_unix_ms_, UnixMs(), *totals, today_);
  event_unix_ms_.clear();
}

std::optional<int64_t> Runtime::StoredOffset(const TopicPartition& tp) {
  auto stored = store_->Get(keys::OffsetKey(static_cast<uint16_t>(tp.partition), tp.topic));
  if (!stored) {
    Fail(kExitState, "stored offset: " + stored.error().message);
    return std::nullopt;
  }
  if (!*stored) return config_.input_start_latest ? kOffsetEnd : kOffsetBeginning;
  const std::optional<int64_t> next = DecodeOffset(**stored);
  if (!next) Fail(kExitState, "stored offset: undecodable value (state corruption)");
  return next;
}

OutMessage Runtime::RowMessage(const Row& row, const std::string& as_of) const {
  OutMessage message{config_.output_topic, RowKey(row), {}, {}};
  message.value =
      config_.output_format == Format::kJson ? RowToJson(row, as_of) : RowToProto(row, as_of);
  return message;
}

void Runtime::TrimHeapAfterEvictions() {
  // Evictions leave free heap spread over the arenas: after a commit that followed some, give it
  // back to the system, so that the resident set follows state.memory_mb rather than the churn.
  if (const uint64_t evicted = tasks_->Evictions(); evicted != evicted_at_trim_) {
    evicted_at_trim_ = evicted;
    malloc_trim(0);
  }
}

std::optional<std::set<int32_t>> Runtime::WriteAndDeliver(state::WriteBatch batch,
                                                          const std::vector<OutMessage>& outbox) {
  std::set<int32_t> fenced;
  std::vector<std::string> keys;
  if (!batch.empty() || !outbox.empty()) {
    keys = publisher_->Stage(outbox, batch);
    if (auto w = store_->Write(batch); !w) {
      Fail(kExitState, "state commit: " + w.error().message);
      return std::nullopt;
    }
    if (publisher_->Crash(CommitStep::kBatchWritten, outbox)) {
      Fail(kExitState, "fault injected: batch written");
      return std::nullopt;
    }
  }
  for (const auto& [tp, offset] : next_offsets_) positions_[tp] = offset;
  next_offsets_.clear();
  pending_ = 0;
  last_commit_ms_ = clock_.NowMs();
  if (!outbox.empty()) {
    auto d = publisher_->Deliver(std::move(keys), outbox);
    if (!d) {
      Fail(d.error());
      return std::nullopt;
    }
    fenced = std::move(*d);
  }
  return fenced;
}

void Runtime::ReportStatus() {
  sinks::StatusReport report;
  for (const auto& [tp, committed] : positions_) {
    sinks::PartitionStatus p{tp.topic, tp.partition, -1};
    const auto pending = next_offsets_.find(tp);
    const int64_t position = pending != next_offsets_.end() ? pending->second : committed;
    // Watermarks as last seen by the fetcher: no broker round trip.
    if (const auto marks = bus_.source->CachedWatermarks(tp)) {
      p.lag = std::max<int64_t>(0, marks->second - (position >= 0 ? position : marks->first));
    }
    report.partitions.push_back(std::move(p));
  }
  report.state_sst_bytes = rocksdb_->TotalSstBytes();
  report.state_live_bytes = rocksdb_->EstimatedLiveBytes();
  report.block_cache_usage_bytes = rocksdb_->BlockCacheUsage();
  report.block_cache_capacity_bytes = config_.block_cache_mb << 20;
  if (config_.scale.enabled) report.scale = ScaleReport();
  probe_.Status(std::move(report), SteadyMs());
}

std::expected<void, Failure> Runtime::Run() {
  log_->info("running: {} input topic(s), output {}, dead letters {}", config_.input_topics.size(),
             config_.output_topic, config_.dlq_topic);
  last_commit_ms_ = clock_.NowMs();
  today_ = Today();
  probe_.Started(UnixMs());
  ReportStatus();
  if (auto t = CheckTopics(); !t) Fail(t.error());
  // Whatever a crash left in the outbox, before anything new.
  if (!failure_) {
    auto d = publisher_->DeliverStored();
    if (!d) {
      Fail(d.error());
    } else if (!d->empty()) {
      // Claimed by another instance while we were down: that commit is not in the valid history
      // (our local copy is restored again if we regain the task), and its output stays unpublished.
      fencings_ += d->size();
      log_->warn(
          "{} task(s) of the output a crash left were claimed by another instance meanwhile; "
          "their output was not published",
          d->size());
    }
  }
  while (!stop_.load() && !failure_) {
    // librdkafka retries a refused connection for ever; the refusal is a configuration error.
    if (std::optional<std::string> refused = bus_.source->Refused()) {
      Fail(kExitConfig, std::move(*refused));
      break;
    }
    auto record = bus_.source->Poll(20, *this);
    if (!record) {
      Fail(kExitKafka, record.error());
      break;
    }
    if (*record && !failure_) Process(**record);
    bus_.producer->Poll();
    if (config_.scale.enabled) {
      StepRestores();
      ReadGlobal();
    }
    RollAsOf();
    const bool due = clock_.NowMs() - last_commit_ms_ >= config_.commit_interval_ms;
    if (pending_ >= static_cast<uint64_t>(config_.commit_max_events) || (due && pending_ > 0) ||
        tasks_->CommitWanted()) {
      Commit();
    } else if (due) {
      last_commit_ms_ = clock_.NowMs();
    }
    if (const int64_t now = clock_.NowMs(); now - last_status_ms_ >= 1000) {
      last_status_ms_ = now;
      ReportStatus();
    }
  }
  probe_.Revoked();
  if (!failure_) Commit();              // the final commit
  if (!failure_) bus_.source->Close();  // leaves the group
  const sinks::ProbeSnapshot s = probe_.Snapshot();
  uint64_t consumed = 0;
  for (const auto& kinds : s.consumed) {
    for (const uint64_t n : kinds) consumed += n;
  }
  uint64_t dead_lettered = 0;
  for (const uint64_t n : s.dead_letters) dead_lettered += n;
  log_->info("stopped: {} consumed, {} dead-lettered, {} commits", consumed, dead_lettered,
             s.commits);
  if (failure_) return std::unexpected(*failure_);
  return {};
}

}  // namespace kpi::runtime
