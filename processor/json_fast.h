// A fast path for decoding the JSON form of an Event. It understands a strict subset of
// protobuf's canonical JSON mapping (printable ASCII strings, with JSON's escapes but for
// surrogates: a register's afternoon present mark is "\\"; known field names in
// lowerCamelCase or snake_case, enum names, non-negative integers, true/false, RFC 3339 UTC
// timestamps) and, for anything else, answers "not sure" so that the caller falls back to
// protobuf's own parser. Whenever it does answer, the message equals what DecodeJsonWithProtobuf
// (validate.h) produces (json_fast_test checks this differentially). Thread-safety: pure
// function.
#pragma once

#include <string_view>

#include "events.pb.h"

namespace kpi {

// The number the JSON decoders give an enum field whose name its enum does not list (no enum
// lists it), so that validation reports unknown_code, as for an unlisted binary number.
inline constexpr int kUnlistedEnumValue = -1;

// true: `out` holds the decoded event. false: not sure (malformed or unusual); `out` is
// unspecified and the caller must use protobuf's parser.
bool FastDecodeJson(std::string_view text, events::Event& out);

}  // namespace kpi
