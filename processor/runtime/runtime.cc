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
      probe_(config.input_topics),
      failure_([this] {
        return bus_.source != nullptr ? bus_.source->Refused() : std::optional<std::string>();
      }) {}

Runtime::~Runtime() = default;

std::expected<std::unique_ptr<Runtime>, Failure> Runtime::Create(
    const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log) {
  auto bus = OpenRdKafkaBus(config.kafka, config.input_topics, config.scale.enabled);
  if (!bus) return std::unexpected(Failure{kExitConfig, bus.error()});
  return Create(config, clock, std::move(log), std::move(*bus));
}

std::expected<std::unique_ptr<Runtime>, Failure> Runtime::Create(
    const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log, Bus bus,
    const StoreWrapper& wrap_store) {
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
  rt->probe_.SetSmallCount(config.publish_small_count);
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
  rt->positions_ = std::make_unique<InputPositions>(*rt->store_, config.input_start_latest);
  auto topology =
      MakeTopology({rt->config_, rt->clock_, *rt->log_, *rt->store_, rt->bus_, *rt->tasks_,
                    *rt->publisher_, rt->probe_, *rt->positions_, rt->failure_});
  if (!topology) return std::unexpected(topology.error());
  rt->topology_ = std::move(*topology);
  return rt;
}

void Runtime::SetFaultHook(FaultHook hook) { publisher_->SetFaultHook(std::move(hook)); }

std::expected<void, Failure> Runtime::CheckTopics() {
  std::vector<std::string> topics = config_.input_topics;
  topics.push_back(config_.output_topic);
  topics.push_back(config_.dlq_topic);
  if (!config_.published_topic.empty()) topics.push_back(config_.published_topic);
  for (std::string& topic : topology_->Topics()) topics.push_back(std::move(topic));
  size_t input_partitions = 0;
  for (const std::string& topic : topics) {
    auto n = bus_.reader->PartitionCount(topic, 10000);
    if (!n) return std::unexpected(Failure{kExitKafka, n.error()});
    if (std::find(config_.input_topics.begin(), config_.input_topics.end(), topic) !=
        config_.input_topics.end()) {
      input_partitions += static_cast<size_t>(*n);
    }
    if (*n == 0) {
      return std::unexpected(Failure{
          kExitConfig, "topic " + topic +
                           " does not exist; create it before the processor starts (README, "
                           "\"Running against Kafka\", gives each topic's configuration)"});
    }
  }
  return topology_->Start(input_partitions);
}

Date Runtime::Today() {
  // Before the first event (processing.as_of: events): the date the stored engines were left
  // at, or the epoch (a new store starts there and moves with the first event).
  return as_of_policy_.Today(tasks_->LatestAsOf());
}

void Runtime::OnAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts) {
  topology_->Assign(parts, today_);
}

void Runtime::OnRevoke(const std::vector<TopicPartition>& parts, bool lost) {
  Commit();
  probe_.Revoked();
  std::set<int32_t> revoked;
  for (const TopicPartition& tp : parts) {
    revoked.insert(tp.partition);
    positions_->Drop(tp);
  }
  for (const int32_t task : revoked) tasks_->Drop(task);
  topology_->Revoke(revoked);
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
  out.task = record.partition;  // published only if its task was not fenced (scaled out)
  dead_letters_.push_back(std::move(out));
}

void Runtime::Process(const InRecord& record) {
  // Not served here yet (another member has some partitions, or its task is being restored), or
  // fetched before a seek: read again from where the task resumes.
  if (!topology_->Accepts(record)) return;
  const TopicPartition tp{std::string(record.topic), record.partition};
  const std::string& topic = tp.topic;
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
  positions_->Consumed(tp, record.offset);
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
  if (failure_.failed()) return;
  const auto started = std::chrono::steady_clock::now();
  state::WriteBatch batch;
  std::vector<OutMessage> outbox = std::move(dead_letters_);
  dead_letters_.clear();
  const std::expected<std::vector<Row>, Failure> rows = topology_->Stage(today_, batch, outbox);
  if (!rows) {
    Fail(rows.error());
    return;
  }
  const std::optional<std::set<int32_t>> fenced = WriteAndDeliver(std::move(batch), outbox);
  if (!fenced) return;
  topology_->Committed(*fenced);
  if (failure_.failed()) return;
  TrimHeapAfterEvictions();
  probe_.Committed(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
      event_unix_ms_, UnixMs(), *rows, topology_->TableAsOf(today_));
  event_unix_ms_.clear();
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
  positions_->Committed();
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
  positions_->ForEach([&](const TopicPartition& tp, int64_t position) {
    sinks::PartitionStatus p{tp.topic, tp.partition, -1};
    // Watermarks as last seen by the fetcher: no broker round trip.
    if (const auto marks = bus_.source->CachedWatermarks(tp)) {
      p.lag = std::max<int64_t>(0, marks->second - (position >= 0 ? position : marks->first));
    }
    report.partitions.push_back(std::move(p));
  });
  report.state_sst_bytes = rocksdb_->TotalSstBytes();
  report.state_live_bytes = rocksdb_->EstimatedLiveBytes();
  report.block_cache_usage_bytes = rocksdb_->BlockCacheUsage();
  report.block_cache_capacity_bytes = config_.block_cache_mb << 20;
  report.scale = topology_->Report();
  probe_.Status(std::move(report), SteadyMs());
}

void Runtime::DeliverStored() {
  auto d = publisher_->DeliverStored();
  if (!d) {
    Fail(d.error());
  } else if (!d->empty()) {
    // Claimed by another instance while we were down: that commit is not in the valid history
    // (our local copy is restored again if we regain the task), and its output stays unpublished.
    topology_->FencedAtStart(d->size());
    log_->warn(
        "{} task(s) of the output a crash left were claimed by another instance meanwhile; "
        "their output was not published",
        d->size());
  }
}

std::expected<void, Failure> Runtime::Run() {
  log_->info("running: {} input topic(s), output {}, dead letters {}", config_.input_topics.size(),
             config_.output_topic, config_.dlq_topic);
  last_commit_ms_ = clock_.NowMs();
  today_ = Today();
  probe_.Started(UnixMs());
  ReportStatus();
  if (auto t = CheckTopics(); !t) Fail(t.error());
  if (!failure_.failed()) DeliverStored();
  while (!stop_.load() && !failure_.failed()) {
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
    if (*record && !failure_.failed()) Process(**record);
    bus_.producer->Poll();
    topology_->Step(today_);
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
  if (!failure_.failed()) Commit();              // the final commit
  if (!failure_.failed()) bus_.source->Close();  // leaves the group
  const sinks::ProbeSnapshot s = probe_.Snapshot();
  uint64_t consumed = 0;
  for (const auto& kinds : s.consumed) {
    for (const uint64_t n : kinds) consumed += n;
  }
  uint64_t dead_lettered = 0;
  for (const uint64_t n : s.dead_letters) dead_lettered += n;
  log_->info("stopped: {} consumed, {} dead-lettered, {} commits", consumed, dead_lettered,
             s.commits);
  if (failure_.failed()) return std::unexpected(*failure_.failure());
  return {};
}

}  // namespace kpi::runtime
