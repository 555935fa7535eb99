#include "tools/gen/route.h"

#include "processor/validate.h"

namespace kpi::gen {

Routed Route(const std::string& line, const std::set<std::string>& json_topics,
             const std::string& fallback_topic) {
  auto event = DecodeJson(line);
  if (!event) return {fallback_topic, "", line};
  std::string topic;
  switch (event->body_case()) {
    case events::Event::kContact:
      topic = "contacts";
      break;
    case events::Event::kReferral:
      topic = "referrals";
      break;
    case events::Event::kAssessment:
      topic = "assessments";
      break;
    case events::Event::kS47:
      topic = "s47";
      break;
    case events::Event::kIcpc:
      topic = "icpc";
      break;
    case events::Event::kCinPlan:
    case events::Event::kCpPlan:
    case events::Event::kLookedAfter:
      topic = "plans";
      break;
    case events::Event::kAttendance:
      topic = "attendance";
      break;
    case events::Event::kExclusion:
      topic = "exclusions";
      break;
    case events::Event::kEnrolment:
      topic = "enrolments";
      break;
    case events::Event::kProfile:
      topic = "children";
      break;
    case events::Event::kEhcRequest:
    case events::Event::kEhcAdvice:
    case events::Event::kEhcPlan:
    case events::Event::kEhcReview:
      topic = "ehc";
      break;
    case events::Event::kReview:
      topic = "reviews";
      break;
    case events::Event::kVisit:
      topic = "visits";
      break;
    default:
      return {fallback_topic, "", line};  // unknown kind
  }
  if (event->child_id().empty()) return {fallback_topic, "", line};
  const bool as_json = json_topics.contains(topic);
  return {topic, event->child_id(), as_json ? line : event->SerializeAsString()};
}

}  // namespace kpi::gen
