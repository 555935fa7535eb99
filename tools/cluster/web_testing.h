// Test helpers for the secured endpoints: a throwaway PKI made with the openssl command, bcrypt
// hashes, and curl run as a separate process (the client operators use).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace kpi::testing {

// Files under `dir`: ca.crt, ca.key (a CA), server.crt, server.key (for 127.0.0.1 and localhost,
// signed by the CA), client.crt, client.key (signed by the CA), other-ca.crt, other.crt,
// other.key (a client of another CA). False when the openssl command fails.
bool MakeTestPki(const std::filesystem::path& dir);

// Standard base64 with padding (what an Authorization: Basic header carries).
std::string EncodeBase64(std::string_view bytes);

// A bcrypt hash of `password` ($2y$, as htpasswd -B writes), at the given cost.
std::string BcryptHash(const std::string& password, int cost = 4);

struct CurlResult {
  int exit_code = -1;  // curl's: 0 for any HTTP answer; 35, 56, 60 ... for TLS failures
  int status = 0;      // the HTTP status, 0 without one
  std::string headers;
  std::string body;
};
// Runs curl with `args` (each passed as one argument) and the URL, silently, within 20 s.
CurlResult Curl(const std::vector<std::string>& args, const std::string& url,
                const std::filesystem::path& scratch);

}  // namespace kpi::testing
