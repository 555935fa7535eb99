// RocksDbStore: the durable StateStore, one RocksDB database per processor instance (every task's
// state in it, each task one key range: see processor/keys.h). Bloom filters for point reads, a
// bounded LRU block cache, options from configuration.
//
// Durability: each Write is one RocksDB WriteBatch through the write-ahead log. With `sync` off
// (the default) a batch survives a process crash (kill -9) but may be lost with the last moments
// of a machine crash; because the consumed offsets are in the same batch as the state, a lost
// batch only means that input is consumed again and the same rows are re-emitted. `sync` on
// fsyncs every commit.
// Thread-safety: RocksDB is thread-safe; this wrapper is used by one thread per task.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "state/state_store.h"

namespace rocksdb {
class Cache;
class DB;
}  // namespace rocksdb

namespace kpi::state {

struct RocksDbOptions {
  std::string path;
  uint64_t block_cache_bytes = 256ull << 20;
  uint64_t write_buffer_bytes = 64ull << 20;
  int bloom_bits_per_key = 10;
  bool sync = false;
  bool create_if_missing = true;
  bool read_only = false;  // operator inspection while the processor may be running
};

class RocksDbStore final : public StateStore {
 public:
  // Errors: the database cannot be opened (kIoError) or is corrupt (kCorruption).
  static std::expected<std::unique_ptr<RocksDbStore>, Error> Open(const RocksDbOptions& options);
  ~RocksDbStore() override;

  std::expected<std::optional<std::string>, Error> Get(std::string_view key) override;
  std::expected<void, Error> Write(const WriteBatch& batch) override;
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const ScanVisitor& visit) override;

  // For operators and metrics: estimated live data and on-disk size, block cache use.
  uint64_t EstimatedLiveBytes() const;
  uint64_t TotalSstBytes() const;
  uint64_t BlockCacheUsage() const;

 private:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::shared_ptr<rocksdb::Cache> cache, bool sync);
  uint64_t IntProperty(const char* name) const;

  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Cache> cache_;
  bool sync_;
};

}  // namespace kpi::state
