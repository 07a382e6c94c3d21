#include "service/auth_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "core/crypto.h"

namespace nexus::service {
namespace {

absl::Status Unauthenticated() {
  return absl::UnauthenticatedError("missing, invalid or revoked credentials");
}

}  // namespace

absl::StatusOr<domain::Principal> AuthService::Authenticate(
    std::optional<std::string_view> authorization, std::optional<std::string_view> api_key) const {
  if (authorization.has_value()) {
    constexpr std::string_view kScheme = "bearer ";
    const std::string_view value = *authorization;
    if (value.size() <= kScheme.size() ||
        !absl::EqualsIgnoreCase(absl::string_view(value.data(), kScheme.size()),
                                absl::string_view(kScheme.data(), kScheme.size()))) {
      return Unauthenticated();
    }
    std::string_view token = value.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    return Lookup(domain::CredentialKind::kToken, token);
  }
  if (api_key.has_value()) return Lookup(domain::CredentialKind::kApiKey, *api_key);
  return Unauthenticated();
}

absl::StatusOr<domain::Principal> AuthService::Lookup(domain::CredentialKind kind,
                                                      std::string_view secret) const {
  if (!domain::HasCredentialShape(kind, secret)) return Unauthenticated();
  const std::string hash = domain::HashSecret(secret);
  auto found = store_.FindActiveCredential(hash);
  if (!found.ok()) {
    if (absl::IsNotFound(found.status())) return Unauthenticated();
    return found.status();
  }
  // The store found the row by hash; compare again without an early exit so that nothing about
  // the stored value leaks through timing, and make sure the kind matches the header used.
  if (!core::ConstantTimeEquals(found->credential.secret_hash, hash) ||
      found->credential.kind != kind || found->credential.revoked_at.has_value()) {
    return Unauthenticated();
  }
  domain::Principal principal;
  principal.user = std::move(found->user);
  principal.credential_id = found->credential.id;
  principal.via = kind;
  return principal;
}

}  // namespace nexus::service
