#include "service/idempotency.h"

namespace nexus::service {

absl::Status ValidateIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > static_cast<size_t>(kIdempotencyKeyMaxLength)) {
    return absl::InvalidArgumentError("Idempotency-Key must be 1-255 printable characters");
  }
  for (char c : key) {
    if (c < 0x20 || c > 0x7E) {
      return absl::InvalidArgumentError("Idempotency-Key must be 1-255 printable characters");
    }
  }
  return absl::OkStatus();
}

void InFlightKeys::Lease::Release() {
  if (owner_ == nullptr) return;
  absl::MutexLock lock(&owner_->mu_);
  owner_->running_.erase(id_);
  owner_ = nullptr;
}

absl::Status InFlightKeys::TryBegin(std::string_view user_id, std::string_view key, Lease& lease) {
  std::string id(user_id);
  id += '\n';
  id += key;
  {
    absl::MutexLock lock(&mu_);
    if (!running_.insert(id).second) {
      return absl::AbortedError("a request with this Idempotency-Key is still being processed");
    }
  }
  lease = Lease(this, std::move(id));
  return absl::OkStatus();
}

}  // namespace nexus::service
