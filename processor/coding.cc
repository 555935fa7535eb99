#include "processor/coding.h"

#include <climits>

namespace kpi::coding {

void ByteWriter::Fixed32(uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
}

void ByteWriter::Fixed64(uint64_t v) {
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
}

void ByteWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

std::optional<ByteReader> ByteReader::Open(std::string_view value) {
  if (value.empty() || static_cast<uint8_t>(value[0]) != kFormat) return std::nullopt;
  return ByteReader(value.substr(1));
}

bool ByteReader::U8(uint8_t& v) {
  if (in_.empty()) return false;
  v = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return true;
}

bool ByteReader::Fixed32(uint32_t& v) {
  if (in_.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
  in_.remove_prefix(4);
  return true;
}

bool ByteReader::Fixed64(uint64_t& v) {
  if (in_.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
  in_.remove_prefix(8);
  return true;
}

bool ByteReader::Varint(uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in_.empty()) return false;
    const auto byte = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // more than 64 bits
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      // The shortest form only: a trailing zero byte would give one value two encodings.
      return !(byte == 0 && shift > 0);
    }
  }
  return false;
}

bool ByteReader::Varint32(uint32_t& v) {
  uint64_t wide = 0;
  if (!Varint(wide) || wide > UINT32_MAX) return false;
  v = static_cast<uint32_t>(wide);
  return true;
}

bool ByteReader::Signed(int64_t& v) {
  uint64_t z = 0;
  if (!Varint(z)) return false;
  v = UnZigZag(z);
  return true;
}

bool ByteReader::Signed32(int32_t& v) {
  int64_t wide = 0;
  if (!Signed(wide) || wide < INT32_MIN || wide > INT32_MAX) return false;
  v = static_cast<int32_t>(wide);
  return true;
}

bool ByteReader::Bytes(std::string_view& s) {
  uint64_t n = 0;
  if (!Varint(n) || n > in_.size()) return false;
  s = in_.substr(0, n);
  in_.remove_prefix(n);
  return true;
}

bool ByteReader::Bytes(std::string& s) {
  std::string_view view;
  if (!Bytes(view)) return false;
  s.assign(view);
  return true;
}

bool InDayRange(int64_t days) {
  static const int32_t first = Date::FromYmd(1, 1, 1).days();
  static const int32_t last = Date::FromYmd(9999, 12, 31).days();
  return days >= first && days <= last;
}

bool ByteReader::Day(Date& d) {
  int32_t days = 0;
  if (!Signed32(days) || !InDayRange(days)) return false;
  d = Date(days);
  return true;
}

bool ByteReader::OptionalDay(std::optional<Date>& d) {
  uint64_t z = 0;
  if (!Varint(z)) return false;
  if (z == 0) {
    d.reset();
    return true;
  }
  const int64_t days = UnZigZag(z - 1);
  if (!InDayRange(days)) return false;
  d = Date(static_cast<int32_t>(days));
  return true;
}

}  // namespace kpi::coding
