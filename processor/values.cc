#include "processor/values.h"

#include "processor/coding.h"

namespace kpi {

std::string EncodeMark(const StoredMark& mark) {
  std::string out;
  coding::ByteWriter w(out);
  w.U8(static_cast<uint8_t>(static_cast<uint8_t>(mark.code) | (mark.part_time ? 0x40 : 0) |
                            (mark.deleted ? 0x80 : 0)));
  PutRecordedAt(w, mark.recorded_at);
  return out;
}

std::optional<StoredMark> DecodeMark(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  uint8_t flags = 0;
  StoredMark m;
  if (!in || !in->U8(flags) || !GetRecordedAt(*in, m.recorded_at) || !in->done() ||
      (flags & 0x3f) > static_cast<uint8_t>(AttendanceClass::kMissing)) {
    return std::nullopt;
  }
  m.code = static_cast<AttendanceClass>(flags & 0x3f);
  m.part_time = (flags & 0x40) != 0;
  m.deleted = (flags & 0x80) != 0;
  return m;
}

// Count, the first week, then each later week as its distance in days from the one before; a
// count after each week. A plan open for years: about three bytes a week.
std::string EncodeDistinctRefs(const std::vector<WeekRefs>& weeks) {
  std::string out;
  coding::ByteWriter w(out);
  w.Varint(weeks.size());
  for (size_t i = 0; i < weeks.size(); ++i) {
    if (i == 0) {
      w.Day(weeks[0].week);
    } else {
      w.Varint(static_cast<uint64_t>(weeks[i].week - weeks[i - 1].week));
    }
    w.Varint(weeks[i].refs);
  }
  return out;
}

std::optional<std::vector<WeekRefs>> DecodeDistinctRefs(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  uint64_t n = 0;
  if (!in || !in->Varint(n) || n == 0 || n > bytes.size()) return std::nullopt;
  std::vector<WeekRefs> weeks(n);
  for (size_t i = 0; i < n; ++i) {
    WeekRefs& w = weeks[i];
    if (i == 0) {
      if (!in->Day(w.week)) return std::nullopt;
    } else {
      uint32_t gap = 0;
      if (!in->Varint32(gap) || gap == 0 || gap > 366 * 100) return std::nullopt;
      w.week = weeks[i - 1].week + static_cast<int>(gap);
      if (!coding::InDayRange(w.week.days())) return std::nullopt;
    }
    if (!in->Varint32(w.refs) || w.refs == 0) return std::nullopt;
  }
  if (!in->done()) return std::nullopt;
  return weeks;
}

std::string EncodeAbsenceEntries(const std::vector<AbsenceEntry>& entries) {
  std::string out;
  coding::ByteWriter w(out);
  w.Varint(entries.size());
  for (const AbsenceEntry& e : entries) {
    w.Day(e.week);
    w.U8(e.year);
    w.U8(static_cast<uint8_t>(e.sen));
    w.U8(e.flags);
  }
  return out;
}

std::optional<std::vector<AbsenceEntry>> DecodeAbsenceEntries(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  uint64_t n = 0;
  if (!in || !in->Varint(n) || n > bytes.size()) return std::nullopt;
  std::vector<AbsenceEntry> entries(n);
  for (size_t i = 0; i < n; ++i) {
    AbsenceEntry& e = entries[i];
    uint8_t sen = 0;
    if (!in->Day(e.week) || !in->U8(e.year) || !in->U8(sen) || !in->U8(e.flags) || e.flags > 7 ||
        (i > 0 && !(entries[i - 1].week < e.week))) {
      return std::nullopt;
    }
    e.sen = static_cast<SenStatus>(sen);
  }
  if (!in->done()) return std::nullopt;
  return entries;
}

// Runs: (zero days, then a run of non-zero days and their bytes), until the 380 days are
// covered. Weekends, holidays and the days after the last mark cost a byte or two each run: an
// autumn term's summary is a few dozen bytes, a full year's about 300.
std::string EncodeDaySummary(std::string_view summary) {
  std::string out;
  coding::ByteWriter w(out);
  size_t i = 0;
  while (i < summary.size()) {
    const size_t zeros_from = i;
    while (i < summary.size() && summary[i] == 0) ++i;
    const size_t literal_from = i;
    while (i < summary.size() && summary[i] != 0) ++i;
    w.Varint(literal_from - zeros_from);
    w.Bytes(summary.substr(literal_from, i - literal_from));
  }
  return out;
}

std::optional<std::string> DecodeDaySummary(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  if (!in) return std::nullopt;
  std::string summary;
  summary.reserve(kSummaryDays);
  while (!in->done()) {
    uint64_t zeros = 0;
    std::string_view literal;
    if (!in->Varint(zeros) || !in->Bytes(literal)) return std::nullopt;
    // The encoder's form only: zero runs between non-empty runs of non-zero days; only the last
    // run may be empty (trailing zeros), and only the first zero run may be empty.
    const bool last = in->done();
    if ((zeros == 0 && !summary.empty()) || (literal.empty() && !last) ||
        literal.find('\0') != std::string_view::npos || zeros > kSummaryDays ||
        summary.size() + zeros + literal.size() > kSummaryDays) {
      return std::nullopt;
    }
    summary.append(zeros, '\0');
    summary.append(literal);
  }
  if (summary.size() != kSummaryDays) return std::nullopt;
  return summary;
}

std::string EncodeCell(const StoredCell& cell) {
  std::string out;
  coding::ByteWriter w(out);
  w.Signed(cell.count);
  w.Signed(cell.base);
  w.Varint(cell.revision);
  return out;
}

std::optional<StoredCell> DecodeCell(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  StoredCell c;
  if (!in || !in->Signed(c.count) || !in->Signed(c.base) || !in->Varint(c.revision) ||
      !in->done()) {
    return std::nullopt;
  }
  return c;
}

std::string EncodeAsOf(Date as_of) {
  std::string out;
  coding::ByteWriter w(out);
  w.Fixed32(static_cast<uint32_t>(as_of.days()));
  return out;
}

std::optional<Date> DecodeAsOf(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  uint32_t days = 0;
  if (!in || !in->Fixed32(days) || !in->done()) return std::nullopt;
  return Date(static_cast<int32_t>(days));
}

int AsOfFormat(std::string_view bytes) {
  if (bytes.size() == 4) return 1;  // format 1: no format byte, 4 bytes of day number
  return bytes.empty() ? 0 : static_cast<uint8_t>(bytes[0]);
}

std::string EncodeOffset(int64_t next_offset) {
  std::string out;
  coding::ByteWriter w(out);
  w.Signed(next_offset);
  return out;
}

std::optional<int64_t> DecodeOffset(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  int64_t offset = 0;
  if (!in || !in->Signed(offset) || !in->done()) return std::nullopt;
  return offset;
}

}  // namespace kpi
