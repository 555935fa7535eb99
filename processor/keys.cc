#include "processor/keys.h"

#include "processor/coding.h"

namespace kpi::keys {
namespace {

void AppendU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

class Cursor {
 public:
  explicit Cursor(std::string_view in) : in_(in) {}
  bool Byte(uint8_t& b) {
    if (in_.empty()) return false;
    b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool Skip(size_t n) {
    if (in_.size() < n) return false;
    in_.remove_prefix(n);
    return true;
  }
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(4);
    return true;
  }
  bool LengthPrefixed(std::string& s) {
    const std::optional<std::string_view> v = ReadLengthPrefixed(in_);
    if (v) s.assign(*v);
    return v.has_value();
  }
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
};

Date DecodeDate(uint32_t v) { return Date(static_cast<int32_t>(v ^ 0x80000000u)); }

}  // namespace

std::string TablePrefix(uint16_t task, char table) {
  std::string out;
  AppendU16(out, task);
  out.push_back(table);
  return out;
}

void AppendLengthPrefixed(std::string& out, std::string_view s) {
  uint64_t n = s.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  out.append(s);
}

void AppendDate(std::string& out, Date d) {
  AppendU32(out, static_cast<uint32_t>(d.days()) ^ 0x80000000u);
}

std::optional<Date> ReadDate(std::string_view& in) {
  Cursor cursor(in);
  uint32_t v = 0;
  if (!cursor.U32(v)) return std::nullopt;
  const Date d = DecodeDate(v);
  // Outside years 1 to 9999 a stored date is corrupt (date arithmetic on it could overflow).
  if (!coding::InDayRange(d.days())) return std::nullopt;
  in = cursor.rest();
  return d;
}

std::string ChildPrefix(uint16_t task, char table, std::string_view child) {
  std::string out = TablePrefix(task, table);
  AppendLengthPrefixed(out, child);
  return out;
}

std::string RecordKindPrefix(uint16_t task, std::string_view child, Kind kind) {
  std::string out = ChildPrefix(task, kRecord, child);
  out.push_back(static_cast<char>(kind));
  return out;
}

std::string RecordKey(uint16_t task, std::string_view child, Kind kind, std::string_view event_id) {
  std::string out = RecordKindPrefix(task, child, kind);
  out.append(event_id);
  return out;
}

std::string MarkUrnPrefix(uint16_t task, std::string_view child, std::string_view urn) {
  std::string out = ChildPrefix(task, kMark, child);
  AppendLengthPrefixed(out, urn);
  return out;
}

std::string MarkKey(uint16_t task, std::string_view child, std::string_view urn, Date date,
                    uint8_t session) {
  std::string out = MarkUrnPrefix(task, child, urn);
  AppendDate(out, date);
  out.push_back(static_cast<char>(session));
  return out;
}

std::string DistinctKey(uint16_t task, std::string_view child, Kpi kpi, std::string_view dim) {
  std::string out = ChildPrefix(task, kDistinct, child);
  out.push_back(static_cast<char>(kpi));
  AppendLengthPrefixed(out, dim);
  return out;
}

namespace {
// E and Y keys: task tag lp(child) lp(urn) academic_year.
std::string EnrolmentYearKey(uint16_t task, char table, std::string_view child,
                             std::string_view urn, int academic_year) {
  std::string out = ChildPrefix(task, table, child);
  AppendLengthPrefixed(out, urn);
  AppendU16(out, static_cast<uint16_t>(academic_year));
  return out;
}
}  // namespace

std::string AbsenceUnitKey(uint16_t task, std::string_view child, std::string_view urn,
                           int academic_year) {
  return EnrolmentYearKey(task, kAbsenceUnit, child, urn, academic_year);
}

std::string DaySummaryKey(uint16_t task, std::string_view child, std::string_view urn,
                          int academic_year) {
  return EnrolmentYearKey(task, kDaySummary, child, urn, academic_year);
}

std::string CellKey(uint16_t task, Kpi kpi, Date week, std::string_view dim) {
  std::string out = TablePrefix(task, kCell);
  out.push_back(static_cast<char>(kpi));
  AppendDate(out, week);
  out.append(dim);
  return out;
}

std::string OffsetKey(uint16_t task, std::string_view topic) {
  std::string out = TablePrefix(task, kOffset);
  AppendLengthPrefixed(out, topic);
  return out;
}

std::string AsOfKey(uint16_t task) { return TablePrefix(task, kAsOf); }

std::optional<CellKeyParts> ParseCellKey(std::string_view key) {
  Cursor in(key);
  uint8_t tag = 0;
  uint8_t kpi = 0;
  uint32_t week = 0;
  if (!in.Skip(2) || !in.Byte(tag) || tag != kCell || !in.Byte(kpi) || kpi < 1 || kpi > kKpiCount ||
      !in.U32(week)) {
    return std::nullopt;
  }
  const Date d = DecodeDate(week);
  if (!coding::InDayRange(d.days())) return std::nullopt;
  return CellKeyParts{static_cast<Kpi>(kpi), d, std::string(in.rest())};
}

std::optional<std::string_view> ReadLengthPrefixed(std::string_view& in) {
  uint64_t n = 0;
  int shift = 0;
  while (true) {
    if (in.empty() || shift > 56) return std::nullopt;
    const auto b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    shift += 7;
    if ((b & 0x80) == 0) {
      // The shortest form only (as AppendLengthPrefixed writes): a final zero byte after others
      // would spell the same length another way.
      if (b == 0 && shift > 7) return std::nullopt;
      break;
    }
  }
  if (in.size() < n) return std::nullopt;
  const std::string_view out = in.substr(0, n);
  in.remove_prefix(n);
  return out;
}

std::optional<ChildKeyParts> SplitChildKey(std::string_view key) {
  if (key.size() < 3) return std::nullopt;
  std::string_view in = key.substr(3);
  const std::optional<std::string_view> child = ReadLengthPrefixed(in);
  if (!child) return std::nullopt;
  return ChildKeyParts{*child, in};
}

}  // namespace kpi::keys
