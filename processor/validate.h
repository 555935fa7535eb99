// Decoding and validation of input events (EVENTS.md, "Bad input"): bytes -> events::Event ->
// ValidEvent, or the dead-letter reason code. Never throws; pure functions, thread-safe.
#pragma once

#include <google/protobuf/arena.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "events.pb.h"
#include "processor/date.h"
#include "processor/record.h"

namespace kpi {

enum class DeadLetterReason : uint8_t {
  kUndecodable,
  kMissingField,
  kBadDate,
  kDateOrder,
  kUnknownCode,
  kDateOutOfRange,
  kUnknownKind,
  // Fields that are each valid but contradict each other (EVENTS.md: the EhcRequest rule on
  // outcome and decision).
  kInconsistent,
  // Kafka only: the record key is not the event's child_id (EVENTS.md, "Transport"). Such a
  // record would land in another child's task, so it is not applied. An extension of the spec's
  // list of reason codes.
  kKeyMismatch,
};
inline constexpr int kDeadLetterReasonCount = 9;

// The reason code of the spec: "undecodable", "missing_field", ...
std::string_view ReasonCode(DeadLetterReason reason);

// A validated event: the identity of its record and the normalised version.
struct ValidEvent {
  std::string child_id;
  // The record's id within (child, kind): event_id; for attendance marks and profiles the
  // natural key lives in the record itself (urn, date, session / effective_date).
  std::string event_id;
  Record record;
};

// JSON form (protobuf canonical mapping; snake_case names accepted; unknown fields ignored, so a
// body of an unknown kind decodes and is then dead-lettered as `unknown_kind`).
// A strict fast path decodes the common shape; anything else goes to protobuf's parser.
std::expected<events::Event, DeadLetterReason> DecodeJson(std::string_view text);
// Protobuf's own JSON parser only (the reference the fast path is tested against).
std::expected<events::Event, DeadLetterReason> DecodeJsonWithProtobuf(std::string_view text);
// Binary protobuf form.
std::expected<events::Event, DeadLetterReason> DecodeProtobuf(std::string_view bytes);

// Checks the contract. `processing_date` bounds dates: before 1990-01-01 or more than 366 days
// after it is `date_out_of_range`. A delete needs only its identity fields.
std::expected<ValidEvent, DeadLetterReason> Validate(const events::Event& event,
                                                     Date processing_date);
// The same into `out`, reusing its strings' buffers.
std::expected<void, DeadLetterReason> ValidateInto(const events::Event& event, Date processing_date,
                                                   ValidEvent& out);

// Decodes and validates a stream of events into buffers it reuses (a protobuf arena reset every
// few thousand events, one ValidEvent), so that a steady stream allocates next to nothing per
// event. A returned pointer is valid until the next call of the same kind.
// Thread-safety: none; one reader per thread.
class EventReader {
 public:
  EventReader();
  std::expected<const events::Event*, DeadLetterReason> DecodeProtobuf(std::string_view bytes);
  std::expected<const events::Event*, DeadLetterReason> DecodeJson(std::string_view text);
  std::expected<const ValidEvent*, DeadLetterReason> Validate(const events::Event& event,
                                                              Date processing_date);

 private:
  events::Event& Fresh();
  void ResetArena();
  google::protobuf::Arena arena_;
  events::Event* event_ = nullptr;
  uint32_t decoded_ = 0;
  ValidEvent valid_;
};

}  // namespace kpi
