// The outbox over a memory store: entries round-trip in the order written, a restart continues
// the sequence after what a crash left, delivered entries are cleared, and a corrupt entry is an
// error, never skipped.
#include "processor/runtime/outbox.h"

#include <gtest/gtest.h>

#include "state/memory_store.h"

namespace kpi::runtime {
namespace {

OutMessage Message(int i) {
  return {"kpi.results",
          "contacts|2026-03-02|all",
          "value " + std::to_string(i),
          {{"kpi-source-topic", "contacts"}, {"kpi-reason", std::string("\0x", 2)}}};
}

TEST(OutboxTest, EntriesRoundTripInTheOrderWrittenAcrossARestart) {
  state::MemoryStore store;
  Outbox first;
  std::vector<OutMessage> written;
  for (int i = 0; i < 300; ++i) written.push_back(Message(i));  // past one byte of sequence
  state::WriteBatch batch;
  const std::vector<std::string> keys = first.Add(written, batch);
  ASSERT_EQ(keys.size(), 300u);
  ASSERT_TRUE(store.Write(batch).has_value());

  Outbox restarted;  // a crash before delivery: the next start reads them back
  auto stored = restarted.Load(store);
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  EXPECT_EQ(stored->keys, keys);
  EXPECT_EQ(stored->messages, written);
  // New entries continue after the stored ones, so they sort after them.
  state::WriteBatch next;
  const std::vector<std::string> later = restarted.Add({Message(300)}, next);
  EXPECT_GT(later.front(), keys.back());
  // Delivered: cleared.
  ASSERT_TRUE(store.Write(Outbox::Clear(stored->keys)).has_value());
  ASSERT_TRUE(store.Write(next).has_value());
  auto rest = Outbox().Load(store);
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->messages, std::vector<OutMessage>{Message(300)});
}

TEST(OutboxTest, ACorruptEntryIsAnErrorNotASkippedMessage) {
  state::MemoryStore store;
  Outbox outbox;
  state::WriteBatch batch;
  const std::vector<std::string> keys = outbox.Add({Message(1), Message(2)}, batch);
  batch.back().value = std::string("\x04\x05", 2);  // a length past the end
  ASSERT_TRUE(store.Write(batch).has_value());
  auto loaded = Outbox().Load(store);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code, state::ErrorCode::kCorruption);
  EXPECT_FALSE(DecodeOutMessage(EncodeOutMessage(Message(1)) + "x").has_value());
  EXPECT_EQ(DecodeOutMessage(EncodeOutMessage(Message(7))), Message(7));
}

TEST(OutboxTest, PartitionAndTaskRoundTripAndOlderEntriesHaveNeither) {
  OutMessage m = Message(3);
  const std::string older = EncodeOutMessage(m);  // as entries were written before the fields
  m.partition = 5;
  m.task = 5;
  EXPECT_EQ(DecodeOutMessage(EncodeOutMessage(m)), m);
  EXPECT_GT(EncodeOutMessage(m).size(), older.size());
  const std::optional<OutMessage> decoded = DecodeOutMessage(older);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->partition, -1);
  EXPECT_EQ(decoded->task, -1);
  m.task = -7;
  EXPECT_FALSE(DecodeOutMessage(EncodeOutMessage(m)).has_value());
}

TEST(OutboxTest, ATombstoneStaysATombstoneThroughACrash) {
  OutMessage m{"kpi.results", "contacts|2026-03-02|all", "", {}};
  m.tombstone = true;
  const std::optional<OutMessage> alone = DecodeOutMessage(EncodeOutMessage(m));
  ASSERT_TRUE(alone.has_value());
  EXPECT_TRUE(alone->tombstone);
  EXPECT_EQ(alone->partition, -1);
  m.task = 3;
  EXPECT_EQ(DecodeOutMessage(EncodeOutMessage(m)), m);
  m.tombstone = false;
  EXPECT_FALSE(DecodeOutMessage(EncodeOutMessage(m))->tombstone);
  // A flag this codec does not write is corruption.
  EXPECT_FALSE(DecodeOutMessage(EncodeOutMessage(m) + std::string("\x02", 1)).has_value());
}

}  // namespace
}  // namespace kpi::runtime
