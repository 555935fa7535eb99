// The StateStore contract, run against every implementation (typed test suite). The RocksDB
// store joins the type list when it exists.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "state/memory_store.h"

namespace kpi::state {
namespace {

template <typename T>
std::unique_ptr<StateStore> MakeStore();
template <>
std::unique_ptr<StateStore> MakeStore<MemoryStore>() {
  return std::make_unique<MemoryStore>();
}

template <typename T>
class StateStoreContractTest : public ::testing::Test {
 protected:
  std::unique_ptr<StateStore> store_ = MakeStore<T>();

  std::vector<std::string> Keys(std::string_view begin, std::string_view end) {
    std::vector<std::string> keys;
    EXPECT_TRUE(store_->Scan(begin, end, [&](std::string_view k, std::string_view) {
      keys.emplace_back(k);
      return true;
    }));
    return keys;
  }
};

using Implementations = ::testing::Types<MemoryStore>;
TYPED_TEST_SUITE(StateStoreContractTest, Implementations);

TYPED_TEST(StateStoreContractTest, AbsentKeyIsEmptyNotAnError) {
  auto got = this->store_->Get("missing");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->has_value());
}

TYPED_TEST(StateStoreContractTest, WriteThenGetReturnsTheValue) {
  ASSERT_TRUE(this->store_->Write({{"k", std::string("v\0x", 3)}}));
  auto got = this->store_->Get("k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, std::string("v\0x", 3));
}

TYPED_TEST(StateStoreContractTest, DeleteRemovesAndLaterOpsInABatchWin) {
  ASSERT_TRUE(this->store_->Write({{"a", "1"}, {"b", "2"}}));
  ASSERT_TRUE(this->store_->Write({{"a", std::nullopt}, {"b", "3"}, {"b", "4"}}));
  EXPECT_FALSE(*this->store_->Get("a"));
  EXPECT_EQ(**this->store_->Get("b"), "4");
}

TYPED_TEST(StateStoreContractTest, ScanVisitsTheRangeInBytewiseOrder) {
  ASSERT_TRUE(this->store_->Write({{std::string("p\xff", 2), "x"},
                                   {"pa", "x"},
                                   {"p", "x"},
                                   {std::string("p\0", 2), "x"},
                                   {"q", "x"},
                                   {"o", "x"}}));
  EXPECT_EQ(this->Keys("p", PrefixEnd("p")),
            (std::vector<std::string>{"p", std::string("p\0", 2), "pa", std::string("p\xff", 2)}));
  EXPECT_EQ(this->Keys("pa", "q"), (std::vector<std::string>{"pa", std::string("p\xff", 2)}));
}

TYPED_TEST(StateStoreContractTest, ScanStopsWhenTheVisitorSaysSo) {
  ASSERT_TRUE(this->store_->Write({{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  int seen = 0;
  ASSERT_TRUE(
      this->store_->Scan("a", "", [&](std::string_view, std::string_view) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
}

TEST(PrefixEndTest, IncrementsTheLastByteThatCanBe) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
}

}  // namespace
}  // namespace kpi::state
