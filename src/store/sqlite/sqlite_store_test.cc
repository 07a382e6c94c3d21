#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/object_id.h"
#include "core/status.h"
#include "core/time_format.h"
#include "store/sqlite/migrations.h"
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

// A batch of organization `tag` owned by its admin; its calls' IDs start with `call_id_prefix`.
domain::Batch Batch(const std::string& tag, const std::string& suffix,
                    const std::string& call_id_prefix) {
  return {.id = "batch-" + tag + "-" + suffix,
          .organization_id = "org-" + tag,
          .user_id = "user-" + tag + "-admin",
          .agent_id = "agent-" + tag + "-demo",
          .call_id_prefix = call_id_prefix,
          .settings = {.name = "Campaign " + suffix,
                       .type = domain::BatchType::kMixed,
                       .calling_number_ids = {"phone-" + tag + "-demo", "phone-" + tag + "-2"},
                       .retry = 3,
                       .delay_seconds = 120,
                       .timezone = "Europe/Paris",
                       .calling_hour = {domain::TimeOfDay{22 * 60 + 30}, domain::TimeOfDay{6 * 60}},
                       .allowed_days = {0, 2, 6},
                       .enable_dnc = false,
                       .default_country = "FR"},
          .status = domain::BatchStatus::kPaused,
          .total_calls = 0,
          .variable_keys = {"name", "notes"},
          .created_at = kT0 + absl::Milliseconds(250),
          .updated_at = kT0 + absl::Seconds(1)};
}

IdempotencyRecord Idempotency(const std::string& user_id, const std::string& key,
                              absl::Time created_at) {
  return {.user_id = user_id,
          .key = key,
          .fingerprint = "fp-" + key,
          .http_status = 200,
          .response_body = R"({"success":true})",
          .created_at = created_at};
}

// `count` calls for InsertBatch, with the text their views point at. Call i has the phone number
// +1212555 followed by i in 4 digits, variables {"name":"Contact i"} (plus a "notes" variable of
// `notes_size` characters if not 0), and its own time zone when i is a multiple of 3.
class CallRows {
 public:
  explicit CallRows(size_t count, size_t notes_size = 0) {
    phones_.reserve(count);
    variables_.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      phones_.push_back(Phone(i));
      variables_.push_back(notes_size == 0 ? Variables(i)
                                           : fmt::format(R"({{"name":"Contact {}","notes":"{}"}})",
                                                         i, std::string(notes_size, 'x')));
    }
    for (size_t i = 0; i < count; ++i) {
      calls_.push_back({.e164 = phones_[i],
                        .timezone = i % 3 == 0 ? "America/Chicago" : "",
                        .variables_json = variables_[i]});
    }
  }
  CallRows(const CallRows&) = delete;
  CallRows& operator=(const CallRows&) = delete;

  static std::string Phone(size_t i) { return fmt::format("+1212555{:04d}", i); }
  static std::string Variables(size_t i) { return fmt::format(R"({{"name":"Contact {}"}})", i); }
  std::span<const NewCall> calls() const { return calls_; }

 private:
  std::vector<std::string> phones_;
  std::vector<std::string> variables_;
  std::vector<NewCall> calls_;
};

constexpr char kPrefixA[] = "6644556600aabbccdd";
constexpr char kPrefixB[] = "6644556600aabbccee";

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
auto Tie(const domain::Batch& b) {
  const domain::BatchSettings& s = b.settings;
  return std::tie(b.id, b.organization_id, b.user_id, b.agent_id, b.call_id_prefix, s.name, s.type,
                  s.calling_number_ids, s.retry, s.delay_seconds, s.timezone, s.calling_hour,
                  s.allowed_days, s.enable_dnc, s.default_country, b.status, b.total_calls,
                  b.variable_keys, b.created_at, b.updated_at);
}
auto Tie(const IdempotencyRecord& r) {
  return std::tie(r.user_id, r.key, r.fingerprint, r.http_status, r.response_body, r.created_at);
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

TEST_P(StoreConformance, AllDncNumbersOfTheOrganizationAreListedInE164Order) {
  ASSERT_THAT(store_->AddDncNumbers("org-a", {"+4420", "+1300", "+3310"}, kT0), IsOk());
  ASSERT_THAT(store_->AddDncNumbers("org-b", {"+1999"}, kT0), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> numbers, store_->ListAllDncNumbers("org-a"));
  EXPECT_THAT(numbers, ElementsAre("+1300", "+3310", "+4420"));
  ASSERT_OK_AND_ASSIGN(numbers, store_->ListAllDncNumbers("org-x"));
  EXPECT_TRUE(numbers.empty());
}

TEST_P(StoreConformance, InsertedBatchReadsBackWithItsSettings) {
  const CallRows rows(3);
  const domain::Batch batch = Batch("a", "1", kPrefixA);
  ASSERT_THAT(store_->InsertBatch(batch, rows.calls(), {}, nullptr), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::Batch got, store_->GetBatch("org-a", batch.id));
  domain::Batch expected = batch;
  expected.total_calls = 3;  // the number of calls inserted
  EXPECT_EQ(Tie(got), Tie(expected));
}

TEST_P(StoreConformance, BatchWithDefaultSettingsAndNoCallsReadsBack) {
  domain::Batch batch = Batch("a", "empty", kPrefixA);
  batch.settings = domain::BatchSettings();  // every default
  batch.settings.name = "Empty";
  batch.settings.calling_number_ids = {"phone-a-demo"};
  batch.settings.timezone = "UTC";
  batch.settings.default_country = "US";
  batch.status = domain::BatchStatus::kActive;
  ASSERT_THAT(store_->InsertBatch(batch, {}, {}, nullptr), IsOk());
  ASSERT_OK_AND_ASSIGN(domain::Batch got, store_->GetBatch("org-a", batch.id));
  EXPECT_EQ(Tie(got), Tie(batch));
  EXPECT_THAT(got.settings.allowed_days, ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(got.settings.type, domain::BatchType::kOutbound);
}

TEST_P(StoreConformance, BatchOfAnotherOrganizationOrMissingIsNotFound) {
  const CallRows rows(1);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, nullptr), IsOk());
  EXPECT_THAT(store_->GetBatch("org-b", "batch-a-1"),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-2"),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_P(StoreConformance, BatchWithATakenIdIsAlreadyExistsAndKeepsTheFirst) {
  const CallRows rows(2);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, nullptr), IsOk());
  domain::Batch copy = Batch("a", "1", kPrefixB);
  copy.settings.name = "Second";
  EXPECT_THAT(store_->InsertBatch(copy, rows.calls(), {}, nullptr),
              StatusIs(absl::StatusCode::kAlreadyExists, "id already exists"));
  ASSERT_OK_AND_ASSIGN(domain::Batch got, store_->GetBatch("org-a", "batch-a-1"));
  EXPECT_EQ(got.settings.name, "Campaign 1");
}

TEST_P(StoreConformance, BatchWithATakenIdempotencyKeyStoresNothing) {
  const CallRows rows(250);
  const IdempotencyRecord first = Idempotency("user-a-admin", "key-1", kT0);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, &first), IsOk());

  const IdempotencyRecord again = Idempotency("user-a-admin", "key-1", kT0 + absl::Minutes(1));
  EXPECT_THAT(store_->InsertBatch(Batch("a", "2", kPrefixB), rows.calls(), {}, &again),
              StatusIs(absl::StatusCode::kAlreadyExists, "idempotencyKey"));
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-2"), StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(std::optional<IdempotencyRecord> kept,
                       store_->FindIdempotencyRecord("user-a-admin", "key-1", kT0));
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(Tie(*kept), Tie(first));
  // None of the 250 calls stayed behind: inserting them again (same call IDs) succeeds.
  EXPECT_THAT(store_->InsertBatch(Batch("a", "2", kPrefixB), rows.calls(), {}, nullptr), IsOk());
}

TEST_P(StoreConformance, BatchWithCallIdsOfAnotherBatchStoresNothing) {
  const CallRows rows(120);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, nullptr), IsOk());
  const IdempotencyRecord record = Idempotency("user-a-admin", "key-2", kT0);
  EXPECT_THAT(store_->InsertBatch(Batch("a", "2", kPrefixA), rows.calls(), {}, &record),
              StatusIs(absl::StatusCode::kAlreadyExists, "id already exists"));
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-2"), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_EQ(store_->FindIdempotencyRecord("user-a-admin", "key-2", kT0).value_or(record),
            std::nullopt);
}

TEST_P(StoreConformance, MalformedCallIdPrefixIsInvalidArgument) {
  const CallRows rows(1);
  for (const char* prefix : {"", "6644556600aabbccd", "6644556600aabbccdd0", "6644556600AABBCCDD",
                             "6644556600aabbccdg"}) {
    EXPECT_THAT(store_->InsertBatch(Batch("a", "1", prefix), rows.calls(), {}, nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument, "callIdPrefix"))
        << prefix;
  }
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-1"), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(StoreConformance, IdempotencyRecordIsFoundOnlyFromNotBefore) {
  const IdempotencyRecord record = Idempotency("user-a-admin", "key-1", kT0);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), {}, {}, &record), IsOk());

  ASSERT_OK_AND_ASSIGN(std::optional<IdempotencyRecord> found,
                       store_->FindIdempotencyRecord("user-a-admin", "key-1", kT0));
  ASSERT_TRUE(found.has_value());  // created_at == not_before counts
  EXPECT_EQ(Tie(*found), Tie(record));
  ASSERT_OK_AND_ASSIGN(
      found, store_->FindIdempotencyRecord("user-a-admin", "key-1", kT0 - absl::Hours(24)));
  EXPECT_TRUE(found.has_value());
  ASSERT_OK_AND_ASSIGN(
      found, store_->FindIdempotencyRecord("user-a-admin", "key-1", kT0 + absl::Milliseconds(1)));
  EXPECT_EQ(found, std::nullopt);
  ASSERT_OK_AND_ASSIGN(found, store_->FindIdempotencyRecord("user-a-other", "key-1", kT0));
  EXPECT_EQ(found, std::nullopt);
  ASSERT_OK_AND_ASSIGN(found, store_->FindIdempotencyRecord("user-a-admin", "key-2", kT0));
  EXPECT_EQ(found, std::nullopt);
}

TEST_P(StoreConformance, ExpiredIdempotencyKeyCanBeUsedAgain) {
  const IdempotencyRecord first = Idempotency("user-a-admin", "key-1", kT0);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), {}, {}, &first), IsOk());
  // Within the lifetime the key is taken; one millisecond after it, the old record is replaced.
  const IdempotencyRecord early =
      Idempotency("user-a-admin", "key-1", kT0 + kIdempotencyKeyLifetime);
  EXPECT_THAT(store_->InsertBatch(Batch("a", "2", kPrefixB), {}, {}, &early),
              StatusIs(absl::StatusCode::kAlreadyExists, "idempotencyKey"));
  const IdempotencyRecord later =
      Idempotency("user-a-admin", "key-1", kT0 + kIdempotencyKeyLifetime + absl::Milliseconds(1));
  ASSERT_THAT(store_->InsertBatch(Batch("a", "2", kPrefixB), {}, {}, &later), IsOk());
  ASSERT_OK_AND_ASSIGN(std::optional<IdempotencyRecord> found,
                       store_->FindIdempotencyRecord("user-a-admin", "key-1", kT0));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(Tie(*found), Tie(later));
}

TEST_P(StoreConformance, SkippedRowsAreStoredWithTheBatchAndReadBackInRowOrder) {
  const CallRows rows(2);
  const std::vector<std::string> header = {"phoneNumber", "name"};
  const SkippedRow skipped[] = {
      {.row = 4, .column = "phoneNumber", .message = "duplicate", .cells_json = R"(["1","b"])"},
      {.row = 9, .column = "name", .message = "name is required", .cells_json = R"(["2",""])"}};
  ASSERT_THAT(
      store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {header, skipped}, nullptr),
      IsOk());
  std::vector<std::string> got_header;
  std::vector<std::string> got;
  ASSERT_THAT(store_->ForEachSkippedRow(
                  "org-a", "batch-a-1",
                  [&](std::span<const std::string> cells) {
                    got_header.assign(cells.begin(), cells.end());
                    return absl::OkStatus();
                  },
                  [&](const SkippedRow& row) {
                    got.push_back(fmt::format("{}|{}|{}|{}", row.row, row.column, row.message,
                                              row.cells_json));
                    return absl::OkStatus();
                  }),
              IsOk());
  EXPECT_EQ(got_header, header);
  EXPECT_THAT(got, ElementsAre(R"(4|phoneNumber|duplicate|["1","b"])",
                               R"(9|name|name is required|["2",""])"));
  const auto ignore_header = [](std::span<const std::string>) { return absl::OkStatus(); };
  const auto ignore_row = [](const SkippedRow&) { return absl::OkStatus(); };
  EXPECT_THAT(store_->ForEachSkippedRow("org-b", "batch-a-1", ignore_header, ignore_row),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_P(StoreConformance, SameIdempotencyKeyOfAnotherUserIsAccepted) {
  const IdempotencyRecord first = Idempotency("user-a-admin", "key-1", kT0);
  const IdempotencyRecord second = Idempotency("user-b-admin", "key-1", kT0);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), {}, {}, &first), IsOk());
  ASSERT_THAT(store_->InsertBatch(Batch("b", "1", kPrefixB), {}, {}, &second), IsOk());
}

// --- file databases only --------------------------------------------------------------------

// A raw connection to a store's database file, to check what the interface does not expose.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    db_.reset(raw);
  }
  sqlite3* get() const { return db_.get(); }

  // The single integer `sql` answers (-1 when it fails).
  int64_t Int(const std::string& sql) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return -1;
    sqlite::StmtPtr stmt(raw);
    return sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : -1;
  }

 private:
  sqlite::DbPtr db_;
};

struct StoredCall {
  std::string id, batch_id;
  int64_t seq;
  std::string phone;
  std::optional<std::string> timezone;
  std::string variables, status;
  int64_t attempts;
  bool next_attempt_at_is_null;
  int64_t created_at, updated_at;
};

std::vector<StoredCall> StoredCalls(sqlite3* db, const std::string& batch_id) {
  const char* sql =
      "SELECT id, batch_id, seq, phone, timezone, variables, status, attempts, "
      "next_attempt_at IS NULL, created_at, updated_at FROM calls WHERE batch_id = ? ORDER BY seq";
  sqlite3_stmt* raw = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &raw, nullptr), SQLITE_OK);
  sqlite::StmtPtr stmt(raw);
  sqlite3_bind_text(stmt.get(), 1, batch_id.c_str(), -1, SQLITE_TRANSIENT);
  const auto text = [&](int col) {
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), col)));
  };
  std::vector<StoredCall> calls;
  while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
    calls.push_back({.id = text(0),
                     .batch_id = text(1),
                     .seq = sqlite3_column_int64(stmt.get(), 2),
                     .phone = text(3),
                     .timezone = sqlite3_column_type(stmt.get(), 4) == SQLITE_NULL
                                     ? std::nullopt
                                     : std::optional<std::string>(text(4)),
                     .variables = text(5),
                     .status = text(6),
                     .attempts = sqlite3_column_int64(stmt.get(), 7),
                     .next_attempt_at_is_null = sqlite3_column_int64(stmt.get(), 8) != 0,
                     .created_at = sqlite3_column_int64(stmt.get(), 9),
                     .updated_at = sqlite3_column_int64(stmt.get(), 10)});
  }
  return calls;
}

class SqliteBatchTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/nexus.db";
    ASSERT_OK_AND_ASSIGN(store_, OpenStore("sqlite://" + path_));
    ASSERT_THAT(store_->CreateWorkspace(Workspace("a")), IsOk());
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteBatchTest, EveryCallIsStoredQueuedWithAPrefixedObjectId) {
  // Sizes around the multi-row statement's 100 rows.
  for (const size_t count : {0, 1, 99, 100, 101, 250}) {
    const CallRows rows(count);
    const std::string suffix = std::to_string(count);
    const std::string prefix = fmt::format("6644556600aabb{:04x}", count);
    const domain::Batch batch = Batch("a", suffix, prefix);
    ASSERT_THAT(store_->InsertBatch(batch, rows.calls(), {}, nullptr), IsOk()) << count;
    ASSERT_OK_AND_ASSIGN(domain::Batch got, store_->GetBatch("org-a", batch.id));
    EXPECT_EQ(got.total_calls, static_cast<int64_t>(count));

    RawDb db(path_);
    const std::vector<StoredCall> calls = StoredCalls(db.get(), batch.id);
    ASSERT_EQ(calls.size(), count);
    for (size_t i = 0; i < count; ++i) {
      const StoredCall& call = calls[i];
      EXPECT_EQ(call.id, prefix + fmt::format("{:06x}", i));
      EXPECT_TRUE(core::IsObjectId(call.id)) << call.id;
      EXPECT_EQ(call.batch_id, batch.id);
      EXPECT_EQ(call.seq, static_cast<int64_t>(i));
      EXPECT_EQ(call.phone, CallRows::Phone(i));
      EXPECT_EQ(call.timezone,
                i % 3 == 0 ? std::optional<std::string>("America/Chicago") : std::nullopt);
      EXPECT_EQ(call.variables, CallRows::Variables(i));
      EXPECT_EQ(call.status, "queued");
      EXPECT_EQ(call.attempts, 0);
      EXPECT_TRUE(call.next_attempt_at_is_null);
      EXPECT_EQ(call.created_at, core::ToUnixMillis(batch.created_at));
      EXPECT_EQ(call.updated_at, core::ToUnixMillis(batch.created_at));
    }
  }
}

TEST_F(SqliteBatchTest, CallCounterIsLowercaseHexOfTheRowIndex) {
  const CallRows rows(300);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, nullptr), IsOk());
  RawDb db(path_);
  const std::vector<StoredCall> calls = StoredCalls(db.get(), "batch-a-1");
  ASSERT_EQ(calls.size(), 300u);
  EXPECT_EQ(calls[0].id, std::string(kPrefixA) + "000000");
  EXPECT_EQ(calls[171].id, std::string(kPrefixA) + "0000ab");
  EXPECT_EQ(calls[299].id, std::string(kPrefixA) + "00012b");
}

TEST_F(SqliteBatchTest, FailedBatchLeavesNoCallRows) {
  const CallRows rows(250);
  const IdempotencyRecord record = Idempotency("user-a-admin", "key-1", kT0);
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), {}, {}, &record), IsOk());
  EXPECT_THAT(store_->InsertBatch(Batch("a", "2", kPrefixB), rows.calls(), {}, &record),
              StatusIs(absl::StatusCode::kAlreadyExists, "idempotencyKey"));
  RawDb db(path_);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM calls"), 0);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM batches WHERE id = 'batch-a-2'"), 0);
}

TEST_F(SqliteBatchTest, DeletedBatchIsNotFound) {
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), {}, {}, nullptr), IsOk());
  {
    RawDb db(path_);
    ASSERT_EQ(sqlite3_exec(db.get(), "UPDATE batches SET deleted_at = 1 WHERE id = 'batch-a-1'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-1"),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_F(SqliteBatchTest, CorruptBatchColumnIsInternalWithoutSql) {
  ASSERT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), {}, {}, nullptr), IsOk());
  {
    RawDb db(path_);
    ASSERT_EQ(
        sqlite3_exec(db.get(), "UPDATE batches SET allowed_days = '1,9' WHERE id = 'batch-a-1'",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
  }
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-1"),
              StatusIs(absl::StatusCode::kInternal, "database error"));
}

// The TEST ONLY fault hook: a kill -9 in the middle of InsertBatch's transaction. 9,999 calls of
// ~450 bytes (below the large-cache threshold) overflow SQLite's default 2 MB page cache, so
// uncommitted pages have already been spilled to the WAL when the process dies.
TEST_F(SqliteBatchTest, KillInTheMiddleOfAnInsertLeavesNothing) {
  const CallRows rows(9'999, 400);
  const IdempotencyRecord record = Idempotency("user-a-admin", "key-1", kT0);
  store_.reset();
  EXPECT_EXIT(
      {
        setenv("NEXUS_TEST_KILL_AFTER_CALLS", "9950", 1);
        auto store = OpenStore("sqlite://" + path_, {.allow_test_faults = true});
        if (!store.ok()) _exit(1);
        (void)(*store)->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, &record);
        _exit(0);  // not reached when the hook fires
      },
      testing::KilledBySignal(SIGKILL), "");
  EXPECT_GT(std::filesystem::file_size(path_ + "-wal"), 1u << 20);  // spilled, never committed

  ASSERT_OK_AND_ASSIGN(store_, OpenStore("sqlite://" + path_));
  EXPECT_THAT(store_->GetBatch("org-a", "batch-a-1"), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_EQ(store_->FindIdempotencyRecord("user-a-admin", "key-1", kT0).value_or(record),
            std::nullopt);
  RawDb db(path_);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM calls"), 0);
  // The database is intact and writable.
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
  EXPECT_THAT(store_->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, &record), IsOk());
}

TEST_F(SqliteBatchTest, KillHookIsIgnoredWithoutAllowTestFaults) {
  setenv("NEXUS_TEST_KILL_AFTER_CALLS", "0", 1);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore("sqlite://" + path_);
  unsetenv("NEXUS_TEST_KILL_AFTER_CALLS");
  ASSERT_THAT(store, IsOk());
  const CallRows rows(3);
  EXPECT_THAT((*store)->InsertBatch(Batch("a", "1", kPrefixA), rows.calls(), {}, nullptr), IsOk());
  EXPECT_THAT((*store)->GetBatch("org-a", "batch-a-1"), IsOk());
}

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

// --- batch queries: ListCalls, ListBatches, ForEachCall, status and soft delete ---------------

// A batch's calls as (phone, variables JSON) pairs, kept alive for InsertBatch.
class Contacts {
 public:
  Contacts(std::initializer_list<std::pair<std::string, std::string>> rows) : rows_(rows) {
    for (const auto& [phone, variables] : rows_) {
      calls_.push_back({.e164 = phone, .timezone = "", .variables_json = variables});
    }
  }
  std::span<const NewCall> calls() const { return calls_; }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
  std::vector<NewCall> calls_;
};

// Row i of kContacts has seq i; keys with '.', '"', '\' and spaces are extra columns.
const Contacts& QueryContacts() {
  static const Contacts contacts = {
      {"+12125550100", R"({"name":"Emily Davis","city":"Paris","a.b":"dot","q\"k":"quote"})"},
      {"+12125550101", R"({"name":"Jos\u00e9 \u00c1lvarez","city":"London"})"},
      {"+12125550102", R"({"name":"Bao Nguyen","city":"Paris","notes":"100% sure_x"})"},
      {"+12125550103", R"({"name":"emily stone","back\\slash":"bs"})"},
      {"+12125550104", R"({"name":"Zo\u00eb","city":"Berlin","first name":"Zoe"})"},
      {"+14155550105", R"({"name":"JOS\u00c9 Costa","city":"Paris"})"},
  };
  return contacts;
}

// batch_call_counts recounted from the calls, as the migration's backfill does.
constexpr char kRecountSql[] =
    "REPLACE INTO batch_call_counts (batch_id, queued, in_progress, completed, failed, "
    "no_answer, busy, dnc, canceled, picked, finished) "
    "SELECT batch_id, SUM(status = 'queued'), SUM(status = 'in_progress'), "
    "SUM(status = 'completed'), SUM(status = 'failed'), SUM(status = 'no_answer'), "
    "SUM(status = 'busy'), SUM(status = 'dnc'), SUM(status = 'canceled'), SUM(attempts > 0), "
    "SUM(status IN ('completed', 'dnc', 'canceled') OR (status IN ('failed', 'no_answer', "
    "'busy') AND next_attempt_at IS NULL)) FROM calls GROUP BY batch_id";

class CallQueryTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/nexus.db";
    ASSERT_OK_AND_ASSIGN(store_, OpenStore("sqlite://" + path_));
    ASSERT_THAT(store_->CreateWorkspace(Workspace("a")), IsOk());
    ASSERT_THAT(store_->CreateWorkspace(Workspace("b")), IsOk());
    batch_ = Batch("a", "q", kPrefixA);
    batch_.variable_keys = {"name", "city", "a.b", "q\"k", "notes", "back\\slash", "first name"};
    ASSERT_THAT(store_->InsertBatch(batch_, QueryContacts().calls(), {}, nullptr), IsOk());
  }

  // Runs `sql` on a raw connection (the dialler's updates, until it exists).
  void Exec(const std::string& sql) {
    RawDb db(path_);
    ASSERT_EQ(sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  }
  // Sets call `seq` of the batch to `status` with `attempts`, updated at kT0 + `minutes`.
  void SetCall(int seq, std::string_view status, int attempts, int minutes,
               std::string_view next_attempt_at = "NULL") {
    Exec(
        fmt::format("UPDATE calls SET status = '{}', attempts = {}, next_attempt_at = {}, "
                    "updated_at = {} WHERE id = '{}{:06x}'",
                    status, attempts, next_attempt_at,
                    core::ToUnixMillis(kT0 + absl::Minutes(minutes)), kPrefixA, seq));
    Recount();
  }
  // What the dialler must do to batch_call_counts when it changes calls (here: a recount).
  void Recount() { Exec(kRecountSql); }

  // The seqs of the calls `query` answers, and its total.
  std::pair<std::vector<int64_t>, int64_t> Seqs(const CallQuery& query) {
    absl::StatusOr<CallPage> page = store_->ListCalls("org-a", batch_.id, query);
    EXPECT_THAT(page, IsOk());
    if (!page.ok()) return {};
    std::vector<int64_t> seqs;
    for (const domain::Call& call : page->calls) seqs.push_back(call.seq);
    return {seqs, page->total};
  }

  static CallQuery Query(std::function<void(CallQuery&)> edit = nullptr) {
    CallQuery query;
    query.limit = 100;
    if (edit) edit(query);
    return query;
  }

  using Seq = std::vector<int64_t>;
  using Result = std::pair<Seq, int64_t>;

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  domain::Batch batch_;
};

TEST_F(CallQueryTest, DefaultViewIsNewestFirstWithCountersAndFullRecords) {
  ASSERT_OK_AND_ASSIGN(CallPage page, store_->ListCalls("org-a", batch_.id, CallQuery()));
  EXPECT_EQ(page.total, 6);
  ASSERT_EQ(page.calls.size(), 6u);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kQueued), 6);
  EXPECT_EQ(page.counts.Total(), 6);
  EXPECT_EQ(page.counts.picked, 0);
  EXPECT_EQ(page.counts.finished, 0);
  const domain::Call& last = page.calls[0];  // descending: the last row first
  EXPECT_EQ(last.id, std::string(kPrefixA) + "000005");
  EXPECT_EQ(last.batch_id, batch_.id);
  EXPECT_EQ(last.seq, 5);
  EXPECT_EQ(last.phone, "+14155550105");
  EXPECT_EQ(last.timezone, std::nullopt);
  EXPECT_EQ(last.variables_json, R"({"name":"JOS\u00c9 Costa","city":"Paris"})");
  EXPECT_EQ(last.status, domain::CallStatus::kQueued);
  EXPECT_EQ(last.attempts, 0);
  EXPECT_EQ(last.next_attempt_at, std::nullopt);
  EXPECT_EQ(last.created_at, batch_.created_at);
  EXPECT_EQ(last.updated_at, batch_.created_at);
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.descending = false; })), Result({0, 1, 2, 3, 4, 5}, 6));
}

TEST_F(CallQueryTest, OffsetAndLimitPageThroughTheRowsAndTotalIgnoresThem) {
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 2; })), Result({5, 4}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 2, q.offset = 2; })), Result({3, 2}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 4, q.offset = 4; })), Result({1, 0}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.offset = 6; })), Result({}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 0; })), Result({}, 6));
}

TEST_F(CallQueryTest, SummaryReadsTheBatchCounters) {
  SetCall(0, "completed", 1, 5);
  SetCall(1, "failed", 1, 6);                      // final: no next attempt
  SetCall(2, "no_answer", 1, 7, "1715790000000");  // a retry is scheduled: not final
  SetCall(3, "in_progress", 2, 8);
  SetCall(4, "dnc", 0, 9);
  ASSERT_OK_AND_ASSIGN(CallPage page, store_->ListCalls("org-a", batch_.id, CallQuery()));
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kQueued), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kCompleted), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kFailed), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kNoAnswer), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kInProgress), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kDnc), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kBusy), 0);
  EXPECT_EQ(page.counts.Total(), 6);
  EXPECT_EQ(page.counts.picked, 4);
  EXPECT_EQ(page.counts.finished, 3);  // completed, failed, dnc
  // The counters are read, not computed: a change of calls alone does not move them.
  Exec(fmt::format("UPDATE calls SET status = 'busy' WHERE id = '{}000005'", kPrefixA));
  ASSERT_OK_AND_ASSIGN(page, store_->ListCalls("org-a", batch_.id, CallQuery()));
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kBusy), 0);
  RawDb db(path_);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM batch_call_counts"), 1);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"), 0);
}

TEST_F(CallQueryTest, InsertBatchStartsTheCountersAtQueued) {
  const Contacts two = {{"+12125550100", "{}"}, {"+12125550101", "{}"}};
  ASSERT_THAT(store_->InsertBatch(Batch("a", "two", kPrefixB), two.calls(), {}, nullptr), IsOk());
  ASSERT_THAT(store_->InsertBatch(Batch("a", "none", "6644556600aabbccff"), {}, {}, nullptr),
              IsOk());
  RawDb db(path_);
  EXPECT_EQ(db.Int("SELECT queued FROM batch_call_counts WHERE batch_id = 'batch-a-two'"), 2);
  EXPECT_EQ(db.Int("SELECT queued + in_progress + completed + failed + no_answer + busy + dnc + "
                   "canceled + picked + finished FROM batch_call_counts "
                   "WHERE batch_id = 'batch-a-none'"),
            0);
}

TEST_F(CallQueryTest, StatusFilterAnswersFromTheIndexOrTheRangeAlike) {
  SetCall(1, "failed", 1, 5);                                    // 1 of 6: the status index
  for (int seq : {0, 2, 3, 5}) SetCall(seq, "completed", 1, 6);  // 4 of 6: the key range
  const auto with_status = [](domain::CallStatus status, bool descending) {
    return Query([=](CallQuery& q) { q.status = status, q.descending = descending; });
  };
  EXPECT_EQ(Seqs(with_status(domain::CallStatus::kFailed, true)), Result({1}, 1));
  EXPECT_EQ(Seqs(with_status(domain::CallStatus::kCompleted, true)), Result({5, 3, 2, 0}, 4));
  EXPECT_EQ(Seqs(with_status(domain::CallStatus::kCompleted, false)), Result({0, 2, 3, 5}, 4));
  EXPECT_EQ(Seqs(with_status(domain::CallStatus::kBusy, true)), Result({}, 0));
  // With a search too, the total is counted rather than read from the counters.
  EXPECT_EQ(Seqs(Query([](CallQuery& q) {
              q.status = domain::CallStatus::kCompleted, q.search = "EMILY";
            })),
            Result({3, 0}, 2));
  EXPECT_EQ(
      Seqs(Query([](CallQuery& q) { q.status = domain::CallStatus::kFailed, q.search = "jos"; })),
      Result({1}, 1));
}

TEST_F(CallQueryTest, SearchIsACaseInsensitiveLiteralSubstringOfPhoneAndValues) {
  const auto search = [](std::string term) {
    return Query([=](CallQuery& q) { q.search = term; });
  };
  EXPECT_EQ(Seqs(search("emily")), Result({3, 0}, 2));
  EXPECT_EQ(Seqs(search("EMILY")), Result({3, 0}, 2));
  EXPECT_EQ(Seqs(search("jos\xC3\xA9")), Result({5, 1}, 2));  // josé matches José and JOSÉ
  EXPECT_EQ(Seqs(search("\xC3\x81LVAREZ")), Result({1}, 1));  // ÁLVAREZ
  EXPECT_EQ(Seqs(search("415555")), Result({5}, 1));          // the phone number
  EXPECT_EQ(Seqs(search("+1212")), Result({4, 3, 2, 1, 0}, 5));
  EXPECT_EQ(Seqs(search("paris")), Result({5, 2, 0}, 3));
  EXPECT_EQ(Seqs(search("city")), Result({}, 0));   // keys are not searched
  EXPECT_EQ(Seqs(search("100%")), Result({2}, 1));  // no wildcards
  EXPECT_EQ(Seqs(search("%")), Result({2}, 1));
  EXPECT_EQ(Seqs(search("_")), Result({2}, 1));
  EXPECT_EQ(Seqs(search("davis")), Result({0}, 1));
  EXPECT_EQ(Seqs(search("davisparis")), Result({}, 0));  // not across two values
  EXPECT_EQ(Seqs(search("quote")), Result({0}, 1));
}

TEST_F(CallQueryTest, PhoneAndVariableConditionsAreExactAndAnded) {
  using Condition = CallQuery::VariableCondition;
  const auto where = [](std::vector<Condition> conditions) {
    return Query([=](CallQuery& q) { q.variables = conditions; });
  };
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.phone = "+12125550102"; })), Result({2}, 1));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.phone = "2125550102"; })), Result({}, 0));
  EXPECT_EQ(Seqs(where({{"city", "Paris"}})), Result({5, 2, 0}, 3));
  EXPECT_EQ(Seqs(where({{"city", "paris"}})), Result({}, 0));  // equality is exact
  EXPECT_EQ(Seqs(where({{"city", "Paris"}, {"name", "Bao Nguyen"}})), Result({2}, 1));
  EXPECT_EQ(Seqs(where({{"city", std::nullopt}})), Result({3}, 1));  // null: no such variable
  EXPECT_EQ(Seqs(where({{"name", "Jos\xC3\xA9 \xC3\x81lvarez"}})), Result({1}, 1));
  // Keys that a JSON path has to quote, escape, or cannot name at all.
  EXPECT_EQ(Seqs(where({{"a.b", "dot"}})), Result({0}, 1));
  EXPECT_EQ(Seqs(where({{"q\"k", "quote"}})), Result({0}, 1));
  EXPECT_EQ(Seqs(where({{"back\\slash", "bs"}})), Result({3}, 1));
  EXPECT_EQ(Seqs(where({{"first name", "Zoe"}})), Result({4}, 1));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) {
              q.variables = {{"city", "Paris"}};
              q.search = "costa";
              q.phone = "+14155550105";
            })),
            Result({5}, 1));
}

TEST_F(CallQueryTest, EverySortKeyOrdersBothWaysWithRowOrderBreakingTies) {
  using SortKey = CallQuery::SortKey;
  const auto sorted = [](SortKey key, bool descending, std::string variable = "") {
    return Query([=](CallQuery& q) {
      q.sort_key = key, q.descending = descending, q.sort_variable = variable;
    });
  };
  SetCall(2, "completed", 3, 30);
  SetCall(4, "failed", 1, 10);
  SetCall(0, "busy", 1, 20);
  EXPECT_EQ(Seqs(sorted(SortKey::kUpdatedAt, false)).first, Seq({1, 3, 5, 4, 0, 2}));
  EXPECT_EQ(Seqs(sorted(SortKey::kUpdatedAt, true)).first, Seq({2, 0, 4, 5, 3, 1}));
  EXPECT_EQ(Seqs(sorted(SortKey::kAttempts, false)).first, Seq({1, 3, 5, 0, 4, 2}));
  EXPECT_EQ(Seqs(sorted(SortKey::kAttempts, true)).first, Seq({2, 4, 0, 5, 3, 1}));
  EXPECT_EQ(Seqs(sorted(SortKey::kStatus, false)).first, Seq({0, 2, 4, 1, 3, 5}));
  EXPECT_EQ(Seqs(sorted(SortKey::kStatus, true)).first, Seq({5, 3, 1, 4, 2, 0}));
  EXPECT_EQ(Seqs(sorted(SortKey::kPhone, true)).first, Seq({5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(Seqs(sorted(SortKey::kCreatedAt, false)).first, Seq({0, 1, 2, 3, 4, 5}));
  // Variables compare as text; a call without the variable sorts lowest.
  EXPECT_EQ(Seqs(sorted(SortKey::kVariable, false, "city")).first, Seq({3, 4, 1, 0, 2, 5}));
  EXPECT_EQ(Seqs(sorted(SortKey::kVariable, true, "city")).first, Seq({5, 2, 0, 1, 4, 3}));
  EXPECT_EQ(Seqs(sorted(SortKey::kVariable, false, "q\"k")).first, Seq({1, 2, 3, 4, 5, 0}));
  // A sort with a filter, and a page of it.
  EXPECT_EQ(Seqs(Query([](CallQuery& q) {
              q.sort_key = SortKey::kVariable, q.sort_variable = "name", q.descending = false;
              q.search = "e", q.limit = 2, q.offset = 1;
            })),
            Result({0, 1}, 5));  // names: Bao, Emily, José, Zoë, emily; 5 has no "e"
  // A status filter with a status sort is row order.
  EXPECT_EQ(Seqs(Query([](CallQuery& q) {
              q.status = domain::CallStatus::kQueued, q.sort_key = SortKey::kStatus;
            })),
            Result({5, 3, 1}, 3));
  // A selective status filter (the index) with another sort.
  EXPECT_EQ(Seqs(Query([](CallQuery& q) {
              q.status = domain::CallStatus::kFailed, q.sort_key = SortKey::kPhone;
            })),
            Result({4}, 1));
}

TEST_F(CallQueryTest, BadArgumentsAndOtherBatchesAreRefused) {
  EXPECT_THAT(store_->ListCalls("org-a", batch_.id, Query([](CallQuery& q) { q.offset = -1; })),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
  EXPECT_THAT(store_->ListCalls(
                  "org-a", batch_.id, Query([](CallQuery& q) {
                    q.variables.assign(CallQuery::kMaxVariableConditions + 1, {"city", "Paris"});
                  })),
              StatusIs(absl::StatusCode::kInvalidArgument, "at most 8"));
  EXPECT_THAT(
      store_->ListCalls("org-a", batch_.id, Query([](CallQuery& q) {
                          q.variables.assign(CallQuery::kMaxVariableConditions, {"city", "Paris"});
                        })),
      IsOk());
  EXPECT_THAT(store_->ListCalls("org-b", batch_.id, CallQuery()),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
  EXPECT_THAT(store_->ListCalls("org-a", "batch-a-missing", CallQuery()),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_F(CallQueryTest, CallsOfAnotherBatchNeverAppear) {
  const Contacts other = {{"+12125550100", R"({"name":"Emily Davis"})"}};
  domain::Batch second = Batch("a", "other", kPrefixB);
  ASSERT_THAT(store_->InsertBatch(second, other.calls(), {}, nullptr), IsOk());
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.search = "emily davis"; })), Result({0}, 1));
  ASSERT_OK_AND_ASSIGN(CallPage page, store_->ListCalls("org-a", second.id, CallQuery()));
  EXPECT_EQ(page.total, 1);
  EXPECT_EQ(page.counts.Total(), 1);
}

TEST_F(CallQueryTest, ForEachCallVisitsEveryCallInRowOrderAndStopsAtAnError) {
  std::vector<int64_t> seqs;
  EXPECT_THAT(store_->ForEachCall("org-a", batch_.id,
                                  [&](const domain::Call& call) {
                                    seqs.push_back(call.seq);
                                    return absl::OkStatus();
                                  }),
              IsOk());
  EXPECT_EQ(seqs, Seq({0, 1, 2, 3, 4, 5}));
  seqs.clear();
  EXPECT_THAT(store_->ForEachCall("org-a", batch_.id,
                                  [&](const domain::Call& call) {
                                    seqs.push_back(call.seq);
                                    return seqs.size() == 2 ? absl::CancelledError("enough")
                                                            : absl::OkStatus();
                                  }),
              StatusIs(absl::StatusCode::kCancelled, "enough"));
  EXPECT_EQ(seqs, Seq({0, 1}));
  EXPECT_THAT(
      store_->ForEachCall("org-b", batch_.id, [](const domain::Call&) { return absl::OkStatus(); }),
      StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_F(CallQueryTest, StatusChangesOnlyFromTheExpectedStatus) {
  const absl::Time later = kT0 + absl::Hours(1);
  ASSERT_THAT(store_->UpdateBatchStatus("org-a", batch_.id, domain::BatchStatus::kPaused,
                                        domain::BatchStatus::kActive, later),
              IsOk());
  ASSERT_OK_AND_ASSIGN(domain::Batch got, store_->GetBatch("org-a", batch_.id));
  EXPECT_EQ(got.status, domain::BatchStatus::kActive);
  EXPECT_EQ(got.updated_at, later);
  EXPECT_THAT(store_->UpdateBatchStatus("org-a", batch_.id, domain::BatchStatus::kPaused,
                                        domain::BatchStatus::kActive, later),
              StatusIs(absl::StatusCode::kFailedPrecondition, "the batch is active"));
  EXPECT_THAT(store_->UpdateBatchStatus("org-b", batch_.id, domain::BatchStatus::kActive,
                                        domain::BatchStatus::kPaused, later),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_F(CallQueryTest, DeletedBatchIsGoneForEveryMethod) {
  EXPECT_THAT(store_->DeleteBatch("org-b", batch_.id, kT0),
              StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_THAT(store_->DeleteBatch("org-a", batch_.id, kT0 + absl::Hours(2)), IsOk());
  EXPECT_THAT(store_->GetBatch("org-a", batch_.id), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->ListCalls("org-a", batch_.id, CallQuery()),
              StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(
      store_->ForEachCall("org-a", batch_.id, [](const domain::Call&) { return absl::OkStatus(); }),
      StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->UpdateBatchStatus("org-a", batch_.id, domain::BatchStatus::kPaused,
                                        domain::BatchStatus::kActive, kT0),
              StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->DeleteBatch("org-a", batch_.id, kT0),
              StatusIs(absl::StatusCode::kNotFound, ""));
  ASSERT_OK_AND_ASSIGN(BatchListPage listed,
                       store_->ListBatches("org-a", "user-a-admin", "", 0, 10));
  EXPECT_EQ(listed.total, 0);
  RawDb db(path_);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM calls"), 6);  // soft: the rows stay
  EXPECT_EQ(db.Int("SELECT deleted_at FROM batches"), core::ToUnixMillis(kT0 + absl::Hours(2)));
}

TEST_F(CallQueryTest, BatchListIsTheOwnersNewestFirstWithCountersAndSearch) {
  // batch_ ("Campaign q", paused) was created at kT0 + 250 ms.
  domain::Batch spring = Batch("a", "spring", kPrefixB);
  spring.settings.name = "Printemps \xC3\x89T\xC3\x89";  // "Printemps ÉTÉ"
  spring.status = domain::BatchStatus::kActive;
  spring.created_at = kT0 + absl::Hours(1);
  const Contacts two = {{"+12125550100", "{}"}, {"+12125550101", "{}"}};
  ASSERT_THAT(store_->InsertBatch(spring, two.calls(), {}, nullptr), IsOk());
  domain::Batch other_user = Batch("a", "member", "6644556600aabbccff");
  other_user.user_id = "user-a-member";
  ASSERT_THAT(store_->InsertUser(User("a", "member", domain::Role::kMember)), IsOk());
  ASSERT_THAT(store_->InsertBatch(other_user, {}, {}, nullptr), IsOk());
  SetCall(0, "completed", 1, 5);
  SetCall(1, "in_progress", 1, 5);

  ASSERT_OK_AND_ASSIGN(BatchListPage page, store_->ListBatches("org-a", "user-a-admin", "", 0, 10));
  EXPECT_EQ(page.total, 2);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].batch.id, spring.id);
  EXPECT_EQ(page.items[0].batch.total_calls, 2);
  EXPECT_EQ(page.items[0].counts.Of(domain::CallStatus::kQueued), 2);
  EXPECT_EQ(page.items[1].batch.id, batch_.id);
  EXPECT_EQ(page.items[1].batch.variable_keys, batch_.variable_keys);
  EXPECT_EQ(page.items[1].counts.picked, 2);
  EXPECT_EQ(page.items[1].counts.finished, 1);
  EXPECT_EQ(page.items[1].counts.Of(domain::CallStatus::kInProgress), 1);

  ASSERT_OK_AND_ASSIGN(page, store_->ListBatches("org-a", "user-a-admin", "", 1, 1));
  EXPECT_EQ(page.total, 2);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].batch.id, batch_.id);
  const auto found = [&](std::string_view search) {
    std::vector<std::string> ids;
    auto listed = store_->ListBatches("org-a", "user-a-admin", search, 0, 10);
    EXPECT_THAT(listed, IsOk());
    if (listed.ok()) {
      for (const auto& item : listed->items) ids.push_back(item.batch.id);
    }
    return ids;
  };
  EXPECT_THAT(found("printemps \xC3\xA9t\xC3\xA9"), ElementsAre(spring.id));  // été
  EXPECT_THAT(found("CAMPAIGN"), ElementsAre(batch_.id));
  EXPECT_THAT(found("paused"), ElementsAre(batch_.id));  // the status
  EXPECT_THAT(found("act"), ElementsAre(spring.id));
  EXPECT_THAT(found("%"), ElementsAre());
  ASSERT_OK_AND_ASSIGN(page, store_->ListBatches("org-a", "user-a-member", "", 0, 10));
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].batch.id, other_user.id);
  ASSERT_OK_AND_ASSIGN(page, store_->ListBatches("org-b", "user-a-admin", "", 0, 10));
  EXPECT_EQ(page.total, 0);
  EXPECT_THAT(store_->ListBatches("org-a", "user-a-admin", "", -1, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
}

// The plans behind ListCalls: the default view reads the batch's primary-key range, a status
// filter reads calls_by_status, and neither sorts (a temp B-tree would read every call).
TEST_F(CallQueryTest, BatchQueriesUseTheirIndexes) {
  RawDb db(path_);
  const auto plan = [&](const std::string& query) {
    sqlite3_stmt* raw = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(db.get(), ("EXPLAIN QUERY PLAN " + query).c_str(), -1, &raw, nullptr),
        SQLITE_OK)
        << query;
    sqlite::StmtPtr stmt(raw);
    std::string text;
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      text += reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 3));
      text += "; ";
    }
    return text;
  };
  EXPECT_THAT(plan("SELECT * FROM calls WHERE id >= 'a' AND id <= 'b' AND +batch_id = 'b' "
                   "AND (NULL IS NULL OR status = 'x') ORDER BY id DESC LIMIT 10"),
              testing::AllOf(HasSubstr("USING PRIMARY KEY"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT * FROM calls INDEXED BY calls_by_status WHERE batch_id = 'b' AND "
                   "status = 'failed' ORDER BY seq DESC LIMIT 10"),
              testing::AllOf(HasSubstr("calls_by_status"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT * FROM calls INDEXED BY calls_by_status WHERE batch_id = 'b' "
                   "ORDER BY status DESC, seq DESC LIMIT 10"),
              testing::AllOf(HasSubstr("calls_by_status"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT * FROM batch_call_counts WHERE batch_id = 'b'"),
              HasSubstr("USING PRIMARY KEY"));
}

// Migration 3 on a database that already has batches and calls (version 2).
TEST(BatchQueryMigration, BackfillsCountersSearchTextAndVariableKeys) {
  TempDir dir;
  const std::string path = dir.path() + "/nexus.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
      SQLITE_OK);
  sqlite::DbPtr conn(raw);
  ASSERT_THAT(sqlite::Migrate(conn.get(), kT0, sqlite::AllMigrations().first(2)), IsOk());
  ASSERT_THAT(
      sqlite::ExecScript(
          conn.get(),
          "INSERT INTO organizations VALUES ('org-1', 'Acme', 'UTC', 'US', NULL, NULL, 1);"
          "INSERT INTO batches (id, organization_id, user_id, agent_id, call_id_prefix, "
          "name, type, status, calling_number_ids, retry, delay_seconds, timezone, "
          "calling_start, calling_end, allowed_days, enable_dnc, default_country, "
          "total_calls, created_at, updated_at) VALUES ('b-1', 'org-1', 'u-1', 'a-1', "
          "'6644556600aabbccdd', 'Old', 'outbound', 'active', 'p-1', 0, 60, 'UTC', 540, "
          "1020, '1,2,3,4,5', 1, 'US', 3, 1, 1), ('b-2', 'org-1', 'u-1', 'a-1', "
          "'6644556600aabbccee', 'Empty', 'outbound', 'active', 'p-1', 0, 60, 'UTC', "
          "540, 1020, '1,2,3,4,5', 1, 'US', 0, 1, 1);"
          "INSERT INTO calls (id, batch_id, seq, phone, variables, status, attempts, "
          "created_at, updated_at) VALUES "
          "('6644556600aabbccdd000000', 'b-1', 0, '+1', '{\"name\":\"Ann SMITH\"}', "
          "'queued', 0, 1, 1), "
          "('6644556600aabbccdd000001', 'b-1', 1, '+2', '{\"name\":\"Bo\",\"city\":\"X\"}', "
          "'completed', 1, 1, 1), "
          "('6644556600aabbccdd000002', 'b-1', 2, '+3', '{}', 'failed', 2, 1, 1);"),
      IsOk());
  ASSERT_THAT(sqlite::Migrate(conn.get(), kT0), IsOk());
  conn.reset();

  ASSERT_OK_AND_ASSIGN(auto store, OpenStore("sqlite://" + path));
  ASSERT_OK_AND_ASSIGN(domain::Batch old, store->GetBatch("org-1", "b-1"));
  EXPECT_THAT(old.variable_keys, testing::UnorderedElementsAre("name", "city"));
  ASSERT_OK_AND_ASSIGN(domain::Batch empty, store->GetBatch("org-1", "b-2"));
  EXPECT_THAT(empty.variable_keys, ElementsAre());
  CallQuery query;
  query.search = "smith";
  ASSERT_OK_AND_ASSIGN(CallPage page, store->ListCalls("org-1", "b-1", query));
  EXPECT_EQ(page.total, 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kQueued), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kCompleted), 1);
  EXPECT_EQ(page.counts.Of(domain::CallStatus::kFailed), 1);
  EXPECT_EQ(page.counts.picked, 2);
  EXPECT_EQ(page.counts.finished, 2);
  ASSERT_OK_AND_ASSIGN(page, store->ListCalls("org-1", "b-2", CallQuery()));
  EXPECT_EQ(page.counts.Total(), 0);
}

}  // namespace
}  // namespace nexus::store
