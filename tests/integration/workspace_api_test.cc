// The workspace API of SPEC §6: happy paths, and a 400 naming the field for each invalid input.
#include <gmock/gmock.h>

#include "api_fixture.h"

namespace nexus::testing {
namespace {

using ::testing::HasSubstr;
using WorkspaceApiTest = ApiTest;

struct InvalidCase {
  const char* method;
  std::string target;
  std::string raw_body;  // sent as is
  std::string field;     // the message must name it
};

void ExpectAll400(const ApiTest& test, uint16_t port, const std::string& token,
                  const std::vector<InvalidCase>& cases) {
  for (const InvalidCase& c : cases) {
    HttpResponse response = Request(
        port, c.method, c.target,
        {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}}, c.raw_body);
    EXPECT_EQ(response.status, 400)
        << c.method << " " << c.target << " " << c.raw_body << " → " << response.body;
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    EXPECT_EQ(body["success"], false) << c.raw_body;
    EXPECT_THAT(body["message"].get<std::string>(), HasSubstr(c.field)) << c.raw_body;
  }
  (void)test;
}

TEST_F(WorkspaceApiTest, OrganizationSettingsReadAndChange) {
  HttpResponse got = Call("GET", "/api/organization", AlphaToken());
  ASSERT_EQ(got.status, 200);
  auto org = Body(got)["organization"];
  EXPECT_EQ(org["_id"], alpha_["organizationId"]);
  EXPECT_EQ(org["name"], "Alpha");
  EXPECT_EQ(org["timezone"], "UTC");
  EXPECT_EQ(org["defaultCountry"], "US");
  EXPECT_EQ(org["legalWindow"], nlohmann::json({{"start", "08:00"}, {"end", "21:00"}}));

  HttpResponse patched = Call("PATCH", "/api/organization", AlphaToken(),
                              {{"name", " Alpha Calls "},
                               {"timezone", "Europe/London"},
                               {"defaultCountry", "gb"},
                               {"legalWindow", {{"start", "09:00"}, {"end", "20:00"}}}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  org = Body(patched)["organization"];
  EXPECT_EQ(org["name"], "Alpha Calls");
  EXPECT_EQ(org["timezone"], "Europe/London");
  EXPECT_EQ(org["defaultCountry"], "GB");
  EXPECT_EQ(org["legalWindow"]["start"], "09:00");

  HttpResponse off = Call("PATCH", "/api/organization", AlphaToken(), {{"legalWindow", nullptr}});
  EXPECT_TRUE(Body(off)["organization"]["legalWindow"].is_null());
  EXPECT_EQ(Body(Call("GET", "/api/organization", AlphaToken()))["organization"]["timezone"],
            "Europe/London");
}

TEST_F(WorkspaceApiTest, OrganizationInvalidFieldsAre400AndChangeNothing) {
  ExpectAll400(*this, server_->port(), AlphaToken(),
               {
                   {"PATCH", "/api/organization", "not json", "JSON"},
                   {"PATCH", "/api/organization", "[1,2]", "JSON object"},
                   {"PATCH", "/api/organization", R"({"name": ""})", "name"},
                   {"PATCH", "/api/organization", R"({"name": 5})", "name"},
                   {"PATCH", "/api/organization", R"({"timezone": "Mars/Base"})", "timezone"},
                   {"PATCH", "/api/organization", R"({"timezone": null})", "timezone"},
                   {"PATCH", "/api/organization", R"({"defaultCountry": "ZZ"})", "defaultCountry"},
                   {"PATCH", "/api/organization", R"({"defaultCountry": "USA"})", "defaultCountry"},
                   {"PATCH", "/api/organization", R"({"legalWindow": "8-21"})", "legalWindow"},
                   {"PATCH", "/api/organization", R"({"legalWindow": {"start": "08:00"}})",
                    "legalWindow.end"},
                   {"PATCH", "/api/organization",
                    R"({"legalWindow": {"start": "8am", "end": "21:00"}})", "legalWindow.start"},
                   {"PATCH", "/api/organization",
                    R"({"legalWindow": {"start": "09:00", "end": "09:00"}})", "legalWindow"},
                   {"PATCH", "/api/organization",
                    R"({"name": "Renamed", "timezone": "Nowhere/Land"})", "timezone"},
               });
  EXPECT_EQ(Body(Call("GET", "/api/organization", AlphaToken()))["organization"]["name"], "Alpha");
}

TEST_F(WorkspaceApiTest, AgentsCreateListAndPatch) {
  HttpResponse created = Call("POST", "/api/agents", AlphaToken(),
                              {{"name", "Collections"},
                               {"language", "es-MX"},
                               {"variables",
                                {{{"key", "amount_due"}, {"required", true}, {"type", "number"}},
                                 {{"key", "due_date"}, {"type", "date"}}}},
                               {"dispatchUrl", "https://runtime.example.com/calls"}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto agent = Body(created)["agent"];
  EXPECT_EQ(agent["name"], "Collections");
  EXPECT_EQ(agent["language"], "es-MX");
  EXPECT_EQ(agent["variables"][1],
            nlohmann::json({{"key", "due_date"}, {"required", false}, {"type", "date"}}));
  EXPECT_EQ(agent["webhookSecret"].get<std::string>().rfind("whsec_", 0), 0u);
  EXPECT_EQ(agent["createdAt"].get<std::string>().size(), 24u);
  const std::string id = agent["_id"];

  HttpResponse patched = Call("PATCH", "/api/agents/" + id, AlphaToken(),
                              {{"language", nullptr}, {"dispatchUrl", nullptr}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_TRUE(Body(patched)["agent"]["language"].is_null());
  EXPECT_EQ(Body(patched)["agent"]["name"], "Collections");
  EXPECT_EQ(Body(patched)["agent"]["variables"].size(), 2u);

  const auto agents = Body(Call("GET", "/api/agents", AlphaToken()))["agents"];
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_EQ(agents[1]["_id"], id);
  EXPECT_FALSE(agents[1].contains("webhookSecret"));

  HttpResponse minimal = Call("POST", "/api/agents", AlphaToken(), {{"name", "Bare"}});
  ASSERT_EQ(minimal.status, 201);
  EXPECT_TRUE(Body(minimal)["agent"]["language"].is_null());
  EXPECT_EQ(Body(minimal)["agent"]["variables"], nlohmann::json::array());
}

TEST_F(WorkspaceApiTest, AgentInvalidFieldsAre400NamingTheField) {
  const std::string agent = "/api/agents/" + alpha_["agentId"].get<std::string>();
  ExpectAll400(
      *this, server_->port(), AlphaToken(),
      {
          {"POST", "/api/agents", "{}", "name"},
          {"POST", "/api/agents", R"({"name": "  "})", "name"},
          {"POST", "/api/agents", R"({"name": ["x"]})", "name"},
          {"POST", "/api/agents", R"({"name": "A", "language": "english"})", "language"},
          {"POST", "/api/agents", R"({"name": "A", "language": 7})", "language"},
          {"POST", "/api/agents", R"({"name": "A", "dispatchUrl": "ftp://x"})", "dispatchUrl"},
          {"POST", "/api/agents", R"({"name": "A", "variables": {}})", "variables"},
          {"POST", "/api/agents", R"({"name": "A", "variables": ["x"]})", "variables[0]"},
          {"POST", "/api/agents", R"({"name": "A", "variables": [{"required": true}]})",
           "variables[0].key"},
          {"POST", "/api/agents", R"({"name": "A", "variables": [{"key": "a b"}]})",
           "variables[0].key"},
          {"POST", "/api/agents",
           R"({"name": "A", "variables": [{"key": "x", "type": "datetime"}]})",
           "variables[0].type"},
          {"POST", "/api/agents",
           R"({"name": "A", "variables": [{"key": "x", "required": "yes"}]})",
           "variables[0].required"},
          {"POST", "/api/agents",
           R"({"name": "A", "variables": [{"key": "acct"}, {"key": "ACCT"}]})", "variables[1].key"},
          {"POST", "/api/agents", R"({"name": "A", "variables": [{"key": "phoneNumber"}]})",
           "variables[0].key"},
          {"PATCH", agent, R"({"name": ""})", "name"},
          {"PATCH", agent, R"({"language": "e"})", "language"},
          {"PATCH", "/api/agents/not-an-id", R"({"name": "x"})", "agent ID"},
      });
  EXPECT_EQ(Body(Call("GET", "/api/agents", AlphaToken()))["agents"].size(), 1u);
}

TEST_F(WorkspaceApiTest, PhoneNumbersAreNormalisedUniqueAndBindable) {
  HttpResponse created =
      Call("POST", "/api/phone-numbers", AlphaToken(), {{"phoneNumber", "(212) 555-0123"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto number = Body(created)["phoneNumber"];
  EXPECT_EQ(number["phoneNumber"], "+12125550123");
  EXPECT_TRUE(number["agentId"].is_null());
  const std::string id = number["_id"];

  HttpResponse duplicate =
      Call("POST", "/api/phone-numbers", AlphaToken(), {{"phoneNumber", "+1 212 555 0123"}});
  EXPECT_EQ(duplicate.status, 409);
  EXPECT_THAT(Body(duplicate)["message"].get<std::string>(), HasSubstr("phoneNumber"));

  HttpResponse bound =
      Call("PATCH", "/api/phone-numbers/" + id, AlphaToken(), {{"agentId", alpha_["agentId"]}});
  ASSERT_EQ(bound.status, 200) << bound.body;
  EXPECT_EQ(Body(bound)["phoneNumber"]["agentId"], alpha_["agentId"]);
  HttpResponse unbound =
      Call("PATCH", "/api/phone-numbers/" + id, AlphaToken(), {{"agentId", nullptr}});
  EXPECT_TRUE(Body(unbound)["phoneNumber"]["agentId"].is_null());
  EXPECT_EQ(Body(Call("GET", "/api/phone-numbers", AlphaToken()))["phoneNumbers"].size(), 2u);
}

TEST_F(WorkspaceApiTest, PhoneNumberInvalidFieldsAre400NamingTheField) {
  const std::string number = "/api/phone-numbers/" + alpha_["phoneNumberId"].get<std::string>();
  ExpectAll400(*this, server_->port(), AlphaToken(),
               {
                   {"POST", "/api/phone-numbers", "{}", "phoneNumber"},
                   {"POST", "/api/phone-numbers", R"({"phoneNumber": 4155550100})", "phoneNumber"},
                   {"POST", "/api/phone-numbers", R"({"phoneNumber": "12"})", "phoneNumber"},
                   {"POST", "/api/phone-numbers",
                    R"({"phoneNumber": "+14155550111", "agentId": "xyz"})", "agentId"},
                   {"POST", "/api/phone-numbers",
                    R"({"phoneNumber": "+14155550111", "agentId": 12})", "agentId"},
                   {"PATCH", number, "{}", "agentId"},
                   {"PATCH", number, R"({"agentId": "nope"})", "agentId"},
               });
}

TEST_F(WorkspaceApiTest, UsersAndTokens) {
  HttpResponse created =
      Call("POST", "/api/users", AlphaToken(),
           {{"email", "Agent.Smith@Example.COM"}, {"name", "Agent Smith"}, {"role", "member"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto user = Body(created)["user"];
  EXPECT_EQ(user["email"], "agent.smith@example.com");
  EXPECT_EQ(user["role"], "member");
  HttpResponse again =
      Call("POST", "/api/users", AlphaToken(),
           {{"email", "agent.smith@example.com"}, {"name", "Dup"}, {"role", "admin"}});
  EXPECT_EQ(again.status, 409);
  EXPECT_THAT(Body(again)["message"].get<std::string>(), HasSubstr("email"));

  HttpResponse token =
      Call("POST", "/api/users/" + user["_id"].get<std::string>() + "/tokens", AlphaToken());
  ASSERT_EQ(token.status, 201);
  EXPECT_EQ(Body(token)["token"].get<std::string>().rfind("nxt_", 0), 0u);
  EXPECT_EQ(Call("GET", "/api/agents", Body(token)["token"]).status, 200);

  ExpectAll400(
      *this, server_->port(), AlphaToken(),
      {
          {"POST", "/api/users", R"({"name": "n", "role": "admin"})", "email"},
          {"POST", "/api/users", R"({"email": "nope", "name": "n", "role": "admin"})", "email"},
          {"POST", "/api/users", R"({"email": "a@b.co", "role": "admin"})", "name"},
          {"POST", "/api/users", R"({"email": "a@b.co", "name": "", "role": "admin"})", "name"},
          {"POST", "/api/users", R"({"email": "a@b.co", "name": "n", "role": "owner"})", "role"},
          {"POST", "/api/users", R"({"email": "a@b.co", "name": "n"})", "role"},
          {"POST", "/api/users/12345/tokens", "", "user ID"},
          {"DELETE", "/api/tokens/zzz", "", "token ID"},
          {"POST", "/api/api-keys", "{}", "name"},
          {"POST", "/api/api-keys", R"({"name": ""})", "name"},
          {"DELETE", "/api/api-keys/123", "", "API key ID"},
      });
}

TEST_F(WorkspaceApiTest, DncListAddListAndDelete) {
  HttpResponse added =
      Call("POST", "/api/dnc", AlphaToken(),
           {{"numbers", {"(212) 555-0123", "+12125550123", "+1 415 555 0199", "12", "hello"}}});
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(Body(added)["added"], 2);
  EXPECT_EQ(Body(added)["invalid"], nlohmann::json({"12", "hello"}));

  HttpResponse again = Call("POST", "/api/dnc", AlphaToken(), {{"numbers", {"2125550123"}}});
  EXPECT_EQ(Body(again)["added"], 0);

  auto listed = Body(Call("GET", "/api/dnc?page=1&limit=1", AlphaToken()));
  EXPECT_EQ(listed["total"], 2);
  ASSERT_EQ(listed["numbers"].size(), 1u);
  EXPECT_EQ(listed["numbers"][0]["phoneNumber"], "+12125550123");
  listed = Body(Call("GET", "/api/dnc?page=2&limit=1", AlphaToken()));
  EXPECT_EQ(listed["numbers"][0]["phoneNumber"], "+14155550199");
  EXPECT_EQ(Body(Call("GET", "/api/dnc?page=3&limit=1", AlphaToken()))["numbers"].size(), 0u);

  EXPECT_EQ(Call("DELETE", "/api/dnc/%2B12125550123", AlphaToken()).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/dnc/%2B12125550123", AlphaToken()).status, 404);
  EXPECT_EQ(Body(Call("GET", "/api/dnc", AlphaToken()))["total"], 1);

  ExpectAll400(*this, server_->port(), AlphaToken(),
               {
                   {"POST", "/api/dnc", "{}", "numbers"},
                   {"POST", "/api/dnc", R"({"numbers": "+12125550123"})", "numbers"},
                   {"POST", "/api/dnc", R"({"numbers": [12125550123]})", "numbers[0]"},
                   {"GET", "/api/dnc?limit=0", "", "limit"},
                   {"GET", "/api/dnc?limit=101", "", "limit"},
                   {"GET", "/api/dnc?page=0", "", "page"},
                   {"GET", "/api/dnc?page=abc", "", "page"},
                   {"DELETE", "/api/dnc/12", "", "phone number"},
               });
}

}  // namespace
}  // namespace nexus::testing
