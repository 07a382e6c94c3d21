#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
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
                  "org-a", "batch-a-1", 0, -1,
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
  std::vector<int64_t> paged;
  ASSERT_THAT(store_->ForEachSkippedRow("org-a", "batch-a-1", 4, 1, ignore_header,
                                        [&](const SkippedRow& row) {
                                          paged.push_back(row.row);
                                          return absl::OkStatus();
                                        }),
              IsOk());
  EXPECT_THAT(paged, ElementsAre(9)) << "rows after 4, at most 1";
  EXPECT_THAT(store_->ForEachSkippedRow("org-b", "batch-a-1", 0, -1, ignore_header, ignore_row),
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

// batch_call_counts recounted from the calls, as the migration's backfill does, taking the
// batch's next change_seq (migration 7) as every write that changes calls must.
constexpr char kRecountSql[] =
    "REPLACE INTO batch_call_counts (batch_id, queued, in_progress, completed, failed, "
    "no_answer, busy, dnc, canceled, picked, finished, change_seq) "
    "SELECT batch_id, SUM(status = 'queued'), SUM(status = 'in_progress'), "
    "SUM(status = 'completed'), SUM(status = 'failed'), SUM(status = 'no_answer'), "
    "SUM(status = 'busy'), SUM(status = 'dnc'), SUM(status = 'canceled'), SUM(attempts > 0), "
    "SUM(status IN ('completed', 'dnc', 'canceled') OR (status IN ('failed', 'no_answer', "
    "'busy') AND next_attempt_at IS NULL)), "
    "COALESCE((SELECT k.change_seq FROM batch_call_counts k WHERE k.batch_id = calls.batch_id), "
    "0) + 1 FROM calls GROUP BY batch_id";

// Where ListCalls answers from: the database's SQL, or the batch's in-memory call index
// (store/call_index.h; every batch gets one here). Both must give the same answers.
enum class QueryPath { kDatabase, kCallIndex };

std::string QueryPathName(const testing::TestParamInfo<QueryPath>& info) {
  return info.param == QueryPath::kDatabase ? "Database" : "CallIndex";
}

StoreOptions QueryPathOptions(QueryPath path) {
  StoreOptions options;
  if (path == QueryPath::kDatabase) {
    options.call_index_max_bytes = 0;
  } else {
    options.call_index_min_calls = 1;
    options.call_index_warm = false;
  }
  return options;
}

class CallQueryTest : public testing::TestWithParam<QueryPath> {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/nexus.db";
    ASSERT_OK_AND_ASSIGN(store_, OpenStore("sqlite://" + path_, QueryPathOptions(GetParam())));
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
                    "updated_at = {}, change_seq = (SELECT k.change_seq + 1 FROM "
                    "batch_call_counts k WHERE k.batch_id = calls.batch_id) WHERE id = '{}{:06x}'",
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

INSTANTIATE_TEST_SUITE_P(Sqlite, CallQueryTest,
                         testing::Values(QueryPath::kDatabase, QueryPath::kCallIndex),
                         QueryPathName);

TEST_P(CallQueryTest, DefaultViewIsNewestFirstWithCountersAndFullRecords) {
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

TEST_P(CallQueryTest, OffsetAndLimitPageThroughTheRowsAndTotalIgnoresThem) {
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 2; })), Result({5, 4}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 2, q.offset = 2; })), Result({3, 2}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 4, q.offset = 4; })), Result({1, 0}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.offset = 6; })), Result({}, 6));
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.limit = 0; })), Result({}, 6));
}

TEST_P(CallQueryTest, SummaryReadsTheBatchCounters) {
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

TEST_P(CallQueryTest, InsertBatchStartsTheCountersAtQueued) {
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

TEST_P(CallQueryTest, StatusFilterAnswersFromTheIndexOrTheRangeAlike) {
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

TEST_P(CallQueryTest, SearchIsACaseInsensitiveLiteralSubstringOfPhoneAndValues) {
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

TEST_P(CallQueryTest, PhoneAndVariableConditionsAreExactAndAnded) {
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

TEST_P(CallQueryTest, EverySortKeyOrdersBothWaysWithRowOrderBreakingTies) {
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

TEST_P(CallQueryTest, BadArgumentsAndOtherBatchesAreRefused) {
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

TEST_P(CallQueryTest, CallsOfAnotherBatchNeverAppear) {
  const Contacts other = {{"+12125550100", R"({"name":"Emily Davis"})"}};
  domain::Batch second = Batch("a", "other", kPrefixB);
  ASSERT_THAT(store_->InsertBatch(second, other.calls(), {}, nullptr), IsOk());
  EXPECT_EQ(Seqs(Query([](CallQuery& q) { q.search = "emily davis"; })), Result({0}, 1));
  ASSERT_OK_AND_ASSIGN(CallPage page, store_->ListCalls("org-a", second.id, CallQuery()));
  EXPECT_EQ(page.total, 1);
  EXPECT_EQ(page.counts.Total(), 1);
}

TEST_P(CallQueryTest, ForEachCallVisitsEveryCallInRowOrderAndStopsAtAnError) {
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

TEST_P(CallQueryTest, StatusChangesOnlyFromTheExpectedStatus) {
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

TEST_P(CallQueryTest, DeletedBatchIsGoneForEveryMethod) {
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

TEST_P(CallQueryTest, BatchListIsTheOwnersNewestFirstWithCountersAndSearch) {
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
TEST_P(CallQueryTest, BatchQueriesUseTheirIndexes) {
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
                   "status = 'failed' AND status <> 'queued' ORDER BY seq DESC LIMIT 10"),
              testing::AllOf(HasSubstr("calls_by_status"), Not(HasSubstr("TEMP B-TREE"))));
  // calls_by_status holds no queued call (migration 8), so no query may use it without saying
  // so; a callStatus sort over every status is left to the call index of a large batch.
  sqlite3_stmt* refused = nullptr;
  EXPECT_NE(sqlite3_prepare_v2(db.get(),
                               "SELECT * FROM calls INDEXED BY calls_by_status WHERE "
                               "batch_id = 'b' ORDER BY status, seq LIMIT 10",
                               -1, &refused, nullptr),
            SQLITE_OK);
  sqlite3_finalize(refused);
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

// --- dialling: candidates, attempts, outcomes, phone logs and the batch counters ---------------

// A batch's counters as one comparable value (designated initializers name the non-zero ones).
struct Tally {
  int64_t queued = 0, in_progress = 0, completed = 0, failed = 0, no_answer = 0, busy = 0, dnc = 0,
          canceled = 0, picked = 0, finished = 0;
  bool operator==(const Tally&) const = default;
};

void PrintTo(const Tally& t, std::ostream* os) {
  *os << fmt::format(
      "{{queued {}, in_progress {}, completed {}, failed {}, no_answer {}, busy {}, dnc {}, "
      "canceled {}, picked {}, finished {}}}",
      t.queued, t.in_progress, t.completed, t.failed, t.no_answer, t.busy, t.dnc, t.canceled,
      t.picked, t.finished);
}

Tally TallyOf(const CallCounts& counts) {
  using S = domain::CallStatus;
  return {.queued = counts.Of(S::kQueued),
          .in_progress = counts.Of(S::kInProgress),
          .completed = counts.Of(S::kCompleted),
          .failed = counts.Of(S::kFailed),
          .no_answer = counts.Of(S::kNoAnswer),
          .busy = counts.Of(S::kBusy),
          .dnc = counts.Of(S::kDnc),
          .canceled = counts.Of(S::kCanceled),
          .picked = counts.picked,
          .finished = counts.finished};
}

// The counters as migration 3 defines them, recounted from the calls themselves: picked = calls
// with attempts > 0; finished = completed, dnc, canceled, or failed / no_answer / busy with no
// next attempt.
Tally TallyOf(const std::vector<domain::Call>& calls) {
  using S = domain::CallStatus;
  Tally t;
  for (const domain::Call& call : calls) {
    bool final = false;
    switch (call.status) {
      case S::kQueued:
        ++t.queued;
        break;
      case S::kInProgress:
        ++t.in_progress;
        break;
      case S::kCompleted:
        ++t.completed, final = true;
        break;
      case S::kFailed:
        ++t.failed, final = !call.next_attempt_at;
        break;
      case S::kNoAnswer:
        ++t.no_answer, final = !call.next_attempt_at;
        break;
      case S::kBusy:
        ++t.busy, final = !call.next_attempt_at;
        break;
      case S::kDnc:
        ++t.dnc, final = true;
        break;
      case S::kCanceled:
        ++t.canceled, final = true;
        break;
    }
    if (call.attempts > 0) ++t.picked;
    if (final) ++t.finished;
  }
  return t;
}

// status, attempts, next attempt of a call
using CallState = std::tuple<std::string, int64_t, std::optional<absl::Time>>;
CallState StateOf(const domain::Call& call) {
  return {std::string(domain::CallStatusName(call.status)), call.attempts, call.next_attempt_at};
}

// A phone log as a comparable value (the status by name).
using LogView =
    std::tuple<int64_t, std::string, std::optional<int64_t>, std::string, std::string, absl::Time>;
std::vector<LogView> Logs(const domain::Call& call) {
  std::vector<LogView> logs;
  for (const domain::PhoneLog& log : call.phone_logs) {
    logs.emplace_back(log.attempt, std::string(domain::CallStatusName(log.status)),
                      log.duration_seconds, log.recording_url, log.transcript, log.created_at);
  }
  return logs;
}
LogView Log(int64_t attempt, std::string status, absl::Time at,
            std::optional<int64_t> duration = std::nullopt, std::string recording = "",
            std::string transcript = "") {
  return {attempt, std::move(status), duration, std::move(recording), std::move(transcript), at};
}

std::string EffectName(OutcomeEffect effect) {
  switch (effect) {
    case OutcomeEffect::kApplied:
      return "applied";
    case OutcomeEffect::kDuplicate:
      return "duplicate";
    case OutcomeEffect::kLogged:
      return "logged";
  }
  return "?";
}

using Seqs = std::vector<int64_t>;
using Bools = std::vector<bool>;
using Effects = std::vector<std::string>;

const absl::Time kStartAt = kT0 + absl::Minutes(1);
const absl::Time kDeadline = kT0 + absl::Minutes(11);
constexpr char kFrom[] = "+12125550100";

// One active batch of organization a (batch_, kPrefixA) with the 7 calls of CallRows(7): seqs 0,
// 3 and 6 have their own zone (America/Chicago), 1, 2, 4 and 5 are on the batch's zone. Runs on a
// file database and on ":memory:".
class DiallingTest : public testing::TestWithParam<Backend> {
 protected:
  static constexpr int kCalls = 7;

  void SetUp() override {
    path_ = dir_.path() + "/nexus.db";
    ASSERT_OK_AND_ASSIGN(
        store_, OpenStore(file() ? "sqlite://" + path_ : "sqlite://:memory:", {.pool_size = 4}));
    ASSERT_THAT(store_->CreateWorkspace(Workspace("a")), IsOk());
    ASSERT_THAT(store_->CreateWorkspace(Workspace("b")), IsOk());
    batch_ = ActiveBatch("a", "d", kPrefixA);
    batch_.total_calls = kCalls;
    ASSERT_THAT(store_->InsertBatch(batch_, rows_.calls(), {}, nullptr), IsOk());
  }

  bool file() const { return GetParam() == Backend::kFile; }

  static domain::Batch ActiveBatch(const std::string& tag, const std::string& suffix,
                                   const std::string& prefix) {
    domain::Batch batch = Batch(tag, suffix, prefix);
    batch.status = domain::BatchStatus::kActive;
    return batch;
  }
  static std::string CallId(int64_t seq, std::string_view prefix = kPrefixA) {
    return fmt::format("{}{:06x}", prefix, seq);
  }

  static AttemptStart StartOf(std::string call_id,
                              domain::CallStatus status = domain::CallStatus::kQueued,
                              int64_t attempts = 0, absl::Time deadline = kDeadline,
                              std::string from = kFrom) {
    return {.call_id = std::move(call_id),
            .expected_status = status,
            .expected_attempts = attempts,
            .from = std::move(from),
            .deadline = deadline};
  }
  static AttemptOutcome Outcome(std::string call_id, int64_t attempt, domain::CallStatus status,
                                std::optional<absl::Time> next = std::nullopt) {
    return {.call_id = std::move(call_id),
            .attempt = attempt,
            .status = status,
            .duration_seconds = std::nullopt,
            .recording_url = "",
            .transcript = "",
            .next_attempt_at = next};
  }

  // StartAttempts at `now`: the per-start results (empty when it fails, which fails the test).
  Bools Start(const std::vector<AttemptStart>& starts, absl::Time now = kStartAt) {
    absl::StatusOr<std::vector<bool>> started = store_->StartAttempts(starts, now);
    EXPECT_THAT(started, IsOk());
    return started.ok() ? *started : Bools();
  }
  // RecordOutcomes at `now`: the effects by name (empty when it fails, which fails the test).
  Effects Record(const std::vector<AttemptOutcome>& outcomes, absl::Time now) {
    absl::StatusOr<std::vector<OutcomeEffect>> effects = store_->RecordOutcomes(outcomes, now);
    EXPECT_THAT(effects, IsOk());
    Effects names;
    if (effects.ok()) {
      for (OutcomeEffect effect : *effects) names.push_back(EffectName(effect));
    }
    return names;
  }
  bool MarkDnc(const std::string& call_id, domain::CallStatus status, int64_t attempts,
               absl::Time now) {
    absl::StatusOr<bool> marked = store_->MarkCallDnc(call_id, status, attempts, now);
    EXPECT_THAT(marked, IsOk());
    return marked.value_or(false);
  }

  // Every call of the batch through ForEachCall, in row order.
  std::vector<domain::Call> Calls(const std::string& org_id, const std::string& batch_id) {
    std::vector<domain::Call> calls;
    EXPECT_THAT(store_->ForEachCall(org_id, batch_id,
                                    [&](const domain::Call& call) {
                                      calls.push_back(call);
                                      return absl::OkStatus();
                                    }),
                IsOk());
    return calls;
  }
  domain::Call CallAt(int64_t seq) {
    std::vector<domain::Call> calls = Calls("org-a", batch_.id);
    if (seq >= static_cast<int64_t>(calls.size())) {
      ADD_FAILURE() << "no call " << seq;
      return {};
    }
    return calls[seq];
  }
  CallState State(int64_t seq) { return StateOf(CallAt(seq)); }

  // The stored counters, as ListCalls answers them.
  Tally Counts(const std::string& org_id = "org-a", const std::string& batch_id = "batch-a-d") {
    CallQuery query;
    query.limit = 0;
    absl::StatusOr<CallPage> page = store_->ListCalls(org_id, batch_id, query);
    EXPECT_THAT(page, IsOk());
    return page.ok() ? TallyOf(page->counts) : Tally{.queued = -1};
  }
  // The counters recounted by SQL over the calls table (file backend only).
  Tally SqlRecount(const std::string& batch_id) const {
    RawDb db(path_);
    const std::string sql = fmt::format(
        "SELECT SUM(status = 'queued'), SUM(status = 'in_progress'), SUM(status = 'completed'), "
        "SUM(status = 'failed'), SUM(status = 'no_answer'), SUM(status = 'busy'), "
        "SUM(status = 'dnc'), SUM(status = 'canceled'), SUM(attempts > 0), "
        "SUM(status IN ('completed', 'dnc', 'canceled') OR (status IN ('failed', 'no_answer', "
        "'busy') AND next_attempt_at IS NULL)) FROM calls WHERE batch_id = '{}' GROUP BY batch_id",
        batch_id);
    sqlite3_stmt* raw = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw, nullptr), SQLITE_OK);
    sqlite::StmtPtr stmt(raw);
    Tally t;
    if (!stmt || sqlite3_step(stmt.get()) != SQLITE_ROW) {
      ADD_FAILURE() << "the recount answered no row";
      return t;
    }
    int64_t* const fields[] = {&t.queued, &t.in_progress, &t.completed, &t.failed, &t.no_answer,
                               &t.busy,   &t.dnc,         &t.canceled,  &t.picked, &t.finished};
    for (int i = 0; i < 10; ++i) *fields[i] = sqlite3_column_int64(stmt.get(), i);
    return t;
  }
  // The stored counters equal a recount of the calls (ForEachCall; and SQL on the file backend).
  void ExpectCountersMatchRecount(const std::string& batch_id = "batch-a-d") {
    const Tally stored = Counts("org-a", batch_id);
    EXPECT_EQ(stored, TallyOf(Calls("org-a", batch_id))) << "stored vs recount of ForEachCall";
    if (file()) {
      EXPECT_EQ(stored, SqlRecount(batch_id)) << "stored vs SQL GROUP BY recount";
    }
  }
  domain::BatchStatus BatchStatusOf(const std::string& batch_id) {
    absl::StatusOr<domain::Batch> batch = store_->GetBatch("org-a", batch_id);
    EXPECT_THAT(batch, IsOk());
    return batch.ok() ? batch->status : domain::BatchStatus::kCanceled;
  }

  static Seqs SeqsOf(const absl::StatusOr<std::vector<DialCandidate>>& candidates) {
    EXPECT_THAT(candidates, IsOk());
    Seqs seqs;
    if (candidates.ok()) {
      for (const DialCandidate& candidate : *candidates) seqs.push_back(candidate.seq);
    }
    return seqs;
  }
  Seqs Fresh(bool own_zone, int64_t after_seq = -1, int limit = 100) {
    return SeqsOf(store_->ListFreshCalls(batch_.id, own_zone, after_seq, limit));
  }
  Seqs Waiting(absl::Time now, int limit = 100) {
    return SeqsOf(store_->ListWaitingCalls(batch_.id, now, limit));
  }
  std::vector<std::string> InProgressIds(absl::Time until, int limit = 100) {
    absl::StatusOr<std::vector<InProgressCall>> calls = store_->ListInProgress(until, limit);
    EXPECT_THAT(calls, IsOk());
    std::vector<std::string> ids;
    if (calls.ok()) {
      for (const InProgressCall& call : *calls) ids.push_back(call.call_id);
    }
    return ids;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  const CallRows rows_{kCalls};
  domain::Batch batch_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, DiallingTest, testing::Values(Backend::kFile, Backend::kMemory),
                         [](const testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kFile ? "File" : "Memory";
                         });

TEST_P(DiallingTest, ActiveBatchesAreTheActiveUndeletedOnesOfEveryOrganizationOldestFirst) {
  domain::Batch theirs = ActiveBatch("b", "1", kPrefixB);
  theirs.created_at = kT0;  // older than batch_ (kT0 + 250 ms)
  domain::Batch newer = ActiveBatch("a", "newer", "6644556600aabbcc01");
  newer.created_at = kT0 + absl::Hours(1);
  const domain::Batch to_pause = ActiveBatch("a", "paused", "6644556600aabbcc02");
  const domain::Batch to_delete = ActiveBatch("a", "deleted", "6644556600aabbcc03");
  const domain::Batch draft = Batch("a", "draft", "6644556600aabbcc04");  // paused from the start
  for (const domain::Batch* batch : std::initializer_list<const domain::Batch*>{
           &theirs, &newer, &to_pause, &to_delete, &draft}) {
    ASSERT_THAT(store_->InsertBatch(*batch, {}, {}, nullptr), IsOk()) << batch->id;
  }
  ASSERT_THAT(store_->UpdateBatchStatus("org-a", to_pause.id, domain::BatchStatus::kActive,
                                        domain::BatchStatus::kPaused, kT0 + absl::Hours(2)),
              IsOk());
  ASSERT_THAT(store_->DeleteBatch("org-a", to_delete.id, kT0 + absl::Hours(2)), IsOk());

  ASSERT_OK_AND_ASSIGN(std::vector<domain::Batch> active, store_->ListActiveBatches());
  std::vector<std::string> ids;
  for (const domain::Batch& batch : active) ids.push_back(batch.id);
  EXPECT_THAT(ids, ElementsAre(theirs.id, batch_.id, newer.id));
  if (active.size() == 3) {
    EXPECT_EQ(Tie(active[0]), Tie(theirs));
    EXPECT_EQ(Tie(active[1]), Tie(batch_));
  }

  // Resumed, the paused batch is listed again.
  ASSERT_THAT(store_->UpdateBatchStatus("org-a", to_pause.id, domain::BatchStatus::kPaused,
                                        domain::BatchStatus::kActive, kT0 + absl::Hours(3)),
              IsOk());
  ASSERT_OK_AND_ASSIGN(active, store_->ListActiveBatches());
  ids.clear();
  for (const domain::Batch& batch : active) ids.push_back(batch.id);
  EXPECT_THAT(ids, ElementsAre(theirs.id, batch_.id, to_pause.id, newer.id));
}

TEST_P(DiallingTest, FreshCallsAreSplitByZoneInRowOrderAfterSeqWithinLimit) {
  const CallRows other(4);  // another batch's queued calls never appear
  ASSERT_THAT(store_->InsertBatch(ActiveBatch("a", "other", kPrefixB), other.calls(), {}, nullptr),
              IsOk());
  EXPECT_EQ(Fresh(false), Seqs({1, 2, 4, 5}));
  EXPECT_EQ(Fresh(true), Seqs({0, 3, 6}));
  EXPECT_EQ(Fresh(false, 1, 2), Seqs({2, 4}));
  EXPECT_EQ(Fresh(false, 2), Seqs({4, 5}));
  EXPECT_EQ(Fresh(false, 5), Seqs({}));
  EXPECT_EQ(Fresh(true, 0, 1), Seqs({3}));
  EXPECT_EQ(Fresh(true, 3), Seqs({6}));
  EXPECT_EQ(Fresh(false, -1, 0), Seqs({}));

  // A candidate carries what the dialler needs.
  ASSERT_OK_AND_ASSIGN(std::vector<DialCandidate> own,
                       store_->ListFreshCalls(batch_.id, true, -1, 1));
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].call_id, CallId(0));
  EXPECT_EQ(own[0].batch_id, batch_.id);
  EXPECT_EQ(own[0].seq, 0);
  EXPECT_EQ(own[0].phone, CallRows::Phone(0));
  EXPECT_EQ(own[0].timezone, std::optional<std::string>("America/Chicago"));
  EXPECT_EQ(own[0].variables_json, CallRows::Variables(0));
  EXPECT_EQ(own[0].status, domain::CallStatus::kQueued);
  EXPECT_EQ(own[0].attempts, 0);
  EXPECT_EQ(own[0].next_attempt_at, std::nullopt);
  ASSERT_OK_AND_ASSIGN(std::vector<DialCandidate> on_batch_zone,
                       store_->ListFreshCalls(batch_.id, false, -1, 1));
  ASSERT_EQ(on_batch_zone.size(), 1u);
  EXPECT_EQ(on_batch_zone[0].call_id, CallId(1));
  EXPECT_EQ(on_batch_zone[0].phone, CallRows::Phone(1));
  EXPECT_EQ(on_batch_zone[0].timezone, std::nullopt);
  EXPECT_EQ(on_batch_zone[0].variables_json, CallRows::Variables(1));

  // Started calls are no longer fresh.
  EXPECT_EQ(Start({StartOf(CallId(1)), StartOf(CallId(3))}), Bools({true, true}));
  EXPECT_EQ(Fresh(false), Seqs({2, 4, 5}));
  EXPECT_EQ(Fresh(true), Seqs({0, 6}));
}

TEST_P(DiallingTest, DeferredCallsLeaveTheFreshListsAndWaitUntilDueEarliestFirst) {
  using domain::CallStatus;
  ASSERT_THAT(store_->DeferCalls(
                  std::vector<Deferral>{
                      {CallId(1), CallStatus::kQueued, 0, kT0 + absl::Hours(2)},
                      {CallId(3), CallStatus::kQueued, 0, kT0 + absl::Hours(1)},
                      {CallId(2), CallStatus::kQueued, 0, kT0 + absl::Hours(3)},
                      {CallId(4), CallStatus::kQueued, 1, kT0 + absl::Hours(1)},  // stale
                      {CallId(5), CallStatus::kFailed, 0, kT0 + absl::Hours(1)},  // stale
                  },
                  kStartAt),
              IsOk());
  EXPECT_EQ(Fresh(false), Seqs({4, 5}));
  EXPECT_EQ(Fresh(true), Seqs({0, 6}));
  EXPECT_EQ(Waiting(kT0 + absl::Minutes(59)), Seqs({}));
  EXPECT_EQ(Waiting(kT0 + absl::Hours(1)), Seqs({3}));  // due exactly now
  EXPECT_EQ(Waiting(kT0 + absl::Minutes(150)), Seqs({3, 1}));
  EXPECT_EQ(Waiting(kT0 + absl::Hours(24)), Seqs({3, 1, 2}));
  EXPECT_EQ(Waiting(kT0 + absl::Hours(24), 2), Seqs({3, 1}));
  EXPECT_EQ(State(4), CallState("queued", 0, std::nullopt));
  EXPECT_EQ(State(5), CallState("queued", 0, std::nullopt));
  EXPECT_EQ(Counts(), Tally{.queued = 7});  // a deferral changes no counter

  ASSERT_OK_AND_ASSIGN(std::vector<DialCandidate> due,
                       store_->ListWaitingCalls(batch_.id, kT0 + absl::Hours(1), 10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].call_id, CallId(3));
  EXPECT_EQ(due[0].status, CallStatus::kQueued);
  EXPECT_EQ(due[0].attempts, 0);
  EXPECT_EQ(due[0].next_attempt_at, kT0 + absl::Hours(1));
  EXPECT_EQ(due[0].timezone, std::optional<std::string>("America/Chicago"));
  EXPECT_EQ(due[0].phone, CallRows::Phone(3));

  // Another batch's waiting calls are not this batch's.
  const CallRows other(1);
  ASSERT_THAT(store_->InsertBatch(ActiveBatch("a", "other", kPrefixB), other.calls(), {}, nullptr),
              IsOk());
  ASSERT_THAT(store_->DeferCalls(std::vector<Deferral>{{CallId(0, kPrefixB), CallStatus::kQueued, 0,
                                                        kT0 + absl::Minutes(30)}},
                                 kStartAt),
              IsOk());
  EXPECT_EQ(Waiting(kT0 + absl::Hours(24)), Seqs({3, 1, 2}));

  // Deferred again, a call moves; started, it leaves the waiting list.
  ASSERT_THAT(store_->DeferCalls(std::vector<Deferral>{{CallId(2), CallStatus::kQueued, 0,
                                                        kT0 + absl::Minutes(90)}},
                                 kStartAt),
              IsOk());
  EXPECT_EQ(Waiting(kT0 + absl::Hours(24)), Seqs({3, 2, 1}));
  EXPECT_EQ(Start({StartOf(CallId(3))}, kT0 + absl::Hours(1)), Bools({true}));
  EXPECT_EQ(State(3), CallState("in_progress", 1, std::nullopt));
  EXPECT_EQ(Waiting(kT0 + absl::Hours(24)), Seqs({2, 1}));
}

TEST_P(DiallingTest, StartAttemptIsACompareAndSetThatMovesTheCounters) {
  EXPECT_EQ(Start({StartOf(CallId(0))}), Bools({true}));
  domain::Call call = CallAt(0);
  EXPECT_EQ(StateOf(call), CallState("in_progress", 1, std::nullopt));
  EXPECT_EQ(call.updated_at, kStartAt);
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .in_progress = 1, .picked = 1}));

  // The same start again: the call is no longer queued with 0 attempts.
  EXPECT_EQ(Start({StartOf(CallId(0))}, kStartAt + absl::Minutes(1)), Bools({false}));
  call = CallAt(0);
  EXPECT_EQ(StateOf(call), CallState("in_progress", 1, std::nullopt));
  EXPECT_EQ(call.updated_at, kStartAt);
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .in_progress = 1, .picked = 1}));

  // Wrong attempts, wrong status, unknown call: nothing happens.
  EXPECT_EQ(Start({StartOf(CallId(1), domain::CallStatus::kQueued, 1),
                   StartOf(CallId(1), domain::CallStatus::kNoAnswer, 0), StartOf(CallId(99)),
                   StartOf("nope")}),
            Bools({false, false, false, false}));
  EXPECT_EQ(State(1), CallState("queued", 0, std::nullopt));
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .in_progress = 1, .picked = 1}));
}

TEST_P(DiallingTest, SeveralStartsAnswerPerStartInOrder) {
  EXPECT_EQ(Start({StartOf(CallId(1))}), Bools({true}));
  EXPECT_EQ(Start({StartOf(CallId(2)), StartOf(CallId(1)), StartOf(CallId(4)),
                   StartOf(CallId(0xffffff)), StartOf(CallId(6))}),
            Bools({true, false, true, false, true}));
  EXPECT_EQ(Counts(), (Tally{.queued = 3, .in_progress = 4, .picked = 4}));
  // The same call twice in one transaction: only the first start happens.
  EXPECT_EQ(Start({StartOf(CallId(5)), StartOf(CallId(5))}), Bools({true, false}));
  EXPECT_EQ(State(5), CallState("in_progress", 1, std::nullopt));
  EXPECT_EQ(Counts(), (Tally{.queued = 2, .in_progress = 5, .picked = 5}));
  EXPECT_EQ(Fresh(false), Seqs({}));
  EXPECT_EQ(Fresh(true), Seqs({0, 3}));
}

TEST_P(DiallingTest, StartOnAPausedOrDeletedBatchDoesNothing) {
  ASSERT_THAT(store_->UpdateBatchStatus("org-a", batch_.id, domain::BatchStatus::kActive,
                                        domain::BatchStatus::kPaused, kT0),
              IsOk());
  EXPECT_EQ(Start({StartOf(CallId(0)), StartOf(CallId(1))}), Bools({false, false}));
  EXPECT_EQ(State(0), CallState("queued", 0, std::nullopt));
  EXPECT_EQ(Counts(), Tally{.queued = 7});
  EXPECT_THAT(InProgressIds(absl::InfiniteFuture()), ElementsAre());

  ASSERT_THAT(store_->UpdateBatchStatus("org-a", batch_.id, domain::BatchStatus::kPaused,
                                        domain::BatchStatus::kActive, kT0),
              IsOk());
  EXPECT_EQ(Start({StartOf(CallId(0))}), Bools({true}));

  const CallRows two(2);
  const domain::Batch gone = ActiveBatch("a", "gone", kPrefixB);
  ASSERT_THAT(store_->InsertBatch(gone, two.calls(), {}, nullptr), IsOk());
  ASSERT_THAT(store_->DeleteBatch("org-a", gone.id, kT0), IsOk());
  EXPECT_EQ(Start({StartOf(CallId(0, kPrefixB)), StartOf(CallId(1, kPrefixB))}),
            Bools({false, false}));
  EXPECT_THAT(InProgressIds(absl::InfiniteFuture()), ElementsAre(CallId(0)));
}

TEST_P(DiallingTest, OutcomeOfTheAttemptInProgressIsApplied) {
  using domain::CallStatus;
  ASSERT_EQ(Start({StartOf(CallId(0)), StartOf(CallId(1)), StartOf(CallId(2))}),
            Bools({true, true, true}));
  const absl::Time at = kT0 + absl::Minutes(3);
  const absl::Time retry_at = kT0 + absl::Hours(1);
  EXPECT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kCompleted),
                    Outcome(CallId(1), 1, CallStatus::kNoAnswer, retry_at),
                    Outcome(CallId(2), 1, CallStatus::kBusy)},
                   at),
            Effects({"applied", "applied", "applied"}));
  const domain::Call done = CallAt(0);
  EXPECT_EQ(StateOf(done), CallState("completed", 1, std::nullopt));
  EXPECT_EQ(done.updated_at, at);
  EXPECT_EQ(State(1), CallState("no_answer", 1, retry_at));
  EXPECT_EQ(State(2), CallState("busy", 1, std::nullopt));
  // finished: completed and busy (no retry); not the no_answer waiting for its retry.
  EXPECT_EQ(
      Counts(),
      (Tally{.queued = 4, .completed = 1, .no_answer = 1, .busy = 1, .picked = 3, .finished = 2}));
  EXPECT_THAT(InProgressIds(absl::InfiniteFuture()), ElementsAre());
  EXPECT_EQ(BatchStatusOf(batch_.id), domain::BatchStatus::kActive);
}

TEST_P(DiallingTest, RepeatedOutcomeIsADuplicateAndChangesNothing) {
  using domain::CallStatus;
  ASSERT_EQ(Start({StartOf(CallId(0)), StartOf(CallId(1)), StartOf(CallId(2))}),
            Bools({true, true, true}));
  const absl::Time first_at = kT0 + absl::Minutes(2);
  AttemptOutcome first = Outcome(CallId(0), 1, CallStatus::kFailed);
  first.duration_seconds = 3;
  first.transcript = "first";
  ASSERT_EQ(
      Record({first, Outcome(CallId(1), 1, CallStatus::kNoAnswer, kT0 + absl::Hours(1))}, first_at),
      Effects({"applied", "applied"}));
  const Tally after = Counts();

  AttemptOutcome again = first;  // same call, attempt and status; other details, and a retry
  again.duration_seconds = 99;
  again.transcript = "second";
  again.next_attempt_at = kT0 + absl::Hours(1);
  EXPECT_EQ(Record({again, Outcome(CallId(1), 1, CallStatus::kNoAnswer, kT0 + absl::Hours(2))},
                   kT0 + absl::Minutes(5)),
            Effects({"duplicate", "duplicate"}));
  EXPECT_EQ(Counts(), after);
  const domain::Call call = CallAt(0);
  EXPECT_EQ(StateOf(call), CallState("failed", 1, std::nullopt));
  EXPECT_EQ(call.updated_at, first_at);
  EXPECT_THAT(Logs(call), ElementsAre(Log(1, "failed", first_at, 3, "", "first")));
  EXPECT_EQ(State(1), CallState("no_answer", 1, kT0 + absl::Hours(1)));
  EXPECT_EQ(CallAt(1).phone_logs.size(), 1u);

  // The same outcome twice in one call: applied once.
  EXPECT_EQ(
      Record({Outcome(CallId(2), 1, CallStatus::kBusy), Outcome(CallId(2), 1, CallStatus::kBusy)},
             kT0 + absl::Minutes(6)),
      Effects({"applied", "duplicate"}));
  EXPECT_EQ(CallAt(2).phone_logs.size(), 1u);
  EXPECT_EQ(
      Counts(),
      (Tally{.queued = 4, .failed = 1, .no_answer = 1, .busy = 1, .picked = 3, .finished = 2}));
}

TEST_P(DiallingTest, ReportsForAnotherAttemptOrACallNotInProgressAreOnlyLogged) {
  using domain::CallStatus;
  ASSERT_EQ(Start({StartOf(CallId(0))}), Bools({true}));
  const Tally started = Counts();
  const absl::Time t1 = kT0 + absl::Minutes(2), t2 = kT0 + absl::Minutes(3),
                   t3 = kT0 + absl::Minutes(4), t4 = kT0 + absl::Minutes(5);
  // Another attempt number of the call in progress; a call still queued.
  EXPECT_EQ(Record({Outcome(CallId(0), 2, CallStatus::kCompleted),
                    Outcome(CallId(1), 1, CallStatus::kBusy, kT0 + absl::Hours(1))},
                   t1),
            Effects({"logged", "logged"}));
  EXPECT_EQ(State(0), CallState("in_progress", 1, std::nullopt));
  EXPECT_EQ(State(1), CallState("queued", 0, std::nullopt));
  EXPECT_EQ(Counts(), started);
  EXPECT_EQ(Waiting(kT0 + absl::Hours(2)), Seqs({}));
  EXPECT_EQ(Fresh(false), Seqs({1, 2, 4, 5}));

  // The attempt's own report is applied; a second, different outcome for it is only logged.
  EXPECT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kNoAnswer)}, t2), Effects({"applied"}));
  EXPECT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kCompleted)}, t3), Effects({"logged"}));
  // A report for a call that is finished.
  EXPECT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kBusy)}, t4), Effects({"logged"}));
  EXPECT_EQ(State(0), CallState("no_answer", 1, std::nullopt));
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .no_answer = 1, .picked = 1, .finished = 1}));
  EXPECT_THAT(Logs(CallAt(0)), ElementsAre(Log(1, "no_answer", t2), Log(1, "completed", t3),
                                           Log(1, "busy", t4), Log(2, "completed", t1)));
  EXPECT_THAT(Logs(CallAt(1)), ElementsAre(Log(1, "busy", t1)));
}

TEST_P(DiallingTest, PhoneLogsComeBackInAttemptOrderFromListCallsAndForEachCall) {
  using domain::CallStatus;
  const absl::Time retry_at = kT0 + absl::Hours(1);
  // Call 0: attempt 1 no answer, attempt 2 completed with details, then a late report for
  // attempt 1. Call 4: one busy. The others: none.
  ASSERT_EQ(Start({StartOf(CallId(0)), StartOf(CallId(4))}), Bools({true, true}));
  ASSERT_EQ(
      Record({Outcome(CallId(0), 1, CallStatus::kNoAnswer, retry_at)}, kT0 + absl::Minutes(2)),
      Effects({"applied"}));
  ASSERT_EQ(Record({Outcome(CallId(4), 1, CallStatus::kBusy)}, kT0 + absl::Minutes(4)),
            Effects({"applied"}));
  ASSERT_EQ(
      Start({StartOf(CallId(0), CallStatus::kNoAnswer, 1, retry_at + absl::Minutes(10))}, retry_at),
      Bools({true}));
  AttemptOutcome done = Outcome(CallId(0), 2, CallStatus::kCompleted);
  done.duration_seconds = 95;
  done.recording_url = "https://rec.example/calls/0-2.mp3?sig=a%20b";
  done.transcript = "Agent: Hello, \"Contact 0\"?\nContact: yes\t(ok)";
  ASSERT_EQ(Record({done}, retry_at + absl::Minutes(3)), Effects({"applied"}));
  ASSERT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kFailed)}, retry_at + absl::Minutes(5)),
            Effects({"logged"}));
  const std::vector<LogView> logs0 = {
      Log(1, "no_answer", kT0 + absl::Minutes(2)), Log(1, "failed", retry_at + absl::Minutes(5)),
      Log(2, "completed", retry_at + absl::Minutes(3), 95, done.recording_url, done.transcript)};
  const std::vector<LogView> logs4 = {Log(1, "busy", kT0 + absl::Minutes(4))};

  CallQuery query;
  query.limit = 100;
  query.descending = false;
  ASSERT_OK_AND_ASSIGN(CallPage page, store_->ListCalls("org-a", batch_.id, query));
  ASSERT_EQ(page.calls.size(), 7u);
  EXPECT_EQ(Logs(page.calls[0]), logs0);
  EXPECT_EQ(Logs(page.calls[4]), logs4);
  for (int seq : {1, 2, 3, 5, 6}) EXPECT_THAT(Logs(page.calls[seq]), ElementsAre()) << seq;
  // A page in the middle, and a status filter.
  query.offset = 3;
  query.limit = 2;
  ASSERT_OK_AND_ASSIGN(page, store_->ListCalls("org-a", batch_.id, query));
  ASSERT_EQ(page.calls.size(), 2u);
  EXPECT_EQ(page.calls[1].seq, 4);
  EXPECT_EQ(Logs(page.calls[1]), logs4);
  CallQuery completed;
  completed.status = CallStatus::kCompleted;
  ASSERT_OK_AND_ASSIGN(page, store_->ListCalls("org-a", batch_.id, completed));
  ASSERT_EQ(page.calls.size(), 1u);
  EXPECT_EQ(Logs(page.calls[0]), logs0);

  const std::vector<domain::Call> calls = Calls("org-a", batch_.id);
  ASSERT_EQ(calls.size(), 7u);
  EXPECT_EQ(Logs(calls[0]), logs0);
  EXPECT_EQ(Logs(calls[4]), logs4);
  for (int seq : {1, 2, 3, 5, 6}) EXPECT_THAT(Logs(calls[seq]), ElementsAre()) << seq;
}

TEST_P(DiallingTest, NonOutcomeStatusIsInvalidArgumentAndStoresNothing) {
  using domain::CallStatus;
  ASSERT_EQ(Start({StartOf(CallId(0))}), Bools({true}));
  for (CallStatus status :
       {CallStatus::kQueued, CallStatus::kInProgress, CallStatus::kDnc, CallStatus::kCanceled}) {
    EXPECT_THAT(store_->RecordOutcomes(
                    std::vector<AttemptOutcome>{Outcome(CallId(0), 1, CallStatus::kCompleted),
                                                Outcome(CallId(0), 1, status)},
                    kT0 + absl::Minutes(2)),
                StatusIs(absl::StatusCode::kInvalidArgument, ""))
        << domain::CallStatusName(status);
  }
  const domain::Call call = CallAt(0);
  EXPECT_EQ(StateOf(call), CallState("in_progress", 1, std::nullopt));
  EXPECT_THAT(Logs(call), ElementsAre());
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .in_progress = 1, .picked = 1}));
  // The valid outcome alone is still applied: nothing was logged for it.
  EXPECT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kCompleted)}, kT0 + absl::Minutes(3)),
            Effects({"applied"}));
}

TEST_P(DiallingTest, RetryWaitsUntilDueAndStartsTheNextAttempt) {
  using domain::CallStatus;
  const absl::Time retry_at = kT0 + absl::Hours(1);
  ASSERT_EQ(Start({StartOf(CallId(1))}), Bools({true}));
  ASSERT_EQ(
      Record({Outcome(CallId(1), 1, CallStatus::kNoAnswer, retry_at)}, kT0 + absl::Minutes(2)),
      Effects({"applied"}));
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .no_answer = 1, .picked = 1}));
  EXPECT_EQ(Waiting(retry_at - absl::Milliseconds(1)), Seqs({}));
  ASSERT_OK_AND_ASSIGN(std::vector<DialCandidate> due,
                       store_->ListWaitingCalls(batch_.id, retry_at, 10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].call_id, CallId(1));
  EXPECT_EQ(due[0].status, CallStatus::kNoAnswer);
  EXPECT_EQ(due[0].attempts, 1);
  EXPECT_EQ(due[0].next_attempt_at, retry_at);
  EXPECT_EQ(due[0].phone, CallRows::Phone(1));
  EXPECT_EQ(Fresh(false), Seqs({2, 4, 5}));  // a retry is not fresh

  // Stale expectations do nothing; the one read does.
  EXPECT_EQ(Start({StartOf(CallId(1)), StartOf(CallId(1), CallStatus::kNoAnswer, 0),
                   StartOf(CallId(1), CallStatus::kFailed, 1)},
                  retry_at),
            Bools({false, false, false}));
  EXPECT_EQ(Start({StartOf(CallId(1), CallStatus::kNoAnswer, 1, retry_at + absl::Minutes(10),
                           "+12125550101")},
                  retry_at),
            Bools({true}));
  EXPECT_EQ(State(1), CallState("in_progress", 2, std::nullopt));
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .in_progress = 1, .picked = 1}));  // picked unchanged
  EXPECT_EQ(Waiting(retry_at + absl::Hours(24)), Seqs({}));
  ASSERT_OK_AND_ASSIGN(std::vector<InProgressCall> running,
                       store_->ListInProgress(absl::InfiniteFuture(), 10));
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].attempts, 2);
  EXPECT_EQ(running[0].from, "+12125550101");
  EXPECT_EQ(running[0].deadline, retry_at + absl::Minutes(10));

  // busy and failed retries wait too, earliest first whatever their status.
  ASSERT_EQ(Start({StartOf(CallId(2)), StartOf(CallId(4))}), Bools({true, true}));
  ASSERT_EQ(Record({Outcome(CallId(2), 1, CallStatus::kBusy, kT0 + absl::Minutes(45)),
                    Outcome(CallId(4), 1, CallStatus::kFailed, kT0 + absl::Minutes(30))},
                   kT0 + absl::Minutes(3)),
            Effects({"applied", "applied"}));
  EXPECT_EQ(Waiting(kT0 + absl::Hours(5)), Seqs({4, 2}));

  // The last attempt fails with no retry left: the call is finished.
  EXPECT_EQ(Record({Outcome(CallId(1), 2, CallStatus::kFailed)}, retry_at + absl::Minutes(1)),
            Effects({"applied"}));
  EXPECT_EQ(Counts(), (Tally{.queued = 4, .failed = 2, .busy = 1, .picked = 3, .finished = 1}));
}

TEST_P(DiallingTest, BatchCompletesWhenEveryCallIsFinal) {
  using domain::CallStatus;
  const CallRows three(3);
  const domain::Batch small = ActiveBatch("a", "small", kPrefixB);
  ASSERT_THAT(store_->InsertBatch(small, three.calls(), {}, nullptr), IsOk());
  ASSERT_EQ(Start({StartOf(CallId(0, kPrefixB)), StartOf(CallId(2, kPrefixB))}),
            Bools({true, true}));
  ASSERT_EQ(
      Record({Outcome(CallId(0, kPrefixB), 1, CallStatus::kCompleted)}, kT0 + absl::Minutes(2)),
      Effects({"applied"}));
  ASSERT_EQ(Record({Outcome(CallId(2, kPrefixB), 1, CallStatus::kFailed)}, kT0 + absl::Minutes(3)),
            Effects({"applied"}));
  EXPECT_EQ(BatchStatusOf(small.id), domain::BatchStatus::kActive);  // call 1 is still queued
  EXPECT_TRUE(MarkDnc(CallId(1, kPrefixB), CallStatus::kQueued, 0, kT0 + absl::Minutes(4)));

  ASSERT_OK_AND_ASSIGN(domain::Batch done, store_->GetBatch("org-a", small.id));
  EXPECT_EQ(done.status, domain::BatchStatus::kCompleted);
  EXPECT_EQ(done.updated_at, kT0 + absl::Minutes(4));
  EXPECT_EQ(Counts("org-a", small.id),
            (Tally{.completed = 1, .failed = 1, .dnc = 1, .picked = 2, .finished = 3}));
  ASSERT_OK_AND_ASSIGN(std::vector<domain::Batch> active, store_->ListActiveBatches());
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].id, batch_.id);
  EXPECT_EQ(BatchStatusOf(batch_.id), domain::BatchStatus::kActive);
}

TEST_P(DiallingTest, BatchWithACallWaitingForARetryStaysActiveUntilItsLastAttempt) {
  using domain::CallStatus;
  const CallRows two(2);
  const domain::Batch small = ActiveBatch("a", "small", kPrefixB);
  ASSERT_THAT(store_->InsertBatch(small, two.calls(), {}, nullptr), IsOk());
  const absl::Time retry_at = kT0 + absl::Hours(1);
  ASSERT_EQ(Start({StartOf(CallId(0, kPrefixB)), StartOf(CallId(1, kPrefixB))}),
            Bools({true, true}));
  ASSERT_EQ(Record({Outcome(CallId(0, kPrefixB), 1, CallStatus::kCompleted),
                    Outcome(CallId(1, kPrefixB), 1, CallStatus::kNoAnswer, retry_at)},
                   kT0 + absl::Minutes(2)),
            Effects({"applied", "applied"}));
  EXPECT_EQ(BatchStatusOf(small.id), domain::BatchStatus::kActive);
  EXPECT_EQ(Counts("org-a", small.id),
            (Tally{.completed = 1, .no_answer = 1, .picked = 2, .finished = 1}));

  ASSERT_EQ(Start({StartOf(CallId(1, kPrefixB), CallStatus::kNoAnswer, 1)}, retry_at),
            Bools({true}));
  EXPECT_EQ(BatchStatusOf(small.id), domain::BatchStatus::kActive);
  // Paused meanwhile, the batch still completes when its last call ends (every call is final).
  ASSERT_THAT(store_->UpdateBatchStatus("org-a", small.id, domain::BatchStatus::kActive,
                                        domain::BatchStatus::kPaused, retry_at),
              IsOk());
  ASSERT_EQ(
      Record({Outcome(CallId(1, kPrefixB), 2, CallStatus::kBusy)}, retry_at + absl::Minutes(1)),
      Effects({"applied"}));
  EXPECT_EQ(BatchStatusOf(small.id), domain::BatchStatus::kCompleted);
  EXPECT_EQ(Counts("org-a", small.id),
            (Tally{.completed = 1, .busy = 1, .picked = 2, .finished = 2}));
}

TEST_P(DiallingTest, MarkCallDncIsACompareAndSetThatFinishesTheCall) {
  using domain::CallStatus;
  EXPECT_TRUE(MarkDnc(CallId(0), CallStatus::kQueued, 0, kStartAt));
  const domain::Call call = CallAt(0);
  EXPECT_EQ(StateOf(call), CallState("dnc", 0, std::nullopt));
  EXPECT_EQ(call.updated_at, kStartAt);
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .dnc = 1, .finished = 1}));

  EXPECT_FALSE(MarkDnc(CallId(0), CallStatus::kQueued, 0, kStartAt));  // already dnc
  EXPECT_FALSE(MarkDnc(CallId(1), CallStatus::kNoAnswer, 0, kStartAt));
  EXPECT_FALSE(MarkDnc(CallId(1), CallStatus::kQueued, 1, kStartAt));
  EXPECT_FALSE(MarkDnc("nope", CallStatus::kQueued, 0, kStartAt));
  EXPECT_EQ(State(1), CallState("queued", 0, std::nullopt));
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .dnc = 1, .finished = 1}));
  EXPECT_EQ(Start({StartOf(CallId(0))}), Bools({false}));  // never dialled

  // A deferred call and a call waiting for its retry end as dnc too, and stop waiting.
  ASSERT_THAT(store_->DeferCalls(
                  std::vector<Deferral>{{CallId(1), CallStatus::kQueued, 0, kT0 + absl::Hours(1)}},
                  kStartAt),
              IsOk());
  ASSERT_EQ(Start({StartOf(CallId(2))}), Bools({true}));
  ASSERT_EQ(Record({Outcome(CallId(2), 1, CallStatus::kNoAnswer, kT0 + absl::Hours(1))},
                   kT0 + absl::Minutes(2)),
            Effects({"applied"}));
  EXPECT_EQ(Counts(), (Tally{.queued = 5, .no_answer = 1, .dnc = 1, .picked = 1, .finished = 1}));
  EXPECT_TRUE(MarkDnc(CallId(1), CallStatus::kQueued, 0, kT0 + absl::Minutes(3)));
  EXPECT_TRUE(MarkDnc(CallId(2), CallStatus::kNoAnswer, 1, kT0 + absl::Minutes(3)));
  EXPECT_EQ(State(1), CallState("dnc", 0, std::nullopt));
  EXPECT_EQ(State(2), CallState("dnc", 1, std::nullopt));
  EXPECT_EQ(Counts(), (Tally{.queued = 4, .dnc = 3, .picked = 1, .finished = 3}));
  EXPECT_EQ(Waiting(kT0 + absl::Hours(24)), Seqs({}));
  EXPECT_EQ(Fresh(false), Seqs({4, 5}));
  EXPECT_EQ(Fresh(true), Seqs({3, 6}));
}

TEST_P(DiallingTest, FindCallAnswersForEveryOrganizationAndNotFoundOtherwise) {
  const CallRows two(2);
  const domain::Batch theirs = ActiveBatch("b", "1", kPrefixB);
  ASSERT_THAT(store_->InsertBatch(theirs, two.calls(), {}, nullptr), IsOk());
  ASSERT_OK_AND_ASSIGN(CallRef ref, store_->FindCall(CallId(0, kPrefixB)));
  EXPECT_EQ(ref.call_id, CallId(0, kPrefixB));
  EXPECT_EQ(ref.batch_id, theirs.id);
  EXPECT_EQ(ref.organization_id, "org-b");
  EXPECT_EQ(ref.agent_id, "agent-b-demo");
  EXPECT_EQ(ref.status, domain::CallStatus::kQueued);
  EXPECT_EQ(ref.attempts, 0);
  EXPECT_EQ(ref.timezone, std::optional<std::string>("America/Chicago"));

  ASSERT_EQ(Start({StartOf(CallId(1, kPrefixB))}), Bools({true}));
  ASSERT_OK_AND_ASSIGN(ref, store_->FindCall(CallId(1, kPrefixB)));
  EXPECT_EQ(ref.organization_id, "org-b");
  EXPECT_EQ(ref.status, domain::CallStatus::kInProgress);
  EXPECT_EQ(ref.attempts, 1);
  EXPECT_EQ(ref.timezone, std::nullopt);

  // A paused batch's calls are found.
  ASSERT_THAT(store_->UpdateBatchStatus("org-a", batch_.id, domain::BatchStatus::kActive,
                                        domain::BatchStatus::kPaused, kT0),
              IsOk());
  ASSERT_OK_AND_ASSIGN(ref, store_->FindCall(CallId(3)));
  EXPECT_EQ(ref.organization_id, "org-a");
  EXPECT_EQ(ref.batch_id, batch_.id);
  EXPECT_EQ(ref.agent_id, "agent-a-demo");

  for (const std::string& missing : {std::string("nope"), std::string(), CallId(kCalls)}) {
    EXPECT_THAT(store_->FindCall(missing), StatusIs(absl::StatusCode::kNotFound, "")) << missing;
  }
  ASSERT_THAT(store_->DeleteBatch("org-b", theirs.id, kT0), IsOk());
  EXPECT_THAT(store_->FindCall(CallId(0, kPrefixB)), StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_THAT(store_->FindCall(CallId(1, kPrefixB)), StatusIs(absl::StatusCode::kNotFound, ""));
}

TEST_P(DiallingTest, InProgressAttemptsAreListedUpToTheirDeadline) {
  using domain::CallStatus;
  const CallRows one(1);
  ASSERT_THAT(store_->InsertBatch(ActiveBatch("b", "1", kPrefixB), one.calls(), {}, nullptr),
              IsOk());
  const std::string theirs = CallId(0, kPrefixB);
  ASSERT_EQ(
      Start({StartOf(CallId(0), CallStatus::kQueued, 0, kT0 + absl::Minutes(10), "+12125550100"),
             StartOf(CallId(1), CallStatus::kQueued, 0, kT0 + absl::Minutes(5), "+12125550101"),
             StartOf(theirs, CallStatus::kQueued, 0, kT0 + absl::Minutes(20), "+13105550100")}),
      Bools({true, true, true}));
  EXPECT_THAT(InProgressIds(kT0 + absl::Minutes(4)), ElementsAre());
  EXPECT_THAT(InProgressIds(kT0 + absl::Minutes(5)), ElementsAre(CallId(1)));  // at the deadline
  EXPECT_THAT(InProgressIds(kT0 + absl::Minutes(10)),
              testing::UnorderedElementsAre(CallId(1), CallId(0)));
  EXPECT_THAT(InProgressIds(absl::InfiniteFuture()),
              testing::UnorderedElementsAre(CallId(1), CallId(0), theirs));
  EXPECT_EQ(InProgressIds(absl::InfiniteFuture(), 2).size(), 2u);

  ASSERT_OK_AND_ASSIGN(std::vector<InProgressCall> all,
                       store_->ListInProgress(absl::InfiniteFuture(), 100));
  for (const InProgressCall& call : all) {
    SCOPED_TRACE(call.call_id);
    if (call.call_id == CallId(0)) {
      EXPECT_EQ(call.batch_id, batch_.id);
      EXPECT_EQ(call.from, "+12125550100");
      EXPECT_EQ(call.attempts, 1);
      EXPECT_EQ(call.deadline, kT0 + absl::Minutes(10));
    } else if (call.call_id == theirs) {
      EXPECT_EQ(call.batch_id, "batch-b-1");
      EXPECT_EQ(call.from, "+13105550100");
      EXPECT_EQ(call.deadline, kT0 + absl::Minutes(20));
    }
  }

  // After its outcome a call is no longer listed; its next attempt is, with its own deadline.
  ASSERT_EQ(Record({Outcome(CallId(1), 1, CallStatus::kNoAnswer, kT0 + absl::Hours(1))},
                   kT0 + absl::Minutes(6)),
            Effects({"applied"}));
  EXPECT_THAT(InProgressIds(absl::InfiniteFuture()),
              testing::UnorderedElementsAre(CallId(0), theirs));
  ASSERT_EQ(Start({StartOf(CallId(1), CallStatus::kNoAnswer, 1,
                           kT0 + absl::Hours(1) + absl::Minutes(10), "+12125550102")},
                  kT0 + absl::Hours(1)),
            Bools({true}));
  ASSERT_OK_AND_ASSIGN(all, store_->ListInProgress(kT0 + absl::Minutes(90), 100));
  bool seen = false;
  for (const InProgressCall& call : all) {
    if (call.call_id != CallId(1)) continue;
    seen = true;
    EXPECT_EQ(call.attempts, 2);
    EXPECT_EQ(call.from, "+12125550102");
    EXPECT_EQ(call.deadline, kT0 + absl::Hours(1) + absl::Minutes(10));
  }
  EXPECT_TRUE(seen);
  EXPECT_THAT(InProgressIds(kT0 + absl::Minutes(15)), ElementsAre(CallId(0)));
}

TEST_P(DiallingTest, CountersEqualARecountAfterEveryOperation) {
  using domain::CallStatus;
  const auto at = [](int minutes) { return kT0 + absl::Minutes(minutes); };
  ExpectCountersMatchRecount();
  {
    SCOPED_TRACE("deferral");
    ASSERT_THAT(store_->DeferCalls(
                    std::vector<Deferral>{{CallId(0), CallStatus::kQueued, 0, at(60)}}, at(1)),
                IsOk());
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("starts");
    ASSERT_EQ(
        Start({StartOf(CallId(1)), StartOf(CallId(2)), StartOf(CallId(4)), StartOf(CallId(4))},
              at(1)),
        Bools({true, true, true, false}));
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("outcomes, duplicates and late reports");
    ASSERT_EQ(Record({Outcome(CallId(1), 1, CallStatus::kCompleted),
                      Outcome(CallId(2), 1, CallStatus::kNoAnswer, at(30)),
                      Outcome(CallId(4), 1, CallStatus::kBusy, at(30)),
                      Outcome(CallId(1), 1, CallStatus::kCompleted),
                      Outcome(CallId(1), 1, CallStatus::kFailed),
                      Outcome(CallId(5), 1, CallStatus::kFailed)},
                     at(2)),
              Effects({"applied", "applied", "applied", "duplicate", "logged", "logged"}));
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("dnc of a queued call");
    ASSERT_TRUE(MarkDnc(CallId(5), CallStatus::kQueued, 0, at(3)));
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("retry and deferred call started");
    ASSERT_EQ(Start({StartOf(CallId(2), CallStatus::kNoAnswer, 1),
                     StartOf(CallId(0), CallStatus::kQueued, 0)},
                    at(60)),
              Bools({true, true}));
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("final failure and a failure with a retry");
    ASSERT_EQ(Record({Outcome(CallId(2), 2, CallStatus::kFailed),
                      Outcome(CallId(0), 1, CallStatus::kFailed, at(120))},
                     at(61)),
              Effects({"applied", "applied"}));
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("dnc of a call waiting for its retry; a retry deferred");
    ASSERT_TRUE(MarkDnc(CallId(4), CallStatus::kBusy, 1, at(62)));
    ASSERT_THAT(store_->DeferCalls(
                    std::vector<Deferral>{{CallId(0), CallStatus::kFailed, 1, at(180)}}, at(62)),
                IsOk());
    EXPECT_EQ(Waiting(at(240)), Seqs({0}));
    ExpectCountersMatchRecount();
  }
  {
    SCOPED_TRACE("the last calls");
    ASSERT_EQ(
        Start({StartOf(CallId(3)), StartOf(CallId(6)), StartOf(CallId(0), CallStatus::kFailed, 1)},
              at(180)),
        Bools({true, true, true}));
    ExpectCountersMatchRecount();
    ASSERT_EQ(Record({Outcome(CallId(3), 1, CallStatus::kCompleted),
                      Outcome(CallId(6), 1, CallStatus::kNoAnswer),
                      Outcome(CallId(0), 2, CallStatus::kCompleted)},
                     at(181)),
              Effects({"applied", "applied", "applied"}));
    ExpectCountersMatchRecount();
  }
  EXPECT_EQ(
      Counts(),
      (Tally{.completed = 3, .failed = 1, .no_answer = 1, .dnc = 2, .picked = 6, .finished = 7}));
  EXPECT_EQ(BatchStatusOf(batch_.id), domain::BatchStatus::kCompleted);
}

// The plans behind the dialling reads: each reads its (partial) index in the order it returns,
// without a sort, and the statements' WHERE clauses imply the indexes' (else INDEXED BY fails).
TEST_P(DiallingTest, DiallingQueriesUseTheirPartialIndexes) {
  if (!file()) GTEST_SKIP() << "raw SQL needs the database file";
  RawDb db(path_);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM pragma_index_list('calls') WHERE partial = 1 AND name IN "
                   "('calls_waiting', 'calls_own_zone', 'calls_in_progress')"),
            3);
  const auto plan = [&](const std::string& query) {
    sqlite3_stmt* raw = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(db.get(), ("EXPLAIN QUERY PLAN " + query).c_str(), -1, &raw, nullptr),
        SQLITE_OK)
        << query << ": " << sqlite3_errmsg(db.get());
    sqlite::StmtPtr stmt(raw);
    std::string text;
    while (stmt && sqlite3_step(stmt.get()) == SQLITE_ROW) {
      text += reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 3));
      text += "; ";
    }
    return text;
  };
  EXPECT_THAT(plan("SELECT id FROM calls INDEXED BY calls_own_zone WHERE batch_id = 'b' AND "
                   "status = 'queued' AND timezone IS NOT NULL AND next_attempt_at IS NULL AND "
                   "seq > -1 ORDER BY seq LIMIT 10"),
              testing::AllOf(HasSubstr("calls_own_zone"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT id FROM calls WHERE id >= 'a' AND id <= 'b' AND +batch_id = 'b' AND "
                   "status = 'queued' AND timezone IS NULL AND next_attempt_at IS NULL "
                   "ORDER BY id LIMIT 10"),
              testing::AllOf(HasSubstr("PRIMARY KEY"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT id FROM calls INDEXED BY calls_waiting WHERE batch_id = 'b' AND "
                   "next_attempt_at IS NOT NULL AND next_attempt_at <= 5 AND status IN "
                   "('queued', 'failed', 'no_answer', 'busy') ORDER BY next_attempt_at LIMIT 10"),
              testing::AllOf(HasSubstr("calls_waiting"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT id FROM calls INDEXED BY calls_in_progress WHERE attempt_deadline IS "
                   "NOT NULL AND attempt_deadline <= 5 AND status = 'in_progress' "
                   "ORDER BY attempt_deadline LIMIT 10"),
              testing::AllOf(HasSubstr("calls_in_progress"), Not(HasSubstr("TEMP B-TREE"))));
  EXPECT_THAT(plan("SELECT attempt FROM call_logs WHERE call_id = 'c' ORDER BY attempt, "
                   "created_at"),
              HasSubstr("PRIMARY KEY"));
  EXPECT_THAT(plan("SELECT c.id FROM calls c JOIN batches b ON b.id = c.batch_id "
                   "WHERE c.id = 'c' AND b.deleted_at IS NULL"),
              testing::AllOf(HasSubstr("SEARCH c USING PRIMARY KEY"), Not(HasSubstr("SCAN"))));
  // An upload leaves the waiting and in-progress indexes empty (it pays nothing for them).
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM calls INDEXED BY calls_waiting WHERE batch_id = "
                   "'batch-a-d' AND next_attempt_at IS NOT NULL"),
            0);
  EXPECT_EQ(db.Int("SELECT COUNT(*) FROM calls INDEXED BY calls_in_progress WHERE "
                   "attempt_deadline IS NOT NULL"),
            0);
}

// --- dialling edge cases: the store's own guarantees whatever the caller passes ---------------

// A report logged before its attempt started (a runtime reporting early, or a replay) must not
// turn the attempt's real outcome into a "duplicate": the header applies an outcome "when the call
// is in_progress on that attempt", and kDuplicate means "this attempt already has this outcome".
TEST_P(DiallingTest, ReportLoggedBeforeItsAttemptStartedDoesNotSwallowItsOutcome) {
  using domain::CallStatus;
  ASSERT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kFailed)}, kT0), Effects({"logged"}));
  ASSERT_EQ(Start({StartOf(CallId(0))}), Bools({true}));
  EXPECT_EQ(Record({Outcome(CallId(0), 1, CallStatus::kFailed)}, kT0 + absl::Minutes(2)),
            Effects({"applied"}));
  EXPECT_EQ(State(0), CallState("failed", 1, std::nullopt));
  EXPECT_THAT(InProgressIds(absl::InfiniteFuture()), ElementsAre());
  EXPECT_EQ(Counts(), (Tally{.queued = 6, .failed = 1, .picked = 1, .finished = 1}));
}

// The compare-and-set operations accept any expected state; whatever they do with a call that is
// already final (here call 1: failed, no retry), the counters must still equal a recount. One test
// per operation, so that each one's drift is reported on its own.
class DiallingFinalCallTest : public DiallingTest {
 protected:
  void SetUp() override {
    DiallingTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(Start({StartOf(CallId(1))}), Bools({true}));
    ASSERT_EQ(Record({Outcome(CallId(1), 1, domain::CallStatus::kFailed)}, kT0 + absl::Minutes(2)),
              Effects({"applied"}));
    ASSERT_EQ(Counts(), (Tally{.queued = 6, .failed = 1, .picked = 1, .finished = 1}));
  }
};

INSTANTIATE_TEST_SUITE_P(Sqlite, DiallingFinalCallTest,
                         testing::Values(Backend::kFile, Backend::kMemory),
                         [](const testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kFile ? "File" : "Memory";
                         });

TEST_P(DiallingFinalCallTest, MarkCallDncOfAFinalCallKeepsTheCountersExact) {
  ASSERT_THAT(
      store_->MarkCallDnc(CallId(1), domain::CallStatus::kFailed, 1, kT0 + absl::Minutes(3)),
      IsOk());
  ExpectCountersMatchRecount();
}

TEST_P(DiallingFinalCallTest, DeferringAFinalCallKeepsTheCountersExact) {
  ASSERT_THAT(store_->DeferCalls(std::vector<Deferral>{{CallId(1), domain::CallStatus::kFailed, 1,
                                                        kT0 + absl::Hours(1)}},
                                 kT0 + absl::Minutes(3)),
              IsOk());
  ExpectCountersMatchRecount();
}

TEST_P(DiallingFinalCallTest, StartingAFinalCallKeepsTheCountersExact) {
  ASSERT_THAT(store_->StartAttempts(
                  std::vector<AttemptStart>{StartOf(CallId(1), domain::CallStatus::kFailed, 1)},
                  kT0 + absl::Minutes(3)),
              IsOk());
  ExpectCountersMatchRecount();
}

// "completed" is final whatever next_attempt_at says (migration 3), so an outcome completed with a
// next attempt must either be refused or still count the call as finished.
TEST_P(DiallingTest, CompletedOutcomeWithANextAttemptKeepsTheCountersExact) {
  ASSERT_EQ(Start({StartOf(CallId(0))}), Bools({true}));
  (void)store_->RecordOutcomes(
      std::vector<AttemptOutcome>{
          Outcome(CallId(0), 1, domain::CallStatus::kCompleted, kT0 + absl::Hours(1))},
      kT0 + absl::Minutes(2));
  ExpectCountersMatchRecount();
}

// --- call indexes: the same answers as the database -------------------------------------------

// Two stores on one file: `indexed_` answers from call indexes (every batch gets one), `plain_`
// always from SQL. Calls change through both, as the dialler and a second server process would,
// and random queries must get the same pages from each.
class CallIndexAgreementTest : public testing::Test {
 protected:
  static constexpr int kCalls = 1500;

  void SetUp() override {
    path_ = dir_.path() + "/nexus.db";
    StoreOptions indexed_options;
    indexed_options.pool_size = 4;
    indexed_options.call_index_min_calls = 1;
    indexed_options.call_index_warm = false;
    ASSERT_OK_AND_ASSIGN(indexed_, sqlite::SqliteStore::Open(path_, indexed_options));
    StoreOptions plain_options;
    plain_options.call_index_max_bytes = 0;
    ASSERT_OK_AND_ASSIGN(plain_, sqlite::SqliteStore::Open(path_, plain_options));
    ASSERT_THAT(indexed_->CreateWorkspace(Workspace("a")), IsOk());

    batch_ = Batch("a", "big", kPrefixA);
    batch_.status = domain::BatchStatus::kActive;
    batch_.variable_keys = {"name", "city", "notes"};
    for (int i = 0; i < kCalls; ++i) {
      phones_.push_back(fmt::format("+1212555{:04d}", i));
      std::string json = "{";
      const auto member = [&](std::string_view key, std::string_view value) {
        if (json.size() > 1) json += ',';
        json += fmt::format(R"("{}":"{}")", key, value);
      };
      member("name", Pick(kNames));
      if (rng_() % 5 != 0) member("city", Pick(kCities));  // some calls lack a city
      if (rng_() % 3 == 0) member("notes", Pick(kNotes));
      variables_.push_back(json + "}");
    }
    for (int i = 0; i < kCalls; ++i) {
      calls_.push_back({.e164 = phones_[i], .timezone = "", .variables_json = variables_[i]});
    }
    ASSERT_THAT(indexed_->InsertBatch(batch_, calls_, {}, nullptr), IsOk());
  }

  template <size_t N>
  std::string_view Pick(const std::string_view (&items)[N]) {
    return items[rng_() % N];
  }

  // Moves ~1/10 of the calls one dialling step on, through `store`, at `now`.
  void Dial(Store& store, absl::Time now) {
    std::vector<domain::Call> calls;
    ASSERT_THAT(store.ForEachCall("org-a", batch_.id,
                                  [&](const domain::Call& call) {
                                    calls.push_back(call);
                                    return absl::OkStatus();
                                  }),
                IsOk());
    std::vector<AttemptStart> starts;
    std::vector<AttemptOutcome> outcomes;
    std::vector<Deferral> deferrals;
    constexpr domain::CallStatus kOutcomes[] = {
        domain::CallStatus::kCompleted, domain::CallStatus::kFailed, domain::CallStatus::kNoAnswer,
        domain::CallStatus::kBusy};
    for (const domain::Call& call : calls) {
      if (rng_() % 10 != 0) continue;
      if (call.status == domain::CallStatus::kInProgress) {
        const domain::CallStatus status = kOutcomes[rng_() % 4];
        std::optional<absl::Time> next;
        if (rng_() % 2 == 0) next = now + absl::Minutes(rng_() % 60);
        outcomes.push_back({.call_id = call.id,
                            .attempt = call.attempts,
                            .status = status,
                            .duration_seconds = 30,
                            .recording_url = "",
                            .transcript = "",
                            .next_attempt_at = next});
      } else if (rng_() % 4 == 0) {
        deferrals.push_back({call.id, call.status, call.attempts, now + absl::Hours(1)});
      } else if (rng_() % 6 == 0) {
        ASSERT_THAT(store.MarkCallDnc(call.id, call.status, call.attempts, now), IsOk());
      } else {
        starts.push_back({.call_id = call.id,
                          .expected_status = call.status,
                          .expected_attempts = call.attempts,
                          .from = "+12125550100",
                          .deadline = now + absl::Minutes(10)});
      }
    }
    ASSERT_THAT(store.StartAttempts(starts, now), IsOk());
    ASSERT_THAT(store.RecordOutcomes(outcomes, now), IsOk());
    ASSERT_THAT(store.DeferCalls(deferrals, now), IsOk());
  }

  CallQuery RandomQuery() {
    using SortKey = CallQuery::SortKey;
    CallQuery query;
    const int i = static_cast<int>(rng_() % kCalls);
    switch (rng_() % 4) {
      case 0: {  // a piece of a value or the phone number, in random case
        std::string text = rng_() % 4 == 0 ? phones_[i] : std::string(Pick(kNames));
        const size_t from = rng_() % text.size();
        std::string term = text.substr(from, 1 + rng_() % 6);
        for (char& c : term) {
          if (rng_() % 2 == 0) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        query.search = term;
        break;
      }
      case 1:
        query.search = Pick(kTerms);
        break;
      default:
        break;
    }
    if (rng_() % 8 == 0) query.phone = rng_() % 2 == 0 ? phones_[i] : "+19999999999";
    if (rng_() % 3 == 0) {
      const std::string_view key = Pick(kKeys);
      std::optional<std::string> value;
      if (rng_() % 4 != 0) value = std::string(key == "city" ? Pick(kCities) : Pick(kNames));
      query.variables.push_back({std::string(key), value});
    }
    if (rng_() % 3 == 0) query.status = domain::kAllCallStatuses[rng_() % 8];
    constexpr SortKey kSorts[] = {SortKey::kCreatedAt, SortKey::kUpdatedAt, SortKey::kPhone,
                                  SortKey::kStatus,    SortKey::kAttempts,  SortKey::kVariable};
    query.sort_key = kSorts[rng_() % std::size(kSorts)];
    query.sort_variable = Pick(kKeys);
    query.descending = rng_() % 2 == 0;
    query.limit = 1 + static_cast<int64_t>(rng_() % 40);
    query.offset = rng_() % 4 == 0 ? static_cast<int64_t>(rng_() % 300) : 0;
    return query;
  }

  // The page as comparable text: total, then each call's ID, status, attempts and updated_at.
  static std::string Describe(const CallPage& page) {
    std::string text = fmt::format("total {}:", page.total);
    for (const domain::Call& call : page.calls) {
      text += fmt::format(" {}/{}/{}/{}", call.id.substr(18), domain::CallStatusName(call.status),
                          call.attempts, core::ToUnixMillis(call.updated_at));
    }
    return text;
  }

  static constexpr std::string_view kNames[] = {
      "Emily Davis", "emily stone", "Jos\u00e9 \u00c1lvarez", "JOS\u00c9 Costa",  "Zo\u00eb",
      "Bao Nguyen",  "Stra\u00dfe", "\u212aelvin Ross",       "Ann-Marie O'Neil", "[x]`y`{z}"};
  static constexpr std::string_view kCities[] = {"Paris", "London", "S\u00e3o Paulo", "Berlin", ""};
  static constexpr std::string_view kNotes[] = {"call after 5pm", "VIP", "100% sure_x", "k"};
  static constexpr std::string_view kKeys[] = {"name", "city", "notes", "missing"};
  static constexpr std::string_view kTerms[] = {
      "e",       "E",   "jos\u00e9", "\u00e9", "k",     "kelvin",  "stra\u00dfe",
      "strasse", "ss",  "{",         "[",      "@",     "`",       "  ",
      "+1212",   "zzz", "100%",      "_",      "paris", "s\u00e3o"};

  TempDir dir_;
  std::string path_;
  std::unique_ptr<sqlite::SqliteStore> indexed_;
  std::unique_ptr<sqlite::SqliteStore> plain_;
  domain::Batch batch_;
  std::vector<std::string> phones_;
  std::vector<std::string> variables_;
  std::vector<NewCall> calls_;
  std::mt19937_64 rng_{20261128};
};

TEST_F(CallIndexAgreementTest, RandomQueriesGetTheDatabasesPagesAsCallsChange) {
  absl::Time now = kT0 + absl::Minutes(1);
  for (int round = 0; round < 8; ++round) {
    if (round > 0) Dial(round % 2 == 0 ? static_cast<Store&>(*plain_) : *indexed_, now);
    now += absl::Minutes(1);
    for (int q = 0; q < 60; ++q) {
      const CallQuery query = RandomQuery();
      ASSERT_OK_AND_ASSIGN(const CallPage expected, plain_->ListCalls("org-a", batch_.id, query));
      ASSERT_OK_AND_ASSIGN(const CallPage actual, indexed_->ListCalls("org-a", batch_.id, query));
      ASSERT_EQ(Describe(actual), Describe(expected))
          << "round " << round << ", search '" << query.search << "', status "
          << (query.status ? domain::CallStatusName(*query.status) : "-") << ", sort "
          << static_cast<int>(query.sort_key) << " " << query.sort_variable
          << (query.descending ? " desc" : " asc") << ", offset " << query.offset;
    }
  }
  // The index answered, was built once and caught up with every change since.
  const sqlite::SqliteStore::CallIndexStats stats = indexed_->call_index_stats();
  EXPECT_EQ(stats.builds, 1);
  EXPECT_GT(stats.answers, 400);
  EXPECT_GT(stats.bytes, size_t{kCalls} * 20);
}

TEST_F(CallIndexAgreementTest, ConcurrentQueriesSeeTheCountersOfTheirOwnSnapshot) {
  // A status filter sorted by updatedAt is answered by the index; its total must equal the
  // counters read in the same snapshot, however the calls change meanwhile.
  std::atomic<bool> done = false;
  std::thread dialler([&] {
    absl::Time now = kT0 + absl::Minutes(1);
    for (int round = 0; round < 6; ++round, now += absl::Minutes(1)) Dial(*plain_, now);
    done = true;
  });
  std::vector<std::thread> readers;
  std::atomic<int> mismatches = 0;
  std::atomic<int> queries = 0;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      const domain::CallStatus status = domain::kAllCallStatuses[r];
      CallQuery query;
      query.status = status;
      query.sort_key = CallQuery::SortKey::kUpdatedAt;
      while (!done || queries < 30) {
        absl::StatusOr<CallPage> page = indexed_->ListCalls("org-a", batch_.id, query);
        if (!page.ok() || page->total != page->counts.Of(status)) ++mismatches;
        ++queries;
      }
    });
  }
  dialler.join();
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(indexed_->call_index_stats().answers, 0);
}

TEST_F(CallIndexAgreementTest, DeletedBatchIsNotFoundAndItsIndexIsReleased) {
  CallQuery query;
  query.search = "emily";
  ASSERT_THAT(indexed_->ListCalls("org-a", batch_.id, query), IsOk());
  EXPECT_GT(indexed_->call_index_stats().bytes, 0u);
  ASSERT_THAT(indexed_->DeleteBatch("org-a", batch_.id, kT0 + absl::Hours(1)), IsOk());
  EXPECT_EQ(indexed_->call_index_stats().bytes, 0u);
  EXPECT_THAT(indexed_->ListCalls("org-a", batch_.id, query),
              StatusIs(absl::StatusCode::kNotFound, "batch not found"));
}

TEST_F(CallIndexAgreementTest, BatchesBelowTheMinimumOrOverTheMemoryLimitAreReadFromTheDatabase) {
  CallQuery query;
  query.search = "emily";
  ASSERT_OK_AND_ASSIGN(const CallPage expected, plain_->ListCalls("org-a", batch_.id, query));
  StoreOptions small;
  small.call_index_min_calls = kCalls + 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<sqlite::SqliteStore> above,
                       sqlite::SqliteStore::Open(path_, small));
  StoreOptions tight;
  tight.call_index_min_calls = 1;
  tight.call_index_max_bytes = 1000;  // far less than this batch's index
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<sqlite::SqliteStore> over,
                       sqlite::SqliteStore::Open(path_, tight));
  for (sqlite::SqliteStore* store : {above.get(), over.get()}) {
    ASSERT_OK_AND_ASSIGN(const CallPage page, store->ListCalls("org-a", batch_.id, query));
    EXPECT_EQ(Describe(page), Describe(expected));
    EXPECT_EQ(store->call_index_stats().answers, 0);
    EXPECT_EQ(store->call_index_stats().bytes, 0u);
  }
  EXPECT_EQ(above->call_index_stats().builds, 0);
}

TEST_F(CallIndexAgreementTest, FirstDefaultViewOfALargeBatchIndexesItInTheBackground) {
  StoreOptions warm;
  warm.call_index_min_calls = 100;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<sqlite::SqliteStore> store,
                       sqlite::SqliteStore::Open(path_, warm));
  EXPECT_EQ(store->call_index_stats().builds, 0);  // an upload alone builds nothing
  ASSERT_THAT(store->ListCalls("org-a", batch_.id, CallQuery()), IsOk());
  for (int i = 0; i < 500 && store->call_index_stats().builds == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(store->call_index_stats().builds, 1);
  ASSERT_THAT(store->ListCalls("org-a", batch_.id, CallQuery()), IsOk());  // asks no second build
  CallQuery query;
  query.search = "emily";
  ASSERT_THAT(store->ListCalls("org-a", batch_.id, query), IsOk());
  const sqlite::SqliteStore::CallIndexStats stats = store->call_index_stats();
  EXPECT_EQ(stats.builds, 1);  // the search found it built
  EXPECT_EQ(stats.answers, 1);
}

}  // namespace
}  // namespace nexus::store
