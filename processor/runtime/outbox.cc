#include "processor/runtime/outbox.h"

#include <algorithm>

#include "processor/coding.h"

namespace kpi::runtime {
namespace {

constexpr std::string_view kPrefix("\xff\xffX", 3);

std::string EntryKey(uint64_t seq) {
  std::string key(kPrefix);
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((seq >> shift) & 0xff));
  }
  return key;
}

std::optional<uint64_t> EntrySeq(std::string_view key) {
  if (key.size() != kPrefix.size() + 8 || !key.starts_with(kPrefix)) return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = kPrefix.size(); i < key.size(); ++i) {
    seq = (seq << 8) | static_cast<uint8_t>(key[i]);
  }
  return seq;
}

}  // namespace

std::string EncodeOutMessage(const OutMessage& m) {
  std::string out;
  coding::ByteWriter w(out);
  w.Bytes(m.topic);
  w.Bytes(m.key);
  w.Bytes(m.value);
  w.Varint(m.headers.size());
  for (const auto& [name, value] : m.headers) {
    w.Bytes(name);
    w.Bytes(value);
  }
  if (m.partition != -1 || m.task != -1 || m.tombstone) {
    w.Signed(m.partition);
    w.Signed(m.task);
    if (m.tombstone) w.Varint(1);
  }
  return out;
}

std::optional<OutMessage> DecodeOutMessage(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  OutMessage m;
  uint64_t headers = 0;
  if (!in || !in->Bytes(m.topic) || !in->Bytes(m.key) || !in->Bytes(m.value) ||
      !in->Varint(headers) || headers > bytes.size()) {
    return std::nullopt;
  }
  m.headers.resize(headers);
  for (auto& [name, value] : m.headers) {
    if (!in->Bytes(name) || !in->Bytes(value)) return std::nullopt;
  }
  if (!in->done()) {
    int64_t partition = 0;
    int64_t task = 0;
    uint64_t tombstone = 0;
    if (!in->Signed(partition) || !in->Signed(task) || partition < -1 || partition > INT32_MAX ||
        task < -1 || task > UINT16_MAX) {
      return std::nullopt;
    }
    if (!in->done() && (!in->Varint(tombstone) || tombstone != 1)) return std::nullopt;
    // The encoder leaves the defaults out.
    if (!in->done() || (partition == -1 && task == -1 && tombstone == 0)) return std::nullopt;
    m.tombstone = tombstone == 1;
    m.partition = static_cast<int32_t>(partition);
    m.task = static_cast<int32_t>(task);
  }
  return m;
}

std::vector<std::string> Outbox::Add(const std::vector<OutMessage>& messages,
                                     state::WriteBatch& batch) {
  std::vector<std::string> keys;
  keys.reserve(messages.size());
  for (const OutMessage& m : messages) {
    keys.push_back(EntryKey(next_seq_++));
    batch.push_back({keys.back(), EncodeOutMessage(m)});
  }
  return keys;
}

std::expected<Outbox::Stored, state::Error> Outbox::Load(state::StateStore& store) {
  Stored stored;
  bool bad = false;
  const std::string prefix(kPrefix);
  auto scanned = store.Scan(prefix, state::PrefixEnd(prefix),
                            [&](std::string_view key, std::string_view value) {
                              std::optional<OutMessage> m = DecodeOutMessage(value);
                              const std::optional<uint64_t> seq = EntrySeq(key);
                              if (!m || !seq) {
                                bad = true;
                                return false;
                              }
                              next_seq_ = std::max(next_seq_, *seq + 1);
                              stored.keys.emplace_back(key);
                              stored.messages.push_back(std::move(*m));
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  if (bad) return std::unexpected(state::Corruption("undecodable outbox entry"));
  return stored;
}

state::WriteBatch Outbox::Clear(std::vector<std::string> keys) {
  state::WriteBatch clear;
  clear.reserve(keys.size());
  for (std::string& key : keys) clear.push_back({std::move(key), std::nullopt});
  return clear;
}

}  // namespace kpi::runtime
