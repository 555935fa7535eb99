#include "tools/gen/generator.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <queue>
#include <vector>

#include "processor/calendar.h"
#include "tools/gen/school_terms.h"

// How the stream is made in time order without holding it:
// - Each child has its own random stream, seeded from (seed, child). Its records other than
//   attendance marks (about a tenth of its events) are a pure function of that stream, so they
//   are made again when their turn comes instead of being kept: a heap holds one entry per child,
//   its next arrival.
// - Each child's marks of a day have their own random stream, seeded from (seed, child, day).
//   A day's first versions are made when the clock reaches the day, as small references sorted
//   by arrival; the line is written when it is emitted. Corrections, their stale re-sends and
//   deletes are kept as lines in a second heap until they arrive.
// - Memory is a few dozen bytes per child plus one day's marks, whatever the number of weeks.

namespace kpi::gen {
namespace {

// SplitMix64: cheap to seed, so every child and every child-day has its own stream.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double U() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  int R(int lo, int hi) {
    return hi <= lo ? lo : lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool Chance(double p) { return U() < p; }

 private:
  uint64_t state_;
};

uint64_t Seed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  Rng r(seed ^ (a * 0xd1b54a32d192ed03ULL) ^ (b * 0x8cb92ba72f3d8dd7ULL));
  return r.Next();
}

struct Out {
  int64_t arrival;  // seconds since epoch: when the source system sends it
  uint64_t seq;     // tie-break, keeps the order deterministic
  std::string line;
};

bool Later(const Out& a, const Out& b) {
  return a.arrival != b.arrival ? a.arrival > b.arrival : a.seq > b.seq;
}

void AppendTimestamp(std::string& s, int64_t seconds) {
  const Date d(static_cast<int32_t>(seconds / 86400));
  const int64_t sod = seconds % 86400;
  char buf[16];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", static_cast<int>(sod / 3600),
                static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  s += d.ToString();
  s += buf;
}

std::string Timestamp(int64_t seconds) {
  std::string s;
  AppendTimestamp(s, seconds);
  return s;
}

int64_t At(Date d, int seconds_of_day) {
  return static_cast<int64_t>(d.days()) * 86400 + seconds_of_day;
}

std::string ChildId(uint32_t c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "C%06u", c);
  return buf;
}

std::string Urn(uint32_t school) { return std::to_string(100000 + school); }

std::string Q(const std::string& s) { return "\"" + s + "\""; }

// One record with its versions: `bodies` are the JSON bodies ("\"contact\":{...}") of the
// successive versions, `times` their recorded_at. Adds deletes (with `delete_body`, which must
// carry the identity fields; empty: never deleted) and stale re-sends by the rates. Versions
// recorded at or after `cutoff` (the end of the period) have not happened yet.
template <typename PushFn>
void AddVersions(Rng& rng, const Params& p, int64_t cutoff, Counts* counts,
                 const std::string& child, const std::string& id,
                 const std::vector<std::string>& bodies, std::vector<int64_t> times,
                 const std::string& delete_body, PushFn&& push) {
  const auto line = [&](const std::string& body, int64_t t, bool deleted) {
    std::string s = "{\"eventId\":\"" + id + "\",\"childId\":\"" + child + "\",\"recordedAt\":\"";
    AppendTimestamp(s, t);
    s += '"';
    if (deleted) s += ",\"deleted\":true";
    s += "," + body + "}";
    return s;
  };
  while (!times.empty() && times.back() >= cutoff) times.pop_back();
  if (times.empty()) return;
  for (size_t i = 0; i < times.size(); ++i) {
    push(times[i] + rng.R(0, 600), line(bodies[i], times[i], false));
  }
  if (times.size() > 1 && rng.Chance(p.stale_rate * 10)) {
    // The first version arrives again after the last one: stale.
    if (counts != nullptr) ++counts->stale;
    push(times.back() + 3600 + rng.R(0, 3600), line(bodies.front(), times.front(), false));
  }
  if (!delete_body.empty() && rng.Chance(p.delete_rate)) {
    const int64_t t = times.back() + (int64_t{86400} * rng.R(1, 20));
    if (t < cutoff) {
      if (counts != nullptr) ++counts->deletes;
      push(t, line(delete_body, t, true));
    }
  }
}

// What a child's marks depend on, kept for every child (the rest is made again when needed).
struct MarkPlan {
  uint32_t urn = 0;        // school index + 1; 0: not of school age
  uint32_t next_urn = 0;   // after a move; 0: none (no move, or elective home education)
  Date leave;              // first day away from the first school
  float absence = 0;       // chance that a session is missed
  bool part_time = false;  // on a part-time timetable: afternoons present are C2 instead
};

// Builds one child's records other than marks, and its MarkPlan, from the child's own stream.
class ChildBuilder {
 public:
  ChildBuilder(const Params& p, uint32_t schools, int64_t cutoff)
      : p_(p), schools_(schools), cutoff_(cutoff), rng_(0) {}

  // The child's records in arrival order; `counts` (if given) gets the stale re-sends and deletes.
  const std::vector<Out>& Build(uint32_t c, MarkPlan* plan, Counts* counts) {
    rng_ = Rng(Seed(p_.seed, c, 1));
    rng2_ = Rng(Seed(p_.seed, c, 2));
    rng3_ = Rng(Seed(p_.seed, c, 3));
    out_.clear();
    counts_ = counts;
    seq_ = 0;
    exclusions_ = 0;
    Child(c, plan);
    std::sort(out_.begin(), out_.end(), [](const Out& a, const Out& b) { return Later(b, a); });
    return out_;
  }

 private:
  double U() { return rng_.U(); }
  int R(int lo, int hi) { return rng_.R(lo, hi); }
  bool Chance(double p) { return rng_.Chance(p); }

  void Push(int64_t arrival, std::string line) {
    out_.push_back({arrival, seq_++, std::move(line)});
  }

  void Versions(const std::string& child, const std::string& id,
                const std::vector<std::string>& bodies, std::vector<int64_t> times,
                const std::string& delete_body) {
    AddVersions(rng_, p_, cutoff_, counts_, child, id, bodies, std::move(times), delete_body,
                [this](int64_t arrival, std::string line) { Push(arrival, std::move(line)); });
  }

  void Child(uint32_t c, MarkPlan* plan) {
    *plan = MarkPlan{};
    const std::string child = ChildId(c);
    const Date start = p_.start;
    const Date end = PeriodEnd(p_);
    // Profile: age 0..17 on the first day, SEN status, school for ages 4..16.
    const int age_days = R(0, 17 * 365 + 300);
    const Date dob = start - age_days;
    const int age = age_days / 365;
    const bool school_age = age >= 4 && age <= 16;
    const uint32_t school =
        school_age ? static_cast<uint32_t>(R(0, static_cast<int>(schools_) - 1)) : 0;
    const std::string urn = school_age ? Urn(school) : "";
    const double sen_roll = U();
    const char* sen = sen_roll < 0.8    ? "NONE"
                      : sen_roll < 0.93 ? "SEN_SUPPORT"
                      : sen_roll < 0.97 ? "EHCP"
                                        : "";
    std::string identity;  // gender and ethnicity (Part II)
    if (p_.part2) {
      const double g = rng2_.U();
      if (g < 0.985)
        identity += std::string(",\"gender\":\"") +
                    (g < 0.49   ? "MALE"
                     : g < 0.98 ? "FEMALE"
                                : "INDETERMINATE") +
                    "\"";
      static constexpr std::array<const char*, 12> kEthnicities = {"WBRI", "WBRI", "WBRI", "WBRI",
                                                                   "WBRI", "WBRI", "WOTH", "MWBC",
                                                                   "APKN", "BAFR", "AIND", "OOTH"};
      if (rng2_.Chance(0.95))
        identity += std::string(",\"ethnicity\":\"") +
                    kEthnicities[static_cast<size_t>(rng2_.R(0, kEthnicities.size() - 1))] + "\"";
    }
    const auto profile_body = [&](Date effective, const std::string& at_school,
                                  const char* sen_status) {
      std::string b = "\"profile\":{\"effectiveDate\":\"" + effective.ToString() +
                      "\",\"dateOfBirth\":\"" + dob.ToString() + "\"";
      if (*sen_status) b += ",\"senStatus\":\"" + std::string(sen_status) + "\"";
      if (!at_school.empty()) b += ",\"schoolUrn\":" + Q(at_school);
      return b + identity + "}";
    };
    const Date effective = start - R(30, 400);
    const int64_t profile_at = At(start - 30, 3600 + R(0, 7200));
    Versions(child, child + "-P0", {profile_body(effective, urn, sen)}, {profile_at}, "");

    // Enrolment, with a mid-year move to another school or to elective home education.
    bool moved = false;
    if (school_age) {
      const Date enrol_start = Date::FromYmd(start.ToYmd().year, 9, R(1, 5));
      moved = Chance(0.05);
      const int span = static_cast<int>(p_.weeks) * 7;
      const Date leave = start + R(span / 4, span - span / 4);
      const bool ehe = moved && Chance(0.2);
      plan->urn = school + 1;
      plan->leave = moved ? leave : end + 1;
      std::string body = "\"enrolment\":{\"schoolUrn\":" + Q(urn) + ",\"startDate\":\"" +
                         (enrol_start - 365 * std::min(age - 4, 3)).ToString() + "\"";
      std::vector<std::string> bodies = {body + "}"};
      std::vector<int64_t> times = {At(start - 20, 40000)};
      if (moved) {
        bodies.push_back(body + ",\"endDate\":\"" + leave.ToString() + "\",\"leaveReason\":\"" +
                         (ehe ? "EHE" : "TRANSFER") + "\"}");
        times.push_back(At(leave, 50000));
        if (!ehe) {
          const auto next = static_cast<uint32_t>(R(0, static_cast<int>(schools_) - 1));
          plan->next_urn = next + 1;
          const Date joined = leave + R(1, 10);
          Versions(child, child + "-EN1",
                   {"\"enrolment\":{\"schoolUrn\":" + Q(Urn(next)) + ",\"startDate\":\"" +
                    joined.ToString() + "\"}"},
                   {At(leave + 10, 50000)}, "\"enrolment\":{}");
          // The profile follows the move, recorded late (after the marks at the new school).
          Versions(child, child + "-P1", {profile_body(leave + 1, Urn(next), sen)},
                   {At(leave + 25, 30000)}, "");
        }
      }
      Versions(child, child + "-EN0", bodies, times, "\"enrolment\":{}");
      if (p_.attendance) {
        // Absence propensity: most children attend well; some are persistently or severely
        // absent.
        const double roll = U();
        plan->absence = roll < 0.02 ? 0.55f : roll < 0.15 ? 0.14f : 0.04f;
      }
      if (Chance(0.03)) Exclusion(child, urn, end, "SUSPENSION");
      if (Chance(0.002)) Exclusion(child, urn, end, "PERMANENT");
    }
    // A profile change: SEN support begins, or an EHC plan is issued (children who stay put).
    if (!moved && Chance(0.03) &&
        (std::string_view(sen) == "NONE" || std::string_view(sen) == "SEN_SUPPORT")) {
      const Date from = start + R(0, static_cast<int>(end - start));
      const char* next_sen = std::string_view(sen) == "NONE" ? "SEN_SUPPORT" : "EHCP";
      Versions(child, child + "-P2", {profile_body(from, urn, next_sen)},
               {At(from + R(0, 14), 32000)}, "");
    }
    // Social care journey.
    if (Chance(0.15)) Journey(child, end);
    if (Chance(0.02)) PreexistingPlan(child, end);
    if (Chance(0.008)) LookedAfterEpisode(child, end);
    if (p_.part2) {
      if (school_age) plan->part_time = rng2_.Chance(0.01);
      if (std::string_view(sen) == "EHCP") EhcPlan(child, start - rng2_.R(60, 2000), end);
      if (age <= 20 && rng2_.Chance(school_age ? 0.03 : 0.01)) EhcRequest(child, end);
      if (rng2_.Chance(0.008)) RepeatPlan(child, end);
    }
    if (p_.part3 && rng3_.Chance(0.05)) RepeatReferrals(child, end);
  }

  // ---- the records of KPIS-3.md (rng3_ decides) ----
  // A referral's versions: with Part III some end in no further action, and some of those (or
  // of the others) are corrected by a later version.
  void ReferralVersions(const std::string& child, const std::string& id, Date referral,
                        int64_t recorded) {
    const std::string body = "\"referral\":{\"referralDate\":\"" + referral.ToString() + "\"";
    if (!p_.part3) {
      Versions(child, id, {body + "}"}, {recorded}, "\"referral\":{}");
      return;
    }
    const bool nfa = rng3_.Chance(0.3);
    std::vector<std::string> bodies = {body + (nfa ? ",\"nfa\":true}" : "}")};
    std::vector<int64_t> times = {recorded};
    if (rng3_.Chance(0.15)) {
      bodies.push_back(body + (nfa ? "}" : ",\"nfa\":true}"));
      times.push_back(recorded + int64_t{86400} * rng3_.R(1, 20));
    }
    Versions(child, id, bodies, times, "\"referral\":{}");
  }

  // A child referred again: a referral, and another 12 months later give or take a few days (on
  // either side of the boundary; some from 29 February 2024), or two on one day.
  void RepeatReferrals(const std::string& child, Date end) {
    Rng& g = rng3_;
    const int span = static_cast<int>(end - p_.start);
    Date first = p_.start + g.R(-400, span - 380);
    if (g.Chance(0.1)) first = Date::FromYmd(2024, 2, 29);
    Date second = AddMonths(first, 12) + g.R(-3, 3);
    if (g.Chance(0.25)) second = first;  // the same day: not re-referrals of each other
    ReferralVersions(child, child + "-RR1", first, At(first, 41000));
    ReferralVersions(child, child + "-RR2", second, At(second, 41500));
    if (g.Chance(0.3)) {  // and a third within the 12 months after the second
      const Date third = second + g.R(1, 300);
      ReferralVersions(child, child + "-RR3", third, At(third, 42000));
    }
  }

  // A child back on a CP plan (a re-registration): an earlier plan that ended before the period,
  // mostly within two years of the new one.
  void RepeatPlan(const std::string& child, Date end) {
    Rng& g = rng2_;
    const Date ended = p_.start - g.R(1, 700);
    const Date began = ended - g.R(60, 500);
    const std::string first = "\"cpPlan\":{\"startDate\":\"" + began.ToString() + "\"";
    Versions(child, child + "-CPA",
             {first + "}", first + ",\"endDate\":\"" + ended.ToString() + "\"}"},
             {At(began, 54100), At(ended, 55100)}, "\"cpPlan\":{}");
    const Date again = p_.start + g.R(0, static_cast<int>(end - p_.start));
    const std::string id = child + "-CPB";
    Versions(child, id,
             {"\"cpPlan\":{\"startDate\":\"" + again.ToString() +
              "\",\"previousPlans\":1,\"category\":\"" + (g.Chance(0.5) ? "NEG" : "MUL") + "\"}"},
             {At(again, 54200)}, "\"cpPlan\":{}");
    ReviewsAndVisits(child, id, false, again, end);
  }

  // ---- the records of KPIS-2.md (rng2_ only) ----

  // An EHC plan with its annual reviews, some late, some without a decision yet.
  void EhcPlan(const std::string& child, Date from, Date end) {
    Rng& g = rng2_;
    std::vector<std::string> bodies = {"\"ehcPlan\":{\"startDate\":\"" + from.ToString() + "\"}"};
    std::vector<int64_t> times = {At(from, 30500)};
    if (g.Chance(0.05)) {
      const Date ceased = p_.start + g.R(0, static_cast<int>(end - p_.start));
      if (ceased >= from) {
        bodies.push_back("\"ehcPlan\":{\"startDate\":\"" + from.ToString() + "\",\"endDate\":\"" +
                         ceased.ToString() + "\"}");
        times.push_back(At(ceased, 30600));
      }
    }
    Versions(child, child + "-EHCP", bodies, times, "\"ehcPlan\":{}");
    Date meeting = from;
    for (int k = 1; k <= 8; ++k) {
      meeting = AddMonths(meeting, 12) - g.R(0, 40) + (g.Chance(0.15) ? g.R(20, 90) : 0);
      if (meeting > end) break;
      const std::string b = "\"ehcReview\":{\"meetingDate\":\"" + meeting.ToString() + "\"";
      std::vector<std::string> rb = {b + "}"};
      std::vector<int64_t> rt = {At(meeting, 41000)};
      const Date decided = meeting + (g.Chance(0.2) ? g.R(29, 60) : g.R(3, 28));
      rb.push_back(b + ",\"decisionDate\":\"" + decided.ToString() + "\"}");
      rt.push_back(At(decided, 41500));
      Versions(child, child + "-EHR" + std::to_string(k), rb, rt, "\"ehcReview\":{}");
    }
  }

  // A request for an EHC needs assessment, carried through decision, advice and outcome.
  void EhcRequest(const std::string& child, Date end) {
    Rng& g = rng2_;
    const Date requested = p_.start - 120 + g.R(0, static_cast<int>(end - p_.start) + 120);
    static constexpr std::array<const char*, 9> kSources = {
        "PARENT",  "PARENT", "PARENT",      "YOUNG_PERSON",   "SETTING",
        "SETTING", "HEALTH", "SOCIAL_CARE", "LOCAL_AUTHORITY"};
    std::string b = "\"ehcRequest\":{\"requestDate\":\"" + requested.ToString() +
                    "\",\"source\":\"" +
                    kSources[static_cast<size_t>(g.R(0, kSources.size() - 1))] + "\"";
    if (g.Chance(0.04)) b += ",\"tribunalOrdered\":true";
    const std::string id = child + "-EHC";
    std::vector<std::string> bodies = {b + "}"};
    std::vector<int64_t> times = {At(requested, 39000)};
    if (g.Chance(0.08)) {  // withdrawn before any decision
      const Date withdrawn = requested + g.R(5, 60);
      bodies.push_back(b + ",\"outcomeDate\":\"" + withdrawn.ToString() +
                       "\",\"outcome\":\"WITHDRAWN\"}");
      times.push_back(At(withdrawn, 39500));
      Versions(child, id, bodies, times, "\"ehcRequest\":{}");
      return;
    }
    const Date decided = requested + (g.Chance(0.7) ? g.R(20, 42) : g.R(43, 90));
    const bool assess = g.Chance(0.75);
    b += ",\"decisionDate\":\"" + decided.ToString() + "\",\"decision\":\"" +
         (assess ? "ASSESS" : "NOT_ASSESS") + "\"";
    bodies.push_back(b + "}");
    times.push_back(At(decided, 39600));
    if (assess) {
      static constexpr std::array<const char*, 4> kAdvice = {"HEALTH", "EP", "SOCIAL_CARE",
                                                             "EDUCATION"};
      for (size_t a = 0; a < kAdvice.size(); ++a) {
        const Date asked = decided + g.R(0, 7);
        const std::string ab = "\"ehcAdvice\":{\"adviceType\":\"" + std::string(kAdvice[a]) +
                               "\",\"requestedDate\":\"" + asked.ToString() + "\"";
        const Date received = asked + (g.Chance(0.6) ? g.R(10, 42) : g.R(43, 100));
        Versions(child, id + "-ADV" + std::to_string(a),
                 {ab + "}", ab + ",\"receivedDate\":\"" + received.ToString() + "\"}"},
                 {At(asked, 40000), At(received, 40100)}, "\"ehcAdvice\":{}");
      }
      const double roll = g.U();
      const char* outcome = roll < 0.85 ? "PLAN_ISSUED" : roll < 0.95 ? "NO_PLAN" : "WITHDRAWN";
      const Date closed = requested + (g.Chance(0.55) ? g.R(100, 140) : g.R(141, 240));
      if (g.Chance(0.1)) b += ",\"timescaleException\":true";
      bodies.push_back(b + ",\"outcomeDate\":\"" + closed.ToString() + "\",\"outcome\":\"" +
                       outcome + "\"}");
      times.push_back(At(closed, 39700));
      if (std::string_view(outcome) == "PLAN_ISSUED" && closed <= end) EhcPlan(child, closed, end);
    }
    Versions(child, id, bodies, times, "\"ehcRequest\":{}");
  }

  // The reviews and statutory visits of a CP plan or a looked-after episode from `start`, up to
  // `until` (the plan's end) or the period's end. A few reviews are first recorded with the wrong
  // type and corrected the next day; a few visits did not see the child.
  void ReviewsAndVisits(const std::string& child, const std::string& id, bool cla, Date start,
                        Date until) {
    Rng& g = rng2_;
    const char* type = cla ? "CLA" : "CP";
    Date review = start;
    for (int k = 1; k <= 12; ++k) {
      const int months = k == 1 ? (cla ? 0 : 3) : (cla && k == 2 ? 3 : 6);
      review = (months == 0 ? review + g.R(14, 32) : AddMonths(review, months) - g.R(0, 20)) +
               (g.Chance(0.12) ? g.R(1, 30) : 0);
      if (review > until) break;
      const std::string b =
          "\"review\":{\"reviewDate\":\"" + review.ToString() + "\",\"reviewType\":\"";
      std::vector<std::string> rb;
      std::vector<int64_t> rt;
      if (g.Chance(0.02)) {
        rb.push_back(b + (cla ? "CP" : "CLA") + "\"}");
        rt.push_back(At(review, 42000));
      }
      rb.push_back(b + type + "\"}");
      rt.push_back(At(review + static_cast<int>(rb.size()) - 1, 42100));
      Versions(child, id + "-RV" + std::to_string(k), rb, rt, "\"review\":{}");
    }
    int n = 0;
    for (Date visit = start + g.R(0, 12); visit <= until && n < 200; ++n) {
      std::string vb = "\"visit\":{\"visitDate\":\"" + visit.ToString() + "\"";
      if (g.Chance(0.03)) vb += ",\"childNotSeen\":true";
      Versions(child, id + "-VI" + std::to_string(n), {vb + "}"}, {At(visit, 43000)},
               "\"visit\":{}");
      visit = visit + (cla ? g.R(14, 50) : g.R(4, 18));
    }
  }
  // Children already in care (about 70 in 10,000 in England), some on short breaks (V3/V4).
  void LookedAfterEpisode(const std::string& child, Date end) {
    const Date start = p_.start - R(1, 1500);
    const double roll = U();
    const char* status = roll < 0.7 ? "C2" : roll < 0.85 ? "V2" : roll < 0.95 ? "V3" : "V4";
    const std::string body = "\"lookedAfter\":{\"startDate\":\"" + start.ToString() +
                             "\",\"legalStatus\":\"" + status + "\"";
    std::vector<std::string> bodies = {body + "}"};
    std::vector<int64_t> times = {At(start, 30000)};
    const Date leaves = p_.start + R(0, static_cast<int>(end - p_.start) * 4);
    if (leaves <= end) {
      bodies.push_back(body + ",\"endDate\":\"" + leaves.ToString() + "\"}");
      times.push_back(At(leaves, 31000));
    }
    Versions(child, child + "-LAC", bodies, times, "\"lookedAfter\":{}");
    if (p_.part2 && roll < 0.85)
      ReviewsAndVisits(child, child + "-LAC", true, start, std::min(leaves, end));
  }

  void Exclusion(const std::string& child, const std::string& urn, Date end, const char* kind) {
    const Date d = p_.start + R(5, static_cast<int>(end - p_.start));
    Versions(child, child + "-X" + std::to_string(exclusions_++),
             {"\"exclusion\":{\"schoolUrn\":" + Q(urn) + ",\"startDate\":\"" + d.ToString() +
              "\",\"kind\":\"" + kind + "\",\"sessions\":" + std::to_string(R(1, 10)) + "}"},
             {At(d, 50000)}, "\"exclusion\":{}");
  }

  void Journey(const std::string& child, Date end) {
    const int span = static_cast<int>(end - p_.start);
    for (int k = R(1, 3); k > 0; --k) {
      // Some journeys began before the period: they make the backlog at its start.
      const Date contact = Chance(0.4) ? p_.start - R(1, 150) : p_.start + R(0, span);
      const std::string cid = child + "-CT" + std::to_string(k);
      Versions(child, cid,
               {"\"contact\":{\"contactDate\":\"" + contact.ToString() + "\",\"source\":\"" +
                (Chance(0.5) ? "POLICE" : "SCHOOL") + "\"}"},
               {At(contact, 36000 + R(0, 20000))}, "\"contact\":{}");
      if (!Chance(0.45)) continue;
      const Date referral = contact + R(0, 5);
      ReferralVersions(child, child + "-RF" + std::to_string(k), referral, At(referral, 40000));
      if (!Chance(0.7)) continue;
      const Date as_start = referral + R(0, 10);
      const std::string as_id = child + "-AS" + std::to_string(k);
      std::string as_body = "\"assessment\":{\"startDate\":\"" + as_start.ToString() + "\"";
      if (p_.part2) as_body += ",\"referralId\":\"" + child + "-RF" + std::to_string(k) + "\"";
      std::vector<std::string> bodies = {as_body + "}"};
      std::vector<int64_t> times = {At(as_start, 45000)};
      const Date completion = as_start + R(15, 90);
      const Date authorised = completion + R(0, 12);
      if (completion <= end + 30) {
        bodies.push_back(as_body + ",\"completionDate\":\"" + completion.ToString() + "\"}");
        times.push_back(At(completion, 46000));
        bodies.push_back(as_body + ",\"completionDate\":\"" + completion.ToString() +
                         "\",\"authorisationDate\":\"" + authorised.ToString() + "\"}");
        times.push_back(At(authorised, 47000));
      }
      Versions(child, as_id, bodies, times, "\"assessment\":{}");
      if (Chance(0.3)) {
        const Date cin = authorised;
        std::string b = "\"cinPlan\":{\"startDate\":\"" + cin.ToString() + "\"";
        if (Chance(0.1)) b += ",\"draft\":true";
        std::vector<std::string> cb = {b + "}"};
        std::vector<int64_t> ct = {At(cin, 48000)};
        if (Chance(0.4)) {
          const Date cin_end = cin + R(30, 200);
          cb.push_back(b + ",\"endDate\":\"" + cin_end.ToString() + "\"}");
          ct.push_back(At(cin_end, 48000));
        }
        Versions(child, child + "-CIN" + std::to_string(k), cb, ct, "\"cinPlan\":{}");
      }
      if (!Chance(0.25)) continue;
      const Date s47 = as_start + R(0, 15);
      const std::string s47_id = child + "-S47-" + std::to_string(k);
      const bool not_required = Chance(0.1);
      const int s47_days = R(10, 40);
      const Date s47_end = s47 + s47_days;
      // The strategy discussion: on the day or up to 3 days before the S47 (the ICPC timescale
      // runs from it); 1 in 10 recorded a day after the start (then the start is the anchor).
      // Derived from the S47's length, so that the rest of the stream is drawn as before.
      const Date strategy = s47_days % 10 == 9 ? s47 + 1 : s47 - s47_days % 4;
      std::string sb = "\"s47\":{\"startDate\":\"" + s47.ToString() +
                       "\",\"strategyDiscussionDate\":\"" + strategy.ToString() + "\"";
      if (not_required) sb += ",\"icpcNotRequired\":true";
      Versions(child, s47_id, {sb + "}", sb + ",\"endDate\":\"" + s47_end.ToString() + "\"}"},
               {At(s47, 49000), At(s47_end, 49000)}, "\"s47\":{}");
      if (not_required || !Chance(0.6)) continue;
      const Date conf = s47 + R(5, 35);
      const bool cp = Chance(0.55);
      Versions(child, child + "-IC" + std::to_string(k),
               {"\"icpc\":{\"conferenceDate\":\"" + conf.ToString() + "\",\"s47Id\":" + Q(s47_id) +
                ",\"outcome\":\"" + (cp ? "CP_PLAN" : "CIN") + "\"}"},
               {At(conf, 52000)}, "\"icpc\":{}");
      if (cp) Plan(child, "cpPlan", child + "-CP" + std::to_string(k), conf, end);
      if (Chance(0.05)) {
        std::string la = child + "-LA" + std::to_string(k);
        const char* status = Chance(0.8) ? "C2" : Chance(0.5) ? "V2" : "V3";
        const Date la_start = conf + R(1, 30);
        Versions(child, la,
                 {"\"lookedAfter\":{\"startDate\":\"" + la_start.ToString() +
                  "\",\"legalStatus\":\"" + status + "\"}"},
                 {At(conf + 30, 53000)}, "\"lookedAfter\":{}");
        if (p_.part2 && std::string_view(status) != "V3") {
          ReviewsAndVisits(child, la, true, la_start, end);
        }
      }
    }
  }

  void Plan(const std::string& child, const char* kind, const std::string& id, Date start,
            Date end) {
    const bool cp = std::string_view(kind) == "cpPlan";
    std::string b = "\"" + std::string(kind) + "\":{\"startDate\":\"" + start.ToString() + "\"";
    if (cp && Chance(0.2)) b += ",\"previousPlans\":" + std::to_string(R(1, 3));
    if (cp) {
      const bool neg = Chance(0.5);
      static constexpr std::array<const char*, 6> kCategories = {"NEG", "PHY", "SAB",
                                                                 "EMO", "MUL", ""};
      const char* category =
          !p_.part2 ? (neg ? "NEG" : "EMO")
                    : kCategories[static_cast<size_t>(rng2_.R(0, kCategories.size() - 1))];
      if (*category) b += ",\"category\":\"" + std::string(category) + "\"";
    }
    std::vector<std::string> bodies = {b + "}"};
    std::vector<int64_t> times = {At(start, 54000)};
    const Date plan_end = start + R(60, 900);
    if (plan_end <= end) {
      bodies.push_back(b + ",\"endDate\":\"" + plan_end.ToString() + "\"}");
      times.push_back(At(plan_end, 55000));
    }
    Versions(child, id, bodies, times, "\"" + std::string(kind) + "\":{}");
    if (cp && p_.part2) ReviewsAndVisits(child, id, false, start, std::min(plan_end, end));
  }

  void PreexistingPlan(const std::string& child, Date end) {
    // Plans that started before the period: open snapshots from the first week, some ending.
    const Date start = p_.start - R(30, 800);
    Plan(child, Chance(0.5) ? "cpPlan" : "cinPlan", child + "-OLD", start, end);
  }

  const Params& p_;
  uint32_t schools_;
  int64_t cutoff_;  // nothing is recorded at or after this moment
  Rng rng_;
  Rng rng2_ = Rng(0);  // the records of KPIS-2.md: rng_ draws the same with or without them
  Rng rng3_ = Rng(0);  // the records of KPIS-3.md
  std::vector<Out> out_;
  Counts* counts_ = nullptr;
  uint64_t seq_ = 0;
  uint32_t exclusions_ = 0;
};

// The code text of a generated mark, as it stands between a JSON string's quotes: '2' stands for
// C2 (part-time timetable), and the afternoon present mark '\\' is escaped.
std::string_view CodeText(const char& code) {
  if (code == '2') return "C2";
  if (code == '\\') return "\\\\";
  return {&code, 1};
}

// The present mark of a session: '/' in the morning, '\\' in the afternoon (register codes).
char Present(char session, bool register_codes) {
  return register_codes && session == 'P' ? '\\' : '/';
}

bool IsPresent(char code) { return code == '/' || code == '\\'; }

// A mark's code. The draws are the same with and without register codes (so that everything
// else in the stream stays as it was); only what a draw means differs.
char Code(Rng& rng, double absence, char session, bool register_codes) {
  if (rng.U() < absence) {
    static constexpr std::array<char, 8> kAbsent = {'I', 'I', 'M', 'C', 'N', 'N', 'O', 'G'};
    // Authorised about 60% (illness most of it), unauthorised 40% ('O' most of it).
    static constexpr std::array<char, 16> kRegisterAbsent = {
        'I', 'I', 'I', 'I', 'I', 'I', 'I', 'I', 'M', 'C', 'O', 'O', 'O', 'G', 'N', 'U'};
    if (!register_codes) return kAbsent[static_cast<size_t>(rng.R(0, kAbsent.size() - 1))];
    return kRegisterAbsent[static_cast<size_t>(rng.R(0, kRegisterAbsent.size() - 1))];
  }
  const double v = rng.U();
  if (!register_codes) {
    if (v < 0.01) return '-';
    if (v < 0.02) return 'B';
    if (v < 0.025) return 'X';
    if (v < 0.05) return 'L';
    return '/';
  }
  if (v < 0.005) return '-';  // not yet taken
  if (v < 0.009) return 'B';  // off-site educational activity
  if (v < 0.011) return 'V';  // educational visit
  if (v < 0.012) return 'P';  // approved sporting activity
  if (v < 0.013) return 'W';  // work experience
  if (v < 0.016) return 'X';  // not of compulsory school age
  if (v < 0.031) return 'L';  // late before the register closed
  return Present(session, true);
}

// A first version of a mark, written out when it is emitted.
struct MarkRef {
  int64_t arrival;
  uint32_t child;
  uint32_t school;
  int32_t recorded_sod;  // recorded_at, seconds into the day
  char session;          // 'A' or 'P'
  char code;
};

// The body of a mark (`"attendance":{...}`); without a code, the body of its delete.
void AppendMarkBody(std::string& s, Date d, char session, uint32_t school, const char* code) {
  const std::string date = d.ToString();
  const char* sess = session == 'A' ? "AM" : "PM";
  s += "\"attendance\":{\"schoolUrn\":\"";
  s += Urn(school);
  s += "\",\"date\":\"";
  s += date;
  s += "\",\"session\":\"";
  s += sess;
  s += '"';
  if (code != nullptr) {
    s += ",\"code\":\"";
    s += code;
    s += '"';
  }
  s += '}';
}

void AppendMark(std::string& s, const std::string& child, Date d, char session, uint32_t school,
                int64_t recorded_at, char code) {
  s += "{\"eventId\":\"";
  s += child;
  s += "-M";
  s += d.ToString();
  s += session == 'A' ? "AM" : "PM";
  s += "\",\"childId\":\"";
  s += child;
  s += "\",\"recordedAt\":\"";
  AppendTimestamp(s, recorded_at);
  s += "\",";
  const std::string text(CodeText(code));
  AppendMarkBody(s, d, session, school, text.c_str());
  s += '}';
}

class Stream {
 public:
  Stream(const Params& p, const std::function<void(std::string_view)>& emit)
      : p_(p),
        emit_(emit),
        terms_(calendar_),
        end_(PeriodEnd(p)),
        cutoff_(At(end_ + 1, 0)),
        schools_(std::max<uint32_t>(3, p.children / 250)),
        builder_(p, schools_, cutoff_),
        malformed_rng_(Seed(p.seed, 0xbad)) {}

  Counts Run() {
    // First pass: every child's mark plan and first arrival.
    plans_.resize(p_.children);
    for (uint32_t c = 0; c < p_.children; ++c) {
      const std::vector<Out>& out = builder_.Build(c, &plans_[c], &counts_);
      if (!out.empty()) children_.push({out.front().arrival, c, 0});
    }
    Date d = p_.start;
    if (!children_.empty())
      d = std::min(d, Date(static_cast<int32_t>(children_.top().arrival / 86400)));
    for (;; d = d + 1) {
      marks_.clear();
      next_mark_ = 0;
      if (p_.attendance && d >= p_.start && d <= end_ && terms_.IsSchoolDay(d)) LoadMarks(d);
      EmitDay(d);
      if (d >= end_ && pending_.empty() && children_.empty()) break;
    }
    return counts_;
  }

 private:
  struct Next {
    int64_t arrival;
    uint32_t child;
    uint32_t index;  // into the child's records in arrival order
    bool operator>(const Next& o) const {
      return arrival != o.arrival ? arrival > o.arrival
             : child != o.child   ? child > o.child
                                  : index > o.index;
    }
  };
  struct LaterOut {
    bool operator()(const Out& a, const Out& b) const { return Later(a, b); }
  };

  // Every school child's marks of day `d`: first versions as references, corrected marks (all
  // their versions) as lines in `pending_`.
  void LoadMarks(Date d) {
    for (uint32_t c = 0; c < p_.children; ++c) {
      const MarkPlan& plan = plans_[c];
      if (plan.urn == 0) continue;
      uint32_t school = plan.urn;
      if (d >= plan.leave) {
        if (plan.next_urn == 0 || d < plan.leave + 7) continue;  // home educated, or between
        school = plan.next_urn;
      }
      --school;
      Rng rng(Seed(p_.seed, c, 0x100000000ULL + static_cast<uint32_t>(d.days())));
      for (const char session : {'A', 'P'}) {
        char code = Code(rng, plan.absence, session, p_.register_codes);
        if (plan.part_time && session == 'P' && IsPresent(code)) code = '2';
        const int sod = (session == 'A' ? 9 * 3600 : 13 * 3600) + rng.R(0, 1800);
        ++counts_.marks;
        if (rng.Chance(p_.correction_rate)) {
          const char fixed[3] = {code == 'N'       ? 'I'
                                 : IsPresent(code) ? 'M'
                                                   : Present(session, p_.register_codes),
                                 0, 0};
          const std::string fixed_text(CodeText(fixed[0]));
          const std::string first(CodeText(code));
          const std::string child = ChildId(c);
          const auto body = [&](const char* mark_code) {
            std::string b;
            AppendMarkBody(b, d, session, school, mark_code);
            return b;
          };
          const int64_t t = At(d, sod);
          const std::string id = child + "-M" + d.ToString() + (session == 'A' ? "AM" : "PM");
          AddVersions(rng, p_, cutoff_, &counts_, child, id,
                      {body(first.c_str()), body(fixed_text.c_str())},
                      {t, t + 86400 + rng.R(0, 3600)}, body(nullptr),
                      [this](int64_t arrival, std::string line) {
                        pending_.push({arrival, pending_seq_++, std::move(line)});
                      });
        } else {
          marks_.push_back({At(d, sod) + rng.R(0, 300), c, school, sod, session, code});
        }
      }
    }
    std::sort(marks_.begin(), marks_.end(), [](const MarkRef& a, const MarkRef& b) {
      return a.arrival != b.arrival ? a.arrival < b.arrival
             : a.child != b.child   ? a.child < b.child
                                    : a.session < b.session;
    });
  }

  // Emits everything that arrives on day `d`, in arrival order.
  void EmitDay(Date d) {
    const int64_t day_end = At(d + 1, 0);
    for (;;) {
      // The earliest of the three sources; ties go to pending, then marks, then other records.
      int64_t best = day_end;
      int source = -1;
      if (!pending_.empty() && pending_.top().arrival < best) {
        best = pending_.top().arrival;
        source = 0;
      }
      if (next_mark_ < marks_.size() && marks_[next_mark_].arrival < best) {
        best = marks_[next_mark_].arrival;
        source = 1;
      }
      if (!children_.empty() && children_.top().arrival < best) source = 2;
      if (source < 0) return;
      if (source == 0) {
        Emit(pending_.top().line, d);
        pending_.pop();
      } else if (source == 1) {
        const MarkRef& m = marks_[next_mark_++];
        line_.clear();
        AppendMark(line_, ChildId(m.child), d, m.session, m.school, At(d, m.recorded_sod), m.code);
        Emit(line_, d);
      } else {
        const Next next = children_.top();
        children_.pop();
        MarkPlan unused;
        const std::vector<Out>& out = builder_.Build(next.child, &unused, nullptr);
        Emit(out[next.index].line, d);
        if (next.index + 1 < out.size()) {
          children_.push({out[next.index + 1].arrival, next.child, next.index + 1});
        }
      }
    }
  }

  void Emit(std::string_view line, Date d) {
    emit_(line);
    ++counts_.events;
    if (d >= p_.start && d <= end_ && malformed_rng_.Chance(p_.malformed_rate)) Malformed(d);
  }

  void Malformed(Date d) {
    Rng& rng = malformed_rng_;
    const std::string t = Timestamp(At(d, 60000));
    const std::string child = "C" + std::to_string(900000 + rng.R(0, 9999));
    const std::string head =
        "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\":\"" + t + "\",";
    const int kinds = p_.part2 ? 10 : 7;  // the last three: bad records of the Part II kinds
    std::string line;
    switch (rng.R(0, kinds - 1)) {
      case 0:  // cut short
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\"";
        break;
      case 1:  // no child
        line = "{\"eventId\":\"BAD\",\"recordedAt\":\"" + t + "\",\"contact\":{\"contactDate\":\"" +
               d.ToString() + "\"}}";
        break;
      case 2:  // not a real date
        line = head + "\"contact\":{\"contactDate\":\"2026-02-30\"}}";
        break;
      case 3:  // ends before it starts
        line = head + "\"cpPlan\":{\"startDate\":\"" + d.ToString() + "\",\"endDate\":\"" +
               (d - 3).ToString() + "\"}}";
        break;
      case 4:  // unknown code
        line = head + "\"attendance\":{\"schoolUrn\":\"100001\",\"date\":\"" + d.ToString() +
               "\",\"session\":\"AM\",\"code\":\"ZZ\"}}";
        break;
      case 5:  // out of range
        line = head + "\"referral\":{\"referralDate\":\"1985-06-01\"}}";
        break;
      case 6:  // unknown kind
        line = head + "\"carePlan\":{\"startDate\":\"" + d.ToString() + "\"}}";
        break;
      case 7:  // a plan issued without a decision to assess: inconsistent
        line = head + "\"ehcRequest\":{\"requestDate\":\"" + (d - 150).ToString() +
               "\",\"decisionDate\":\"" + (d - 100).ToString() +
               "\",\"decision\":\"NOT_ASSESS\",\"outcomeDate\":\"" + d.ToString() +
               "\",\"outcome\":\"PLAN_ISSUED\"}}";
        break;
      case 8:  // a review without its type
        line = head + "\"review\":{\"reviewDate\":\"" + d.ToString() + "\"}}";
        break;
      default:  // advice received before it was requested
        line = head + "\"ehcAdvice\":{\"adviceType\":\"EP\",\"requestedDate\":\"" + d.ToString() +
               "\",\"receivedDate\":\"" + (d - 2).ToString() + "\"}}";
        break;
    }
    ++counts_.malformed;
    ++counts_.events;
    emit_(line);
  }

  const Params& p_;
  const std::function<void(std::string_view)>& emit_;
  Calendar calendar_;
  SchoolTerms terms_;
  Date end_;
  int64_t cutoff_;
  uint32_t schools_;
  ChildBuilder builder_;
  Rng malformed_rng_;
  Counts counts_;
  std::vector<MarkPlan> plans_;
  std::priority_queue<Next, std::vector<Next>, std::greater<>> children_;
  std::priority_queue<Out, std::vector<Out>, LaterOut> pending_;
  uint64_t pending_seq_ = 0;
  std::vector<MarkRef> marks_;
  size_t next_mark_ = 0;
  std::string line_;
};

}  // namespace

Counts Generate(const Params& params, const std::function<void(std::string_view)>& emit) {
  return Stream(params, emit).Run();
}

}  // namespace kpi::gen
