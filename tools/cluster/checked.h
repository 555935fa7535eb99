// Test helper: the value of a std::expected, or an exception naming what failed and why, so that
// a test whose setup fails reports a failure (gtest catches it) instead of crashing on a
// dereference of an empty result.
#pragma once

#include <expected>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace kpi::testing {

namespace checked_detail {
inline std::string Text(const std::string& e) { return e; }
template <typename E>
std::string Text(const E& e) {
  if constexpr (requires { e.message; }) {
    return std::string(e.message);
  } else {
    return "an error";
  }
}
}  // namespace checked_detail

template <typename T, typename E>
T Checked(std::expected<T, E> result, std::string_view what) {
  if (!result) {
    throw std::runtime_error(std::string(what) +
                             " failed: " + checked_detail::Text(result.error()));
  }
  return std::move(*result);
}

template <typename E>
void Checked(const std::expected<void, E>& result, std::string_view what) {
  if (!result) {
    throw std::runtime_error(std::string(what) +
                             " failed: " + checked_detail::Text(result.error()));
  }
}

}  // namespace kpi::testing
