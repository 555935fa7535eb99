// Social care (KPIS.md, KPIs 1-20; KPIS-2.md section 2 for the CP plans' extra cuts): contacts,
// referrals, assessments, section 47 enquiries and ICPCs, CIN, CP and looked-after plans, and the
// reviews held. The review timeliness, visits and cla_started are periods.cc's.
#include <algorithm>

#include "processor/rules/families.h"

namespace kpi::rules {
namespace {

constexpr int kPlanTwoYears = 730;  // days: cp_plans_ended_2y

// KPIS.md, "ICPC anchor": the strategy discussion when given and not after the S47's start, else
// the start.
Date IcpcAnchor(const body::S47& s47) {
  if (s47.strategy_discussion_date && *s47.strategy_discussion_date <= s47.start_date) {
    return *s47.strategy_discussion_date;
  }
  return s47.start_date;
}

std::optional<Date> FirstIcpcNaming(const ChildState& child, std::string_view s47_id) {
  std::optional<Date> first;
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kIcpc || v.record.deleted) continue;
    const auto& icpc = v.record.as<body::Icpc>();
    if (icpc.s47_id == s47_id && (!first || icpc.conference_date < *first)) {
      first = icpc.conference_date;
    }
  }
  return first;
}

std::optional<Date> EarliestCpStart(const ChildState& child) {
  std::optional<Date> earliest;
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kCpPlan || v.record.deleted) continue;
    const Date start = v.record.as<body::CpPlan>().start_date;
    if (!earliest || start < *earliest) earliest = start;
  }
  return earliest;
}

// The extra cuts of a CP plan's row dated d (KPIS-2.md section 2): category, age, gender and
// ethnicity, in the shape of Dims so that AddRow and AddDistinct take them.
Dims PlanCuts(const Context& ctx, ChildState& child, const body::CpPlan& plan, Date d) {
  const Profile* p = child.ProfileOn(d);
  DimTable& dims = ctx.dims;
  return {dims.Cut(CutFamily::kCategory, static_cast<uint8_t>(plan.category)),
          dims.Cut(CutFamily::kAge, AgeBand(p ? p->date_of_birth : std::nullopt, d)),
          dims.Cut(CutFamily::kGender, p ? static_cast<uint8_t>(p->gender) : 0),
          dims.Cut(CutFamily::kEthnicity, p ? p->ethnicity : 0)};
}

// A referral dated `d` is a re-referral when another live referral of the child is dated in
// [add_months(d, -12), d) (KPIS-3.md section 1; the same day is not before it).
bool IsReReferral(const ChildState& child, std::string_view id, Date d) {
  const Date from = AddMonths(d, -12);
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kReferral || v.record.deleted || v.id == id) continue;
    const Date other = v.record.as<body::Referral>().referral_date;
    if (from <= other && other < d) return true;
  }
  return false;
}

// The child's records of kind `of` for which wanted(version) holds.
template <typename Wanted>
void AddMatching(const ChildState& child, Kind of, Wanted wanted, std::vector<uint32_t>& out) {
  for (uint32_t i = 0; i < child.records.size(); ++i) {
    const RecordVersion& v = child.records[i];
    if (v.kind() == of && wanted(v)) out.push_back(i);
  }
}

}  // namespace

void Contact(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
             CellSink& sink) {
  const Date d = v.record.as<body::Contact>().contact_date;
  sink.AddDistinct(child, Kpi::kContacts, d, ctx.DimsOn(child, d), sign);
}

void Referral(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
              CellSink& sink) {
  const auto& referral = v.record.as<body::Referral>();
  const Date d = referral.referral_date;
  const Dims dims = ctx.DimsOn(child, d);
  sink.AddDistinct(child, Kpi::kReferrals, d, dims, sign);
  // KPIS-3.md section 1: referral records, not distinct children.
  sink.AddRow(Kpi::kReferralsNfa, d, dims, referral.nfa ? sign : 0, sign);
  sink.AddRow(Kpi::kReferralsRepeat12m, d, dims, IsReReferral(child, v.id, d) ? sign : 0, sign);
}

void Assessment(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
                CellSink& sink) {
  const auto& as = v.record.as<body::Assessment>();
  sink.AddRow(Kpi::kAssessmentsStarted, as.start_date, ctx.DimsOn(child, as.start_date), sign, 0);
  if (as.completion_date) {
    const Date done = *as.completion_date;
    sink.AddRow(Kpi::kAssessmentsCompleted, done, ctx.DimsOn(child, done), sign, 0);
  }
  if (as.authorisation_date) {
    const Date authorised = *as.authorisation_date;
    const Dims dims = ctx.DimsOn(child, authorised);
    sink.AddRow(Kpi::kAssessmentsAuthorised, authorised, dims, sign, 0);
    const bool in_time =
        ctx.calendar.WorkingDays(as.start_date, authorised) <= ctx.assessment_limit;
    sink.AddRow(Kpi::kAssessmentsInTimescale, authorised, dims, in_time ? sign : 0, sign);
    const RecordVersion* referral =
        as.referral_id.empty() ? nullptr : child.FindRecord(Kind::kReferral, as.referral_id);
    if (referral != nullptr && !referral->record.deleted) {
      const Date referred = referral->record.as<body::Referral>().referral_date;
      const bool from_referral =
          ctx.calendar.WorkingDays(referred, authorised) <= ctx.assessment_limit;
      sink.AddRow(Kpi::kAssessmentsInTimescaleFromReferral, authorised, dims,
                  from_referral ? sign : 0, sign);
    }
  }
  ctx.ForEachSnapshotWeek(as.start_date, as.authorisation_date, [&](Date week, Date s) {
    const Dims dims = ctx.DimsOn(child, s);
    sink.AddRow(Kpi::kAssessmentsOpen, week, dims, sign, 0);
    const int elapsed = ctx.calendar.WorkingDays(as.start_date, s);
    if (elapsed > ctx.assessment_limit) {
      sink.AddRow(Kpi::kAssessmentsOverdue, week, dims, sign, 0);
    } else if (elapsed > ctx.assessment_limit - ctx.limits.assessment_warning_days) {
      sink.AddRow(Kpi::kAssessmentsDueSoon, week, dims, sign, 0);
    }
    return true;
  });
}

void S47(const Context& ctx, ChildState& child, const RecordVersion& v, int sign, CellSink& sink) {
  const auto& s47 = v.record.as<body::S47>();
  sink.AddRow(Kpi::kS47Started, s47.start_date, ctx.DimsOn(child, s47.start_date), sign, 0);
  if (s47.icpc_not_required) return;
  const std::optional<Date> first_icpc = FirstIcpcNaming(child, v.id);
  ctx.ForEachSnapshotWeek(s47.start_date, s47.end_date, [&](Date week, Date s) {
    if (first_icpc && *first_icpc <= s) return false;  // held by S(W), and by every later S
    const Dims dims = ctx.DimsOn(child, s);
    sink.AddRow(Kpi::kS47AwaitingIcpc, week, dims, sign, 0);
    const int elapsed = ctx.calendar.WorkingDays(IcpcAnchor(s47), s);
    if (elapsed > ctx.icpc_limit) {
      sink.AddRow(Kpi::kS47IcpcOverdue, week, dims, sign, 0);
    } else if (elapsed > ctx.icpc_limit - ctx.limits.icpc_warning_days) {
      sink.AddRow(Kpi::kS47IcpcDueSoon, week, dims, sign, 0);
    }
    return true;
  });
}

void Icpc(const Context& ctx, ChildState& child, const RecordVersion& v, int sign, CellSink& sink) {
  const auto& icpc = v.record.as<body::Icpc>();
  const Dims dims = ctx.DimsOn(child, icpc.conference_date);
  sink.AddRow(Kpi::kIcpcHeld, icpc.conference_date, dims, sign, 0);
  sink.AddCell(PackCell(Kpi::kIcpcHeld, icpc.conference_date.WeekStart(),
                        ctx.dims.Cut(CutFamily::kOutcome, static_cast<uint8_t>(icpc.outcome))),
               sign, 0);
  if (icpc.s47_id.empty()) return;
  const RecordVersion* s47 = child.FindRecord(Kind::kS47, icpc.s47_id);
  if (s47 != nullptr && !s47->record.deleted) {
    const Date anchor = IcpcAnchor(s47->record.as<body::S47>());
    const bool in_time = ctx.calendar.WorkingDays(anchor, icpc.conference_date) <= ctx.icpc_limit;
    sink.AddRow(Kpi::kIcpcInTimescale, icpc.conference_date, dims, in_time ? sign : 0, sign);
  }
}

void CinPlan(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
             CellSink& sink) {
  const auto& plan = v.record.as<body::CinPlan>();
  ctx.ForEachSnapshotWeek(plan.start_date, plan.end_date, [&](Date week, Date s) {
    sink.AddDistinct(child, Kpi::kCinPlansOpen, week, ctx.DimsOn(child, s), sign);
    return true;
  });
}

void CpPlan(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
            CellSink& sink) {
  const auto& plan = v.record.as<body::CpPlan>();
  const Dims at_start = ctx.DimsOn(child, plan.start_date);
  sink.AddRow(Kpi::kCpPlansStarted, plan.start_date, at_start, sign, 0);
  sink.AddRow(Kpi::kCpPlansStarted, plan.start_date, PlanCuts(ctx, child, plan, plan.start_date),
              sign, 0);
  if (plan.end_date) {
    const Date end = *plan.end_date;
    const Dims dims = ctx.DimsOn(child, end);
    sink.AddRow(Kpi::kCpPlansEnded, end, dims, sign, 0);
    const bool two_years = (end - plan.start_date) >= kPlanTwoYears;
    sink.AddRow(Kpi::kCpPlansEnded2y, end, dims, two_years ? sign : 0, sign);
  }
  const std::optional<Date> earliest = EarliestCpStart(child);
  const bool repeat = plan.previous_plans > 0 || (earliest && *earliest < plan.start_date);
  sink.AddRow(Kpi::kCpPlansStartedRepeat, plan.start_date, at_start, repeat ? sign : 0, sign);
  // Another live plan that ended on or before this start, at most two years before it.
  bool repeat_2y = false;
  for (const RecordVersion& other : child.records) {
    if (other.kind() != Kind::kCpPlan || other.record.deleted || other.id == v.id) continue;
    const std::optional<Date> e = other.record.as<body::CpPlan>().end_date;
    repeat_2y = repeat_2y || (e && *e <= plan.start_date && plan.start_date - *e <= kPlanTwoYears);
  }
  sink.AddRow(Kpi::kCpPlansStartedRepeat2y, plan.start_date, at_start, repeat_2y ? sign : 0, sign);
  ctx.ForEachSnapshotWeek(plan.start_date, plan.end_date, [&](Date week, Date s) {
    const Dims dims = ctx.DimsOn(child, s);
    sink.AddDistinct(child, Kpi::kCpPlansOpen, week, dims, sign);
    sink.AddDistinct(child, Kpi::kCpPlansOpen, week, PlanCuts(ctx, child, plan, s), sign);
    if (repeat) sink.AddDistinct(child, Kpi::kCpPlansOpenRepeat, week, dims, sign);
    if (s - plan.start_date >= kPlanTwoYears) {
      sink.AddDistinct(child, Kpi::kCpPlansOpen2y, week, dims, sign);
    }
    return true;
  });
}

void LookedAfter(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
                 CellSink& sink) {
  const auto& episode = v.record.as<body::LookedAfter>();
  if (episode.short_breaks) return;
  ctx.ForEachSnapshotWeek(episode.start_date, episode.end_date, [&](Date week, Date s) {
    sink.AddDistinct(child, Kpi::kClaOpen, week, ctx.DimsOn(child, s), sign);
    return true;
  });
}

// cp_reviews_held and cla_reviews_held; timeliness and overdue are periods.cc's.
void ReviewHeld(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
                CellSink& sink) {
  const auto& review = v.record.as<body::Review>();
  const Kpi held =
      review.review_type == ReviewType::kCp ? Kpi::kCpReviewsHeld : Kpi::kClaReviewsHeld;
  sink.AddRow(held, review.review_date, ctx.DimsOn(child, review.review_date), sign, 0);
}

// ICPCs naming this S47: their in-timescale base depends on it.
void S47Dependents(const ChildState& child, std::string_view id, const Record*, const Record&,
                   std::vector<uint32_t>& out) {
  AddMatching(
      child, Kind::kIcpc,
      [&](const RecordVersion& v) {
        return !v.record.deleted && v.record.as<body::Icpc>().s47_id == id;
      },
      out);
}

// The S47s named before and after: awaiting-ICPC depends on this ICPC.
void IcpcDependents(const ChildState& child, std::string_view, const Record* before,
                    const Record& after, std::vector<uint32_t>& out) {
  const auto s47_of = [](const Record* r) {
    return r != nullptr && !r->deleted ? &r->as<body::Icpc>().s47_id : nullptr;
  };
  for (const std::string* s47 : {s47_of(before), s47_of(&after)}) {
    if (s47 == nullptr || s47->empty()) continue;
    const RecordVersion* v = child.FindRecord(Kind::kS47, *s47);
    if (v == nullptr) continue;
    const auto i = static_cast<uint32_t>(v - child.records.data());
    if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
  }
}

// Assessments naming this referral (assessments_in_timescale_from_referral), and the child's
// other referrals whose re-referral status its date, before or after the change, can decide: those
// of the 12 months after it (referrals_repeat_12m), and no more.
void ReferralDependents(const ChildState& child, std::string_view id, const Record* before,
                        const Record& after, std::vector<uint32_t>& out) {
  AddMatching(
      child, Kind::kAssessment,
      [&](const RecordVersion& v) {
        return !v.record.deleted && v.record.as<body::Assessment>().referral_id == id;
      },
      out);
  const auto decides = [](const Record* r, Date later) {
    if (r == nullptr || r->deleted) return false;
    const Date d = r->as<body::Referral>().referral_date;
    return d < later && AddMonths(later, -12) <= d;
  };
  AddMatching(
      child, Kind::kReferral,
      [&](const RecordVersion& v) {
        if (v.id == id || v.record.deleted) return false;
        const Date later = v.record.as<body::Referral>().referral_date;
        return decides(before, later) || decides(&after, later);
      },
      out);
}

// Every other CP plan of the child: the repeat flags.
void CpPlanDependents(const ChildState& child, std::string_view id, const Record*, const Record&,
                      std::vector<uint32_t>& out) {
  AddMatching(
      child, Kind::kCpPlan, [&](const RecordVersion& v) { return v.id != id; }, out);
}

}  // namespace kpi::rules
