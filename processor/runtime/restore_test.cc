// The changelog's valid history and task restores over the in-memory bus: a restore equals the
// owner's state; zombies' records, interrupted commits and lost races are ignored; a dropped head
// restores from the last snapshot; a dropped snapshot clears the task for a rebuild.
#include "processor/runtime/restore.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "processor/keys.h"
#include "processor/runtime/memory_bus.h"
#include "state/memory_store.h"

namespace kpi::runtime {
namespace {

constexpr int32_t kTask = 3;
const TopicPartition kLog{"kpi.changelog", kTask};

std::string Key(int32_t task, int i) {
  return keys::TablePrefix(static_cast<uint16_t>(task), 'R') + "k" + std::to_string(i);
}

// The task's key range, the log position left out.
std::map<std::string, std::string> TaskState(state::StateStore& store, int32_t task = kTask) {
  std::map<std::string, std::string> out;
  const std::string prefix = keys::TablePrefix(static_cast<uint16_t>(task), 'A').substr(0, 2);
  EXPECT_TRUE(store
                  .Scan(prefix, state::PrefixEnd(prefix),
                        [&](std::string_view k, std::string_view v) {
                          if (k != LogPositionKey(task)) out.emplace(k, v);
                          return true;
                        })
                  .has_value());
  return out;
}

// An instance owning the task: a local store, and the records it writes to the changelog.
struct Owner {
  std::shared_ptr<MemoryCluster> cluster;
  std::string name;
  state::MemoryStore store;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  int64_t last_offset = -1;

  std::vector<Delivered> Write(const std::vector<LogRecord>& records) {
    std::vector<Delivered> out;
    for (const LogRecord& r : records) {
      out.push_back(
          cluster->Append(kLog.topic, kLog.partition, {kLog.topic, "", EncodeLogRecord(r), {}}));
    }
    return out;
  }
  // Restores, claims and snapshots, as the runtime does; false when the claim was lost.
  bool Take(std::optional<std::pair<TaskRestore::Phase, int64_t>>* before_claim = nullptr) {
    auto reader = cluster->NewReader();
    TaskRestore restore(kLog);
    while (true) {
      auto phase = restore.Step(*reader, store, 7);
      EXPECT_TRUE(phase.has_value());
      if (!phase) return false;
      if (*phase == TaskRestore::Phase::kClaim) {
        if (before_claim) *before_claim = std::pair(*phase, 0);
        epoch = restore.max_epoch() + 1;
        LogRecord claim;
        claim.type = LogRecord::Type::kClaim;
        claim.epoch = epoch;
        claim.owner = name;
        restore.Claimed(epoch, Write({claim}).back().offset);
      } else if (*phase == TaskRestore::Phase::kDone) {
        break;
      } else if (*phase == TaskRestore::Phase::kLost) {
        return false;
      }
    }
    source = restore.source();
    auto snapshot = TaskSnapshot(store, kTask, epoch, 0, 64);
    EXPECT_TRUE(snapshot.has_value());
    seq = 0;
    last_offset = Write(*snapshot).back().offset;
    EXPECT_TRUE(store.Write({{LogPositionKey(kTask), EncodeLogPosition(epoch, 0)}}).has_value());
    return true;
  }
  // A commit: `n` puts (and a delete of an earlier key) applied locally and logged.
  void Commit(int from, int n) {
    state::WriteBatch ops;
    for (int i = from; i < from + n; ++i) ops.push_back({Key(kTask, i), name + std::to_string(i)});
    if (from > 0) ops.push_back({Key(kTask, from - 1), std::nullopt});
    ++seq;
    ops.push_back({LogPositionKey(kTask), EncodeLogPosition(epoch, seq)});
    EXPECT_TRUE(store.Write(ops).has_value());
    ops.pop_back();
    last_offset = Write(CommitRecords(epoch, seq, false, ops, 64)).back().offset;
  }
  TaskRestore::Source source = TaskRestore::Source::kNone;
};

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override { cluster_->CreateTopic(kLog.topic, 6); }
  Owner MakeOwner(const std::string& name) { return Owner{cluster_, name, {}, 0, 0, -1}; }
  std::shared_ptr<MemoryCluster> cluster_ = MemoryCluster::Create();
};

TEST(ChangelogTest, RecordsRoundTripAndGarbageDoesNotDecode) {
  LogRecord claim;
  claim.type = LogRecord::Type::kClaim;
  claim.epoch = 7;
  claim.owner = "kpi-processor-1";
  EXPECT_EQ(DecodeLogRecord(EncodeLogRecord(claim)), claim);
  const state::WriteBatch ops = {{"a", "1"}, {"b", std::nullopt}, {std::string(300, 'c'), "3"}};
  const std::vector<LogRecord> parts = CommitRecords(7, 9, false, ops, 100);
  ASSERT_EQ(parts.size(), 2u);
  for (const LogRecord& r : parts) EXPECT_EQ(DecodeLogRecord(EncodeLogRecord(r)), r);
  EXPECT_EQ(CommitRecords(1, 1, true, {}, 100).size(), 1u);  // an empty snapshot still says so
  std::string bytes = EncodeLogRecord(parts[0]);
  EXPECT_FALSE(DecodeLogRecord(bytes.substr(0, bytes.size() - 1)));
  EXPECT_FALSE(DecodeLogRecord(bytes + "x"));
  EXPECT_FALSE(DecodeLogRecord("not a record"));
}

TEST(ChangelogTest, ForeignOffsetsAreTheGapsBetweenAWritersRecords) {
  const std::vector<Delivered> ours = {{{"t", 0}, 11}, {{"t", 0}, 12}, {{"t", 0}, 14}};
  EXPECT_EQ(ForeignOffsets(ours, 10), std::vector<int64_t>{13});
  EXPECT_EQ(ForeignOffsets(ours, 8), (std::vector<int64_t>{9, 10, 13}));
  EXPECT_TRUE(ForeignOffsets({{{"t", 0}, 11}}, 10).empty());
}

// The changelog's client failing (a leader in flux, as seen on a real cluster) is a Kafka failure,
// exit 4 and a restart, never a state failure (exit 3).
TEST_F(RestoreTest, AChangelogReadFailureIsAKafkaFailureNotAStateOne) {
  struct LeaderInFlux : PartitionReader {
    std::expected<int32_t, std::string> PartitionCount(const std::string&, int) override {
      return 6;
    }
    std::expected<std::pair<int64_t, int64_t>, std::string> Watermarks(const TopicPartition&,
                                                                       int) override {
      return std::unexpected("watermarks of kpi.changelog [1]: Broker: Not leader for partition");
    }
    std::expected<void, std::string> Assign(
        const std::vector<std::pair<TopicPartition, int64_t>>&) override {
      return {};
    }
    std::expected<std::optional<InRecord>, std::string> Poll(int) override { return std::nullopt; }
  } reader;
  state::MemoryStore store;
  TaskRestore restore(kLog);
  auto phase = restore.Step(reader, store, 7);
  ASSERT_FALSE(phase.has_value());
  EXPECT_EQ(phase.error().exit_code, kExitKafka) << phase.error().message;
}

TEST_F(RestoreTest, ARestoreEqualsTheOwnersState) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  EXPECT_EQ(a.source, TaskRestore::Source::kLocal);  // a new log: the local state is the start
  for (int i = 0; i < 20; ++i) a.Commit(i * 5, 5);
  Owner b = MakeOwner("b");
  ASSERT_TRUE(b.Take());
  EXPECT_EQ(b.source, TaskRestore::Source::kLog);
  EXPECT_EQ(b.epoch, 2u);
  EXPECT_EQ(TaskState(b.store), TaskState(a.store));
  EXPECT_EQ(TaskState(b.store).size(), 81u);  // 100 puts, 19 deletes
}

TEST_F(RestoreTest, AZombiesLaterRecordsAreIgnoredAndItSeesTheNewerClaim) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  a.Commit(0, 10);
  Owner b = MakeOwner("b");
  ASSERT_TRUE(b.Take());
  const std::map<std::string, std::string> taken = TaskState(b.store);
  // a has not noticed: its next commit lands after b's claim and snapshot.
  const int64_t a_before = a.last_offset;
  a.Commit(10, 10);
  const std::vector<int64_t> foreign =
      ForeignOffsets({{kLog, a.last_offset}}, a_before);  // its last part at least
  ASSERT_FALSE(foreign.empty());
  bool newer_claim = false;
  for (const StoredRecord& r : cluster_->Read(kLog, foreign.front())) {
    const auto record = DecodeLogRecord(r.value);
    if (r.offset <= foreign.back() && record && record->type == LogRecord::Type::kClaim &&
        record->epoch > a.epoch) {
      newer_claim = true;
    }
  }
  EXPECT_TRUE(newer_claim);
  // Its periodic snapshot, and a record of it landing between the parts of b's commit, count for
  // nothing either.
  auto zombie_snapshot = TaskSnapshot(a.store, kTask, a.epoch, 0, 64);
  ASSERT_TRUE(zombie_snapshot.has_value());
  a.Write(*zombie_snapshot);
  state::WriteBatch ops;
  for (int i = 100; i < 120; ++i) ops.push_back({Key(kTask, i), "b"});
  const std::vector<LogRecord> parts = CommitRecords(b.epoch, ++b.seq, false, ops, 64);
  ASSERT_GT(parts.size(), 1u);
  b.Write({parts[0]});
  a.Write({zombie_snapshot->front()});
  b.Write(std::vector<LogRecord>(parts.begin() + 1, parts.end()));
  ASSERT_TRUE(b.store.Write(ops).has_value());
  b.Commit(200, 3);
  Owner c = MakeOwner("c");
  ASSERT_TRUE(c.Take());
  EXPECT_EQ(TaskState(c.store), TaskState(b.store));
  EXPECT_NE(TaskState(c.store), taken);
}

TEST_F(RestoreTest, ACommitCutByANewerClaimDoesNotCount) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  a.Commit(0, 4);
  const std::map<std::string, std::string> before = TaskState(a.store);
  // A commit of several parts, of which only the first lands before b's claim.
  state::WriteBatch ops;
  for (int i = 50; i < 80; ++i) ops.push_back({Key(kTask, i), "x"});
  const std::vector<LogRecord> parts = CommitRecords(a.epoch, 99, false, ops, 64);
  ASSERT_GT(parts.size(), 2u);
  a.Write({parts[0]});
  Owner b = MakeOwner("b");
  ASSERT_TRUE(b.Take());
  a.Write(std::vector<LogRecord>(parts.begin() + 1, parts.end()));
  EXPECT_EQ(TaskState(b.store), before);
  Owner c = MakeOwner("c");
  ASSERT_TRUE(c.Take());
  EXPECT_EQ(TaskState(c.store), before);
}

TEST_F(RestoreTest, ADroppedHeadRestoresFromTheLastSnapshot) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  for (int i = 0; i < 10; ++i) a.Commit(i * 3, 3);
  Owner b = MakeOwner("b");
  ASSERT_TRUE(b.Take());  // claim, then b's snapshot
  for (int i = 0; i < 10; ++i) b.Commit(200 + i * 3, 3);
  // Retention drops everything before b's claim: a's history, the claim, not the snapshot.
  int64_t claim = -1;
  for (const StoredRecord& r : cluster_->Read(kLog)) {
    const auto record = DecodeLogRecord(r.value);
    if (record && record->type == LogRecord::Type::kClaim && record->epoch == b.epoch)
      claim = r.offset;
  }
  ASSERT_GE(claim, 0);
  cluster_->DropBefore(kLog, claim + 1);
  Owner c = MakeOwner("c");
  ASSERT_TRUE(c.Take());
  EXPECT_EQ(c.source, TaskRestore::Source::kLog);
  EXPECT_EQ(TaskState(c.store), TaskState(b.store));
}

TEST_F(RestoreTest, ADroppedSnapshotClearsTheTaskForARebuildFromTheInput) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  for (int i = 0; i < 10; ++i) a.Commit(i * 3, 3);
  // Retention drops the claim and part of the snapshot: only deltas remain.
  cluster_->DropBefore(kLog, 2);
  Owner b = MakeOwner("b");
  ASSERT_TRUE(b.store.Write({{Key(kTask, 999), "stale"}, {keys::OffsetKey(kTask, "marks"), "x"}})
                  .has_value());
  ASSERT_TRUE(b.store.Write({{Key(kTask + 1, 1), "another task"}}).has_value());
  ASSERT_TRUE(b.Take());
  EXPECT_EQ(b.source, TaskRestore::Source::kRebuild);
  EXPECT_TRUE(TaskState(b.store).empty());              // offsets too: the input from the start
  EXPECT_EQ(TaskState(b.store, kTask + 1).size(), 1u);  // other tasks untouched
}

TEST_F(RestoreTest, AnInstanceRegainingATaskKeepsItsLocalStateWhenNothingIsNewer) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  for (int i = 0; i < 5; ++i) a.Commit(i * 3, 3);
  ASSERT_TRUE(a.Take());  // a again (a restart): its store holds the last commit
  EXPECT_EQ(a.source, TaskRestore::Source::kLocal);
  // Someone else committed meanwhile: a's store is behind and is restored from the log.
  Owner b = MakeOwner("b");
  ASSERT_TRUE(b.Take());
  b.Commit(300, 2);
  ASSERT_TRUE(a.Take());
  EXPECT_EQ(a.source, TaskRestore::Source::kLog);
  EXPECT_EQ(TaskState(a.store), TaskState(b.store));
}

TEST_F(RestoreTest, OfTwoClaimsWithTheSameEpochTheFirstWins) {
  Owner a = MakeOwner("a");
  ASSERT_TRUE(a.Take());
  a.Commit(0, 3);
  // b and c both scan to the end, then both claim epoch 2: c's claim lands first.
  auto reader_b = cluster_->NewReader();
  TaskRestore b(kLog);
  state::MemoryStore store_b;
  while (b.phase() != TaskRestore::Phase::kClaim) ASSERT_TRUE(b.Step(*reader_b, store_b, 10));
  Owner c = MakeOwner("c");
  ASSERT_TRUE(c.Take());
  EXPECT_EQ(c.epoch, b.max_epoch() + 1);
  LogRecord claim;
  claim.type = LogRecord::Type::kClaim;
  claim.epoch = b.max_epoch() + 1;
  b.Claimed(claim.epoch, c.Write({claim}).back().offset);
  while (b.phase() == TaskRestore::Phase::kCatchUp) ASSERT_TRUE(b.Step(*reader_b, store_b, 10));
  EXPECT_EQ(b.phase(), TaskRestore::Phase::kLost);
}

}  // namespace
}  // namespace kpi::runtime
