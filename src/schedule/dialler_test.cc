// The dialler against a real (in-memory SQLite) store, a fake clock and a recording sender:
// windows, concurrency and rotation, retries, DNC at dial time, timeouts, restarts, reports.
#include "schedule/dialler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/webhook_signature.h"
#include "store/store.h"

namespace nexus::schedule {
namespace {

using ::testing::ElementsAre;
using json = nlohmann::json;

constexpr char kPrefix[] = "6b0b1956edfb73fd49";
constexpr char kSecret[] = "whsec_test";

// A Monday in New York, at `hh:mm` local time (EST, UTC-5, in January).
absl::Time NewYorkMonday(int hh, int mm) {
  absl::TimeZone ny;
  EXPECT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  return absl::FromCivil(absl::CivilMinute(2027, 1, 4, hh, mm), ny);
}

OutcomeReport Outcome(domain::CallStatus status, std::optional<int64_t> attempt = std::nullopt) {
  OutcomeReport report;
  report.status = status;
  report.attempt = attempt;
  return report;
}

DiallerOptions Options(int per_number, absl::Duration timeout = absl::Seconds(600)) {
  DiallerOptions options;
  options.per_number_concurrency = per_number;
  options.call_timeout = timeout;
  return options;
}

// Records every dispatch; the test decides when and how each ends.
class RecordingSender final : public CallSender {
 public:
  struct Sent {
    DispatchRequest request;
    std::function<void(DispatchResult)> done;
    json body;
  };
  void Send(DispatchRequest request, std::function<void(DispatchResult)> done) override {
    json body = json::parse(request.body);
    sent.push_back({std::move(request), std::move(done), std::move(body)});
  }
  std::vector<Sent> sent;
};

class DiallerTest : public ::testing::Test {
 protected:
  // The store's URL; a file for the tests that reach into the database.
  virtual std::string StoreUrl() { return "sqlite://:memory:"; }

  void SetUp() override {
    auto opened = store::OpenStore(StoreUrl());
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
    store::NewWorkspace workspace;
    workspace.organization = {.id = "org-1",
                              .name = "Org",
                              .timezone = "America/New_York",
                              .default_country = "US",
                              .legal_window = domain::kDefaultLegalWindow,
                              .created_at = clock_.Now()};
    workspace.admin = {.id = "user-1",
                       .organization_id = "org-1",
                       .email = "admin@example.com",
                       .name = "Admin",
                       .role = domain::Role::kAdmin,
                       .created_at = clock_.Now()};
    workspace.admin_token = {.id = "token-1",
                             .organization_id = "org-1",
                             .user_id = "user-1",
                             .kind = domain::CredentialKind::kToken,
                             .name = "",
                             .secret_hash = std::string(64, 'a'),
                             .created_at = clock_.Now(),
                             .revoked_at = std::nullopt};
    domain::Agent agent;
    agent.id = "agent-1";
    agent.organization_id = "org-1";
    agent.name = "Agent";
    agent.language = "en-US";
    agent.dispatch_url = "http://127.0.0.1:9/dispatch";
    agent.webhook_secret = kSecret;
    agent.created_at = clock_.Now();
    agent.updated_at = clock_.Now();
    workspace.agent = agent;
    workspace.phone_number = domain::PhoneNumber{.id = "phone-1",
                                                 .organization_id = "org-1",
                                                 .e164 = "+14155550100",
                                                 .agent_id = "agent-1",
                                                 .created_at = clock_.Now()};
    ASSERT_TRUE(store_->CreateWorkspace(workspace).ok());
    ASSERT_TRUE(store_
                    ->InsertPhoneNumber({.id = "phone-2",
                                         .organization_id = "org-1",
                                         .e164 = "+14155550101",
                                         .agent_id = "agent-1",
                                         .created_at = clock_.Now()})
                    .ok());
  }

  domain::Batch MakeBatch() const {
    return {.id = "batch-1",
            .organization_id = "org-1",
            .user_id = "user-1",
            .agent_id = "agent-1",
            .call_id_prefix = kPrefix,
            .settings = {.name = "Campaign",
                         .type = domain::BatchType::kOutbound,
                         .calling_number_ids = {"phone-1"},
                         .retry = 0,
                         .delay_seconds = 60,
                         .timezone = "America/New_York",
                         .calling_hour = {domain::TimeOfDay{9 * 60}, domain::TimeOfDay{17 * 60}},
                         .allowed_days = {1, 2, 3, 4, 5},
                         .enable_dnc = false,
                         .default_country = "US"},
            .status = domain::BatchStatus::kActive,
            .total_calls = 0,
            .variable_keys = {"name"},
            .created_at = clock_.Now(),
            .updated_at = clock_.Now()};
  }

  // Inserts `batch` with one call per phone (timezone "" = the batch's).
  void Insert(const domain::Batch& batch,
              const std::vector<std::pair<std::string, std::string>>& phones_and_zones) {
    std::vector<store::NewCall> calls;
    for (const auto& [phone, zone] : phones_and_zones) {
      calls.push_back({phone, zone, R"({"name":"Ann"})"});
    }
    ASSERT_TRUE(store_->InsertBatch(batch, calls, {}, nullptr).ok());
  }

  std::unique_ptr<Dialler> MakeDialler(DiallerOptions options = {}) {
    return std::make_unique<Dialler>(*store_, clock_, sender_, options, &metrics_);
  }

  std::string CallId(int seq) const {
    char counter[7];
    std::snprintf(counter, sizeof(counter), "%06x", seq);
    return std::string(kPrefix) + counter;
  }

  domain::Call GetCall(int seq) {
    store::CallQuery query;
    query.limit = 1000;
    auto page = store_->ListCalls("org-1", "batch-1", query);
    EXPECT_TRUE(page.ok()) << page.status();
    for (const domain::Call& call : page->calls) {
      if (call.id == CallId(seq)) return call;
    }
    ADD_FAILURE() << "no call " << seq;
    return {};
  }

  store::CallCounts Counts() {
    store::CallQuery query;
    query.limit = 0;
    auto page = store_->ListCalls("org-1", "batch-1", query);
    EXPECT_TRUE(page.ok()) << page.status();
    return page->counts;
  }

  domain::BatchStatus BatchStatus() {
    auto batch = store_->GetBatch("org-1", "batch-1");
    EXPECT_TRUE(batch.ok()) << batch.status();
    return batch->status;
  }

  std::unique_ptr<store::Store> store_;
  core::FakeClock clock_{NewYorkMonday(8, 59)};
  RecordingSender sender_;
  core::Metrics metrics_;
};

TEST_F(DiallerTest, DispatchesOnlyInsideTheWindowWithASignedBody) {
  Insert(MakeBatch(), {{"+12125550123", ""}});
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_TRUE(sender_.sent.empty()) << "08:59 in New York is before the 09:00 window";

  clock_.Set(NewYorkMonday(9, 0));
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  const RecordingSender::Sent& sent = sender_.sent[0];
  EXPECT_EQ(sent.request.url, "http://127.0.0.1:9/dispatch");
  EXPECT_EQ(sent.request.secret, kSecret);
  EXPECT_EQ(sent.body["callId"], CallId(0));
  EXPECT_EQ(sent.body["batchId"], "batch-1");
  EXPECT_EQ(sent.body["attempt"], 1);
  EXPECT_EQ(sent.body["from"], "+14155550100");
  EXPECT_EQ(sent.body["to"], "+12125550123");
  EXPECT_EQ(sent.body["agentId"], "agent-1");
  EXPECT_EQ(sent.body["language"], "en-US");
  EXPECT_EQ(sent.body["variables"], json({{"name", "Ann"}}));

  const domain::Call call = GetCall(0);
  EXPECT_EQ(call.status, domain::CallStatus::kInProgress);
  EXPECT_EQ(call.attempts, 1);
  EXPECT_EQ(Counts().picked, 1);
  EXPECT_EQ(dialler->in_flight(), 1);
  EXPECT_EQ(metrics_.Value("nexus_calls", {{"status", "in_progress"}}), 1);
  EXPECT_EQ(metrics_.Value("nexus_calls", {{"status", "queued"}}), 0);
  EXPECT_EQ(metrics_.Value("nexus_dialler_in_progress", {}), 1);
  // Started once: another pass does not dispatch it again.
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(sender_.sent.size(), 1u);
}

TEST_F(DiallerTest, DispatchLagCountsFromTheWindowOpening) {
  Insert(MakeBatch(), {{"+12125550120", ""}, {"+12125550121", ""}});
  clock_.Set(NewYorkMonday(9, 0));
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());  // the first call: due now, lag 0
  ASSERT_EQ(sender_.sent.size(), 1u);
  clock_.Set(NewYorkMonday(9, 5));  // the only line frees up five minutes later
  ASSERT_TRUE(dialler->ApplyOutcome(CallId(0), Outcome(domain::CallStatus::kCompleted)).ok());
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 2u);
  const std::string rendered = metrics_.Render();
  EXPECT_THAT(rendered, ::testing::HasSubstr("nexus_dialler_dispatch_lag_seconds_sum 300\n"));
  EXPECT_THAT(rendered, ::testing::HasSubstr("nexus_dialler_dispatch_lag_seconds_count 2\n"));
}

TEST_F(DiallerTest, WeekendAndLegalWindowKeepCallsWaiting) {
  domain::Batch batch = MakeBatch();
  batch.settings.calling_hour = {domain::TimeOfDay{6 * 60}, domain::TimeOfDay{23 * 60}};
  Insert(batch, {{"+12125550123", ""}});
  auto dialler = MakeDialler();
  clock_.Set(NewYorkMonday(7, 30));  // inside 06-23 but before the legal 08:00
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_TRUE(sender_.sent.empty());
  clock_.Set(NewYorkMonday(8, 0) - absl::Hours(48) + absl::Minutes(30));  // Saturday 08:30
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_TRUE(sender_.sent.empty());
  clock_.Set(NewYorkMonday(8, 0));
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(sender_.sent.size(), 1u);
}

TEST_F(DiallerTest, ContactZoneClosedIsDeferredToItsOpeningWhileTheBatchZoneDials) {
  Insert(MakeBatch(), {{"+12125550123", "Asia/Tokyo"}, {"+12125550124", ""}});
  auto dialler = MakeDialler(Options(5));
  clock_.Set(NewYorkMonday(9, 0));  // 23:00 Monday in Tokyo
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].body["to"], "+12125550124");
  const domain::Call deferred = GetCall(0);
  EXPECT_EQ(deferred.status, domain::CallStatus::kQueued);
  absl::TimeZone tokyo;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Tokyo", &tokyo));
  ASSERT_TRUE(deferred.next_attempt_at.has_value());
  EXPECT_EQ(*deferred.next_attempt_at, absl::FromCivil(absl::CivilMinute(2027, 1, 5, 9, 0), tokyo));
  clock_.Set(*deferred.next_attempt_at);
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(sender_.sent[1].body["to"], "+12125550123");
}

TEST_F(DiallerTest, ConcurrencyPerNumberAndRoundRobinRotation) {
  domain::Batch batch = MakeBatch();
  batch.settings.calling_number_ids = {"phone-1", "phone-2"};
  Insert(batch, {{"+12125550120", ""},
                 {"+12125550121", ""},
                 {"+12125550122", ""},
                 {"+12125550123", ""},
                 {"+12125550124", ""}});
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 2u) << "one call at a time per number, two numbers";
  EXPECT_EQ(sender_.sent[0].body["from"], "+14155550100");
  EXPECT_EQ(sender_.sent[1].body["from"], "+14155550101");
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(sender_.sent.size(), 2u) << "no line free";

  // The second number's call ends: its line is free again, the first one's is not.
  ASSERT_TRUE(dialler->ApplyOutcome(CallId(1), Outcome(domain::CallStatus::kCompleted)).ok());
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 3u);
  EXPECT_EQ(sender_.sent[2].body["from"], "+14155550101");
  EXPECT_EQ(sender_.sent[2].body["to"], "+12125550122") << "row order";
}

TEST_F(DiallerTest, RetryWaitsForTheDelayAndTheNextOpenWindow) {
  domain::Batch batch = MakeBatch();
  batch.settings.retry = 1;
  batch.settings.delay_seconds = 3600;
  batch.settings.calling_hour = {domain::TimeOfDay{9 * 60}, domain::TimeOfDay{10 * 60}};
  Insert(batch, {{"+12125550123", ""}});
  auto dialler = MakeDialler();
  clock_.Set(NewYorkMonday(9, 30));
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  ASSERT_TRUE(dialler->ApplyOutcome(CallId(0), Outcome(domain::CallStatus::kNoAnswer)).ok());
  domain::Call call = GetCall(0);
  EXPECT_EQ(call.status, domain::CallStatus::kNoAnswer);
  // 10:30 is after the 09:00-10:00 window: Tuesday 09:00.
  ASSERT_TRUE(call.next_attempt_at.has_value());
  EXPECT_EQ(*call.next_attempt_at, NewYorkMonday(9, 0) + absl::Hours(24));
  EXPECT_EQ(Counts().finished, 0);

  clock_.Set(NewYorkMonday(9, 59));
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(sender_.sent.size(), 1u);
  clock_.Set(*call.next_attempt_at);
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(sender_.sent[1].body["attempt"], 2);
  // The last allowed attempt fails: no more retries, the batch is done.
  ASSERT_TRUE(dialler->ApplyOutcome(CallId(0), Outcome(domain::CallStatus::kBusy)).ok());
  call = GetCall(0);
  EXPECT_EQ(call.status, domain::CallStatus::kBusy);
  EXPECT_EQ(call.attempts, 2);
  EXPECT_FALSE(call.next_attempt_at.has_value());
  ASSERT_EQ(call.phone_logs.size(), 2u);
  EXPECT_EQ(call.phone_logs[0].status, domain::CallStatus::kNoAnswer);
  EXPECT_EQ(call.phone_logs[1].status, domain::CallStatus::kBusy);
  EXPECT_EQ(BatchStatus(), domain::BatchStatus::kCompleted);
}

TEST_F(DiallerTest, RefusedDispatchIsAFailedAttempt) {
  Insert(MakeBatch(), {{"+12125550123", ""}});
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  sender_.sent[0].done({.accepted = false, .http_status = 500, .error = "HTTP 500"});
  const domain::Call call = GetCall(0);
  EXPECT_EQ(call.status, domain::CallStatus::kFailed);
  ASSERT_EQ(call.phone_logs.size(), 1u);
  EXPECT_EQ(call.phone_logs[0].transcript, "dispatch failed: HTTP 500");
  EXPECT_EQ(BatchStatus(), domain::BatchStatus::kCompleted);
  EXPECT_EQ(dialler->in_flight(), 0);
  EXPECT_EQ(metrics_.Value("nexus_dialler_dispatches_total", {{"result", "failed"}}), 1);
}

TEST_F(DiallerTest, NumberListedAfterTheUploadEndsAsDncWithoutADispatch) {
  domain::Batch batch = MakeBatch();
  batch.settings.enable_dnc = true;
  Insert(batch, {{"+12125550123", ""}, {"+12125550124", ""}});
  ASSERT_TRUE(store_->AddDncNumbers("org-1", {"+12125550123"}, clock_.Now()).ok());
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].body["to"], "+12125550124");
  EXPECT_EQ(GetCall(0).status, domain::CallStatus::kDnc);
  EXPECT_EQ(GetCall(0).attempts, 0);
}

TEST_F(DiallerTest, AttemptWithoutAReportTimesOutAsFailed) {
  Insert(MakeBatch(), {{"+12125550123", ""}});
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler(Options(1, absl::Seconds(60)));
  ASSERT_TRUE(dialler->RunOnce().ok());
  sender_.sent[0].done({.accepted = true, .http_status = 200, .error = ""});
  clock_.Advance(absl::Seconds(59));
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(GetCall(0).status, domain::CallStatus::kInProgress);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(dialler->RunOnce().ok());
  const domain::Call call = GetCall(0);
  EXPECT_EQ(call.status, domain::CallStatus::kFailed);
  ASSERT_EQ(call.phone_logs.size(), 1u);
  EXPECT_EQ(call.phone_logs[0].transcript, "no report within the call timeout");
  // A late report of that attempt is logged but changes nothing.
  auto late = dialler->ApplyOutcome(CallId(0), Outcome(domain::CallStatus::kCompleted, 1));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(*late, store::OutcomeEffect::kLogged);
  EXPECT_EQ(GetCall(0).status, domain::CallStatus::kFailed);
}

TEST_F(DiallerTest, AttemptOfADeletedBatchStillTimesOutAndFreesItsLine) {
  Insert(MakeBatch(), {{"+12125550123", ""}});
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler(Options(1, absl::Seconds(60)));
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(dialler->in_flight(), 1);
  ASSERT_TRUE(store_->DeleteBatch("org-1", "batch-1", clock_.Now()).ok());
  clock_.Advance(absl::Seconds(61));
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(dialler->in_flight(), 0);
  auto left = store_->ListInProgress(absl::InfiniteFuture(), 10);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << "the attempt ended";
}

TEST_F(DiallerTest, RestartedDiallerKeepsInProgressLinesBusyAndNeverRedispatches) {
  Insert(MakeBatch(), {{"+12125550123", ""}, {"+12125550124", ""}});
  clock_.Set(NewYorkMonday(10, 0));
  {
    auto first = MakeDialler();
    ASSERT_TRUE(first->RunOnce().ok());
    ASSERT_EQ(sender_.sent.size(), 1u);
  }  // the process "dies" with the attempt in flight
  auto second = MakeDialler();
  ASSERT_TRUE(second->Start().ok());
  second->Stop();
  EXPECT_EQ(second->in_flight(), 1);
  ASSERT_TRUE(second->RunOnce().ok());
  EXPECT_EQ(sender_.sent.size(), 1u) << "the number's only line is still busy";
  // Its report still arrives and is applied; the line frees up for the next call.
  ASSERT_TRUE(second->ApplyOutcome(CallId(0), Outcome(domain::CallStatus::kCompleted)).ok());
  ASSERT_TRUE(second->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(sender_.sent[1].body["to"], "+12125550124");
}

TEST_F(DiallerTest, ReportsAreCheckedAgainstTheAgentSignature) {
  Insert(MakeBatch(), {{"+12125550123", ""}});
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());
  const std::string body = R"({"callStatus":"completed","callDuration":42,"recordingUrl":"u"})";
  const core::SignedHeaders good = core::SignWebhook(kSecret, clock_.Now(), body);
  const core::SignedHeaders stale =
      core::SignWebhook(kSecret, clock_.Now() - absl::Seconds(301), body);
  const core::SignedHeaders wrong = core::SignWebhook("other", clock_.Now(), body);
  EXPECT_EQ(dialler->Report(CallId(0), wrong.timestamp, wrong.signature, body).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(dialler->Report(CallId(0), stale.timestamp, stale.signature, body).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(dialler->Report(CallId(9), good.timestamp, good.signature, body).status().code(),
            absl::StatusCode::kNotFound);
  const std::string bad = R"({"callStatus":"queued"})";
  const core::SignedHeaders bad_signed = core::SignWebhook(kSecret, clock_.Now(), bad);
  EXPECT_EQ(
      dialler->Report(CallId(0), bad_signed.timestamp, bad_signed.signature, bad).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetCall(0).status, domain::CallStatus::kInProgress);

  auto applied = dialler->Report(CallId(0), good.timestamp, good.signature, body);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, store::OutcomeEffect::kApplied);
  auto again = dialler->Report(CallId(0), good.timestamp, good.signature, body);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, store::OutcomeEffect::kDuplicate);
  const domain::Call call = GetCall(0);
  EXPECT_EQ(call.status, domain::CallStatus::kCompleted);
  ASSERT_EQ(call.phone_logs.size(), 1u);
  EXPECT_EQ(call.phone_logs[0].duration_seconds, 42);
  EXPECT_EQ(call.phone_logs[0].recording_url, "u");
  EXPECT_EQ(metrics_.Value("nexus_call_outcomes_total", {{"status", "completed"}}), 1);
}

// A database file, so that a test can add a trigger through its own connection.
class DiallerFileTest : public DiallerTest {
 protected:
  std::string StoreUrl() override {
    std::string pattern = ::testing::TempDir() + "nexus-dialler-XXXXXX";
    dir_ = mkdtemp(pattern.data());
    return "sqlite://" + dir_ + "/nexus.db";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/nexus.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  std::string dir_;
};

TEST_F(DiallerFileTest, FreshCallsThatDidNotStartAreReadAgainAfterAResume) {
  Insert(MakeBatch(), {{"+12125550120", ""}, {"+12125550121", ""}, {"+12125550122", ""}});
  // The batch is paused (as by stop-calling) the moment its first call starts, inside the very
  // transaction that starts the other two: those two starts must not happen, and the dialler
  // must read those calls again once the batch is resumed.
  Exec(
      "CREATE TRIGGER pause_on_start AFTER UPDATE OF status ON calls "
      "WHEN NEW.status = 'in_progress' BEGIN "
      "UPDATE batches SET status = 'paused' WHERE id = NEW.batch_id; END");
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler(Options(5));
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(GetCall(1).status, domain::CallStatus::kQueued);
  Exec("DROP TRIGGER pause_on_start");
  ASSERT_TRUE(store_
                  ->UpdateBatchStatus("org-1", "batch-1", domain::BatchStatus::kPaused,
                                      domain::BatchStatus::kActive, clock_.Now())
                  .ok());
  ASSERT_TRUE(dialler->RunOnce().ok());
  ASSERT_EQ(sender_.sent.size(), 3u);
  EXPECT_EQ(sender_.sent[1].body["to"], "+12125550121");
  EXPECT_EQ(sender_.sent[2].body["to"], "+12125550122");
}

TEST_F(DiallerTest, PausedBatchStartsNothing) {
  Insert(MakeBatch(), {{"+12125550123", ""}});
  ASSERT_TRUE(store_
                  ->UpdateBatchStatus("org-1", "batch-1", domain::BatchStatus::kActive,
                                      domain::BatchStatus::kPaused, clock_.Now())
                  .ok());
  clock_.Set(NewYorkMonday(10, 0));
  auto dialler = MakeDialler();
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_TRUE(sender_.sent.empty());
  ASSERT_TRUE(store_
                  ->UpdateBatchStatus("org-1", "batch-1", domain::BatchStatus::kPaused,
                                      domain::BatchStatus::kActive, clock_.Now())
                  .ok());
  ASSERT_TRUE(dialler->RunOnce().ok());
  EXPECT_EQ(sender_.sent.size(), 1u);
}

}  // namespace
}  // namespace nexus::schedule
