#include "processor/dims.h"

#include "processor/kpis.h"

namespace kpi {
namespace {

std::string_view CutLabel(CutFamily family, uint8_t value) {
  static constexpr std::array<std::string_view, 6> kCategories = {"unknown", "neg", "phy",
                                                                  "sab",     "emo", "mul"};
  static constexpr std::array<std::string_view, 4> kGenders = {"unknown", "male", "female",
                                                               "indeterminate"};
  static constexpr std::array<std::string_view, 6> kOutcomes = {
      "unknown", "cp_plan", "cin", "early_help", "closed", "looked_after"};
  const auto pick = [value](const auto& labels) {
    return value < labels.size() ? labels[value] : labels[0];
  };
  switch (family) {
    case CutFamily::kCategory:
      return pick(kCategories);
    case CutFamily::kAge:
      return AgeBandLabel(value);
    case CutFamily::kGender:
      return pick(kGenders);
    case CutFamily::kEthnicity:
      return value >= 1 && value <= kEthnicityCodes.size() ? kEthnicityCodes[value - 1]
                                                           : std::string_view("unknown");
    case CutFamily::kOutcome:
      return pick(kOutcomes);
  }
  return "unknown";
}

}  // namespace

DimTable::DimTable() {
  years_.fill(kNone);
  sens_.fill(kNone);
  for (auto& family : cuts_) family.fill(kNone);
  all_ = Intern("all");
}

uint32_t DimTable::Intern(std::string_view dim) {
  const auto it = ids_.find(dim);
  if (it != ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(dim);
  ids_.emplace(std::string(dim), id);
  return id;
}

uint32_t DimTable::Find(std::string_view dim) const {
  const auto it = ids_.find(dim);
  return it == ids_.end() ? kNone : it->second;
}

uint32_t DimTable::School(std::string_view urn) {
  const auto it = schools_.find(urn);
  if (it != schools_.end()) return it->second;
  const uint32_t id = Intern(scratch_.assign("school=").append(urn.empty() ? "unknown" : urn));
  schools_.emplace(std::string(urn), id);
  return id;
}

uint32_t DimTable::YearDim(uint8_t year) {
  uint32_t& id = years_[year];
  if (id == kNone) id = Intern(scratch_.assign("year=").append(YearGroupLabel(year)));
  return id;
}

uint32_t DimTable::SenDim(uint8_t sen) {
  uint32_t& id = sens_[sen];
  if (id == kNone) id = Intern(scratch_.assign("sen=").append(SenLabel(sen)));
  return id;
}

}  // namespace kpi

namespace kpi {

uint32_t DimTable::Cut(CutFamily family, uint8_t value) {
  auto& cache = cuts_[static_cast<size_t>(family)];
  if (value >= cache.size()) value = 0;
  uint32_t& id = cache[value];
  if (id == kNone) {
    id = Intern(scratch_.assign(CutFamilyName(family)).append("=").append(CutLabel(family, value)));
  }
  return id;
}

}  // namespace kpi
