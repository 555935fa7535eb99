#include "sinks/web/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdlib>
#include <memory>

namespace kpi::sinks {
namespace {

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// bcrypt of `password` with the salt and cost of `hash`, compared with `hash` in constant time.
bool BcryptMatches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();  // about 32 KiB: not on a server thread's stack
  const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  return out != nullptr && std::string_view(out).size() == hash.size() &&
         CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
}

}  // namespace

std::expected<std::string, std::string> HashPassword(const std::string& password, int cost) {
  if (cost < 4 || cost > 31) return std::unexpected("the cost must be from 4 to 31");
  if (password.find('\0') != std::string::npos) {
    return std::unexpected("a password cannot hold a NUL byte");
  }
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2y$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                       sizeof setting) == nullptr) {
    return std::unexpected("cannot make a bcrypt salt");
  }
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(password.c_str(), setting, data.get(), sizeof(crypt_data));
  if (out == nullptr || out[0] == '*') return std::unexpected("bcrypt failed");
  return std::string(out);
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      v[j] = Base64Value(c);
      if (pad > 0 || v[j] < 0) {
        return std::nullopt;  // a character outside the alphabet, or data after padding
      }
    }
    const uint32_t bits =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    // Bits under the padding must be zero (RFC 4648 3.5): one spelling per byte string.
    if ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0)) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(bits >> 16));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {
  // The decoy has the cost of the users' hashes (the first one's; "$2y$10$...": cost 10).
  int cost = 10;
  if (!users_.empty()) {
    cost = static_cast<int>(std::strtol(users_.begin()->second.c_str() + 4, nullptr, 10));
  }
  decoy_ = HashPassword("", cost).value_or("");
}

bool BasicAuth::Allows(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Basic ";
  if (authorization.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {  // the scheme is case-insensitive
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  std::string_view encoded = authorization.substr(kScheme.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  const std::optional<std::string> decoded = DecodeBase64(encoded);
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  if (password.find('\0') != std::string::npos) return false;  // crypt reads up to a NUL

  const auto it = users_.find(user);
  const std::string& hash = it == users_.end() ? decoy_ : it->second;
  // The cache key binds the user, the hash it has now and the password.
  Digest digest{};
  std::string material = user;
  material.push_back('\0');
  material += hash;
  material.push_back('\0');
  material += password;
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
      1) {
    return false;
  }
  OPENSSL_cleanse(material.data(), material.size());
  {
    const std::lock_guard lock(mutex_);
    if (it != users_.end() && accepted_.contains(digest)) return true;
  }
  const bool ok = BcryptMatches(password, hash) && it != users_.end();
  if (ok) {
    const std::lock_guard lock(mutex_);
    if (accepted_.size() >= kMaxCached) accepted_.clear();
    accepted_.insert(digest);
  }
  return ok;
}

}  // namespace kpi::sinks
