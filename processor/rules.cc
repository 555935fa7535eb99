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

}  // namespace

uint32_t Engine::OwnSchool(const Record& r) {
  return r.urn.empty() ? DimTable::kNone : dims_.School(r.urn);
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
  return dims_.For(school, year, p ? p->sen : 0);
}

void Engine::AddRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) cells_.Add(PackCell(kpi, week, dim), count, base);
}

void Engine::AddDistinct(ChildState& child, Kpi kpi, Date date, const Dims& dims, int sign) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) {
    const uint64_t key = PackCell(kpi, week, dim);
    auto [it, inserted] = child.refs.try_emplace(key);
    if (inserted) child.bytes += kRefBytes;
    DistinctRef& ref = it->second;
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
        child.refs.erase(it);
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
    const Record& r = v.record;
    if (v.kind == Kind::kIcpc && !r.deleted && r.text == s47_id && (!first || *r.a < *first)) {
      first = r.a;
    }
  }
  return first;
}

std::optional<Date> Engine::EarliestCpStart(const ChildState& child) const {
  std::optional<Date> earliest;
  for (const RecordVersion& v : child.records) {
    const Record& r = v.record;
    if (v.kind == Kind::kCpPlan && !r.deleted && (!earliest || *r.a < *earliest)) earliest = r.a;
  }
  return earliest;
}

std::vector<uint32_t> Engine::DependentRecords(ChildState& child, const ValidEvent& event,
                                               const Record* old) {
  std::vector<uint32_t> out;
  const Kind kind = event.record.kind;
  const auto add_matching = [&](Kind of, const auto& wanted) {
    for (uint32_t i = 0; i < child.records.size(); ++i) {
      const RecordVersion& v = child.records[i];
      if (v.kind != of || (of == kind && v.id == event.event_id)) continue;  // not itself
      if (wanted(v.record)) out.push_back(i);
    }
  };
  switch (kind) {
    case Kind::kS47:  // ICPCs naming this S47 (their in-timescale base depends on it)
      add_matching(Kind::kIcpc, [&](const Record& r) { return r.text == event.event_id; });
      break;
    case Kind::kIcpc: {  // the S47s named before and after (awaiting-ICPC depends on this)
      for (const std::string* s47 : {old ? &old->text : nullptr, &event.record.text}) {
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
        if (child.records[i].kind != Kind::kProfile) out.push_back(i);
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
  const Dims dims = dims_.For(
      year.school_dim, p ? p->YearGroupIn(year.academic_year) : kYearUnknown, p ? p->sen : 0);
  const Date week = d.WeekStart();
  if (!year.cache_valid || year.cached_week != week || year.cached_dims != dims) {
    size_t i = 0;
    for (const Kpi kpi : {Kpi::kAttendanceRate, Kpi::kAbsenceRate, Kpi::kUnauthorisedAbsenceRate}) {
      for (const uint32_t dim : dims)
        year.cached_cells[i++] = cells_.IndexOf(PackCell(kpi, week, dim));
    }
    year.cached_week = week;
    year.cached_dims = dims;
    year.cache_valid = true;
  }
  const int64_t counts[3] = {IsPresence(mark.cls) ? sign : 0, IsAbsence(mark.cls) ? sign : 0,
                             mark.cls == AttendanceClass::kUnauthorisedAbsence ? sign : 0};
  for (size_t i = 0; i < 12; ++i) cells_.AddAt(year.cached_cells[i], counts[i / 4], sign);
}

void Engine::Contribute(ChildState& child, const RecordVersion& v, int sign) {
  const Record& r = v.record;
  const Date a = *r.a;
  switch (r.kind) {
    case Kind::kContact:
      AddDistinct(child, Kpi::kContacts, a, DimsOn(child, a), sign);
      break;
    case Kind::kReferral:
      AddDistinct(child, Kpi::kReferrals, a, DimsOn(child, a), sign);
      break;
    case Kind::kAssessment: {
      AddRow(Kpi::kAssessmentsStarted, a, DimsOn(child, a), sign, 0);
      if (r.b) AddRow(Kpi::kAssessmentsCompleted, *r.b, DimsOn(child, *r.b), sign, 0);
      if (r.c) {
        const Dims dims = DimsOn(child, *r.c);
        AddRow(Kpi::kAssessmentsAuthorised, *r.c, dims, sign, 0);
        const bool in_time = calendar_.WorkingDays(a, *r.c) <= options_.assessment_limit;
        AddRow(Kpi::kAssessmentsInTimescale, *r.c, dims, in_time ? sign : 0, sign);
      }
      ForEachSnapshotWeek(a, r.c, [&](Date week, Date s) {
        const Dims dims = DimsOn(child, s);
        AddRow(Kpi::kAssessmentsOpen, week, dims, sign, 0);
        if (calendar_.WorkingDays(a, s) > options_.assessment_limit) {
          AddRow(Kpi::kAssessmentsOverdue, week, dims, sign, 0);
        }
        return true;
      });
      break;
    }
    case Kind::kS47: {
      AddRow(Kpi::kS47Started, a, DimsOn(child, a), sign, 0);
      if (r.flag) break;  // icpc_not_required
      const std::optional<Date> first_icpc = FirstIcpcNaming(child, v.id);
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        if (first_icpc && *first_icpc <= s) return false;  // held by S(W), and by every later S
        const Dims dims = DimsOn(child, s);
        AddRow(Kpi::kS47AwaitingIcpc, week, dims, sign, 0);
        if (calendar_.WorkingDays(a, s) > options_.icpc_limit) {
          AddRow(Kpi::kS47IcpcOverdue, week, dims, sign, 0);
        }
        return true;
      });
      break;
    }
    case Kind::kIcpc: {
      const Dims dims = DimsOn(child, a);
      AddRow(Kpi::kIcpcHeld, a, dims, sign, 0);
      if (r.text.empty()) break;
      const RecordVersion* s47 = child.FindRecord(Kind::kS47, r.text);
      if (s47 != nullptr && !s47->record.deleted) {
        const bool in_time = calendar_.WorkingDays(*s47->record.a, a) <= options_.icpc_limit;
        AddRow(Kpi::kIcpcInTimescale, a, dims, in_time ? sign : 0, sign);
      }
      break;
    }
    case Kind::kCinPlan:
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        AddDistinct(child, Kpi::kCinPlansOpen, week, DimsOn(child, s), sign);
        return true;
      });
      break;
    case Kind::kCpPlan: {
      AddRow(Kpi::kCpPlansStarted, a, DimsOn(child, a), sign, 0);
      if (r.b) {
        const Dims dims = DimsOn(child, *r.b);
        AddRow(Kpi::kCpPlansEnded, *r.b, dims, sign, 0);
        AddRow(Kpi::kCpPlansEnded2y, *r.b, dims, (*r.b - a) >= kPlanTwoYears ? sign : 0, sign);
      }
      const std::optional<Date> earliest = EarliestCpStart(child);
      const bool repeat = r.n > 0 || (earliest && *earliest < a);
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        const Dims dims = DimsOn(child, s);
        AddDistinct(child, Kpi::kCpPlansOpen, week, dims, sign);
        if (repeat) AddDistinct(child, Kpi::kCpPlansOpenRepeat, week, dims, sign);
        return true;
      });
      break;
    }
    case Kind::kLookedAfter:
      if (r.flag) break;  // legal status V3/V4: short breaks are not looked after here
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        AddDistinct(child, Kpi::kClaOpen, week, DimsOn(child, s), sign);
        return true;
      });
      break;
    case Kind::kExclusion: {
      const Dims dims = DimsOn(child, a, OwnSchool(r));
      if (r.e == kSuspension) {
        AddRow(Kpi::kSuspensions, a, dims, sign, 0);
        AddDistinct(child, Kpi::kSuspendedPupils, a, dims, sign);
      } else if (r.e == kPermanent) {
        AddRow(Kpi::kPermanentExclusions, a, dims, sign, 0);
      }
      break;
    }
    case Kind::kEnrolment: {
      const uint32_t school = OwnSchool(r);
      if (!UsualJoin(a)) AddDistinct(child, Kpi::kSchoolMoves, a, DimsOn(child, a, school), sign);
      if (r.b) {
        const Dims dims = DimsOn(child, *r.b, school);
        if (!UsualLeave(*r.b)) AddDistinct(child, Kpi::kSchoolMoves, *r.b, dims, sign);
        if (r.e == kLeaveEhe) AddDistinct(child, Kpi::kEheLeavers, *r.b, dims, sign);
      }
      break;
    }
    case Kind::kAttendance:  // marks contribute through ContributeMark
    case Kind::kProfile:     // profiles only shape the dimensions of the other records
      break;
  }
}

}  // namespace kpi
