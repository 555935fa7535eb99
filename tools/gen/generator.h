// A deterministic generator of a local authority's event stream (EVENTS.md), for tests, the demo
// and benchmarks: children with effective-dated profiles, schools, contacts, referrals,
// assessments with progress updates, S47s (with strategy discussions on the day or a few days
// before, the ICPC anchor), ICPCs, CIN/CP/looked-after plans, attendance marks
// with later corrections, exclusions, enrolments with mid-year moves and EHE, the records of
// KPIS-2.md, and a small share of stale versions, deletes and malformed records. Same
// parameters, same bytes.
// Thread-safety: pure; each call owns its state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "processor/date.h"

namespace kpi::gen {

struct Params {
  uint32_t children = 2000;
  uint64_t seed = 1;
  Date start = Date::FromYmd(2025, 9, 1);  // first day of the generated period
  uint32_t weeks = 26;                     // length of the period
  bool attendance = true;                  // school-age children get AM/PM marks
  // The records of KPIS-2.md (EHC requests, advice, plans and reviews; CP and CLA reviews and
  // visits; gender and ethnicity; referral ids; C2 marks). Drawn from a stream of their own, so
  // that without them the stream is byte for byte what earlier releases generated.
  bool part2 = true;
  // The records of KPIS-3.md: referrals ending in no further action (some corrected by a later
  // version), and children referred again around 12 months after an earlier referral (across
  // 29 February among them) or twice on one day. Drawn from a stream of their own, so that without
  // them the stream is byte for byte what earlier releases generated.
  bool part3 = true;
  // Marks as registers write them: present is '/' in the morning and '\' in the afternoon (JSON
  // "\\"), and the other codes in shares near the national ones (illness most, then unauthorised
  // 'O'; late 'L'; educational visits, sport and work experience). false: the marks earlier
  // releases generated ('/' in both sessions, fewer kinds of code), byte for byte.
  bool register_codes = true;
  double stale_rate = 0.005;      // share of versioned records re-sent late, older
  double delete_rate = 0.01;      // share of records later deleted
  double correction_rate = 0.01;  // share of marks corrected the next day
  double malformed_rate = 0.002;  // share of extra malformed lines
};

struct Counts {
  uint64_t events = 0;
  uint64_t marks = 0;
  uint64_t malformed = 0;
  uint64_t stale = 0;
  uint64_t deletes = 0;
};

// Emits NDJSON lines (without the newline) in arrival order.
Counts Generate(const Params& params, const std::function<void(std::string_view)>& emit);

// The last day of the generated period (a sensible `as_of` for a replay of it).
inline Date PeriodEnd(const Params& p) { return p.start + static_cast<int>(p.weeks) * 7 - 1; }

}  // namespace kpi::gen
