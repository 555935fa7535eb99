// Differential test of the JSON fast path against protobuf's own parser.
#include "processor/json_fast.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "processor/validate.h"
#include "tools/gen/generator.h"

namespace kpi {
namespace {

std::vector<std::string> GeneratedLines(uint32_t children) {
  gen::Params p;
  p.children = children;
  p.weeks = 3;
  p.malformed_rate = 0.05;
  std::vector<std::string> lines;
  gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
  return lines;
}

// When the fast path answers, protobuf must have parsed the same message.
void ExpectAgreement(const std::string& line) {
  events::Event fast;
  if (!FastDecodeJson(line, fast)) return;
  const auto reference = DecodeJsonWithProtobuf(line);
  ASSERT_TRUE(reference.has_value()) << "fast path accepted what protobuf rejects: " << line;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(fast, *reference))
      << line << "\nfast:      " << fast.ShortDebugString()
      << "\nreference: " << reference->ShortDebugString();
}

TEST(JsonFastTest, AgreesWithProtobufOnGeneratedLines) {
  const std::vector<std::string> lines = GeneratedLines(300);
  size_t fast = 0;
  for (const std::string& line : lines) {
    ExpectAgreement(line);
    events::Event e;
    fast += FastDecodeJson(line, e) ? 1 : 0;
  }
  // The generator writes the common shape: the fast path must take nearly all of it (the rest
  // are the deliberately malformed lines).
  EXPECT_GT(static_cast<double>(fast) / static_cast<double>(lines.size()), 0.95);
}

TEST(JsonFastTest, AgreesWithProtobufOnMutatedLines) {
  const std::vector<std::string> lines = GeneratedLines(60);
  std::mt19937_64 rng(7);
  const std::string alphabet = "{}[]:,\"\\ 0123456789.-eEtrufalsnZT/xAM";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string line = lines[rng() % lines.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !line.empty(); ++k) {
      const size_t at = rng() % line.size();
      switch (rng() % 4) {
        case 0:
          line.erase(at, 1);
          break;
        case 1:
          line.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          line[at] = alphabet[rng() % alphabet.size()];
          break;
        default:
          line.insert(at, line.substr(at, 1 + rng() % 12));
          break;
      }
    }
    events::Event e;
    accepted += FastDecodeJson(line, e) ? 1 : 0;
    ExpectAgreement(line);
    if (HasFailure()) return;
  }
  EXPECT_GT(accepted, 100);  // the mutations exercise the accepting path too
}

TEST(JsonFastTest, HandWrittenEdgeCases) {
  const char* head = R"({"eventId":"E","childId":"C","recordedAt":)";
  for (
      const std::string tail : {
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"2026-03-01"}})",
          R"("2026-03-02T10:15:00.123Z","contact":{}})",
          R"("2026-03-02T10:15:00.123456789Z","contact":{}})",
          R"("2026-03-02T10:15:00+01:00","contact":{}})",
          R"("2026-03-02T10:15:00.5Z","contact":{}})",
          R"("2026-03-02 10:15:00Z","contact":{}})",
          R"("2026-02-30T10:15:00Z","contact":{}})",
          R"("2026-03-02T24:00:00Z","contact":{}})",
          R"("2026-03-02T10:15:00Z","cpPlan":{"startDate":"2026-01-01","previousPlans":"2"}})",
          R"("2026-03-02T10:15:00Z","cpPlan":{"startDate":"2026-01-01","previousPlans":2.0}})",
          R"("2026-03-02T10:15:00Z","cpPlan":{"startDate":"2026-01-01","previousPlans":-1}})",
          R"("2026-03-02T10:15:00Z","cpPlan":{"startDate":"2026-01-01","previousPlans":4294967296}})",
          R"("2026-03-02T10:15:00Z","cpPlan":{"startDate":"2026-01-01","previousPlans":007}})",
          R"("2026-03-02T10:15:00Z","attendance":{"session":1}})",
          R"("2026-03-02T10:15:00Z","attendance":{"session":"am"}})",
          R"("2026-03-02T10:15:00Z","attendance":{"session":"SESSION_NOT_GIVEN"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":null}})",
          R"("2026-03-02T10:15:00Z","contact":{},"referral":{}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"a","contactDate":"b"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contact_date":"2026-03-01"},"deleted":true})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"caf\u00e9"}})",
          R"("2026-03-02T10:15:00Z","unknownField":1,"contact":{}})",
          R"("2026-03-02T10:15:00Z","contact":{}} trailing)",
          R"("2026-03-02T10:15:00Z","deleted":"true","contact":{}})",
          R"("2026-03-02T10:15:00Z","attendance":{"session":"PM","code":"\\"}})",
          R"("2026-03-02T10:15:00Z","attendance":{"session":"\u0050M","code":"\/"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\"q\" \b\f\n\r\t"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\u0000\u007f\u0080\u07ff\u0800\uFFFF"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\ud83d\ude00"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\ud800"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\udc00x"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\x"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\u12"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"\u00zz"}})",
          R"("2026-03-02T10:15:00Z","contact":{"contactDate":"a\"})",
          R"("2026-03-02T10:15:00Z","contact":{"contact\u0044ate":"2026-03-01"}})",
          R"("2026\u002d03-02T10:15:00Z","contact":{}})",
      }) {
    ExpectAgreement(head + tail);
  }
}

// A register's afternoon present mark is "\\" in JSON: the fast path takes it (and the other
// escapes of JSON), so that real registers do not fall back to protobuf's parser.
TEST(JsonFastTest, TakesEscapedStringsItself) {
  events::Event e;
  ASSERT_TRUE(FastDecodeJson(
      R"({"eventId":"E\u0031","childId":"C\/\"1\"","recordedAt":"2026-03-02T13:05:00Z",)"
      R"("attendance":{"schoolUrn":"100001","date":"2026-03-02","session":"PM","code":"\\"}})",
      e));
  EXPECT_EQ(e.event_id(), "E1");
  EXPECT_EQ(e.child_id(), "C/\"1\"");
  EXPECT_EQ(e.attendance().code(), "\\");
  ASSERT_TRUE(FastDecodeJson(R"({"eventId":"\u00e9\u20ac","childId":"C","contact":{}})", e));
  EXPECT_EQ(e.event_id(), "\xc3\xa9\xe2\x82\xac");
  EXPECT_FALSE(FastDecodeJson(R"({"eventId":"\ud83d\ude00","childId":"C","contact":{}})", e))
      << "surrogates are left to protobuf's parser";
}

TEST(JsonFastTest, DecodeJsonFallsBackForShapesTheFastPathLeaves) {
  // An offset timestamp is outside the fast path but valid JSON: protobuf decodes it.
  const auto event = DecodeJson(
      R"({"eventId":"E\u0031","childId":"C","recordedAt":"2026-03-02T10:15:00+01:00","contact":{}})");
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->event_id(), "E1");
  EXPECT_EQ(event->recorded_at().seconds() % 86400, 9 * 3600 + 15 * 60);
}

}  // namespace
}  // namespace kpi
