// DimTable: the dimension values of KPIS.md ("all", "school=<urn>", "year=<label>",
// "sen=<label>") interned to dense ids, so cells and references are keyed by integers. Each value
// is interned once; a lookup by school, year group or SEN code afterwards builds no string.
// Thread-safety: none. One table per engine, used from one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processor/kpis.h"
#include "processor/record.h"

namespace kpi {

class DimTable {
 public:
  using Dims = std::array<uint32_t, 4>;  // all, school, year, sen
  static constexpr uint32_t kNone = UINT32_MAX;

  DimTable();

  uint32_t Intern(std::string_view dim);
  const std::string& Name(uint32_t id) const { return names_[id]; }
  // The id of a name, or kNone when it was never interned.
  uint32_t Find(std::string_view dim) const;

  uint32_t all() const { return all_; }
  // "school=<urn>" ("school=unknown" for an empty urn).
  uint32_t School(std::string_view urn);
  Dims For(uint32_t school, uint8_t year, SenStatus sen) {
    return {all_, school, YearDim(year), SenDim(static_cast<uint8_t>(sen))};
  }
  // "<family>=<label>" of an extra cut (KPIS-2.md section 2). `value`: the record's enum (category,
  // outcome), gender, ethnicity index or AgeBand; 0 is "unknown".
  uint32_t Cut(CutFamily family, uint8_t value);

 private:
  uint32_t YearDim(uint8_t year);
  uint32_t SenDim(uint8_t sen);

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;
  Index ids_;
  std::vector<std::string> names_;
  Index schools_;  // by raw urn
  std::array<uint32_t, 256> years_{};
  std::array<uint32_t, 256> sens_{};
  std::array<std::array<uint32_t, 32>, kCutFamilyCount> cuts_{};
  uint32_t all_ = 0;
  std::string scratch_;
};

}  // namespace kpi
