// Fuzz target: the configuration loader (YAML text, then KPI_* variables). Properties: it never
// throws or crashes, whatever the text; it either returns a configuration or an error message;
// an accepted configuration parses to the same result when its YAML is given again with the same
// environment (no hidden state).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "processor/runtime/config.h"
#include "tests/fuzz/require.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  // A trailing part after a NUL byte is the environment, one KEY=VALUE per line.
  std::vector<std::string> env;
  if (const size_t nul = yaml.find('\0'); nul != std::string::npos) {
    std::string rest = yaml.substr(nul + 1);
    yaml.resize(nul);
    for (size_t at = 0; at <= rest.size();) {
      const size_t end = rest.find('\n', at);
      env.push_back(rest.substr(at, end == std::string::npos ? std::string::npos : end - at));
      if (end == std::string::npos) break;
      at = end + 1;
    }
  }
  const auto first = kpi::runtime::ParseConfig(yaml, env);
  const auto second = kpi::runtime::ParseConfig(yaml, env);
  kpi::fuzz::Require(first.has_value() == second.has_value(), "parsing is repeatable");
  kpi::fuzz::Require(first || !first.error().empty(), "an error says what is wrong");
  kpi::fuzz::Require(
      !first || (first->kafka == second->kafka && first->input_topics == second->input_topics &&
                 first->max_record_bytes == second->max_record_bytes),
      "the same text gives the same configuration");
  return 0;
}
