#include "state/write_buffer.h"

#include <gtest/gtest.h>

#include "state/memory_store.h"

namespace kpi::state {
namespace {

std::vector<std::pair<std::string, std::string>> All(WriteBuffer& buffer) {
  std::vector<std::pair<std::string, std::string>> out;
  EXPECT_TRUE(buffer.Scan("", "", [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  }));
  return out;
}

TEST(WriteBufferTest, ReadsSeeBufferedWritesBeforeTheBase) {
  MemoryStore base;
  ASSERT_TRUE(base.Write({{"a", "base"}, {"b", "base"}}));
  WriteBuffer buffer(base);
  buffer.Put("a", "new");
  buffer.Delete("b");
  EXPECT_EQ(**buffer.Get("a"), "new");
  EXPECT_FALSE(*buffer.Get("b"));
  EXPECT_EQ(**base.Get("b"), "base");  // nothing reaches the base before the commit
}

TEST(WriteBufferTest, ScanMergesBufferOverBase) {
  MemoryStore base;
  ASSERT_TRUE(base.Write({{"a", "1"}, {"c", "3"}, {"e", "5"}}));
  WriteBuffer buffer(base);
  buffer.Put("b", "2");
  buffer.Put("c", "33");
  buffer.Delete("e");
  buffer.Put("f", "6");
  EXPECT_EQ(All(buffer), (std::vector<std::pair<std::string, std::string>>{
                             {"a", "1"}, {"b", "2"}, {"c", "33"}, {"f", "6"}}));
}

TEST(WriteBufferTest, TakeBatchWritesEachKeyOnceWithItsLastValue) {
  MemoryStore base;
  WriteBuffer buffer(base);
  for (int i = 0; i < 100; ++i) buffer.Put("k", std::to_string(i));
  buffer.Put("gone", "x");
  buffer.Delete("gone");
  const WriteBatch batch = buffer.TakeBatch();
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(buffer.pending(), 0u);
  ASSERT_TRUE(base.Write(batch));
  EXPECT_EQ(**base.Get("k"), "99");
  EXPECT_FALSE(*base.Get("gone"));
}

}  // namespace
}  // namespace kpi::state

namespace kpi::state {
namespace {

TEST(WriteBufferTest, ScanStopsInsideEitherSide) {
  MemoryStore base;
  ASSERT_TRUE(base.Write({{"a", "1"}, {"c", "3"}, {"e", "5"}}));
  WriteBuffer buffer(base);
  buffer.Put("b", "2");
  buffer.Put("d", "4");
  for (int stop_after = 1; stop_after <= 5; ++stop_after) {
    int seen = 0;
    ASSERT_TRUE(buffer.Scan(
        "", "", [&](std::string_view, std::string_view) { return ++seen < stop_after; }));
    EXPECT_EQ(seen, stop_after);
  }
}

TEST(WriteBufferTest, ScanRespectsTheRangeOnBothSides) {
  MemoryStore base;
  ASSERT_TRUE(base.Write({{"a", "1"}, {"c", "3"}, {"e", "5"}}));
  WriteBuffer buffer(base);
  buffer.Put("b", "2");
  buffer.Put("f", "6");
  buffer.Delete("c");
  std::string keys;
  ASSERT_TRUE(buffer.Scan("b", "f", [&](std::string_view k, std::string_view) {
    keys += k;
    return true;
  }));
  EXPECT_EQ(keys, "be");
}

}  // namespace
}  // namespace kpi::state
