#include "processor/child_state.h"

#include <algorithm>
#include <climits>

#include "processor/keys.h"

namespace kpi {

// ---- lookups ------------------------------------------------------------------------------

size_t SchoolYear::SetNibble(uint16_t day, uint8_t session, uint8_t nibble) {
  size_t added = 0;
  if (sessions.empty()) {
    sessions.assign(static_cast<size_t>(AcademicYearStart(academic_year + 1) - first), 0);
    added = sessions.size();
  }
  uint8_t& b = sessions[day];
  b = session == 2 ? static_cast<uint8_t>((b & 0x0f) | (nibble << 4))
                   : static_cast<uint8_t>((b & 0xf0) | nibble);
  return added;
}

size_t SchoolYear::HoldSummaryDay(int i, char*& byte) {
  size_t added = 0;
  if (summary.empty()) {
    summary.assign(static_cast<size_t>(kSummaryDays - i), '\0');
    summary_from = static_cast<uint16_t>(i);
    added = summary.size();
  } else if (i < summary_from) {
    added = static_cast<size_t>(summary_from - i);
    summary.insert(0, added, '\0');
    summary_from = static_cast<uint16_t>(i);
  }
  byte = &summary[static_cast<size_t>(i - summary_from)];
  return added;
}

std::string SchoolYear::FullSummary() const {
  if (summary.empty()) return {};
  std::string full(summary_from, '\0');
  full.append(summary);
  return full;
}

size_t SchoolYear::SetSummary(std::string_view full) {
  const size_t from = std::min(full.find_first_not_of('\0'), full.size());
  summary_from = static_cast<uint16_t>(from);
  summary.assign(full.substr(from));
  return summary.size();
}

MarkVersion* SchoolYear::FindVersion(uint16_t day, uint8_t session) {
  // Marks arrive mostly in date order: look at the last one before searching.
  if (!versions.empty()) {
    MarkVersion& last = versions.back();
    if (last.day < day || (last.day == day && last.session < session)) return nullptr;
    if (last.day == day && last.session == session) return &last;
  }
  const auto it = std::lower_bound(versions.begin(), versions.end(), std::pair(day, session),
                                   [](const MarkVersion& m, std::pair<uint16_t, uint8_t> k) {
                                     return std::pair(m.day, m.session) < k;
                                   });
  return it != versions.end() && it->day == day && it->session == session ? &*it : nullptr;
}

size_t SchoolYear::PutVersion(const MarkVersion& mark) {
  if (MarkVersion* held = FindVersion(mark.day, mark.session)) {
    *held = mark;
    return 0;
  }
  const auto it = std::upper_bound(
      versions.begin(), versions.end(), mark, [](const MarkVersion& x, const MarkVersion& y) {
        return std::pair(x.day, x.session) < std::pair(y.day, y.session);
      });
  versions.insert(it, mark);
  return sizeof(MarkVersion);
}

DistinctRef& ChildState::RefAt(uint64_t key, bool& inserted) {
  inserted = false;
  // Contributions add a plan's weeks in order: mostly an append.
  if (refs.empty() || refs.back().key < key) {
    inserted = true;
    return refs.emplace_back(DistinctRef{key, 0, false});
  }
  const auto it = std::lower_bound(refs.begin(), refs.end(), key,
                                   [](const DistinctRef& r, uint64_t k) { return r.key < k; });
  if (it != refs.end() && it->key == key) return *it;
  inserted = true;
  return *refs.insert(it, DistinctRef{key, 0, false});
}

const RecordVersion* ChildState::FindRecord(Kind kind, std::string_view record_id) const {
  for (const RecordVersion& r : records) {
    if (r.kind() == kind && r.id == record_id) return &r;
  }
  return nullptr;
}

SchoolYear* ChildState::FindYear(std::string_view urn, int academic_year) {
  if (last_year < years.size()) {
    SchoolYear& y = years[last_year];
    if (y.academic_year == academic_year && y.urn == urn) return &y;
  }
  for (uint32_t i = 0; i < years.size(); ++i) {
    SchoolYear& y = years[i];
    if (y.academic_year == academic_year && y.urn == urn) {
      last_year = i;
      return &y;
    }
  }
  return nullptr;
}

SchoolYear& ChildState::Year(std::string_view urn, int academic_year) {
  if (SchoolYear* y = FindYear(urn, academic_year)) return *y;
  std::string owned(urn);  // `urn` may view an element of `years`, which emplace_back can move
  SchoolYear& y = years.emplace_back();
  y.urn = std::move(owned);
  y.academic_year = academic_year;
  y.first = AcademicYearStart(academic_year);
  y.marks_loaded = !from_store;
  bytes += kYearBytes + urn.size();
  return y;
}

void ChildState::RebuildProfiles() {
  profiles.clear();
  for (const RecordVersion& r : records) {
    if (r.kind() != Kind::kProfile || r.record.deleted) continue;
    const auto& record = r.record.as<body::Profile>();
    Profile& p = profiles.emplace_back();
    p.effective = record.effective_date;
    p.date_of_birth = record.date_of_birth;
    p.sen = record.sen_status;
    p.urn = record.school_urn;
    p.gender = record.gender;
    p.ethnicity = record.ethnicity;
    if (p.date_of_birth) {
      const Ymd dob = p.date_of_birth->ToYmd();
      p.birth_year = dob.year;
      p.birth_month = dob.month;
    }
  }
  std::sort(profiles.begin(), profiles.end(),
            [](const Profile& x, const Profile& y) { return x.effective < y.effective; });
}

const Profile* ChildState::ProfileOn(Date d) const {
  const auto it = std::upper_bound(profiles.begin(), profiles.end(), d,
                                   [](Date x, const Profile& p) { return x < p.effective; });
  return it == profiles.begin() ? nullptr : &*(it - 1);
}

size_t RecordBytes(const RecordVersion& r) {
  return sizeof(RecordVersion) + r.id.size() + r.record.HeapBytes() + 32;
}

// ---- load ---------------------------------------------------------------------------------

namespace {

// Parses `lp(urn) u16 year` (E and Y keys after lp(child)).
bool ReadUnit(std::string_view rest, std::string_view& urn, int& academic_year) {
  const std::optional<std::string_view> u = keys::ReadLengthPrefixed(rest);
  if (!u || rest.size() != 2) return false;
  urn = *u;
  academic_year = (static_cast<uint8_t>(rest[0]) << 8) | static_cast<uint8_t>(rest[1]);
  return true;
}

// Holds a stored E value (absence rows) or Y value (day summary) in `y`; false when it does not
// decode. LoadChild and LoadUnit read them alike.
bool HoldStoredEntries(ChildState& c, SchoolYear& y, std::string_view value) {
  std::optional<std::vector<AbsenceEntry>> entries = DecodeAbsenceEntries(value);
  if (!entries) return false;
  y.entries = std::move(*entries);
  c.bytes += y.entries.size() * sizeof(AbsenceEntry);
  return true;
}

bool HoldStoredSummary(ChildState& c, SchoolYear& y, std::string_view value) {
  std::optional<std::string> summary = DecodeDaySummary(value);
  if (!summary) return false;
  c.bytes += y.SetSummary(*summary);
  return true;
}

}  // namespace

std::expected<ChildState, state::Error> LoadChild(state::WriteBuffer& buffer, uint16_t task,
                                                  std::string_view child, DimTable& dims) {
  ChildState c;
  c.id = child;
  c.from_store = true;
  c.bytes = kChildBytes + child.size();
  std::optional<state::Error> bad;
  const auto corrupt = [&](const char* what) {
    bad = state::Corruption(what);
    return false;
  };
  const auto scan = [&](char table, const state::ScanVisitor& visit) -> bool {
    if (bad) return false;
    const std::string prefix = keys::ChildPrefix(task, table, child);
    auto scanned = buffer.ScanPrefix(prefix, [&](std::string_view key, std::string_view value) {
      return visit(key.substr(prefix.size()), value);
    });
    if (!scanned) bad = scanned.error();
    return !bad;
  };

  scan(keys::kRecord, [&](std::string_view rest, std::string_view value) {
    std::optional<Record> r = DecodeRecord(value);
    if (!r || rest.empty() || static_cast<uint8_t>(rest[0]) != static_cast<uint8_t>(r->kind())) {
      return corrupt("undecodable record version");
    }
    RecordVersion& v = c.records.emplace_back();
    v.id = rest.substr(1);
    v.record = std::move(*r);
    c.bytes += RecordBytes(v);
    return true;
  });
  scan(keys::kDistinct, [&](std::string_view rest, std::string_view value) {
    if (rest.empty()) return corrupt("bad distinct reference key");
    const auto kpi = static_cast<uint8_t>(rest[0]);
    rest.remove_prefix(1);
    const std::optional<std::string_view> dim = keys::ReadLengthPrefixed(rest);
    const std::optional<std::vector<WeekRefs>> weeks = DecodeDistinctRefs(value);
    if (!dim || !rest.empty() || kpi < 1 || kpi > kKpiCount || !weeks) {
      return corrupt("bad distinct references");
    }
    const uint32_t id = dims.Intern(*dim);
    for (const WeekRefs& w : *weeks) {
      c.refs.push_back({PackRef(static_cast<Kpi>(kpi), id, w.week), w.refs, false});
    }
    c.bytes += weeks->size() * kRefBytes;
    return true;
  });
  // Stored by dimension name, held by dimension id.
  std::sort(c.refs.begin(), c.refs.end(),
            [](const DistinctRef& x, const DistinctRef& y) { return x.key < y.key; });
  scan(keys::kAbsenceUnit, [&](std::string_view rest, std::string_view value) {
    std::string_view urn;
    int ay = 0;
    if (!ReadUnit(rest, urn, ay) || !HoldStoredEntries(c, c.Year(urn, ay), value)) {
      return corrupt("bad absence unit");
    }
    return true;
  });
  scan(keys::kDaySummary, [&](std::string_view rest, std::string_view value) {
    std::string_view urn;
    int ay = 0;
    if (!ReadUnit(rest, urn, ay) || !HoldStoredSummary(c, c.Year(urn, ay), value)) {
      return corrupt("bad absence day summary");
    }
    return true;
  });
  if (bad) return std::unexpected(*bad);
  c.RebuildProfiles();
  return c;
}

std::expected<void, state::Error> LoadMarks(ChildState& child, SchoolYear& year,
                                            state::WriteBuffer& buffer, uint16_t task) {
  if (year.marks_loaded) return {};
  const std::string prefix = keys::MarkUrnPrefix(task, child.id, year.urn);
  std::string begin = prefix;
  std::string end = prefix;
  keys::AppendDate(begin, year.first);
  keys::AppendDate(end, AcademicYearStart(year.academic_year + 1));
  std::optional<state::Error> bad;
  // ApplyMark reads a year's marks before it changes any of them.
  if (!year.sessions.empty() || !year.versions.empty()) {
    return std::unexpected(state::Corruption("marks changed before read"));
  }
  auto scanned = buffer.Scan(begin, end, [&](std::string_view key, std::string_view value) {
    std::string_view rest = key.substr(prefix.size());
    const std::optional<Date> date = keys::ReadDate(rest);
    const std::optional<StoredMark> stored = DecodeMark(value);
    if (!date || rest.size() != 1 || !stored || (rest[0] != 1 && rest[0] != 2)) {
      bad = state::Corruption("undecodable attendance mark");
      return false;
    }
    MarkVersion m;
    m.cls = stored->code;
    m.deleted = stored->deleted;
    m.part_time = stored->part_time;
    if (year.sessions.empty() || year.newest < stored->recorded_at) {
      year.newest = stored->recorded_at;
    }
    child.bytes += year.SetNibble(static_cast<uint16_t>(*date - year.first),
                                  static_cast<uint8_t>(rest[0]), MarkNibble(m));
    return true;
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (bad) return std::unexpected(*bad);
  year.marks_loaded = true;
  return {};
}

std::expected<void, state::Error> LoadUnit(ChildState& child, SchoolYear& year,
                                           state::WriteBuffer& buffer, uint16_t task) {
  if (year.unit_loaded) return {};
  auto summary = buffer.Get(keys::DaySummaryKey(task, child.id, year.urn, year.academic_year));
  if (!summary) return std::unexpected(summary.error());
  auto entries = buffer.Get(keys::AbsenceUnitKey(task, child.id, year.urn, year.academic_year));
  if (!entries) return std::unexpected(entries.error());
  if (*summary && !HoldStoredSummary(child, year, **summary)) {
    return std::unexpected(state::Corruption("bad absence day summary"));
  }
  if (*entries && !HoldStoredEntries(child, year, **entries)) {
    return std::unexpected(state::Corruption("bad absence unit"));
  }
  year.unit_loaded = true;
  return {};
}

std::expected<std::optional<RecordedAt>, state::Error> StoredMarkVersion(
    const ChildState& child, const SchoolYear& year, uint16_t day, uint8_t session,
    state::WriteBuffer& buffer, uint16_t task) {
  auto value = buffer.Get(keys::MarkKey(task, child.id, year.urn, year.first + day, session));
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::optional<RecordedAt>();
  const std::optional<StoredMark> stored = DecodeMark(**value);
  if (!stored) return std::unexpected(state::Corruption("undecodable attendance mark"));
  return std::optional(stored->recorded_at);
}

// ---- write-back ---------------------------------------------------------------------------

void ReleasePastYears(ChildState& child) {
  int newest = INT_MIN;
  for (const SchoolYear& y : child.years) {
    if (!y.sessions.empty()) newest = std::max(newest, y.academic_year);
  }
  for (SchoolYear& y : child.years) {
    if (y.academic_year >= newest) continue;
    if (y.marks_loaded && !y.sessions.empty() && y.versions.empty()) {  // written back
      child.bytes -= y.sessions.size();
      std::vector<uint8_t>().swap(y.sessions);
      y.marks_loaded = false;
    }
    if (y.unit_loaded && !y.summary_dirty && !y.entries_dirty && !y.flush_pending &&
        (!y.summary.empty() || !y.entries.empty())) {
      child.bytes -= y.summary.size() + y.entries.size() * sizeof(AbsenceEntry);
      std::string().swap(y.summary);
      y.summary_from = 0;
      std::vector<AbsenceEntry>().swap(y.entries);
      y.unit_loaded = false;
    }
  }
}

void WriteBack(ChildState& child, state::WriteBatch& batch, uint16_t task, const DimTable& dims) {
  std::string key;
  for (RecordVersion& r : child.records) {
    if (!r.dirty) continue;
    key = keys::RecordKindPrefix(task, child.id, r.kind());
    key.append(r.id);
    batch.push_back({key, EncodeRecord(r.record)});
    r.dirty = false;
  }
  // Every version held is unwritten: written now, the store holds it from here on.
  for (SchoolYear& y : child.years) {
    if (y.versions.empty()) continue;
    for (const MarkVersion& m : y.versions) {
      key = keys::MarkKey(task, child.id, y.urn, y.first_day() + m.day, m.session);
      batch.push_back({key, EncodeMark({m.recorded_at(), m.cls, m.deleted, m.part_time})});
    }
    child.bytes -= y.versions.size() * sizeof(MarkVersion);
    y.versions.clear();
    if (y.versions.capacity() > 4) y.versions.shrink_to_fit();  // keep the common one or two
  }
  for (SchoolYear& y : child.years) {
    if (y.summary_dirty) {
      key = keys::DaySummaryKey(task, child.id, y.urn, y.academic_year);
      if (y.summary.empty() || y.summary.find_first_not_of('\0') == std::string::npos) {
        batch.push_back({key, std::nullopt});
      } else {
        batch.push_back({key, EncodeDaySummary(y.FullSummary())});
      }
      y.summary_dirty = false;
    }
    if (y.entries_dirty) {
      key = keys::AbsenceUnitKey(task, child.id, y.urn, y.academic_year);
      if (y.entries.empty()) {
        batch.push_back({key, std::nullopt});
      } else {
        batch.push_back({key, EncodeAbsenceEntries(y.entries)});
      }
      y.entries_dirty = false;
    }
  }
  ReleasePastYears(child);  // after the units' write-back: what was just written can go
  // One value per (kpi, dimension) with a changed week: the weeks still referenced, or a delete.
  std::vector<WeekRefs> weeks;
  for (size_t i = 0; i < child.refs.size();) {
    const uint64_t group = RefGroup(child.refs[i].key);
    size_t end = i;
    bool dirty = false;
    weeks.clear();
    for (; end < child.refs.size() && RefGroup(child.refs[end].key) == group; ++end) {
      DistinctRef& ref = child.refs[end];
      dirty = dirty || ref.dirty;
      ref.dirty = false;
      if (ref.refs > 0) weeks.push_back({RefWeek(ref.key), ref.refs});
    }
    if (dirty) {
      const uint64_t first = child.refs[i].key;
      key = keys::DistinctKey(task, child.id, RefKpi(first), dims.Name(RefDim(first)));
      if (weeks.empty()) {
        batch.push_back({key, std::nullopt});
      } else {
        batch.push_back({key, EncodeDistinctRefs(weeks)});
      }
    }
    i = end;
  }
  const size_t before = child.refs.size();
  std::erase_if(child.refs, [](const DistinctRef& r) { return r.refs == 0; });
  child.bytes -= (before - child.refs.size()) * kRefBytes;
}

}  // namespace kpi
