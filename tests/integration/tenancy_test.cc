// Objects of another organization are reported as 404, exactly like missing ones.
#include "api_fixture.h"

namespace nexus::testing {
namespace {

using TenancyTest = ApiTest;

TEST_F(TenancyTest, AnotherOrganizationsObjectsAre404LikeMissingOnes) {
  const std::string beta_agent = beta_["agentId"];
  const std::string beta_number = beta_["phoneNumberId"];
  const std::string beta_user = beta_["userId"];
  const std::string beta_token = beta_["tokenId"];
  const std::string missing = "64e5f12345abcdef12345678";
  struct Case {
    const char* method;
    std::string target;
    nlohmann::json body;
  };
  const std::vector<Case> cases = {
      {"PATCH", "/api/agents/" + beta_agent, {{"name", "stolen"}}},
      {"PATCH", "/api/agents/" + missing, {{"name", "stolen"}}},
      {"PATCH", "/api/phone-numbers/" + beta_number, {{"agentId", nullptr}}},
      {"PATCH", "/api/phone-numbers/" + missing, {{"agentId", nullptr}}},
      {"POST", "/api/users/" + beta_user + "/tokens", nullptr},
      {"POST", "/api/users/" + missing + "/tokens", nullptr},
      {"DELETE", "/api/tokens/" + beta_token, nullptr},
      {"DELETE", "/api/tokens/" + missing, nullptr},
      // Binding Alpha's number to Beta's agent.
      {"PATCH",
       "/api/phone-numbers/" + alpha_["phoneNumberId"].get<std::string>(),
       {{"agentId", beta_agent}}},
      {"POST", "/api/phone-numbers", {{"phoneNumber", "+14155550199"}, {"agentId", beta_agent}}},
  };
  for (const Case& c : cases) {
    HttpResponse response = Call(c.method, c.target, AlphaToken(), c.body);
    EXPECT_EQ(response.status, 404) << c.method << " " << c.target << ": " << response.body;
    EXPECT_EQ(Body(response)["success"], false);
  }
  // Nothing of Beta changed.
  HttpResponse agents = Call("GET", "/api/agents", BetaToken());
  EXPECT_EQ(Body(agents)["agents"][0]["name"], "Demo Agent");
  HttpResponse numbers = Call("GET", "/api/phone-numbers", BetaToken());
  EXPECT_EQ(Body(numbers)["phoneNumbers"][0]["agentId"], beta_agent);
  EXPECT_EQ(Call("GET", "/api/agents", BetaToken()).status, 200);  // Beta's token still works
}

TEST_F(TenancyTest, ListsShowOnlyTheCallersOrganization) {
  const auto alpha_agents = Body(Call("GET", "/api/agents", AlphaToken()))["agents"];
  ASSERT_EQ(alpha_agents.size(), 1u);
  EXPECT_EQ(alpha_agents[0]["_id"], alpha_["agentId"]);
  Call("POST", "/api/dnc", AlphaToken(), {{"numbers", {"+12125550123"}}});
  EXPECT_EQ(Body(Call("GET", "/api/dnc", BetaToken()))["total"], 0);
  EXPECT_EQ(Body(Call("GET", "/api/dnc", AlphaToken()))["total"], 1);
  // The same caller ID may exist in both organizations.
  EXPECT_EQ(
      Call("POST", "/api/phone-numbers", BetaToken(), {{"phoneNumber", "+14155550142"}}).status,
      201);
  EXPECT_EQ(
      Call("POST", "/api/phone-numbers", AlphaToken(), {{"phoneNumber", "+14155550142"}}).status,
      201);
}

}  // namespace
}  // namespace nexus::testing
