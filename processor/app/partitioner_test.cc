#include "processor/app/partitioner.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace kpi::app {
namespace {

// The Java client's own test vectors (kafka/clients UtilsTest.testMurmur2), as signed ints.
TEST(PartitionerTest, Murmur2MatchesTheJavaClient) {
  EXPECT_EQ(static_cast<int32_t>(Murmur2("21")), -973932308);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")),
            -58897971);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("abc")), 479470107);
}

TEST(PartitionerTest, Crc32IsTheIeeeChecksum) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(PartitionerTest, PartitionIsTheHashModuloThePartitionCount) {
  EXPECT_EQ(PartitionOf(Partitioner::kConsistent, "123456789", 7), 0xCBF43926u % 7);
  // -973932308 & 0x7fffffff = 1173551340
  EXPECT_EQ(PartitionOf(Partitioner::kMurmur2, "21", 12), 1173551340u % 12);
  EXPECT_EQ(PartitionOf(Partitioner::kMurmur2, "21", 1), 0u);
}

TEST(PartitionerTest, NamesAreLibrdkafkasAndShortForms) {
  EXPECT_EQ(PartitionerFromName("murmur2_random"), Partitioner::kMurmur2);
  EXPECT_EQ(PartitionerFromName("consistent"), Partitioner::kConsistent);
  EXPECT_FALSE(PartitionerFromName("random").has_value());
}

}  // namespace
}  // namespace kpi::app
