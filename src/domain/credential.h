// File: domain/credential.h
//
// Bearer secrets. A user's token and a workspace API key are both a Credential: 32 bytes from the
// CSPRNG, shown to the caller once as `nxt_<base64url>` (token) or `nxk_<base64url>` (API key),
// stored only as the SHA-256 hex of the whole secret, looked up by that hash and then compared in
// constant time. A revoked credential never authenticates again. An API key acts as the admin who
// created it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "domain/user.h"

namespace nexus::domain {

enum class CredentialKind { kToken, kApiKey };

struct Credential {
  std::string id;
  std::string organization_id;
  std::string user_id;  // the token's user, or the admin who created the API key
  CredentialKind kind = CredentialKind::kToken;
  std::string name;         // API keys only (empty for tokens)
  std::string secret_hash;  // SHA-256 hex of the secret
  absl::Time created_at;
  std::optional<absl::Time> revoked_at;
};

struct IssuedCredential {
  Credential record;
  std::string secret;  // the only copy of the plaintext secret; give it to the caller once
};

// A fresh credential for `user` (its id is a new ObjectId stamped `now`).
IssuedCredential IssueCredential(CredentialKind kind, const User& user, std::string_view name,
                                 absl::Time now);

// True when `secret` has the exact shape of an issued secret of `kind` (prefix, length,
// alphabet). Cheap check that lets garbage be refused without touching the store.
bool HasCredentialShape(CredentialKind kind, std::string_view secret);

// The value stored in Credential::secret_hash for `secret`.
std::string HashSecret(std::string_view secret);

// A new webhook signing secret for an agent (`whsec_` + 43 base64url characters).
std::string NewWebhookSecret();

// Who is calling: the user behind a valid credential.
struct Principal {
  User user;
  std::string credential_id;
  CredentialKind via = CredentialKind::kToken;
  bool IsAdmin() const { return user.role == Role::kAdmin; }
};

}  // namespace nexus::domain
