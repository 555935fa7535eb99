// `kpi-processor run` refuses to start on a wrong configuration (exit 2) or a corrupt or
// unusable state store (exit 3), with a message that says what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "state/rocksdb/rocksdb_store.h"

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
    auto store = std::move(*kpi::state::RocksDbStore::Open(options));
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

}  // namespace
