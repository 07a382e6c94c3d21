#include "service/auth_service.h"

#include <gtest/gtest.h>

#include "service/service_test_support.h"
#include "service/workspace_service.h"

namespace nexus::service {
namespace {

TEST(AuthService, BearerTokenResolvesToItsUser) {
  auto ws = TestWorkspace::Make();
  AuthService auth(*ws->store);
  const std::string header = "Bearer " + ws->init.token;
  auto principal = auth.Authenticate(header, std::nullopt);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->user.id, ws->init.admin.id);
  EXPECT_TRUE(principal->IsAdmin());
  EXPECT_EQ(principal->credential_id, ws->init.token_id);
}

TEST(AuthService, EveryBadCredentialIsTheSameUnauthenticated) {
  auto ws = TestWorkspace::Make();
  AuthService auth(*ws->store);
  const std::string token = ws->init.token;
  const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>> cases = {
      {std::nullopt, std::nullopt},
      {"Bearer", std::nullopt},
      {"Bearer ", std::nullopt},
      {"Token " + token, std::nullopt},
      {"Bearer " + token.substr(0, token.size() - 1), std::nullopt},
      {"Bearer nxt_" + std::string(43, 'a'), std::nullopt},
      {std::nullopt, token},  // a token in the API-key header
  };
  for (const auto& [authorization, api_key] : cases) {
    std::optional<std::string_view> a, k;
    if (authorization) a = *authorization;
    if (api_key) k = *api_key;
    auto result = auth.Authenticate(a, k);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated)
        << authorization.value_or("-") << " / " << api_key.value_or("-");
    EXPECT_EQ(result.status().message(), "missing, invalid or revoked credentials");
  }
}

TEST(AuthService, RevokedTokenNoLongerAuthenticates) {
  auto ws = TestWorkspace::Make();
  AuthService auth(*ws->store);
  const std::string header = "Bearer " + ws->init.token;
  ASSERT_TRUE(ws->store
                  ->RevokeCredential(ws->init.organization.id, ws->init.token_id,
                                     domain::CredentialKind::kToken, ws->clock.Now())
                  .ok());
  EXPECT_EQ(auth.Authenticate(header, std::nullopt).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AuthService, ApiKeyActsAsItsCreator) {
  auto ws = TestWorkspace::Make();
  WorkspaceService workspace(*ws->store, ws->clock);
  auto key = workspace.CreateApiKey(ws->Admin(), "crm");
  ASSERT_TRUE(key.ok());
  AuthService auth(*ws->store);
  auto principal = auth.Authenticate(std::nullopt, key->secret);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->user.id, ws->init.admin.id);
  EXPECT_EQ(principal->via, domain::CredentialKind::kApiKey);
  // The key is not a bearer token.
  EXPECT_FALSE(auth.Authenticate("Bearer " + key->secret, std::nullopt).ok());
}

}  // namespace
}  // namespace nexus::service
