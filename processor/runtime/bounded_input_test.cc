// Bounded input in `run` over the in-memory bus: a record past input.max_record_bytes and JSON
// nested past kMaxJsonDepth are dead-lettered with a reason, in bounded time, and the records
// after them are applied; unknown fields in either format are tolerated (a newer producer must
// not break an older processor).
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "events.pb.h"
#include "processor/runtime/runtime.h"
#include "tests/util/memory_bus_testing.h"

namespace kpi::runtime {
namespace {

namespace fs = std::filesystem;

std::string ContactProtobuf(const std::string& id, bool unknown_fields) {
  events::Event event;
  event.set_event_id(id);
  event.set_child_id("C1");
  event.mutable_recorded_at()->set_seconds(1772446500);  // 2026-03-02T10:15:00Z
  events::Contact* contact = event.mutable_contact();
  contact->mutable_contact_date()->assign("2026-03-02");
  contact->set_source("school");
  if (unknown_fields) {
    // Fields a newer schema might add: a number, a string, a nested message, in the event and
    // in its body.
    event.GetReflection()->MutableUnknownFields(&event)->AddVarint(900, 7);
    event.GetReflection()->MutableUnknownFields(&event)->AddLengthDelimited(901, "future");
    contact->GetReflection()->MutableUnknownFields(contact)->AddFixed64(902, 1);
    contact->GetReflection()->MutableUnknownFields(contact)->AddGroup(903)->AddLengthDelimited(
        1, "nested");
  }
  return event.SerializeAsString();
}

class BoundedInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kpi-bounded-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    log_ =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    cluster_ = testing::NewCluster(config_, 1, 1);
    config_.state_path = (dir_ / "state").string();
    config_.fixed_as_of = Date::FromYmd(2026, 3, 6);
    config_.topic_formats["referrals"] = Format::kJson;  // contacts stay protobuf
    config_.max_record_bytes = 4096;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Append(const std::string& topic, const std::string& key, const std::string& value) {
    cluster_->Append(topic, 0, {topic, key, value, {}});
  }
  void Run() {
    auto rt = Runtime::Create(config_, clock_, log_, cluster_->NewBus("kpi", config_.input_topics));
    ASSERT_TRUE(rt.has_value()) << rt.error().message;
    const auto result = testing::RunUntilIdle(*cluster_, **rt);
    ASSERT_TRUE(result.has_value()) << result.error().message;
  }
  // Dead letters: source offset -> headers, and the key and value published.
  struct Dead {
    std::map<std::string, std::string> headers;
    std::string key;
    std::string value;
  };
  std::map<std::string, Dead> DeadLetters() {
    std::map<std::string, Dead> out;
    for (const auto& [partition, r] : cluster_->ReadAll("kpi.dlq")) {
      std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
      out[h["source_topic"] + "@" + h["source_offset"]] = {h, r.key, r.value};
    }
    return out;
  }
  int64_t ContactsThisWeek() {
    const testing::Table table = testing::OutputTable(*cluster_);
    const auto it = table.find("contacts|2026-03-02|all");
    return it == table.end() ? 0 : it->second.first;
  }

  Config config_;
  fs::path dir_;
  SystemClock clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<MemoryCluster> cluster_;
};

TEST_F(BoundedInputTest, ARecordPastTheBoundIsDeadLetteredWithItsSizeNotItsBytes) {
  Append("contacts", "C1", ContactProtobuf("A", false));
  // A valid event padded with an unknown field past the bound, then one exactly at it.
  events::Event big;
  ASSERT_TRUE(big.ParseFromString(ContactProtobuf("B", false)));
  big.GetReflection()->MutableUnknownFields(&big)->AddLengthDelimited(999, std::string(5000, 'x'));
  Append("contacts", "C1", big.SerializeAsString());
  events::Event fits;
  ASSERT_TRUE(fits.ParseFromString(ContactProtobuf("C", false)));
  const size_t base = fits.ByteSizeLong() + 2;  // the key "C1"
  fits.GetReflection()->MutableUnknownFields(&fits)->AddLengthDelimited(999, "");
  const size_t overhead = fits.ByteSizeLong() + 2 - base;
  fits.Clear();
  ASSERT_TRUE(fits.ParseFromString(ContactProtobuf("C", false)));
  fits.GetReflection()->MutableUnknownFields(&fits)->AddLengthDelimited(
      999, std::string(4096 - base - overhead - 1, 'y'));  // a length of two bytes, not one
  ASSERT_EQ(fits.ByteSizeLong() + 2, 4096u);
  Append("contacts", "C1", fits.SerializeAsString());
  // A key alone past the bound.
  Append("contacts", std::string(5000, 'k'), ContactProtobuf("D", false));
  Run();
  const auto dead = DeadLetters();
  ASSERT_EQ(dead.size(), 2u);
  const Dead& value = dead.at("contacts@1");
  EXPECT_EQ(value.headers.at("reason"), "too_large");
  EXPECT_EQ(value.headers.at("record_bytes"), std::to_string(big.ByteSizeLong() + 2));
  EXPECT_TRUE(value.key.empty());
  EXPECT_TRUE(value.value.empty());
  EXPECT_EQ(dead.at("contacts@3").headers.at("reason"), "too_large");
  EXPECT_EQ(ContactsThisWeek(), 1);  // A and C (one child), and nothing stopped
  EXPECT_FALSE(dead.contains("contacts@2"));
}

TEST_F(BoundedInputTest, DeepJsonIsUndecodableInBoundedTimeAndTheNextRecordApplies) {
  config_.max_record_bytes = 1 << 20;
  // 400,000 nested arrays in an unknown field: protobuf's parser alone takes minutes on this.
  const std::string deep =
      R"({"eventId":"R0","childId":"C1","recordedAt":"2026-03-02T10:15:00Z","future":)" +
      std::string(400000, '[') + std::string(400000, ']') +
      R"(,"referral":{"referralDate":"2026-03-02","source":"school"}})";
  Append("referrals", "C1", deep);
  // At the bound (the event is level 1): tolerated.
  std::string ok_nesting = R"("future":)";
  for (int i = 1; i < kMaxJsonDepth; ++i) ok_nesting += "[";
  for (int i = 1; i < kMaxJsonDepth; ++i) ok_nesting += "]";
  Append("referrals", "C2",
         R"({"eventId":"R1","childId":"C2","recordedAt":"2026-03-02T10:15:00Z",)" + ok_nesting +
             R"(,"referral":{"referralDate":"2026-03-02","source":"school"}})");
  Run();
  const auto dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead.at("referrals@0").headers.at("reason"), "undecodable");
  EXPECT_EQ(dead.at("referrals@0").value, deep);  // under the bound: the bytes, unchanged
  const testing::Table table = testing::OutputTable(*cluster_);
  EXPECT_TRUE(table.contains("referrals|2026-03-02|all"));
}

TEST_F(BoundedInputTest, UnknownFieldsAreToleratedInBothFormats) {
  Append("contacts", "C1", ContactProtobuf("A", true));
  // Unknown members in the event and in its body, of every JSON type.
  Append("referrals", "C2",
         R"({"eventId":"R1","childId":"C2","recordedAt":"2026-03-02T10:15:00Z",)"
         R"("schemaVersion":7,"newBlock":{"a":[1,{"b":null}],"c":"x","d":true,"e":-1.5e3},)"
         R"("referral":{"referralDate":"2026-03-02","source":"school","urgency":"HIGH"}})");
  Run();
  EXPECT_TRUE(DeadLetters().empty());
  const testing::Table table = testing::OutputTable(*cluster_);
  EXPECT_EQ(ContactsThisWeek(), 1);
  ASSERT_TRUE(table.contains("referrals|2026-03-02|all"));
  EXPECT_EQ(table.at("referrals|2026-03-02|all").first, 1);
}

}  // namespace
}  // namespace kpi::runtime
