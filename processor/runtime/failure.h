// How `run` ends: an exit code and a message for the log.
#pragma once

#include <string>

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

}  // namespace kpi::runtime
