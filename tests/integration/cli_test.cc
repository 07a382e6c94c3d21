// The nexus command line: init, token create and serve, including bad arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/nexus_process.h"
#include "support/raw_http.h"

namespace nexus::testing {
namespace {

using ::testing::HasSubstr;

class CliTest : public ::testing::Test {
 protected:
  std::string Db() const { return "sqlite://" + dir_.path() + "/nexus.db"; }
  TempDir dir_;
};

bool IsHexId(const nlohmann::json& value) {
  if (!value.is_string()) return false;
  const std::string id = value;
  return id.size() == 24 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_F(CliTest, InitJsonPrintsTheIdsAndAToken) {
  const CommandResult result = RunNexus({"init", "--db", Db(), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto out = nlohmann::json::parse(result.out);
  EXPECT_TRUE(IsHexId(out["organizationId"]));
  EXPECT_TRUE(IsHexId(out["userId"]));
  EXPECT_EQ(out["token"].get<std::string>().rfind("nxt_", 0), 0u);
  EXPECT_FALSE(out.contains("agentId"));
  EXPECT_FALSE(out.contains("phoneNumberId"));
}

TEST_F(CliTest, InitDemoAlsoCreatesAnAgentAndABoundNumberVisibleThroughTheApi) {
  const CommandResult result = RunNexus({"init", "--db", Db(), "--json", "--demo"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto out = nlohmann::json::parse(result.out);
  ASSERT_TRUE(IsHexId(out["agentId"]));
  ASSERT_TRUE(IsHexId(out["phoneNumberId"]));

  auto server = NexusServer::Start(Db());
  ASSERT_NE(server, nullptr);
  const std::string auth = "Bearer " + out["token"].get<std::string>();
  HttpResponse agents = Request(server->port(), "GET", "/api/agents", {{"Authorization", auth}});
  ASSERT_EQ(agents.status, 200) << agents.body;
  const auto list = nlohmann::json::parse(agents.body)["agents"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["_id"], out["agentId"]);
  EXPECT_EQ(list[0]["language"], "en-US");
  EXPECT_EQ(list[0]["variables"][0],
            nlohmann::json({{"key", "name"}, {"required", true}, {"type", "string"}}));
  EXPECT_EQ(list[0]["variables"][1]["key"], "account_id");
  EXPECT_EQ(list[0]["variables"][1]["required"], false);
  EXPECT_FALSE(list[0].contains("webhookSecret"));

  HttpResponse numbers =
      Request(server->port(), "GET", "/api/phone-numbers", {{"Authorization", auth}});
  const auto phone = nlohmann::json::parse(numbers.body)["phoneNumbers"][0];
  EXPECT_EQ(phone["_id"], out["phoneNumberId"]);
  EXPECT_EQ(phone["agentId"], out["agentId"]);
  EXPECT_EQ(phone["phoneNumber"], "+14155550100");
}

TEST_F(CliTest, InitWithoutJsonPrintsReadableLinesWithTheToken) {
  const CommandResult result = RunNexus({"init", "--db", Db(), "--org", "Acme Corp", "--demo"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Created organization \"Acme Corp\""));
  EXPECT_THAT(result.out, HasSubstr("token:          nxt_"));
  EXPECT_THAT(result.out, HasSubstr("admin@acme-corp.local"));
  EXPECT_THAT(result.out, HasSubstr("+14155550100"));
}

TEST_F(CliTest, InitTwiceCreatesTwoOrganizationsInOneDatabase) {
  const CommandResult first = RunNexus({"init", "--db", Db(), "--json", "--org", "A", "--demo"});
  const CommandResult second = RunNexus({"init", "--db", Db(), "--json", "--org", "B", "--demo"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(nlohmann::json::parse(first.out)["organizationId"],
            nlohmann::json::parse(second.out)["organizationId"]);
}

TEST_F(CliTest, DatabaseComesFromNexusDbWhenNoFlagIsGiven) {
  const CommandResult init = RunNexus({"init", "--json"}, {"NEXUS_DB=" + Db()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::string user = nlohmann::json::parse(init.out)["userId"];
  const CommandResult token =
      RunNexus({"token", "create", "--user", user, "--json"}, {"NEXUS_DB=" + Db()});
  ASSERT_EQ(token.exit_code, 0) << token.err;
}

TEST_F(CliTest, TokenCreateIssuesAWorkingTokenForTheUser) {
  const auto init = nlohmann::json::parse(RunNexus({"init", "--db", Db(), "--json"}).out);
  const CommandResult result =
      RunNexus({"token", "create", "--db", Db(), "--user", init["userId"], "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto out = nlohmann::json::parse(result.out);
  EXPECT_EQ(out["userId"], init["userId"]);
  EXPECT_TRUE(IsHexId(out["tokenId"]));
  EXPECT_NE(out["token"], init["token"]);

  auto server = NexusServer::Start(Db());
  ASSERT_NE(server, nullptr);
  HttpResponse org = Request(server->port(), "GET", "/api/organization",
                             {{"Authorization", "Bearer " + out["token"].get<std::string>()}});
  EXPECT_EQ(org.status, 200) << org.body;

  const CommandResult text = RunNexus({"token", "create", "--db", Db(), "--user", init["userId"]});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("token:   nxt_"));
}

TEST_F(CliTest, BadArgumentsFailWithAMessageAndNonZeroExit) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  RunNexus({"init", "--db", Db()});
  const std::vector<Case> cases = {
      {{}, "subcommand"},
      {{"frobnicate"}, "frobnicate"},
      {{"init", "--db", Db(), "--bogus"}, "--bogus"},
      {{"init", "--db", Db(), "--org", "   "}, "--org"},
      {{"init", "--db", "mysql://x"}, "mysql"},
      {{"init", "--db", "sqlite:///nonexistent-dir/x/y.db"}, "nonexistent-dir"},
      {{"token", "create", "--db", Db()}, "--user"},
      {{"token", "create", "--db", Db(), "--user", "not-an-id"}, "--user"},
      {{"token", "create", "--db", Db(), "--user", "64e5f12345abcdef12345678"}, "not found"},
      {{"token"}, "subcommand"},
      {{"serve", "--db", Db(), "--port", "70000"}, "--port"},
      {{"serve", "--db", Db(), "--port", "abc"}, "--port"},
      {{"serve", "--db", Db(), "--log-level", "loud"}, "--log-level"},
  };
  for (const Case& c : cases) {
    const CommandResult result = RunNexus(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_NE(result.exit_code, 0) << joined;
    EXPECT_THAT(result.err + result.out, HasSubstr(c.message)) << joined;
  }
}

TEST_F(CliTest, ServeRefusesAPortThatIsTaken) {
  auto first = NexusServer::Start(Db());
  ASSERT_NE(first, nullptr);
  const CommandResult second =
      RunNexus({"serve", "--db", Db(), "--port", std::to_string(first->port())});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_THAT(second.err, HasSubstr(std::to_string(first->port())));
}

}  // namespace
}  // namespace nexus::testing
