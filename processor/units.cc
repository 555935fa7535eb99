// The child-level units of KPIS-2.md section 7: KPIs that read several records of a child at once.
// Each is computed from the child's live records and as_of alone, so a unit retracted with the
// state before a change and added back with the state after it moves the cells exactly
// (docs/DESIGN.md, "Child-level units").
#include <algorithm>

#include "processor/engine.h"

namespace kpi {
namespace {

// A merged period of KPIS-2.md section 1 (CP periods, care periods).
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

// Distinct-child rows of one unit: (kpi, dimension) runs of consecutive weeks, each week counted
// once however many of the child's records put the child in it. No per-child references are kept:
// the unit is recomputed whole, so weeks it reaches twice are simply merged here. A pupil on roll
// for three years is a few runs (one per year group), not a cell per week and dimension.
class DistinctRuns {
 public:
  void Add(Kpi kpi, Date week, const DimTable::Dims& dims) {
    for (const uint32_t dim : dims) Extend(UnitGroup(kpi, dim), week);
  }
  // Calls add(group, first week, last week) for each merged run.
  template <typename AddFn>
  void Flush(AddFn add) {
    std::sort(runs_.begin(), runs_.end(), [](const Run& x, const Run& y) {
      return x.group != y.group ? x.group < y.group : x.first < y.first;
    });
    for (size_t i = 0; i < runs_.size();) {
      Run merged = runs_[i];
      for (++i;
           i < runs_.size() && runs_[i].group == merged.group && runs_[i].first <= merged.last + 7;
           ++i) {
        merged.last = std::max(merged.last, runs_[i].last);
      }
      add(merged.group, merged.first, merged.last);
    }
  }

 private:
  struct Run {
    uint64_t group;
    Date first;
    Date last;
  };
  // Weeks arrive in order within a record; the group's latest run grows when the week follows it.
  void Extend(uint64_t group, Date week) {
    for (size_t i = runs_.size(); i-- > 0;) {
      if (runs_[i].group != group) continue;
      if (runs_[i].last + 7 == week) {
        runs_[i].last = week;
        return;
      }
      break;
    }
    runs_.push_back({group, week, week});
  }
  std::vector<Run> runs_;
};

// The number of dates in the sorted `dates` that are <= d.
size_t CountUpTo(const std::vector<Date>& dates, Date d) {
  return static_cast<size_t>(std::upper_bound(dates.begin(), dates.end(), d) - dates.begin());
}

}  // namespace

uint8_t Engine::UnitsOf(Kind kind) {
  switch (kind) {
    case Kind::kEnrolment:
      return kUnitEnrolments;
    case Kind::kExclusion:
      return kUnitExclusions;
    case Kind::kEhcPlan:
    case Kind::kEhcReview:
      return kUnitEhc;
    case Kind::kCpPlan:
      return kUnitCp;
    case Kind::kLookedAfter:
      return kUnitCla;
    case Kind::kReview:  // a change of type moves a review between the two
    case Kind::kVisit:   // any counted visit serves both kinds of period
      return kUnitCp | kUnitCla;
    case Kind::kProfile:  // the dimensions and the year group of everything
      return kAllUnits;
    default:
      return 0;
  }
}

void Engine::UnitRun(uint64_t group, Date first, Date last, int64_t count, int64_t base) {
  unit_deltas_.push_back({group, first, last, count, base});
}

void Engine::UnitRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) {
    const uint64_t group = UnitGroup(kpi, dim);
    // A row of each week of a period (ContributePeriods) extends the group's run of last week
    // when the value is the same; the runs in flight are a few kpis' dimensions.
    bool extended = false;
    for (size_t i = unit_deltas_.size(), seen = 0; i-- > 0 && seen < 16; ++seen) {
      UnitDelta& run = unit_deltas_[i];
      if (run.group != group) continue;
      if (run.last + 7 == week && run.count == count && run.base == base) {
        run.last = week;
        extended = true;
      }
      break;
    }
    if (!extended) UnitRun(group, week, week, count, base);
  }
}

void Engine::FoldUnitRuns() {
  // Each run [first, last] of value v is +v at `first` and -v a week after `last`; summed per
  // (group, week) and accumulated along the weeks, a retraction and a re-addition cancel wherever
  // the change does not reach, and only the weeks where the net value is not zero touch a cell.
  unit_edges_.clear();
  for (const UnitDelta& run : unit_deltas_) {
    unit_edges_.push_back({run.group, run.first.days(), run.count, run.base});
    unit_edges_.push_back({run.group, (run.last + 7).days(), -run.count, -run.base});
  }
  unit_deltas_.clear();
  std::sort(unit_edges_.begin(), unit_edges_.end(), [](const UnitEdge& x, const UnitEdge& y) {
    return x.group != y.group ? x.group < y.group : x.week < y.week;
  });
  unit_cells_.clear();
  int64_t count = 0;
  int64_t base = 0;
  for (size_t i = 0; i < unit_edges_.size();) {
    const UnitEdge& at = unit_edges_[i];
    const uint64_t group = at.group;
    const int32_t week = at.week;
    for (; i < unit_edges_.size() && unit_edges_[i].group == group && unit_edges_[i].week == week;
         ++i) {
      count += unit_edges_[i].count;
      base += unit_edges_[i].base;
    }
    if (count == 0 && base == 0) continue;
    // Every run closes, so a non-zero sum has a later edge in the same group.
    const int32_t until = unit_edges_[i].week;
    const auto kpi = static_cast<Kpi>(group >> 32);
    const auto dim = static_cast<uint32_t>(group);
    for (int32_t w = week; w < until; w += 7) {
      unit_cells_.push_back({PackCell(kpi, Date(w), dim), count, base});
    }
  }
  // In key order: the order in which they become dirty, and so that of a commit's rows.
  std::sort(unit_cells_.begin(), unit_cells_.end(),
            [](const UnitCell& x, const UnitCell& y) { return x.cell < y.cell; });
  for (const UnitCell& c : unit_cells_) cells_.Add(c.cell, c.count, c.base);
  // The runs and edges are bounded (kFoldRuns); the cells of one fold are not (a backfill's commit
  // can emit hundreds of thousands), and memory_mb does not count them: not kept past 1.5 MiB.
  if (unit_cells_.capacity() > (size_t{1} << 16)) unit_cells_ = {};
}

Date Engine::UnitsFrom(const Record* before, const Record& after) {
  // The date from which a record can move its units' weekly rows: a review, a visit or an EHC
  // review only enters the state at S(W) >= its date (the latest review or visit up to S), and a
  // profile only governs dates from its effective date. Other kinds move periods and plans:
  // every week.
  const auto date_of = [](const Record& r) -> std::optional<Date> {
    if (const auto* review = std::get_if<body::Review>(&r.body)) return review->review_date;
    if (const auto* visit = std::get_if<body::Visit>(&r.body)) return visit->visit_date;
    if (const auto* ehc = std::get_if<body::EhcReview>(&r.body)) return ehc->meeting_date;
    if (const auto* profile = std::get_if<body::Profile>(&r.body)) return profile->effective_date;
    return std::nullopt;
  };
  const Kind kind = after.kind();
  if (kind != Kind::kReview && kind != Kind::kVisit && kind != Kind::kEhcReview &&
      kind != Kind::kProfile) {
    return kNoRestateBound;
  }
  // A delete carries no date but a profile's effective date: the live version before has it.
  std::optional<Date> from;
  for (const Record* r : {before, &after}) {
    if (r == nullptr || (r->deleted && kind != Kind::kProfile)) continue;
    const std::optional<Date> d = date_of(*r);
    if (d && (!from || *d < *from)) from = d;
  }
  return from ? from->WeekStart() : kNoRestateLimit;
}

void Engine::ContributeUnits(ChildState& child, uint8_t units, int sign) {
  if ((units & kUnitEnrolments) != 0) ContributeEnrolments(child, sign);
  if ((units & kUnitExclusions) != 0) ContributeExclusions(child, sign);
  if ((units & kUnitEhc) != 0) ContributeEhcPlans(child, sign);
  if ((units & kUnitCp) != 0) ContributePeriods(child, false, sign);
  if ((units & kUnitCla) != 0) ContributePeriods(child, true, sign);
}

// pupils_on_roll: each week's distinct (school, year, SEN) rows of the enrolments open at S(W).
// ehe_open: no enrolment open at S, the latest end L on or before S has an EHE leaver among the
// enrolments ending on L, and the year group on S is R to 11 or unknown.
void Engine::ContributeEnrolments(ChildState& child, int sign) {
  std::vector<const body::Enrolment*> enrolments;
  std::optional<Date> first_ehe;
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kEnrolment || v.record.deleted) continue;
    const auto& e = v.record.as<body::Enrolment>();
    enrolments.push_back(&e);
    if (e.end_date && e.leave_reason == LeaveReason::kEhe &&
        (!first_ehe || *e.end_date < first_ehe)) {
      first_ehe = e.end_date;
    }
  }
  if (enrolments.empty()) return;
  DistinctRuns on_roll;
  for (const body::Enrolment* e : enrolments) {
    const uint32_t school = OwnSchool(e->school_urn);
    ForEachSnapshotWeek(e->start_date, e->end_date, [&](Date week, Date s) {
      on_roll.Add(Kpi::kPupilsOnRoll, week, DimsOn(child, s, school));
      return true;
    });
  }
  on_roll.Flush(
      [&](uint64_t group, Date first, Date last) { UnitRun(group, first, last, sign, 0); });
  if (!first_ehe) return;
  DistinctRuns ehe;
  std::vector<std::string_view> schools;
  ForEachSnapshotWeek(*first_ehe, std::nullopt, [&](Date week, Date s) {
    std::optional<Date> last_end;
    for (const body::Enrolment* e : enrolments) {
      if (e->start_date <= s && (!e->end_date || *e->end_date > s)) return true;  // on roll
      if (e->end_date && *e->end_date <= s && (!last_end || *e->end_date > *last_end)) {
        last_end = e->end_date;
      }
    }
    schools.clear();
    for (const body::Enrolment* e : enrolments) {
      if (e->end_date == last_end && e->leave_reason == LeaveReason::kEhe) {
        schools.push_back(e->school_urn);
      }
    }
    if (schools.empty()) return true;
    const Profile* p = child.ProfileOn(s);
    const uint8_t year = p ? p->YearGroupIn(AcademicYearOf(s)) : kYearUnknown;
    if (year != kYearUnknown && (year < 2 || year > 13)) return true;  // codes 2..13: R to 11
    for (const std::string_view urn : schools) {
      ehe.Add(Kpi::kEheOpen, week, DimsOn(child, s, OwnSchool(urn)));
    }
    return true;
  });
  ehe.Flush([&](uint64_t group, Date first, Date last) { UnitRun(group, first, last, sign, 0); });
}

// suspended_pupils_ytd and permanently_excluded_pupils_ytd: every week from an exclusion's to the
// end of its academic year, with the exclusion's school and the profile on S(W).
void Engine::ContributeExclusions(ChildState& child, int sign) {
  DistinctRuns ytd;
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kExclusion || v.record.deleted) continue;
    const auto& x = v.record.as<body::Exclusion>();
    if (x.kind != ExclusionKind::kSuspension && x.kind != ExclusionKind::kPermanent) continue;
    const Kpi kpi = x.kind == ExclusionKind::kSuspension ? Kpi::kSuspendedPupilsYtd
                                                         : Kpi::kPermanentlyExcludedPupilsYtd;
    const uint32_t school = OwnSchool(x.school_urn);
    const Date next_year = AcademicYearStart(AcademicYearOf(x.start_date) + 1);
    ForEachSnapshotWeek(x.start_date, next_year, [&](Date week, Date s) {
      ytd.Add(kpi, week, DimsOn(child, s, school));
      return true;
    });
  }
  ytd.Flush([&](uint64_t group, Date first, Date last) { UnitRun(group, first, last, sign, 0); });
}

// ehc_plans_open: the child in each week some live EHC plan is open at S(W).
// ehc_reviews_overdue: some live EHC plan open at S whose latest review meeting in
// [plan start, S] (or the plan start) is more than ehc_review_months before S.
void Engine::ContributeEhcPlans(ChildState& child, int sign) {
  std::vector<const body::EhcPlan*> plans;
  std::vector<Date> meetings;
  for (const RecordVersion& v : child.records) {
    if (v.record.deleted) continue;
    if (v.kind() == Kind::kEhcPlan) plans.push_back(&v.record.as<body::EhcPlan>());
    if (v.kind() == Kind::kEhcReview)
      meetings.push_back(v.record.as<body::EhcReview>().meeting_date);
  }
  if (plans.empty()) return;
  std::sort(meetings.begin(), meetings.end());
  const auto overdue = [&](const body::EhcPlan& plan, Date s) {
    const size_t n = CountUpTo(meetings, s);
    const Date last =
        n > 0 && meetings[n - 1] >= plan.start_date ? meetings[n - 1] : plan.start_date;
    return s > AddMonths(last, options_.limits.ehc_review_months);
  };
  DistinctRuns rows;
  for (const body::EhcPlan* plan : plans) {
    ForEachSnapshotWeek(plan->start_date, plan->end_date, [&](Date week, Date s) {
      const Dims dims = DimsOn(child, s);
      rows.Add(Kpi::kEhcPlansOpen, week, dims);
      if (overdue(*plan, s)) rows.Add(Kpi::kEhcReviewsOverdue, week, dims);
      return true;
    });
  }
  rows.Flush([&](uint64_t group, Date first, Date last) { UnitRun(group, first, last, sign, 0); });
}

// CP periods (care = false) or care periods (true): the periods started (cla_started), the reviews
// of the matching type numbered within their period (in timescale; overdue at S) and the visits.
void Engine::ContributePeriods(ChildState& child, bool care, int sign) {
  const KpiLimits& limits = options_.limits;
  const ReviewType type = care ? ReviewType::kCla : ReviewType::kCp;
  std::vector<Span> spans;
  std::vector<Dated> reviews;
  std::vector<Date> visits;
  for (const RecordVersion& v : child.records) {
    if (v.record.deleted) continue;
    switch (v.kind()) {
      case Kind::kCpPlan:
        if (!care) {
          const auto& plan = v.record.as<body::CpPlan>();
          spans.push_back({plan.start_date, plan.end_date, v.id});
        }
        break;
      case Kind::kLookedAfter:
        if (care) {
          const auto& episode = v.record.as<body::LookedAfter>();
          if (!episode.short_breaks) spans.push_back({episode.start_date, episode.end_date, v.id});
        }
        break;
      case Kind::kReview:
        if (v.record.as<body::Review>().review_type == type) {
          reviews.push_back({v.record.as<body::Review>().review_date, v.id});
        }
        break;
      case Kind::kVisit:
        if (!v.record.as<body::Visit>().child_not_seen) {
          visits.push_back(v.record.as<body::Visit>().visit_date);
        }
        break;
      default:
        break;
    }
  }
  if (spans.empty()) return;
  const std::vector<Period> periods = MergePeriods(std::move(spans));
  std::sort(reviews.begin(), reviews.end());
  std::sort(visits.begin(), visits.end());
  DistinctRuns started;  // cla_started: distinct children by week

  for (const Period& period : periods) {
    if (care) started.Add(Kpi::kClaStarted, period.start.WeekStart(), DimsOn(child, period.start));
    // The period's reviews in (date, event id) order; the period start stands in for review 0.
    std::vector<Date> held;
    for (const Dated& review : reviews) {
      if (!period.Holds(review.date)) continue;
      const size_t k = held.size() + 1;
      const Date previous = held.empty() ? period.start : held.back();
      bool in_time = false;
      if (!care) {
        in_time = review.date <= AddMonths(previous, k == 1 ? limits.cp_first_review_months
                                                            : limits.cp_review_months);
      } else if (k == 1) {
        in_time = calendar_.WorkingDays(period.start, review.date) <= limits.cla_first_review_limit;
      } else {
        in_time = review.date <= AddMonths(previous, k == 2 ? limits.cla_second_review_months
                                                            : limits.cla_review_months);
      }
      UnitRow(care ? Kpi::kClaReviewsInTimescale : Kpi::kCpReviewsInTimescale, review.date,
              DimsOn(child, review.date), in_time ? sign : 0, sign);
      held.push_back(review.date);
    }
    // Each week in which the period is open at S(W): the next review overdue, the visit state.
    ForEachSnapshotWeek(period.start, period.end, [&](Date week, Date s) {
      const size_t n = CountUpTo(held, s);
      const Date last = n == 0 ? period.start : held[n - 1];
      bool review_overdue = false;
      if (!care) {
        review_overdue =
            s > AddMonths(last, n == 0 ? limits.cp_first_review_months : limits.cp_review_months);
      } else if (n == 0) {
        review_overdue = calendar_.WorkingDays(period.start, s) > limits.cla_first_review_limit;
      } else {
        review_overdue = s > AddMonths(last, n == 1 ? limits.cla_second_review_months
                                                    : limits.cla_review_months);
      }
      const size_t seen = CountUpTo(visits, s);
      const std::optional<Date> visit = seen > 0 && visits[seen - 1] >= period.start
                                            ? std::optional(visits[seen - 1])
                                            : std::nullopt;
      bool visit_in_time = false;
      if (!care) {
        visit_in_time =
            calendar_.WorkingDays(visit.value_or(period.start), s) <= limits.cp_visit_limit;
      } else if (!visit) {
        visit_in_time = s - period.start <= limits.cla_first_visit_days;
      } else {
        visit_in_time = s - *visit <= limits.cla_visit_days;
      }
      const Dims dims = DimsOn(child, s);
      if (review_overdue) {
        UnitRow(care ? Kpi::kClaReviewsOverdue : Kpi::kCpReviewsOverdue, week, dims, sign, 0);
      }
      UnitRow(care ? Kpi::kClaVisitsInTimescale : Kpi::kCpVisitsInTimescale, week, dims,
              visit_in_time ? sign : 0, sign);
      return true;
    });
  }
  started.Flush(
      [&](uint64_t group, Date first, Date last) { UnitRun(group, first, last, sign, 0); });
}

}  // namespace kpi
