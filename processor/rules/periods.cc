// CP periods and care periods (KPIS-2.md sections 1 and 5): the periods merged from a child's CP
// plans or looked-after episodes, the reviews numbered within a period (in timescale; overdue at
// S(W)), the latest visit (in timescale at S(W)), and cla_started. One rule for both kinds, with
// the limits of each in a PeriodKind.
#include <algorithm>

#include "processor/rules/families.h"

namespace kpi::rules {
namespace {

// A merged period of KPIS-2.md section 1.
struct Period {
  Date start;
  std::optional<Date> end;  // none: open-ended
  // A date falls in the period (its end included); "open at S" is ForEachSnapshotWeek's test.
  bool Holds(Date d) const { return start <= d && (!end || d <= *end); }
};

struct Span {
  Date start;
  std::optional<Date> end;
  std::string_view id;
};

// The merge rule: by (start, event id); a record starting on or before the period's end joins it.
std::vector<Period> MergePeriods(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) {
    return x.start != y.start ? x.start < y.start : x.id < y.id;
  });
  std::vector<Period> periods;
  for (const Span& s : spans) {
    if (!periods.empty()) {
      Period& current = periods.back();
      if (!current.end || s.start <= *current.end) {
        current.end =
            s.end && current.end ? std::optional(std::max(*s.end, *current.end)) : std::nullopt;
        continue;
      }
    }
    periods.push_back({s.start, s.end});
  }
  return periods;
}

struct Dated {
  Date date;
  std::string_view id;
  auto operator<=>(const Dated&) const = default;
};

// The number of dates in the sorted `dates` that are <= d.
size_t CountUpTo(const std::vector<Date>& dates, Date d) {
  return static_cast<size_t>(std::upper_bound(dates.begin(), dates.end(), d) - dates.begin());
}

struct PeriodKind {
  ReviewType review_type;
  std::optional<Kpi> started;
  Kpi reviews_in_time;
  Kpi reviews_overdue;
  Kpi visits_in_time;
  // The record's span when it makes a period of this kind.
  std::optional<Span> (*span)(const RecordVersion&);
  // Whether review k of a period (1: the first) held on `d` is in time, `previous` being the
  // review before it (the period start for k = 1). A period with n reviews held by S has its
  // review n + 1 overdue at S when that review held on S would not be in time.
  bool (*review_in_time)(const Context&, size_t k, Date previous, Date d);
  // Whether the visits are in time at S, given the period start and the latest counted visit in
  // [start, S].
  bool (*visit_in_time)(const Context&, Date start, std::optional<Date> visit, Date s);
};

const PeriodKind kCpPeriods = {
    .review_type = ReviewType::kCp,
    .started = std::nullopt,
    .reviews_in_time = Kpi::kCpReviewsInTimescale,
    .reviews_overdue = Kpi::kCpReviewsOverdue,
    .visits_in_time = Kpi::kCpVisitsInTimescale,
    .span = [](const RecordVersion& v) -> std::optional<Span> {
      if (v.kind() != Kind::kCpPlan) return std::nullopt;
      const auto& plan = v.record.as<body::CpPlan>();
      return Span{plan.start_date, plan.end_date, v.id};
    },
    .review_in_time =
        [](const Context& ctx, size_t k, Date previous, Date d) {
          const KpiLimits& l = ctx.limits;
          return d <= AddMonths(previous, k == 1 ? l.cp_first_review_months : l.cp_review_months);
        },
    .visit_in_time =
        [](const Context& ctx, Date start, std::optional<Date> visit, Date s) {
          return ctx.calendar.WorkingDays(visit.value_or(start), s) <= ctx.limits.cp_visit_limit;
        },
};

const PeriodKind kCarePeriods = {
    .review_type = ReviewType::kCla,
    .started = Kpi::kClaStarted,
    .reviews_in_time = Kpi::kClaReviewsInTimescale,
    .reviews_overdue = Kpi::kClaReviewsOverdue,
    .visits_in_time = Kpi::kClaVisitsInTimescale,
    .span = [](const RecordVersion& v) -> std::optional<Span> {
      if (v.kind() != Kind::kLookedAfter) return std::nullopt;
      const auto& episode = v.record.as<body::LookedAfter>();
      if (episode.short_breaks) return std::nullopt;
      return Span{episode.start_date, episode.end_date, v.id};
    },
    .review_in_time =
        [](const Context& ctx, size_t k, Date previous, Date d) {
          const KpiLimits& l = ctx.limits;
          if (k == 1) return ctx.calendar.WorkingDays(previous, d) <= l.cla_first_review_limit;
          return d <=
                 AddMonths(previous, k == 2 ? l.cla_second_review_months : l.cla_review_months);
        },
    .visit_in_time =
        [](const Context& ctx, Date start, std::optional<Date> visit, Date s) {
          const KpiLimits& l = ctx.limits;
          return visit ? s - *visit <= l.cla_visit_days : s - start <= l.cla_first_visit_days;
        },
};

void PeriodsUnit(const PeriodKind& kind, const Context& ctx, ChildState& child, int sign,
                 CellSink& sink) {
  std::vector<Span> spans;
  std::vector<Dated> reviews;
  std::vector<Date> visits;
  for (const RecordVersion& v : child.records) {
    if (v.record.deleted) continue;
    if (const std::optional<Span> span = kind.span(v)) spans.push_back(*span);
    if (v.kind() == Kind::kReview && v.record.as<body::Review>().review_type == kind.review_type) {
      reviews.push_back({v.record.as<body::Review>().review_date, v.id});
    }
    if (v.kind() == Kind::kVisit && !v.record.as<body::Visit>().child_not_seen) {
      visits.push_back(v.record.as<body::Visit>().visit_date);
    }
  }
  if (spans.empty()) return;
  const std::vector<Period> periods = MergePeriods(std::move(spans));
  std::sort(reviews.begin(), reviews.end());
  std::sort(visits.begin(), visits.end());
  DistinctRuns started;  // distinct children by week
  UnitRuns& runs = sink.units();

  for (const Period& period : periods) {
    if (kind.started) {
      started.Add(*kind.started, period.start.WeekStart(), ctx.DimsOn(child, period.start));
    }
    // The period's reviews in (date, event id) order; the period start stands in for review 0.
    std::vector<Date> held;
    for (const Dated& review : reviews) {
      if (!period.Holds(review.date)) continue;
      const Date previous = held.empty() ? period.start : held.back();
      const bool in_time = kind.review_in_time(ctx, held.size() + 1, previous, review.date);
      runs.Row(kind.reviews_in_time, review.date, ctx.DimsOn(child, review.date),
               in_time ? sign : 0, sign);
      held.push_back(review.date);
    }
    // Each week in which the period is open at S(W): the next review overdue, the visit state.
    ctx.ForEachSnapshotWeek(period.start, period.end, [&](Date week, Date s) {
      const size_t n = CountUpTo(held, s);
      const Date last = n == 0 ? period.start : held[n - 1];
      const bool review_overdue = !kind.review_in_time(ctx, n + 1, last, s);
      const size_t seen = CountUpTo(visits, s);
      const std::optional<Date> visit = seen > 0 && visits[seen - 1] >= period.start
                                            ? std::optional(visits[seen - 1])
                                            : std::nullopt;
      const bool visit_in_time = kind.visit_in_time(ctx, period.start, visit, s);
      const Dims dims = ctx.DimsOn(child, s);
      if (review_overdue) runs.Row(kind.reviews_overdue, week, dims, sign, 0);
      runs.Row(kind.visits_in_time, week, dims, visit_in_time ? sign : 0, sign);
      return true;
    });
  }
  started.Flush(runs, sign);
}

}  // namespace

void CpPeriodsUnit(const Context& ctx, ChildState& child, int sign, CellSink& sink) {
  PeriodsUnit(kCpPeriods, ctx, child, sign, sink);
}

void CarePeriodsUnit(const Context& ctx, ChildState& child, int sign, CellSink& sink) {
  PeriodsUnit(kCarePeriods, ctx, child, sign, sink);
}

}  // namespace kpi::rules
