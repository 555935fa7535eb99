#include "processor/output.h"

#include <cstdio>

namespace kpi {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    if (c < 0x80) {
      extra = 0;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

void AppendJsonString(std::string& out, std::string_view s) {
  const bool utf8 = IsValidUtf8(s);
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || (!utf8 && c >= 0x80)) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string RowToJson(const Row& row, std::string_view as_of) {
  std::string line = RowToJson(row);
  line.resize(line.size() - 2);  // "}\n"
  line.append(",\"as_of\":\"");
  line.append(as_of);
  line.append("\",\"revision\":");
  line.append(std::to_string(row.revision));
  line.push_back('}');
  return line;
}

void AppendRowKeyJson(std::string& out, const Row& row) {
  out.append("{\"kpi\":\"");
  out.append(KpiName(row.kpi));
  out.append("\",\"week_start\":\"");
  out.append(row.week.ToString());
  out.append("\",\"dimension\":");
  AppendJsonString(out, row.dimension);
}

std::string RowToJson(const Row& row) {
  std::string line;
  AppendRowKeyJson(line, row);
  line.append(",\"count\":");
  line.append(std::to_string(row.count));
  line.append(",\"base\":");
  line.append(std::to_string(row.base));
  line.append("}\n");
  return line;
}

std::string RowKey(const Row& row) {
  return std::string(KpiName(row.kpi)) + "|" + row.week.ToString() + "|" + row.dimension;
}

}  // namespace kpi
