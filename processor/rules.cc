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
  return kind == Kind::kAssessment || kind == Kind::kS47 || kind == Kind::kCinPlan ||
         kind == Kind::kCpPlan || kind == Kind::kLookedAfter;
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

template <typename Visit>
void Engine::ForEachSnapshotWeek(Date start, std::optional<Date> end, Visit visit) {
  for (Date week = start.WeekStart(); week <= as_of_week_; week = week + 7) {
    const Date s = std::min(week + 6, options_.as_of);
    if (end && *end <= s) break;  // closed at S(W), and at every later S
    if (start > s) continue;      // opens after as_of inside the week of as_of
    if (!visit(week, s)) break;
  }
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
    case Kind::kCpPlan:  // every other CP plan of the child (the repeat flag)
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
    for (const MarkVersion& m : y.marks) {
      const Date d = first + m.day;
      if (m.deleted || d < from || (to && d >= *to)) continue;
      ContributeMark(child, y, m, sign);
    }
  }
}

// ---- contributions ------------------------------------------------------------------------

void Engine::ContributeMark(ChildState& child, SchoolYear& year, const MarkVersion& mark,
                            int sign) {
  if (mark.cls == AttendanceClass::kMissing) stats_.live_missing_marks += sign;
  if (!IsPossibleSession(mark.cls)) return;
  if (year.school_dim == DimTable::kNone) year.school_dim = dims_.School(year.urn);
  const Date d = year.first_day() + mark.day;
  // DimsOn for a date of this academic year, with the school of the mark.
  const Profile* p = child.ProfileOn(d);
  const Dims dims =
      dims_.For(year.school_dim, p ? p->YearGroupIn(year.academic_year) : kYearUnknown,
                p ? p->sen : SenStatus::kNotGiven);
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
  const int64_t counts[3] = {IsPresence(mark.cls) ? sign : 0, IsAbsence(mark.cls) ? sign : 0,
                             mark.cls == AttendanceClass::kUnauthorisedAbsence ? sign : 0};
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
      AddRow(Kpi::kCpPlansStarted, plan.start_date, DimsOn(child, plan.start_date), sign, 0);
      if (plan.end_date) {
        const Date end = *plan.end_date;
        const Dims dims = DimsOn(child, end);
        AddRow(Kpi::kCpPlansEnded, end, dims, sign, 0);
        const bool two_years = (end - plan.start_date) >= kPlanTwoYears;
        AddRow(Kpi::kCpPlansEnded2y, end, dims, two_years ? sign : 0, sign);
      }
      const std::optional<Date> earliest = EarliestCpStart(child);
      const bool repeat = plan.previous_plans > 0 || (earliest && *earliest < plan.start_date);
      ForEachSnapshotWeek(plan.start_date, plan.end_date, [&](Date week, Date s) {
        const Dims dims = DimsOn(child, s);
        AddDistinct(child, Kpi::kCpPlansOpen, week, dims, sign);
        if (repeat) AddDistinct(child, Kpi::kCpPlansOpenRepeat, week, dims, sign);
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
      break;
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
      break;
    }
    case Kind::kAttendance:  // marks contribute through ContributeMark
    case Kind::kProfile:     // profiles only shape the dimensions of the other records
      break;
    // Part II records are validated and kept as live records; the KPIs of KPIS-2.md that read
    // them are not computed yet (issue 12).
    case Kind::kEhcRequest:
    case Kind::kEhcAdvice:
    case Kind::kEhcPlan:
    case Kind::kEhcReview:
    case Kind::kReview:
    case Kind::kVisit:
      break;
  }
}

}  // namespace kpi
