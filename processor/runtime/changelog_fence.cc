#include "processor/runtime/changelog_fence.h"

#include <algorithm>

#include "processor/runtime/changelog.h"
#include "processor/runtime/read_back.h"
#include "processor/values.h"

namespace kpi::runtime {
namespace {

constexpr std::string_view kLastOffsetPrefix(
    "\xff\xff"
    "W",
    3);

std::string LastOffsetKey(int32_t task) {
  std::string key(kLastOffsetPrefix);
  key.push_back(static_cast<char>((task >> 8) & 0xff));
  key.push_back(static_cast<char>(task & 0xff));
  return key;
}

}  // namespace

std::expected<int64_t, Failure> ChangelogFence::LastOffset(int32_t task) {
  if (const auto it = last_offsets_.find(task); it != last_offsets_.end()) return it->second;
  auto stored = store_.Get(LastOffsetKey(task));
  if (!stored)
    return std::unexpected(Failure{kExitState, "changelog position: " + stored.error().message});
  int64_t offset = -2;  // none: this instance never wrote to the task's changelog
  if (*stored) {
    const std::optional<int64_t> decoded = DecodeOffset(**stored);
    if (!decoded) return std::unexpected(Failure{kExitState, "changelog position: undecodable"});
    offset = *decoded;
  }
  last_offsets_[task] = offset;
  return offset;
}

std::expected<void, Failure> ChangelogFence::SetLastOffset(int32_t task, int64_t offset) {
  last_offsets_[task] = offset;
  if (auto w = store_.Write({{LastOffsetKey(task), EncodeOffset(offset)}}); !w) {
    return std::unexpected(Failure{kExitState, "changelog position: " + w.error().message});
  }
  return {};
}

std::expected<bool, Failure> ChangelogFence::Check(int32_t task, uint64_t epoch,
                                                   const std::vector<Delivered>& delivered) {
  auto last = LastOffset(task);
  if (!last) return std::unexpected(last.error());
  if (delivered.empty()) return false;
  if (*last < -1) return true;  // never claimed here: not ours to write
  const std::vector<int64_t> foreign = ForeignOffsets(delivered, *last);
  bool fenced = false;
  if (!foreign.empty()) {
    auto read =
        ReadBack(reader_, {{TopicPartition{topic_, task}, foreign.front()}},
                 {{task, foreign.back() + 1}}, timeout_ms_, [&](const InRecord& r) {
                   const std::optional<LogRecord> record = DecodeLogRecord(r.value);
                   if (record && record->type == LogRecord::Type::kClaim && record->epoch > epoch) {
                     fenced = true;
                   }
                 });
    if (!read) return std::unexpected(Failure{kExitKafka, read.error()});
  }
  if (!fenced) {
    for (const Delivered& d : delivered) {
      last_offsets_[task] = std::max(last_offsets_[task], d.offset);
    }
  }
  return fenced;
}

void ChangelogFence::AppendLastOffsets(const std::set<int32_t>& tasks, state::WriteBatch& batch) {
  for (const int32_t task : tasks) {
    batch.push_back({LastOffsetKey(task), EncodeOffset(last_offsets_[task])});
  }
}

}  // namespace kpi::runtime
