#include "tools/gen/generator.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <random>
#include <vector>

#include "processor/calendar.h"

namespace kpi::gen {
namespace {

struct Out {
  int64_t arrival;  // seconds since epoch: when the source system sends it
  uint64_t seq;     // tie-break, keeps the order deterministic
  std::string line;
};

std::string Timestamp(int64_t seconds) {
  const Date d(static_cast<int32_t>(seconds / 86400));
  const int64_t sod = seconds % 86400;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02dZ", d.ToString().c_str(),
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                static_cast<int>(sod % 60));
  return buf;
}

int64_t At(Date d, int seconds_of_day) {
  return static_cast<int64_t>(d.days()) * 86400 + seconds_of_day;
}

class Builder {
 public:
  explicit Builder(const Params& p)
      : p_(p), rng_(p.seed), calendar_(), cutoff_(At(PeriodEnd(p) + 1, 0)) {}

  Counts Run(const std::function<void(std::string_view)>& emit) {
    const Date end = PeriodEnd(p_);
    const uint32_t schools = std::max<uint32_t>(3, p_.children / 250);
    for (uint32_t c = 0; c < p_.children; ++c) Child(c, schools, end);
    for (uint64_t i = 0; i < static_cast<uint64_t>(out_.size() * p_.malformed_rate); ++i) {
      Malformed(end);
    }
    std::sort(out_.begin(), out_.end(), [](const Out& a, const Out& b) {
      return a.arrival != b.arrival ? a.arrival < b.arrival : a.seq < b.seq;
    });
    for (const Out& o : out_) emit(o.line);
    counts_.events = out_.size();
    return counts_;
  }

 private:
  double U() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int R(int lo, int hi) { return hi <= lo ? lo : std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return U() < p; }

  void Push(int64_t arrival, std::string line) {
    out_.push_back({arrival, seq_++, std::move(line)});
  }

  // One record with its versions. `bodies` are the JSON bodies ("\"contact\":{...}") of the
  // successive versions, `times` their recorded_at. Adds deletes (with `delete_body`, which must
  // carry the identity fields; empty: never deleted) and stale re-sends by the rates.
  void Versions(const std::string& child, const std::string& id,
                const std::vector<std::string>& bodies, std::vector<int64_t> times,
                const std::string& empty_body) {
    const auto line = [&](const std::string& body, int64_t t, bool deleted) {
      std::string s = "{\"eventId\":\"" + id + "\",\"childId\":\"" + child +
                      "\",\"recordedAt\":\"" + Timestamp(t) + "\"";
      if (deleted) s += ",\"deleted\":true";
      s += "," + body + "}";
      return s;
    };
    // Versions recorded after the period have not happened yet.
    while (!times.empty() && times.back() >= cutoff_) {
      times.pop_back();
    }
    if (times.empty()) return;
    for (size_t i = 0; i < times.size(); ++i) {
      Push(times[i] + R(0, 600), line(bodies[i], times[i], false));
    }
    if (times.size() > 1 && Chance(p_.stale_rate * 10)) {
      // The first version arrives again after the last one: stale.
      ++counts_.stale;
      Push(times.back() + 3600 + R(0, 3600), line(bodies.front(), times.front(), false));
    }
    if (!empty_body.empty() && Chance(p_.delete_rate)) {
      ++counts_.deletes;
      const int64_t t = times.back() + 86400 * R(1, 20);
      if (t < cutoff_) Push(t, line(empty_body, t, true));
    }
  }

  static std::string Q(const std::string& s) { return "\"" + s + "\""; }

  void Child(uint32_t c, uint32_t schools, Date end) {
    char idbuf[16];
    std::snprintf(idbuf, sizeof idbuf, "C%06u", c);
    const std::string child = idbuf;
    const Date start = p_.start;
    // Profile: age 0..17 on the first day, SEN status, school for ages 4..16.
    const int age_days = R(0, 17 * 365 + 300);
    const Date dob = start - age_days;
    const int age = age_days / 365;
    const bool school_age = age >= 4 && age <= 16;
    std::string urn =
        school_age ? std::to_string(100000 + R(0, static_cast<int>(schools) - 1)) : "";
    const double sen_roll = U();
    const char* sen = sen_roll < 0.8    ? "NONE"
                      : sen_roll < 0.93 ? "SEN_SUPPORT"
                      : sen_roll < 0.97 ? "EHCP"
                                        : "";
    const auto profile_body = [&](const std::string& school, const char* sen_status) {
      std::string b = "\"profile\":{\"effectiveDate\":\"" + (start - R(30, 400)).ToString() +
                      "\",\"dateOfBirth\":\"" + dob.ToString() + "\"";
      if (*sen_status) b += ",\"senStatus\":\"" + std::string(sen_status) + "\"";
      if (!school.empty()) b += ",\"schoolUrn\":" + Q(school);
      return b + "}";
    };
    Versions(child, child + "-P0", {profile_body(urn, sen)}, {At(start - 30, 3600 + R(0, 7200))},
             "");

    // Enrolment and marks.
    Date leave;
    std::string next_urn;
    bool moved = false;
    if (school_age) {
      const Date enrol_start = Date::FromYmd(start.ToYmd().year, 9, R(1, 5));
      moved = Chance(0.05);
      const int span = static_cast<int>(p_.weeks) * 7;
      leave = start + R(span / 4, span - span / 4);
      const bool ehe = moved && Chance(0.2);
      std::string body = "\"enrolment\":{\"schoolUrn\":" + Q(urn) + ",\"startDate\":\"" +
                         (enrol_start - 365 * std::min(age - 4, 3)).ToString() + "\"";
      std::vector<std::string> bodies = {body + "}"};
      std::vector<int64_t> times = {At(start - 20, 40000)};
      if (moved) {
        bodies.push_back(body + ",\"endDate\":\"" + leave.ToString() + "\",\"leaveReason\":\"" +
                         (ehe ? "EHE" : "TRANSFER") + "\"}");
        times.push_back(At(leave, 50000));
        if (!ehe) {
          next_urn = std::to_string(100000 + R(0, static_cast<int>(schools) - 1));
          Versions(child, child + "-EN1",
                   {"\"enrolment\":{\"schoolUrn\":" + Q(next_urn) + ",\"startDate\":\"" +
                    (leave + R(1, 10)).ToString() + "\"}"},
                   {At(leave + 10, 50000)}, "\"enrolment\":{}");
          // The profile follows the move, recorded late (after the marks at the new school).
          std::string b = "\"profile\":{\"effectiveDate\":\"" + (leave + 1).ToString() +
                          "\",\"dateOfBirth\":\"" + dob.ToString() + "\"";
          if (*sen) b += ",\"senStatus\":\"" + std::string(sen) + "\"";
          b += ",\"schoolUrn\":" + Q(next_urn) + "}";
          Versions(child, child + "-P1", {b}, {At(leave + 25, 30000)}, "");
        }
      }
      Versions(child, child + "-EN0", bodies, times, "\"enrolment\":{}");
      if (p_.attendance) Marks(child, urn, next_urn, moved ? leave : end + 1, end);
      if (Chance(0.03)) Exclusion(child, urn, end, "SUSPENSION");
      if (Chance(0.002)) Exclusion(child, urn, end, "PERMANENT");
    }
    // Social care journey.
    if (Chance(0.15)) Journey(child, end);
    if (Chance(0.02)) PreexistingPlan(child, end);
    if (Chance(0.008)) LookedAfterEpisode(child, end);
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
  }

  void Marks(const std::string& child, const std::string& urn, const std::string& next_urn,
             Date leave, Date end) {
    // Absence propensity: most children attend well; some are persistently or severely absent.
    const double roll = U();
    const double absence = roll < 0.02 ? 0.55 : roll < 0.15 ? 0.14 : 0.04;
    for (Date d = p_.start; d <= end; d = d + 1) {
      if (!calendar_.IsWorkingDay(d)) continue;
      const std::string* school = d < leave ? &urn : next_urn.empty() ? nullptr : &next_urn;
      if (school == nullptr) continue;
      if (d >= leave && d < leave + 7) continue;  // between schools
      for (const char* session : {"AM", "PM"}) {
        const std::string code = Code(absence);
        const int64_t t = At(d, (session[0] == 'A' ? 9 * 3600 : 13 * 3600) + R(0, 1800));
        const std::string id = child + "-M" + d.ToString() + session;
        const std::string body = "\"attendance\":{\"schoolUrn\":" + Q(*school) + ",\"date\":\"" +
                                 d.ToString() + "\",\"session\":\"" + session +
                                 "\",\"code\":" + Q(code) + "}";
        ++counts_.marks;
        if (Chance(p_.correction_rate)) {
          const std::string fixed = code == "N" ? "I" : code == "/" ? "M" : "/";
          const std::string body2 = "\"attendance\":{\"schoolUrn\":" + Q(*school) + ",\"date\":\"" +
                                    d.ToString() + "\",\"session\":\"" + session +
                                    "\",\"code\":" + Q(fixed) + "}";
          Versions(child, id, {body, body2}, {t, t + 86400 + R(0, 3600)},
                   "\"attendance\":{\"schoolUrn\":" + Q(*school) + ",\"date\":\"" + d.ToString() +
                       "\",\"session\":\"" + session + "\"}");
        } else {
          Push(t + R(0, 300), "{\"eventId\":\"" + id + "\",\"childId\":\"" + child +
                                  "\",\"recordedAt\":\"" + Timestamp(t) + "\"," + body + "}");
        }
      }
    }
  }

  std::string Code(double absence) {
    const double u = U();
    if (u < absence) {
      static constexpr std::array<const char*, 8> kAbsent = {"I", "I", "M", "C",
                                                             "N", "N", "O", "G"};
      return kAbsent[static_cast<size_t>(R(0, kAbsent.size() - 1))];
    }
    const double v = U();
    if (v < 0.01) return "-";
    if (v < 0.02) return "B";
    if (v < 0.025) return "X";
    if (v < 0.05) return "L";
    return "/";
  }

  void Exclusion(const std::string& child, const std::string& urn, Date end, const char* kind) {
    const Date d = p_.start + R(5, static_cast<int>(end - p_.start));
    Versions(child, child + "-X" + std::to_string(exclusion_seq_++),
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
      Versions(child, child + "-RF" + std::to_string(k),
               {"\"referral\":{\"referralDate\":\"" + referral.ToString() + "\"}"},
               {At(referral, 40000)}, "\"referral\":{}");
      if (!Chance(0.7)) continue;
      const Date as_start = referral + R(0, 10);
      const std::string as_id = child + "-AS" + std::to_string(k);
      const std::string as_body = "\"assessment\":{\"startDate\":\"" + as_start.ToString() + "\"";
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
      std::string sb = "\"s47\":{\"startDate\":\"" + s47.ToString() +
                       "\",\"strategyDiscussionDate\":\"" + s47.ToString() + "\"";
      if (not_required) sb += ",\"icpcNotRequired\":true";
      const Date s47_end = s47 + R(10, 40);
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
        Versions(child, la,
                 {"\"lookedAfter\":{\"startDate\":\"" + (conf + R(1, 30)).ToString() +
                  "\",\"legalStatus\":\"" + status + "\"}"},
                 {At(conf + 30, 53000)}, "\"lookedAfter\":{}");
      }
    }
  }

  void Plan(const std::string& child, const char* kind, const std::string& id, Date start,
            Date end) {
    const bool cp = std::string_view(kind) == "cpPlan";
    std::string b = "\"" + std::string(kind) + "\":{\"startDate\":\"" + start.ToString() + "\"";
    if (cp && Chance(0.2)) b += ",\"previousPlans\":" + std::to_string(R(1, 3));
    if (cp) b += ",\"category\":\"" + std::string(Chance(0.5) ? "NEG" : "EMO") + "\"";
    std::vector<std::string> bodies = {b + "}"};
    std::vector<int64_t> times = {At(start, 54000)};
    const Date plan_end = start + R(60, 900);
    if (plan_end <= end) {
      bodies.push_back(b + ",\"endDate\":\"" + plan_end.ToString() + "\"}");
      times.push_back(At(plan_end, 55000));
    }
    Versions(child, id, bodies, times, "\"" + std::string(kind) + "\":{}");
  }

  void PreexistingPlan(const std::string& child, Date end) {
    // Plans that started before the period: open snapshots from the first week, some ending.
    const Date start = p_.start - R(30, 800);
    Plan(child, Chance(0.5) ? "cpPlan" : "cinPlan", child + "-OLD", start, end);
  }

  void Malformed(Date end) {
    const Date d = p_.start + R(0, static_cast<int>(end - p_.start));
    const std::string t = Timestamp(At(d, 60000));
    const std::string child = "C" + std::to_string(900000 + R(0, 9999));
    static constexpr int kKinds = 7;
    std::string line;
    switch (R(0, kKinds - 1)) {
      case 0:
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\"";
        break;
      case 1:
        line = "{\"eventId\":\"BAD\",\"recordedAt\":\"" + t + "\",\"contact\":{\"contactDate\":\"" +
               d.ToString() + "\"}}";
        break;
      case 2:
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\":\"" + t +
               "\",\"contact\":{\"contactDate\":\"2026-02-30\"}}";
        break;
      case 3:
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\":\"" + t +
               "\",\"cpPlan\":{\"startDate\":\"" + d.ToString() + "\",\"endDate\":\"" +
               (d - 3).ToString() + "\"}}";
        break;
      case 4:
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\":\"" + t +
               "\",\"attendance\":{\"schoolUrn\":\"100001\",\"date\":\"" + d.ToString() +
               "\",\"session\":\"AM\",\"code\":\"ZZ\"}}";
        break;
      case 5:
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\":\"" + t +
               "\",\"referral\":{\"referralDate\":\"1985-06-01\"}}";
        break;
      default:
        line = "{\"eventId\":\"BAD\",\"childId\":\"" + child + "\",\"recordedAt\":\"" + t +
               "\",\"carePlan\":{\"startDate\":\"" + d.ToString() + "\"}}";
        break;
    }
    ++counts_.malformed;
    Push(At(d, 60000), std::move(line));
  }

  const Params& p_;
  std::mt19937_64 rng_;
  Calendar calendar_;
  int64_t cutoff_;  // nothing is recorded at or after this moment
  std::vector<Out> out_;
  uint64_t seq_ = 0;
  uint64_t exclusion_seq_ = 0;
  Counts counts_;
};

}  // namespace

Counts Generate(const Params& params, const std::function<void(std::string_view)>& emit) {
  return Builder(params).Run(emit);
}

}  // namespace kpi::gen
