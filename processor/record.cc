#include "processor/record.h"

#include <array>
#include <cstring>

namespace kpi {

std::string_view KindName(Kind kind) {
  static constexpr std::array<std::string_view, 12> kNames = {
      "contact", "referral",     "assessment", "s47",       "icpc",      "cin_plan",
      "cp_plan", "looked_after", "attendance", "exclusion", "enrolment", "profile"};
  const auto i = static_cast<size_t>(kind) - 1;
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

namespace {

constexpr uint8_t kFormat = 1;

template <typename T>
void PutFixed(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

void PutString(std::string& out, std::string_view s) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Fixed(T& v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool String(std::string& s) {
    uint32_t n = 0;
    if (!Fixed(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

constexpr int32_t kNoDate = INT32_MIN;

}  // namespace

std::string EncodeRecord(const Record& r) {
  std::string out;
  out.reserve(48 + r.urn.size() + r.text.size());
  PutFixed<uint8_t>(out, kFormat);
  PutFixed<uint8_t>(out, static_cast<uint8_t>(r.kind));
  PutFixed<uint8_t>(out, static_cast<uint8_t>((r.deleted ? 1 : 0) | (r.flag ? 2 : 0)));
  PutFixed<uint8_t>(out, r.e);
  PutFixed<uint8_t>(out, static_cast<uint8_t>(r.cls));
  PutFixed<int64_t>(out, r.recorded_at.seconds);
  PutFixed<int32_t>(out, r.recorded_at.nanos);
  for (const auto& d : {r.a, r.b, r.c}) PutFixed<int32_t>(out, d ? d->days() : kNoDate);
  PutFixed<uint32_t>(out, r.n);
  PutString(out, r.urn);
  PutString(out, r.text);
  return out;
}

std::optional<Record> DecodeRecord(std::string_view bytes) {
  Reader in(bytes);
  Record r;
  uint8_t format = 0;
  uint8_t kind = 0;
  uint8_t flags = 0;
  uint8_t cls = 0;
  if (!in.Fixed(format) || format != kFormat || !in.Fixed(kind) || !in.Fixed(flags) ||
      !in.Fixed(r.e) || !in.Fixed(cls) || !in.Fixed(r.recorded_at.seconds) ||
      !in.Fixed(r.recorded_at.nanos)) {
    return std::nullopt;
  }
  if (kind < static_cast<uint8_t>(Kind::kContact) || kind > static_cast<uint8_t>(Kind::kProfile) ||
      cls > static_cast<uint8_t>(AttendanceClass::kMissing)) {
    return std::nullopt;
  }
  r.kind = static_cast<Kind>(kind);
  r.deleted = (flags & 1) != 0;
  r.flag = (flags & 2) != 0;
  r.cls = static_cast<AttendanceClass>(cls);
  for (std::optional<Date>* d : {&r.a, &r.b, &r.c}) {
    int32_t days = 0;
    if (!in.Fixed(days)) return std::nullopt;
    if (days != kNoDate) *d = Date(days);
  }
  if (!in.Fixed(r.n) || !in.String(r.urn) || !in.String(r.text) || !in.done()) {
    return std::nullopt;
  }
  return r;
}

}  // namespace kpi
