// EHC needs assessments and plans (KPIS-2.md section 3): requests, decisions and plans issued in
// time, the advice, the annual reviews, the backlogs, and the unit ehc_plans_open /
// ehc_reviews_overdue.
#include <algorithm>

#include "processor/rules/families.h"

namespace kpi::rules {
namespace {

// The number of dates in the sorted `dates` that are <= d.
size_t CountUpTo(const std::vector<Date>& dates, Date d) {
  return static_cast<size_t>(std::upper_bound(dates.begin(), dates.end(), d) - dates.begin());
}

std::optional<Date> Earlier(std::optional<Date> a, std::optional<Date> b) {
  return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
}

}  // namespace

void EhcRequest(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
                CellSink& sink) {
  const auto& q = v.record.as<body::EhcRequest>();
  const KpiLimits& limits = ctx.limits;
  const Date requested = q.request_date;
  const Dims at_request = ctx.DimsOn(child, requested);
  sink.AddRow(Kpi::kEhcRequests, requested, at_request, sign, 0);
  const bool parent = q.source == EhcSource::kParent || q.source == EhcSource::kYoungPerson;
  sink.AddRow(Kpi::kEhcRequestsParent, requested, at_request, parent ? sign : 0, sign);
  if (q.decision_date) {
    const Date decided = *q.decision_date;
    const Dims dims = ctx.DimsOn(child, decided);
    const bool in_time = decided - requested <= limits.ehc_decision_days;
    sink.AddRow(Kpi::kEhcDecisionsIn6w, decided, dims, in_time ? sign : 0, sign);
    if (q.decision == EhcDecision::kAssess) {
      sink.AddRow(Kpi::kEhcAssessmentsAgreed, decided, dims, sign, 0);
    }
  }
  if (q.outcome_date && q.outcome == EhcOutcome::kPlanIssued) {
    const Date issued = *q.outcome_date;
    const Dims dims = ctx.DimsOn(child, issued);
    const int in_time = issued - requested <= limits.ehc_plan_days ? sign : 0;
    sink.AddRow(Kpi::kEhcPlansIssued, issued, dims, sign, 0);
    sink.AddRow(Kpi::kEhcPlansIssuedIn20w, issued, dims, in_time, sign);
    if (!q.timescale_exception) {
      sink.AddRow(Kpi::kEhcPlansIssuedIn20wExclExceptions, issued, dims, in_time, sign);
    }
  }
  // Undecided and not closed at S(W), and older than the decision limit.
  ctx.ForEachSnapshotWeek(
      requested, Earlier(q.decision_date, q.outcome_date), [&](Date week, Date s) {
        const int elapsed = s - requested;
        if (elapsed > limits.ehc_decision_days) {
          sink.AddRow(Kpi::kEhcDecisionsOverdue, week, ctx.DimsOn(child, s), sign, 0);
        } else if (elapsed > limits.ehc_decision_days - limits.ehc_decision_warning_days) {
          sink.AddRow(Kpi::kEhcDecisionsDueSoon, week, ctx.DimsOn(child, s), sign, 0);
        }
        return true;
      });
  if (q.decision_date && q.decision == EhcDecision::kAssess) {
    ctx.ForEachSnapshotWeek(*q.decision_date, q.outcome_date, [&](Date week, Date s) {
      sink.AddRow(Kpi::kEhcAssessmentsOpen, week, ctx.DimsOn(child, s), sign, 0);
      return true;
    });
  }
  if (!q.tribunal_ordered) {  // not refused and not closed at S(W), older than 20 weeks
    const std::optional<Date> refused =
        q.decision == EhcDecision::kNotAssess ? q.decision_date : std::nullopt;
    ctx.ForEachSnapshotWeek(requested, Earlier(refused, q.outcome_date), [&](Date week, Date s) {
      const int elapsed = s - requested;
      if (elapsed > limits.ehc_plan_days) {
        sink.AddRow(Kpi::kEhcWaitingOver20w, week, ctx.DimsOn(child, s), sign, 0);
      } else if (elapsed > limits.ehc_plan_days - limits.ehc_plan_warning_days) {
        sink.AddRow(Kpi::kEhcPlansDueSoon, week, ctx.DimsOn(child, s), sign, 0);
      }
      return true;
    });
  }
}

void EhcAdvice(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
               CellSink& sink) {
  const auto& advice = v.record.as<body::EhcAdvice>();
  std::optional<Kpi> in_6w;
  switch (advice.advice_type) {
    case AdviceType::kHealth:
      in_6w = Kpi::kEhcAdviceIn6wHealth;
      break;
    case AdviceType::kEp:
      in_6w = Kpi::kEhcAdviceIn6wEp;
      break;
    case AdviceType::kSocialCare:
      in_6w = Kpi::kEhcAdviceIn6wSocialCare;
      break;
    default:
      break;
  }
  if (in_6w && advice.received_date) {
    const Date received = *advice.received_date;
    const bool in_time = received - advice.requested_date <= ctx.limits.ehc_advice_days;
    sink.AddRow(*in_6w, received, ctx.DimsOn(child, received), in_time ? sign : 0, sign);
  }
  if (advice.advice_type == AdviceType::kEp) {
    ctx.ForEachSnapshotWeek(advice.requested_date, advice.received_date, [&](Date week, Date s) {
      sink.AddRow(Kpi::kEhcAdviceOutstandingEp, week, ctx.DimsOn(child, s), sign, 0);
      return true;
    });
  }
}

// ehc_review_decisions_in_4w and ehc_reviews_backlog; the reviews' part in
// ehc_reviews_overdue is EhcPlansUnit's.
void EhcReview(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
               CellSink& sink) {
  const auto& review = v.record.as<body::EhcReview>();
  if (review.decision_date) {
    const Date decided = *review.decision_date;
    const bool in_time = decided - review.meeting_date <= ctx.limits.ehc_review_decision_days;
    sink.AddRow(Kpi::kEhcReviewDecisionsIn4w, decided, ctx.DimsOn(child, decided),
                in_time ? sign : 0, sign);
  }
  ctx.ForEachSnapshotWeek(review.meeting_date, review.decision_date, [&](Date week, Date s) {
    sink.AddRow(Kpi::kEhcReviewsBacklog, week, ctx.DimsOn(child, s), sign, 0);
    return true;
  });
}

// ehc_plans_open: the child in each week some live EHC plan is open at S(W).
// ehc_reviews_overdue: some live EHC plan open at S whose latest review meeting in
// [plan start, S] (or the plan start) is more than ehc_review_months before S.
void EhcPlansUnit(const Context& ctx, ChildState& child, int sign, CellSink& sink) {
  std::vector<const body::EhcPlan*> plans;
  std::vector<Date> meetings;
  for (const RecordVersion& v : child.records) {
    if (v.record.deleted) continue;
    if (v.kind() == Kind::kEhcPlan) plans.push_back(&v.record.as<body::EhcPlan>());
    if (v.kind() == Kind::kEhcReview) {
      meetings.push_back(v.record.as<body::EhcReview>().meeting_date);
    }
  }
  if (plans.empty()) return;
  std::sort(meetings.begin(), meetings.end());
  const auto overdue = [&](const body::EhcPlan& plan, Date s) {
    const size_t n = CountUpTo(meetings, s);
    const Date last =
        n > 0 && meetings[n - 1] >= plan.start_date ? meetings[n - 1] : plan.start_date;
    return s > AddMonths(last, ctx.limits.ehc_review_months);
  };
  DistinctRuns rows;
  for (const body::EhcPlan* plan : plans) {
    ctx.ForEachSnapshotWeek(plan->start_date, plan->end_date, [&](Date week, Date s) {
      const Dims dims = ctx.DimsOn(child, s);
      rows.Add(Kpi::kEhcPlansOpen, week, dims);
      if (overdue(*plan, s)) rows.Add(Kpi::kEhcReviewsOverdue, week, dims);
      return true;
    });
  }
  rows.Flush(sink.units(), sign);
}

}  // namespace kpi::rules
