// The rules of each family, as kinds.cc's table refers to them. Internal to processor/rules/.
#pragma once

#include "processor/rules/rules.h"

namespace kpi::rules {

// social_care.cc
void Contact(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void Referral(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void Assessment(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void S47(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void Icpc(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void CinPlan(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void CpPlan(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void LookedAfter(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void ReviewHeld(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void S47Dependents(const ChildState&, std::string_view, const Record*, const Record&,
                   std::vector<uint32_t>&);
void IcpcDependents(const ChildState&, std::string_view, const Record*, const Record&,
                    std::vector<uint32_t>&);
void ReferralDependents(const ChildState&, std::string_view, const Record*, const Record&,
                        std::vector<uint32_t>&);
void CpPlanDependents(const ChildState&, std::string_view, const Record*, const Record&,
                      std::vector<uint32_t>&);

// schools.cc
void Exclusion(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void Enrolment(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void EnrolmentsUnit(const Context&, ChildState&, int, CellSink&);
void ExclusionsUnit(const Context&, ChildState&, int, CellSink&);

// ehc.cc
void EhcRequest(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void EhcAdvice(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void EhcReview(const Context&, ChildState&, const RecordVersion&, int, CellSink&);
void EhcPlansUnit(const Context&, ChildState&, int, CellSink&);

// periods.cc
void CpPeriodsUnit(const Context&, ChildState&, int, CellSink&);
void CarePeriodsUnit(const Context&, ChildState&, int, CellSink&);

}  // namespace kpi::rules
