// Fuzz target: the secured endpoints' inputs from outside. The text before the first NUL byte is
// a web configuration file; the text after it an Authorization header. Properties: the parser
// never throws or crashes and either accepts or says what is wrong; what it accepts holds only
// bcrypt hashes and absolute paths; base64 that decodes encodes back to the same text; a header
// is allowed only when it carries the one user's password.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sinks/web/basic_auth.h"
#include "sinks/web/web_config.h"
#include "tests/fuzz/require.h"
#include "tools/cluster/web_testing.h"

namespace {

// One user, "fuzz", whose password is "pw" (bcrypt cost 4: fast enough to fuzz).
const kpi::sinks::BasicAuth& Auth() {
  static const kpi::sinks::BasicAuth auth(
      {{"fuzz", kpi::sinks::HashPassword("pw", 4).value_or("")}});
  return auth;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  std::string header;
  if (const size_t nul = yaml.find('\0'); nul != std::string::npos) {
    header = yaml.substr(nul + 1);
    yaml.resize(nul);
  }
  const auto web = kpi::sinks::ParseWebConfig(yaml, "/etc/kpi");
  kpi::fuzz::Require(web || !web.error().empty(), "an error says what is wrong");
  if (web) {
    for (const auto& [user, hash] : web->basic_auth_users) {
      kpi::fuzz::Require(hash.size() == 60 && hash.starts_with("$2"), "only bcrypt hashes");
      kpi::fuzz::Require(!user.empty() && user.find(':') == std::string::npos, "a usable name");
    }
    if (web->tls) {
      kpi::fuzz::Require(
          web->tls->cert_file.starts_with("/") && web->tls->key_file.starts_with("/"),
          "paths resolved against the file's folder");
    }
  }

  const auto decoded = kpi::sinks::DecodeBase64(header);
  kpi::fuzz::Require(!decoded || kpi::testing::EncodeBase64(*decoded) == header,
                     "base64 has one spelling");
  const bool allowed = Auth().Allows(header);
  // Allowed means: the Basic scheme (any case), spaces around, and exactly fuzz:pw.
  std::string_view token = header;
  if (allowed) {
    token.remove_prefix(6);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    kpi::fuzz::Require(kpi::sinks::DecodeBase64(token) == std::optional<std::string>("fuzz:pw"),
                       "only the user's password is allowed");
  }
  return 0;
}
