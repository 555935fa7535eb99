#include "state/rocksdb/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

namespace kpi::state {
namespace {

// The status text names files and codes, never keys or values.
Error ToError(const rocksdb::Status& s) {
  return {s.IsCorruption() ? ErrorCode::kCorruption : ErrorCode::kIoError,
          "rocksdb: " + s.ToString()};
}

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

RocksDbStore::RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::shared_ptr<rocksdb::Cache> cache,
                           bool sync)
    : db_(std::move(db)), cache_(std::move(cache)), sync_(sync) {}

RocksDbStore::~RocksDbStore() = default;

std::expected<std::unique_ptr<RocksDbStore>, Error> RocksDbStore::Open(
    const RocksDbOptions& options) {
  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.paranoid_checks = true;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.compression = rocksdb::kLZ4Compression;
  db_options.IncreaseParallelism(2);
  // Most point reads ask for keys that do not exist yet (a new mark, a first reference): a bloom
  // filter over the memtable answers those without walking its skiplist.
  db_options.memtable_whole_key_filtering = true;
  db_options.memtable_prefix_bloom_size_ratio = 0.1;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(options.bloom_bits_per_key));
  table.cache_index_and_filter_blocks = true;  // keeps the cache bound honest
  // Partitioned: an SST's filter and index are cached as small blocks, under a top level that
  // stays pinned. A monolithic filter of a large SST (megabytes) does not fit the high-priority
  // pool of one cache shard, is evicted by data blocks, and was read from disk and checksummed
  // again on most point reads once the state passed a few million events.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.pin_top_level_index_and_filter = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = options.read_only
                                ? rocksdb::DB::OpenForReadOnly(db_options, options.path, &raw)
                                : rocksdb::DB::Open(db_options, options.path, &raw);
  if (!s.ok()) return std::unexpected(ToError(s));
  return std::unique_ptr<RocksDbStore>(
      new RocksDbStore(std::unique_ptr<rocksdb::DB>(raw), std::move(cache), options.sync));
}

std::expected<std::optional<std::string>, Error> RocksDbStore::Get(std::string_view key) {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return std::unexpected(ToError(s));
  return std::optional<std::string>(std::move(value));
}

std::expected<void, Error> RocksDbStore::Write(const WriteBatch& batch) {
  // In key order (a key written twice keeps its ops' order): the memtable's skip list then finds
  // each insert's place from the previous one's instead of searching from the top, which made the
  // inserts most of a commit's time (docs/DESIGN.md, "The commit's store write").
  std::vector<const WriteOp*> ordered;
  ordered.reserve(batch.size());
  for (const WriteOp& op : batch) ordered.push_back(&op);
  // Stable by the ops' places in the batch (std::stable_sort's buffer is deprecated in C++23).
  std::sort(ordered.begin(), ordered.end(), [](const WriteOp* x, const WriteOp* y) {
    return x->key != y->key ? x->key < y->key : x < y;
  });
  rocksdb::WriteBatch wb;
  for (const WriteOp* op : ordered) {
    const rocksdb::Status s =
        op->value ? wb.Put(ToSlice(op->key), ToSlice(*op->value)) : wb.Delete(ToSlice(op->key));
    if (!s.ok()) return std::unexpected(ToError(s));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = sync_;
  const rocksdb::Status s = db_->Write(write_options, &wb);
  if (!s.ok()) return std::unexpected(ToError(s));
  return {};
}

std::expected<void, Error> RocksDbStore::Scan(std::string_view begin, std::string_view end,
                                              const ScanVisitor& visit) {
  rocksdb::ReadOptions read_options;
  const rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) read_options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const rocksdb::Slice v = it->value();
    if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) {
      break;
    }
  }
  if (!it->status().ok()) return std::unexpected(ToError(it->status()));
  return {};
}

uint64_t RocksDbStore::IntProperty(const char* name) const {
  uint64_t value = 0;
  db_->GetIntProperty(name, &value);
  return value;
}

uint64_t RocksDbStore::EstimatedLiveBytes() const {
  return IntProperty("rocksdb.estimate-live-data-size");
}
uint64_t RocksDbStore::TotalSstBytes() const { return IntProperty("rocksdb.total-sst-files-size"); }
uint64_t RocksDbStore::BlockCacheUsage() const { return cache_->GetUsage(); }

}  // namespace kpi::state
