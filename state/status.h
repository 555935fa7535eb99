// Error values for state access. NotFound is not an error here: reads return an empty optional
// for an absent key, and a Status always means the read or write itself failed.
// Thread-safety: value type.
#pragma once

#include <string>
#include <utility>

namespace kpi::state {

enum class ErrorCode { kIoError, kCorruption, kInvalidArgument };

struct Error {
  ErrorCode code;
  std::string message;  // never carries keys or values (they hold child identifiers)
};

inline Error IoError(std::string message) { return {ErrorCode::kIoError, std::move(message)}; }
inline Error Corruption(std::string message) {
  return {ErrorCode::kCorruption, std::move(message)};
}

}  // namespace kpi::state
