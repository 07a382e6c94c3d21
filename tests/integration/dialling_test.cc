// The dialler against the real binary (SPEC §6 "Dialling", "Dispatch", "Outcome", "Retries and
// completion"): a `nexus serve` whose clock starts at a chosen instant (hidden
// --test-start-time), an AgentReceiver playing the agent runtime at the demo agent's dispatchUrl,
// and signed status reports posted back to /api/call/{callId}/status. Signatures are computed and
// checked here with OpenSSL directly, not with the server's code, so they are an independent
// oracle.
#include <gmock/gmock.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <thread>

#include "support/agent_receiver.h"
#include "support/nexus_process.h"
#include "support/raw_http.h"
#include "support/upload_client.h"

namespace nexus::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kCallingNumber[] = "+14155550100";  // the demo phone number of `init --demo`
constexpr milliseconds kWait{5000};                // generous: a loaded 2-core machine

// 2025-06-11 is a Wednesday; New York is on EDT (UTC-4) then.
constexpr char kNoonNewYork[] = "2025-06-11T12:00:00-04:00";
constexpr int64_t kNineNewYorkUnix = 1749646800;  // 2025-06-11T09:00:00-04:00

// "sha256=" + lowercase hex of HMAC-SHA256(secret, timestamp + "." + body).
std::string Sign(const std::string& secret, const std::string& timestamp, const std::string& body) {
  const std::string message = timestamp + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// "2025-06-11T16:00:01.234Z" → Unix seconds (with the milliseconds); NaN if malformed.
double ParseIsoMillis(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return std::nan("");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + millis / 1000.0;
}

double SecondsSince(steady_clock::time_point at) {
  return std::chrono::duration<double>(steady_clock::now() - at).count();
}

// One dispatch as the receiver got it.
struct Dispatch {
  json body;
  int64_t timestamp = 0;  // X-Nexus-Timestamp: the server's clock when it sent it
  steady_clock::time_point at;
  std::string callId() const { return body.value("callId", ""); }
  int64_t attempt() const { return body.value("attempt", int64_t{0}); }
  std::string to() const { return body.value("to", ""); }
  std::string batchId() const { return body.value("batchId", ""); }
};

// Batch fields for the upload form; every test sets its window explicitly.
struct BatchOptions {
  std::string name = "Dialling";
  std::string timezone = "America/New_York";
  std::string calling_hour = R"({"start":"09:00","end":"17:00"})";
  std::string allowed_days = "[0,1,2,3,4,5,6]";
  int retry = 0;
  int delay = 1;
  bool enable_dnc = false;
};

class DiallingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = "sqlite://" + dir_.path() + "/nexus.db";
    alpha_ = InitWorkspace(db_, {"--demo", "--org", "Alpha"});
    ASSERT_FALSE(alpha_.is_null());
    ASSERT_NE(receiver_.port(), 0);
  }

  // Starts `serve` with a 50 ms tick, its clock starting at `start_time` (RFC 3339), and the
  // demo agent dispatching to the receiver (its webhookSecret kept in secret_).
  void StartServer(const std::string& start_time, std::vector<std::string> extra = {},
                   bool bind_receiver = true) {
    start_time_ = start_time;
    std::vector<std::string> args = {"--dialler-tick-ms", "50", "--test-start-time=" + start_time};
    args.insert(args.end(), extra.begin(), extra.end());
    started_before_ = steady_clock::now();
    server_ = NexusServer::Start(db_, args);
    started_after_ = steady_clock::now();
    ASSERT_NE(server_, nullptr);
    if (bind_receiver) BindReceiver();
  }

  void BindReceiver() {
    HttpResponse patched = Call("PATCH", "/api/agents/" + alpha_["agentId"].get<std::string>(),
                                {{"dispatchUrl", receiver_.url()}});
    ASSERT_EQ(patched.status, 200) << patched.body;
    const json agent = Body(patched)["agent"];
    ASSERT_TRUE(agent.contains("webhookSecret")) << patched.body;
    secret_ = agent["webhookSecret"];
    ASSERT_FALSE(secret_.empty());
    EXPECT_EQ(agent["dispatchUrl"], receiver_.url());
  }

  HttpResponse Call(std::string_view method, std::string_view target,
                    const json& body = nullptr) const {
    HttpHeaders headers = {{"Authorization", "Bearer " + alpha_["token"].get<std::string>()}};
    std::string payload;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      payload = body.dump();
    }
    return Request(server_->port(), method, target, headers, payload);
  }

  static json Body(const HttpResponse& response) {
    return json::parse(response.body, nullptr, false);
  }

  // Uploads `csv` (lenient) as a batch on the demo calling number; returns its ID.
  std::string Upload(const std::string& csv, const BatchOptions& options = {}) {
    const UploadFields fields = {
        {"userId", alpha_["userId"]},
        {"batchName", options.name},
        {"batchType", "outbound"},
        {"callingNumbers", "[\"" + alpha_["phoneNumberId"].get<std::string>() + "\"]"},
        {"type", "true"},
        {"timezone", options.timezone},
        {"callingHour", options.calling_hour},
        {"allowedDays", options.allowed_days},
        {"retry", std::to_string(options.retry)},
        {"delay", std::to_string(options.delay)},
        {"enableDNC", options.enable_dnc ? "true" : "false"}};
    HttpResponse response =
        PostUpload(server_->port(), alpha_["token"], fields, UploadFile{"contacts.csv", csv});
    EXPECT_EQ(response.status, 200) << response.body;
    const json body = Body(response);
    if (!body.is_object() || !body.contains("batch")) return "";
    return body["batch"]["_id"];
  }

  // The `data` of GET /api/call/batch-details/{id} (all calls on one page); null on failure.
  json Details(const std::string& batch_id) const {
    HttpResponse response = Call("GET", "/api/call/batch-details/" + batch_id + "?limit=100");
    EXPECT_EQ(response.status, 200) << response.body;
    const json body = Body(response);
    return body.is_object() ? body["data"] : json();
  }

  // Polls batch-details until `done(data)` holds or `timeout` passes; the last data either way
  // (the test fails on timeout, naming `what`).
  json WaitForDetails(const std::string& batch_id, const std::function<bool(const json&)>& done,
                      const std::string& what, milliseconds timeout = kWait) const {
    const auto deadline = steady_clock::now() + timeout;
    json data = Details(batch_id);
    while (!(data.is_object() && done(data))) {
      if (steady_clock::now() >= deadline) {
        ADD_FAILURE() << "timed out waiting for " << what
                      << "; last batch-details: " << data.dump();
        return data;
      }
      std::this_thread::sleep_for(milliseconds(50));
      data = Details(batch_id);
    }
    return data;
  }

  // The call with phone number `e164` in a batch-details `data` (null if absent).
  static json CallFor(const json& data, const std::string& e164) {
    if (!data.is_object()) return json();
    for (const json& call : data["data"]) {
      if (call["phoneNumber"] == e164) return call;
    }
    return json();
  }

  static bool AllFinal(const json& data) { return data["batchStatus"] == "completed"; }

  std::vector<Dispatch> Dispatches() const {
    std::vector<Dispatch> out;
    for (const ReceivedRequest& request : receiver_.Requests()) {
      Dispatch dispatch;
      dispatch.body = json::parse(request.body, nullptr, false);
      const std::string ts = request.Header("x-nexus-timestamp");
      dispatch.timestamp = ts.empty() ? 0 : std::stoll(ts);
      dispatch.at = request.at;
      out.push_back(std::move(dispatch));
    }
    return out;
  }

  // Waits for the n-th dispatch (1-based) and returns it; fails the test if it does not come.
  Dispatch WaitForDispatch(size_t n, milliseconds timeout = kWait) const {
    if (!receiver_.WaitForRequests(n, timeout)) {
      ADD_FAILURE() << "dispatch #" << n << " did not arrive within " << timeout.count()
                    << " ms (got " << receiver_.RequestCount() << ")";
      return {};
    }
    return Dispatches()[n - 1];
  }

  // Asserts that the receiver still has exactly `n` requests after `quiet`.
  void ExpectNoMoreDispatches(size_t n, milliseconds quiet, const std::string& why) const {
    EXPECT_FALSE(receiver_.WaitForRequests(n + 1, quiet))
        << why << ": unexpected dispatch "
        << (receiver_.RequestCount() > n ? Dispatches()[n].body.dump() : std::string());
    EXPECT_EQ(receiver_.RequestCount(), n) << why;
  }

  // The server's clock now, in Unix seconds, rounded down: from the latest dispatch's
  // timestamp (the server's clock when it was sent) plus the real time since. Never ahead of the
  // server that sent it; behind it by less than a second. (After a restart the new process's
  // clock may lag this by its start-up time; only reports well inside the tolerance follow.)
  int64_t ServerNow() const {
    const std::vector<Dispatch> dispatches = Dispatches();
    if (dispatches.empty() || dispatches.back().timestamp == 0) {
      ADD_FAILURE() << "no dispatch to read the server's clock from";
      return 0;
    }
    const Dispatch& last = dispatches.back();
    return last.timestamp + static_cast<int64_t>(std::floor(SecondsSince(last.at)));
  }

  // POSTs `body` to /api/call/{callId}/status, signed with `secret` (the agent's by default) at
  // `timestamp` (the server's now by default).
  HttpResponse Report(const std::string& call_id, const std::string& body,
                      std::optional<int64_t> timestamp = std::nullopt,
                      std::optional<std::string> secret = std::nullopt) const {
    const std::string ts = std::to_string(timestamp.value_or(ServerNow()));
    const HttpHeaders headers = {{"Content-Type", "application/json"},
                                 {"X-Nexus-Timestamp", ts},
                                 {"X-Nexus-Signature", Sign(secret.value_or(secret_), ts, body)}};
    return Request(server_->port(), "POST", "/api/call/" + call_id + "/status", headers, body);
  }

  HttpResponse Report(const std::string& call_id, const json& body) const {
    return Report(call_id, body.dump());
  }

  void ExpectReported(const std::string& call_id, const json& body) const {
    HttpResponse response = Report(call_id, body);
    EXPECT_EQ(response.status, 200) << body.dump() << " → " << response.body;
    EXPECT_EQ(Body(response), json({{"success", true}})) << response.body;
  }

  HttpResponse SetCalling(const std::string& batch_id, bool start) const {
    return Call("POST", start ? "/api/call/start-calling" : "/api/call/stop-calling",
                {{"batchId", batch_id}, {"userId", alpha_["userId"]}});
  }

  TempDir dir_;
  std::string db_;
  json alpha_;
  AgentReceiver receiver_;
  std::unique_ptr<NexusServer> server_;
  std::string secret_;
  std::string start_time_;
  steady_clock::time_point started_before_;  // just before the server process was started
  steady_clock::time_point started_after_;   // once it listened
};

// 1. Nothing is dispatched before the window opens; the dispatch comes as soon as it does, with
// the documented body, signed with the agent's secret.
TEST_F(DiallingTest, NoDispatchBeforeTheWindowThenDispatchAtItsOpening) {
  // The server's clock starts at 08:59:56 New York time when the process builds it, which is
  // between started_before_ and started_after_: 09:00 comes 4 s later.
  ASSERT_NO_FATAL_FAILURE(StartServer("2025-06-11T08:59:56-04:00"));
  BatchOptions options;
  options.allowed_days = "[1,2,3,4,5]";
  const std::string batch_id =
      Upload("phoneNumber,name,account_id\n(212) 555-0101,Ann Lee,ACC-1\n", options);
  ASSERT_FALSE(batch_id.empty());

  // Before the opening (at the earliest started_before_ + 4 s): nothing.
  const auto earliest_opening = started_before_ + milliseconds(4000);
  const auto quiet_until = earliest_opening - milliseconds(150);
  ASSERT_LT(steady_clock::now(), quiet_until)
      << "the setup took too long to test the closed window";
  EXPECT_FALSE(receiver_.WaitForRequests(
      1, std::chrono::duration_cast<milliseconds>(quiet_until - steady_clock::now())))
      << "dispatched before 09:00: " << receiver_.Requests().front().body;
  json data = Details(batch_id);
  EXPECT_EQ(CallFor(data, "+12125550101")["callStatus"], "queued") << data.dump();
  EXPECT_EQ(CallFor(data, "+12125550101")["attempts"], 0) << data.dump();

  // At the opening (at the latest started_after_ + 4 s): the dispatch, within 2 s.
  const auto latest_opening = started_after_ + milliseconds(4000);
  const auto wait = std::chrono::duration_cast<milliseconds>(latest_opening + milliseconds(2500) -
                                                             steady_clock::now());
  ASSERT_TRUE(receiver_.WaitForRequests(1, wait)) << "no dispatch within 2.5 s of 09:00";
  const ReceivedRequest request = receiver_.Requests().front();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/dispatch");
  EXPECT_THAT(request.Header("content-type"), ::testing::HasSubstr("application/json"));

  // Signed with the agent's secret, at the server's clock (09:00:00 to 09:00:02).
  const std::string ts = request.Header("x-nexus-timestamp");
  ASSERT_FALSE(ts.empty());
  EXPECT_GE(std::stoll(ts), kNineNewYorkUnix) << "dispatched before 09:00";
  EXPECT_LE(std::stoll(ts), kNineNewYorkUnix + 2) << "dispatched late after 09:00";
  EXPECT_EQ(request.Header("x-nexus-signature"), Sign(secret_, ts, request.body));
  EXPECT_NE(request.Header("x-nexus-signature"), Sign(secret_ + "x", ts, request.body));

  const json body = json::parse(request.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << request.body;
  data = WaitForDetails(
      batch_id, [](const json& d) { return d["summary"]["in_progress"] == 1; }, "in_progress");
  const json call = CallFor(data, "+12125550101");
  EXPECT_EQ(body["callId"], call["_id"]);
  EXPECT_EQ(body["batchId"], batch_id);
  EXPECT_EQ(body["attempt"], 1);
  EXPECT_EQ(body["from"], kCallingNumber);
  EXPECT_EQ(body["to"], "+12125550101");
  EXPECT_EQ(body["agentId"], alpha_["agentId"]);
  EXPECT_EQ(body["language"], "en-US");
  ASSERT_TRUE(body["variables"].is_object()) << request.body;
  EXPECT_EQ(body["variables"]["name"], "Ann Lee");
  EXPECT_EQ(body["variables"]["account_id"], "ACC-1");
  EXPECT_EQ(call["callStatus"], "in_progress");
  EXPECT_EQ(call["attempts"], 1);
  ExpectNoMoreDispatches(1, milliseconds(500), "one call, one attempt in progress");
}

// 2. A contact's own `timezone` column decides its window, whichever way the batch's zone is.
TEST_F(DiallingTest, ContactTimeZoneOverridesTheBatchZone) {
  // 14:00 UTC: New York 10:00 (open), Los Angeles 07:00 (closed), London 15:00 (open), Tokyo
  // 23:00 (closed).
  ASSERT_NO_FATAL_FAILURE(StartServer("2025-06-11T14:00:00Z", {"--per-number-concurrency", "10"}));
  BatchOptions closed;
  closed.name = "Batch zone closed";
  closed.timezone = "America/Los_Angeles";
  const std::string closed_batch = Upload(
      "phoneNumber,name,timezone\n"
      "+12125550111,London Open,Europe/London\n"
      "+12125550112,Batch Zone,\n",
      closed);
  BatchOptions open;
  open.name = "Batch zone open";
  open.timezone = "America/New_York";
  const std::string open_batch = Upload(
      "phoneNumber,name,timezone\n"
      "+12125550121,Tokyo Closed,Asia/Tokyo\n"
      "+12125550122,Batch Zone,\n",
      open);
  ASSERT_FALSE(closed_batch.empty());
  ASSERT_FALSE(open_batch.empty());

  WaitForDispatch(2);
  ExpectNoMoreDispatches(2, milliseconds(1500), "only the two open contacts may be dialled");
  std::vector<std::string> to;
  for (const Dispatch& d : Dispatches()) to.push_back(d.to());
  EXPECT_THAT(to, ::testing::UnorderedElementsAre("+12125550111", "+12125550122"));

  const json closed_data = Details(closed_batch);
  EXPECT_EQ(CallFor(closed_data, "+12125550111")["callStatus"], "in_progress");
  EXPECT_EQ(CallFor(closed_data, "+12125550112")["callStatus"], "queued");
  EXPECT_EQ(CallFor(closed_data, "+12125550112")["attempts"], 0);
  const json open_data = Details(open_batch);
  EXPECT_EQ(CallFor(open_data, "+12125550121")["callStatus"], "queued");
  EXPECT_EQ(CallFor(open_data, "+12125550121")["attempts"], 0);
  EXPECT_EQ(CallFor(open_data, "+12125550122")["callStatus"], "in_progress");
}

// 2b. The organization's legal window (default 08:00-21:00) is intersected with the batch's
// window; `legalWindow: null` switches it off.
TEST_F(DiallingTest, LegalWindowNarrowsTheBatchWindowUntilSwitchedOff) {
  // 07:00 in New York: inside callingHour 06:00-10:00, outside the legal 08:00-21:00.
  ASSERT_NO_FATAL_FAILURE(StartServer("2025-06-11T07:00:00-04:00"));
  BatchOptions options;
  options.calling_hour = R"({"start":"06:00","end":"10:00"})";
  const std::string batch_id = Upload("phoneNumber,name\n+12125550105,Early Bird\n", options);
  ASSERT_FALSE(batch_id.empty());
  ExpectNoMoreDispatches(0, milliseconds(1500), "07:00 is outside the legal window");
  EXPECT_EQ(CallFor(Details(batch_id), "+12125550105")["callStatus"], "queued");

  HttpResponse patched = Call("PATCH", "/api/organization", {{"legalWindow", nullptr}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(Body(patched)["organization"]["legalWindow"], nullptr) << patched.body;
  const Dispatch dispatch = WaitForDispatch(1);
  EXPECT_EQ(dispatch.to(), "+12125550105");
  EXPECT_EQ(dispatch.attempt(), 1);
}

// 2c. A window that crosses midnight belongs to the day it opens.
TEST_F(DiallingTest, WindowCrossingMidnightBelongsToTheDayItOpens) {
  // Thursday 2025-06-12 01:00 in New York: inside Wednesday's 22:00-02:00 window, not Thursday's.
  ASSERT_NO_FATAL_FAILURE(
      StartServer("2025-06-12T01:00:00-04:00", {"--per-number-concurrency", "4"}));
  HttpResponse patched = Call("PATCH", "/api/organization", {{"legalWindow", nullptr}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  BatchOptions wednesday;
  wednesday.name = "Wednesday night";
  wednesday.calling_hour = R"({"start":"22:00","end":"02:00"})";
  wednesday.allowed_days = "[3]";
  BatchOptions thursday = wednesday;
  thursday.name = "Thursday night";
  thursday.allowed_days = "[4]";
  const std::string wednesday_batch =
      Upload("phoneNumber,name\n+12125550106,Wednesday\n", wednesday);
  const std::string thursday_batch = Upload("phoneNumber,name\n+12125550107,Thursday\n", thursday);
  ASSERT_FALSE(wednesday_batch.empty());
  ASSERT_FALSE(thursday_batch.empty());

  const Dispatch dispatch = WaitForDispatch(1);
  EXPECT_EQ(dispatch.to(), "+12125550106");
  EXPECT_EQ(dispatch.batchId(), wednesday_batch);
  ExpectNoMoreDispatches(1, milliseconds(1500), "Thursday's window opens only at 22:00 Thursday");
  EXPECT_EQ(CallFor(Details(thursday_batch), "+12125550107")["callStatus"], "queued");
}

// 3. Reports of outcomes: applied once, logged, idempotent; unknown calls, bad signatures, stale
// timestamps and bad bodies refused without touching the call. The batch completes when every
// call is final.
TEST_F(DiallingTest, OutcomeReportsAreAppliedOnceAndCompleteTheBatch) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork));  // one call at a time
  const std::string batch_id = Upload(
      "phoneNumber,name\n"
      "+12125550131,First\n"
      "+12125550132,Second\n");
  ASSERT_FALSE(batch_id.empty());

  const Dispatch first = WaitForDispatch(1);
  ASSERT_FALSE(first.callId().empty());
  const json outcome = {{"callStatus", "completed"},
                        {"callDuration", 42},
                        {"recordingUrl", "https://r/1"},
                        {"transcript", "hi"}};
  ExpectReported(first.callId(), outcome);

  json data = WaitForDetails(
      batch_id,
      [&](const json& d) {
        for (const json& call : d["data"]) {
          if (call["_id"] == first.callId()) return call["callStatus"] == "completed";
        }
        return false;
      },
      "the first call completed");
  const json call = CallFor(data, first.to());
  EXPECT_EQ(call["callStatus"], "completed");
  EXPECT_EQ(call["attempts"], 1);
  EXPECT_EQ(call["nextAttemptAt"], nullptr);
  ASSERT_EQ(call["phoneLogs"].size(), 1u) << call.dump();
  const json log = call["phoneLogs"][0];
  EXPECT_EQ(log["callStatus"], "completed");
  EXPECT_EQ(log["callDuration"], 42);
  EXPECT_EQ(log["recordingUrl"], "https://r/1");
  EXPECT_EQ(log["transcript"], "hi");
  EXPECT_EQ(log["attempt"], 1);
  EXPECT_NE(data["batchStatus"], "completed") << "one call is not final yet";

  // The same report again: 200, nothing changes.
  ExpectReported(first.callId(), outcome);
  data = Details(batch_id);
  EXPECT_EQ(CallFor(data, first.to())["phoneLogs"].size(), 1u) << data.dump();
  EXPECT_EQ(CallFor(data, first.to())["attempts"], 1);

  // The second call goes out once the line is free.
  const Dispatch second = WaitForDispatch(2);
  ASSERT_FALSE(second.callId().empty());
  EXPECT_NE(second.callId(), first.callId());
  const std::string good_body = outcome.dump();

  // Refusals, none of which may touch the call.
  HttpResponse response = Report("0123456789abcdef01234567", good_body);
  EXPECT_EQ(response.status, 404) << "unknown call: " << response.body;
  response = Report(second.callId(), good_body, std::nullopt, secret_ + "-wrong");
  EXPECT_EQ(response.status, 401) << "bad signature: " << response.body;
  // Signed over another body than the one sent.
  {
    const std::string ts = std::to_string(ServerNow());
    response = Request(server_->port(), "POST", "/api/call/" + second.callId() + "/status",
                       {{"Content-Type", "application/json"},
                        {"X-Nexus-Timestamp", ts},
                        {"X-Nexus-Signature", Sign(secret_, ts, good_body + " ")}},
                       good_body);
    EXPECT_EQ(response.status, 401) << "signature over another body: " << response.body;
  }
  response = Request(server_->port(), "POST", "/api/call/" + second.callId() + "/status",
                     {{"Content-Type", "application/json"}}, good_body);
  EXPECT_EQ(response.status, 401) << "unsigned: " << response.body;
  // ServerNow() is at most the server's clock, so these are at least 301 s away from it.
  response = Report(second.callId(), good_body, ServerNow() - 301);
  EXPECT_EQ(response.status, 401) << "timestamp 301 s old: " << response.body;
  response = Report(second.callId(), good_body, ServerNow() + 302);
  EXPECT_EQ(response.status, 401) << "timestamp 301 s ahead: " << response.body;
  for (const std::string bad :
       {R"({"callStatus":"answered"})", R"({"callStatus":"queued"})", R"({"callStatus":"dnc"})",
        R"({"callDuration":3})", R"({"callStatus":"completed","callDuration":"long"})",
        "not json"}) {
    response = Report(second.callId(), std::string(bad));
    EXPECT_EQ(response.status, 400) << bad << ": " << response.body;
  }
  data = Details(batch_id);
  EXPECT_EQ(CallFor(data, second.to())["callStatus"], "in_progress") << data.dump();
  EXPECT_EQ(CallFor(data, second.to())["attempts"], 1);
  EXPECT_EQ(CallFor(data, second.to())["phoneLogs"], json::array());
  EXPECT_EQ(data["batchStatus"], "active");

  // A timestamp well inside the tolerance is fine.
  response = Report(second.callId(), R"({"callStatus":"busy"})", ServerNow() - 250);
  EXPECT_EQ(response.status, 200) << response.body;
  data = WaitForDetails(batch_id, AllFinal, "the batch completed");
  EXPECT_EQ(data["batchStatus"], "completed");
  EXPECT_EQ(data["summary"]["completed"], 1);
  EXPECT_EQ(data["summary"]["busy"], 1);
  EXPECT_EQ(data["summary"]["in_progress"], 0);
  EXPECT_EQ(data["summary"]["queued"], 0);
  EXPECT_EQ(CallFor(data, second.to())["phoneLogs"].size(), 1u);
  ExpectNoMoreDispatches(2, milliseconds(500), "retry is 0");
}

// 4a. no_answer is retried after `delay`, `retry` times, then the call stays no_answer.
TEST_F(DiallingTest, NoAnswerIsRetriedAfterTheDelayUpToRetryTimes) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork));
  BatchOptions options;
  options.retry = 2;
  options.delay = 1;
  const std::string batch_id = Upload("phoneNumber,name\n+12125550141,Retry Me\n", options);
  ASSERT_FALSE(batch_id.empty());

  std::string call_id;
  for (size_t attempt = 1; attempt <= 3; ++attempt) {
    const Dispatch dispatch = WaitForDispatch(attempt);
    ASSERT_FALSE(dispatch.callId().empty()) << "attempt " << attempt;
    if (attempt == 1) call_id = dispatch.callId();
    EXPECT_EQ(dispatch.callId(), call_id);
    EXPECT_EQ(dispatch.attempt(), static_cast<int64_t>(attempt));
    EXPECT_EQ(dispatch.to(), "+12125550141");
    const auto reported_at = steady_clock::now();
    ExpectReported(call_id, {{"callStatus", "no_answer"}, {"callDuration", 0}});
    if (attempt < 3) {
      // Waiting for the retry: no_answer with a next attempt (unless it already went out).
      const json call = CallFor(Details(batch_id), "+12125550141");
      if (call["attempts"] == static_cast<int>(attempt)) {
        EXPECT_EQ(call["callStatus"], "no_answer") << call.dump();
        EXPECT_NE(call["nextAttemptAt"], nullptr) << call.dump();
      }
      const Dispatch next = WaitForDispatch(attempt + 1);
      const double gap = std::chrono::duration<double>(next.at - reported_at).count();
      EXPECT_GE(gap, 0.95) << "retried before the 1 s delay";
      EXPECT_LE(gap, 4.0) << "retry came long after the 1 s delay";
    }
  }
  const json data = WaitForDetails(batch_id, AllFinal, "the batch completed");
  ExpectNoMoreDispatches(3, milliseconds(1500), "retry=2 allows 3 attempts");
  const json call = CallFor(data, "+12125550141");
  EXPECT_EQ(call["callStatus"], "no_answer");
  EXPECT_EQ(call["attempts"], 3);
  EXPECT_EQ(call["nextAttemptAt"], nullptr);
  ASSERT_EQ(call["phoneLogs"].size(), 3u) << call.dump();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(call["phoneLogs"][i]["callStatus"], "no_answer");
    EXPECT_EQ(call["phoneLogs"][i]["attempt"], i + 1) << call.dump();
  }
  EXPECT_EQ(data["summary"]["no_answer"], 1);
}

// 4b. A dispatch the runtime refuses (HTTP 500) is a failed attempt, retried likewise.
TEST_F(DiallingTest, RefusedDispatchIsAFailedAttemptAndIsRetried) {
  receiver_.SetStatus(500);
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork));
  BatchOptions options;
  options.retry = 1;
  options.delay = 1;
  const std::string batch_id = Upload("phoneNumber,name\n+12125550151,Refused\n", options);
  ASSERT_FALSE(batch_id.empty());

  const Dispatch first = WaitForDispatch(1);
  const Dispatch second = WaitForDispatch(2);
  EXPECT_EQ(first.attempt(), 1);
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_EQ(second.callId(), first.callId());
  const double gap = std::chrono::duration<double>(second.at - first.at).count();
  EXPECT_GE(gap, 0.95) << "retried before the 1 s delay";

  const json data = WaitForDetails(batch_id, AllFinal, "the batch completed");
  ExpectNoMoreDispatches(2, milliseconds(1500), "retry=1 allows 2 attempts");
  const json call = CallFor(data, "+12125550151");
  EXPECT_EQ(call["callStatus"], "failed");
  EXPECT_EQ(call["attempts"], 2);
  ASSERT_EQ(call["phoneLogs"].size(), 2u) << call.dump();
  EXPECT_EQ(call["phoneLogs"][0]["callStatus"], "failed");
  EXPECT_EQ(call["phoneLogs"][0]["attempt"], 1);
  EXPECT_EQ(call["phoneLogs"][1]["callStatus"], "failed");
  EXPECT_EQ(call["phoneLogs"][1]["attempt"], 2);
}

// 4c. A dispatch with no answer within --dispatch-timeout is a failed attempt.
TEST_F(DiallingTest, UnansweredDispatchIsAFailedAttempt) {
  receiver_.SetDelay(milliseconds(4000));
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork, {"--dispatch-timeout", "1"}));
  const std::string batch_id = Upload("phoneNumber,name\n+12125550155,Slow Runtime\n");
  ASSERT_FALSE(batch_id.empty());
  WaitForDispatch(1);
  const json data = WaitForDetails(batch_id, AllFinal, "the batch completed");
  const json call = CallFor(data, "+12125550155");
  EXPECT_EQ(call["callStatus"], "failed");
  EXPECT_EQ(call["attempts"], 1);
  ASSERT_EQ(call["phoneLogs"].size(), 1u) << call.dump();
  EXPECT_EQ(call["phoneLogs"][0]["callStatus"], "failed");
  ExpectNoMoreDispatches(1, milliseconds(300), "retry is 0");
}

// 5. stop-calling: no new call starts (the one in progress still reports); start-calling resumes.
TEST_F(DiallingTest, StopCallingHoldsNewDispatchesAndStartCallingResumes) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork, {"--per-number-concurrency", "1"}));
  const std::string batch_id = Upload(
      "phoneNumber,name\n"
      "+12125550161,One\n"
      "+12125550162,Two\n"
      "+12125550163,Three\n");
  ASSERT_FALSE(batch_id.empty());

  const Dispatch first = WaitForDispatch(1);
  HttpResponse stopped = SetCalling(batch_id, /*start=*/false);
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(Body(stopped)["data"]["batchId"], batch_id);
  EXPECT_EQ(Body(stopped)["data"]["status"], "stopped");
  EXPECT_EQ(Details(batch_id)["batchStatus"], "paused");

  // The call in progress finishes; its line frees up, but nothing new starts.
  ExpectReported(first.callId(), {{"callStatus", "completed"}, {"callDuration", 5}});
  ExpectNoMoreDispatches(1, milliseconds(1500), "the batch is paused");
  json data = Details(batch_id);
  EXPECT_EQ(data["batchStatus"], "paused");
  EXPECT_EQ(data["summary"]["completed"], 1) << data.dump();
  EXPECT_EQ(data["summary"]["queued"], 2) << data.dump();
  EXPECT_EQ(data["summary"]["in_progress"], 0) << data.dump();

  HttpResponse started = SetCalling(batch_id, /*start=*/true);
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(Body(started)["data"]["status"], "started");
  const Dispatch second = WaitForDispatch(2);
  EXPECT_NE(second.callId(), first.callId());
  EXPECT_EQ(second.attempt(), 1);
  data = Details(batch_id);
  EXPECT_EQ(data["batchStatus"], "active");
  ExpectReported(second.callId(), {{"callStatus", "completed"}});
  const Dispatch third = WaitForDispatch(3);
  EXPECT_NE(third.callId(), second.callId());
  EXPECT_NE(third.callId(), first.callId());
}

// 6. A number put on the DNC list after the upload is never dialled (enableDNC): its call ends
// as dnc; the other call is dialled.
TEST_F(DiallingTest, NumberAddedToDncAfterUploadIsNeverDialled) {
  // 09:00 New York comes 4 s after the server's clock starts.
  ASSERT_NO_FATAL_FAILURE(
      StartServer("2025-06-11T08:59:56-04:00", {"--per-number-concurrency", "2"}));
  BatchOptions options;
  options.enable_dnc = true;
  const std::string batch_id = Upload(
      "phoneNumber,name\n"
      "+12125550171,Do Not Call\n"
      "+12125550172,Callable\n",
      options);
  ASSERT_FALSE(batch_id.empty());
  EXPECT_EQ(Details(batch_id)["summary"]["queued"], 2);
  HttpResponse added = Call("POST", "/api/dnc", {{"numbers", {"(212) 555-0171"}}});
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(Body(added)["added"], 1) << added.body;
  ASSERT_EQ(receiver_.RequestCount(), 0u) << "the window opened before the DNC entry was added";

  const Dispatch dispatch = WaitForDispatch(1, milliseconds(4000 + 5000));
  EXPECT_EQ(dispatch.to(), "+12125550172");
  json data = WaitForDetails(
      batch_id, [](const json& d) { return CallFor(d, "+12125550171")["callStatus"] == "dnc"; },
      "the listed number's call to end as dnc");
  const json listed = CallFor(data, "+12125550171");
  EXPECT_EQ(listed["callStatus"], "dnc");
  EXPECT_EQ(listed["attempts"], 0);
  ExpectNoMoreDispatches(1, milliseconds(1000), "the listed number must never be dialled");
  for (const Dispatch& d : Dispatches()) EXPECT_NE(d.to(), "+12125550171");

  ExpectReported(dispatch.callId(), {{"callStatus", "completed"}});
  data = WaitForDetails(batch_id, AllFinal, "the batch completed (dnc is final)");
  EXPECT_EQ(data["summary"]["dnc"], 1);
  EXPECT_EQ(data["summary"]["completed"], 1);
}

// 7. An attempt with no report within --call-timeout counts as failed.
TEST_F(DiallingTest, AttemptWithoutReportFailsAfterTheCallTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork, {"--call-timeout", "1"}));
  const std::string batch_id = Upload("phoneNumber,name\n+12125550181,Silent\n");
  ASSERT_FALSE(batch_id.empty());

  const Dispatch dispatch = WaitForDispatch(1);
  const json data = WaitForDetails(batch_id, AllFinal, "the batch completed after the timeout");
  const json call = CallFor(data, "+12125550181");
  EXPECT_EQ(call["callStatus"], "failed");
  EXPECT_EQ(call["attempts"], 1);
  EXPECT_EQ(call["nextAttemptAt"], nullptr);
  ASSERT_EQ(call["phoneLogs"].size(), 1u) << call.dump();
  EXPECT_EQ(call["phoneLogs"][0]["callStatus"], "failed");
  EXPECT_EQ(call["phoneLogs"][0]["attempt"], 1);
  // Not before the timeout: the log is at least ~1 s after the dispatch (server clock both).
  const double logged = ParseIsoMillis(call["phoneLogs"][0]["createdAt"]);
  ASSERT_FALSE(std::isnan(logged)) << call.dump();
  EXPECT_GE(logged - static_cast<double>(dispatch.timestamp), 0.8) << call.dump();
  EXPECT_LE(logged - static_cast<double>(dispatch.timestamp), 5.0) << call.dump();
  EXPECT_EQ(data["summary"]["failed"], 1);
  ExpectNoMoreDispatches(1, milliseconds(500), "retry is 0");
}

// 8. A server killed with attempts in flight: after a restart on the same database no attempt is
// dispatched twice, reports are still taken, attempts past their deadline count as failed and
// are retried as configured; nothing is lost.
TEST_F(DiallingTest, KilledServerNeitherLosesNorRedialsCallsInFlight) {
  // The deadline (dispatch + call timeout) is set when the attempt starts, so both processes use
  // the same short timeout.
  const std::vector<std::string> args = {"--per-number-concurrency", "3", "--call-timeout", "5"};
  ASSERT_NO_FATAL_FAILURE(StartServer(kNoonNewYork, args));
  BatchOptions options;
  options.retry = 1;
  options.delay = 1;
  const std::string batch_id = Upload(
      "phoneNumber,name\n"
      "+12125550191,A\n"
      "+12125550192,B\n"
      "+12125550193,C\n",
      options);
  ASSERT_FALSE(batch_id.empty());
  WaitForDispatch(3);
  WaitForDetails(
      batch_id, [](const json& d) { return d["summary"]["in_progress"] == 3; }, "3 in progress");
  const std::vector<Dispatch> before = Dispatches();
  ASSERT_EQ(before.size(), 3u);

  server_->Kill();
  server_.reset();
  // The clock must go on from where it was: start the new process at the old one's now.
  const auto restart_at = steady_clock::now();
  const int64_t now_unix = ServerNow();
  char start_time[32];
  const std::time_t t = static_cast<std::time_t>(now_unix);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(start_time, sizeof(start_time), "%Y-%m-%dT%H:%M:%SZ", &tm);
  ASSERT_NO_FATAL_FAILURE(StartServer(start_time, args, /*bind_receiver=*/false));

  // No double start: the three attempts stay in progress, nothing is dispatched again.
  json data = Details(batch_id);
  EXPECT_EQ(data["summary"]["in_progress"], 3) << data.dump();
  const auto quiet = milliseconds(1000) -
                     std::chrono::duration_cast<milliseconds>(steady_clock::now() - restart_at);
  ExpectNoMoreDispatches(3, std::max(quiet, milliseconds(200)), "redialled after the restart");

  // Reports of two of them are taken by the new process.
  ExpectReported(before[0].callId(), {{"callStatus", "completed"}, {"callDuration", 7}});
  ExpectReported(before[1].callId(), {{"callStatus", "completed"}, {"callDuration", 8}});
  // The third passes its deadline, fails, and is retried once (retry=1).
  const Dispatch retry = WaitForDispatch(4, milliseconds(9000));
  EXPECT_EQ(retry.callId(), before[2].callId());
  EXPECT_EQ(retry.attempt(), 2);
  EXPECT_GE(retry.timestamp - before[2].timestamp, 5) << "retried before timeout + delay";
  ExpectReported(retry.callId(), {{"callStatus", "completed"}});

  data = WaitForDetails(batch_id, AllFinal, "the batch completed");
  EXPECT_EQ(data["summary"]["completed"], 3) << data.dump();
  int64_t attempts = 0;
  for (const json& call : data["data"]) {
    attempts += call["attempts"].get<int64_t>();
    EXPECT_EQ(call["phoneLogs"].size(), static_cast<size_t>(call["attempts"].get<int>()))
        << call.dump();
  }
  const json timed_out = CallFor(data, before[2].to());
  EXPECT_EQ(timed_out["attempts"], 2);
  ASSERT_EQ(timed_out["phoneLogs"].size(), 2u) << timed_out.dump();
  EXPECT_EQ(timed_out["phoneLogs"][0]["callStatus"], "failed");
  EXPECT_EQ(timed_out["phoneLogs"][1]["callStatus"], "completed");
  EXPECT_EQ(CallFor(data, before[0].to())["phoneLogs"][0]["callDuration"], 7);
  ExpectNoMoreDispatches(4, milliseconds(500), "everything is final");
  EXPECT_EQ(attempts, static_cast<int64_t>(receiver_.RequestCount()))
      << "dispatches and attempts disagree";
}

// 9. serve --simulate answers dispatches itself: a batch completes without any receiver.
TEST_F(DiallingTest, SimulatorCompletesABatchWithoutAnyRuntime) {
  // The agent keeps a dispatchUrl pointing at the receiver, which must stay silent.
  ASSERT_NO_FATAL_FAILURE(StartServer(
      kNoonNewYork, {"--simulate", "--simulate-min-seconds", "0.1", "--simulate-max-seconds", "0.2",
                     "--simulate-mix", "completed=100", "--per-number-concurrency", "2"}));
  const std::string batch_id = Upload(
      "phoneNumber,name\n"
      "+12125550201,Sim One\n"
      "+12125550202,Sim Two\n"
      "+12125550203,Sim Three\n");
  ASSERT_FALSE(batch_id.empty());
  const json data = WaitForDetails(batch_id, AllFinal, "the simulated batch completed");
  EXPECT_EQ(data["summary"]["completed"], 3) << data.dump();
  ASSERT_EQ(data["data"].size(), 3u);
  for (const json& call : data["data"]) {
    EXPECT_EQ(call["callStatus"], "completed") << call.dump();
    EXPECT_EQ(call["attempts"], 1) << call.dump();
    ASSERT_EQ(call["phoneLogs"].size(), 1u) << call.dump();
    EXPECT_EQ(call["phoneLogs"][0]["callStatus"], "completed");
  }
  EXPECT_EQ(receiver_.RequestCount(), 0u) << "the simulator must not dispatch over HTTP";
}

}  // namespace
}  // namespace nexus::testing
