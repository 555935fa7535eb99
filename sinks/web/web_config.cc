#include "sinks/web/web_config.h"

#include <crypt.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kpi::sinks {
namespace {

namespace fs = std::filesystem;

std::optional<TlsVersion> ParseVersion(const std::string& text) {
  if (text == "TLS10") return TlsVersion::kTls10;
  if (text == "TLS11") return TlsVersion::kTls11;
  if (text == "TLS12") return TlsVersion::kTls12;
  if (text == "TLS13") return TlsVersion::kTls13;
  return std::nullopt;
}

// A scalar's text; an error naming `name` for anything else.
std::expected<std::string, std::string> Scalar(const YAML::Node& node, const std::string& name) {
  if (!node.IsScalar()) return std::unexpected(name + ": expected a value");
  return node.as<std::string>();
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

std::expected<TlsServerConfig, std::string> ParseTls(const YAML::Node& node,
                                                     const std::string& base_dir) {
  if (!node.IsMap()) return std::unexpected("tls_server_config: expected a mapping");
  TlsServerConfig tls;
  std::string client_auth = "NoClientCert";
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    const std::string name = "tls_server_config." + key;
    auto value = Scalar(item.second, name);
    if (!value) return std::unexpected(value.error());
    if (key == "cert_file") {
      tls.cert_file = Resolve(*value, base_dir);
    } else if (key == "key_file") {
      tls.key_file = Resolve(*value, base_dir);
    } else if (key == "client_ca_file") {
      tls.client_ca_file = Resolve(*value, base_dir);
    } else if (key == "client_auth_type") {
      client_auth = *value;
    } else if (key == "min_version" || key == "max_version") {
      const std::optional<TlsVersion> v = ParseVersion(*value);
      if (!v) return std::unexpected(name + ": expected TLS10, TLS11, TLS12 or TLS13");
      if (key == "min_version") {
        tls.min_version = *v;
      } else {
        tls.max_version = v;
      }
    } else {
      return std::unexpected(name + ": not supported (supported: cert_file, key_file, " +
                             "min_version, max_version, client_auth_type, client_ca_file)");
    }
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return std::unexpected("tls_server_config: cert_file and key_file are both required");
  }
  if (tls.max_version && *tls.max_version < tls.min_version) {
    return std::unexpected("tls_server_config: max_version is below min_version");
  }
  if (client_auth == "RequireAndVerifyClientCert") {
    if (tls.client_ca_file.empty()) {
      return std::unexpected(
          "tls_server_config.client_ca_file: required with RequireAndVerifyClientCert");
    }
  } else if (client_auth == "NoClientCert") {
    if (!tls.client_ca_file.empty()) {
      return std::unexpected(
          "tls_server_config.client_ca_file: needs client_auth_type RequireAndVerifyClientCert");
    }
  } else {
    return std::unexpected(
        "tls_server_config.client_auth_type: expected NoClientCert or RequireAndVerifyClientCert");
  }
  return tls;
}

// A bcrypt hash, as htpasswd -B and the exporters write them ($2a$, $2b$ or $2y$).
bool IsBcrypt(const std::string& hash) {
  return hash.size() == 60 &&
         (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) &&
         crypt_checksalt(hash.c_str()) == CRYPT_SALT_OK;
}

std::expected<WebConfig, std::string> ParseDocument(const YAML::Node& root,
                                                    const std::string& base_dir) {
  WebConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) return std::unexpected("expected a mapping at the top");
  for (const auto& item : root) {
    const auto key = item.first.as<std::string>();
    if (key == "tls_server_config") {
      auto tls = ParseTls(item.second, base_dir);
      if (!tls) return std::unexpected(tls.error());
      config.tls = std::move(*tls);
    } else if (key == "basic_auth_users") {
      if (item.second.IsNull()) continue;
      if (!item.second.IsMap()) return std::unexpected("basic_auth_users: expected a mapping");
      for (const auto& user : item.second) {
        const auto name = user.first.as<std::string>();
        if (name.empty() || name.find(':') != std::string::npos) {
          return std::unexpected("basic_auth_users: a user name must be non-empty, without ':'");
        }
        auto hash = Scalar(user.second, "basic_auth_users." + name);
        if (!hash) return std::unexpected(hash.error());
        if (!IsBcrypt(*hash)) {
          return std::unexpected("basic_auth_users." + name +
                                 ": expected a bcrypt hash ($2y$..., as htpasswd -nB writes)");
        }
        config.basic_auth_users[name] = *hash;
      }
    } else {
      return std::unexpected(key + ": not supported (supported: tls_server_config, " +
                             "basic_auth_users)");
    }
  }
  return config;
}

}  // namespace

std::expected<WebConfig, std::string> ParseWebConfig(const std::string& yaml,
                                                     const std::string& base_dir) {
  // yaml-cpp throws on a key or value of the wrong shape (a mapping as a key, say) as well as
  // on bad syntax.
  try {
    return ParseDocument(YAML::Load(yaml), base_dir);
  } catch (const YAML::Exception& e) {
    return std::unexpected(std::string("not valid YAML: ") + e.what());
  }
}

std::expected<WebConfig, std::string> LoadWebConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::unexpected("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto config = ParseWebConfig(text.str(), fs::absolute(path).parent_path().string());
  if (!config) return std::unexpected(path + ": " + config.error());
  return config;
}

}  // namespace kpi::sinks
