#include "store/sqlite/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace nexus::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kT0 = absl::FromUnixMillis(1'715'781'600'000);

// --- status helpers ------------------------------------------------------------------------

absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status status = StatusOf(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P2(StatusIs, code, substring, "") {
  const absl::Status status = StatusOf(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         std::string(status.message()).find(substring) != std::string::npos;
}

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(NEXUS_STATUS_CONCAT(result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.status();          \
  lhs = *std::move(tmp)

// --- sample data: everything of organization `tag` has IDs "<kind>-<tag>[-<suffix>]" ----------

domain::Organization Org(const std::string& tag) {
  return {.id = "org-" + tag,
          .name = "Org " + tag,
          .timezone = "America/New_York",
          .default_country = "US",
          .legal_window = domain::kDefaultLegalWindow,
          .created_at = kT0};
}

domain::User User(const std::string& tag, const std::string& suffix, domain::Role role) {
  return {.id = "user-" + tag + "-" + suffix,
          .organization_id = "org-" + tag,
          .email = suffix + "@" + tag + ".example",
          .name = "User " + suffix,
          .role = role,
          .created_at = kT0};
}

domain::Credential Credential(const std::string& tag, const std::string& suffix,
                              domain::CredentialKind kind) {
  return {.id = "cred-" + tag + "-" + suffix,
          .organization_id = "org-" + tag,
          .user_id = "user-" + tag + "-admin",
          .kind = kind,
          .name = kind == domain::CredentialKind::kApiKey ? "ci key" : "",
          .secret_hash = "hash-" + tag + "-" + suffix,
          .created_at = kT0,
          .revoked_at = std::nullopt};
}

domain::Agent Agent(const std::string& tag, const std::string& suffix, absl::Time created_at) {
  return {
      .id = "agent-" + tag + "-" + suffix,
      .organization_id = "org-" + tag,
      .name = "Agent " + suffix,
      .language = "en-US",
      .variables = {{.key = "firstName", .required = true, .type = domain::VariableType::kString},
                    {.key = "amount", .required = false, .type = domain::VariableType::kNumber},
                    {.key = "due", .required = true, .type = domain::VariableType::kDate}},
      .dispatch_url = "https://agents.example/" + tag,
      .webhook_secret = "whsec_" + tag + suffix,
      .created_at = created_at,
      .updated_at = created_at};
}

domain::PhoneNumber Phone(const std::string& tag, const std::string& suffix,
                          const std::string& e164, absl::Time created_at) {
  return {.id = "phone-" + tag + "-" + suffix,
          .organization_id = "org-" + tag,
          .e164 = e164,
          .agent_id = std::nullopt,
          .created_at = created_at};
}

NewWorkspace Workspace(const std::string& tag) {
  domain::PhoneNumber phone = Phone(tag, "demo", "+12125550100", kT0);
  phone.agent_id = "agent-" + tag + "-demo";
  return {.organization = Org(tag),
          .admin = User(tag, "admin", domain::Role::kAdmin),
          .admin_token = Credential(tag, "token", domain::CredentialKind::kToken),
          .agent = Agent(tag, "demo", kT0),
          .phone_number = phone};
}

// Comparable views of the domain types.
auto Tie(const domain::Organization& o) {
  return std::tie(o.id, o.name, o.timezone, o.default_country, o.legal_window, o.created_at);
}
auto Tie(const domain::User& u) {
  return std::tie(u.id, u.organization_id, u.email, u.name, u.role, u.created_at);
}
auto Tie(const domain::Credential& c) {
  return std::tie(c.id, c.organization_id, c.user_id, c.kind, c.name, c.secret_hash, c.created_at,
                  c.revoked_at);
}
auto Tie(const domain::Agent& a) {
  return std::tie(a.id, a.organization_id, a.name, a.language, a.variables, a.dispatch_url,
                  a.webhook_secret, a.created_at, a.updated_at);
}
auto Tie(const domain::PhoneNumber& p) {
  return std::tie(p.id, p.organization_id, p.e164, p.agent_id, p.created_at);
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "nexus-store-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --- the conformance suite: every test runs on a file database and on ":memory:" --------------

enum class Backend { kFile, kMemory };

class StoreConformance : public testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const std::string url = GetParam() == Backend::kFile ? "sqlite://" + dir_.path() + "/nexus.db"
                                                         : "sqlite://:memory:";
    ASSERT_OK_AND_ASSIGN(store_, OpenStore(url, {.pool_size = 4}));
    ASSERT_THAT(store_->CreateWorkspace(Workspace("a")), IsOk());
    ASSERT_THAT(store_->CreateWorkspace(Workspace("b")), IsOk());
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         testing::Values(Backend::kFile, Backend::kMemory),
                         [](const testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kFile ? "File" : "Memory";
                         });

TEST_P(StoreConformance, PingAnswersOk) { EXPECT_THAT(store_->Ping(), IsOk()); }

TEST_P(StoreConformance, WorkspaceReadsBackAsCreated) {
  const NewWorkspace expected = Workspace("a");
  ASSERT_OK_AND_ASSIGN(domain::Organization org, store_->GetOrganization("org-a"));
  EXPECT_EQ(Tie(org), Tie(expected.organization));
  ASSERT_OK_AND_ASSIGN(domain::User admin, store_->GetUser("org-a", "user-a-admin"));
  EXPECT_EQ(Tie(admin), Tie(expected.admin));
  ASSERT_OK_AND_ASSIGN(CredentialOwner owner, store_->FindActiveCredential("hash-a-token"));
  EXPECT_EQ(Tie(owner.credential), Tie(expected.admin_token));
  EXPECT_EQ(Tie(owner.user), Tie(expected.admin));
  ASSERT_OK_AND_ASSIGN(domain::Agent agent, store_->GetAgent("org-a", "agent-a-demo"));
  EXPECT_EQ(Tie(agent), Tie(*expected.agent));
  ASSERT_OK_AND_ASSIGN(domain::PhoneNumber phone, store_->GetPhoneNumber("org-a", "phone-a-demo"));
  EXPECT_EQ(Tie(phone), Tie(*expected.phone_number));
}

TEST_P(StoreConformance, WorkspaceWithoutAgentOrPhoneNumberIsCreated) {
  NewWorkspace workspace = Workspace("c");
  workspace.agent.reset();
  workspace.phone_number.reset();
  ASSERT_THAT(store_->CreateWorkspace(workspace), IsOk());
  EXPECT_THAT(store_->GetOrganization("org-c"), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<domain::Agent> agents, store_->ListAgents("org-c"));
  EXPECT_TRUE(agents.empty());
}

TEST_P(StoreConformance, WorkspaceWithATakenIdStoresNothing) {
  NewWorkspace workspace = Workspace("c");
  workspace.phone_number->id = "phone-a-demo";  // taken by organization a
  EXPECT_THAT(store_->CreateWorkspace(workspace), StatusIs(absl::StatusCode::kAlreadyExists, "id"));
  EXPECT_THAT(store_->GetOrganization("org-c"), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->FindUserById("user-c-admin"), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->FindActiveCredential("hash-c-token"),
              StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->GetAgent("org-c", "agent-c-demo"), StatusIs(absl::StatusCode::kNotFound, ""));
  // The store is still usable afterwards (the failed transaction was rolled back).
  workspace.phone_number->id = "phone-c-demo";
  EXPECT_THAT(store_->CreateWorkspace(workspace), IsOk());
}

TEST_P(StoreConformance, OrganizationUpdateOverwritesSettingsButNotCreationTime) {
  domain::Organization org = Org("a");
  org.name = "Renamed";
  org.timezone = "Europe/Paris";
  org.default_country = "FR";
  org.legal_window = std::nullopt;
  org.created_at = kT0 + absl::Hours(5);
  ASSERT_THAT(store_->UpdateOrganization(org), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::Organization got, store_->GetOrganization("org-a"));
  EXPECT_EQ(got.name, "Renamed");
  EXPECT_EQ(got.timezone, "Europe/Paris");
  EXPECT_EQ(got.default_country, "FR");
  EXPECT_EQ(got.legal_window, std::nullopt);
  EXPECT_EQ(got.created_at, kT0);

  const domain::DailyWindow overnight{{22 * 60}, {6 * 60}};
  org.legal_window = overnight;
  ASSERT_THAT(store_->UpdateOrganization(org), IsOk());
  ASSERT_OK_AND_ASSIGN(got, store_->GetOrganization("org-a"));
  EXPECT_EQ(got.legal_window, overnight);
}

TEST_P(StoreConformance, MissingOrganizationIsNotFound) {
  EXPECT_THAT(store_->GetOrganization("org-x"), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->UpdateOrganization(Org("x")), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(StoreConformance, UserWithATakenEmailIsAlreadyExists) {
  domain::User user = User("a", "second", domain::Role::kMember);
  user.email = "admin@a.example";
  EXPECT_THAT(store_->InsertUser(user), StatusIs(absl::StatusCode::kAlreadyExists, "email"));
  EXPECT_THAT(store_->FindUserById(user.id), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(StoreConformance, SameEmailInAnotherOrganizationIsAccepted) {
  domain::User user = User("b", "second", domain::Role::kMember);
  user.email = "admin@a.example";
  EXPECT_THAT(store_->InsertUser(user), IsOk());
}

TEST_P(StoreConformance, UserWithATakenIdIsAlreadyExists) {
  domain::User user = User("a", "admin", domain::Role::kMember);
  user.email = "other@a.example";
  EXPECT_THAT(store_->InsertUser(user), StatusIs(absl::StatusCode::kAlreadyExists, "id"));
}

TEST_P(StoreConformance, UserOfAnotherOrganizationIsNotFound) {
  EXPECT_THAT(store_->GetUser("org-b", "user-a-admin"), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(StoreConformance, UserIsFoundByIdAloneForTheCli) {
  const domain::User member = User("a", "member", domain::Role::kMember);
  ASSERT_THAT(store_->InsertUser(member), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::User got, store_->FindUserById("user-a-member"));
  EXPECT_EQ(Tie(got), Tie(member));
  EXPECT_THAT(store_->FindUserById("user-x"), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(StoreConformance, ApiKeyIsFoundOnlyAsAnApiKeyOfItsOrganization) {
  const domain::Credential key = Credential("a", "key", domain::CredentialKind::kApiKey);
  ASSERT_THAT(store_->InsertCredential(key), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::Credential got,
                       store_->GetCredential("org-a", key.id, domain::CredentialKind::kApiKey));
  EXPECT_EQ(Tie(got), Tie(key));
  EXPECT_THAT(store_->GetCredential("org-a", key.id, domain::CredentialKind::kToken),
              StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->GetCredential("org-b", key.id, domain::CredentialKind::kApiKey),
              StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(CredentialOwner owner, store_->FindActiveCredential("hash-a-key"));
  EXPECT_EQ(owner.user.id, "user-a-admin");
}

TEST_P(StoreConformance, CredentialWithATakenHashIsAlreadyExists) {
  domain::Credential key = Credential("a", "key", domain::CredentialKind::kApiKey);
  key.secret_hash = "hash-a-token";
  EXPECT_THAT(store_->InsertCredential(key), StatusIs(absl::StatusCode::kAlreadyExists, ""));
}

TEST_P(StoreConformance, RevokedCredentialIsNoLongerActive) {
  ASSERT_THAT(store_->RevokeCredential("org-a", "cred-a-token", domain::CredentialKind::kToken,
                                       kT0 + absl::Minutes(1)),
              IsOk());
  EXPECT_THAT(store_->FindActiveCredential("hash-a-token"),
              StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(
      domain::Credential got,
      store_->GetCredential("org-a", "cred-a-token", domain::CredentialKind::kToken));
  EXPECT_EQ(got.revoked_at, kT0 + absl::Minutes(1));
}

TEST_P(StoreConformance, RevokingAgainKeepsTheFirstRevocationTime) {
  for (absl::Duration later : {absl::Minutes(1), absl::Minutes(2)}) {
    ASSERT_THAT(store_->RevokeCredential("org-a", "cred-a-token", domain::CredentialKind::kToken,
                                         kT0 + later),
                IsOk());
  }
  ASSERT_OK_AND_ASSIGN(
      domain::Credential got,
      store_->GetCredential("org-a", "cred-a-token", domain::CredentialKind::kToken));
  EXPECT_EQ(got.revoked_at, kT0 + absl::Minutes(1));
}

TEST_P(StoreConformance, RevokingACredentialOfAnotherOrganizationIsNotFound) {
  EXPECT_THAT(
      store_->RevokeCredential("org-b", "cred-a-token", domain::CredentialKind::kToken, kT0),
      StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(
      store_->RevokeCredential("org-a", "cred-a-token", domain::CredentialKind::kApiKey, kT0),
      StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->FindActiveCredential("hash-a-token"), IsOk());
}

TEST_P(StoreConformance, AgentWithoutOptionalFieldsReadsBack) {
  domain::Agent agent = Agent("a", "bare", kT0);
  agent.language.reset();
  agent.dispatch_url.reset();
  agent.variables.clear();
  ASSERT_THAT(store_->InsertAgent(agent), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::Agent got, store_->GetAgent("org-a", agent.id));
  EXPECT_EQ(Tie(got), Tie(agent));
}

TEST_P(StoreConformance, AgentWithATakenIdIsAlreadyExists) {
  for (const std::string tag : {"a", "b"}) {
    domain::Agent agent = Agent(tag, "copy", kT0);
    agent.id = "agent-a-demo";
    agent.variables.clear();
    EXPECT_THAT(store_->InsertAgent(agent), StatusIs(absl::StatusCode::kAlreadyExists, "id"))
        << tag;
  }
  ASSERT_OK_AND_ASSIGN(domain::Agent got, store_->GetAgent("org-a", "agent-a-demo"));
  EXPECT_EQ(Tie(got), Tie(Agent("a", "demo", kT0)));
}

TEST_P(StoreConformance, AgentUpdateReplacesFieldsAndVariables) {
  domain::Agent agent = Agent("a", "demo", kT0);
  agent.name = "Renamed";
  agent.language.reset();
  agent.dispatch_url = "https://elsewhere.example/run";
  agent.webhook_secret = "whsec_rotated";
  agent.variables = {{.key = "amount", .required = true, .type = domain::VariableType::kInteger}};
  agent.created_at = kT0 + absl::Hours(3);  // ignored
  agent.updated_at = kT0 + absl::Hours(1);
  ASSERT_THAT(store_->UpdateAgent(agent), IsOk());

  ASSERT_OK_AND_ASSIGN(domain::Agent got, store_->GetAgent("org-a", "agent-a-demo"));
  agent.created_at = kT0;
  EXPECT_EQ(Tie(got), Tie(agent));
}

TEST_P(StoreConformance, AgentOfAnotherOrganizationIsNotFound) {
  domain::Agent intruder = Agent("a", "demo", kT0);
  intruder.organization_id = "org-b";
  intruder.name = "Hijacked";
  intruder.variables.clear();
  EXPECT_THAT(store_->GetAgent("org-b", "agent-a-demo"), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->UpdateAgent(intruder), StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(domain::Agent got, store_->GetAgent("org-a", "agent-a-demo"));
  EXPECT_EQ(Tie(got), Tie(Agent("a", "demo", kT0)));
}

TEST_P(StoreConformance, AgentsAreListedOldestFirstWithinTheirOrganization) {
  ASSERT_THAT(store_->InsertAgent(Agent("a", "late", kT0 + absl::Hours(2))), IsOk());
  ASSERT_THAT(store_->InsertAgent(Agent("a", "early", kT0 - absl::Hours(1))), IsOk());
  ASSERT_THAT(store_->InsertAgent(Agent("a", "middle", kT0 + absl::Hours(1))), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<domain::Agent> agents, store_->ListAgents("org-a"));
  std::vector<std::string> ids;
  for (const domain::Agent& agent : agents) {
    ids.push_back(agent.id);
    EXPECT_EQ(agent.variables.size(), 3u);
  }
  EXPECT_THAT(ids, ElementsAre("agent-a-early", "agent-a-demo", "agent-a-middle", "agent-a-late"));
}

TEST_P(StoreConformance, PhoneNumberAlreadyInTheOrganizationIsAlreadyExists) {
  EXPECT_THAT(store_->InsertPhoneNumber(Phone("a", "dup", "+12125550100", kT0)),
              StatusIs(absl::StatusCode::kAlreadyExists, "phoneNumber"));
}

TEST_P(StoreConformance, PhoneNumberOfAnotherOrganizationIsNotFound) {
  EXPECT_THAT(store_->GetPhoneNumber("org-b", "phone-a-demo"),
              StatusIs(absl::StatusCode::kNotFound, ""));
  domain::PhoneNumber intruder = Phone("a", "demo", "+12125550100", kT0);
  intruder.organization_id = "org-b";
  EXPECT_THAT(store_->UpdatePhoneNumber(intruder), StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(domain::PhoneNumber got, store_->GetPhoneNumber("org-a", "phone-a-demo"));
  EXPECT_EQ(got.agent_id, "agent-a-demo");
}

TEST_P(StoreConformance, PhoneNumberUpdateBindsAndUnbindsAnAgent) {
  domain::PhoneNumber phone = Phone("a", "second", "+12125550199", kT0);
  ASSERT_THAT(store_->InsertPhoneNumber(phone), IsOk());
  phone.agent_id = "agent-a-demo";
  ASSERT_THAT(store_->UpdatePhoneNumber(phone), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::PhoneNumber got, store_->GetPhoneNumber("org-a", phone.id));
  EXPECT_EQ(got.agent_id, "agent-a-demo");
  phone.agent_id.reset();
  ASSERT_THAT(store_->UpdatePhoneNumber(phone), IsOk());
  ASSERT_OK_AND_ASSIGN(got, store_->GetPhoneNumber("org-a", phone.id));
  EXPECT_EQ(got.agent_id, std::nullopt);
}

TEST_P(StoreConformance, PhoneNumberCannotBeBoundToAnAgentOfAnotherOrganization) {
  domain::PhoneNumber phone = Phone("a", "demo", "+12125550100", kT0);
  phone.agent_id = "agent-b-demo";
  EXPECT_THAT(store_->UpdatePhoneNumber(phone), Not(IsOk()));
  ASSERT_OK_AND_ASSIGN(domain::PhoneNumber got, store_->GetPhoneNumber("org-a", "phone-a-demo"));
  EXPECT_EQ(got.agent_id, "agent-a-demo");
}

TEST_P(StoreConformance, PhoneNumbersAreListedOldestFirstWithinTheirOrganization) {
  ASSERT_THAT(store_->InsertPhoneNumber(Phone("a", "late", "+12125550102", kT0 + absl::Hours(1))),
              IsOk());
  ASSERT_THAT(store_->InsertPhoneNumber(Phone("a", "early", "+12125550101", kT0 - absl::Hours(1))),
              IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<domain::PhoneNumber> phones, store_->ListPhoneNumbers("org-a"));
  std::vector<std::string> ids;
  for (const domain::PhoneNumber& phone : phones) ids.push_back(phone.id);
  EXPECT_THAT(ids, ElementsAre("phone-a-early", "phone-a-demo", "phone-a-late"));
}

TEST_P(StoreConformance, AddingDncNumbersCountsOnlyNewOnes) {
  EXPECT_EQ(store_->AddDncNumbers("org-a", {"+12125550001", "+12125550002", "+12125550002"}, kT0)
                .value_or(-1),
            2);
  EXPECT_EQ(store_->AddDncNumbers("org-a", {"+12125550002", "+12125550003"}, kT0).value_or(-1), 1);
  EXPECT_EQ(store_->AddDncNumbers("org-a", {}, kT0).value_or(-1), 0);
  EXPECT_EQ(store_->IsOnDncList("org-a", "+12125550003").value_or(false), true);
  EXPECT_EQ(store_->IsOnDncList("org-a", "+12125550004").value_or(true), false);
}

TEST_P(StoreConformance, DncListIsPagedInE164OrderWithTheTotal) {
  ASSERT_THAT(store_->AddDncNumbers("org-a", {"+4420", "+1300", "+3310", "+1200"}, kT0), IsOk());
  ASSERT_THAT(store_->AddDncNumbers("org-a", {"+1100"}, kT0 + absl::Seconds(1)), IsOk());
  ASSERT_OK_AND_ASSIGN(DncPage page, store_->ListDncNumbers("org-a", 1, 3));
  EXPECT_EQ(page.total, 5);
  std::vector<std::string> numbers;
  for (const domain::DncEntry& entry : page.entries) numbers.push_back(entry.e164);
  EXPECT_THAT(numbers, ElementsAre("+1200", "+1300", "+3310"));
  EXPECT_EQ(page.entries[0].created_at, kT0);

  ASSERT_OK_AND_ASSIGN(page, store_->ListDncNumbers("org-a", 0, 1));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].e164, "+1100");
  EXPECT_EQ(page.entries[0].created_at, kT0 + absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(page, store_->ListDncNumbers("org-a", 5, 10));
  EXPECT_TRUE(page.entries.empty());
  EXPECT_EQ(page.total, 5);
}

TEST_P(StoreConformance, DncListBelongsToOneOrganization) {
  ASSERT_THAT(store_->AddDncNumbers("org-a", {"+12125550001"}, kT0), IsOk());
  EXPECT_EQ(store_->IsOnDncList("org-b", "+12125550001").value_or(true), false);
  EXPECT_THAT(store_->RemoveDncNumber("org-b", "+12125550001"),
              StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(DncPage page, store_->ListDncNumbers("org-b", 0, 10));
  EXPECT_EQ(page.total, 0);
  EXPECT_EQ(store_->AddDncNumbers("org-b", {"+12125550001"}, kT0).value_or(-1), 1);
}

TEST_P(StoreConformance, RemovedDncNumberIsOffTheList) {
  ASSERT_THAT(store_->AddDncNumbers("org-a", {"+12125550001"}, kT0), IsOk());
  EXPECT_THAT(store_->RemoveDncNumber("org-a", "+12125550001"), IsOk());
  EXPECT_EQ(store_->IsOnDncList("org-a", "+12125550001").value_or(true), false);
  EXPECT_THAT(store_->RemoveDncNumber("org-a", "+12125550001"),
              StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(StoreConformance, NegativeDncPagingIsInvalidArgument) {
  EXPECT_THAT(store_->ListDncNumbers("org-a", -1, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, "offset"));
  EXPECT_THAT(store_->ListDncNumbers("org-a", 0, -1),
              StatusIs(absl::StatusCode::kInvalidArgument, "limit"));
}

TEST_P(StoreConformance, TextIsStoredVerbatimNotInterpretedAsSql) {
  domain::User user = User("a", "quote", domain::Role::kMember);
  user.name = "Robert'); DROP TABLE users; --";
  user.email = "";  // empty text stays empty, not NULL
  ASSERT_THAT(store_->InsertUser(user), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::User got, store_->GetUser("org-a", user.id));
  EXPECT_EQ(Tie(got), Tie(user));
}

TEST_P(StoreConformance, ConcurrentWritersAndReadersAllSucceed) {
  constexpr int kThreads = 4;
  constexpr int kUsersPerThread = 20;
  std::vector<std::thread> threads;
  std::vector<absl::Status> failures[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &failures] {
      for (int i = 0; i < kUsersPerThread; ++i) {
        const std::string suffix = std::to_string(t) + "-" + std::to_string(i);
        for (absl::Status status : {store_->InsertUser(User("a", suffix, domain::Role::kMember)),
                                    store_->GetUser("org-a", "user-a-" + suffix).status(),
                                    store_->ListAgents("org-a").status(),
                                    store_->FindActiveCredential("hash-a-token").status()}) {
          if (!status.ok()) failures[t].push_back(status);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_THAT(failures[t], testing::IsEmpty()) << t;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kUsersPerThread; ++i) {
      EXPECT_THAT(store_->FindUserById("user-a-" + std::to_string(t) + "-" + std::to_string(i)),
                  IsOk());
    }
  }
}

// --- file databases only --------------------------------------------------------------------

TEST(SqliteStore, WriteWhileAnotherConnectionHoldsTheWriteLockIsUnavailable) {
  TempDir dir;
  const std::string path = dir.path() + "/nexus.db";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                       OpenStore("sqlite://" + path, {.busy_timeout = absl::Milliseconds(50)}));
  ASSERT_THAT(store->CreateWorkspace(Workspace("a")), IsOk());

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite::DbPtr other(raw);
  ASSERT_EQ(sqlite3_exec(other.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  EXPECT_THAT(store->InsertUser(User("a", "late", domain::Role::kMember)),
              StatusIs(absl::StatusCode::kUnavailable, "database is busy"));
  EXPECT_THAT(store->GetOrganization("org-a"), IsOk());  // WAL: readers never wait for the writer

  ASSERT_EQ(sqlite3_exec(other.get(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_THAT(store->InsertUser(User("a", "late", domain::Role::kMember)), IsOk());
}

TEST(SqliteStore, MemoryDatabasesArePrivateToTheirStore) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> first, OpenStore("sqlite://:memory:"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> second, OpenStore("sqlite://:memory:"));
  ASSERT_THAT(first->CreateWorkspace(Workspace("a")), IsOk());
  EXPECT_THAT(second->GetOrganization("org-a"), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST(SqliteStatus, MapsResultCodesToTheStoreContract) {
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_BUSY, nullptr),
              StatusIs(absl::StatusCode::kUnavailable, "database is busy"));
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_BUSY_SNAPSHOT, nullptr),
              StatusIs(absl::StatusCode::kUnavailable, "database is busy"));
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_LOCKED, nullptr),
              StatusIs(absl::StatusCode::kUnavailable, "database is busy"));
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_FULL, nullptr),
              StatusIs(absl::StatusCode::kResourceExhausted, "database or disk is full"));
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_CONSTRAINT_PRIMARYKEY, nullptr),
              StatusIs(absl::StatusCode::kAlreadyExists, "id"));
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_CONSTRAINT_CHECK, nullptr),
              StatusIs(absl::StatusCode::kInternal, "database error"));
  EXPECT_THAT(sqlite::SqliteStatus(SQLITE_IOERR_WRITE, nullptr),
              StatusIs(absl::StatusCode::kInternal, "database error"));
}

// --- OpenStore ------------------------------------------------------------------------------

TEST(OpenStore, AbsolutePathCreatesTheDatabaseFile) {
  TempDir dir;
  const std::string path = dir.path() + "/sub.db";
  ASSERT_THAT(OpenStore("sqlite://" + path), IsOk());
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(OpenStore, RelativePathIsResolvedFromTheWorkingDirectory) {
  TempDir dir;
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  const bool opened = OpenStore("SQLITE://relative.db").ok();
  std::filesystem::current_path(previous);
  EXPECT_TRUE(opened);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/relative.db"));
}

TEST(OpenStore, PostgresIsNotBuiltYet) {
  for (const char* url : {"postgres://u:p@db/nexus", "postgresql://db/nexus"}) {
    EXPECT_THAT(OpenStore(url), StatusIs(absl::StatusCode::kInvalidArgument, "PostgreSQL"));
  }
}

TEST(OpenStore, UnknownSchemeIsInvalidArgumentWithoutEchoingTheUrl) {
  const absl::StatusOr<std::unique_ptr<Store>> store = OpenStore("mysql://root:hunter2@db/nexus");
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kInvalidArgument, "\"mysql\""));
  EXPECT_THAT(std::string(store.status().message()), Not(HasSubstr("hunter2")));
}

TEST(OpenStore, MalformedUrlIsInvalidArgument) {
  for (const char* url : {"nexus.db", "://nexus.db", "sqlite:nexus.db", "sq lite://x.db"}) {
    EXPECT_THAT(OpenStore(url), StatusIs(absl::StatusCode::kInvalidArgument, "")) << url;
  }
  EXPECT_THAT(OpenStore("sqlite://"), StatusIs(absl::StatusCode::kInvalidArgument, "path"));
  EXPECT_THAT(OpenStore(std::string_view("sqlite://a\0b", 12)),
              StatusIs(absl::StatusCode::kInvalidArgument, "NUL"));
}

TEST(OpenStore, ZeroPoolSizeIsInvalidArgument) {
  EXPECT_THAT(OpenStore("sqlite://:memory:", {.pool_size = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, "pool_size"));
}

TEST(OpenStore, UnopenablePathIsUnavailable) {
  TempDir dir;
  EXPECT_THAT(OpenStore("sqlite://" + dir.path() + "/missing/dir/nexus.db"),
              StatusIs(absl::StatusCode::kUnavailable, "cannot open database"));
}

TEST(OpenStore, FileThatIsNotADatabaseIsUnavailable) {
  TempDir dir;
  const std::string path = dir.path() + "/notes.txt";
  std::ofstream(path) << std::string(4096, 'x');
  EXPECT_THAT(OpenStore("sqlite://" + path),
              StatusIs(absl::StatusCode::kUnavailable, "cannot open database"));
}

}  // namespace
}  // namespace nexus::store
