#include "service/workspace_service.h"

#include <gtest/gtest.h>

#include "service/service_test_support.h"

namespace nexus::service {
namespace {

bool MessageStartsWith(const absl::Status& status, std::string_view prefix) {
  return status.message().substr(0, prefix.size()) ==
         absl::string_view(prefix.data(), prefix.size());
}

TEST(WorkspaceService, InitDemoCreatesTheAgentAndABoundNumber) {
  auto ws = TestWorkspace::Make();
  WorkspaceService service(*ws->store, ws->clock);
  auto agents = service.ListAgents(ws->Admin());
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].language, "en-US");
  auto numbers = service.ListPhoneNumbers(ws->Admin());
  ASSERT_EQ(numbers->size(), 1u);
  EXPECT_EQ((*numbers)[0].agent_id, (*agents)[0].id);
}

TEST(WorkspaceService, OrganizationPatchValidatesEveryFieldBeforeWriting) {
  auto ws = TestWorkspace::Make();
  WorkspaceService service(*ws->store, ws->clock);
  OrganizationPatch patch;
  patch.name = "New name";
  patch.timezone = "Not/AZone";
  auto result = service.UpdateOrganization(ws->Admin(), patch);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageStartsWith(result.status(), "timezone"));
  EXPECT_EQ(service.GetOrganization(ws->Admin())->name, "Test Org");
}

TEST(WorkspaceService, AgentOfAnotherOrganizationIsNotFound) {
  auto ws = TestWorkspace::Make();
  auto other = InitWorkspace(*ws->store, ws->clock, {"Other", true});
  ASSERT_TRUE(other.ok());
  WorkspaceService service(*ws->store, ws->clock);
  AgentInput rename;
  rename.name = "Mine now";
  EXPECT_EQ(service.UpdateAgent(ws->Admin(), other->agent->id, rename).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      service.UpdatePhoneNumber(ws->Admin(), other->phone_number->id, std::nullopt).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(
      service.CreatePhoneNumber(ws->Admin(), "+14155550177", other->agent->id).status().code(),
      absl::StatusCode::kNotFound);
}

TEST(WorkspaceService, PhoneNumbersUseTheOrganizationsDefaultCountry) {
  auto ws = TestWorkspace::Make();
  WorkspaceService service(*ws->store, ws->clock);
  OrganizationPatch patch;
  patch.default_country = "gb";
  ASSERT_TRUE(service.UpdateOrganization(ws->Admin(), patch).ok());
  auto number = service.CreatePhoneNumber(ws->Admin(), "020 7946 0018", std::nullopt);
  ASSERT_TRUE(number.ok()) << number.status();
  EXPECT_EQ(number->e164, "+442079460018");
}

TEST(WorkspaceService, MemberCanRevokeOnlyOwnTokens) {
  auto ws = TestWorkspace::Make();
  WorkspaceService service(*ws->store, ws->clock);
  auto member = service.CreateUser(ws->Admin(), "m@example.com", "Member", "member");
  ASSERT_TRUE(member.ok());
  auto member_token = service.CreateToken(ws->Admin(), member->id);
  ASSERT_TRUE(member_token.ok());
  domain::Principal as_member;
  as_member.user = *member;
  EXPECT_EQ(service.RevokeToken(as_member, ws->init.token_id).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(service.RevokeToken(as_member, member_token->record.id).ok());
}

TEST(WorkspaceService, DncAddsNormalisedNumbersOnceAndReportsInvalidOnes) {
  auto ws = TestWorkspace::Make();
  WorkspaceService service(*ws->store, ws->clock);
  auto added = service.AddDncNumbers(ws->Admin(), {"(212) 555-0123", "+12125550123", "nope"});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->added, 1);
  EXPECT_EQ(added->invalid, std::vector<std::string>{"nope"});
  auto page = service.ListDncNumbers(ws->Admin(), 1, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 1);
  EXPECT_EQ(page->entries[0].e164, "+12125550123");
  EXPECT_EQ(service.ListDncNumbers(ws->Admin(), 0, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(service.RemoveDncNumber(ws->Admin(), "212-555-0123").ok());
  EXPECT_EQ(service.RemoveDncNumber(ws->Admin(), "212-555-0123").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace nexus::service
