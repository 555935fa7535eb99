// The in-memory bus's consumer group: an eager rebalance, as Kafka's, never lets two members
// hold a partition at once.
#include "processor/runtime/memory_bus.h"

#include <gtest/gtest.h>

#include <set>

namespace kpi::runtime {
namespace {

// Keeps what the member holds, and fails the test when a partition is assigned that another
// member of the same tracker still holds.
struct Holdings {
  std::map<TopicPartition, int> owner;
};

class Member final : public Source::Listener {
 public:
  Member(int id, Holdings& holdings) : id_(id), holdings_(holdings) {}
  void OnAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts) override {
    for (const auto& [tp, offset] : parts) {
      EXPECT_FALSE(holdings_.owner.contains(tp))
          << tp.topic << "[" << tp.partition << "] assigned to " << id_ << " while "
          << holdings_.owner[tp] << " holds it";
      holdings_.owner[tp] = id_;
      held_.insert(tp);
    }
  }
  void OnRevoke(const std::vector<TopicPartition>& parts, bool) override {
    for (const TopicPartition& tp : parts) {
      holdings_.owner.erase(tp);
      held_.erase(tp);
    }
  }
  size_t held() const { return held_.size(); }
  // An orderly close: what the member held is released with it.
  void Close() { OnRevoke({held_.begin(), held_.end()}, false); }

 private:
  int id_;
  Holdings& holdings_;
  std::set<TopicPartition> held_;
};

TEST(MemoryBusTest, ANewMemberWaitsUntilTheOldOwnerHasGivenItsPartitionsUp) {
  auto cluster = MemoryCluster::Create();
  cluster->CreateTopic("t", 4);
  Holdings holdings;
  Member a(1, holdings);
  Member b(2, holdings);
  auto source_a = cluster->NewSource("g", {"t"});
  ASSERT_TRUE(source_a->Poll(0, a).has_value());
  EXPECT_EQ(a.held(), 4u);

  auto source_b = cluster->NewSource("g", {"t"});
  ASSERT_TRUE(source_b->Poll(0, b).has_value());
  EXPECT_EQ(b.held(), 0u) << "a still holds every partition";
  ASSERT_TRUE(source_b->Poll(0, b).has_value());
  EXPECT_EQ(b.held(), 0u);
  ASSERT_TRUE(source_a->Poll(0, a).has_value());  // a gives up all, takes its half
  EXPECT_EQ(a.held(), 2u);
  ASSERT_TRUE(source_b->Poll(0, b).has_value());
  EXPECT_EQ(b.held(), 2u);

  // A member that leaves gives its share up at once; its partitions go back to a.
  b.Close();
  source_b.reset();
  ASSERT_TRUE(source_a->Poll(0, a).has_value());
  EXPECT_EQ(a.held(), 4u);
}

TEST(MemoryBusTest, AnExpiredMemberIsOutOfTheGroupAtOnce) {
  auto cluster = MemoryCluster::Create();
  cluster->CreateTopic("t", 2);
  Holdings holdings;
  Member a(1, holdings);
  Member b(2, holdings);
  auto source_a = cluster->NewSource("g", {"t"});
  ASSERT_TRUE(source_a->Poll(0, a).has_value());
  // a's session ends (a paused past it): b gets everything without waiting for a, and a learns
  // it lost its partitions at its next poll. (The holdings overlap here, as with a real broker
  // and a zombie: the runtime's fencing is what keeps the zombie from publishing.)
  cluster->ExpireMember("g", 1);
  holdings.owner.clear();
  auto source_b = cluster->NewSource("g", {"t"});
  ASSERT_TRUE(source_b->Poll(0, b).has_value());
  EXPECT_EQ(b.held(), 2u);
}

}  // namespace
}  // namespace kpi::runtime
