// BasicAuth: HTTP basic authentication (RFC 7617) against bcrypt-hashed passwords, as the
// Prometheus exporters check `basic_auth_users`.
//
// bcrypt is slow on purpose (cost 10 is tens of milliseconds), so a request with credentials
// that were accepted before is answered from a small cache of their SHA-256 digests (never the
// passwords themselves) instead of hashing again, as the exporters do. A user that does not exist
// costs one bcrypt all the same, so response times do not tell which user names exist.
//
// Thread-safety: Allows() may be called from several threads (the cache has its own lock).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace kpi::sinks {

// A bcrypt hash of `password` ($2y$, as htpasswd -B writes) at `cost` (4 to 31; each step
// doubles the time), with a random salt. Errors say why (a NUL in the password, a bad cost).
std::expected<std::string, std::string> HashPassword(const std::string& password, int cost);

// Decodes standard base64 with padding; nullopt for anything else.
std::optional<std::string> DecodeBase64(std::string_view text);

class BasicAuth {
 public:
  // `users`: user name -> bcrypt hash (checked by ParseWebConfig).
  explicit BasicAuth(std::map<std::string, std::string> users);

  // True when `authorization` (the Authorization header, or empty when absent) holds the
  // credentials of a user. Anything malformed is a refusal.
  bool Allows(std::string_view authorization) const;

  // The WWW-Authenticate value of a 401.
  static constexpr std::string_view kChallenge = R"(Basic realm="kpi-processor", charset="UTF-8")";

 private:
  using Digest = std::array<uint8_t, 32>;
  static constexpr size_t kMaxCached = 1024;

  std::map<std::string, std::string> users_;
  std::string decoy_;  // a bcrypt hash of the empty password, checked for unknown users
  mutable std::mutex mutex_;
  mutable std::set<Digest> accepted_;  // SHA-256 of user, hash and password, for each success
};

}  // namespace kpi::sinks
