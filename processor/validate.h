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
// One input record, as `run`, `replay` and the tests' expected dead letters all take it.
struct InputRecord {
  std::string_view bytes = {};  // the event: JSON text or protobuf bytes
  bool json = false;
  // Its size against the bound (run: key and value; replay: the line's whole length, which may
  // be longer than `bytes` when the line was not held whole). Past max_bytes it is too_large and
  // never decoded.
  size_t size = 0;
  size_t max_bytes = SIZE_MAX;
  // run: the record's key, which must be its child_id (else key_mismatch); replay: none.
  std::optional<std::string_view> key = std::nullopt;
};

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
  // The steps every input record takes: too large (not decoded), decoded in its format,
  // validated at processing_date(event) (run moves its date by the event's own with
  // processing.as_of: events), its key checked. `decoded`: the event when it decoded, else
  // nullptr (run counts records by kind).
  template <typename DateOf>
  std::expected<const ValidEvent*, DeadLetterReason> Read(const InputRecord& in,
                                                          DateOf processing_date,
                                                          const events::Event** decoded = nullptr) {
    std::expected<const events::Event*, DeadLetterReason> event =
        std::unexpected(DeadLetterReason::kTooLarge);
    if (in.size <= in.max_bytes) event = in.json ? DecodeJson(in.bytes) : DecodeProtobuf(in.bytes);
    if (decoded != nullptr) *decoded = event ? *event : nullptr;
    if (!event) return std::unexpected(event.error());
    std::expected<const ValidEvent*, DeadLetterReason> valid =
        Validate(**event, processing_date(**event));
    if (valid && in.key && *in.key != (*valid)->child_id) {
      return std::unexpected(DeadLetterReason::kKeyMismatch);
    }
    return valid;
  }
  // Read at a fixed date: why the record is a dead letter, or nullopt when it is valid.
  std::optional<DeadLetterReason> DeadLetterReasonOf(const InputRecord& in, Date processing_date) {
    auto valid = Read(in, [processing_date](const events::Event&) { return processing_date; });
    return valid ? std::nullopt : std::optional(valid.error());
  }

 private:
  events::Event& Fresh();
  void ResetArena();
  google::protobuf::Arena arena_;
  events::Event* event_ = nullptr;
  uint32_t decoded_ = 0;
  ValidEvent valid_;
};

}  // namespace kpi
