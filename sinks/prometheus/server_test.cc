// The endpoints secured by a web configuration, through curl: TLS with the configured versions,
// basic authentication on /metrics and /kpi (not on the probes), client certificates when asked.
#include "sinks/prometheus/server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "tools/cluster/http_get.h"
#include "tools/cluster/web_testing.h"

namespace kpi::sinks {
namespace {

namespace fs = std::filesystem;
using testing::BcryptHash;
using testing::Curl;
using testing::CurlResult;

const Date kMon = Date::FromYmd(2026, 3, 2);

// The fixture's throwaway PKI, made once for the suite.
fs::path& PkiDir() {
  static fs::path dir;
  return dir;
}

class SecuredServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PkiDir() = fs::temp_directory_path() / ("kpi_secured_" + std::to_string(::getpid()));
    ASSERT_TRUE(testing::MakeTestPki(PkiDir())) << "the openssl command failed";
  }
  static void TearDownTestSuite() { fs::remove_all(PkiDir()); }

  SecuredServerTest() : probe_({"contacts"}) {
    probe_.Assigned({Row{Kpi::kContacts, kMon, "all", 3, 0, 1}}, kMon + 2);
    probe_.Status({}, std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count());
  }

  static TlsServerConfig Tls() {
    TlsServerConfig tls;
    tls.cert_file = (PkiDir() / "server.crt").string();
    tls.key_file = (PkiDir() / "server.key").string();
    return tls;
  }

  std::unique_ptr<Server> Start(const WebConfig& web) {
    ServerOptions options;
    options.metrics_address = "127.0.0.1:0";
    options.http_address = "127.0.0.1:0";
    options.web = web;
    auto server = Server::Start(probe_, options, nullptr);
    EXPECT_TRUE(server.has_value()) << server.error();
    return server ? std::move(*server) : nullptr;
  }

  static std::string Url(const char* scheme, int port, const std::string& path) {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + path;
  }
  static CurlResult Get(const std::vector<std::string>& args, const std::string& url) {
    return Curl(args, url, PkiDir() / "curl");
  }

  RuntimeProbe probe_;
};

TEST_F(SecuredServerTest, TlsAndPasswordsGuardMetricsAndKpi) {
  WebConfig web;
  web.tls = Tls();
  web.basic_auth_users = {{"prometheus", BcryptHash("scrape-secret")},
                          {"analyst", BcryptHash("query-secret")}};
  const auto server = Start(web);
  ASSERT_NE(server, nullptr);
  const int metrics = server->metrics_port();
  const int http = server->http_port();
  const std::string ca = (PkiDir() / "ca.crt").string();

  CurlResult r =
      Get({"--cacert", ca, "-u", "prometheus:scrape-secret"}, Url("https", metrics, "/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("kpi_count{dimension=\"all\",kpi=\"contacts\",period=\"current\"} 3"),
            std::string::npos)
      << r.body.substr(0, 500);
  r = Get({"--cacert", ca, "-u", "analyst:query-secret"}, Url("https", http, "/kpi?kpi=contacts"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"count\":3"), std::string::npos) << r.body;

  // Without credentials, or with wrong ones: 401 with a challenge, and no counts.
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--cacert", ca},
                                             {"--cacert", ca, "-u", "prometheus:wrong"},
                                             {"--cacert", ca, "-u", "prometheus:query-secret"},
                                             {"--cacert", ca, "-u", "nobody:scrape-secret"}}) {
    for (const std::string& url :
         {Url("https", metrics, "/metrics"), Url("https", http, "/kpi?kpi=contacts")}) {
      r = Get(args, url);
      EXPECT_EQ(r.status, 401) << url << " " << args.back();
      EXPECT_NE(r.headers.find("WWW-Authenticate: Basic realm=\"kpi-processor\""),
                std::string::npos)
          << r.headers;
      EXPECT_EQ(r.body.find("kpi_"), std::string::npos);
      EXPECT_EQ(r.body.find("count"), std::string::npos);
    }
  }
  // The probes answer without credentials, over TLS.
  EXPECT_EQ(Get({"--cacert", ca}, Url("https", http, "/readyz")).status, 200);
  EXPECT_EQ(Get({"--cacert", ca}, Url("https", http, "/healthz")).status, 200);

  // Plain HTTP gets nothing from a TLS port; nor does TLS 1.1 (below the default TLS12, and
  // Debian's OpenSSL default too: TheMinimumVersionHolds checks the setting); nor a client that
  // does not trust the certificate.
  for (const int port : {metrics, http}) {
    r = Get({"-u", "prometheus:scrape-secret"}, Url("http", port, "/metrics"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(testing::HttpGet(port, "/readyz").first, -1);
    r = Get({"--cacert", ca, "-u", "prometheus:scrape-secret", "--tlsv1.1", "--tls-max", "1.1"},
            Url("https", port, "/metrics"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.status, 0);
    r = Get({"-u", "prometheus:scrape-secret"}, Url("https", port, "/metrics"));
    EXPECT_EQ(r.exit_code, 60) << "certificate not trusted";
  }
  // TLS 1.3 and 1.2 both work.
  EXPECT_EQ(Get({"--cacert", ca, "-u", "prometheus:scrape-secret", "--tlsv1.3"},
                Url("https", metrics, "/metrics"))
                .status,
            200);
  EXPECT_EQ(Get({"--cacert", ca, "-u", "prometheus:scrape-secret", "--tls-max", "1.2"},
                Url("https", metrics, "/metrics"))
                .status,
            200);
}

TEST_F(SecuredServerTest, ClientCertificatesOfTheConfiguredCaOnly) {
  WebConfig web;
  web.tls = Tls();
  web.tls->client_ca_file = (PkiDir() / "ca.crt").string();
  const auto server = Start(web);
  ASSERT_NE(server, nullptr);
  const std::string ca = (PkiDir() / "ca.crt").string();
  const std::string url = Url("https", server->metrics_port(), "/metrics");
  const auto with = [&](const std::string& name) {
    return Get({"--cacert", ca, "--cert", (PkiDir() / (name + ".crt")).string(), "--key",
                (PkiDir() / (name + ".key")).string()},
               url);
  };
  EXPECT_EQ(with("client").status, 200);
  EXPECT_EQ(with("other").status, 0) << "a certificate of another CA";
  EXPECT_EQ(Get({"--cacert", ca}, url).status, 0) << "no certificate";
}

TEST_F(SecuredServerTest, TheMinimumVersionHolds) {
  WebConfig web;
  web.tls = Tls();
  web.tls->min_version = TlsVersion::kTls13;
  const auto server = Start(web);
  ASSERT_NE(server, nullptr);
  const std::string ca = (PkiDir() / "ca.crt").string();
  const std::string url = Url("https", server->http_port(), "/readyz");
  EXPECT_EQ(Get({"--cacert", ca, "--tls-max", "1.2"}, url).status, 0);
  EXPECT_EQ(Get({"--cacert", ca, "--tlsv1.3"}, url).status, 200);
}

TEST_F(SecuredServerTest, PasswordsWithoutTlsStillGuard) {
  WebConfig web;
  web.basic_auth_users = {{"prometheus", BcryptHash("scrape-secret")}};
  const auto server = Start(web);
  ASSERT_NE(server, nullptr);
  const std::string url = Url("http", server->metrics_port(), "/metrics");
  EXPECT_EQ(Get({}, url).status, 401);
  EXPECT_EQ(Get({"-u", "prometheus:scrape-secret"}, url).status, 200);
  EXPECT_EQ(testing::HttpGet(server->http_port(), "/readyz").first, 200);
  EXPECT_EQ(testing::HttpGet(server->http_port(), "/kpi").first, 401);
}

TEST_F(SecuredServerTest, AWrongCertificateStopsTheStartNamingTheFile) {
  WebConfig web;
  web.tls = Tls();
  web.tls->key_file = (PkiDir() / "client.key").string();
  ServerOptions options;
  options.metrics_address = "127.0.0.1:0";
  options.web = web;
  const auto server = Server::Start(probe_, options, nullptr);
  ASSERT_FALSE(server.has_value());
  EXPECT_NE(server.error().find("key_file " + web.tls->key_file), std::string::npos)
      << server.error();
}

}  // namespace
}  // namespace kpi::sinks
