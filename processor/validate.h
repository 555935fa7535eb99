// Decoding and validation of input events (EVENTS.md, "Bad input"): bytes -> events::Event ->
// ValidEvent, or the dead-letter reason code. Never throws; pure functions, thread-safe.
#pragma once

#include <google/protobuf/arena.h>

#include <cstdint>
#include <expected>
#include <optional>
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
  // The record (key and value) is larger than `input.max_record_bytes`: not decoded at all, so
  // that one record cannot take unbounded time or memory. An extension of the spec's list.
  kTooLarge,
};
inline constexpr int kDeadLetterReasonCount = 10;

// JSON nested deeper than this (objects and arrays together; the event itself is level 1) is
// `undecodable`. Protobuf's JSON parser already refuses objects past this depth, but not arrays,
// and its time grows with the square of the depth (a 400 KB record of nested arrays takes
// minutes), so the check runs first, in one pass.
inline constexpr int kMaxJsonDepth = 100;
// The default of `input.max_record_bytes`: below the producer's default message.max.bytes
// (1,000,000), so that any record short of it can be dead-lettered whole.
inline constexpr size_t kDefaultMaxRecordBytes = size_t{512} * 1024;

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
// body of an unknown kind decodes and is then dead-lettered as `unknown_kind`; nesting past
// kMaxJsonDepth is undecodable).
// A strict fast path decodes the common shape; anything else goes to protobuf's parser.
std::expected<events::Event, DeadLetterReason> DecodeJson(std::string_view text);
// Protobuf's own JSON parser only (the reference the fast path is tested against).
std::expected<events::Event, DeadLetterReason> DecodeJsonWithProtobuf(std::string_view text);
// Whether `text`'s objects and arrays nest at most `max_depth` deep (strings skipped, escapes
// honoured; anything that is not JSON is left to the parser).
bool JsonDepthWithin(std::string_view text, int max_depth);
// Binary protobuf form (unknown fields skipped: a newer producer's fields do not break it).
std::expected<events::Event, DeadLetterReason> DecodeProtobuf(std::string_view bytes);

// Checks the contract. `processing_date` bounds dates: before 1990-01-01 or more than 366 days
// after it is `date_out_of_range`. A delete needs only its identity fields.
std::expected<ValidEvent, DeadLetterReason> Validate(const events::Event& event,
                                                     Date processing_date);
// The same into `out`, reusing its strings' buffers.
std::expected<void, DeadLetterReason> ValidateInto(const events::Event& event, Date processing_date,
                                                   ValidEvent& out);
// Why an input record keyed `key` is a dead letter at `processing_date`, given its decoded event
// (or the decode's failure): the decode's reason, the contract's, or `key_mismatch` when the key
// is not its child. nullopt: the record is valid. (What the runtime decides per record; the tests
// derive the dead letters they expect with it.)
std::optional<DeadLetterReason> DeadLetterReasonOf(
    const std::expected<events::Event, DeadLetterReason>& event, std::string_view key,
    Date processing_date);

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
