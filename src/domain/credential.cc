#include "domain/credential.h"

#include "core/crypto.h"
#include "core/object_id.h"

namespace nexus::domain {
namespace {

constexpr size_t kSecretBytes = 32;
constexpr size_t kEncodedLength = 43;  // base64url of 32 bytes, no padding

std::string_view PrefixFor(CredentialKind kind) {
  return kind == CredentialKind::kToken ? "nxt_" : "nxk_";
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

IssuedCredential IssueCredential(CredentialKind kind, const User& user, std::string_view name,
                                 absl::Time now) {
  IssuedCredential issued;
  issued.secret =
      std::string(PrefixFor(kind)) + core::Base64UrlEncode(core::RandomBytes(kSecretBytes));
  issued.record.id = core::NewObjectId(now);
  issued.record.organization_id = user.organization_id;
  issued.record.user_id = user.id;
  issued.record.kind = kind;
  issued.record.name = std::string(name);
  issued.record.secret_hash = HashSecret(issued.secret);
  issued.record.created_at = now;
  return issued;
}

bool HasCredentialShape(CredentialKind kind, std::string_view secret) {
  const std::string_view prefix = PrefixFor(kind);
  if (secret.size() != prefix.size() + kEncodedLength ||
      secret.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : secret.substr(prefix.size())) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return true;
}

std::string HashSecret(std::string_view secret) { return core::Sha256Hex(secret); }

std::string NewWebhookSecret() {
  return "whsec_" + core::Base64UrlEncode(core::RandomBytes(kSecretBytes));
}

}  // namespace nexus::domain
