#include "domain/credential.h"

#include <gtest/gtest.h>

#include "core/crypto.h"

namespace nexus::domain {
namespace {

User SomeUser() {
  User user;
  user.id = "64e5f12345abcdef12345678";
  user.organization_id = "64e5f12345abcdef00000001";
  return user;
}

TEST(Credential, IssuedTokenIsShownOnceAndOnlyItsHashIsKept) {
  const IssuedCredential issued =
      IssueCredential(CredentialKind::kToken, SomeUser(), "", absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(issued.secret.substr(0, 4), "nxt_");
  EXPECT_EQ(issued.secret.size(), 4u + 43u);  // 32 random bytes, base64url
  EXPECT_EQ(issued.record.secret_hash, core::Sha256Hex(issued.secret));
  EXPECT_EQ(issued.record.secret_hash.find(issued.secret), std::string::npos);
  EXPECT_EQ(issued.record.user_id, "64e5f12345abcdef12345678");
  EXPECT_EQ(issued.record.organization_id, "64e5f12345abcdef00000001");
  EXPECT_TRUE(HasCredentialShape(CredentialKind::kToken, issued.secret));
  EXPECT_FALSE(HasCredentialShape(CredentialKind::kApiKey, issued.secret));
}

TEST(Credential, TwoIssuedSecretsDiffer) {
  const auto a = IssueCredential(CredentialKind::kApiKey, SomeUser(), "ci", absl::UnixEpoch());
  const auto b = IssueCredential(CredentialKind::kApiKey, SomeUser(), "ci", absl::UnixEpoch());
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.record.id, b.record.id);
  EXPECT_EQ(a.secret.substr(0, 4), "nxk_");
}

TEST(Credential, ShapeCheckRefusesGarbage) {
  EXPECT_FALSE(HasCredentialShape(CredentialKind::kToken, ""));
  EXPECT_FALSE(HasCredentialShape(CredentialKind::kToken, "nxt_"));
  EXPECT_FALSE(HasCredentialShape(CredentialKind::kToken, "nxt_" + std::string(43, '*')));
  EXPECT_FALSE(HasCredentialShape(CredentialKind::kToken, "nxt_" + std::string(44, 'a')));
  EXPECT_TRUE(HasCredentialShape(CredentialKind::kToken, "nxt_" + std::string(43, 'a')));
}

TEST(Credential, WebhookSecretsAreRandom) {
  EXPECT_NE(NewWebhookSecret(), NewWebhookSecret());
  EXPECT_EQ(NewWebhookSecret().substr(0, 6), "whsec_");
}

}  // namespace
}  // namespace nexus::domain
