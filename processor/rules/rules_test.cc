// The rules alone: a ChildState, a CellTable and a Context, no store and no engine.
#include "processor/rules/rules.h"

#include <gtest/gtest.h>

namespace kpi::rules {
namespace {

Date D(int y, int m, int d) { return Date::FromYmd(y, m, d); }

body::Assessment AssessmentFrom(Date start) {
  body::Assessment a;
  a.start_date = start;
  return a;
}
body::CpPlan CpPlanFrom(Date start) {
  body::CpPlan p;
  p.start_date = start;
  return p;
}
body::S47 S47From(Date start) {
  body::S47 s;
  s.start_date = start;
  return s;
}
body::Icpc IcpcOn(Date held, std::string s47_id) {
  body::Icpc i;
  i.conference_date = held;
  i.s47_id = std::move(s47_id);
  return i;
}

class RulesTest : public ::testing::Test {
 protected:
  Context At(Date as_of) const {
    return {calendar_, limits_, 45, 15, as_of, as_of.WeekStart(), Context::kEveryWeek, dims_};
  }
  // Adding a record moves the others: take them by index after the last Add.
  template <typename Body>
  RecordVersion& Add(std::string id, Body body) {
    RecordVersion& v = child_.records.emplace_back();
    v.id = std::move(id);
    v.record.body = std::move(body);
    return v;
  }
  // (count, base) of the all-children row of `kpi` in the week of `date`.
  std::pair<int64_t, int64_t> Row(Kpi kpi, Date date) {
    const CellTable::Cell* cell = cells_.Find(PackCell(kpi, date.WeekStart(), dims_.all()));
    return cell == nullptr ? std::pair<int64_t, int64_t>{0, 0}
                           : std::pair<int64_t, int64_t>{cell->count, cell->base};
  }
  bool AllZero() const {
    for (const CellTable::Cell& c : cells_.cells()) {
      if (c.key != 0 && (c.count != 0 || c.base != 0)) return false;
    }
    return true;
  }

  Calendar calendar_;
  KpiLimits limits_;
  mutable DimTable dims_;
  CellTable cells_;
  UnitRuns runs_;
  int64_t missing_marks_ = 0;
  CellSink sink_{cells_, runs_, /*durable=*/false, missing_marks_};
  ChildState child_;
};

TEST_F(RulesTest, AnAssessmentIsOpenEachWeekAndOverdueOnlyPastItsLimit) {
  const Context ctx = At(D(2025, 3, 31));  // a Monday: its week's S is as_of
  const RecordVersion& v = Add("a1", AssessmentFrom(D(2025, 1, 6)));
  Contribute(ctx, child_, v, +1, sink_);
  EXPECT_EQ(Row(Kpi::kAssessmentsStarted, D(2025, 1, 6)), std::make_pair(1L, 0L));
  EXPECT_EQ(Row(Kpi::kAssessmentsOpen, D(2025, 1, 6)), std::make_pair(1L, 0L));
  EXPECT_EQ(Row(Kpi::kAssessmentsOpen, D(2025, 3, 31)), std::make_pair(1L, 0L));
  EXPECT_EQ(Row(Kpi::kAssessmentsOpen, D(2025, 4, 7)), std::make_pair(0L, 0L));  // after as_of
  EXPECT_EQ(Row(Kpi::kAssessmentsOverdue, D(2025, 1, 6)), std::make_pair(0L, 0L));
  // 45 working days from Monday 6 January run out around the week of 3 March.
  EXPECT_EQ(Row(Kpi::kAssessmentsOverdue, D(2025, 2, 24)), std::make_pair(0L, 0L));
  EXPECT_EQ(Row(Kpi::kAssessmentsOverdue, D(2025, 3, 10)), std::make_pair(1L, 0L));
  Contribute(ctx, child_, v, -1, sink_);  // retracted with the same state: nothing left
  EXPECT_TRUE(AllZero());
}

TEST_F(RulesTest, RestateFromSkipsTheEarlierSnapshotWeeks) {
  const RecordVersion& v = Add("a1", AssessmentFrom(D(2025, 1, 6)));
  Contribute(At(D(2025, 3, 31)).From(D(2025, 3, 3)), child_, v, +1, sink_);
  EXPECT_EQ(Row(Kpi::kAssessmentsStarted, D(2025, 1, 6)), std::make_pair(1L, 0L));  // a flow
  EXPECT_EQ(Row(Kpi::kAssessmentsOpen, D(2025, 2, 24)), std::make_pair(0L, 0L));
  EXPECT_EQ(Row(Kpi::kAssessmentsOpen, D(2025, 3, 3)), std::make_pair(1L, 0L));
}

TEST_F(RulesTest, AContactCountsTheChildOnceAWeekAndAnUnmatchedRetractionIsCorruption) {
  const Context ctx = At(D(2025, 3, 31));
  Add("c1", body::Contact{D(2025, 1, 6)});
  Add("c2", body::Contact{D(2025, 1, 8)});  // the same week
  const RecordVersion& a = child_.records[0];
  const RecordVersion& b = child_.records[1];
  Contribute(ctx, child_, a, +1, sink_);
  Contribute(ctx, child_, b, +1, sink_);
  EXPECT_EQ(Row(Kpi::kContacts, D(2025, 1, 6)), std::make_pair(1L, 0L));
  EXPECT_TRUE(sink_.TakeRefsChanged());
  Contribute(ctx, child_, a, -1, sink_);
  EXPECT_EQ(Row(Kpi::kContacts, D(2025, 1, 6)), std::make_pair(1L, 0L));
  Contribute(ctx, child_, b, -1, sink_);
  EXPECT_TRUE(AllZero());
  EXPECT_EQ(sink_.TakeCorruption(), nullptr);
  Contribute(ctx, child_, b, -1, sink_);
  EXPECT_NE(sink_.TakeCorruption(), nullptr);
}

TEST_F(RulesTest, CpReviewsAreTimedByOneDeadlineRuleInTimeAndOverdue) {
  const Context ctx = At(D(2025, 12, 1));
  Add("p1", CpPlanFrom(D(2025, 1, 6)));
  Add("r1", body::Review{D(2025, 4, 25), ReviewType::kCp});   // first: due by 6 April
  Add("r2", body::Review{D(2025, 10, 20), ReviewType::kCp});  // second: due by 25 October
  ContributeUnits(ctx, child_, TraitsOf(Kind::kCpPlan).units, +1, sink_);
  runs_.Fold(cells_);
  EXPECT_EQ(Row(Kpi::kCpReviewsInTimescale, D(2025, 4, 25)), std::make_pair(0L, 1L));
  EXPECT_EQ(Row(Kpi::kCpReviewsInTimescale, D(2025, 10, 20)), std::make_pair(1L, 1L));
  // Overdue at S(W) from the week whose Sunday passes 6 April until the week of the review.
  EXPECT_EQ(Row(Kpi::kCpReviewsOverdue, D(2025, 3, 31)), std::make_pair(0L, 0L));
  EXPECT_EQ(Row(Kpi::kCpReviewsOverdue, D(2025, 4, 7)), std::make_pair(1L, 0L));
  EXPECT_EQ(Row(Kpi::kCpReviewsOverdue, D(2025, 4, 14)), std::make_pair(1L, 0L));
  EXPECT_EQ(Row(Kpi::kCpReviewsOverdue, D(2025, 4, 21)), std::make_pair(0L, 0L));
  EXPECT_EQ(Row(Kpi::kCpReviewsOverdue, D(2025, 10, 20)), std::make_pair(0L, 0L));
  ContributeUnits(ctx, child_, kAllUnits, -1, sink_);
  runs_.Fold(cells_);
  EXPECT_TRUE(AllZero());
}

TEST_F(RulesTest, TheKindTableSaysWhatEachKindMeans) {
  EXPECT_TRUE(TraitsOf(Kind::kAssessment).snapshot);
  EXPECT_FALSE(TraitsOf(Kind::kContact).snapshot);
  EXPECT_EQ(TraitsOf(Kind::kProfile).units, kAllUnits);
  EXPECT_EQ(TraitsOf(Kind::kVisit).units, kUnitCp | kUnitCla);
  Record review;
  review.body = body::Review{D(2025, 3, 20), ReviewType::kCp};
  EXPECT_EQ(UnitsFrom(nullptr, review), D(2025, 3, 17));
  review.deleted = true;  // a delete carries no date of its own
  EXPECT_EQ(UnitsFrom(nullptr, review), Context::kNoWeek);
  Record plan;
  plan.body = CpPlanFrom(D(2025, 1, 6));
  EXPECT_EQ(UnitsFrom(nullptr, plan), Context::kEveryWeek);
}

TEST_F(RulesTest, AnIcpcEndsItsS47sWaitAndDependsOnIt) {
  const Context ctx = At(D(2025, 3, 31));
  Add("s1", S47From(D(2025, 1, 6)));
  Add("i1", IcpcOn(D(2025, 1, 22), "s1"));
  Contribute(ctx, child_, child_.records[0], +1, sink_);
  EXPECT_EQ(Row(Kpi::kS47AwaitingIcpc, D(2025, 1, 13)), std::make_pair(1L, 0L));
  EXPECT_EQ(Row(Kpi::kS47AwaitingIcpc, D(2025, 1, 20)), std::make_pair(0L, 0L));
  const std::vector<uint32_t> s47 =
      DependentRecords(child_, "i1", nullptr, child_.records[1].record);
  EXPECT_EQ(s47, std::vector<uint32_t>{0});
  const std::vector<uint32_t> icpcs =
      DependentRecords(child_, "s1", nullptr, child_.records[0].record);
  EXPECT_EQ(icpcs, std::vector<uint32_t>{1});
}

}  // namespace
}  // namespace kpi::rules
