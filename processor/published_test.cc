// The published table (KPIS-3.md section 3): E10 as written in section 5, then each rule's edges.
#include "processor/published.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace kpi {
namespace {

Row R(Kpi kpi, const char* week, const char* dimension, int64_t count, int64_t base = 0) {
  return Row{kpi, *Date::Parse(week), dimension, count, base, 0, 0};
}

// The dimensions suppressed, of the rows of `rows`.
std::set<std::string> Hidden(const std::vector<Row>& rows, int k = kDefaultSmallCount) {
  const std::vector<bool> s = Suppressed(rows, k);
  std::set<std::string> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (s[i]) out.insert(rows[i].week.ToString() + " " + rows[i].dimension);
  }
  return out;
}

const std::vector<Row> kE10 = {
    R(Kpi::kContacts, "2026-03-09", "all", 20),
    R(Kpi::kContacts, "2026-03-09", "school=100001", 12),
    R(Kpi::kContacts, "2026-03-09", "school=100002", 5),
    R(Kpi::kContacts, "2026-03-09", "school=100003", 3),
    R(Kpi::kContacts, "2026-03-09", "year=EY", 2),
    R(Kpi::kContacts, "2026-03-09", "year=1", 18),
    R(Kpi::kContacts, "2026-03-09", "sen=none", 14),
    R(Kpi::kContacts, "2026-03-09", "sen=unknown", 6),
};

TEST(PublishedTest, E10PrimaryAndSecondarySuppression) {
  // Primary: 100002 (5), 100003 (3), EY (2). Secondary: the year family had exactly one, so
  // year=1 too; the school family already had two; sen none.
  EXPECT_EQ(Hidden(kE10),
            (std::set<std::string>{"2026-03-09 school=100002", "2026-03-09 school=100003",
                                   "2026-03-09 year=EY", "2026-03-09 year=1"}));
  const std::vector<bool> s = Suppressed(kE10, kDefaultSmallCount);
  EXPECT_EQ(
      PublishedRowToJson(kE10[0], s[0]),
      R"({"kpi":"contacts","week_start":"2026-03-09","dimension":"all","count":20,"base":0,"suppressed":false})"
      "\n");
  EXPECT_EQ(
      PublishedRowToJson(kE10[2], s[2]),
      R"({"kpi":"contacts","week_start":"2026-03-09","dimension":"school=100002","suppressed":true})"
      "\n");
}

TEST(PublishedTest, E10AGroupWhoseTotalIsSuppressedGetsNoSecondarySuppression) {
  const std::vector<Row> rows = {R(Kpi::kContacts, "2026-03-16", "all", 4),
                                 R(Kpi::kContacts, "2026-03-16", "school=100001", 3),
                                 R(Kpi::kContacts, "2026-03-16", "school=100002", 1),
                                 R(Kpi::kContacts, "2026-03-16", "school=100003", 9)};
  EXPECT_EQ(Hidden(rows), (std::set<std::string>{"2026-03-16 all", "2026-03-16 school=100001",
                                                 "2026-03-16 school=100002"}));
}

TEST(PublishedTest, E10ARateRowIsSuppressedByASmallBase) {
  const std::vector<Row> rows = {R(Kpi::kAttendanceRate, "2026-03-09", "school=100004", 0, 4),
                                 R(Kpi::kAttendanceRate, "2026-03-16", "school=100004", 0, 40)};
  EXPECT_EQ(Hidden(rows), (std::set<std::string>{"2026-03-09 school=100004"}));
}

TEST(PublishedTest, SecondarySuppressionTakesTheSmallestValueThenTheSmallestDimension) {
  // One suppressed school; the others' values are their bases (all > 0): 100003 and 100005 tie
  // at 30, the smallest, and 100003 is the smaller dimension string. In the contacts group the
  // values are counts.
  const std::vector<Row> rows = {R(Kpi::kAbsenceRate, "2026-03-09", "all", 500, 1000),
                                 R(Kpi::kAbsenceRate, "2026-03-09", "school=100001", 2, 40),
                                 R(Kpi::kAbsenceRate, "2026-03-09", "school=100005", 6, 30),
                                 R(Kpi::kAbsenceRate, "2026-03-09", "school=100003", 7, 30),
                                 R(Kpi::kAbsenceRate, "2026-03-09", "school=100002", 8, 900),
                                 R(Kpi::kContacts, "2026-03-09", "all", 40),
                                 R(Kpi::kContacts, "2026-03-09", "year=1", 3),
                                 R(Kpi::kContacts, "2026-03-09", "year=2", 31)};
  const std::vector<bool> s = Suppressed(rows, kDefaultSmallCount);
  EXPECT_EQ(s, (std::vector<bool>{false, true, false, true, false, false, true, true}));
  // Zero is not small; a family whose only other row is suppressed already has nothing to add.
  const std::vector<Row> zeros = {R(Kpi::kContacts, "2026-03-09", "all", 40),
                                  R(Kpi::kContacts, "2026-03-09", "year=1", 0, 0),
                                  R(Kpi::kContacts, "2026-03-09", "year=2", 4)};
  EXPECT_EQ(Hidden(zeros), (std::set<std::string>{"2026-03-09 year=1", "2026-03-09 year=2"}));
  const std::vector<Row> alone = {R(Kpi::kContacts, "2026-03-09", "all", 40),
                                  R(Kpi::kContacts, "2026-03-09", "year=2", 4)};
  EXPECT_EQ(Hidden(alone), (std::set<std::string>{"2026-03-09 year=2"}));
}

TEST(PublishedTest, SmallCountZeroPublishesEverything) {
  EXPECT_EQ(Hidden(kE10, 0), std::set<std::string>());
  EXPECT_EQ(Hidden(kE10, 2), (std::set<std::string>{"2026-03-09 year=EY", "2026-03-09 year=1"}));
}

}  // namespace
}  // namespace kpi
