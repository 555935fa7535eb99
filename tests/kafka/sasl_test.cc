// SASL_SSL with SCRAM-SHA-512 to a real Apache Kafka 4.4 broker (kafka_real_test only), as a
// local authority's cluster requires: a throwaway CA, the password from a file, never logged; a
// wrong password is exit 2 naming the settings, not a hang.
//
// Debian 12's librdkafka (2.0.2) cannot authenticate with SCRAM to Kafka 4 brokers: its SCRAM
// client-final message repeats the client nonce, which Kafka 4 rejects (confluentinc/librdkafka
// #4895, fixed in 2.6.1). The processor is built against Debian's headers and runs here with the
// librdkafka that PyPI's confluent-kafka wheel ships (same soname and ABI; tools/install-deps.sh
// fetches it), as a deployment would run it with a current librdkafka; with Debian's it must say
// so and exit 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "tools/cluster/harness.h"

namespace kpi::testing {
namespace {

// KPI_SCRAM_LIBRDKAFKA_DIR of tools/kafka/env.sh.
std::string ScramLibrdkafkaDir() {
  const std::string command = "bash -c 'source " + std::string(KPI_SOURCE_DIR) +
                              "/tools/kafka/env.sh && echo \"$KPI_SCRAM_LIBRDKAFKA_DIR\"'";
  FILE* pipe = ::popen(command.c_str(), "r");
  char buf[4096] = {};
  const size_t n = pipe != nullptr ? std::fread(buf, 1, sizeof buf - 1, pipe) : 0;
  if (pipe != nullptr) ::pclose(pipe);
  std::string dir(buf, n);
  while (!dir.empty() && dir.back() == '\n') dir.pop_back();
  return dir;
}

class SaslTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kpi_sasl_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    cluster_ = TestCluster::Start(dir_, {"contacts:2", "referrals:2", "kpi.results:2", "kpi.dlq:1"},
                                  {.sasl = true});
    ASSERT_TRUE(cluster_->ok()) << cluster_->error();
    kafka_dir_ = dynamic_cast<RealKafka*>(cluster_.get())->cluster_dir();
    scram_lib_ = ScramLibrdkafkaDir();
    ASSERT_TRUE(fs::exists(fs::path(scram_lib_) / "librdkafka.so.1"))
        << "no SCRAM-capable librdkafka in '" << scram_lib_ << "': run tools/install-deps.sh";
    std::ifstream in(kafka_dir_ / "password");
    std::getline(in, password_);
    ASSERT_FALSE(password_.empty());
  }
  void TearDown() override {
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A configuration with the cluster's security settings, the password given by `password`
  // (a YAML line of the kafka section).
  fs::path WriteConfig(const std::string& name, const std::string& password) {
    const fs::path config = dir_ / (name + ".yaml");
    std::string kafka = cluster_->KafkaYaml();
    // Everything but the password itself, which this test gives in other ways.
    const size_t at = kafka.find("  sasl.password: ");
    kafka.erase(at, kafka.find('\n', at) - at + 1);
    std::ofstream cfg(config);
    cfg << "kafka:\n"
        << kafka << password << "  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "input:\n  topics: [contacts, referrals]\n  format: json\n"
        << "state:\n  path: " << (dir_ / ("state-" + name)).string() << "\n"
        << "processing:\n  as_of: 2026-03-04\n"
        << "metrics:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n";
    return config;
  }

  fs::path dir_;
  fs::path kafka_dir_;
  std::string scram_lib_;
  std::string password_;
  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(SaslTest, ScramOverTlsWithThePasswordFromAFileGivesTheTableAndNeverLogsIt) {
  const std::string contact =
      R"({"event_id":"CT-1","child_id":"C1","recorded_at":"2026-03-02T09:00:00Z","contact":{"contact_date":"2026-03-02"}})";
  {
    Producer producer(cluster_->bootstraps());
    producer.Produce({"contacts", "C1", contact});
    ASSERT_TRUE(producer.Flush(30000));
  }
  const fs::path config =
      WriteConfig("good", "  sasl.password.file: " + (kafka_dir_ / "password").string() + "\n");
  Process processor({(BinaryDir() / "kpi-processor").string(), "run", "--config", config.string()},
                    dir_ / "good.log", {"LD_LIBRARY_PATH=" + scram_lib_});
  const Table expected = ReplayTable({contact}, Date::FromYmd(2026, 3, 4));
  bool equal = false;
  for (const int64_t deadline = NowMs() + 60000; !equal && NowMs() < deadline;) {
    equal = LastValueTable(cluster_->bootstraps(), "kpi.results") == expected;
    if (!equal) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(processor.running()) << Tail(dir_ / "good.log");
  }
  EXPECT_TRUE(equal) << "the output did not become the replay table in 60 s\n"
                     << Tail(dir_ / "good.log");
  processor.Signal(SIGTERM);
  EXPECT_EQ(processor.Wait(30000), 0) << Tail(dir_ / "good.log");
  const std::string log = Tail(dir_ / "good.log", 100000000);
  EXPECT_NE(log.find("librdkafka 2."), std::string::npos) << log;  // the version it ran with
  EXPECT_EQ(log.find(password_), std::string::npos) << "the password is in the log";
}

TEST_F(SaslTest, AWrongPasswordIsExitTwoNamingTheSettingsNotAHang) {
  const fs::path config = WriteConfig("wrong", "");
  const std::string wrong = "not-the-password-" + std::to_string(::getpid());
  Process processor({(BinaryDir() / "kpi-processor").string(), "run", "--config", config.string()},
                    dir_ / "wrong.log",
                    {"LD_LIBRARY_PATH=" + scram_lib_, "KPI_KAFKA_SASL_PASSWORD=" + wrong});
  EXPECT_EQ(processor.Wait(60000), 2) << "exit within 60 s\n" << Tail(dir_ / "wrong.log");
  const std::string log = Tail(dir_ / "wrong.log", 100000000);
  EXPECT_NE(log.find("the brokers refused this client's credentials: check kafka.sasl.mechanism"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(wrong), std::string::npos) << "the password is in the log";
}

TEST_F(SaslTest, DebiansLibrdkafkaCannotDoScramWithKafkaFourAndSaysSo) {
  const fs::path config =
      WriteConfig("debian", "  sasl.password.file: " + (kafka_dir_ / "password").string() + "\n");
  Process processor({(BinaryDir() / "kpi-processor").string(), "run", "--config", config.string()},
                    dir_ / "debian.log");
  EXPECT_EQ(processor.Wait(60000), 2) << Tail(dir_ / "debian.log");
  const std::string log = Tail(dir_ / "debian.log", 100000000);
  if (log.find("librdkafka 2.0.") == std::string::npos) {
    GTEST_SKIP() << "the system librdkafka is not Debian 12's 2.0.x";
  }
  EXPECT_NE(log.find("confluentinc/librdkafka#4895, fixed in 2.6.1"), std::string::npos) << log;
  EXPECT_EQ(log.find(password_), std::string::npos) << "the password is in the log";
}

}  // namespace
}  // namespace kpi::testing
