#include "processor/runtime/publisher.h"

#include <map>

#include "processor/runtime/changelog.h"
#include "processor/values.h"

namespace kpi::runtime {
namespace {

Failure Injected(CommitStep step) {
  return Failure{kExitState, std::string("fault injected: ") + CommitStepName(step)};
}

}  // namespace

const char* CommitStepName(CommitStep step) {
  switch (step) {
    case CommitStep::kBatchWritten:
      return "batch written";
    case CommitStep::kProduced:
      return "outbox produced";
    case CommitStep::kDelivered:
      return "delivery confirmed";
    case CommitStep::kOutboxDeleted:
      return "outbox deleted";
  }
  return "?";
}

std::expected<std::vector<Delivered>, Failure> Publisher::Send(
    const std::vector<const OutMessage*>& batch, std::optional<CommitStep> crash_at,
    const std::vector<OutMessage>& messages) {
  for (const OutMessage* m : batch) {
    if (auto p = producer_.Produce(*m, m->partition); !p) {
      return std::unexpected(Failure{kExitKafka, p.error()});
    }
  }
  if (crash_at && Crash(*crash_at, messages)) return std::unexpected(Injected(*crash_at));
  // A delivery that fails for good leaves the outbox in place for the next start.
  auto delivered = producer_.Flush(delivery_timeout_ms_);
  if (!delivered) {
    return std::unexpected(
        Failure{kExitKafka, delivered.error() + "; it is delivered again at the next start"});
  }
  return std::move(*delivered);
}

std::expected<std::set<int32_t>, Failure> Publisher::Deliver(
    std::vector<std::string> keys, const std::vector<OutMessage>& messages) {
  // 1. Scaled out: the changelog records first, each task's checked for fencing.
  std::vector<const OutMessage*> log;
  std::vector<const OutMessage*> rest;
  for (const OutMessage& m : messages) {
    (!fence_.topic().empty() && m.topic == fence_.topic() ? log : rest).push_back(&m);
  }
  std::set<int32_t> fenced;
  std::set<int32_t> logged;
  if (!log.empty()) {
    auto delivered = Send(log, std::nullopt, messages);
    if (!delivered) return std::unexpected(delivered.error());
    std::map<int32_t, std::vector<Delivered>> by_task;
    std::map<int32_t, uint64_t> epochs;
    for (size_t i = 0; i < log.size(); ++i) {
      const int32_t task = log[i]->partition;
      by_task[task].push_back((*delivered)[i]);
      if (const auto record = DecodeLogRecord(log[i]->value)) epochs[task] = record->epoch;
    }
    for (const auto& [task, offsets] : by_task) {
      auto f = fence_.Check(task, epochs[task], offsets);
      if (!f) return std::unexpected(f.error());
      (*f ? fenced : logged).insert(task);
    }
    std::erase_if(rest,
                  [&](const OutMessage* m) { return m->task >= 0 && fenced.contains(m->task); });
  }
  // 2. Everything else.
  auto delivered = Send(rest, CommitStep::kProduced, messages);
  if (!delivered) return std::unexpected(delivered.error());
  if (Crash(CommitStep::kDelivered, messages))
    return std::unexpected(Injected(CommitStep::kDelivered));
  state::WriteBatch clear = Outbox::Clear(std::move(keys));
  AppendDeadLetterMarks(*delivered, dlq_topic_, clear);
  fence_.AppendLastOffsets(logged, clear);
  if (auto w = store_.Write(clear); !w) {
    return std::unexpected(Failure{kExitState, "outbox: " + w.error().message});
  }
  if (Crash(CommitStep::kOutboxDeleted, messages)) {
    return std::unexpected(Injected(CommitStep::kOutboxDeleted));
  }
  return fenced;
}

std::expected<std::set<int32_t>, Failure> Publisher::DeliverStored() {
  auto stored = outbox_.Load(store_);
  if (!stored) return std::unexpected(Failure{kExitState, "outbox: " + stored.error().message});
  if (stored->keys.empty()) return std::set<int32_t>();
  bool dead_letters = false;
  for (const OutMessage& m : stored->messages) dead_letters = dead_letters || m.topic == dlq_topic_;
  std::vector<OutMessage> messages;
  if (dead_letters) {
    auto seen = DeliveredDeadLetters(store_, reader_, dlq_topic_, delivery_timeout_ms_);
    if (!seen) return std::unexpected(seen.error());
    for (OutMessage& m : stored->messages) {
      const std::optional<std::string> id =
          m.topic == dlq_topic_ ? DeadLetterIdentity(m) : std::nullopt;
      if (!id || !seen->contains(*id)) messages.push_back(std::move(m));
    }
  } else {
    messages = std::move(stored->messages);
  }
  return Deliver(std::move(stored->keys), messages);
}

}  // namespace kpi::runtime
