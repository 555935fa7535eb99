#include "processor/runtime/input_positions.h"

#include "processor/keys.h"
#include "processor/values.h"

namespace kpi::runtime {

std::expected<int64_t, Failure> InputPositions::Stored(const TopicPartition& tp) const {
  auto stored = store_.Get(keys::OffsetKey(static_cast<uint16_t>(tp.partition), tp.topic));
  if (!stored)
    return std::unexpected(Failure{kExitState, "stored offset: " + stored.error().message});
  if (!*stored) return start_latest_ ? kOffsetEnd : kOffsetBeginning;
  const std::optional<int64_t> next = DecodeOffset(**stored);
  if (!next) {
    return std::unexpected(
        Failure{kExitState, "stored offset: undecodable value (state corruption)"});
  }
  return *next;
}

int64_t InputPositions::Expected(const TopicPartition& tp) const {
  if (const auto next = next_.find(tp); next != next_.end()) return next->second;
  if (const auto position = committed_.find(tp); position != committed_.end()) {
    return position->second;
  }
  return -1;
}

void InputPositions::Stage(state::WriteBatch& batch, std::optional<int32_t> task) const {
  for (const auto& [tp, offset] : next_) {
    if (task && tp.partition != *task) continue;
    batch.push_back(
        {keys::OffsetKey(static_cast<uint16_t>(tp.partition), tp.topic), EncodeOffset(offset)});
  }
}

void InputPositions::Committed() {
  for (const auto& [tp, offset] : next_) committed_[tp] = offset;
  next_.clear();
}

}  // namespace kpi::runtime
