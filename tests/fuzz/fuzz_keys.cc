// Fuzz target: the readers of stored keys (a corrupt store hands them any bytes). The first byte
// picks the reader. Properties: a parsed cell key is built again byte for byte by CellKey; a split
// per-child key is its table prefix, the length-prefixed child and the rest, byte for byte; a
// length-prefixed string reads back from one spelling only; a date read from a key lies in years
// 1 to 9999, where date arithmetic cannot overflow.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "processor/coding.h"
#include "processor/keys.h"
#include "tests/fuzz/require.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      const auto parts = kpi::keys::ParseCellKey(bytes);
      if (!parts) break;
      kpi::fuzz::Require(kpi::coding::InDayRange(parts->week.days()), "a cell's week in range");
      const auto task = static_cast<uint16_t>((static_cast<uint8_t>(bytes[0]) << 8) |
                                              static_cast<uint8_t>(bytes[1]));
      kpi::fuzz::Require(kpi::keys::CellKey(task, parts->kpi, parts->week, parts->dim) == bytes,
                         "a parsed cell key is built again byte for byte");
      break;
    }
    case 1: {
      const auto parts = kpi::keys::SplitChildKey(bytes);
      if (!parts) break;
      std::string rebuilt(bytes.substr(0, 3));
      kpi::keys::AppendLengthPrefixed(rebuilt, parts->child);
      rebuilt.append(parts->rest);
      kpi::fuzz::Require(rebuilt == bytes, "a split child key is rebuilt byte for byte");
      break;
    }
    case 2: {
      std::string_view in = bytes;
      const auto s = kpi::keys::ReadLengthPrefixed(in);
      if (!s) break;
      std::string rebuilt;
      kpi::keys::AppendLengthPrefixed(rebuilt, *s);
      rebuilt.append(in);
      kpi::fuzz::Require(rebuilt == bytes, "a length prefix has one spelling");
      break;
    }
    default: {
      std::string_view in = bytes;
      const auto d = kpi::keys::ReadDate(in);
      if (!d) break;
      kpi::fuzz::Require(kpi::coding::InDayRange(d->days()), "a date in a key in range");
      std::string rebuilt;
      kpi::keys::AppendDate(rebuilt, *d);
      rebuilt.append(in);
      kpi::fuzz::Require(rebuilt == bytes, "a date in a key has one spelling");
      break;
    }
  }
  return 0;
}
