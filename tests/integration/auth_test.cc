// Authentication and roles: 401 for every kind of bad credential, 403 for members on admin
// routes, API keys acting as their creator.
#include "api_fixture.h"

namespace nexus::testing {
namespace {

using AuthTest = ApiTest;

TEST_F(AuthTest, MissingMalformedUnknownAndWrongSchemeCredentialsAre401) {
  const std::string well_shaped_unknown = "nxt_" + std::string(43, 'A');
  const std::vector<HttpHeaders> cases = {
      {},
      {{"Authorization", "Bearer "}},
      {{"Authorization", "Bearer garbage"}},
      {{"Authorization", "Basic " + AlphaToken()}},
      {{"Authorization", AlphaToken()}},
      {{"Authorization", "Bearer " + well_shaped_unknown}},
      {{"Authorization", "Bearer " + AlphaToken() + "x"}},
      {{"x-api-key", AlphaToken()}},  // a token is not an API key
      {{"x-api-key", "nxk_" + std::string(43, 'B')}},
  };
  for (const HttpHeaders& headers : cases) {
    HttpResponse response = Request(server_->port(), "GET", "/api/agents", headers);
    EXPECT_EQ(response.status, 401) << (headers.empty() ? "none" : headers[0].second);
    EXPECT_EQ(response.Header("www-authenticate"), "Bearer");
    EXPECT_EQ(Body(response)["success"], false);
    EXPECT_EQ(Body(response)["message"], "missing, invalid or revoked credentials");
  }
}

TEST_F(AuthTest, BearerSchemeIsCaseInsensitive) {
  HttpResponse response =
      Request(server_->port(), "GET", "/api/agents", {{"Authorization", "bearer " + AlphaToken()}});
  EXPECT_EQ(response.status, 200);
}

TEST_F(AuthTest, RevokedTokenAnswers401FromThenOn) {
  const auto user = CreateAlphaUser("ops@alpha.test", "admin");
  EXPECT_EQ(Call("GET", "/api/agents", user["token"]).status, 200);
  HttpResponse revoke =
      Call("DELETE", "/api/tokens/" + user["tokenId"].get<std::string>(), AlphaToken());
  ASSERT_EQ(revoke.status, 200) << revoke.body;
  EXPECT_EQ(Body(revoke), nlohmann::json({{"success", true}}));
  EXPECT_EQ(Call("GET", "/api/agents", user["token"]).status, 401);
  // The admin's own token is untouched.
  EXPECT_EQ(Call("GET", "/api/agents", AlphaToken()).status, 200);
}

TEST_F(AuthTest, MemberGets403OnAdminRoutesAnd200OnMemberRoutes) {
  const auto member = CreateAlphaUser("viewer@alpha.test", "member");
  const std::string token = member["token"];
  EXPECT_EQ(Call("GET", "/api/agents", token).status, 200);
  EXPECT_EQ(Call("GET", "/api/phone-numbers", token).status, 200);
  EXPECT_EQ(Call("GET", "/api/organization", token).status, 200);
  struct Case {
    const char* method;
    std::string target;
    nlohmann::json body;
  };
  const std::vector<Case> admin_routes = {
      {"PATCH", "/api/organization", {{"name", "x"}}},
      {"POST", "/api/agents", {{"name", "x"}}},
      {"PATCH", "/api/agents/" + alpha_["agentId"].get<std::string>(), {{"name", "x"}}},
      {"POST", "/api/phone-numbers", {{"phoneNumber", "+14155550101"}}},
      {"PATCH",
       "/api/phone-numbers/" + alpha_["phoneNumberId"].get<std::string>(),
       {{"agentId", nullptr}}},
      {"POST", "/api/users", {{"email", "a@b.co"}, {"name", "n"}, {"role", "admin"}}},
      {"POST", "/api/users/" + member["userId"].get<std::string>() + "/tokens", nullptr},
      {"POST", "/api/api-keys", {{"name", "k"}}},
      {"DELETE", "/api/api-keys/64e5f12345abcdef12345678", nullptr},
      {"POST", "/api/dnc", {{"numbers", {"+12125550123"}}}},
      {"GET", "/api/dnc", nullptr},
      {"DELETE", "/api/dnc/%2B12125550123", nullptr},
  };
  for (const Case& c : admin_routes) {
    HttpResponse response = Call(c.method, c.target, token, c.body);
    EXPECT_EQ(response.status, 403) << c.method << " " << c.target << " " << response.body;
    EXPECT_EQ(Body(response)["success"], false);
  }
}

TEST_F(AuthTest, MemberMayRevokeOnlyTheirOwnTokens) {
  const auto member = CreateAlphaUser("m1@alpha.test", "member");
  const auto other = CreateAlphaUser("m2@alpha.test", "member");
  EXPECT_EQ(
      Call("DELETE", "/api/tokens/" + other["tokenId"].get<std::string>(), member["token"]).status,
      404);
  EXPECT_EQ(Call("GET", "/api/agents", other["token"]).status, 200);
  EXPECT_EQ(
      Call("DELETE", "/api/tokens/" + member["tokenId"].get<std::string>(), member["token"]).status,
      200);
  EXPECT_EQ(Call("GET", "/api/agents", member["token"]).status, 401);
}

TEST_F(AuthTest, ApiKeyActsAsItsCreatorUntilDeleted) {
  HttpResponse created = Call("POST", "/api/api-keys", AlphaToken(), {{"name", "crm sync"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string key = Body(created)["apiKey"];
  const std::string key_id = Body(created)["apiKeyId"];
  EXPECT_EQ(key.rfind("nxk_", 0), 0u);

  HttpResponse agents = Request(server_->port(), "GET", "/api/agents", {{"x-api-key", key}});
  EXPECT_EQ(agents.status, 200);
  HttpResponse admin_action =
      Request(server_->port(), "POST", "/api/agents",
              {{"x-api-key", key}, {"Content-Type", "application/json"}}, R"({"name":"Via key"})");
  EXPECT_EQ(admin_action.status, 201) << admin_action.body;

  EXPECT_EQ(Call("DELETE", "/api/api-keys/" + key_id, AlphaToken()).status, 200);
  EXPECT_EQ(Request(server_->port(), "GET", "/api/agents", {{"x-api-key", key}}).status, 401);
  // Beta cannot delete Alpha's keys.
  HttpResponse again = Call("POST", "/api/api-keys", AlphaToken(), {{"name", "second"}});
  EXPECT_EQ(
      Call("DELETE", "/api/api-keys/" + Body(again)["apiKeyId"].get<std::string>(), BetaToken())
          .status,
      404);
}

TEST_F(AuthTest, TokensNeverAppearInTheLog) {
  Call("GET", "/api/agents", AlphaToken());
  Call("GET", "/api/agents", "nxt_" + std::string(43, 'Z'), nullptr, {{"X-Request-Id", "last"}});
  const std::string log = server_->WaitForLog("\"request_id\":\"last\"");
  EXPECT_EQ(log.find(AlphaToken()), std::string::npos);
  EXPECT_EQ(log.find(std::string(43, 'Z')), std::string::npos);
  EXPECT_NE(log.find("\"route\":\"/api/agents\""), std::string::npos);
}

}  // namespace
}  // namespace nexus::testing
