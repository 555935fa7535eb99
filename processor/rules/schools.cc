// Schools (KPIS.md, KPIs 21-36 but persistent and severe absence, which are absence.cc's):
// attendance rates and part-time timetables from the marks, suspensions and exclusions, school
// moves and EHE leavers, and the units pupils_on_roll, ehe_open and the year-to-date excluded
// pupils.
#include <algorithm>

#include "processor/rules/families.h"

namespace kpi::rules {
namespace {

bool InWindow(Date d, int from_month, int from_day, int to_month, int to_day) {
  const Ymd ymd = d.ToYmd();
  const int md = ymd.month * 100 + ymd.day;
  return md >= from_month * 100 + from_day && md <= to_month * 100 + to_day;
}
// School moves: joins 1 Aug - 30 Sep and leaves 15 Jul - 7 Sep are at the usual time.
bool UsualJoin(Date d) { return InWindow(d, 8, 1, 9, 30); }
bool UsualLeave(Date d) { return InWindow(d, 7, 15, 9, 7); }

}  // namespace

void ContributeMark(const Context& ctx, ChildState& child, SchoolYear& year, uint16_t day,
                    uint8_t nibble, int sign, CellSink& sink) {
  const AttendanceClass cls = NibbleClass(nibble);
  if (cls == AttendanceClass::kMissing) sink.CountMissingMark(sign);
  if (!IsPossibleSession(cls)) return;
  if (year.school_dim == DimTable::kNone) year.school_dim = ctx.dims.School(year.urn);
  const Date d = year.first_day() + day;
  // DimsOn for a date of this academic year, with the school of the mark.
  const Profile* p = child.ProfileOn(d);
  const Dims dims =
      ctx.dims.For(year.school_dim, p ? p->YearGroupIn(year.academic_year) : kYearUnknown,
                   p ? p->sen : SenStatus::kNotGiven);
  if (NibblePartTime(nibble)) {
    sink.AddDistinct(child, Kpi::kPartTimeTimetablePupils, d, dims, sign);
  }
  // The year caches the indices of its week's twelve rate cells (three KPIs by four dimensions).
  CellTable& cells = sink.cells();
  const Date week = d.WeekStart();
  if (!year.cache_valid || year.cached_week != week || year.cached_dims != dims ||
      year.cached_epoch != cells.epoch()) {
    size_t i = 0;
    for (const Kpi kpi : {Kpi::kAttendanceRate, Kpi::kAbsenceRate, Kpi::kUnauthorisedAbsenceRate}) {
      for (const uint32_t dim : dims)
        year.cached_cells[i++] = cells.IndexOf(PackCell(kpi, week, dim));
    }
    year.cached_week = week;
    year.cached_dims = dims;
    year.cached_epoch = cells.epoch();
    year.cache_valid = true;
  }
  const int64_t counts[3] = {IsPresence(cls) ? sign : 0, IsAbsence(cls) ? sign : 0,
                             cls == AttendanceClass::kUnauthorisedAbsence ? sign : 0};
  for (size_t i = 0; i < 12; ++i) cells.AddAt(year.cached_cells[i], counts[i / 4], sign);
}

void ContributeMarksIn(const Context& ctx, ChildState& child, Date from, std::optional<Date> to,
                       int sign, CellSink& sink) {
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
        if (IsLiveMark(nibble)) {
          ContributeMark(ctx, child, y, static_cast<uint16_t>(day), nibble, sign, sink);
        }
      }
    }
  }
}

// suspensions, suspended_pupils, permanent_exclusions; the year-to-date pupils are
// ExclusionsUnit's.
void Exclusion(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
               CellSink& sink) {
  const auto& x = v.record.as<body::Exclusion>();
  const Dims dims = ctx.DimsOn(child, x.start_date, ctx.OwnSchool(x.school_urn));
  if (x.kind == ExclusionKind::kSuspension) {
    sink.AddRow(Kpi::kSuspensions, x.start_date, dims, sign, 0);
    sink.AddDistinct(child, Kpi::kSuspendedPupils, x.start_date, dims, sign);
  } else if (x.kind == ExclusionKind::kPermanent) {
    sink.AddRow(Kpi::kPermanentExclusions, x.start_date, dims, sign, 0);
  }
}

// school_moves and ehe_leavers; pupils_on_roll and ehe_open are EnrolmentsUnit's.
void Enrolment(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
               CellSink& sink) {
  const auto& enrolment = v.record.as<body::Enrolment>();
  const uint32_t school = ctx.OwnSchool(enrolment.school_urn);
  const Date joined = enrolment.start_date;
  if (!UsualJoin(joined)) {
    sink.AddDistinct(child, Kpi::kSchoolMoves, joined, ctx.DimsOn(child, joined, school), sign);
  }
  if (enrolment.end_date) {
    const Date left = *enrolment.end_date;
    const Dims dims = ctx.DimsOn(child, left, school);
    if (!UsualLeave(left)) sink.AddDistinct(child, Kpi::kSchoolMoves, left, dims, sign);
    if (enrolment.leave_reason == LeaveReason::kEhe) {
      sink.AddDistinct(child, Kpi::kEheLeavers, left, dims, sign);
    }
  }
}

// pupils_on_roll: each week's distinct (school, year, SEN) rows of the enrolments open at S(W).
// ehe_open: no enrolment open at S, the latest end L on or before S has an EHE leaver among the
// enrolments ending on L, and the year group on S is R to 11 or unknown.
void EnrolmentsUnit(const Context& ctx, ChildState& child, int sign, CellSink& sink) {
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
    const uint32_t school = ctx.OwnSchool(e->school_urn);
    ctx.ForEachSnapshotWeek(e->start_date, e->end_date, [&](Date week, Date s) {
      on_roll.Add(Kpi::kPupilsOnRoll, week, ctx.DimsOn(child, s, school));
      return true;
    });
  }
  on_roll.Flush(sink.units(), sign);
  if (!first_ehe) return;
  DistinctRuns ehe;
  std::vector<std::string_view> schools;
  ctx.ForEachSnapshotWeek(*first_ehe, std::nullopt, [&](Date week, Date s) {
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
      ehe.Add(Kpi::kEheOpen, week, ctx.DimsOn(child, s, ctx.OwnSchool(urn)));
    }
    return true;
  });
  ehe.Flush(sink.units(), sign);
}

// suspended_pupils_ytd and permanently_excluded_pupils_ytd: every week from an exclusion's to the
// end of its academic year, with the exclusion's school and the profile on S(W).
void ExclusionsUnit(const Context& ctx, ChildState& child, int sign, CellSink& sink) {
  DistinctRuns ytd;
  for (const RecordVersion& v : child.records) {
    if (v.kind() != Kind::kExclusion || v.record.deleted) continue;
    const auto& x = v.record.as<body::Exclusion>();
    if (x.kind != ExclusionKind::kSuspension && x.kind != ExclusionKind::kPermanent) continue;
    const Kpi kpi = x.kind == ExclusionKind::kSuspension ? Kpi::kSuspendedPupilsYtd
                                                         : Kpi::kPermanentlyExcludedPupilsYtd;
    const uint32_t school = ctx.OwnSchool(x.school_urn);
    const Date next_year = AcademicYearStart(AcademicYearOf(x.start_date) + 1);
    ctx.ForEachSnapshotWeek(x.start_date, next_year, [&](Date week, Date s) {
      ytd.Add(kpi, week, ctx.DimsOn(child, s, school));
      return true;
    });
  }
  ytd.Flush(sink.units(), sign);
}

}  // namespace kpi::rules
