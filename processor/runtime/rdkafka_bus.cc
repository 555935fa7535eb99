#include "processor/runtime/rdkafka_bus.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>

#include "processor/runtime/clock.h"

namespace kpi::runtime {
namespace {

// rd_kafka_seek_partitions() before librdkafka 2.1.0 (Debian 12 ships 2.0.2) waits its timeout
// in microseconds, not milliseconds (confluentinc/librdkafka#4230): asked for 10 s, it gave up
// after 10 ms on a loaded machine and the instance exited. Ask those versions for a thousand
// times more, so that every version waits `ms`.
int SeekTimeoutMs(int ms) { return rd_kafka_version() < 0x02010000 ? ms * 1000 : ms; }

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

// Which client a kafka.* property is for. `consumer.X` and `producer.X` name one explicitly;
// librdkafka's consumer- and producer-only properties go to that client only (so that neither
// warns about the other's); everything else (brokers, TLS, SASL, client.id ...) goes to both.
enum class Client { kBoth, kConsumer, kProducer };
std::pair<Client, std::string> Scope(const std::string& key) {
  if (key.starts_with("consumer.")) return {Client::kConsumer, key.substr(9)};
  if (key.starts_with("producer.")) return {Client::kProducer, key.substr(9)};
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

// A broker's refusal of this process's credentials or TLS handshake, seen in librdkafka's log
// (its error callback is served only by polls, and a metadata request that fails for this reason
// says no more than "transport failure"). One per process: every client has the same settings.
struct Refusal {
  std::atomic<bool> set{false};
  std::mutex mu;
  std::string text;
};
Refusal& TheRefusal() {
  static Refusal refusal;
  return refusal;
}

// What to check when the brokers refuse the client. librdkafka before 2.6.1 computes a SCRAM
// proof that Kafka 4.0 and later reject (confluentinc/librdkafka#4895): the same credentials work
// from a newer client, so that is said too.
std::string RefusalAdvice(std::string_view failure, const std::string& mechanism) {
  if (failure.find("SSL") != std::string_view::npos &&
      failure.find("SASL") == std::string_view::npos) {
    return "the TLS handshake with the brokers failed: check kafka.security.protocol, "
           "kafka.ssl.ca.location and the brokers' certificates";
  }
  std::string advice =
      "the brokers refused this client's credentials: check kafka.sasl.mechanism, "
      "kafka.sasl.username and kafka.sasl.password (or kafka.sasl.password.file, "
      "KPI_KAFKA_SASL_PASSWORD, KPI_KAFKA_SASL_PASSWORD_FILE)";
  if (mechanism.starts_with("SCRAM") && rd_kafka_version() < 0x020601ff) {
    advice += std::string("; this librdkafka (") + rd_kafka_version_str() +
              ") cannot authenticate with SCRAM to Kafka 4.0 or later brokers "
              "(confluentinc/librdkafka#4895, fixed in 2.6.1)";
  }
  return advice;
}

bool IsRefusal(std::string_view fac, std::string_view text) {
  return fac == "FAIL" && (text.find("SASL authentication error") != std::string_view::npos ||
                           text.find("SSL handshake failed") != std::string_view::npos ||
                           text.find("certificate verify failed") != std::string_view::npos);
}

// librdkafka logs from its own threads to the "kafka" logger that main registers.
void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  if (IsRefusal(fac, buf) && !TheRefusal().set.load()) {
    Refusal& r = TheRefusal();
    const std::lock_guard lock(r.mu);
    r.text = buf;  // the broker's address and librdkafka's reason; no secret
    r.set.store(true);
  }
  const std::shared_ptr<spdlog::logger> log = spdlog::get("kafka");
  if (log == nullptr) return;
  const auto lvl = level <= 3   ? spdlog::level::err
                   : level <= 5 ? spdlog::level::warn
                                : spdlog::level::debug;
  log->log(lvl, "librdkafka {}: {}", fac, buf);  // broker and protocol text, no record content
}

void Warn(const std::string& text) {
  if (const std::shared_ptr<spdlog::logger> log = spdlog::get("kafka")) log->warn("{}", text);
}

// Fills `r` from `msg` (views into it); headers only when asked.
void View(const rd_kafka_message_t* msg, bool with_headers, InRecord& r) {
  r.topic = rd_kafka_topic_name(msg->rkt);
  r.partition = msg->partition;
  r.offset = msg->offset;
  r.key = msg->key != nullptr ? std::string_view(static_cast<const char*>(msg->key), msg->key_len)
                              : std::string_view();
  r.value = msg->payload != nullptr
                ? std::string_view(static_cast<const char*>(msg->payload), msg->len)
                : std::string_view();
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
  r.timestamp_ms = ts_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? std::optional(ts) : std::nullopt;
  r.headers.clear();
  rd_kafka_headers_t* headers = nullptr;
  if (with_headers && rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(name, value != nullptr
                                       ? std::string_view(static_cast<const char*>(value), size)
                                       : std::string_view());
    }
  }
}

// A consumer's poll: one message held until the next call. Errors other than end-of-partition
// are warnings unless the client reports a fatal error.
class Polled {
 public:
  ~Polled() { Release(); }
  void Release() {
    if (msg_ != nullptr) rd_kafka_message_destroy(msg_);
    msg_ = nullptr;
  }
  std::expected<std::optional<InRecord>, std::string> Poll(rd_kafka_t* rk, int timeout_ms,
                                                           bool with_headers, const char* client) {
    Release();
    msg_ = rd_kafka_consumer_poll(rk, timeout_ms);
    if (msg_ == nullptr) return std::nullopt;
    if (msg_->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      View(msg_, with_headers, record_);
      return record_;
    }
    if (msg_->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      char fatal[256];
      if (rd_kafka_fatal_error(rk, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::unexpected(std::string("kafka ") + client + ": " + fatal);
      }
      Warn(std::string(client) + ": " + rd_kafka_message_errstr(msg_));
    }
    return std::nullopt;
  }

 private:
  rd_kafka_message_t* msg_ = nullptr;
  InRecord record_;
};

rd_kafka_topic_partition_list_t* List(const std::vector<TopicPartition>& parts) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
  for (const TopicPartition& tp : parts) {
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
  }
  return list;
}

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<TopicPartition> out;
  for (int i = 0; i < parts->cnt; ++i)
    out.push_back({parts->elems[i].topic, parts->elems[i].partition});
  return out;
}

class RdSource final : public Source {
 public:
  ~RdSource() override {
    polled_.Release();
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  void Attach(rd_kafka_t* rk) {
    rk_ = rk;
    rd_kafka_poll_set_consumer(rk_);
  }
  static void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<RdSource*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      std::vector<std::pair<TopicPartition, int64_t>> assigned;
      for (const TopicPartition& tp : ToVector(parts)) assigned.emplace_back(tp, kOffsetBeginning);
      // Pauses asked for during OnAssign apply once the partitions are assigned.
      self->in_assign_ = true;
      if (self->listener_ != nullptr) self->listener_->OnAssign(assigned);
      self->in_assign_ = false;
      for (int i = 0; i < parts->cnt; ++i) parts->elems[i].offset = assigned[i].second;
      rd_kafka_assign(rk, parts);
      // A new assignment starts unpaused (as the memory bus's does), whatever an earlier
      // assignment of the same partitions paused; then the pauses asked for in OnAssign.
      rd_kafka_resume_partitions(rk, parts);
      if (!self->pending_pause_.empty()) {
        self->Pause(self->pending_pause_);
        self->pending_pause_.clear();
      }
    } else {
      const bool lost = rd_kafka_assignment_lost(rk) != 0;
      if (self->listener_ != nullptr) self->listener_->OnRevoke(ToVector(parts), lost);
      rd_kafka_assign(rk, nullptr);
    }
  }
  std::expected<std::optional<InRecord>, std::string> Poll(int timeout_ms,
                                                           Listener& listener) override {
    listener_ = &listener;
    auto r = polled_.Poll(rk_, timeout_ms, false, "consumer");
    listener_ = nullptr;
    return r;
  }
  std::optional<std::pair<int64_t, int64_t>> CachedWatermarks(const TopicPartition& tp) override {
    int64_t low = 0;
    int64_t high = 0;
    if (rd_kafka_get_watermark_offsets(rk_, tp.topic.c_str(), tp.partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      return std::nullopt;
    }
    return std::pair(low, high);
  }
  void Pause(const std::vector<TopicPartition>& parts) override {
    if (in_assign_) {
      pending_pause_.insert(pending_pause_.end(), parts.begin(), parts.end());
      return;
    }
    rd_kafka_topic_partition_list_t* list = List(parts);
    rd_kafka_pause_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
  }
  std::expected<void, std::string> Resume(
      const std::vector<std::pair<TopicPartition, int64_t>>& parts) override {
    std::vector<TopicPartition> tps;
    for (const auto& [tp, offset] : parts) tps.push_back(tp);
    rd_kafka_topic_partition_list_t* list = List(tps);
    for (int i = 0; i < list->cnt; ++i)
      list->elems[i].offset = parts[static_cast<size_t>(i)].second;
    rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_, list, SeekTimeoutMs(10000));
    std::string message;
    if (error != nullptr) {
      message = std::string("seek: ") + rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
    }
    for (int i = 0; message.empty() && i < list->cnt; ++i) {
      if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        message = std::string("seek ") + list->elems[i].topic + ": " +
                  rd_kafka_err2str(list->elems[i].err);
      }
    }
    if (message.empty()) rd_kafka_resume_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (!message.empty()) return std::unexpected(message);
    return {};
  }
  void Close() override {
    polled_.Release();
    rd_kafka_consumer_close(rk_);
  }
  std::optional<std::string> Refused() const override {
    Refusal& r = TheRefusal();
    if (!r.set.load()) return std::nullopt;
    const std::lock_guard lock(r.mu);
    return RefusalAdvice(r.text, mechanism_) + " (" + r.text + ")";
  }
  void SetMechanism(std::string mechanism) { mechanism_ = std::move(mechanism); }

 private:
  std::string mechanism_;  // kafka.sasl.mechanism(s), for the advice on a refusal
  rd_kafka_t* rk_ = nullptr;
  Listener* listener_ = nullptr;
  bool in_assign_ = false;
  std::vector<TopicPartition> pending_pause_;
  Polled polled_;
};

class RdProducer final : public Producer {
 public:
  ~RdProducer() override {
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  void Attach(rd_kafka_t* rk) { rk_ = rk; }
  // The message's opaque is its number since the producer was made, plus one; reports_ holds those
  // from base_ on.
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    auto* self = static_cast<RdProducer*>(opaque);
    const auto number = reinterpret_cast<uintptr_t>(msg->_private);
    if (number <= self->base_ || number - self->base_ > self->reports_.size()) return;
    const size_t index = number - self->base_;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->failed_ = rd_kafka_err2str(msg->err);
      return;
    }
    Delivered& d = self->reports_[index - 1];
    d.tp = {rd_kafka_topic_name(msg->rkt), msg->partition};
    d.offset = msg->offset;
    ++self->delivered_;
  }
  std::expected<void, std::string> Produce(const OutMessage& m, int32_t partition) override {
    // librdkafka takes ownership of the headers once the message is queued.
    rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
    for (const auto& [name, value] : m.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    reports_.push_back({});
    const auto opaque = reinterpret_cast<void*>(static_cast<uintptr_t>(base_ + reports_.size()));
    while (true) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(m.topic.c_str()),
          RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
          RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(m.tombstone ? nullptr : const_cast<char*>(m.value.data()),
                           m.tombstone ? 0 : m.value.size()),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 10);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(headers);
        reports_.pop_back();
        return std::unexpected("produce to " + m.topic + ": " + rd_kafka_err2str(err));
      }
      return {};
    }
  }
  std::expected<std::vector<Delivered>, std::string> Flush(int64_t timeout_ms) override {
    // The idempotent producer retries through broker faults; a delivery that fails for good
    // fails the flush.
    const int64_t start = SteadyMs();
    const int64_t deadline = start + timeout_ms;
    int64_t next_report = start + 1000;  // a commit's ordinary wait is silent
    int64_t next_log = start + 1000;
    bool waited = false;
    while (delivered_ < reports_.size() && failed_.empty()) {
      rd_kafka_flush(rk_, 100);
      const int64_t now = SteadyMs();
      if (delivered_ < reports_.size() && now >= next_report) {
        // The cluster is not taking the writes (leaders moving, too few in-sync replicas, every
        // broker away): say what the commit waits for, as a metric and, every 10 s, a log line.
        const size_t pending = reports_.size() - delivered_;
        if (observer_) observer_(pending, now - start);
        waited = true;
        next_report = now + 1000;
        if (now >= next_log) {
          Warn("commit waits for the cluster to acknowledge " + std::to_string(pending) + " of " +
               std::to_string(reports_.size()) + " output message(s), for " +
               std::to_string((now - start) / 1000) +
               " s so far; it gives up at commit.delivery_timeout_ms (" +
               std::to_string(timeout_ms / 1000) +
               " s) and exits 4 (librdkafka's reasons are logged above)");
          next_log = now + 10000;
        }
      }
      if (delivered_ < reports_.size() && now > deadline) {
        if (observer_) observer_(0, 0);
        Reset();
        return std::unexpected("output not delivered within commit.delivery_timeout_ms");
      }
    }
    if (waited && observer_) observer_(0, 0);
    if (!failed_.empty()) {
      const std::string reason = failed_;
      Reset();
      return std::unexpected("output delivery failed: " + reason);
    }
    std::vector<Delivered> out = reports_;
    Reset();
    return out;
  }
  void Poll() override { rd_kafka_poll(rk_, 0); }
  void ObserveWaits(WaitObserver observer) override { observer_ = std::move(observer); }

 private:
  // After a failed flush the outcome of queued messages is unknown; later reports for them are
  // ignored.
  void Reset() {
    base_ += reports_.size();
    reports_.clear();
    delivered_ = 0;
    failed_.clear();
  }
  rd_kafka_t* rk_ = nullptr;
  std::vector<Delivered> reports_;
  uintptr_t base_ = 0;
  size_t delivered_ = 0;
  std::string failed_;
  WaitObserver observer_;
};

class RdReader final : public PartitionReader {
 public:
  ~RdReader() override {
    polled_.Release();
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  void Attach(rd_kafka_t* rk) {
    rk_ = rk;
    rd_kafka_poll_set_consumer(rk_);
  }
  std::expected<int32_t, std::string> PartitionCount(const std::string& topic,
                                                     int timeout_ms) override {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, t, &md, timeout_ms);
    rd_kafka_topic_destroy(t);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected("metadata of " + topic + ": " + rd_kafka_err2str(err));
    }
    int32_t count = -1;
    std::string error;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = md->topics[0].partition_cnt;
    } else if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      count = 0;
    } else if (md->topic_cnt == 1) {
      error = rd_kafka_err2str(md->topics[0].err);
    }
    rd_kafka_metadata_destroy(md);
    if (count < 0) return std::unexpected("metadata of " + topic + ": " + error);
    return count;
  }
  std::expected<std::pair<int64_t, int64_t>, std::string> Watermarks(const TopicPartition& tp,
                                                                     int timeout_ms) override {
    int64_t low = 0;
    int64_t high = 0;
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk_, tp.topic.c_str(), tp.partition, &low, &high, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected("watermarks of " + tp.topic + " [" + std::to_string(tp.partition) +
                             "]: " + rd_kafka_err2str(err));
    }
    return std::pair(low, high);
  }
  std::expected<void, std::string> Assign(
      const std::vector<std::pair<TopicPartition, int64_t>>& parts) override {
    polled_.Release();
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
    for (const auto& [tp, offset] : parts) {
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = offset;
    }
    const rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(std::string("reader assign: ") + rd_kafka_err2str(err));
    }
    return {};
  }
  std::expected<std::optional<InRecord>, std::string> Poll(int timeout_ms) override {
    return polled_.Poll(rk_, timeout_ms, true, "reader");
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  Polled polled_;
};

}  // namespace

std::expected<Bus, std::string> OpenRdKafkaBus(const std::map<std::string, std::string>& kafka,
                                               const std::vector<std::string>& topics,
                                               bool scaled) {
  std::string error;
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  rd_kafka_conf_t* cconf = rd_kafka_conf_new();
  bool ok = true;
  std::set<std::string> given_producer;
  std::set<std::string> given_consumer;
  for (const auto& [key, v] : kafka) {
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
  // Consumer: offsets live in the state store, so Kafka's own commits are off. The eager range
  // assignor keeps partition p of every input topic with one member (co-partitioning).
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
    return std::unexpected(error);
  }
  rd_kafka_conf_set_log_cb(pconf, LogCallback);
  rd_kafka_conf_set_log_cb(cconf, LogCallback);
  // The reader: the consumer's settings with a group of its own, which it never joins
  // (librdkafka's assign() needs a group.id; only subscribe() joins, and nothing is committed).
  rd_kafka_conf_t* rconf = rd_kafka_conf_dup(cconf);
  {
    char group[512];
    size_t size = sizeof group;
    const bool has_group =
        rd_kafka_conf_get(cconf, "group.id", group, &size) == RD_KAFKA_CONF_OK && group[0] != 0;
    SetConf(rconf, "group.id", std::string(has_group ? group : "kpi-processor") + ".reader", error);
  }
  rd_kafka_conf_set_dr_msg_cb(pconf, RdProducer::OnDelivery);
  rd_kafka_conf_set_rebalance_cb(cconf, RdSource::Rebalance);
  // Each client's opaque is its wrapper, set before the handle starts its threads.
  Bus bus;
  auto rd_producer = std::make_unique<RdProducer>();
  auto source = std::make_unique<RdSource>();
  rd_kafka_conf_set_opaque(pconf, rd_producer.get());
  rd_kafka_conf_set_opaque(cconf, source.get());
  char errstr[512];
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
  if (producer == nullptr) {
    rd_kafka_conf_destroy(cconf);
    rd_kafka_conf_destroy(rconf);
    return std::unexpected(std::string("kafka producer: ") + errstr);
  }
  rd_producer->Attach(producer);
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
  if (consumer == nullptr) {
    rd_kafka_conf_destroy(rconf);
    return std::unexpected(std::string("kafka consumer: ") + errstr);
  }
  source->Attach(consumer);
  for (const char* key : {"sasl.mechanism", "sasl.mechanisms"}) {
    if (const auto it = kafka.find(key); it != kafka.end()) source->SetMechanism(it->second);
  }
  // Each reader is a client of its own (its own assignment).
  const auto new_reader =
      [&](std::unique_ptr<PartitionReader>& out) -> std::expected<void, std::string> {
    auto r = std::make_unique<RdReader>();
    rd_kafka_conf_t* conf = rd_kafka_conf_dup(rconf);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(std::string("kafka reader: ") + errstr);
    }
    r->Attach(rk);
    out = std::move(r);
    return {};
  };
  std::expected<void, std::string> made = new_reader(bus.reader);
  if (made && scaled) made = new_reader(bus.restore_reader);
  if (made && scaled) made = new_reader(bus.global_reader);
  rd_kafka_conf_destroy(rconf);
  if (!made) return std::unexpected(made.error());
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const std::string& t : topics) {
    rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected(std::string("subscribe: ") + rd_kafka_err2str(err));
  }
  bus.source = std::move(source);
  bus.producer = std::move(rd_producer);
  if (const std::shared_ptr<spdlog::logger> log = spdlog::get("kafka")) {
    const auto setting = [&](const char* key, const char* fallback) {
      const auto it = kafka.find(key);
      return it == kafka.end() ? std::string(fallback) : it->second;
    };
    log->info("librdkafka {}, security.protocol {}, sasl.mechanism {}", rd_kafka_version_str(),
              setting("security.protocol", "plaintext"),
              setting("sasl.mechanism", setting("sasl.mechanisms", "none").c_str()));
  }
  return bus;
}

}  // namespace kpi::runtime
