#include "store/call_index_cache.h"

namespace nexus::store {

std::shared_ptr<CallIndexCache::Entry> CallIndexCache::Get(std::string_view batch_id) {
  std::lock_guard lock(mu_);
  const absl::string_view key(batch_id.data(), batch_id.size());
  auto it = slots_.find(key);
  if (it == slots_.end()) {
    recency_.emplace_front(batch_id);
    it = slots_.emplace(key, Slot{std::make_shared<Entry>(), recency_.begin(), 0}).first;
  } else {
    recency_.splice(recency_.begin(), recency_, it->second.recency);
  }
  return it->second.entry;
}

bool CallIndexCache::Charge(std::string_view batch_id, size_t bytes) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(absl::string_view(batch_id.data(), batch_id.size()));
  if (it == slots_.end()) return bytes <= max_bytes_;
  charged_ -= it->second.bytes;
  if (bytes > max_bytes_) {
    it->second.bytes = 0;
    return false;
  }
  it->second.bytes = bytes;
  charged_ += bytes;
  // Evict from the least recently used end, never the entry just charged.
  auto victim = recency_.end();
  while (charged_ > max_bytes_ && victim != recency_.begin()) {
    --victim;
    if (*victim == batch_id) continue;
    auto slot = slots_.find(*victim);
    charged_ -= slot->second.bytes;
    slots_.erase(slot);
    victim = recency_.erase(victim);
  }
  return true;
}

void CallIndexCache::Erase(std::string_view batch_id) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(absl::string_view(batch_id.data(), batch_id.size()));
  if (it == slots_.end()) return;
  charged_ -= it->second.bytes;
  recency_.erase(it->second.recency);
  slots_.erase(it);
}

size_t CallIndexCache::charged_bytes() const {
  std::lock_guard lock(mu_);
  return charged_;
}

}  // namespace nexus::store
