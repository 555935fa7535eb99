// Dead letters exactly once through crashes (docs/DESIGN.md, "Commit and recovery"): each
// delivery records, per dead-letter partition, the offset after the last dead letter this
// instance delivered there (\xff\xff D topic NUL partition). At start, the dead-letter topic is
// read back from those marks, and the dead letters a crash delivered but did not delete from the
// outbox are recognised by their identity (source topic, partition and offset) and not delivered
// again.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "processor/runtime/bus.h"
#include "processor/runtime/failure.h"
#include "state/state_store.h"

namespace kpi::runtime {

// The headers that identify a dead letter.
inline constexpr const char* kSourceTopic = "source_topic";
inline constexpr const char* kSourcePartition = "source_partition";
inline constexpr const char* kSourceOffset = "source_offset";
// A `too_large` dead letter has no key or value, and this header with the record's size.
inline constexpr const char* kRecordBytes = "record_bytes";

// A dead letter's identity (from its headers); nullopt when it has none.
std::optional<std::string> DeadLetterIdentity(const OutMessage& message);

// The marks of the dead letters among `delivered` (those of `dlq_topic`), into `batch`.
void AppendDeadLetterMarks(const std::vector<Delivered>& delivered, const std::string& dlq_topic,
                           state::WriteBatch& batch);

// The identities of the dead letters in `dlq_topic` from the stored marks on.
std::expected<std::set<std::string>, Failure> DeliveredDeadLetters(state::StateStore& store,
                                                                   PartitionReader& reader,
                                                                   const std::string& dlq_topic,
                                                                   int64_t timeout_ms);

}  // namespace kpi::runtime
