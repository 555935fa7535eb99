// The one codec of stored values (docs/DESIGN.md, "Value encodings"), in the spirit of leveldb's
// coding.h: every value the processor stores begins with the format byte `kFormat`, then fields
// in a fixed byte order whatever the host: fixed-width integers little-endian, varints (7 bits a
// byte, low first), signed values zigzag-encoded, strings length-prefixed.
//
// A ByteReader never guesses: each read returns false when the bytes run out or are malformed, and
// `Open` fails for a value of another format. A caller turns a false into a corruption error; a
// value that does not decode is never taken for an absent one.
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "processor/date.h"

namespace kpi::coding {

// Format 1 was the unversioned layout of the first releases; format 2 this codec under the former
// working-day rule, without the S47's strategy discussion; format 3 without the KPIs of KPIS-2.md
// (docs/DESIGN.md, "Upgrading").
inline constexpr uint8_t kFormat = 4;

constexpr uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t UnZigZag(uint64_t z) {
  return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
}

class ByteWriter {
 public:
  // Starts a value: clears `out` and writes the format byte.
  explicit ByteWriter(std::string& out) : out_(out) {
    out_.clear();
    out_.push_back(static_cast<char>(kFormat));
  }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Fixed32(uint32_t v);
  void Fixed64(uint64_t v);
  void Varint(uint64_t v);
  void Signed(int64_t v) { Varint(ZigZag(v)); }
  void Bytes(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  void Day(Date d) { Signed(d.days()); }
  // An optional date: 0 when absent, else the zigzag day number plus one.
  void OptionalDay(std::optional<Date> d) { Varint(d ? ZigZag(d->days()) + 1 : 0); }

 private:
  std::string& out_;
};

// Whether `days` (since 1970-01-01) falls in the years 1 to 9999: every date the processor
// stores does, and date arithmetic on any of them stays far from int32 overflow.
bool InDayRange(int64_t days);

class ByteReader {
 public:
  // A reader over `value` past its format byte; nullopt when the value is of another format.
  static std::optional<ByteReader> Open(std::string_view value);

  bool U8(uint8_t& v);
  bool Fixed32(uint32_t& v);
  bool Fixed64(uint64_t& v);
  bool Varint(uint64_t& v);
  bool Varint32(uint32_t& v);
  bool Signed(int64_t& v);
  bool Signed32(int32_t& v);
  bool Bytes(std::string_view& s);
  bool Bytes(std::string& s);
  // Days of years 1 to 9999 only (InDayRange): arithmetic on a corrupt date must not overflow.
  bool Day(Date& d);
  bool OptionalDay(std::optional<Date>& d);
  // All bytes consumed: a decoder checks this last, so trailing bytes are corruption too.
  bool done() const { return in_.empty(); }

 private:
  explicit ByteReader(std::string_view in) : in_(in) {}
  std::string_view in_;
};

}  // namespace kpi::coding
