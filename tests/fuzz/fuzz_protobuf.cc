// Fuzz target: the binary protobuf decoder and validation. Properties: a decoded event
// re-encodes to an event equal to it; its JSON form (protobuf's printer) decodes through the
// JSON path to the same event and the same validation result, unknown fields aside (JSON drops
// them, as it must); a valid event's stored record decodes back to itself.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "processor/validate.h"
#include "tests/fuzz/require.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using google::protobuf::util::MessageDifferencer;
  const kpi::Date today = kpi::Date::FromYmd(2026, 3, 15);
  auto decoded = kpi::DecodeProtobuf(bytes);
  if (!decoded) return 0;
  const auto again = kpi::DecodeProtobuf(decoded->SerializeAsString());
  kpi::fuzz::Require(again && MessageDifferencer::Equals(*decoded, *again),
                     "an event re-encodes to an equal event");
  const auto valid = kpi::Validate(*decoded, today);
  if (valid) {
    const auto stored = kpi::DecodeRecord(kpi::EncodeRecord(valid->record));
    kpi::fuzz::Require(stored && kpi::EncodeRecord(*stored) == kpi::EncodeRecord(valid->record),
                       "a valid event's stored record decodes back to itself");
  }
  // The JSON path agrees, for what JSON can carry: no unknown fields, and strings that are
  // UTF-8 (protobuf refuses to print others).
  decoded->DiscardUnknownFields();
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  if (!google::protobuf::util::MessageToJsonString(*decoded, &json, options).ok()) return 0;
  const auto from_json = kpi::DecodeJson(json);
  kpi::fuzz::Require(from_json.has_value(), "the JSON form of an event decodes");
  // An enum number no enum lists prints as a number; JSON reads it back as that number.
  kpi::fuzz::Require(MessageDifferencer::Equals(*decoded, *from_json),
                     "the JSON form decodes to the same event");
  const auto valid_json = kpi::Validate(*from_json, today);
  kpi::fuzz::Require(
      valid.has_value() == valid_json.has_value() && (valid || valid.error() == valid_json.error()),
      "both forms validate alike");
  return 0;
}
