// kafka_real_test: the suites that run on both brokers, against a real Apache Kafka (harness.h,
// TestCluster): KPITEST_BROKER=kafka unless the environment says otherwise.
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  ::setenv("KPITEST_BROKER", "kafka", /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
