// What each record kind means to the rules, in one table: whether its contribution is a snapshot
// (restated when as_of moves), the units it feeds, its own rule, the records that depend on it,
// and the date from which the units read it.
#include <array>

#include "processor/rules/families.h"

namespace kpi::rules {
namespace {

// A profile shapes the dimensions of every record of the child; its marks are the caller's
// (ContributeMarksIn).
void ProfileDependents(const ChildState& child, std::string_view, const Record*, const Record&,
                       std::vector<uint32_t>& out) {
  for (uint32_t i = 0; i < child.records.size(); ++i) {
    if (child.records[i].kind() != Kind::kProfile) out.push_back(i);
  }
}

// The dates the units read records from; a delete's body may hold no date.
template <typename Body, auto kField>
std::optional<Date> DateOf(const Record& r) {
  const Body* b = std::get_if<Body>(&r.body);
  return b != nullptr ? std::optional<Date>(b->*kField) : std::nullopt;
}
constexpr auto kReviewDate = DateOf<body::Review, &body::Review::review_date>;
constexpr auto kVisitDate = DateOf<body::Visit, &body::Visit::visit_date>;
constexpr auto kEhcMeetingDate = DateOf<body::EhcReview, &body::EhcReview::meeting_date>;
constexpr auto kEffectiveDate = DateOf<body::Profile, &body::Profile::effective_date>;

constexpr std::array<KindTraits, kKindCount + 1> kTraits = [] {
  std::array<KindTraits, kKindCount + 1> t{};
  const auto at = [&t](Kind k) -> KindTraits& { return t[static_cast<size_t>(k)]; };
  at(Kind::kContact) = {.contribute = Contact};
  at(Kind::kReferral) = {.contribute = Referral, .dependents = ReferralDependents};
  at(Kind::kAssessment) = {.snapshot = true, .contribute = Assessment};
  at(Kind::kS47) = {.snapshot = true, .contribute = S47, .dependents = S47Dependents};
  at(Kind::kIcpc) = {.contribute = Icpc, .dependents = IcpcDependents};
  at(Kind::kCinPlan) = {.snapshot = true, .contribute = CinPlan};
  at(Kind::kCpPlan) = {
      .snapshot = true, .units = kUnitCp, .contribute = CpPlan, .dependents = CpPlanDependents};
  at(Kind::kLookedAfter) = {.snapshot = true, .units = kUnitCla, .contribute = LookedAfter};
  at(Kind::kAttendance) = {};  // marks: ContributeMark and absence.cc
  at(Kind::kExclusion) = {.units = kUnitExclusions, .contribute = Exclusion};
  at(Kind::kEnrolment) = {.units = kUnitEnrolments, .contribute = Enrolment};
  at(Kind::kProfile) = {
      .units = kAllUnits, .dependents = ProfileDependents, .units_read_from = kEffectiveDate};
  at(Kind::kEhcRequest) = {.snapshot = true, .contribute = EhcRequest};
  at(Kind::kEhcAdvice) = {.snapshot = true, .contribute = EhcAdvice};
  at(Kind::kEhcPlan) = {.units = kUnitEhc};
  at(Kind::kEhcReview) = {.snapshot = true,
                          .units = kUnitEhc,
                          .contribute = EhcReview,
                          .units_read_from = kEhcMeetingDate};
  // A change of type moves a review between the two kinds of period; any counted visit serves
  // both.
  at(Kind::kReview) = {
      .units = kUnitCp | kUnitCla, .contribute = ReviewHeld, .units_read_from = kReviewDate};
  at(Kind::kVisit) = {.units = kUnitCp | kUnitCla, .units_read_from = kVisitDate};
  return t;
}();

struct Unit {
  uint8_t bit;
  void (*contribute)(const Context&, ChildState&, int, CellSink&);
};
constexpr std::array<Unit, 5> kUnits = {{
    {kUnitEnrolments, EnrolmentsUnit},
    {kUnitExclusions, ExclusionsUnit},
    {kUnitEhc, EhcPlansUnit},
    {kUnitCp, CpPeriodsUnit},
    {kUnitCla, CarePeriodsUnit},
}};

}  // namespace

const KindTraits& TraitsOf(Kind kind) { return kTraits[static_cast<size_t>(kind)]; }

void Contribute(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
                CellSink& sink) {
  if (const auto rule = TraitsOf(v.kind()).contribute) rule(ctx, child, v, sign, sink);
}

void ContributeUnits(const Context& ctx, ChildState& child, uint8_t units, int sign,
                     CellSink& sink) {
  for (const Unit& unit : kUnits) {
    if ((units & unit.bit) != 0) unit.contribute(ctx, child, sign, sink);
  }
}

std::vector<uint32_t> DependentRecords(const ChildState& child, std::string_view id,
                                       const Record* before, const Record& after) {
  std::vector<uint32_t> out;
  if (const auto dependents = TraitsOf(after.kind()).dependents) {
    dependents(child, id, before, after, out);
  }
  return out;
}

Date UnitsFrom(const Record* before, const Record& after) {
  const Kind kind = after.kind();
  const auto read_from = TraitsOf(kind).units_read_from;
  if (read_from == nullptr) return Context::kEveryWeek;
  // A delete carries no date but a profile's effective date: the live version before has it.
  std::optional<Date> from;
  for (const Record* r : {before, &after}) {
    if (r == nullptr || (r->deleted && kind != Kind::kProfile)) continue;
    const std::optional<Date> d = read_from(*r);
    if (d && (!from || *d < *from)) from = d;
  }
  return from ? from->WeekStart() : Context::kNoWeek;
}

}  // namespace kpi::rules
