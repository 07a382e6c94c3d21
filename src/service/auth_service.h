// File: service/auth_service.h
//
// Turns the credentials a request carries into the Principal it acts as. Accepted:
// `Authorization: Bearer <token>` (scheme case-insensitive) and `x-api-key: <key>`. Anything else
// — missing, malformed, unknown or revoked — is Unauthenticated with one fixed message, so the
// answer reveals nothing about which check failed. Store failures stay Unavailable/Internal (the
// caller answers 503/500, not 401). Thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "domain/credential.h"
#include "store/store.h"

namespace nexus::service {

class AuthService {
 public:
  // `store` must outlive this object.
  explicit AuthService(store::Store& store) : store_(store) {}

  absl::StatusOr<domain::Principal> Authenticate(std::optional<std::string_view> authorization,
                                                 std::optional<std::string_view> api_key) const;

 private:
  absl::StatusOr<domain::Principal> Lookup(domain::CredentialKind kind,
                                           std::string_view secret) const;
  store::Store& store_;
};

}  // namespace nexus::service
