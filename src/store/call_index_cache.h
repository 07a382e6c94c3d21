// File: store/call_index_cache.h
//
// The CallIndexes a store keeps, one per batch, within a memory limit: the least recently used
// batch's index goes first. An entry is shared: a query holds it, and locks its mutex while it
// builds, refreshes or reads the index, so an entry evicted meanwhile stays valid until that
// query lets go of it. Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "store/call_index.h"

namespace nexus::store {

class CallIndexCache {
 public:
  struct Entry {
    std::mutex mu;
    std::optional<CallIndex> index;  // guarded by mu; nullopt until built
    // Guarded by mu: the batch cannot be indexed (the builder refused a call, or the index is
    // larger than the whole cache), so its queries go to the database.
    bool unindexable = false;
    // A background build has been asked for (so it is asked for once).
    std::atomic<bool> warm_scheduled = false;
  };

  explicit CallIndexCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  size_t max_bytes() const { return max_bytes_; }

  // The entry of `batch_id`, created empty if missing, now the most recently used.
  std::shared_ptr<Entry> Get(std::string_view batch_id);

  // Records that the entry of `batch_id` holds `bytes`, then evicts least recently used entries
  // until the total fits. False when `bytes` alone exceeds the limit: the caller should drop the
  // index and mark the entry unindexable.
  bool Charge(std::string_view batch_id, size_t bytes);

  // Forgets `batch_id` (a deleted batch).
  void Erase(std::string_view batch_id);

  // Bytes charged in total (for tests and metrics).
  size_t charged_bytes() const;

 private:
  struct Slot {
    std::shared_ptr<Entry> entry;
    std::list<std::string>::iterator recency;  // position in recency_
    size_t bytes = 0;
  };

  const size_t max_bytes_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Slot> slots_;  // guarded by mu_
  std::list<std::string> recency_;                // guarded by mu_; most recent first
  size_t charged_ = 0;                            // guarded by mu_
};

}  // namespace nexus::store
