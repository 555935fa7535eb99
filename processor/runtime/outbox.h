// The outbox of `run` over the StateStore (docs/DESIGN.md, "Commit and recovery"): the rows and
// dead letters of a commit are written in the commit's own atomic batch, produced after it, and
// deleted once delivered; whatever a crash leaves is read back and delivered at the next start.
// Entries live outside every task's key range: \xff\xff X, then an 8-byte big-endian sequence
// number, so a scan returns them in the order they were written.
// Thread-safety: none; used from the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/state_store.h"

namespace kpi::runtime {

struct OutMessage {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int32_t partition = -1;  // -1: the producer's partitioner chooses by key
  // Scaled out: the task whose changelog records must be found valid (not fenced) before this
  // message is published; -1: none.
  int32_t task = -1;
  // A tombstone: the key with no value (null, not empty), which a compacted topic and a sink's
  // delete mode take as the key's deletion (output.tombstones).
  bool tombstone = false;
  bool operator==(const OutMessage&) const = default;
};

// An outbox entry (coding.h): topic, key, value, then the header count and each header's name and
// value, then (when either is set, or a tombstone) the partition and the task, zigzag, then (a
// tombstone only) the flag 1. Entries written before those fields existed decode with -1, -1 and
// no tombstone. nullopt: not an entry this codec wrote
// (corruption).
std::string EncodeOutMessage(const OutMessage& m);
std::optional<OutMessage> DecodeOutMessage(std::string_view bytes);

class Outbox {
 public:
  // Puts `messages` into `batch` under the next sequence numbers; returns their keys.
  std::vector<std::string> Add(const std::vector<OutMessage>& messages, state::WriteBatch& batch);
  // What a crash left, in the order it was written, with the keys; later entries continue the
  // sequence after it. Errors: a failed read, or an entry that does not decode (corruption).
  struct Stored {
    std::vector<std::string> keys;
    std::vector<OutMessage> messages;
  };
  std::expected<Stored, state::Error> Load(state::StateStore& store);
  // The batch that deletes delivered entries.
  static state::WriteBatch Clear(std::vector<std::string> keys);

 private:
  uint64_t next_seq_ = 0;
};

}  // namespace kpi::runtime
