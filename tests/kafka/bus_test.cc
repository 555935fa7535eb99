// The librdkafka bus (processor/runtime/rdkafka_bus.h) against the mock broker over TCP: the sink
// reports where each message went, and the partition reader reads them back, headers included,
// with the watermarks and partition count the dead-letter read-back (publisher.h) relies on; a
// stored outbox of dead letters that a crash had already delivered is not delivered again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <set>

#include "processor/runtime/publisher.h"
#include "processor/runtime/rdkafka_bus.h"
#include "state/memory_store.h"
#include "tools/cluster/harness.h"

namespace kpi::testing {
namespace {

using runtime::OutMessage;

OutMessage DeadLetter(int64_t source_offset) {
  return {"kpi.dlq",
          "child",
          "bad bytes " + std::to_string(source_offset),
          {{"source_topic", "contacts"},
           {"source_partition", "0"},
           {"source_offset", std::to_string(source_offset)},
           {"reason", "malformed"}}};
}

TEST(RdKafkaBusTest, ProducerOffsetsReaderHeadersAndTheDeadLetterReadBack) {
  const fs::path dir = fs::temp_directory_path() / ("kpi_bus_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  MockKafka mock(dir, 1, {"contacts:2", "kpi.results:2", "kpi.dlq:2"});
  ASSERT_FALSE(mock.bootstraps().empty());
  auto bus = runtime::OpenRdKafkaBus({{"bootstrap.servers", mock.bootstraps()},
                                      {"group.id", "bus-test"},
                                      {"fetch.wait.max.ms", "20"}},
                                     {"contacts"});
  ASSERT_TRUE(bus.has_value()) << bus.error();

  // Delivery reports: the partition and offset of each message, in the order produced.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(bus->producer->Produce(DeadLetter(i), 1).has_value());
  auto delivered = bus->producer->Flush(20000);
  ASSERT_TRUE(delivered.has_value()) << delivered.error();
  ASSERT_EQ(delivered->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*delivered)[i].tp, (runtime::TopicPartition{"kpi.dlq", 1}));
    EXPECT_EQ((*delivered)[i].offset, i);
  }

  // The reader: partition count, watermarks, records with their headers from an offset.
  auto partitions = bus->reader->PartitionCount("kpi.dlq", 10000);
  ASSERT_TRUE(partitions.has_value()) << partitions.error();
  EXPECT_EQ(*partitions, 2);
  auto marks = bus->reader->Watermarks({"kpi.dlq", 1}, 10000);
  ASSERT_TRUE(marks.has_value()) << marks.error();
  EXPECT_EQ(marks->first, 0);
  EXPECT_EQ(marks->second, 5);
  ASSERT_TRUE(bus->reader->Assign({{{"kpi.dlq", 1}, 2}}).has_value());
  std::vector<int64_t> offsets;
  for (int polls = 0; polls < 200 && offsets.size() < 3; ++polls) {
    auto r = bus->reader->Poll(100);
    ASSERT_TRUE(r.has_value()) << r.error();
    if (!*r) continue;
    offsets.push_back((*r)->offset);
    EXPECT_EQ((*r)->Header("source_offset"), std::to_string((*r)->offset));
    EXPECT_EQ((*r)->Header("reason"), "malformed");
  }
  EXPECT_EQ(offsets, (std::vector<int64_t>{2, 3, 4}));

  // A stored outbox whose first three dead letters a crash had delivered (offsets 0-2 above
  // hold source offsets 0-2): only the other two are delivered again.
  state::MemoryStore store;
  runtime::Publisher publisher(store, *bus->producer, *bus->reader, "kpi.dlq", 20000);
  state::WriteBatch batch;
  const std::vector<OutMessage> outbox = {DeadLetter(0), DeadLetter(1), DeadLetter(2),
                                          DeadLetter(7), DeadLetter(8)};
  publisher.Stage(outbox, batch);
  ASSERT_TRUE(store.Write(batch).has_value());
  runtime::Publisher restarted(store, *bus->producer, *bus->reader, "kpi.dlq", 20000);
  auto stored = restarted.DeliverStored();
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  std::map<std::string, int> times;
  for (const Consumed& c : ReadTopic(mock.bootstraps(), "kpi.dlq"))
    ++times[c.headers.at("source_offset")];
  EXPECT_EQ(times, (std::map<std::string, int>{
                       {"0", 1}, {"1", 1}, {"2", 1}, {"3", 1}, {"4", 1}, {"7", 1}, {"8", 1}}));
  bus->source->Close();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kpi::testing
