// The StateStore contract, run against every implementation (typed test suite). The RocksDB
// store joins the type list when it exists.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "state/faulty_store.h"
#include "state/memory_store.h"
#include "state/rocksdb/rocksdb_store.h"
#include "tools/cluster/checked.h"

namespace kpi::state {
namespace {

template <typename T>
std::unique_ptr<StateStore> MakeStore();
template <>
std::unique_ptr<StateStore> MakeStore<MemoryStore>() {
  return std::make_unique<MemoryStore>();
}

// Each RocksDB store of the suite lives in its own temporary directory, removed with the store.
class TempRocksDb final : public StateStore {
 public:
  TempRocksDb() {
    static int n = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("kpi_contract_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::remove_all(dir_);
    RocksDbOptions options;
    options.path = dir_.string();
    options.block_cache_bytes = 8 << 20;
    store_ = kpi::testing::Checked(RocksDbStore::Open(options), "RocksDbStore::Open");
  }
  ~TempRocksDb() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::expected<std::optional<std::string>, Error> Get(std::string_view key) override {
    return store_->Get(key);
  }
  std::expected<void, Error> Write(const WriteBatch& batch) override {
    return store_->Write(batch);
  }
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const ScanVisitor& visit) override {
    return store_->Scan(begin, end, visit);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<RocksDbStore> store_;
};
template <>
std::unique_ptr<StateStore> MakeStore<TempRocksDb>() {
  return std::make_unique<TempRocksDb>();
}

// The fault-injecting store with nothing armed must be the store underneath.
class UnarmedFaultyStore final : public StateStore {
 public:
  std::expected<std::optional<std::string>, Error> Get(std::string_view key) override {
    return faulty_.Get(key);
  }
  std::expected<void, Error> Write(const WriteBatch& batch) override {
    return faulty_.Write(batch);
  }
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const ScanVisitor& visit) override {
    return faulty_.Scan(begin, end, visit);
  }

 private:
  MemoryStore inner_;
  FaultyStore faulty_{inner_};
};
template <>
std::unique_ptr<StateStore> MakeStore<UnarmedFaultyStore>() {
  return std::make_unique<UnarmedFaultyStore>();
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

using Implementations = ::testing::Types<MemoryStore, TempRocksDb, UnarmedFaultyStore>;
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
  // Keys out of order, each written several times: the last op of each key wins (RocksDbStore
  // writes a batch in key order, keeping each key's ops in theirs).
  ASSERT_TRUE(this->store_->Write({{"c", "1"},
                                   {"b", std::nullopt},
                                   {"a", "2"},
                                   {"c", std::nullopt},
                                   {"b", "5"},
                                   {"a", std::nullopt},
                                   {"a", "6"},
                                   {"c", "7"},
                                   {"b", std::nullopt}}));
  EXPECT_EQ(**this->store_->Get("a"), "6");
  EXPECT_FALSE(*this->store_->Get("b"));
  EXPECT_EQ(**this->store_->Get("c"), "7");
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

TEST(RocksDbStoreTest, CommittedBatchesSurviveReopening) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kpi_reopen_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  RocksDbOptions options;
  options.path = dir.string();
  {
    auto store = kpi::testing::Checked(RocksDbStore::Open(options), "RocksDbStore::Open");
    ASSERT_TRUE(store->Write({{"k", "v"}, {"gone", "x"}}));
    ASSERT_TRUE(store->Write({{"gone", std::nullopt}}));
  }
  {
    auto store = kpi::testing::Checked(RocksDbStore::Open(options), "RocksDbStore::Open");
    EXPECT_EQ(**store->Get("k"), "v");
    EXPECT_FALSE(*store->Get("gone"));
  }
  std::filesystem::remove_all(dir);
}

TEST(RocksDbStoreTest, OpeningAnUnusableDirectoryIsAnError) {
  RocksDbOptions options;
  options.path = "/proc/kpi-cannot-live-here";
  const auto store = RocksDbStore::Open(options);
  ASSERT_FALSE(store.has_value());
  EXPECT_FALSE(store.error().message.empty());
}

TEST(PrefixEndTest, IncrementsTheLastByteThatCanBe) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
}

}  // namespace
}  // namespace kpi::state
