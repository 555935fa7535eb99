// WebConfig: how the HTTP endpoints (/metrics, /kpi) are secured, read from a web configuration
// file in the format of the Prometheus exporters (prometheus/exporter-toolkit,
// `--web.config.file`), so that the files, the tools that write them and the scrape configurations
// that match them carry over:
//
//   tls_server_config:
//     cert_file: server.crt            # PEM; may hold the chain after the certificate
//     key_file: server.key             # PEM
//     min_version: TLS12               # TLS10, TLS11, TLS12 (default), TLS13
//     max_version: TLS13               # default: the newest the library offers
//     client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default)
//     client_ca_file: clients-ca.crt   # required with RequireAndVerifyClientCert
//   basic_auth_users:
//     prometheus: $2y$10$...           # bcrypt (htpasswd -nBC 10 prometheus)
//
// Relative paths are taken from the web configuration file's folder. Keys the exporters know but
// this server does not implement (cipher_suites, http_server_config, ...) are errors, as unknown
// keys are: a setting that would be silently ignored is worse than a refusal.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <expected>
#include <map>
#include <optional>
#include <string>

namespace kpi::sinks {

// TLS protocol versions, in order.
enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

struct TlsServerConfig {
  std::string cert_file;  // absolute
  std::string key_file;   // absolute
  TlsVersion min_version = TlsVersion::kTls12;
  std::optional<TlsVersion> max_version;
  std::string client_ca_file;  // absolute; non-empty: clients must present a certificate it signs
};

struct WebConfig {
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user name -> bcrypt hash
};

// Parses the text of a web configuration file; relative paths are resolved against `base_dir`.
// Errors name the key and say what is wrong; they never repeat a password hash.
std::expected<WebConfig, std::string> ParseWebConfig(const std::string& yaml,
                                                     const std::string& base_dir);
std::expected<WebConfig, std::string> LoadWebConfig(const std::string& path);

}  // namespace kpi::sinks
