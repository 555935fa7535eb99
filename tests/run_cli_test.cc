// `kpi-processor run` refuses to start on a wrong configuration (exit 2) or a corrupt or
// unusable state store (exit 3), with a message that says what is wrong.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "processor/keys.h"
#include "processor/values.h"
#include "sinks/web/basic_auth.h"
#include "sinks/web/web_config.h"
#include "state/rocksdb/rocksdb_store.h"
#include "tools/cluster/checked.h"

namespace {

namespace fs = std::filesystem;

class RunCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kpi_run_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  int Run(const std::string& config_text, const std::string& env = "") {
    std::ofstream(dir_ / "config.yaml") << config_text;
    const std::string cmd = env + " " + KPI_PROCESSOR_BIN + " run --config " +
                            (dir_ / "config.yaml").string() + " >" + (dir_ / "out").string() +
                            " 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string Output() {
    std::ifstream in(dir_ / "out");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string Config() {
    return "kafka:\n  bootstrap.servers: 127.0.0.1:1\nstate:\n  path: " +
           (dir_ / "state").string() + "\n";
  }

  fs::path dir_;
};

TEST_F(RunCliTest, UnknownSettingIsAConfigurationError) {
  EXPECT_EQ(Run(Config() + "commit:\n  intervl_ms: 5\n"), 2);
  EXPECT_NE(Output().find("unknown setting 'commit.intervl_ms'"), std::string::npos) << Output();
}

TEST_F(RunCliTest, AMetricsPortInUseIsAConfigurationError) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  EXPECT_EQ(Run(Config(), "KPI_METRICS_ADDRESS=" + taken + " KPI_HTTP_ADDRESS=127.0.0.1:0"), 2);
  EXPECT_NE(Output().find("metrics.address: cannot listen on " + taken), std::string::npos)
      << Output();
  ::close(fd);
}

TEST_F(RunCliTest, MissingBootstrapServersIsAConfigurationError) {
  EXPECT_EQ(Run("state:\n  path: /tmp/x\n"), 2);
  EXPECT_NE(Output().find("kafka.bootstrap.servers"), std::string::npos) << Output();
}

TEST_F(RunCliTest, BadEnvironmentOverrideIsAConfigurationError) {
  EXPECT_EQ(Run(Config(), "KPI_COMMIT_INTERVAL_MS=often"), 2);
  EXPECT_NE(Output().find("commit.interval_ms"), std::string::npos) << Output();
}

TEST_F(RunCliTest, CorruptStoreExitsWithAStateError) {
  {
    kpi::state::RocksDbOptions options;
    options.path = (dir_ / "state").string();
    auto store =
        kpi::testing::Checked(kpi::state::RocksDbStore::Open(options), "RocksDbStore::Open");
    ASSERT_TRUE(store->Write({{"k", "v"}}));
  }
  // Destroy the manifest that CURRENT names.
  std::string manifest;
  std::ifstream(dir_ / "state" / "CURRENT") >> manifest;
  ASSERT_FALSE(manifest.empty());
  std::ofstream(dir_ / "state" / manifest, std::ios::trunc) << "this is not a manifest";
  EXPECT_EQ(Run(Config()), 3);
  EXPECT_NE(Output().find("state store"), std::string::npos) << Output();
}

TEST_F(RunCliTest, UnwritableStateDirectoryExitsWithAStateError) {
  EXPECT_EQ(Run("kafka:\n  bootstrap.servers: 127.0.0.1:1\nstate:\n  path: /proc/kpi-state\n"), 3);
  EXPECT_NE(Output().find("state store"), std::string::npos) << Output();
}

// A state directory the processor may read but not write (as on a read-only mount): exit 3 with
// the reason, and the store is untouched. Root ignores permission bits, so as root the processor
// runs as nobody (setpriv) over a directory root owns.
TEST_F(RunCliTest, AReadOnlyStateDirectoryExitsWithAStateErrorAndStaysIntact) {
  const std::string path = (dir_ / "state").string();
  {
    kpi::state::RocksDbOptions options;
    options.path = path;
    auto store =
        kpi::testing::Checked(kpi::state::RocksDbStore::Open(options), "RocksDbStore::Open");
    ASSERT_TRUE(store->Write({{"k", "v"}}));
  }
  const auto read_only = fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                         fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(dir_, read_only | fs::perms::owner_write);
  fs::permissions(path, read_only);
  for (const auto& file : fs::directory_iterator(path)) {
    fs::permissions(file.path(),
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  }
  const std::string as_other_user =
      ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "";
  EXPECT_EQ(Run(Config(), as_other_user), 3) << Output();
  EXPECT_NE(Output().find("state store"), std::string::npos) << Output();
  EXPECT_NE(Output().find("Permission denied"), std::string::npos) << Output();

  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add);
  for (const auto& file : fs::directory_iterator(path)) {
    fs::permissions(file.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  kpi::state::RocksDbOptions options;
  options.path = path;
  auto store = kpi::testing::Checked(kpi::state::RocksDbStore::Open(options), "RocksDbStore::Open");
  const auto value = store->Get("k");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, std::optional<std::string>("v"));
}

TEST_F(RunCliTest, AWebConfigurationThatCannotServeIsAConfigurationError) {
  std::ofstream(dir_ / "web.yml") << "tls_server_config:\n  cert_file: missing.crt\n"
                                     "  key_file: missing.key\n";
  EXPECT_EQ(Run(Config() + "metrics:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n" +
                "web:\n  config_file: " + (dir_ / "web.yml").string() + "\n"),
            2);
  EXPECT_NE(Output().find("web configuration: TLS: cert_file " + (dir_ / "missing.crt").string()),
            std::string::npos)
      << Output();
  std::ofstream(dir_ / "web.yml") << "basic_auth_users:\n  prometheus: hunter2\n";
  EXPECT_EQ(Run(Config() + "web:\n  config_file: " + (dir_ / "web.yml").string() + "\n"), 2);
  EXPECT_NE(Output().find("basic_auth_users.prometheus: expected a bcrypt hash"), std::string::npos)
      << Output();
  EXPECT_EQ(Output().find("hunter2"), std::string::npos) << "a password is never echoed";
}

TEST_F(RunCliTest, HashPasswordPrintsAHashTheEndpointsAccept) {
  const std::string cmd = "printf 'correct horse\\n' | " + std::string(KPI_PROCESSOR_BIN) +
                          " hash-password --cost 5 >" + (dir_ / "out").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << Output();
  std::string hash = Output();
  ASSERT_TRUE(hash.ends_with("\n")) << hash;
  hash.pop_back();
  EXPECT_TRUE(hash.starts_with("$2y$05$")) << hash;
  const auto web = kpi::sinks::ParseWebConfig("basic_auth_users:\n  alice: " + hash + "\n", "/");
  ASSERT_TRUE(web.has_value()) << web.error();
  const kpi::sinks::BasicAuth auth(web->basic_auth_users);
  EXPECT_TRUE(auth.Allows("Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="));  // alice:correct horse
  EXPECT_FALSE(auth.Allows("Basic YWxpY2U6Y29ycmVjdA=="));         // alice:correct
  const std::string empty = "printf '' | " + std::string(KPI_PROCESSOR_BIN) + " hash-password >" +
                            (dir_ / "out").string() + " 2>&1";
  const int status = std::system(empty.c_str());
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 2);
  EXPECT_NE(Output().find("no password"), std::string::npos) << Output();
}

TEST_F(RunCliTest, StateCommandsShowOffsetsRowsAndSize) {
  {
    kpi::state::RocksDbOptions options;
    options.path = (dir_ / "state").string();
    auto store =
        kpi::testing::Checked(kpi::state::RocksDbStore::Open(options), "RocksDbStore::Open");
    // Partition 3 of "attendance" at offset 1234; one cell of partition 3 with count 5.
    ASSERT_TRUE(store->Write(
        {{kpi::keys::OffsetKey(3, "attendance"), kpi::EncodeOffset(1234)},
         {kpi::keys::CellKey(3, kpi::Kpi::kContacts, kpi::Date::FromYmd(2026, 3, 9), "all"),
          kpi::EncodeCell({5, 0, 1})}}));
  }
  const std::string path = (dir_ / "state").string();
  const auto run = [&](const std::string& sub) {
    const std::string cmd = std::string(KPI_PROCESSOR_BIN) + " state " + sub + " --path " + path +
                            " >" + (dir_ / "out").string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  ASSERT_EQ(run("offsets"), 0) << Output();
  EXPECT_NE(Output().find("attendance"), std::string::npos) << Output();
  EXPECT_NE(Output().find("1234"), std::string::npos) << Output();
  ASSERT_EQ(run("rows"), 0) << Output();
  EXPECT_NE(Output().find("        3            1            1"), std::string::npos) << Output();
  ASSERT_EQ(run("size"), 0) << Output();
  EXPECT_NE(Output().find("estimated live data"), std::string::npos) << Output();
  EXPECT_NE(run("offsets --path " + (dir_ / "missing").string()), 0);
}

}  // namespace
