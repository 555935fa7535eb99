#include "tools/gen/kafka_sink.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "tools/gen/route.h"

namespace kpi::gen {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++*static_cast<uint64_t*>(opaque);
}

}  // namespace

std::expected<std::unique_ptr<KafkaSink>, std::string> KafkaSink::Create(KafkaSinkOptions options) {
  std::unique_ptr<KafkaSink> sink(new KafkaSink(std::move(options)));
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] :
       {std::pair<std::string, std::string>{"bootstrap.servers", sink->options_.bootstrap_servers},
        {"enable.idempotence", "true"},
        {"linger.ms", "10"},
        {"compression.type", "lz4"}}) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(k + ": " + err);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_opaque(conf, &sink->failed_);
  sink->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (sink->rk_ == nullptr) return std::unexpected(std::string("producer: ") + err);
  sink->started_us_ = sink->last_report_us_ = NowUs();
  return sink;
}

KafkaSink::~KafkaSink() {
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

void KafkaSink::Send(std::string_view line) {
  if (options_.rate > 0) {  // the n-th event is due at n / rate seconds
    const auto due =
        started_us_ + static_cast<int64_t>(static_cast<double>(sent_) * 1e6 / options_.rate);
    if (const int64_t wait = due - NowUs(); wait > 0) {
      rd_kafka_poll(rk_, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(wait));
    }
  }
  const Routed r = Route(std::string(line), options_.json_topics, options_.fallback_topic);
  while (true) {
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk_, 10);
      continue;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) ++failed_;
    break;
  }
  ++sent_;
  rd_kafka_poll(rk_, 0);
  if (const int64_t now = NowUs(); now - last_report_us_ >= 2'000'000) {
    last_report_us_ = now;
    std::fprintf(stderr, "kpi-gen: %llu events sent (%.0f/s)\n",
                 static_cast<unsigned long long>(sent_),
                 static_cast<double>(sent_) * 1e6 / static_cast<double>(now - started_us_));
  }
}

uint64_t KafkaSink::Finish(int timeout_ms) {
  if (rd_kafka_flush(rk_, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failed_ += static_cast<uint64_t>(rd_kafka_outq_len(rk_));
  }
  return failed_;
}

}  // namespace kpi::gen
