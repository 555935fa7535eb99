// The published topic's messages (published_topic.h): a change republishes its whole group, so a
// row whose published form changes without its own figures changing is published again.
#include "processor/runtime/published_topic.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "kpi.pb.h"

namespace kpi::runtime {
namespace {

Row R(const char* dimension, int64_t count) {
  return Row{Kpi::kContacts, *Date::Parse("2026-03-09"), dimension, count, 0, 3, 0};
}

// key -> "S" (suppressed), "count", or "tombstone".
std::map<std::string, std::string> Decode(const std::vector<OutMessage>& messages) {
  std::map<std::string, std::string> out;
  for (const OutMessage& m : messages) {
    EXPECT_EQ(m.topic, "kpi.published");
    output::KpiRow row;
    if (m.tombstone) {
      out[m.key] = "tombstone";
    } else if (row.ParseFromString(m.value)) {
      out[m.key] = row.suppressed() ? "S" : std::to_string(row.count());
    }
  }
  return out;
}

TEST(PublishedTopicTest, AChangeRepublishesItsWholeGroup) {
  Config config;
  config.published_topic = "kpi.published";
  const std::vector<Row> before = {R("all", 26), R("year=1", 18), R("year=EY", 8)};
  const GroupRows group = [&](Kpi kpi, Date week) {
    EXPECT_EQ(kpi, Kpi::kContacts);
    EXPECT_EQ(week, *Date::Parse("2026-03-09"));
    return before;
  };
  // year=EY falls to 2: small. year=1 is the family's only other row, so it is suppressed too,
  // though its own figures did not change; all keeps its value.
  EXPECT_EQ(
      Decode(PublishedMessages(config, {R("year=EY", 2), R("all", 20)}, group, "2026-03-12", 0)),
      (std::map<std::string, std::string>{{"contacts|2026-03-09|all", "20"},
                                          {"contacts|2026-03-09|year=1", "S"},
                                          {"contacts|2026-03-09|year=EY", "S"}}));
  // year=EY leaves the table (0/0): a tombstone, and year=1 is published again.
  EXPECT_EQ(
      Decode(PublishedMessages(config, {R("year=EY", 0), R("all", 18)}, group, "2026-03-12", 0)),
      (std::map<std::string, std::string>{{"contacts|2026-03-09|all", "18"},
                                          {"contacts|2026-03-09|year=1", "18"},
                                          {"contacts|2026-03-09|year=EY", "tombstone"}}));
  // Off: nothing.
  config.published_topic.clear();
  EXPECT_TRUE(PublishedMessages(config, {R("year=EY", 2)}, group, "2026-03-12", 0).empty());
}

}  // namespace
}  // namespace kpi::runtime
