// File: service/idempotency.h
//
// Idempotency-Key support for the upload (SPEC §4, after Stripe): a key names one request of one
// user. A stored answer (2xx only) is replayed for the same request within 24 h; the same key
// with a different request is refused; a second request while the first is still running is
// refused. Stored answers live in the store, written in the same transaction as the batch;
// requests in flight are tracked here, in this process (one SQLite server: one process; several
// nodes on PostgreSQL will need a row lock instead). Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace nexus::service {

inline constexpr int kIdempotencyKeyMaxLength = 255;

// InvalidArgument unless `key` is 1..255 printable ASCII characters.
absl::Status ValidateIdempotencyKey(std::string_view key);

class InFlightKeys {
 public:
  // Held while a request with a key runs; releases the key when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(InFlightKeys* owner, std::string id) : owner_(owner), id_(std::move(id)) {}
    Lease(Lease&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_) {}
    Lease& operator=(Lease&& other) noexcept {
      Release();
      owner_ = std::exchange(other.owner_, nullptr);
      id_ = std::move(other.id_);
      return *this;
    }
    ~Lease() { Release(); }

   private:
    void Release();
    InFlightKeys* owner_ = nullptr;
    std::string id_;
  };

  // A lease on (user_id, key), or Aborted ("a request with this Idempotency-Key is still being
  // processed") when another request holds it.
  absl::Status TryBegin(std::string_view user_id, std::string_view key, Lease& lease);

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> running_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nexus::service
