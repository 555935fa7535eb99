// KafkaSink: kpi-gen's Kafka output. Routes each generated line to its input topic (route.h) and
// produces it with an idempotent producer, paced to `rate` events per second (0: as fast as
// possible), reporting progress to stderr every two seconds.
// Ownership: owns its producer. Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <set>
#include <string>
#include <string_view>

struct rd_kafka_s;

namespace kpi::gen {

struct KafkaSinkOptions {
  std::string bootstrap_servers;
  std::set<std::string> json_topics;  // the rest get protobuf
  double rate = 0;                    // events per second; 0: unpaced
  std::string fallback_topic = "contacts";
};

class KafkaSink {
 public:
  static std::expected<std::unique_ptr<KafkaSink>, std::string> Create(KafkaSinkOptions options);
  ~KafkaSink();
  void Send(std::string_view line);
  // Waits for every delivery; the number of records that failed for good.
  uint64_t Finish(int timeout_ms);
  uint64_t sent() const { return sent_; }

 private:
  explicit KafkaSink(KafkaSinkOptions options) : options_(std::move(options)) {}
  KafkaSinkOptions options_;
  rd_kafka_s* rk_ = nullptr;
  uint64_t sent_ = 0;
  uint64_t failed_ = 0;
  int64_t started_us_ = 0;
  int64_t last_report_us_ = 0;
};

}  // namespace kpi::gen
