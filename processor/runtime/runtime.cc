#include "processor/runtime/runtime.h"

#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include "processor/coding.h"
#include "processor/keys.h"
#include "processor/output.h"
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
int64_t SteadyMs() { return Millis<std::chrono::steady_clock>(); }

bool SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value,
             std::string& error) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    error = "kafka." + key + ": " + errstr;
    return false;
  }
  return true;
}

// librdkafka logs from its own threads to the "kafka" logger that main registers.
// Which client a kafka.* property is for. `consumer.X` and `producer.X` name one explicitly;
// librdkafka's consumer- and producer-only properties go to that client only (so that neither
// warns about the other's); everything else (brokers, TLS, SASL, client.id ...) goes to both.
enum class Client { kBoth, kConsumer, kProducer };
std::pair<Client, std::string> Scope(const std::string& key) {
  if (key.rfind("consumer.", 0) == 0) return {Client::kConsumer, key.substr(9)};
  if (key.rfind("producer.", 0) == 0) return {Client::kProducer, key.substr(9)};
  static const std::set<std::string> kConsumerOnly = {"group.id",
                                                      "group.instance.id",
                                                      "session.timeout.ms",
                                                      "heartbeat.interval.ms",
                                                      "max.poll.interval.ms",
                                                      "partition.assignment.strategy",
                                                      "auto.offset.reset",
                                                      "enable.auto.commit",
                                                      "auto.commit.interval.ms",
                                                      "enable.auto.offset.store",
                                                      "fetch.wait.max.ms",
                                                      "fetch.min.bytes",
                                                      "fetch.max.bytes",
                                                      "fetch.message.max.bytes",
                                                      "max.partition.fetch.bytes",
                                                      "queued.min.messages",
                                                      "queued.max.messages.kbytes",
                                                      "isolation.level",
                                                      "check.crcs",
                                                      "enable.partition.eof",
                                                      "group.protocol.type",
                                                      "coordinator.query.interval.ms"};
  static const std::set<std::string> kProducerOnly = {"acks",
                                                      "request.required.acks",
                                                      "linger.ms",
                                                      "queue.buffering.max.ms",
                                                      "queue.buffering.max.messages",
                                                      "queue.buffering.max.kbytes",
                                                      "batch.num.messages",
                                                      "batch.size",
                                                      "compression.type",
                                                      "compression.codec",
                                                      "compression.level",
                                                      "enable.idempotence",
                                                      "message.timeout.ms",
                                                      "delivery.timeout.ms",
                                                      "retries",
                                                      "message.send.max.retries",
                                                      "retry.backoff.ms",
                                                      "transactional.id",
                                                      "transaction.timeout.ms",
                                                      "partitioner",
                                                      "sticky.partitioning.linger.ms"};
  if (kConsumerOnly.contains(key)) return {Client::kConsumer, key};
  if (kProducerOnly.contains(key)) return {Client::kProducer, key};
  return {Client::kBoth, key};
}

void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  const std::shared_ptr<spdlog::logger> log = spdlog::get("kafka");
  if (log == nullptr) return;
  const auto lvl = level <= 3   ? spdlog::level::err
                   : level <= 5 ? spdlog::level::warn
                                : spdlog::level::debug;
  log->log(lvl, "librdkafka {}: {}", fac, buf);  // broker and protocol text, no record content
}

// The message's own opaque (its _private) is the runtime's delivery_failed_ flag.
void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR && msg->_private != nullptr) {
    static_cast<std::atomic<bool>*>(msg->_private)->store(true);
  }
}

}  // namespace

Runtime::Runtime(const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log)
    : config_(config),
      clock_(clock),
      as_of_policy_(config.fixed_as_of, config.as_of_from_events, clock),
      log_(std::move(log)),
      calendar_(config.closures, config.official_holidays),
      probe_(config.input_topics) {}

Runtime::~Runtime() {
  if (consumer_ != nullptr) rd_kafka_destroy(consumer_);
  if (producer_ != nullptr) rd_kafka_destroy(producer_);
}

std::expected<std::unique_ptr<Runtime>, Failure> Runtime::Create(
    const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<Runtime> rt(new Runtime(config, clock, std::move(log)));
  state::RocksDbOptions db;
  db.path = config.state_path;
  db.block_cache_bytes = config.block_cache_mb << 20;
  db.write_buffer_bytes = config.write_buffer_mb << 20;
  db.bloom_bits_per_key = config.bloom_bits_per_key;
  db.sync = config.state_sync;
  auto store = state::RocksDbStore::Open(db);
  if (!store) return std::unexpected(Failure{kExitState, "state store: " + store.error().message});
  rt->store_ = std::move(*store);

  std::string error;
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  rd_kafka_conf_t* cconf = rd_kafka_conf_new();
  bool ok = true;
  std::set<std::string> given_producer;
  std::set<std::string> given_consumer;
  for (const auto& [key, v] : config.kafka) {
    const auto [client, k] = Scope(key);
    if (client != Client::kConsumer) {
      ok = ok && SetConf(pconf, k, v, error);
      given_producer.insert(k);
    }
    if (client != Client::kProducer) {
      ok = ok && SetConf(cconf, k, v, error);
      given_consumer.insert(k);
    }
  }
  // Producer: idempotent, so retries after broker faults neither lose nor duplicate.
  for (const auto& [k, v] : std::map<std::string, std::string>{{"enable.idempotence", "true"},
                                                               {"acks", "all"},
                                                               {"linger.ms", "5"},
                                                               {"compression.type", "lz4"}}) {
    if (!given_producer.contains(k)) ok = ok && SetConf(pconf, k, v, error);
  }
  // Consumer: offsets live in the state store, so Kafka's own commits are off.
  for (const auto& [k, v] :
       std::map<std::string, std::string>{{"enable.auto.commit", "false"},
                                          {"enable.auto.offset.store", "false"},
                                          {"auto.offset.reset", "earliest"},
                                          {"partition.assignment.strategy", "range"}}) {
    if (!given_consumer.contains(k)) ok = ok && SetConf(cconf, k, v, error);
  }
  if (!ok) {
    rd_kafka_conf_destroy(pconf);
    rd_kafka_conf_destroy(cconf);
    return std::unexpected(Failure{kExitConfig, error});
  }
  rd_kafka_conf_set_log_cb(pconf, LogCallback);
  rd_kafka_conf_set_log_cb(cconf, LogCallback);
  rd_kafka_conf_set_opaque(cconf, rt.get());
  rd_kafka_conf_set_dr_msg_cb(pconf, DeliveryCallback);
  rd_kafka_conf_set_rebalance_cb(
      cconf, [](rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                void* opaque) { RebalanceCallback(rk, static_cast<int>(err), parts, opaque); });
  char errstr[512];
  rt->producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
  if (rt->producer_ == nullptr) {
    rd_kafka_conf_destroy(cconf);
    return std::unexpected(Failure{kExitConfig, std::string("kafka producer: ") + errstr});
  }
  rt->consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
  if (rt->consumer_ == nullptr) {
    return std::unexpected(Failure{kExitConfig, std::string("kafka consumer: ") + errstr});
  }
  rd_kafka_poll_set_consumer(rt->consumer_);
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(config.input_topics.size()));
  for (const std::string& t : config.input_topics) {
    rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(rt->consumer_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected(Failure{kExitKafka, std::string("subscribe: ") + rd_kafka_err2str(err)});
  }
  return rt;
}

void Runtime::Fail(int exit_code, std::string message) {
  if (!failure_) failure_ = Failure{exit_code, std::move(message)};
}

Date Runtime::Today() {
  // Before the first event (processing.as_of: events): the date the stored engines were left
  // at, or the epoch (a new store starts there and moves with the first event).
  Date stored(0);
  for (const auto& [task, engine] : engines_) stored = std::max(stored, engine->as_of());
  return as_of_policy_.Today(stored);
}

Engine* Runtime::EngineFor(int32_t task) {
  auto it = engines_.find(task);
  if (it != engines_.end()) return it->second.get();
  EngineOptions options;
  options.as_of = today_;
  options.assessment_limit = config_.assessment_limit;
  options.icpc_limit = config_.icpc_limit;
  options.limits = config_.limits;
  options.task = static_cast<uint16_t>(task);
  options.memory_bytes = memory_per_task_;
  options.dims = &dims_;
  auto engine = Engine::Open(*store_, calendar_, options);
  if (!engine) {
    Fail(kExitState, "state of task " + std::to_string(task) + ": " + engine.error().message);
    return nullptr;
  }
  return engines_.emplace(task, std::move(*engine)).first->second.get();
}

void Runtime::RebalanceCallback(rd_kafka_s* rk, int err, void* partitions, void* opaque) {
  auto* rt = static_cast<Runtime*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rt->OnAssign(partitions);
  } else {
    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    rt->OnRevoke(partitions);
    rd_kafka_assign(rk, nullptr);
    // The group session expired (the brokers were out of reach for longer than
    // session.timeout.ms). Rejoining in process has shown intermittent stalls of some partitions;
    // a restart resumes exactly from the committed offsets, so leave and let the supervisor
    // restart us.
    if (lost) {
      rt->Fail(kExitKafka,
               "consumer group session lost; exiting so that a restart resumes from the committed "
               "offsets");
    }
  }
}

void Runtime::OnAssign(void* p) {
  auto* parts = static_cast<rd_kafka_topic_partition_list_t*>(p);
  // The hot-state budget is shared by the tasks owned after this assignment.
  std::set<int32_t> tasks;
  for (const auto& [task, engine] : engines_) tasks.insert(task);
  for (int i = 0; i < parts->cnt; ++i) tasks.insert(parts->elems[i].partition);
  memory_per_task_ =
      (static_cast<size_t>(config_.state_memory_mb) << 20) / std::max<size_t>(1, tasks.size());
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& tp = parts->elems[i];
    if (EngineFor(tp.partition) == nullptr) break;
    auto stored = store_->Get(keys::OffsetKey(static_cast<uint16_t>(tp.partition), tp.topic));
    if (!stored) {
      Fail(kExitState, "stored offset: " + stored.error().message);
      break;
    }
    int64_t offset = config_.input_start_latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    if (*stored) {
      const std::optional<int64_t> next = DecodeOffset(**stored);
      if (!next) {
        Fail(kExitState, "stored offset: undecodable value (state corruption)");
        break;
      }
      offset = *next;
    }
    tp.offset = offset;
    positions_[{tp.topic, tp.partition}] = offset >= 0 ? offset : -1;
    log_->info("assigned {} [{}] from offset {}", tp.topic, tp.partition, offset);
  }
  rd_kafka_assign(consumer_, parts);
  if (failure_) return;
  // Restored: the committed table of the tasks now owned is what /kpi and the gauges show.
  std::vector<Row> table;
  for (const auto& [task, engine] : engines_) {
    auto part = engine->Table();
    if (!part) {
      Fail(kExitState, "task " + std::to_string(task) + ": " + part.error().message);
      return;
    }
    std::move(part->begin(), part->end(), std::back_inserter(table));
  }
  probe_.Assigned(std::move(table), today_);
}

void Runtime::OnRevoke(void* p) {
  auto* parts = static_cast<rd_kafka_topic_partition_list_t*>(p);
  Commit();
  probe_.Revoked();
  std::set<int32_t> revoked;
  for (int i = 0; i < parts->cnt; ++i) {
    revoked.insert(parts->elems[i].partition);
    positions_.erase({parts->elems[i].topic, parts->elems[i].partition});
  }
  for (const int32_t task : revoked) engines_.erase(task);
  log_->info("revoked {} partition(s)", parts->cnt);
}

void Runtime::DeadLetter(void* m, DeadLetterReason reason) {
  auto* msg = static_cast<rd_kafka_message_t*>(m);
  probe_.DeadLettered(reason);
  // Original key and value bytes, unchanged; delivered with the next commit's outbox.
  OutMessage out;
  out.topic = config_.dlq_topic;
  if (msg->key != nullptr) out.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload != nullptr) out.value.assign(static_cast<const char*>(msg->payload), msg->len);
  out.headers = {{"source_topic", rd_kafka_topic_name(msg->rkt)},
                 {"source_partition", std::to_string(msg->partition)},
                 {"source_offset", std::to_string(msg->offset)},
                 {"reason", std::string(ReasonCode(reason))}};
  dead_letters_.push_back(std::move(out));
}

void Runtime::Process(void* m) {
  auto* msg = static_cast<rd_kafka_message_t*>(m);
  const std::string topic = rd_kafka_topic_name(msg->rkt);
  const std::string_view value(static_cast<const char*>(msg->payload), msg->len);
  auto event = config_.FormatOf(topic) == Format::kJson ? reader_.DecodeJson(value)
                                                        : reader_.DecodeProtobuf(value);
  // Kinds are the body's oneof field numbers less 9 (record.h).
  const int body = event ? static_cast<int>((*event)->body_case()) : 0;
  probe_.EventConsumed(topic, body >= 10 && body < 10 + kKindCount
                                  ? std::optional(static_cast<Kind>(body - 9))
                                  : std::nullopt);
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
  if (ts_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) event_unix_ms_.push_back(ts);
  if (event && (*event)->has_recorded_at()) {
    // The event's own day moves as_of first (processing.as_of: events), so that it is
    // validated against it.
    today_ = as_of_policy_.OnEvent((*event)->recorded_at().seconds(), today_);
  }
  std::expected<const ValidEvent*, DeadLetterReason> valid =
      event ? reader_.Validate(**event, today_) : std::unexpected(event.error());
  if (valid &&
      std::string_view(static_cast<const char*>(msg->key), msg->key_len) != (*valid)->child_id) {
    valid = std::unexpected(DeadLetterReason::kKeyMismatch);
  }
  if (!valid) {
    DeadLetter(msg, valid.error());
  } else if (Engine* engine = EngineFor(msg->partition)) {
    const auto applied = engine->Apply(**valid);
    commit_wanted_ = commit_wanted_ || engine->CommitWanted();
    if (!applied) {
      Fail(kExitState, "applying an event of " + topic + " [" + std::to_string(msg->partition) +
                           "]: " + applied.error().message);
      return;
    }
    if (*applied == ApplyOutcome::kApplied) {
      probe_.EventApplied();
    } else {
      probe_.EventStale();
    }
  }
  next_offsets_[{topic, msg->partition}] = msg->offset + 1;
  ++pending_;
}

void Runtime::RollAsOf() {
  today_ = Today();
  bool advanced = false;
  for (auto& [task, engine] : engines_) {
    if (engine->as_of() >= today_) continue;
    if (auto r = engine->AdvanceAsOf(today_); !r) {
      Fail(kExitState, "advancing as_of: " + r.error().message);
      return;
    }
    advanced = true;
  }
  if (advanced) {
    log_->info("as_of is now {}", today_.ToString());
    Commit();
  }
}

void Runtime::Commit() {
  if (failure_) return;
  const auto started = std::chrono::steady_clock::now();
  // 1. Derived state and the changed cells of every task.
  std::unordered_map<uint64_t, Row> changed;  // by packed cell key; the first task's row
  for (auto& [task, engine] : engines_) {
    auto rows = engine->PrepareCommit();
    if (!rows) {
      Fail(kExitState, "task " + std::to_string(task) + ": " + rows.error().message);
      return;
    }
    for (Row& row : *rows) {
      if (row.week <= engine->as_of().WeekStart()) changed.try_emplace(row.cell, std::move(row));
    }
  }
  // 2. The outbox: the global rows (the sum of the tasks' parts: distinct children never span
  //    tasks) and the dead letters of this interval.
  const std::string as_of = today_.ToString();
  std::vector<OutMessage> outbox = std::move(dead_letters_);
  dead_letters_.clear();
  std::vector<Row> totals;
  totals.reserve(changed.size());
  for (auto& [cell, row] : changed) totals.push_back(std::move(row));
  // Packed-key order: deterministic (kpi, week, then dimension by interning order).
  std::sort(totals.begin(), totals.end(),
            [](const Row& x, const Row& y) { return x.cell < y.cell; });
  for (Row& total : totals) {
    total.count = total.base = 0;
    total.revision = 0;
    for (const auto& [task, engine] : engines_) {
      auto part = engine->CommittedCell(total.cell);
      if (!part) {
        Fail(kExitState, "task " + std::to_string(task) + ": " + part.error().message);
        return;
      }
      if (*part) {
        total.count += (*part)->count;
        total.base += (*part)->base;
        total.revision += (*part)->revision;
      }
    }
    OutMessage message{config_.output_topic, RowKey(total), {}, {}};
    message.value =
        config_.output_format == Format::kJson ? RowToJson(total, as_of) : RowToProto(total, as_of);
    outbox.push_back(std::move(message));
  }
  // 3. State changes, consumed offsets and the outbox, in one atomic batch.
  state::WriteBatch batch;
  for (auto& [task, engine] : engines_) {
    state::WriteBatch part = engine->TakeBatch();
    std::move(part.begin(), part.end(), std::back_inserter(batch));
  }
  for (const auto& [tp, offset] : next_offsets_) {
    batch.push_back(
        {keys::OffsetKey(static_cast<uint16_t>(tp.second), tp.first), EncodeOffset(offset)});
  }
  std::vector<std::string> outbox_keys = outbox_.Add(outbox, batch);
  if (auto w = store_->Write(batch); !w) {
    Fail(kExitState, "state commit: " + w.error().message);
    return;
  }
  for (const auto& [tp, offset] : next_offsets_) positions_[tp] = offset;
  next_offsets_.clear();
  pending_ = 0;
  commit_wanted_ = false;
  last_commit_ms_ = clock_.NowMs();
  // 4. Deliver it.
  if (!outbox.empty()) Deliver(std::move(outbox_keys), outbox);
  if (failure_) return;
  // Evictions leave free heap spread over the arenas: after a commit that followed some, give it
  // back to the system, so that the resident set follows state.memory_mb rather than the churn.
  uint64_t evicted = 0;
  for (const auto& [task, engine] : engines_) {
    evicted += engine->stats().children_evicted + engine->stats().cells_evicted;
  }
  if (evicted != evicted_at_trim_) {
    evicted_at_trim_ = evicted;
    malloc_trim(0);
  }
  probe_.Committed(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
      event_unix_ms_, UnixMs(), totals, today_);
  event_unix_ms_.clear();
}

void Runtime::ReportStatus() {
  sinks::StatusReport report;
  for (const auto& [tp, committed] : positions_) {
    int64_t low = 0;
    int64_t high = 0;
    sinks::PartitionStatus p{tp.first, tp.second, -1};
    const auto pending = next_offsets_.find(tp);
    const int64_t position = pending != next_offsets_.end() ? pending->second : committed;
    // Watermarks as last seen by the fetcher: no broker round trip.
    if (rd_kafka_get_watermark_offsets(consumer_, tp.first.c_str(), tp.second, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      p.lag = std::max<int64_t>(0, high - (position >= 0 ? position : low));
    }
    report.partitions.push_back(std::move(p));
  }
  report.state_sst_bytes = store_->TotalSstBytes();
  report.state_live_bytes = store_->EstimatedLiveBytes();
  report.block_cache_usage_bytes = store_->BlockCacheUsage();
  report.block_cache_capacity_bytes = config_.block_cache_mb << 20;
  probe_.Status(std::move(report), SteadyMs());
}

void Runtime::DeliverStored() {
  if (failure_) return;
  auto stored = outbox_.Load(*store_);
  if (!stored) {
    Fail(kExitState, "outbox: " + stored.error().message);
    return;
  }
  if (!stored->keys.empty()) Deliver(std::move(stored->keys), stored->messages);
}

void Runtime::Deliver(std::vector<std::string> delivered, const std::vector<OutMessage>& messages) {
  if (failure_) return;
  for (const OutMessage& m : messages) {
    // librdkafka takes ownership of the headers once the message is queued.
    rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
    for (const auto& [name, value] : m.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    while (true) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(&delivery_failed_), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer_, 10);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(headers);
        Fail(kExitKafka, "produce to " + m.topic + ": " + rd_kafka_err2str(err));
        return;
      }
      break;
    }
  }
  // Wait until all is delivered (the idempotent producer retries through broker faults); a
  // delivery that fails for good leaves the outbox in place for the next start.
  const int64_t deadline = clock_.NowMs() + config_.delivery_timeout_ms;
  while (rd_kafka_outq_len(producer_) > 0 && !delivery_failed_.load()) {
    rd_kafka_flush(producer_, 100);
    if (clock_.NowMs() > deadline) {
      Fail(kExitKafka, "output not delivered within commit.delivery_timeout_ms");
      return;
    }
  }
  if (delivery_failed_.load()) {
    Fail(kExitKafka, "output delivery failed; it is delivered again at the next start");
    return;
  }
  if (auto w = store_->Write(Outbox::Clear(std::move(delivered))); !w) {
    Fail(kExitState, "outbox: " + w.error().message);
  }
}

std::expected<void, Failure> Runtime::Run() {
  log_->info("running: {} input topic(s), output {}, dead letters {}", config_.input_topics.size(),
             config_.output_topic, config_.dlq_topic);
  last_commit_ms_ = clock_.NowMs();
  today_ = Today();
  probe_.Started(UnixMs());
  ReportStatus();
  DeliverStored();  // whatever a crash left in the outbox, before anything new
  while (!stop_.load() && !failure_) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer_, 20);
    if (msg != nullptr) {
      if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Process(msg);
      } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        char fatal[256];
        if (rd_kafka_fatal_error(consumer_, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          Fail(kExitKafka, std::string("kafka consumer: ") + fatal);
        } else {
          log_->warn("consumer: {}", rd_kafka_message_errstr(msg));
        }
      }
      rd_kafka_message_destroy(msg);
    }
    rd_kafka_poll(producer_, 0);
    RollAsOf();
    const bool due = clock_.NowMs() - last_commit_ms_ >= config_.commit_interval_ms;
    if (pending_ >= static_cast<uint64_t>(config_.commit_max_events) || (due && pending_ > 0) ||
        commit_wanted_) {
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
  if (!failure_) Commit();                            // the final commit
  if (!failure_) rd_kafka_consumer_close(consumer_);  // leaves the group
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
