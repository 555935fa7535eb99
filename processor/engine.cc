#include "processor/engine.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace kpi {
namespace {

constexpr int kPlanTwoYears = 730;  // days: cp_plans_ended_2y

uint64_t PackCell(Kpi kpi, Date week, uint32_t dim) {
  return (static_cast<uint64_t>(kpi) << 56) |
         (static_cast<uint64_t>(static_cast<uint32_t>(week.days()) & 0xffffffu) << 32) | dim;
}
Kpi CellKpi(uint64_t packed) { return static_cast<Kpi>(packed >> 56); }
Date CellWeek(uint64_t packed) { return Date(static_cast<int32_t>((packed >> 32) & 0xffffffu)); }
uint32_t CellDim(uint64_t packed) { return static_cast<uint32_t>(packed); }

bool InWindow(Date d, int from_month, int from_day, int to_month, int to_day) {
  const Ymd ymd = d.ToYmd();
  const int md = ymd.month * 100 + ymd.day;
  return md >= from_month * 100 + from_day && md <= to_month * 100 + to_day;
}
// School moves: joins 1 Aug - 30 Sep and leaves 15 Jul - 7 Sep are at the usual time.
bool UsualJoin(Date d) { return InWindow(d, 8, 1, 9, 30); }
bool UsualLeave(Date d) { return InWindow(d, 7, 15, 9, 7); }

std::string EncodeCell(int64_t count, int64_t base, uint64_t revision) {
  std::string out(24, '\0');
  std::memcpy(out.data(), &count, 8);
  std::memcpy(out.data() + 8, &base, 8);
  std::memcpy(out.data() + 16, &revision, 8);
  return out;
}

std::string EncodeAbsenceEntries(const std::vector<std::pair<Date, uint32_t>>& packed) {
  std::string out;
  out.reserve(packed.size() * 8);
  for (const auto& [week, rest] : packed) {
    const int32_t days = week.days();
    out.append(reinterpret_cast<const char*>(&days), 4);
    out.append(reinterpret_cast<const char*>(&rest), 4);
  }
  return out;
}

std::string EncodeU32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }

}  // namespace

Engine::Engine(state::StateStore& store, const Calendar& calendar, const EngineOptions& options)
    : buffer_(store),
      calendar_(calendar),
      options_(options),
      as_of_week_(options.as_of.WeekStart()) {
  all_dim_ = Intern("all");
  year_dims_.fill(kNoDim);
  sen_dims_.fill(kNoDim);
}

std::expected<std::unique_ptr<Engine>, state::Error> Engine::Open(state::StateStore& store,
                                                                  const Calendar& calendar,
                                                                  const EngineOptions& options) {
  // A committed store keeps the as_of it was built for; options.as_of seeds a new one.
  EngineOptions effective = options;
  auto stored_as_of = store.Get(keys::AsOfKey(options.task));
  if (!stored_as_of) return std::unexpected(stored_as_of.error());
  if (*stored_as_of) {
    int32_t days = 0;
    if ((*stored_as_of)->size() != 4) return std::unexpected(state::Corruption("bad as_of value"));
    std::memcpy(&days, (*stored_as_of)->data(), 4);
    effective.as_of = Date(days);
  }
  std::unique_ptr<Engine> engine(new Engine(store, calendar, effective));
  const std::string prefix = keys::TablePrefix(options.task, keys::kCell);
  std::optional<state::Error> bad;
  auto scanned = store.Scan(prefix, state::PrefixEnd(prefix),
                            [&](std::string_view key, std::string_view value) {
                              const auto parts = keys::ParseCellKey(key);
                              if (!parts || value.size() != 24) {
                                bad = state::Corruption("bad KPI cell");
                                return false;
                              }
                              Cell cell;
                              std::memcpy(&cell.count, value.data(), 8);
                              std::memcpy(&cell.base, value.data() + 8, 8);
                              std::memcpy(&cell.revision, value.data() + 16, 8);
                              cell.committed_count = cell.count;
                              cell.committed_base = cell.base;
                              const uint32_t dim = engine->Intern(parts->dim);
                              engine->cells_[PackCell(parts->kpi, parts->week, dim)] = cell;
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  if (bad) return std::unexpected(*bad);
  return engine;
}

// ---- store access -------------------------------------------------------------------------

std::optional<Record> Engine::LoadRecord(std::string_view key) {
  auto got = buffer_.Get(key);
  if (!got) {
    if (!failed_) failed_ = got.error();
    return std::nullopt;
  }
  if (!*got) return std::nullopt;
  std::optional<Record> r = DecodeRecord(**got);
  if (!r && !failed_) failed_ = state::Corruption("undecodable record version");
  return r;
}

void Engine::Scan(std::string_view prefix, const state::ScanVisitor& visit) {
  ScanRange(prefix, state::PrefixEnd(prefix), visit);
}

void Engine::ScanRange(std::string_view begin, std::string_view end,
                       const state::ScanVisitor& visit) {
  auto scanned = buffer_.Scan(begin, end, visit);
  if (!scanned && !failed_) failed_ = scanned.error();
}

void Engine::ScanRecords(std::string_view prefix,
                         const std::function<bool(std::string_view, Record&)>& visit) {
  Scan(prefix, [&](std::string_view key, std::string_view value) {
    std::optional<Record> r = DecodeRecord(value);
    if (!r) {
      if (!failed_) failed_ = state::Corruption("undecodable record version");
      return false;
    }
    return visit(key, *r);
  });
}

// ---- dimensions ---------------------------------------------------------------------------

uint32_t Engine::Intern(const std::string& dim) {
  const auto it = dim_ids_.find(dim);
  if (it != dim_ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(dim_names_.size());
  dim_names_.push_back(dim);
  dim_ids_.emplace(dim, id);
  return id;
}

const Engine::Profiles& Engine::ProfilesOf(ChildContext& ctx) {
  if (ctx.profiles != nullptr) return *ctx.profiles;
  const auto cached = profile_cache_.find(std::string(ctx.child));
  if (cached != profile_cache_.end()) {
    ctx.profiles = &cached->second;
    return cached->second;
  }
  Profiles profiles;
  ScanRecords(keys::RecordKindPrefix(options_.task, ctx.child, Kind::kProfile),
              [&](std::string_view, Record& r) {
                if (!r.deleted) profiles.push_back({*r.a, r.b, r.e, std::move(r.urn)});
                return true;
              });
  if (profile_cache_.size() >= kMaxCachedChildren) profile_cache_.clear();
  auto [it, inserted] =
      profile_cache_.insert_or_assign(std::string(ctx.child), std::move(profiles));
  ctx.profiles = &it->second;
  return it->second;
}

const Engine::Profile* Engine::ProfileOn(ChildContext& ctx, Date d) {
  const Profiles& profiles = ProfilesOf(ctx);
  // Profiles come in key order, which is effective-date order.
  const auto it = std::upper_bound(profiles.begin(), profiles.end(), d,
                                   [](Date x, const Profile& p) { return x < p.effective; });
  return it == profiles.begin() ? nullptr : &*(it - 1);
}

Engine::Dims Engine::DimsFor(std::string_view school, uint8_t year, uint8_t sen) {
  // Each value is interned once; afterwards a lookup builds no string.
  const auto by_label = [&](uint32_t& id, std::string_view kind, std::string_view label) {
    if (id == kNoDim) id = Intern(scratch_.assign(kind).append(label));
    return id;
  };
  if (school.empty()) school = "unknown";
  auto known = school_dims_.find(school);
  if (known == school_dims_.end()) {
    known = school_dims_.emplace(std::string(school), kNoDim).first;
  }
  return {all_dim_, by_label(known->second, "school=", school),
          by_label(year_dims_[year], "year=", YearGroupLabel(year)),
          by_label(sen_dims_[sen], "sen=", SenLabel(sen))};
}

Engine::Dims Engine::DimsOn(ChildContext& ctx, Date d, std::string_view own_urn) {
  const Profile* p = ProfileOn(ctx, d);
  const std::string_view school = !own_urn.empty() ? own_urn : p ? std::string_view(p->urn) : "";
  const uint8_t year = p && p->date_of_birth ? YearGroupOn(*p->date_of_birth, d) : kYearUnknown;
  return DimsFor(school, year, p ? p->sen : 0);
}

// ---- cells --------------------------------------------------------------------------------

void Engine::AddCell(Kpi kpi, Date week, uint32_t dim, int64_t count, int64_t base) {
  Cell& cell = cells_[PackCell(kpi, week, dim)];
  cell.count += count;
  cell.base += base;
  assert(cell.count >= 0 && cell.base >= 0);
  if (!cell.dirty) {
    cell.dirty = true;
    dirty_cells_.push_back(PackCell(kpi, week, dim));
  }
}

void Engine::AddRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) AddCell(kpi, week, dim, count, base);
}

void Engine::AddDistinct(ChildContext& ctx, Kpi kpi, Date date, const Dims& dims, int sign) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) {
    const std::string key = keys::DistinctKey(options_.task, ctx.child, kpi, week, dim_names_[dim]);
    auto got = buffer_.Get(key);
    if (!got) {
      if (!failed_) failed_ = got.error();
      return;
    }
    uint32_t refs = 0;
    if (*got) {
      if ((*got)->size() != 4) {
        if (!failed_) failed_ = state::Corruption("bad distinct reference count");
        return;
      }
      std::memcpy(&refs, (*got)->data(), 4);
    }
    assert(sign > 0 || refs > 0);
    const uint32_t next = sign > 0 ? refs + 1 : refs - 1;
    if (next == 0) {
      buffer_.Delete(key);
    } else {
      buffer_.Put(key, EncodeU32(next));
    }
    if (refs == 0 && next == 1) AddCell(kpi, week, dim, 1, 0);
    if (refs == 1 && next == 0) AddCell(kpi, week, dim, -1, 0);
  }
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

std::optional<Date> Engine::FirstIcpcNaming(ChildContext& ctx, std::string_view s47_id) {
  std::optional<Date> first;
  ScanRecords(keys::RecordKindPrefix(options_.task, ctx.child, Kind::kIcpc),
              [&](std::string_view, Record& r) {
                if (!r.deleted && r.text == s47_id && (!first || *r.a < *first)) first = r.a;
                return true;
              });
  return first;
}

std::optional<Date> Engine::EarliestCpStart(ChildContext& ctx) {
  std::optional<Date> earliest;
  ScanRecords(keys::RecordKindPrefix(options_.task, ctx.child, Kind::kCpPlan),
              [&](std::string_view, Record& r) {
                if (!r.deleted && (!earliest || *r.a < *earliest)) earliest = r.a;
                return true;
              });
  return earliest;
}

// ---- contributions ------------------------------------------------------------------------

void Engine::Contribute(ChildContext& ctx, std::string_view id, const Record& r, int sign) {
  const Date a = *r.a;
  switch (r.kind) {
    case Kind::kContact:
      AddDistinct(ctx, Kpi::kContacts, a, DimsOn(ctx, a), sign);
      break;
    case Kind::kReferral:
      AddDistinct(ctx, Kpi::kReferrals, a, DimsOn(ctx, a), sign);
      break;
    case Kind::kAssessment: {
      AddRow(Kpi::kAssessmentsStarted, a, DimsOn(ctx, a), sign, 0);
      if (r.b) AddRow(Kpi::kAssessmentsCompleted, *r.b, DimsOn(ctx, *r.b), sign, 0);
      if (r.c) {
        const Dims dims = DimsOn(ctx, *r.c);
        AddRow(Kpi::kAssessmentsAuthorised, *r.c, dims, sign, 0);
        const bool in_time = calendar_.WorkingDays(a, *r.c) <= options_.assessment_limit;
        AddRow(Kpi::kAssessmentsInTimescale, *r.c, dims, in_time ? sign : 0, sign);
      }
      ForEachSnapshotWeek(a, r.c, [&](Date week, Date s) {
        const Dims dims = DimsOn(ctx, s);
        AddRow(Kpi::kAssessmentsOpen, week, dims, sign, 0);
        if (calendar_.WorkingDays(a, s) > options_.assessment_limit) {
          AddRow(Kpi::kAssessmentsOverdue, week, dims, sign, 0);
        }
        return true;
      });
      break;
    }
    case Kind::kS47: {
      AddRow(Kpi::kS47Started, a, DimsOn(ctx, a), sign, 0);
      if (r.flag) break;  // icpc_not_required
      const std::optional<Date> first_icpc = FirstIcpcNaming(ctx, id);
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        if (first_icpc && *first_icpc <= s) return false;  // held by S(W), and by every later S
        const Dims dims = DimsOn(ctx, s);
        AddRow(Kpi::kS47AwaitingIcpc, week, dims, sign, 0);
        if (calendar_.WorkingDays(a, s) > options_.icpc_limit) {
          AddRow(Kpi::kS47IcpcOverdue, week, dims, sign, 0);
        }
        return true;
      });
      break;
    }
    case Kind::kIcpc: {
      const Dims dims = DimsOn(ctx, a);
      AddRow(Kpi::kIcpcHeld, a, dims, sign, 0);
      if (r.text.empty()) break;
      const std::optional<Record> s47 =
          LoadRecord(keys::RecordKey(options_.task, ctx.child, Kind::kS47, r.text));
      if (s47 && !s47->deleted) {
        const bool in_time = calendar_.WorkingDays(*s47->a, a) <= options_.icpc_limit;
        AddRow(Kpi::kIcpcInTimescale, a, dims, in_time ? sign : 0, sign);
      }
      break;
    }
    case Kind::kCinPlan:
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        AddDistinct(ctx, Kpi::kCinPlansOpen, week, DimsOn(ctx, s), sign);
        return true;
      });
      break;
    case Kind::kCpPlan: {
      AddRow(Kpi::kCpPlansStarted, a, DimsOn(ctx, a), sign, 0);
      if (r.b) {
        const Dims dims = DimsOn(ctx, *r.b);
        AddRow(Kpi::kCpPlansEnded, *r.b, dims, sign, 0);
        AddRow(Kpi::kCpPlansEnded2y, *r.b, dims, (*r.b - a) >= kPlanTwoYears ? sign : 0, sign);
      }
      const std::optional<Date> earliest = EarliestCpStart(ctx);
      const bool repeat = r.n > 0 || (earliest && *earliest < a);
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        const Dims dims = DimsOn(ctx, s);
        AddDistinct(ctx, Kpi::kCpPlansOpen, week, dims, sign);
        if (repeat) AddDistinct(ctx, Kpi::kCpPlansOpenRepeat, week, dims, sign);
        return true;
      });
      break;
    }
    case Kind::kLookedAfter:
      if (r.flag) break;  // legal status V3/V4: short breaks are not looked after here
      ForEachSnapshotWeek(a, r.b, [&](Date week, Date s) {
        AddDistinct(ctx, Kpi::kClaOpen, week, DimsOn(ctx, s), sign);
        return true;
      });
      break;
    case Kind::kAttendance: {
      if (r.cls == AttendanceClass::kMissing) stats_.live_missing_marks += sign;
      if (!IsPossibleSession(r.cls)) break;
      const Dims dims = DimsOn(ctx, a, r.urn);
      AddRow(Kpi::kAttendanceRate, a, dims, IsPresence(r.cls) ? sign : 0, sign);
      AddRow(Kpi::kAbsenceRate, a, dims, IsAbsence(r.cls) ? sign : 0, sign);
      AddRow(Kpi::kUnauthorisedAbsenceRate, a, dims,
             r.cls == AttendanceClass::kUnauthorisedAbsence ? sign : 0, sign);
      break;
    }
    case Kind::kExclusion: {
      const Dims dims = DimsOn(ctx, a, r.urn);
      if (r.e == kSuspension) {
        AddRow(Kpi::kSuspensions, a, dims, sign, 0);
        AddDistinct(ctx, Kpi::kSuspendedPupils, a, dims, sign);
      } else if (r.e == kPermanent) {
        AddRow(Kpi::kPermanentExclusions, a, dims, sign, 0);
      }
      break;
    }
    case Kind::kEnrolment:
      if (!UsualJoin(a)) AddDistinct(ctx, Kpi::kSchoolMoves, a, DimsOn(ctx, a, r.urn), sign);
      if (r.b) {
        const Dims dims = DimsOn(ctx, *r.b, r.urn);
        if (!UsualLeave(*r.b)) AddDistinct(ctx, Kpi::kSchoolMoves, *r.b, dims, sign);
        if (r.e == kLeaveEhe) AddDistinct(ctx, Kpi::kEheLeavers, *r.b, dims, sign);
      }
      break;
    case Kind::kProfile:
      break;  // profiles only shape the dimensions of the other records
  }
}

// ---- apply --------------------------------------------------------------------------------

std::string Engine::IdentityKey(const ValidEvent& event) const {
  const Record& r = event.record;
  switch (r.kind) {
    case Kind::kAttendance:
      return keys::MarkKey(options_.task, event.child_id, r.urn, *r.a, r.e);
    case Kind::kProfile:
      return keys::ProfileKey(options_.task, event.child_id, *r.a);
    default:
      return keys::RecordKey(options_.task, event.child_id, r.kind, event.event_id);
  }
}

// The units (other than the event's own record) whose contribution depends on the event's record.
// The set must be the same before and after the change, so it is computed once from both versions.
std::vector<Engine::Unit> Engine::DependentUnits(ChildContext& ctx, const ValidEvent& event,
                                                 const std::optional<Record>& old) {
  std::vector<Unit> units;
  const uint16_t task = options_.task;
  const auto add_matching = [&](Kind kind, const auto& wanted) {
    const std::string prefix = keys::RecordKindPrefix(task, ctx.child, kind);
    ScanRecords(prefix, [&](std::string_view key, Record& r) {
      const std::string_view id = key.substr(prefix.size());
      if (kind == event.record.kind && id == event.event_id) return true;  // the record itself
      if (wanted(r)) units.push_back({std::string(key), std::string(id)});
      return true;
    });
  };
  switch (event.record.kind) {
    case Kind::kS47:  // ICPCs naming this S47 (their in-timescale base depends on it)
      add_matching(Kind::kIcpc, [&](const Record& r) { return r.text == event.event_id; });
      break;
    case Kind::kIcpc: {  // the S47s named before and after (awaiting-ICPC depends on this)
      for (const std::string* s47 : {old ? &old->text : nullptr, &event.record.text}) {
        if (s47 == nullptr || s47->empty()) continue;
        if (!units.empty() && units.front().id == *s47) continue;
        units.push_back({keys::RecordKey(task, ctx.child, Kind::kS47, *s47), *s47});
      }
      break;
    }
    case Kind::kCpPlan:  // every other CP plan of the child (the repeat flag)
      add_matching(Kind::kCpPlan, [](const Record&) { return true; });
      break;
    case Kind::kProfile: {
      // Every record of the child, and the marks dated from this profile's effective date up to
      // the next live profile's: exactly the dates whose governing profile can change.
      const Date effective = *event.record.a;
      std::optional<Date> next;
      for (const Profile& p : ProfilesOf(ctx)) {
        if (p.effective > effective) {
          next = p.effective;
          break;
        }
      }
      const std::string records = keys::ChildPrefix(task, keys::kRecord, ctx.child);
      Scan(records, [&](std::string_view key, std::string_view) {
        const auto kind = static_cast<Kind>(key[records.size()]);
        if (kind != Kind::kProfile) {
          units.push_back({std::string(key), std::string(key.substr(records.size() + 1))});
        }
        return true;
      });
      ScanRecords(keys::ChildPrefix(task, keys::kMark, ctx.child),
                  [&](std::string_view key, Record& r) {
                    if (*r.a >= effective && (!next || *r.a < *next)) {
                      units.push_back({std::string(key), {}});
                    }
                    return true;
                  });
      // Persistent and severe absence rows take their year and SEN from the profile too.
      const std::string absence = keys::ChildPrefix(task, keys::kAbsenceUnit, ctx.child);
      Scan(absence, [&](std::string_view key, std::string_view) {
        if (auto parts = keys::ParseAbsenceUnitKey(key)) {
          dirty_units_.emplace(std::string(key), std::move(*parts));
        }
        return true;
      });
      break;
    }
    default:
      break;
  }
  return units;
}

std::expected<ApplyOutcome, state::Error> Engine::Apply(const ValidEvent& event) {
  if (failed_) return std::unexpected(*failed_);
  const Record& next = event.record;
  const std::string key = IdentityKey(event);
  const std::optional<Record> old = LoadRecord(key);
  if (failed_) return std::unexpected(*failed_);
  if (old && next.recorded_at < old->recorded_at) {
    ++stats_.stale;
    return ApplyOutcome::kStale;
  }
  ChildContext ctx(event.child_id);
  const std::vector<Unit> dependents = DependentUnits(ctx, event, old);
  const auto contribute_dependents = [&](int sign) {
    for (const Unit& unit : dependents) {
      const std::optional<Record> r = LoadRecord(unit.key);
      if (r && !r->deleted) Contribute(ctx, unit.id, *r, sign);
    }
  };
  // Retract with the state before the change ...
  if (old && !old->deleted) Contribute(ctx, event.event_id, *old, -1);
  contribute_dependents(-1);
  // ... change it (deletes are kept as versions: a later, older version must stay stale) ...
  buffer_.Put(key, EncodeRecord(next));
  if (next.kind == Kind::kProfile) {
    profile_cache_.erase(std::string(ctx.child));
    ctx.profiles = nullptr;
  }
  // ... and add back with the state after.
  if (!next.deleted) Contribute(ctx, event.event_id, next, +1);
  contribute_dependents(+1);
  if (next.kind == Kind::kAttendance) {
    UpdateDaySummaries(event.child_id, next.urn, *next.a,
                       old && !old->deleted ? std::optional(old->cls) : std::nullopt,
                       next.deleted ? std::nullopt : std::optional(next.cls));
  }
  if (failed_) return std::unexpected(*failed_);
  ++stats_.applied;
  return ApplyOutcome::kApplied;
}

std::expected<void, state::Error> Engine::AdvanceAsOf(Date as_of) {
  if (failed_) return std::unexpected(*failed_);
  if (as_of < options_.as_of) {
    return std::unexpected(
        state::Error{state::ErrorCode::kInvalidArgument, "as_of cannot move backwards"});
  }
  if (as_of == options_.as_of) return {};
  // Snapshot contributions depend on as_of: retract them all under the old date, then add them
  // under the new one. Flow contributions do not (later weeks are only hidden from the table).
  struct SnapshotUnit {
    std::string child;
    std::string id;
    Record record;
  };
  std::vector<SnapshotUnit> units;
  ScanRecords(keys::TablePrefix(options_.task, keys::kRecord), [&](std::string_view key,
                                                                   Record& r) {
    const bool snapshot = r.kind == Kind::kAssessment || r.kind == Kind::kS47 ||
                          r.kind == Kind::kCinPlan || r.kind == Kind::kCpPlan ||
                          r.kind == Kind::kLookedAfter;
    if (!snapshot || r.deleted) return true;
    const std::optional<keys::ChildKeyParts> parts = keys::SplitChildKey(key);
    if (!parts || parts->rest.empty()) {
      if (!failed_) failed_ = state::Corruption("bad record key");
      return false;
    }
    // rest: kind byte, then the event id
    units.push_back({std::string(parts->child), std::string(parts->rest.substr(1)), std::move(r)});
    return true;
  });
  if (failed_) return std::unexpected(*failed_);
  const auto contribute_all = [&](int sign) {
    for (const SnapshotUnit& unit : units) {
      ChildContext ctx(unit.child);
      Contribute(ctx, unit.id, unit.record, sign);
    }
  };
  contribute_all(-1);
  const Date old_week = as_of_week_;
  options_.as_of = as_of;
  as_of_week_ = as_of.WeekStart();
  contribute_all(+1);
  // Cells of weeks that just became visible (future-dated flows) are reported at the next commit.
  for (auto& [packed, cell] : cells_) {
    const Date week = CellWeek(packed);
    if (week > old_week && week <= as_of_week_ && (cell.count != 0 || cell.base != 0)) {
      cell.emit = true;
      if (!cell.dirty) {
        cell.dirty = true;
        dirty_cells_.push_back(packed);
      }
    }
  }
  // Absence rows: every unit with marks may gain the new week or a new S(W).
  Scan(keys::TablePrefix(options_.task, keys::kDaySummary),
       [&](std::string_view key, std::string_view) {
         std::optional<keys::AbsenceUnitParts> parts = keys::ParseAbsenceUnitKey(key);
         if (!parts) {
           if (!failed_) failed_ = state::Corruption("bad absence day summary key");
           return false;
         }
         dirty_units_.emplace(
             keys::AbsenceUnitKey(options_.task, parts->child, parts->urn, parts->academic_year),
             std::move(*parts));
         return true;
       });
  if (failed_) return std::unexpected(*failed_);
  return {};
}

// ---- persistent and severe absence --------------------------------------------------------

// An absence unit (child, urn, academic year A) keeps a day summary over its window
// [1 Sep A - 7, 1 Sep A+1 + 7): the weeks whose S(W) can fall in A, with their neighbours. One
// byte a day: live marks (bits 0-1), absences (2-3), possible sessions (4-5); a day has at most
// two sessions, so two bits each suffice.
namespace {
constexpr int kSummaryDays = 380;
Date SummaryStart(int academic_year) { return AcademicYearStart(academic_year) - 7; }
uint8_t DayMarks(uint8_t b) { return b & 3; }
uint8_t DayAbsences(uint8_t b) { return (b >> 2) & 3; }
uint8_t DayPossible(uint8_t b) { return (b >> 4) & 3; }
}  // namespace

void Engine::UpdateDaySummaries(std::string_view child, std::string_view urn, Date date,
                                std::optional<AttendanceClass> before,
                                std::optional<AttendanceClass> after) {
  const auto delta = [](std::optional<AttendanceClass> c, int sign) {
    if (!c) return std::array<int, 3>{0, 0, 0};
    return std::array<int, 3>{sign, IsAbsence(*c) ? sign : 0, IsPossibleSession(*c) ? sign : 0};
  };
  const std::array<int, 3> minus = delta(before, -1);
  const std::array<int, 3> plus = delta(after, +1);
  const int year = AcademicYearOf(date);
  for (const int ay : {year - 1, year, year + 1}) {
    const int index = date - SummaryStart(ay);
    if (index < 0 || index >= kSummaryDays) continue;
    std::string key = keys::DaySummaryKey(options_.task, child, urn, ay);
    auto got = buffer_.Get(key);
    if (!got) {
      if (!failed_) failed_ = got.error();
      return;
    }
    std::string summary = *got ? std::move(**got) : std::string(kSummaryDays, '\0');
    if (summary.size() != kSummaryDays) {
      if (!failed_) failed_ = state::Corruption("bad absence day summary");
      return;
    }
    const auto b = static_cast<uint8_t>(summary[index]);
    const int marks = DayMarks(b) + minus[0] + plus[0];
    const int absences = DayAbsences(b) + minus[1] + plus[1];
    const int possible = DayPossible(b) + minus[2] + plus[2];
    assert(marks >= 0 && marks <= 3 && absences >= 0 && absences <= 3 && possible >= 0 &&
           possible <= 3);
    summary[index] = static_cast<char>(marks | (absences << 2) | (possible << 4));
    if (summary.find_first_not_of('\0') == std::string::npos) {
      buffer_.Delete(key);
    } else {
      buffer_.Put(key, summary);
    }
    std::string unit = keys::AbsenceUnitKey(options_.task, child, urn, ay);
    if (!dirty_units_.contains(unit)) {
      dirty_units_.emplace(std::move(unit),
                           keys::AbsenceUnitParts{std::string(child), std::string(urn), ay});
    }
  }
}

void Engine::ApplyAbsenceEntries(std::string_view urn, const std::vector<AbsenceEntry>& entries,
                                 int sign) {
  for (const AbsenceEntry& e : entries) {
    const Dims dims = DimsFor(urn, e.year, e.sen);
    const int64_t base = (e.flags & 1) ? sign : 0;
    for (const uint32_t dim : dims) {
      AddCell(Kpi::kPersistentAbsence, e.week, dim, (e.flags & 2) ? sign : 0, base);
      AddCell(Kpi::kSevereAbsence, e.week, dim, (e.flags & 4) ? sign : 0, base);
    }
  }
}

void Engine::FlushAbsenceUnit(const std::string& key, const keys::AbsenceUnitParts& unit) {
  const Date year_start = AcademicYearStart(unit.academic_year);
  const Date first = SummaryStart(unit.academic_year);
  std::string summary;
  {
    auto got =
        buffer_.Get(keys::DaySummaryKey(options_.task, unit.child, unit.urn, unit.academic_year));
    if (!got) {
      if (!failed_) failed_ = got.error();
      return;
    }
    summary = *got ? std::move(**got) : std::string(kSummaryDays, '\0');
    if (summary.size() != kSummaryDays) {
      if (!failed_) failed_ = state::Corruption("bad absence day summary");
      return;
    }
  }
  const auto day = [&](Date d) {
    const int i = d - first;
    return i >= 0 && i < kSummaryDays ? static_cast<uint8_t>(summary[i]) : uint8_t{0};
  };

  // Rows: weeks with a live mark, up to the week of as_of, whose S(W) is in this academic year;
  // the year to date runs from 1 September to S(W).
  ChildContext ctx(unit.child);
  std::vector<AbsenceEntry> entries;
  int64_t absence = 0;
  int64_t possible = 0;
  Date summed = year_start;  // days before it are summed
  for (Date week = first.WeekStart(); week < first + kSummaryDays && week <= as_of_week_;
       week = week + 7) {
    const Date s = std::min(week + 6, options_.as_of);
    if (AcademicYearOf(s) != unit.academic_year) continue;
    bool marked = false;
    for (int i = 0; i < 7; ++i) marked = marked || DayMarks(day(week + i)) > 0;
    for (; summed <= s; summed = summed + 1) {
      absence += DayAbsences(day(summed));
      possible += DayPossible(day(summed));
    }
    if (!marked) continue;
    AbsenceEntry e;
    e.week = week;
    const Profile* p = ProfileOn(ctx, s);
    e.year = p && p->date_of_birth ? YearGroupOn(*p->date_of_birth, s) : kYearUnknown;
    e.sen = p ? p->sen : 0;
    if (possible > 0) {
      e.flags = 1;
      if (absence * 10 >= possible) e.flags |= 2;
      if (absence * 2 >= possible) e.flags |= 4;
    }
    entries.push_back(e);
  }

  // Swap the stored rows of this unit for the new ones.
  std::vector<AbsenceEntry> stored;
  {
    auto got = buffer_.Get(key);
    if (!got) {
      if (!failed_) failed_ = got.error();
      return;
    }
    if (*got) {
      const std::string& bytes = **got;
      if (bytes.size() % 8 != 0) {
        if (!failed_) failed_ = state::Corruption("bad absence unit");
        return;
      }
      for (size_t off = 0; off < bytes.size(); off += 8) {
        int32_t days = 0;
        uint32_t rest = 0;
        std::memcpy(&days, bytes.data() + off, 4);
        std::memcpy(&rest, bytes.data() + off + 4, 4);
        stored.push_back({Date(days), static_cast<uint8_t>(rest & 0xff),
                          static_cast<uint8_t>((rest >> 8) & 0xff),
                          static_cast<uint8_t>((rest >> 16) & 0xff)});
      }
    }
  }
  // Only the entries that differ move cells (a new mark usually changes the weeks from its own
  // on); an entry retracted and added back unchanged would be work with no effect.
  std::sort(stored.begin(), stored.end(),
            [](const AbsenceEntry& x, const AbsenceEntry& y) { return x.week < y.week; });
  std::vector<AbsenceEntry> retract;
  std::vector<AbsenceEntry> add;
  for (size_t i = 0, j = 0; i < stored.size() || j < entries.size();) {
    if (j == entries.size() || (i < stored.size() && stored[i].week < entries[j].week)) {
      retract.push_back(stored[i++]);
    } else if (i == stored.size() || entries[j].week < stored[i].week) {
      add.push_back(entries[j++]);
    } else {
      if (!(stored[i] == entries[j])) {
        retract.push_back(stored[i]);
        add.push_back(entries[j]);
      }
      ++i;
      ++j;
    }
  }
  ApplyAbsenceEntries(unit.urn, retract, -1);
  ApplyAbsenceEntries(unit.urn, add, +1);
  if (retract.empty() && add.empty()) return;  // the stored rows are already these
  if (entries.empty()) {
    buffer_.Delete(key);
  } else {
    std::vector<std::pair<Date, uint32_t>> packed;
    packed.reserve(entries.size());
    for (const AbsenceEntry& e : entries) {
      packed.emplace_back(e.week, e.year | (e.sen << 8) | (e.flags << 16));
    }
    buffer_.Put(key, EncodeAbsenceEntries(packed));
  }
}

// ---- commit and output --------------------------------------------------------------------

std::expected<std::vector<Row>, state::Error> Engine::PrepareCommit() {
  if (failed_) return std::unexpected(*failed_);
  for (const auto& [key, unit] : dirty_units_) FlushAbsenceUnit(key, unit);
  dirty_units_.clear();
  if (failed_) return std::unexpected(*failed_);

  std::vector<Row> changed;
  for (const uint64_t packed : dirty_cells_) {
    Cell& cell = cells_[packed];
    cell.dirty = false;
    const bool emit = cell.emit;
    cell.emit = false;
    if (!emit && cell.count == cell.committed_count && cell.base == cell.committed_base) continue;
    ++cell.revision;
    cell.committed_count = cell.count;
    cell.committed_base = cell.base;
    const Kpi kpi = CellKpi(packed);
    const Date week = CellWeek(packed);
    const std::string& dim = dim_names_[CellDim(packed)];
    buffer_.Put(keys::CellKey(options_.task, kpi, week, dim),
                EncodeCell(cell.count, cell.base, cell.revision));
    changed.push_back({kpi, week, dim, cell.count, cell.base, cell.revision});
  }
  dirty_cells_.clear();
  const int32_t as_of = options_.as_of.days();
  buffer_.Put(keys::AsOfKey(options_.task), std::string(reinterpret_cast<const char*>(&as_of), 4));
  return changed;
}

std::optional<Row> Engine::CellAt(Kpi kpi, Date week, std::string_view dimension) const {
  const auto dim = dim_ids_.find(std::string(dimension));
  if (dim == dim_ids_.end()) return std::nullopt;
  const auto it = cells_.find(PackCell(kpi, week, dim->second));
  if (it == cells_.end()) return std::nullopt;
  return Row{kpi,
             week,
             std::string(dimension),
             it->second.committed_count,
             it->second.committed_base,
             it->second.revision};
}

std::vector<Row> Engine::Table() const {
  std::vector<Row> rows;
  for (const auto& [packed, cell] : cells_) {
    const Date week = CellWeek(packed);
    if (week > as_of_week_) continue;
    if (cell.committed_count == 0 && cell.committed_base == 0) continue;
    rows.push_back({CellKpi(packed), week, dim_names_[CellDim(packed)], cell.committed_count,
                    cell.committed_base, cell.revision});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    const std::string_view xn = KpiName(x.kpi);
    const std::string_view yn = KpiName(y.kpi);
    if (xn != yn) return xn < yn;
    if (x.week != y.week) return x.week < y.week;
    return x.dimension < y.dimension;
  });
  return rows;
}

}  // namespace kpi
