#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sinks/web/basic_auth.h"
#include "sinks/web/tls_context.h"
#include "sinks/web/web_config.h"
#include "tools/cluster/web_testing.h"

namespace kpi::sinks {
namespace {

namespace fs = std::filesystem;
using testing::BcryptHash;

std::string Basic(const std::string& user_colon_password) {
  return "Basic " + testing::EncodeBase64(user_colon_password);
}

TEST(WebConfigTest, ReadsTheExportersFormatWithPathsFromTheFilesFolder) {
  const std::string hash = BcryptHash("secret");
  const auto c = ParseWebConfig(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: /etc/tls/server.key\n"
      "  min_version: TLS13\n"
      "basic_auth_users:\n  prometheus: " +
          hash + "\n",
      "/etc/kpi");
  ASSERT_TRUE(c.has_value()) << c.error();
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->cert_file, "/etc/kpi/server.crt");
  EXPECT_EQ(c->tls->key_file, "/etc/tls/server.key");
  EXPECT_EQ(c->tls->min_version, TlsVersion::kTls13);
  EXPECT_TRUE(c->tls->client_ca_file.empty());
  EXPECT_EQ(c->basic_auth_users.at("prometheus"), hash);
}

TEST(WebConfigTest, AnEmptyFileSecuresNothing) {
  const auto c = ParseWebConfig("", "/");
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_FALSE(c->tls.has_value());
  EXPECT_TRUE(c->basic_auth_users.empty());
}

TEST(WebConfigTest, RefusesWhatItWouldOtherwiseIgnoreOrGetWrong) {
  const std::string tls = "tls_server_config:\n  cert_file: a\n  key_file: b\n";
  const std::pair<std::string, std::string> cases[] = {
      {"tls_server_config:\n  cert_file: a\n", "cert_file and key_file are both required"},
      {tls + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "cipher_suites: expected a value"},
      {tls + "  prefer_server_cipher_suites: true\n", "prefer_server_cipher_suites: not supp"},
      {tls + "  min_version: SSL3\n", "min_version: expected TLS10"},
      {tls + "  min_version: TLS13\n  max_version: TLS12\n", "max_version is below min_version"},
      {tls + "  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file: required"},
      {tls + "  client_auth_type: VerifyClientCertIfGiven\n", "client_auth_type: expected"},
      {tls + "  client_ca_file: ca.crt\n", "needs client_auth_type"},
      {"http_server_config:\n  http2: false\n", "http_server_config: not supported"},
      {"basic_auth_users:\n  alice: plain-text-password\n", "alice: expected a bcrypt hash"},
      {"basic_auth_users:\n  alice: $1$saltsalt$hashhashhashhashhashha\n", "bcrypt"},
      {"basic_auth_users: [alice]\n", "basic_auth_users: expected a mapping"},
      {"tls_server_config: [\n", "not valid YAML"},
      {"? {a: b}\n: c\n", "not valid YAML"},  // a mapping as a key (fuzzing found it)
  };
  for (const auto& [yaml, wanted] : cases) {
    const auto c = ParseWebConfig(yaml, "/");
    ASSERT_FALSE(c.has_value()) << yaml;
    EXPECT_NE(c.error().find(wanted), std::string::npos) << yaml << " -> " << c.error();
    EXPECT_EQ(c.error().find("plain-text-password"), std::string::npos) << "no secret echoed";
  }
}

TEST(WebConfigTest, LoadNamesTheFile) {
  const auto c = LoadWebConfig("/nonexistent/web.yml");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error(), "cannot read /nonexistent/web.yml");
}

TEST(BasicAuthTest, DecodesBase64WithPaddingOnly) {
  EXPECT_EQ(DecodeBase64("YWxpY2U6c2VjcmV0"), "alice:secret");
  EXPECT_EQ(DecodeBase64("YQ=="), "a");
  EXPECT_EQ(DecodeBase64("YWI="), "ab");
  EXPECT_EQ(DecodeBase64(""), "");
  EXPECT_FALSE(DecodeBase64("YQ").has_value());
  EXPECT_FALSE(DecodeBase64("Y===").has_value());
  EXPECT_FALSE(DecodeBase64("YQ==YQ==").has_value());
  EXPECT_FALSE(DecodeBase64("YW*j").has_value());
  EXPECT_FALSE(DecodeBase64("YR==").has_value()) << "bits under the padding (fuzzing found it)";
  EXPECT_FALSE(DecodeBase64("YWJ=").has_value());
}

TEST(BasicAuthTest, AllowsTheRightPasswordOnly) {
  const BasicAuth auth({{"alice", BcryptHash("secret")}, {"bob", BcryptHash("hunter2")}});
  EXPECT_TRUE(auth.Allows(Basic("alice:secret")));
  EXPECT_TRUE(auth.Allows(Basic("alice:secret")));  // again, from the cache
  EXPECT_TRUE(auth.Allows(Basic("bob:hunter2")));
  EXPECT_TRUE(auth.Allows("basic " + Basic("bob:hunter2").substr(6))) << "scheme in any case";
  EXPECT_FALSE(auth.Allows(Basic("alice:hunter2"))) << "another user's password";
  EXPECT_FALSE(auth.Allows(Basic("alice:secre")));
  EXPECT_FALSE(auth.Allows(Basic("alice:secret ")));
  EXPECT_FALSE(auth.Allows(Basic("carol:secret"))) << "no such user";
  EXPECT_FALSE(auth.Allows(Basic("carol:"))) << "the decoy's password, for no user";
  EXPECT_FALSE(auth.Allows(Basic("alice")));
  EXPECT_FALSE(auth.Allows(""));
  EXPECT_FALSE(auth.Allows("Bearer abc"));
  EXPECT_FALSE(auth.Allows("Basic !!!!"));
  EXPECT_FALSE(auth.Allows(Basic(std::string("alice:secret\0x", 14))));
}

TEST(BasicAuthTest, HashPasswordMakesBcryptHashesWithFreshSalts) {
  const auto a = HashPassword("secret", 4);
  const auto b = HashPassword("secret", 4);
  ASSERT_TRUE(a.has_value()) << a.error();
  ASSERT_TRUE(b.has_value()) << b.error();
  EXPECT_TRUE(a->starts_with("$2y$04$")) << *a;
  EXPECT_EQ(a->size(), 60u);
  EXPECT_NE(*a, *b) << "a salt of its own each time";
  EXPECT_TRUE(BasicAuth({{"u", *a}, {"v", *b}}).Allows(Basic("v:secret")));
  EXPECT_FALSE(HashPassword("secret", 3).has_value());
  EXPECT_FALSE(HashPassword("secret", 32).has_value());
  EXPECT_FALSE(HashPassword(std::string("se\0cret", 7), 4).has_value());
}

// The fixture's throwaway PKI, made once for the suite.
fs::path& PkiDir() {
  static fs::path dir;
  return dir;
}

class TlsContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PkiDir() = fs::temp_directory_path() / ("kpi_tls_" + std::to_string(::getpid()));
    ASSERT_TRUE(testing::MakeTestPki(PkiDir())) << "the openssl command failed";
  }
  static void TearDownTestSuite() { fs::remove_all(PkiDir()); }
  static TlsServerConfig Files(const std::string& cert, const std::string& key) {
    TlsServerConfig tls;
    tls.cert_file = (PkiDir() / cert).string();
    tls.key_file = (PkiDir() / key).string();
    return tls;
  }
};

TEST_F(TlsContextTest, LoadsAMatchingCertificateAndKey) {
  TlsServerConfig tls = Files("server.crt", "server.key");
  EXPECT_TRUE(MakeServerContext(tls).has_value());
  tls.client_ca_file = (PkiDir() / "ca.crt").string();
  tls.min_version = TlsVersion::kTls13;
  const auto ctx = MakeServerContext(tls);
  ASSERT_TRUE(ctx.has_value()) << ctx.error();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->get()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx->get()), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
}

TEST_F(TlsContextTest, NamesTheFileThatIsWrong) {
  auto c = MakeServerContext(Files("missing.crt", "server.key"));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("cert_file " + (PkiDir() / "missing.crt").string()), std::string::npos)
      << c.error();
  c = MakeServerContext(Files("server.crt", "client.key"));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("key_file " + (PkiDir() / "client.key").string()), std::string::npos)
      << c.error();
  c = MakeServerContext(Files("server.key", "server.key"));
  ASSERT_FALSE(c.has_value()) << "a key is not a certificate";
  TlsServerConfig tls = Files("server.crt", "server.key");
  tls.client_ca_file = (PkiDir() / "server.key").string();
  c = MakeServerContext(tls);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("client_ca_file"), std::string::npos) << c.error();
}

}  // namespace
}  // namespace kpi::sinks
