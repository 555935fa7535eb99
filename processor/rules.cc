// The KPI rules of KPIS.md: what each live record contributes to the cells, and which records'
// contributions depend on which (docs/DESIGN.md, "KPI cells as a sum of contributions"). Every
// function here reads the child's current state; none keeps history.
#include <algorithm>

#include "processor/engine.h"

namespace kpi {
namespace {

constexpr int kPlanTwoYears = 730;  // days: cp_plans_ended_2y

bool InWindow(Date d, int from_month, int from_day, int to_month, int to_day) {
  const Ymd ymd = d.ToYmd();
  const int md = ymd.month * 100 + ymd.day;
  return md >= from_month * 100 + from_day && md <= to_month * 100 + to_day;
}
// School moves: joins 1 Aug - 30 Sep and leaves 15 Jul - 7 Sep are at the usual time.
bool UsualJoin(Date d) { return InWindow(d, 8, 1, 9, 30); }
bool UsualLeave(Date d) { return InWindow(d, 7, 15, 9, 7); }

// KPIS.md, "ICPC anchor": the strategy discussion when given and not after the S47's start, else
// the start.
Date IcpcAnchor(const body::S47& s47) {
  if (s47.strategy_discussion_date && *s47.strategy_discussion_date <= s47.start_date) {
    return *s47.strategy_discussion_date;
  }
  return s47.start_date;
}

}  // namespace

uint32_t Engine::OwnSchool(std::string_view urn) {
  return urn.empty() ? DimTable::kNone : dims_.School(urn);
}

bool Engine::IsSnapshot(Kind kind) const {
  switch (kind) {
    case Kind::kAssessment:
    case Kind::kS47:
    case Kind::kCinPlan:
    case Kind::kCpPlan:
    case Kind::kLookedAfter:
    case Kind::kEhcRequest:
    case Kind::kEhcAdvice:
    case Kind::kEhcReview:
      return true;
    default:
      return false;
  }
}

// ---- dimensions and cells -----------------------------------------------------------------

Engine::Dims Engine::DimsOn(ChildState& child, Date d, uint32_t own_school) {
  Profile* p = child.ProfileOn(d);
  uint32_t school = own_school;
  if (school == DimTable::kNone) {
    if (p == nullptr) {
      school = dims_.School("");
    } else {
      if (p->school_dim == DimTable::kNone) p->school_dim = dims_.School(p->urn);
      school = p->school_dim;
    }
  }
  const uint8_t year = p ? p->YearGroupIn(AcademicYearOf(d)) : kYearUnknown;
  return dims_.For(school, year, p ? p->sen : SenStatus::kNotGiven);
}

void Engine::AddRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) cells_.Add(PackCell(kpi, week, dim), count, base);
}

void Engine::AddDistinct(ChildState& child, Kpi kpi, Date date, const Dims& dims, int sign) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) {
    const uint64_t key = PackCell(kpi, week, dim);
    bool inserted = false;
    DistinctRef& ref = child.RefAt(PackRef(kpi, dim, week), inserted);
    if (inserted) child.bytes += kRefBytes;
    if (sign < 0 && ref.refs == 0) {
      Corrupt("a distinct-child reference count went below zero");
      return;
    }
    ref.refs = sign > 0 ? ref.refs + 1 : ref.refs - 1;
    if (options_.durable) ref.dirty = true;
    if (sign > 0 && ref.refs == 1) cells_.Add(key, 1, 0);
    if (sign < 0 && ref.refs == 0) {
      cells_.Add(key, -1, 0);
      if (!options_.durable) {  // nothing to write back: forget it now
        child.refs.erase(child.refs.begin() + (&ref - child.refs.data()));
        child.bytes -= kRefBytes;
      }
    }
  }
  MarkDirty(child);
}

Engine::Dims Engine::PlanCuts(ChildState& child, const body::CpPlan& plan, Date d) {
  const Profile* p = child.ProfileOn(d);
  return {dims_.Cut(CutFamily::kCategory, static_cast<uint8_t>(plan.category)),
          dims_.Cut(CutFamily::kAge, AgeBand(p ? p->date_of_birth : std::nullopt, d)),
          dims_.Cut(CutFamily::kGender, p ? static_cast<uint8_t>(p->gender) : 0),
          dims_.Cut(CutFamily::kEthnicity, p ? p->ethnicity : 0)};
}

// ---- cross-record lookups -----------------------------------------------------------------

std::optional<Date> Engine::FirstIcpcNaming(const ChildState& child,
                                            std::string_view s47_id) const {
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

std::optional<Date> Engine::EarliestCpStart(const ChildState& child) const {
  std::optional<Date> earliest;
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kCpPlan || v.record.deleted) continue;
    const Date start = v.record.as<body::CpPlan>().start_date;
    if (!earliest || start < *earliest) earliest = start;
  }
  return earliest;
}

std::vector<uint32_t> Engine::DependentRecords(ChildState& child, const ValidEvent& event,
                                               const Record* old) {
  std::vector<uint32_t> out;
  const Kind kind = event.record.kind();
  const auto add_matching = [&](Kind of, const auto& wanted) {
    for (uint32_t i = 0; i < child.records.size(); ++i) {
      const RecordVersion& v = child.records[i];
      if (v.kind() != of || (of == kind && v.id == event.event_id)) continue;  // not itself
      if (wanted(v.record)) out.push_back(i);
    }
  };
  switch (kind) {
    case Kind::kS47:  // ICPCs naming this S47 (their in-timescale base depends on it)
      add_matching(Kind::kIcpc, [&](const Record& r) {
        return !r.deleted && r.as<body::Icpc>().s47_id == event.event_id;
      });
      break;
    case Kind::kIcpc: {  // the S47s named before and after (awaiting-ICPC depends on this)
      const auto s47_of = [](const Record* r) {
        return r != nullptr && !r->deleted ? &r->as<body::Icpc>().s47_id : nullptr;
      };
      for (const std::string* s47 : {s47_of(old), s47_of(&event.record)}) {
        if (s47 == nullptr || s47->empty()) continue;
        const RecordVersion* v = child.FindRecord(Kind::kS47, *s47);
        if (v == nullptr) continue;
        const auto i = static_cast<uint32_t>(v - child.records.data());
        if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
      }
      break;
    }
    case Kind::kReferral:  // assessments naming it (assessments_in_timescale_from_referral)
      add_matching(Kind::kAssessment, [&](const Record& r) {
        return !r.deleted && r.as<body::Assessment>().referral_id == event.event_id;
      });
      break;
    case Kind::kCpPlan:  // every other CP plan of the child (the repeat flags)
      add_matching(Kind::kCpPlan, [](const Record&) { return true; });
      break;
    case Kind::kProfile:  // every record of the child; its marks are handled by the caller
      for (uint32_t i = 0; i < child.records.size(); ++i) {
        if (child.records[i].kind() != Kind::kProfile) out.push_back(i);
      }
      break;
    default:
      break;
  }
  return out;
}

void Engine::ContributeMarksIn(ChildState& child, Date from, std::optional<Date> to, int sign) {
  for (SchoolYear& y : child.years) {
    const Date first = y.first_day();
    const int begin = std::max(0, from - first);
    const int end = std::min<int>(static_cast<int>(y.sessions.size()),
                                  to ? *to - first : static_cast<int>(y.sessions.size()));
    for (int day = begin; day < end; ++day) {
      const uint8_t both = y.sessions[day];
      if (both == 0) continue;
      for (const uint8_t nibble :
           {static_cast<uint8_t>(both & 0xf), static_cast<uint8_t>(both >> 4)}) {
        if (IsLiveMark(nibble)) ContributeMark(child, y, static_cast<uint16_t>(day), nibble, sign);
      }
    }
  }
}

// ---- contributions ------------------------------------------------------------------------

void Engine::ContributeEhcRequest(ChildState& child, const body::EhcRequest& q, int sign) {
  const KpiLimits& limits = options_.limits;
  const Date requested = q.request_date;
  const Dims at_request = DimsOn(child, requested);
  AddRow(Kpi::kEhcRequests, requested, at_request, sign, 0);
  const bool parent = q.source == EhcSource::kParent || q.source == EhcSource::kYoungPerson;
  AddRow(Kpi::kEhcRequestsParent, requested, at_request, parent ? sign : 0, sign);
  if (q.decision_date) {
    const Date decided = *q.decision_date;
    const Dims dims = DimsOn(child, decided);
    const bool in_time = decided - requested <= limits.ehc_decision_days;
    AddRow(Kpi::kEhcDecisionsIn6w, decided, dims, in_time ? sign : 0, sign);
    if (q.decision == EhcDecision::kAssess) {
      AddRow(Kpi::kEhcAssessmentsAgreed, decided, dims, sign, 0);
    }
  }
  if (q.outcome_date && q.outcome == EhcOutcome::kPlanIssued) {
    const Date issued = *q.outcome_date;
    const Dims dims = DimsOn(child, issued);
    const int in_time = issued - requested <= limits.ehc_plan_days ? sign : 0;
    AddRow(Kpi::kEhcPlansIssued, issued, dims, sign, 0);
    AddRow(Kpi::kEhcPlansIssuedIn20w, issued, dims, in_time, sign);
    if (!q.timescale_exception) {
      AddRow(Kpi::kEhcPlansIssuedIn20wExclExceptions, issued, dims, in_time, sign);
    }
  }
  const auto earlier = [](std::optional<Date> a, std::optional<Date> b) {
    return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
  };
  // Undecided and not closed at S(W), and older than the decision limit.
  ForEachSnapshotWeek(requested, earlier(q.decision_date, q.outcome_date), [&](Date week, Date s) {
    if (s - requested > limits.ehc_decision_days) {
      AddRow(Kpi::kEhcDecisionsOverdue, week, DimsOn(child, s), sign, 0);
    }
    return true;
  });
  if (q.decision_date && q.decision == EhcDecision::kAssess) {
    ForEachSnapshotWeek(*q.decision_date, q.outcome_date, [&](Date week, Date s) {
      AddRow(Kpi::kEhcAssessmentsOpen, week, DimsOn(child, s), sign, 0);
      return true;
    });
  }
  if (!q.tribunal_ordered) {  // not refused and not closed at S(W), older than 20 weeks
    const std::optional<Date> refused =
        q.decision == EhcDecision::kNotAssess ? q.decision_date : std::nullopt;
    ForEachSnapshotWeek(requested, earlier(refused, q.outcome_date), [&](Date week, Date s) {
      if (s - requested > limits.ehc_plan_days) {
        AddRow(Kpi::kEhcWaitingOver20w, week, DimsOn(child, s), sign, 0);
      }
      return true;
    });
  }
}

void Engine::ContributeMark(ChildState& child, SchoolYear& year, uint16_t day, uint8_t nibble,
                            int sign) {
  const AttendanceClass cls = NibbleClass(nibble);
  if (cls == AttendanceClass::kMissing) stats_.live_missing_marks += sign;
  if (!IsPossibleSession(cls)) return;
  if (year.school_dim == DimTable::kNone) year.school_dim = dims_.School(year.urn);
  const Date d = year.first_day() + day;
  // DimsOn for a date of this academic year, with the school of the mark.
  const Profile* p = child.ProfileOn(d);
  const Dims dims =
      dims_.For(year.school_dim, p ? p->YearGroupIn(year.academic_year) : kYearUnknown,
                p ? p->sen : SenStatus::kNotGiven);
  if (NibblePartTime(nibble)) AddDistinct(child, Kpi::kPartTimeTimetablePupils, d, dims, sign);
  const Date week = d.WeekStart();
  if (!year.cache_valid || year.cached_week != week || year.cached_dims != dims ||
      year.cached_epoch != cells_.epoch()) {
    size_t i = 0;
    for (const Kpi kpi : {Kpi::kAttendanceRate, Kpi::kAbsenceRate, Kpi::kUnauthorisedAbsenceRate}) {
      for (const uint32_t dim : dims)
        year.cached_cells[i++] = cells_.IndexOf(PackCell(kpi, week, dim));
    }
    year.cached_week = week;
    year.cached_dims = dims;
    year.cached_epoch = cells_.epoch();
    year.cache_valid = true;
  }
  const int64_t counts[3] = {IsPresence(cls) ? sign : 0, IsAbsence(cls) ? sign : 0,
                             cls == AttendanceClass::kUnauthorisedAbsence ? sign : 0};
  for (size_t i = 0; i < 12; ++i) cells_.AddAt(year.cached_cells[i], counts[i / 4], sign);
}

void Engine::Contribute(ChildState& child, const RecordVersion& v, int sign) {
  const Record& r = v.record;
  switch (r.kind()) {
    case Kind::kContact: {
      const Date d = r.as<body::Contact>().contact_date;
      AddDistinct(child, Kpi::kContacts, d, DimsOn(child, d), sign);
      break;
    }
    case Kind::kReferral: {
      const Date d = r.as<body::Referral>().referral_date;
      AddDistinct(child, Kpi::kReferrals, d, DimsOn(child, d), sign);
      break;
    }
    case Kind::kAssessment: {
      const auto& as = r.as<body::Assessment>();
      AddRow(Kpi::kAssessmentsStarted, as.start_date, DimsOn(child, as.start_date), sign, 0);
      if (as.completion_date) {
        const Date done = *as.completion_date;
        AddRow(Kpi::kAssessmentsCompleted, done, DimsOn(child, done), sign, 0);
      }
      if (as.authorisation_date) {
        const Date authorised = *as.authorisation_date;
        const Dims dims = DimsOn(child, authorised);
        AddRow(Kpi::kAssessmentsAuthorised, authorised, dims, sign, 0);
        const bool in_time =
            calendar_.WorkingDays(as.start_date, authorised) <= options_.assessment_limit;
        AddRow(Kpi::kAssessmentsInTimescale, authorised, dims, in_time ? sign : 0, sign);
        const RecordVersion* referral =
            as.referral_id.empty() ? nullptr : child.FindRecord(Kind::kReferral, as.referral_id);
        if (referral != nullptr && !referral->record.deleted) {
          const Date referred = referral->record.as<body::Referral>().referral_date;
          const bool from_referral =
              calendar_.WorkingDays(referred, authorised) <= options_.assessment_limit;
          AddRow(Kpi::kAssessmentsInTimescaleFromReferral, authorised, dims,
                 from_referral ? sign : 0, sign);
        }
      }
      ForEachSnapshotWeek(as.start_date, as.authorisation_date, [&](Date week, Date s) {
        const Dims dims = DimsOn(child, s);
        AddRow(Kpi::kAssessmentsOpen, week, dims, sign, 0);
        if (calendar_.WorkingDays(as.start_date, s) > options_.assessment_limit) {
          AddRow(Kpi::kAssessmentsOverdue, week, dims, sign, 0);
        }
        return true;
      });
      break;
    }
    case Kind::kS47: {
      const auto& s47 = r.as<body::S47>();
      AddRow(Kpi::kS47Started, s47.start_date, DimsOn(child, s47.start_date), sign, 0);
      if (s47.icpc_not_required) break;
      const std::optional<Date> first_icpc = FirstIcpcNaming(child, v.id);
      ForEachSnapshotWeek(s47.start_date, s47.end_date, [&](Date week, Date s) {
        if (first_icpc && *first_icpc <= s) return false;  // held by S(W), and by every later S
        const Dims dims = DimsOn(child, s);
        AddRow(Kpi::kS47AwaitingIcpc, week, dims, sign, 0);
        if (calendar_.WorkingDays(IcpcAnchor(s47), s) > options_.icpc_limit) {
          AddRow(Kpi::kS47IcpcOverdue, week, dims, sign, 0);
        }
        return true;
      });
      break;
    }
    case Kind::kIcpc: {
      const auto& icpc = r.as<body::Icpc>();
      const Dims dims = DimsOn(child, icpc.conference_date);
      AddRow(Kpi::kIcpcHeld, icpc.conference_date, dims, sign, 0);
      cells_.Add(PackCell(Kpi::kIcpcHeld, icpc.conference_date.WeekStart(),
                          dims_.Cut(CutFamily::kOutcome, static_cast<uint8_t>(icpc.outcome))),
                 sign, 0);
      if (icpc.s47_id.empty()) break;
      const RecordVersion* s47 = child.FindRecord(Kind::kS47, icpc.s47_id);
      if (s47 != nullptr && !s47->record.deleted) {
        const Date anchor = IcpcAnchor(s47->record.as<body::S47>());
        const bool in_time =
            calendar_.WorkingDays(anchor, icpc.conference_date) <= options_.icpc_limit;
        AddRow(Kpi::kIcpcInTimescale, icpc.conference_date, dims, in_time ? sign : 0, sign);
      }
      break;
    }
    case Kind::kCinPlan: {
      const auto& plan = r.as<body::CinPlan>();
      ForEachSnapshotWeek(plan.start_date, plan.end_date, [&](Date week, Date s) {
        AddDistinct(child, Kpi::kCinPlansOpen, week, DimsOn(child, s), sign);
        return true;
      });
      break;
    }
    case Kind::kCpPlan: {
      const auto& plan = r.as<body::CpPlan>();
      const Dims at_start = DimsOn(child, plan.start_date);
      AddRow(Kpi::kCpPlansStarted, plan.start_date, at_start, sign, 0);
      AddRow(Kpi::kCpPlansStarted, plan.start_date, PlanCuts(child, plan, plan.start_date), sign,
             0);
      if (plan.end_date) {
        const Date end = *plan.end_date;
        const Dims dims = DimsOn(child, end);
        AddRow(Kpi::kCpPlansEnded, end, dims, sign, 0);
        const bool two_years = (end - plan.start_date) >= kPlanTwoYears;
        AddRow(Kpi::kCpPlansEnded2y, end, dims, two_years ? sign : 0, sign);
      }
      const std::optional<Date> earliest = EarliestCpStart(child);
      const bool repeat = plan.previous_plans > 0 || (earliest && *earliest < plan.start_date);
      AddRow(Kpi::kCpPlansStartedRepeat, plan.start_date, at_start, repeat ? sign : 0, sign);
      // Another live plan that ended on or before this start, at most two years before it.
      bool repeat_2y = false;
      for (const RecordVersion& other : child.records) {
        if (other.kind() != Kind::kCpPlan || other.record.deleted || other.id == v.id) continue;
        const std::optional<Date> e = other.record.as<body::CpPlan>().end_date;
        repeat_2y =
            repeat_2y || (e && *e <= plan.start_date && plan.start_date - *e <= kPlanTwoYears);
      }
      AddRow(Kpi::kCpPlansStartedRepeat2y, plan.start_date, at_start, repeat_2y ? sign : 0, sign);
      ForEachSnapshotWeek(plan.start_date, plan.end_date, [&](Date week, Date s) {
        const Dims dims = DimsOn(child, s);
        AddDistinct(child, Kpi::kCpPlansOpen, week, dims, sign);
        AddDistinct(child, Kpi::kCpPlansOpen, week, PlanCuts(child, plan, s), sign);
        if (repeat) AddDistinct(child, Kpi::kCpPlansOpenRepeat, week, dims, sign);
        if (s - plan.start_date >= kPlanTwoYears) {
          AddDistinct(child, Kpi::kCpPlansOpen2y, week, dims, sign);
        }
        return true;
      });
      break;
    }
    case Kind::kLookedAfter: {
      const auto& episode = r.as<body::LookedAfter>();
      if (episode.short_breaks) break;
      ForEachSnapshotWeek(episode.start_date, episode.end_date, [&](Date week, Date s) {
        AddDistinct(child, Kpi::kClaOpen, week, DimsOn(child, s), sign);
        return true;
      });
      break;
    }
    case Kind::kExclusion: {
      const auto& x = r.as<body::Exclusion>();
      const Dims dims = DimsOn(child, x.start_date, OwnSchool(x.school_urn));
      if (x.kind == ExclusionKind::kSuspension) {
        AddRow(Kpi::kSuspensions, x.start_date, dims, sign, 0);
        AddDistinct(child, Kpi::kSuspendedPupils, x.start_date, dims, sign);
      } else if (x.kind == ExclusionKind::kPermanent) {
        AddRow(Kpi::kPermanentExclusions, x.start_date, dims, sign, 0);
      }
      break;  // the year-to-date pupils: a unit (units.cc)
    }
    case Kind::kEnrolment: {
      const auto& enrolment = r.as<body::Enrolment>();
      const uint32_t school = OwnSchool(enrolment.school_urn);
      const Date joined = enrolment.start_date;
      if (!UsualJoin(joined)) {
        AddDistinct(child, Kpi::kSchoolMoves, joined, DimsOn(child, joined, school), sign);
      }
      if (enrolment.end_date) {
        const Date left = *enrolment.end_date;
        const Dims dims = DimsOn(child, left, school);
        if (!UsualLeave(left)) AddDistinct(child, Kpi::kSchoolMoves, left, dims, sign);
        if (enrolment.leave_reason == LeaveReason::kEhe) {
          AddDistinct(child, Kpi::kEheLeavers, left, dims, sign);
        }
      }
      break;  // pupils_on_roll and ehe_open: a unit (units.cc)
    }
    case Kind::kAttendance:  // marks contribute through ContributeMark
    case Kind::kProfile:     // profiles only shape the dimensions of the other records
      break;
    case Kind::kEhcRequest:
      ContributeEhcRequest(child, r.as<body::EhcRequest>(), sign);
      break;
    case Kind::kEhcAdvice: {
      const auto& advice = r.as<body::EhcAdvice>();
      std::optional<Kpi> in_6w;
      switch (advice.advice_type) {
        case AdviceType::kHealth:
          in_6w = Kpi::kEhcAdviceIn6wHealth;
          break;
        case AdviceType::kEp:
          in_6w = Kpi::kEhcAdviceIn6wEp;
          break;
        case AdviceType::kSocialCare:
          in_6w = Kpi::kEhcAdviceIn6wSocialCare;
          break;
        default:
          break;
      }
      if (in_6w && advice.received_date) {
        const Date received = *advice.received_date;
        const bool in_time = received - advice.requested_date <= options_.limits.ehc_advice_days;
        AddRow(*in_6w, received, DimsOn(child, received), in_time ? sign : 0, sign);
      }
      if (advice.advice_type == AdviceType::kEp) {
        ForEachSnapshotWeek(advice.requested_date, advice.received_date, [&](Date week, Date s) {
          AddRow(Kpi::kEhcAdviceOutstandingEp, week, DimsOn(child, s), sign, 0);
          return true;
        });
      }
      break;
    }
    case Kind::kEhcPlan:  // ehc_plans_open and ehc_reviews_overdue: a unit (units.cc)
      break;
    case Kind::kEhcReview: {
      const auto& review = r.as<body::EhcReview>();
      if (review.decision_date) {
        const Date decided = *review.decision_date;
        const bool in_time =
            decided - review.meeting_date <= options_.limits.ehc_review_decision_days;
        AddRow(Kpi::kEhcReviewDecisionsIn4w, decided, DimsOn(child, decided), in_time ? sign : 0,
               sign);
      }
      ForEachSnapshotWeek(review.meeting_date, review.decision_date, [&](Date week, Date s) {
        AddRow(Kpi::kEhcReviewsBacklog, week, DimsOn(child, s), sign, 0);
        return true;
      });
      break;
    }
    case Kind::kReview: {  // held; timeliness and overdue are the units' (units.cc)
      const auto& review = r.as<body::Review>();
      const Kpi held =
          review.review_type == ReviewType::kCp ? Kpi::kCpReviewsHeld : Kpi::kClaReviewsHeld;
      AddRow(held, review.review_date, DimsOn(child, review.review_date), sign, 0);
      break;
    }
    case Kind::kVisit:  // only through the units
      break;
  }
}

}  // namespace kpi
