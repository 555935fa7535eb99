// Engine: the sequence of the three operations, Apply (load, retract, change, add back),
// AdvanceAsOf and PrepareCommit, over the hot children (child_cache.h) and the KPI cells
// (stored_cells.h). The KPI rules are in processor/rules/, persistent and
// severe absence in absence.cc.
#include "processor/engine.h"

#include <algorithm>
#include <set>
#include <utility>

#include "processor/coding.h"
#include "processor/keys.h"

namespace kpi {

Engine::Engine(state::StateStore& store, const Calendar& calendar, const EngineOptions& options)
    : buffer_(store),
      calendar_(calendar),
      options_(options),
      as_of_week_(options.as_of.WeekStart()),
      dims_(options.dims != nullptr ? *options.dims : own_dims_) {}

std::expected<std::unique_ptr<Engine>, state::Error> Engine::Open(state::StateStore& store,
                                                                  const Calendar& calendar,
                                                                  const EngineOptions& options) {
  if (!options.durable && options.memory_bytes != 0) {
    return std::unexpected(state::Error{state::ErrorCode::kInvalidArgument,
                                        "a memory bound needs a durable state to evict to"});
  }
  // A committed store keeps the as_of it was built for; options.as_of seeds a new one.
  EngineOptions effective = options;
  auto stored_as_of = store.Get(keys::AsOfKey(options.task));
  if (!stored_as_of) return std::unexpected(stored_as_of.error());
  if (*stored_as_of) {
    if (const int format = AsOfFormat(**stored_as_of); format != coding::kFormat) {
      return std::unexpected(state::Error{
          state::ErrorCode::kInvalidArgument,
          std::string("the state directory was written by ") +
              (format < coding::kFormat ? "an older" : "a newer") + " release (state format " +
              std::to_string(format) + ", this release reads " + std::to_string(coding::kFormat) +
              "); rebuild it with `kpi-processor replay --state` or start from an empty "
              "directory (docs/DESIGN.md, \"Upgrading\")"});
    }
    const std::optional<Date> as_of = DecodeAsOf(**stored_as_of);
    if (!as_of) return std::unexpected(state::Corruption("bad as_of value"));
    effective.as_of = *as_of;
  }
  std::unique_ptr<Engine> engine(new Engine(store, calendar, effective));
  Engine& e = *engine;
  if (auto opened = e.stored_.Open(); !opened) return std::unexpected(opened.error());
  e.stats_.hot_cells = e.cells_.size();
  return engine;
}

// ---- hot state ----------------------------------------------------------------------------

ChildState* Engine::Child(std::string_view child_id) {
  if (ChildState* hot = cache_.Find(child_id)) return hot;
  std::unique_ptr<ChildState> loaded;
  if (options_.durable) {
    auto read = LoadChild(buffer_, options_.task, child_id, dims_);
    if (!read) {
      Latch(read.error());
      return nullptr;
    }
    loaded = std::make_unique<ChildState>(std::move(*read));
    ++stats_.children_loaded;
  } else {
    loaded = std::make_unique<ChildState>();
    loaded->id = child_id;
    loaded->bytes = kChildBytes + child_id.size();
  }
  return &cache_.Insert(std::move(loaded));
}

void Engine::FlushUnits(ChildState& child) {
  for (SchoolYear& y : child.years) {
    if (!y.flush_pending) continue;
    y.flush_pending = false;
    FlushAbsenceUnit(child, y);
  }
}

void Engine::EvictIfNeeded(const ChildState* keep) {
  if (options_.memory_bytes == 0) return;
  // The children have what the KPI cells leave, and at least three quarters.
  const size_t budget = options_.memory_bytes - std::min(cells_.bytes(), options_.memory_bytes / 4);
  if (cache_.bytes() <= budget) return;
  // Down to 7/8 of the budget, so that eviction runs in batches, not at every event.
  cache_.EvictDownTo(budget - budget / 8, keep, [&](ChildState& child) {
    if (cache_.IsPending(child)) FlushUnits(child);
    state::WriteBatch written;
    if (cache_.IsDirty(child)) WriteBack(child, written, options_.task, dims_);
    buffer_.Apply(std::move(written));
  });
}

std::expected<std::optional<StoredCell>, state::Error> Engine::CommittedCell(uint64_t cell) {
  return stored_.Committed(cell);
}

std::vector<std::string> Engine::AllChildren() {
  std::set<std::string, std::less<>> ids;
  cache_.ForEach([&](const ChildState& child) { ids.insert(child.id); });
  if (options_.durable) {
    // What as_of moves: snapshot records (R) and absence units (a live mark leaves a day summary,
    // Y). A child with neither has nothing to restate. The marks table is not scanned: it is
    // most of the state.
    for (const char table : {keys::kRecord, keys::kDaySummary}) {
      const std::string prefix = keys::TablePrefix(options_.task, table);
      std::string_view last;
      auto scanned = buffer_.ScanPrefix(prefix, [&](std::string_view key, std::string_view) {
        const std::optional<keys::ChildKeyParts> parts = keys::SplitChildKey(key);
        if (!parts) {
          Corrupt("bad per-child key");
          return false;
        }
        if (parts->child != last) ids.emplace(parts->child);
        last = *ids.find(parts->child);
        return true;
      });
      if (!scanned) Latch(scanned.error());
    }
  }
  return {ids.begin(), ids.end()};
}

// ---- apply --------------------------------------------------------------------------------

std::expected<ApplyOutcome, state::Error> Engine::Apply(const ValidEvent& event) {
  if (Failed()) return std::unexpected(*failed_);
  ChildState* child = Child(event.child_id);
  if (child == nullptr) return std::unexpected(*failed_);
  const size_t bytes = child->bytes;
  auto outcome = event.record.kind() == Kind::kAttendance ? ApplyMark(*child, event)
                                                          : ApplyRecord(*child, event);
  cache_.Resized(*child, bytes);
  if (Failed()) return std::unexpected(*failed_);
  if (cells_.corrupt()) {
    Corrupt("a KPI cell went below zero");
    return std::unexpected(*failed_);
  }
  EvictIfNeeded(child);
  if (Failed()) return std::unexpected(*failed_);
  return outcome;
}

std::expected<ApplyOutcome, state::Error> Engine::ApplyRecord(ChildState& child,
                                                              const ValidEvent& event) {
  const Record& next = event.record;
  const Kind kind = next.kind();
  const body::Profile* profile = std::get_if<body::Profile>(&next.body);
  std::string id;
  if (profile != nullptr) {
    keys::AppendDate(id, profile->effective_date);
  } else {
    id = event.event_id;
  }
  RecordVersion* found = child.FindRecord(kind, id);
  if (found != nullptr && next.recorded_at < found->record.recorded_at) {
    ++stats_.stale;
    return ApplyOutcome::kStale;
  }
  // Indices stay valid while records are added; pointers would not.
  const bool existed = found != nullptr;
  const auto self = existed ? static_cast<uint32_t>(found - child.records.data()) : 0u;
  const std::vector<uint32_t> dependents =
      rules::DependentRecords(child, event.event_id, found ? &found->record : nullptr, next);
  const auto contribute_dependents = [&](int sign) {
    for (const uint32_t i : dependents) {
      if (!child.records[i].record.deleted) Contribute(child, child.records[i], sign);
    }
  };
  std::optional<Date> marks_to;  // a profile's dependent marks: [effective, next profile)
  if (profile != nullptr) {
    for (SchoolYear& y : child.years) {
      if (auto loaded = LoadMarks(child, y, buffer_, options_.task); !loaded) {
        Latch(loaded.error());
        return std::unexpected(*failed_);
      }
    }
    for (const Profile& p : child.profiles) {
      if (p.effective > profile->effective_date) {
        marks_to = p.effective;
        break;
      }
    }
  }
  const uint8_t units = rules::TraitsOf(kind).units;
  // Retract with the state before the change ...
  if (existed && !child.records[self].record.deleted) Contribute(child, child.records[self], -1);
  contribute_dependents(-1);
  // The units' weekly rows before `units_from` cannot change (UnitsFrom): they are not visited.
  const rules::Context units_ctx =
      Rules(rules::UnitsFrom(found != nullptr ? &found->record : nullptr, next));
  rules::ContributeUnits(units_ctx, child, units, -1, sink_);
  if (profile != nullptr) {
    rules::ContributeMarksIn(Rules(), child, profile->effective_date, marks_to, -1, sink_);
  }
  // ... change it (deletes are kept as versions: a later, older version must stay stale) ...
  RecordVersion* stored = nullptr;
  size_t bytes_before = 0;
  if (existed) {
    stored = &child.records[self];
    bytes_before = RecordBytes(*stored);
    stored->record = next;
  } else {
    stored = &child.records.emplace_back();
    stored->id = std::move(id);
    stored->record = next;
  }
  stored->dirty = true;
  child.bytes = child.bytes - bytes_before + RecordBytes(*stored);
  MarkDirty(child);
  if (profile != nullptr) child.RebuildProfiles();
  // ... and add back with the state after.
  if (!next.deleted) Contribute(child, *stored, +1);
  contribute_dependents(+1);
  rules::ContributeUnits(units_ctx, child, units, +1, sink_);
  MaybeFoldUnitRuns();
  if (profile != nullptr) {
    rules::ContributeMarksIn(Rules(), child, profile->effective_date, marks_to, +1, sink_);
    // Persistent and severe absence rows take their year and SEN from the profile too.
    for (SchoolYear& y : child.years) MarkUnitPending(child, y);
  }
  ++stats_.applied;
  return ApplyOutcome::kApplied;
}

std::expected<ApplyOutcome, state::Error> Engine::ApplyMark(ChildState& child,
                                                            const ValidEvent& event) {
  const Record& next = event.record;
  const auto& mark_body = next.as<body::Attendance>();
  const Date date = mark_body.date;
  const auto session = static_cast<uint8_t>(mark_body.session);
  const int ay = AcademicYearOf(date);
  SchoolYear& year = child.Year(mark_body.school_urn, ay);
  if (auto loaded = LoadMarks(child, year, buffer_, options_.task); !loaded) {
    Latch(loaded.error());
    return std::unexpected(*failed_);
  }
  const auto day = static_cast<uint16_t>(date - year.first_day());
  if (session != 1 && session != 2) {
    Corrupt("an attendance session out of range");
    return std::unexpected(*failed_);
  }
  const uint8_t held = year.Nibble(day, session);
  if (held != kNoMark) {
    // Stale if older than the version held: in memory, or else in the store, read only when the
    // year's bound does not already show it newer.
    std::optional<RecordedAt> current;
    if (const MarkVersion* v = year.FindVersion(day, session)) {
      current = v->recorded_at();
    } else if (next.recorded_at < year.newest) {
      auto stored = StoredMarkVersion(child, year, day, session, buffer_, options_.task);
      if (!stored || !*stored) {
        Latch(stored ? state::Corruption("a held attendance mark is not in the store")
                     : stored.error());
        return std::unexpected(*failed_);
      }
      current = **stored;
    }
    if (current && next.recorded_at < *current) {
      ++stats_.stale;
      return ApplyOutcome::kStale;
    }
  }
  std::optional<AttendanceClass> before;
  const rules::Context ctx = Rules();
  if (IsLiveMark(held)) {
    before = NibbleClass(held);
    rules::ContributeMark(ctx, child, year, day, held, -1, sink_);
  }
  MarkVersion mark;
  mark.set_recorded_at(next.recorded_at);
  mark.day = day;
  mark.session = session;
  mark.cls = mark_body.code;
  mark.part_time = mark_body.part_time;
  mark.deleted = next.deleted;
  const uint8_t nibble = MarkNibble(mark);
  if (year.sessions.empty() || year.newest < next.recorded_at) year.newest = next.recorded_at;
  child.bytes += year.SetNibble(day, session, nibble) + year.PutVersion(mark);
  MarkDirty(child);
  if (!next.deleted) rules::ContributeMark(ctx, child, year, day, nibble, +1, sink_);
  UpdateDaySummaries(child, static_cast<size_t>(&year - child.years.data()), date, before,
                     next.deleted ? std::nullopt : std::optional(mark_body.code));
  ++stats_.applied;
  return ApplyOutcome::kApplied;
}

// ---- as_of --------------------------------------------------------------------------------

std::expected<void, state::Error> Engine::AdvanceAsOf(Date as_of) {
  if (Failed()) return std::unexpected(*failed_);
  if (as_of < options_.as_of) {
    return std::unexpected(
        state::Error{state::ErrorCode::kInvalidArgument, "as_of cannot move backwards"});
  }
  if (as_of == options_.as_of) return {};
  // Snapshot contributions depend on as_of: each child's are retracted under the old date and
  // added under the new one. Flow contributions do not (later weeks are only hidden from the
  // table). Children are independent, so this runs child by child within the memory bound.
  // Weeks before the old as_of's have the same S(W) under both dates: they are not visited.
  const Date old_week = as_of_week_;
  const rules::Context before = Rules(old_week);
  options_.as_of = as_of;
  as_of_week_ = as_of.WeekStart();
  const rules::Context after = Rules(old_week);
  for (const std::string& id : AllChildren()) {
    if (Failed()) break;
    ChildState* child = Child(id);
    if (child == nullptr) break;
    const size_t bytes = child->bytes;
    sink_.TakeRefsChanged();
    for (const rules::Context* ctx : {&before, &after}) {
      const int sign = ctx == &before ? -1 : +1;
      for (const RecordVersion& r : child->records) {
        if (rules::TraitsOf(r.kind()).snapshot && !r.record.deleted) {
          rules::Contribute(*ctx, *child, r, sign, sink_);
        }
      }
      rules::ContributeUnits(*ctx, *child, rules::kAllUnits, sign, sink_);
    }
    if (sink_.TakeRefsChanged()) MarkDirty(*child);
    MaybeFoldUnitRuns();
    // Absence rows: every unit with marks may gain the new week or a new S(W), but for a unit
    // whose window [SummaryStart, + kSummaryDays) ended before the old as_of's week: each of its
    // weeks has S(W) its Sunday under both dates, so its rows cannot change (and a released
    // past year is not read back for nothing).
    for (SchoolYear& y : child->years) {
      const bool held = !y.summary.empty() || !y.unit_loaded;
      const Date window_end = SummaryStart(y.academic_year) + kSummaryDays;
      if (held && old_week <= window_end) MarkUnitPending(*child, y);
    }
    cache_.Resized(*child, bytes);
    EvictIfNeeded(child);
  }
  if (Failed()) return std::unexpected(*failed_);
  FoldUnitRuns();  // EmitWeeks marks the cells that are not zero
  // Cells of weeks that just became visible (future-dated flows) are reported at the next commit.
  stored_.LoadWeeks(old_week, as_of_week_);
  if (Failed()) return std::unexpected(*failed_);
  cells_.EmitWeeks(old_week, as_of_week_);
  return {};
}

// ---- commit and output --------------------------------------------------------------------

std::expected<std::vector<Row>, state::Error> Engine::PrepareCommit() {
  if (Failed()) return std::unexpected(*failed_);
  // Every clean cell's value is in the store now (the previous batch was written).
  stored_.Evict();
  FoldUnitRuns();
  cache_.TakePending([&](ChildState& child) { FlushUnits(child); });
  if (Failed()) return std::unexpected(*failed_);
  if (cells_.corrupt()) {
    Corrupt("a KPI cell went below zero");
    return std::unexpected(*failed_);
  }
  cache_.TakeDirty(
      [&](ChildState& child) { WriteBack(child, commit_batch_, options_.task, dims_); });

  std::vector<Row> changed = stored_.TakeChanged(options_.durable, commit_batch_);
  if (options_.durable) {
    commit_batch_.push_back({keys::AsOfKey(options_.task), EncodeAsOf(options_.as_of)});
  }
  stats_.hot_cells = cells_.size();
  return changed;
}

state::WriteBatch Engine::TakeBatch() {
  state::WriteBatch batch = buffer_.TakeBatch();
  if (batch.empty()) {
    batch.swap(commit_batch_);
  } else {
    std::move(commit_batch_.begin(), commit_batch_.end(), std::back_inserter(batch));
    commit_batch_.clear();
  }
  return batch;
}

std::expected<std::vector<Row>, state::Error> Engine::Table(std::optional<Kpi> kpi) {
  if (Failed()) return std::unexpected(*failed_);
  return stored_.Table(kpi, as_of_week_);
}

}  // namespace kpi
