#include "processor/json_fast.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "processor/date.h"

namespace kpi {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

class Scanner {
 public:
  explicit Scanner(std::string_view in) : in_(in) {}

  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char Peek() {
    SkipSpace();
    return pos_ < in_.size() ? in_[pos_] : '\0';
  }
  // A string of printable ASCII, with JSON's escapes: \" \\ \/ \b \f \n \r \t and \uXXXX
  // outside the surrogates (written as UTF-8). `out` views the input when the string has no
  // escape (the common case: nothing is copied), else this scanner's buffer, valid until the next
  // string is read. Raw bytes outside printable ASCII and surrogate escapes: not sure.
  bool PlainString(std::string_view& out) {
    if (!Consume('"')) return false;
    const size_t start = pos_;
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        out = in_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (c == '\\') return EscapedString(start, out);
      if (c < 0x20 || c >= 0x7f) return false;
      ++pos_;
    }
    return false;
  }
  bool Literal(std::string_view word) {
    SkipSpace();
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  // A non-negative integer without sign, fraction or exponent, that fits in 32 bits.
  bool Uint32(uint32_t& out) {
    SkipSpace();
    const size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(in_[pos_] - '0');
      if (v > UINT32_MAX) return false;
      ++pos_;
    }
    if (pos_ == start || (pos_ - start > 1 && in_[start] == '0')) return false;
    if (pos_ < in_.size() && (in_[pos_] == '.' || in_[pos_] == 'e' || in_[pos_] == 'E')) {
      return false;
    }
    out = static_cast<uint32_t>(v);
    return true;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == in_.size();
  }

 private:
  // The rest of a string from its first escape at pos_; `start` is where its text began.
  bool EscapedString(size_t start, std::string_view& out) {
    buffer_.assign(in_.substr(start, pos_ - start));
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        out = buffer_;
        ++pos_;
        return true;
      }
      if (c < 0x20 || c >= 0x7f) return false;
      if (c != '\\') {
        buffer_.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= in_.size()) return false;
      const char e = in_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"':
          buffer_.push_back('"');
          break;
        case '\\':
          buffer_.push_back('\\');
          break;
        case '/':
          buffer_.push_back('/');
          break;
        case 'b':
          buffer_.push_back('\b');
          break;
        case 'f':
          buffer_.push_back('\f');
          break;
        case 'n':
          buffer_.push_back('\n');
          break;
        case 'r':
          buffer_.push_back('\r');
          break;
        case 't':
          buffer_.push_back('\t');
          break;
        case 'u':
          if (!Unicode()) return false;
          break;
        default:
          return false;
      }
    }
    return false;
  }

  // The four hex digits after "\u" at pos_, as UTF-8 onto buffer_; surrogates: not sure.
  bool Unicode() {
    if (pos_ + 4 > in_.size()) return false;
    uint32_t cp = 0;
    for (size_t i = 0; i < 4; ++i) {
      const char h = in_[pos_ + i];
      const int v = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
      if (v < 0) return false;
      cp = cp * 16 + static_cast<uint32_t>(v);
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    pos_ += 4;
    if (cp < 0x80) {
      buffer_.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      buffer_.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      buffer_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      buffer_.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      buffer_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      buffer_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string buffer_;  // an escaped string's text
};

// "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z" only.
bool ParseTimestamp(std::string_view s, int64_t& seconds, int32_t& nanos) {
  if (s.size() < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z') {
    return false;
  }
  const std::optional<Date> date = Date::Parse(s.substr(0, 10));
  if (!date) return false;
  const auto two = [&](size_t at, int max, int& v) {
    if (s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9') return false;
    v = (s[at] - '0') * 10 + (s[at + 1] - '0');
    return v <= max;
  };
  int hh = 0;
  int mm = 0;
  int ss = 0;
  if (!two(11, 23, hh) || !two(14, 59, mm) || !two(17, 59, ss)) return false;
  nanos = 0;
  const std::string_view frac = s.substr(19, s.size() - 20);
  if (!frac.empty()) {
    if (frac[0] != '.' || (frac.size() != 4 && frac.size() != 7 && frac.size() != 10)) {
      return false;
    }
    for (size_t i = 1; i < frac.size(); ++i) {
      if (frac[i] < '0' || frac[i] > '9') return false;
      nanos = nanos * 10 + (frac[i] - '0');
    }
    for (size_t i = frac.size(); i < 10; ++i) nanos *= 10;
  }
  if (date->ToYmd().year < 1) return false;
  seconds =
      (static_cast<int64_t>(date->days()) * 86400) + (int64_t{hh} * 3600) + (int64_t{mm} * 60) + ss;
  return true;
}

// Field lookup tables built once from the descriptors: json name and proto name per field.
struct FieldTable {
  std::vector<const FieldDescriptor*> fields;
  const FieldDescriptor* Find(std::string_view key) const {
    for (const FieldDescriptor* f : fields) {
      if (f->json_name() == key || f->name() == key) return f;
    }
    return nullptr;
  }
};

FieldTable TableOf(const Descriptor* d) {
  FieldTable t;
  for (int i = 0; i < d->field_count(); ++i) t.fields.push_back(d->field(i));
  return t;
}

const FieldTable& EventTable() {
  static const FieldTable t = TableOf(events::Event::descriptor());
  return t;
}

const FieldTable& BodyTable(const Descriptor* d) {
  static const auto* tables = [] {
    auto* m = new std::vector<std::pair<const Descriptor*, FieldTable>>();
    const Descriptor* ev = events::Event::descriptor();
    for (int i = 0; i < ev->field_count(); ++i) {
      const FieldDescriptor* f = ev->field(i);
      if (f->containing_oneof() != nullptr)
        m->emplace_back(f->message_type(), TableOf(f->message_type()));
    }
    return m;
  }();
  for (const auto& [desc, table] : *tables) {
    if (desc == d) return table;
  }
  static const FieldTable empty;
  return empty;
}

// Reads one scalar value into `field` of `msg`. false: not sure.
bool ReadScalar(Scanner& in, Message& msg, const FieldDescriptor* field) {
  const auto* refl = msg.GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string_view s;
      if (!in.PlainString(s)) return false;
      refl->SetString(&msg, field, std::string(s));
      return true;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (in.Literal("true")) {
        refl->SetBool(&msg, field, true);
        return true;
      }
      if (in.Literal("false")) {
        refl->SetBool(&msg, field, false);
        return true;
      }
      return false;
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v = 0;
      if (!in.Uint32(v)) return false;
      refl->SetUInt32(&msg, field, v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      std::string_view s;
      if (!in.PlainString(s)) return false;
      // A name the enum does not list is unknown_code (EVENTS.md): kept as a number no enum
      // lists, for validation to report.
      const auto* value = field->enum_type()->FindValueByName(std::string(s));
      refl->SetEnumValue(&msg, field, value == nullptr ? kUnlistedEnumValue : value->number());
      return true;
    }
    default:
      return false;
  }
}

// Reads a JSON object whose keys are fields of `table`, each at most once, handing each field to
// `on_field` (which reads its value). false: not sure.
template <typename OnField>
bool ReadObject(Scanner& in, const FieldTable& table, OnField on_field) {
  if (!in.Consume('{')) return false;
  if (in.Consume('}')) return true;
  uint64_t seen = 0;
  do {
    std::string_view key;
    if (!in.PlainString(key) || !in.Consume(':')) return false;
    const FieldDescriptor* f = table.Find(key);
    if (f == nullptr || f->index() >= 64 || (seen & (1ull << f->index()))) return false;
    seen |= 1ull << f->index();
    if (!on_field(f)) return false;
  } while (in.Consume(','));
  return in.Consume('}');
}

}  // namespace

bool FastDecodeJson(std::string_view text, events::Event& out) {
  out.Clear();
  Scanner in(text);
  const auto* refl = out.GetReflection();
  bool body = false;
  const bool read = ReadObject(in, EventTable(), [&](const FieldDescriptor* f) {
    if (f->containing_oneof() != nullptr) {
      if (body) return false;  // two bodies
      body = true;
      Message& message = *refl->MutableMessage(&out, f);
      return ReadObject(in, BodyTable(message.GetDescriptor()),
                        [&](const FieldDescriptor* g) { return ReadScalar(in, message, g); });
    }
    if (f->number() == events::Event::kRecordedAtFieldNumber) {
      std::string_view ts;
      int64_t seconds = 0;
      int32_t nanos = 0;
      if (!in.PlainString(ts) || !ParseTimestamp(ts, seconds, nanos)) return false;
      out.mutable_recorded_at()->set_seconds(seconds);
      out.mutable_recorded_at()->set_nanos(nanos);
      return true;
    }
    return ReadScalar(in, out, f);
  });
  return read && in.AtEnd();
}

}  // namespace kpi
