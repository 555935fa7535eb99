// Fuzz target: the NDJSON decoder and validation. Properties: the fast path, whenever it answers,
// gives exactly what protobuf's own parser gives; a decoded event survives the binary form
// unchanged (serialise, parse, compare); validation never fails on anything decoded, and gives
// the same answer for the event read back from its binary form.
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "processor/json_fast.h"
#include "processor/validate.h"
#include "tests/fuzz/require.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using google::protobuf::util::MessageDifferencer;
  const kpi::Date today = kpi::Date::FromYmd(2026, 3, 15);
  kpi::events::Event fast;
  const bool fast_answered =
      kpi::JsonDepthWithin(text, kpi::kMaxJsonDepth) && kpi::FastDecodeJson(text, fast);
  const auto slow = kpi::DecodeJsonWithProtobuf(text);
  kpi::fuzz::Require(!fast_answered || (slow && MessageDifferencer::Equals(fast, *slow)),
                     "the fast path agrees with protobuf's parser");
  const auto decoded = kpi::DecodeJson(text);
  kpi::fuzz::Require(decoded.has_value() == (fast_answered || slow.has_value()),
                     "DecodeJson decodes what either path decodes");
  if (!decoded) return 0;
  const auto again = kpi::DecodeProtobuf(decoded->SerializeAsString());
  kpi::fuzz::Require(again && MessageDifferencer::Equals(*decoded, *again),
                     "a decoded event survives its binary form");
  const auto valid = kpi::Validate(*decoded, today);
  const auto valid_again = kpi::Validate(*again, today);
  kpi::fuzz::Require(
      valid.has_value() == valid_again.has_value() &&
          (valid ? kpi::EncodeRecord(valid->record) == kpi::EncodeRecord(valid_again->record)
                 : valid.error() == valid_again.error()),
      "validation agrees on the event read back");
  return 0;
}
