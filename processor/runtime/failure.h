// How `run` ends: an exit code and a message for the log.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace kpi::runtime {

// Exit codes: the supervisor restarts on anything but 0 and kExitConfig.
inline constexpr int kExitOk = 0;
inline constexpr int kExitConfig = 2;
inline constexpr int kExitState = 3;  // store unreadable or corrupt
inline constexpr int kExitKafka = 4;  // fatal client error, output not delivered
// Scaled out: another instance claimed a task of ours (this one was paused or cut off past the
// session timeout); nothing more was published for it. A restart rejoins the group.
inline constexpr int kExitFenced = 5;

struct Failure {
  int exit_code;
  std::string message;  // names settings, topics, partitions; never record content
};

// The first failure of a run, kept: a later one is a consequence. A Kafka failure whose cause is a
// broker refusing our credentials or TLS (`refused` says so) is a configuration error: it is kept
// as that, so that the supervisor does not restart into the same refusal.
class FailureLatch {
 public:
  explicit FailureLatch(std::function<std::optional<std::string>()> refused)
      : refused_(std::move(refused)) {}
  void Fail(int exit_code, std::string message) {
    if (failure_) return;
    if (exit_code == kExitKafka && refused_) {
      if (std::optional<std::string> refused = refused_()) {
        failure_ = Failure{kExitConfig, std::move(*refused)};
        return;
      }
    }
    failure_ = Failure{exit_code, std::move(message)};
  }
  void Fail(Failure failure) { Fail(failure.exit_code, std::move(failure.message)); }
  bool failed() const { return failure_.has_value(); }
  const std::optional<Failure>& failure() const { return failure_; }

 private:
  std::function<std::optional<std::string>()> refused_;
  std::optional<Failure> failure_;
};

}  // namespace kpi::runtime
