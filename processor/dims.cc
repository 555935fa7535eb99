#include "processor/dims.h"

#include "processor/kpis.h"

namespace kpi {

DimTable::DimTable() {
  years_.fill(kNone);
  sens_.fill(kNone);
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
