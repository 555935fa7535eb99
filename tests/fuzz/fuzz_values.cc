// Fuzz target: every decoder of stored values (state store, outbox, changelog, cells topic). The
// first byte picks the decoder, the rest is the value. Property: a decoder either refuses the
// bytes (corruption) or returns a value that encodes back to exactly those bytes, so that no two
// stored forms mean one value and nothing is silently dropped or invented.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "processor/record.h"
#include "processor/runtime/changelog.h"
#include "processor/runtime/global_table.h"
#include "processor/runtime/outbox.h"
#include "processor/runtime/restore.h"
#include "processor/values.h"
#include "tests/fuzz/require.h"

namespace {

// Aborts (a finding) when `decoded` holds a value whose encoding differs from `bytes`.
template <typename T, typename Encode>
void ExpectCanonical(std::string_view bytes, const std::optional<T>& decoded, Encode encode) {
  kpi::fuzz::Require(!decoded || encode(*decoded) == bytes,
                     "a decoded value encodes back to its bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 12) {
    case 0:
      ExpectCanonical(bytes, kpi::DecodeMark(bytes), kpi::EncodeMark);
      break;
    case 1:
      ExpectCanonical(bytes, kpi::DecodeDistinctRefs(bytes), kpi::EncodeDistinctRefs);
      break;
    case 2:
      ExpectCanonical(bytes, kpi::DecodeAbsenceEntries(bytes), kpi::EncodeAbsenceEntries);
      break;
    case 3:
      ExpectCanonical(bytes, kpi::DecodeDaySummary(bytes),
                      [](const std::string& s) { return kpi::EncodeDaySummary(s); });
      break;
    case 4:
      ExpectCanonical(bytes, kpi::DecodeCell(bytes), kpi::EncodeCell);
      break;
    case 5:
      ExpectCanonical(bytes, kpi::DecodeAsOf(bytes), kpi::EncodeAsOf);
      break;
    case 6:
      ExpectCanonical(bytes, kpi::DecodeOffset(bytes), kpi::EncodeOffset);
      break;
    case 7:
      ExpectCanonical(bytes, kpi::DecodeRecord(bytes), kpi::EncodeRecord);
      break;
    case 8:
      ExpectCanonical(bytes, kpi::runtime::DecodeOutMessage(bytes), kpi::runtime::EncodeOutMessage);
      break;
    case 9:
      ExpectCanonical(bytes, kpi::runtime::DecodeLogRecord(bytes), kpi::runtime::EncodeLogRecord);
      break;
    case 10:
      ExpectCanonical(bytes, kpi::runtime::DecodeCellsRecord(bytes),
                      kpi::runtime::EncodeCellsRecord);
      break;
    default: {
      const auto position = kpi::runtime::DecodeLogPosition(bytes);
      kpi::fuzz::Require(
          !position || kpi::runtime::EncodeLogPosition(position->first, position->second) == bytes,
          "a decoded log position encodes back to its bytes");
      break;
    }
  }
  return 0;
}
