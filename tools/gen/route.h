// Routing of generated (or any NDJSON) events to the input topics of
// deploy/kpi-processor.example.yaml: by body kind, keyed by child_id, as protobuf unless the topic
// is listed as JSON. Thread-safety: pure.
#pragma once

#include <set>
#include <string>

namespace kpi::gen {

struct Routed {
  std::string topic;
  std::string key;
  std::string value;
};

// A line that does not decode, or has no kind or child_id, goes to `fallback_topic` unchanged
// with an empty key (the processor dead-letters it).
Routed Route(const std::string& line, const std::set<std::string>& json_topics,
             const std::string& fallback_topic);

}  // namespace kpi::gen
