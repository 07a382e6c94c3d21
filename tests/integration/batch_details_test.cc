// The batch API after an upload against the real binary (SPEC §5 and §6 "Batches"):
// GET /api/call/batch-details/{batchId} with every query parameter, GET /api/call/batches/{userId},
// DELETE /api/call/delete-batch/{batchId}, POST /api/call/start-calling and stop-calling, and
// GET /api/call/export/csv. Batches are made through the upload endpoint; call outcomes, which
// the dialler will write, are set straight in the database file (calls and their counters).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <sqlite3.h>

#include "api_fixture.h"
#include "support/upload_client.h"

namespace nexus::testing {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Rows 0-3 (seq) of the batch. `_id` is an extra column named like a built-in field.
constexpr char kContacts[] =
    "phoneNumber,name,account_id,notes,_id,City\r\n"
    "(212) 555-0123,Emily Davis,ACC-5678,prefers mornings,X1,Paris\r\n"
    "+1 415 555 0142,\"Nguyen, Bao\",ACC-0001,,X2,London\r\n"
    "646.555.0199,Jos\xC3\xA9 \xC3\x81lvarez,ACC-0002,\"said \"\"call back\"\"\",X3,Paris\r\n"
    "212-555-0177,EMILY Stone,,100% sure_x,X4,\r\n";
constexpr const char* kE164[] = {"+12125550123", "+14155550142", "+16465550199", "+12125550177"};

// Percent-encodes `text` for a query string.
std::string Encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

class BatchApiTest : public ApiTest {
 protected:
  std::string DbPath() const { return dir_.path() + "/nexus.db"; }

  // Uploads `csv` as a batch of `owner` (Alpha's admin when empty); returns its ID.
  std::string Upload(const std::string& csv = kContacts, const std::string& name = "Spring",
                     std::string owner = "") {
    if (owner.empty()) owner = alpha_["userId"];
    const UploadFields fields = {
        {"userId", owner},
        {"batchName", name},
        {"batchType", "outbound"},
        {"callingNumbers", "[\"" + alpha_["phoneNumberId"].get<std::string>() + "\"]"}};
    HttpResponse response =
        PostUpload(server_->port(), AlphaToken(), fields, UploadFile{"contacts.csv", csv});
    EXPECT_EQ(response.status, 200) << response.body;
    return Body(response)["batch"]["_id"];
  }

  HttpResponse Details(const std::string& batch_id, const std::string& query = "",
                       std::string token = "") const {
    if (token.empty()) token = AlphaToken();
    return Call("GET", "/api/call/batch-details/" + batch_id + (query.empty() ? "" : "?" + query),
                token);
  }

  // The phone numbers of the calls in a 200 batch-details answer for `query`.
  std::vector<std::string> Phones(const std::string& batch_id, const std::string& query) const {
    HttpResponse response = Details(batch_id, query);
    EXPECT_EQ(response.status, 200) << query << ": " << response.body;
    std::vector<std::string> phones;
    const json body = Body(response);
    for (const json& call : body["data"]["data"]) phones.push_back(call["phoneNumber"]);
    return phones;
  }

  // Runs `sql` on the server's database (what the dialler will do through the store).
  void Sql(const std::string& sql) const {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  // Sets the status (and attempts) of the calls with phone number `e164`, and recounts the
  // batches' counters and takes their next change_seq as the dialler's store writes do.
  void SetCallStatus(const std::string& e164, const std::string& status, int attempts) const {
    Sql("UPDATE calls SET status = '" + status + "', attempts = " + std::to_string(attempts) +
        ", updated_at = updated_at + 1000, change_seq = (SELECT k.change_seq + 1 FROM "
        "batch_call_counts k WHERE k.batch_id = calls.batch_id) WHERE phone = '" +
        e164 + "'");
    Sql("REPLACE INTO batch_call_counts (batch_id, queued, in_progress, completed, failed, "
        "no_answer, busy, dnc, canceled, picked, finished, change_seq) "
        "SELECT batch_id, SUM(status = 'queued'), SUM(status = 'in_progress'), "
        "SUM(status = 'completed'), SUM(status = 'failed'), SUM(status = 'no_answer'), "
        "SUM(status = 'busy'), SUM(status = 'dnc'), SUM(status = 'canceled'), "
        "SUM(attempts > 0), SUM(status IN ('completed', 'dnc', 'canceled') OR (status IN "
        "('failed', 'no_answer', 'busy') AND next_attempt_at IS NULL)), "
        "COALESCE((SELECT k.change_seq FROM batch_call_counts k "
        "WHERE k.batch_id = calls.batch_id), 0) + 1 FROM calls GROUP BY batch_id");
  }

  static void ExpectError(const HttpResponse& response, int code, const std::string& message) {
    EXPECT_EQ(response.status, code) << response.body;
    const json body = Body(response);
    EXPECT_EQ(body["status"], false) << response.body;
    EXPECT_EQ(body["code"], code) << response.body;
    EXPECT_EQ(body["data"], nullptr) << response.body;
    EXPECT_THAT(body["message"].get<std::string>(), HasSubstr(message)) << response.body;
    EXPECT_EQ(body["errorMessage"], body["message"]);
  }
};

// --- batch-details ------------------------------------------------------------------------

// The batch-details views, answered by the database's SQL (a small batch) and by the in-memory
// call index (store/call_index.h) that `--call-index-min-calls 1` gives every batch.
class BatchQueryApiTest : public BatchApiTest, public ::testing::WithParamInterface<bool> {
 protected:
  std::vector<std::string> ServerArgs() const override {
    if (GetParam()) return {"--call-index-min-calls", "1"};
    return {};
  }
};

INSTANTIATE_TEST_SUITE_P(, BatchQueryApiTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "CallIndex" : "Database";
                         });

TEST_P(BatchQueryApiTest, DetailsAnswerTheDocumentedEnvelopeWithFlattenedVariables) {
  const std::string id = Upload();
  HttpResponse response = Details(id);
  ASSERT_EQ(response.status, 200) << response.body;
  const json body = Body(response);
  EXPECT_EQ(body["message"], "Calls fetched successfully");
  EXPECT_EQ(body["status"], true);
  EXPECT_EQ(body["code"], 200);
  EXPECT_EQ(body["errorMessage"], "");
  const json data = body["data"];
  EXPECT_EQ(data["batchId"], id);
  EXPECT_EQ(data["batchName"], "Spring");
  EXPECT_EQ(data["batchStatus"], "active");
  EXPECT_EQ(data["page"], 1);
  EXPECT_EQ(data["limit"], 10);
  EXPECT_EQ(data["total"], 4);
  EXPECT_EQ(data["totalPages"], 1);
  EXPECT_EQ(data["summary"], json({{"queued", 4},
                                   {"in_progress", 0},
                                   {"completed", 0},
                                   {"failed", 0},
                                   {"no_answer", 0},
                                   {"busy", 0},
                                   {"dnc", 0},
                                   {"canceled", 0}}));
  ASSERT_EQ(data["data"].size(), 4u);
  // Newest first: calls share the batch's createdAt, so the last row of the file comes first.
  const json last = data["data"][0];
  EXPECT_EQ(last["phoneNumber"], kE164[3]);
  EXPECT_EQ(last["_id"].get<std::string>().size(), 24u);
  EXPECT_NE(last["_id"], id);
  EXPECT_EQ(last["name"], "EMILY Stone");
  EXPECT_EQ(last["notes"], "100% sure_x");
  EXPECT_FALSE(last.contains("account_id"));  // empty cells are absent
  EXPECT_FALSE(last.contains("City"));
  EXPECT_EQ(last["variables"], json({{"_id", "X4"}}));  // named like a built-in field
  EXPECT_EQ(last["callStatus"], "queued");
  EXPECT_EQ(last["attempts"], 0);
  EXPECT_EQ(last["nextAttemptAt"], nullptr);
  EXPECT_EQ(last["phoneLogs"], json::array());
  EXPECT_EQ(last["createdAt"].get<std::string>().size(), 24u);
  EXPECT_EQ(last["updatedAt"], last["createdAt"]);
  const json first = data["data"][3];
  EXPECT_EQ(first["phoneNumber"], kE164[0]);
  EXPECT_EQ(first["name"], "Emily Davis");
  EXPECT_EQ(first["account_id"], "ACC-5678");
  EXPECT_EQ(first["City"], "Paris");
  EXPECT_EQ(data["data"][1]["notes"], "said \"call back\"");
  EXPECT_EQ(data["data"][2]["name"], "Nguyen, Bao");
}

TEST_P(BatchQueryApiTest, PageAndLimitPageThroughTheCalls) {
  const std::string id = Upload();
  HttpResponse response = Details(id, "page=2&limit=3");
  ASSERT_EQ(response.status, 200) << response.body;
  json data = Body(response)["data"];
  EXPECT_EQ(data["page"], 2);
  EXPECT_EQ(data["limit"], 3);
  EXPECT_EQ(data["total"], 4);
  EXPECT_EQ(data["totalPages"], 2);
  ASSERT_EQ(data["data"].size(), 1u);
  EXPECT_EQ(data["data"][0]["phoneNumber"], kE164[0]);
  EXPECT_THAT(Phones(id, "limit=2"), ElementsAre(kE164[3], kE164[2]));
  EXPECT_THAT(Phones(id, "limit=2&page=2"), ElementsAre(kE164[1], kE164[0]));
  EXPECT_THAT(Phones(id, "limit=1000"), ::testing::SizeIs(4));
  EXPECT_THAT(Phones(id, "page=&limit="), ::testing::SizeIs(4));  // empty = default
  // Past the end: 200 with no calls; nothing matching: totalPages 0.
  response = Details(id, "page=3&limit=2");
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["data"]["data"], json::array());
  EXPECT_EQ(Body(response)["data"]["total"], 4);
  response = Details(id, "search=nobody");
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["data"]["total"], 0);
  EXPECT_EQ(Body(response)["data"]["totalPages"], 0);
}

TEST_F(BatchApiTest, OutOfRangeOrMalformedParametersAre400) {
  const std::string id = Upload();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"page=0", "page"},
      {"page=-1", "page"},
      {"page=abc", "page"},
      {"page=1.5", "page"},
      {"limit=0", "limit"},
      {"limit=1001", "limit"},
      {"limit=ten", "limit"},
      {"sortOrder=up", "sortOrder"},
      {"sortBy=nope", "sortBy"},
      {"sortBy=_ID", "sortBy"},
      {"sortBy=variables.nope", "sortBy"},
      {"filter=" + Encode("{not json"), "filter"},
      {"filter=" + Encode("[1,2]"), "filter"},
      {"filter=" + Encode("\"queued\""), "filter"},
      {"filter=" + Encode(R"({"nope":"x"})"), "nope"},
      {"filter=" + Encode(R"({"callStatus":"done"})"), "callStatus"},
      {"filter=" + Encode(R"({"callStatus":null})"), "callStatus"},
      {"filter=" + Encode(R"({"phoneNumber":null})"), "phoneNumber"},
      {"filter=" + Encode(R"({"City":["Paris"]})"), "City"},
      {"filter=" + Encode(R"({"City":{"$ne":"Paris"}})"), "City"},
      {"search=%ZZ", "search"},
      {"sortBy=%FF%FE", "sortBy"},  // not UTF-8: still a 400 naming the parameter
  };
  for (const auto& [query, message] : cases) {
    SCOPED_TRACE(query);
    ExpectError(Details(id, query), 400, message);
  }
  ExpectError(Details("123"), 400, "Invalid batch ID format");
  ExpectError(Details("zzzzzzzzzzzzzzzzzzzzzzzz"), 400, "Invalid batch ID format");
}

TEST_P(BatchQueryApiTest, SortByEveryFieldAndVariableInBothOrders) {
  const std::string id = Upload();
  SetCallStatus(kE164[1], "completed", 2);  // updated 1 s later than the others
  EXPECT_THAT(Phones(id, "sortOrder=asc"), ElementsAre(kE164[0], kE164[1], kE164[2], kE164[3]));
  EXPECT_THAT(Phones(id, "sortOrder=DESC"), ElementsAre(kE164[3], kE164[2], kE164[1], kE164[0]));
  EXPECT_THAT(Phones(id, "sortBy=createdAt&sortOrder=asc"),
              ElementsAre(kE164[0], kE164[1], kE164[2], kE164[3]));
  EXPECT_THAT(Phones(id, "sortBy=phoneNumber&sortOrder=asc"),
              ElementsAre(kE164[0], kE164[3], kE164[1], kE164[2]));
  EXPECT_THAT(Phones(id, "sortBy=name&sortOrder=asc"),  // text order: uppercase first
              ElementsAre(kE164[3], kE164[0], kE164[2], kE164[1]));
  EXPECT_THAT(Phones(id, "sortBy=City&sortOrder=desc"),  // no City sorts lowest
              ElementsAre(kE164[2], kE164[0], kE164[1], kE164[3]));
  EXPECT_THAT(Phones(id, "sortBy=variables._id&sortOrder=desc"),
              ElementsAre(kE164[3], kE164[2], kE164[1], kE164[0]));
  EXPECT_THAT(Phones(id, "sortBy=updatedAt"), ElementsAre(kE164[1], kE164[3], kE164[2], kE164[0]));
  EXPECT_THAT(Phones(id, "sortBy=attempts"), ElementsAre(kE164[1], kE164[3], kE164[2], kE164[0]));
  EXPECT_THAT(Phones(id, "sortBy=callStatus&sortOrder=asc"),
              ElementsAre(kE164[1], kE164[0], kE164[2], kE164[3]));
}

TEST_P(BatchQueryApiTest, FilterIsEqualityOnStatusPhoneAndVariables) {
  const std::string id = Upload();
  SetCallStatus(kE164[0], "failed", 1);
  const auto filter = [&](const std::string& object) {
    return Phones(id, "filter=" + Encode(object));
  };
  EXPECT_THAT(filter(R"({"callStatus":"failed"})"), ElementsAre(kE164[0]));
  EXPECT_THAT(filter(R"({"callStatus":"queued"})"), ElementsAre(kE164[3], kE164[2], kE164[1]));
  EXPECT_THAT(filter(R"({"callStatus":"busy"})"), ElementsAre());
  EXPECT_THAT(filter(R"({"phoneNumber":"+14155550142"})"), ElementsAre(kE164[1]));
  EXPECT_THAT(filter(R"({"phoneNumber":"(415) 555-0142"})"), ElementsAre(kE164[1]));
  EXPECT_THAT(filter(R"({"City":"Paris"})"), ElementsAre(kE164[2], kE164[0]));
  EXPECT_THAT(filter(R"({"City":"paris"})"), ElementsAre());  // exact
  EXPECT_THAT(filter(R"({"City":null})"), ElementsAre(kE164[3]));
  EXPECT_THAT(filter(R"({"City":"Paris","callStatus":"queued"})"), ElementsAre(kE164[2]));
  EXPECT_THAT(filter("{\"name\":\"Jos\xC3\xA9 \xC3\x81lvarez\"}"), ElementsAre(kE164[2]));
  EXPECT_THAT(filter(R"({"_id":"X2"})"), ElementsAre(kE164[1]));
  EXPECT_THAT(filter(R"({"variables._id":"X2"})"), ElementsAre(kE164[1]));
  EXPECT_THAT(filter(R"({"account_id":5})"), ElementsAre());
  EXPECT_THAT(filter("{}"), ::testing::SizeIs(4));
  HttpResponse response = Details(id, "filter=" + Encode(R"({"City":"Paris"})"));
  EXPECT_EQ(Body(response)["data"]["total"], 2);
  // The summary always covers the whole batch.
  EXPECT_EQ(Body(response)["data"]["summary"]["queued"], 3);
  EXPECT_EQ(Body(response)["data"]["summary"]["failed"], 1);
}

TEST_P(BatchQueryApiTest, SearchIsCaseInsensitiveLiteralOverPhoneAndValuesOnly) {
  const std::string id = Upload();
  const auto search = [&](const std::string& term) { return Phones(id, "search=" + Encode(term)); };
  EXPECT_THAT(search("emily"), ElementsAre(kE164[3], kE164[0]));
  EXPECT_THAT(search("EMILY"), ElementsAre(kE164[3], kE164[0]));
  EXPECT_THAT(search("jos\xC3\xA9 \xC3\xA1LVAREZ"), ElementsAre(kE164[2]));  // josé áLVAREZ
  EXPECT_THAT(search("4155550142"), ElementsAre(kE164[1]));
  EXPECT_THAT(search("+1212"), ElementsAre(kE164[3], kE164[0]));
  EXPECT_THAT(search("acc-000"), ElementsAre(kE164[2], kE164[1]));
  EXPECT_THAT(search("x3"), ElementsAre(kE164[2]));
  EXPECT_THAT(search("100%"), ElementsAre(kE164[3]));  // % and _ are not wildcards
  EXPECT_THAT(search("%"), ElementsAre(kE164[3]));
  EXPECT_THAT(search("_"), ElementsAre(kE164[3]));
  EXPECT_THAT(search("account"), ElementsAre());  // keys are not searched
  EXPECT_THAT(search("city"), ElementsAre());
  EXPECT_THAT(search("  paris "), ElementsAre(kE164[2], kE164[0]));
  EXPECT_THAT(search(""), ::testing::SizeIs(4));
  HttpResponse response = Details(id, "search=emily&filter=" + Encode(R"({"City":"Paris"})"));
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["data"]["total"], 1);
}

TEST_P(BatchQueryApiTest, SummaryCountsEveryStatus) {
  const std::string id = Upload();
  SetCallStatus(kE164[0], "completed", 1);
  SetCallStatus(kE164[1], "in_progress", 1);
  SetCallStatus(kE164[2], "no_answer", 2);
  HttpResponse response = Details(id);
  ASSERT_EQ(response.status, 200);
  const json summary = Body(response)["data"]["summary"];
  EXPECT_EQ(summary["queued"], 1);
  EXPECT_EQ(summary["completed"], 1);
  EXPECT_EQ(summary["in_progress"], 1);
  EXPECT_EQ(summary["no_answer"], 1);
  EXPECT_EQ(summary["failed"], 0);
}

TEST_F(BatchApiTest, MissingDeletedAndOtherTenantsBatchesAre404) {
  const std::string id = Upload();
  ExpectError(Details("64e5f12345abcdef98765432"), 404, "Batch not found");
  ExpectError(Details(id, "", BetaToken()), 404, "Batch not found");
  ASSERT_EQ(Call("DELETE", "/api/call/delete-batch/" + id, AlphaToken()).status, 200);
  ExpectError(Details(id), 404, "Batch not found");
  EXPECT_EQ(Details(id).status, 404);
}

TEST_F(BatchApiTest, MembersSeeTheirOwnBatchesAndAdminsEveryBatchOfTheirOrganization) {
  const json member = CreateAlphaUser("agent@alpha.test", "member");
  const std::string token = member["token"];
  const std::string admins = Upload(kContacts, "Admin's");
  const std::string members = Upload(kContacts, "Member's", member["userId"]);
  EXPECT_EQ(Details(members, "", token).status, 200);
  EXPECT_EQ(Details(members).status, 200);
  ExpectError(Details(admins, "", token), 404, "Batch not found");
  EXPECT_EQ(Call("GET", "/api/call/batch-details/" + admins, "").status, 401);
}

// --- batch list ---------------------------------------------------------------------------

TEST_F(BatchApiTest, BatchListIsNewestFirstWithPaginationAndSearch) {
  const std::string admin_id = alpha_["userId"];
  const std::string spring = Upload(kContacts, "Spring campaign");
  const std::string summer = Upload(kContacts, "Summer CAMPAIGN");
  const std::string other = Upload(kContacts, "Renewals");
  SetCallStatus(kE164[0], "completed", 1);  // in all three batches
  SetCallStatus(kE164[1], "in_progress", 1);
  ASSERT_EQ(Call("POST", "/api/call/stop-calling", AlphaToken(), {{"batchId", other}}).status, 200);

  HttpResponse response = Call("GET", "/api/call/batches/" + admin_id, AlphaToken());
  ASSERT_EQ(response.status, 200) << response.body;
  json body = Body(response);
  EXPECT_EQ(body["message"], "Batches fetched successfully");
  EXPECT_EQ(body["status"], true);
  EXPECT_EQ(body["code"], 200);
  const json batches = body["data"]["batches"];
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0]["_id"], other);
  EXPECT_EQ(batches[1]["_id"], summer);
  EXPECT_EQ(batches[2]["_id"], spring);
  EXPECT_EQ(batches[0]["batchName"], "Renewals");
  EXPECT_EQ(batches[0]["totalCalls"], 4);
  EXPECT_EQ(batches[0]["callsPicked"], 2);
  EXPECT_EQ(batches[0]["callsCompleted"], 1);
  EXPECT_EQ(batches[0]["queue_status"], "paused");
  EXPECT_EQ(batches[1]["queue_status"], "active");
  EXPECT_EQ(batches[0]["createdAt"].get<std::string>().size(), 24u);
  EXPECT_EQ(batches[0]["updatedAt"].get<std::string>().size(), 24u);
  EXPECT_EQ(body["data"]["pagination"],
            json({{"total", 3}, {"page", 1}, {"limit", 10}, {"totalPages", 1}}));

  response = Call("GET", "/api/call/batches/" + admin_id + "?limit=2&page=2", AlphaToken());
  ASSERT_EQ(response.status, 200);
  body = Body(response);
  ASSERT_EQ(body["data"]["batches"].size(), 1u);
  EXPECT_EQ(body["data"]["batches"][0]["_id"], spring);
  EXPECT_EQ(body["data"]["pagination"],
            json({{"total", 3}, {"page", 2}, {"limit", 2}, {"totalPages", 2}}));

  const auto found = [&](const std::string& search) {
    HttpResponse listed =
        Call("GET", "/api/call/batches/" + admin_id + "?search=" + Encode(search), AlphaToken());
    EXPECT_EQ(listed.status, 200) << listed.body;
    std::vector<std::string> ids;
    const json body = Body(listed);
    for (const json& batch : body["data"]["batches"]) ids.push_back(batch["_id"]);
    return ids;
  };
  EXPECT_THAT(found("campaign"), ElementsAre(summer, spring));
  EXPECT_THAT(found("paused"), ElementsAre(other));  // the status
  EXPECT_THAT(found("%"), ElementsAre());
}

TEST_F(BatchApiTest, BatchListRulesForUsersAndParameters) {
  const json member = CreateAlphaUser("agent@alpha.test", "member");
  const std::string member_id = member["userId"];
  const std::string admin_id = alpha_["userId"];
  Upload(kContacts, "Admin's");
  // No batches: 200 with an empty list and totalPages 0.
  HttpResponse response = Call("GET", "/api/call/batches/" + member_id, member["token"]);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["data"]["batches"], json::array());
  EXPECT_EQ(Body(response)["data"]["pagination"]["totalPages"], 0);
  EXPECT_EQ(Body(response)["data"]["pagination"]["total"], 0);
  // A member asking for another user's list, or anyone for another organization's user: 404.
  ExpectError(Call("GET", "/api/call/batches/" + admin_id, member["token"]), 404, "User not found");
  ExpectError(Call("GET", "/api/call/batches/" + admin_id, BetaToken()), 404, "User not found");
  ExpectError(Call("GET", "/api/call/batches/64e5f12345abcdef98765432", AlphaToken()), 404,
              "User not found");
  // The admin may list the member's batches.
  EXPECT_EQ(Call("GET", "/api/call/batches/" + member_id, AlphaToken()).status, 200);
  ExpectError(Call("GET", "/api/call/batches/123", AlphaToken()), 400, "Invalid User ID format");
  ExpectError(Call("GET", "/api/call/batches/" + admin_id + "?limit=101", AlphaToken()), 400,
              "limit");
  ExpectError(Call("GET", "/api/call/batches/" + admin_id + "?limit=0", AlphaToken()), 400,
              "limit");
  ExpectError(Call("GET", "/api/call/batches/" + admin_id + "?page=0", AlphaToken()), 400, "page");
  EXPECT_EQ(Call("GET", "/api/call/batches/" + admin_id + "?limit=100", AlphaToken()).status, 200);
  EXPECT_EQ(Call("GET", "/api/call/batches/" + admin_id, "").status, 401);
}

// --- delete -------------------------------------------------------------------------------

TEST_F(BatchApiTest, DeleteIsSoftAndOnlyForWhoMaySeeTheBatch) {
  const json member = CreateAlphaUser("agent@alpha.test", "member");
  const std::string admins = Upload(kContacts, "Admin's");
  const std::string members = Upload(kContacts, "Member's", member["userId"]);
  ExpectError(Call("DELETE", "/api/call/delete-batch/" + admins, member["token"]), 404,
              "Batch not found");
  ExpectError(Call("DELETE", "/api/call/delete-batch/" + admins, BetaToken()), 404,
              "Batch not found");
  ExpectError(Call("DELETE", "/api/call/delete-batch/123", AlphaToken()), 400,
              "Invalid batch ID format");
  HttpResponse deleted = Call("DELETE", "/api/call/delete-batch/" + members, member["token"]);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Body(deleted), json({{"success", true}, {"message", "Batch deleted"}}));
  HttpResponse again = Call("DELETE", "/api/call/delete-batch/" + members, AlphaToken());
  ExpectError(again, 404, "Batch not found");
  EXPECT_EQ(Body(again)["success"], false);
  ASSERT_EQ(Call("DELETE", "/api/call/delete-batch/" + admins, AlphaToken()).status, 200);
  HttpResponse listed =
      Call("GET", "/api/call/batches/" + alpha_["userId"].get<std::string>(), AlphaToken());
  EXPECT_EQ(Body(listed)["data"]["pagination"]["total"], 0);
  EXPECT_EQ(CountRows(DbPath(), "batches"), 2);  // soft: the rows stay
  EXPECT_EQ(CountRows(DbPath(), "calls"), 8);
}

// --- start / stop calling -----------------------------------------------------------------

TEST_F(BatchApiTest, StopAndStartFlipTheBatchStatus) {
  const std::string id = Upload();
  const std::string user = alpha_["userId"];
  HttpResponse stopped =
      Call("POST", "/api/call/stop-calling", AlphaToken(), {{"batchId", id}, {"userId", user}});
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  json body = Body(stopped);
  EXPECT_EQ(body["status"], true);
  EXPECT_EQ(body["code"], 200);
  EXPECT_EQ(body["data"]["batchId"], id);
  EXPECT_EQ(body["data"]["status"], "stopped");
  EXPECT_EQ(Body(Details(id))["data"]["batchStatus"], "paused");
  // Stopping twice is not an error.
  EXPECT_EQ(Call("POST", "/api/call/stop-calling", AlphaToken(), {{"batchId", id}}).status, 200);
  HttpResponse started = Call("POST", "/api/call/start-calling", AlphaToken(), {{"batchId", id}});
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(Body(started)["data"]["status"], "started");
  EXPECT_EQ(Body(Details(id))["data"]["batchStatus"], "active");
}

TEST_F(BatchApiTest, StartAndStopRefuseBadRequestsOtherUsersAndFinishedBatches) {
  const json member = CreateAlphaUser("agent@alpha.test", "member");
  const std::string id = Upload();
  const std::string target = "/api/call/start-calling";
  ExpectError(Call("POST", target, AlphaToken(), json::object()), 400, "batchId");
  ExpectError(Call("POST", target, AlphaToken(), {{"batchId", 5}}), 400, "batchId");
  ExpectError(Call("POST", target, AlphaToken(), {{"batchId", "123"}}), 400,
              "Invalid batch ID format");
  ExpectError(Call("POST", target, AlphaToken(), {{"batchId", id}, {"userId", "x"}}), 400,
              "Invalid User ID format");
  ExpectError(Call("POST", target, AlphaToken(), {{"batchId", id}, {"userId", member["userId"]}}),
              404, "Batch not found");
  ExpectError(Call("POST", target, member["token"], {{"batchId", id}}), 404, "Batch not found");
  ExpectError(Call("POST", target, BetaToken(), {{"batchId", id}}), 404, "Batch not found");
  HttpResponse not_json =
      Request(server_->port(), "POST", target,
              {{"Authorization", "Bearer " + AlphaToken()}, {"Content-Type", "application/json"}},
              "{not json");
  EXPECT_EQ(not_json.status, 400);
  Sql("UPDATE batches SET status = 'completed' WHERE id = '" + id + "'");
  ExpectError(Call("POST", target, AlphaToken(), {{"batchId", id}}), 409, "completed");
  ExpectError(Call("POST", "/api/call/stop-calling", AlphaToken(), {{"batchId", id}}), 409,
              "completed");
}

// --- export -------------------------------------------------------------------------------

TEST_F(BatchApiTest, ExportIsACsvOfEveryCallWithOneColumnPerVariable) {
  const std::string id = Upload();
  SetCallStatus(kE164[1], "completed", 1);
  HttpResponse response = Call("GET", "/api/call/export/csv?batchId=" + id, AlphaToken());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.Header("content-type"), HasSubstr("text/csv"));
  EXPECT_EQ(response.Header("content-disposition"),
            "attachment; filename=\"batch-" + id + ".csv\"");
  EXPECT_TRUE(response.body.ends_with("\r\n")) << "every line ends with CRLF";
  const std::vector<std::string> lines = CsvLines(response.body);
  ASSERT_EQ(lines.size(), 5u) << response.body;
  EXPECT_EQ(lines[0],
            "_id,phoneNumber,callStatus,attempts,lastCallDuration,lastRecordingUrl,createdAt,"
            "updatedAt,name,account_id,notes,variables._id,City");
  // Row order; the phone number (+ and digits) is a plain number and is not escaped.
  EXPECT_THAT(lines[1], ::testing::StartsWith(id.substr(0, 8)));
  EXPECT_THAT(lines[1], HasSubstr(",+12125550123,queued,0,,,"));
  EXPECT_THAT(lines[1], ::testing::EndsWith(",Emily Davis,ACC-5678,prefers mornings,X1,Paris"));
  EXPECT_THAT(lines[2], HasSubstr(",+14155550142,completed,1,,,"));
  EXPECT_THAT(lines[2], ::testing::EndsWith(",\"Nguyen, Bao\",ACC-0001,,X2,London"));
  EXPECT_THAT(lines[3], ::testing::EndsWith(",\"said \"\"call back\"\"\",X3,Paris"));
  EXPECT_THAT(lines[4], ::testing::EndsWith(",EMILY Stone,,100% sure_x,X4,"));
}

TEST_F(BatchApiTest, LargeExportIsStreamedChunkedAndComplete) {
  // 4,500 calls: more than two of the export's 2,000-call pages.
  std::string csv = "phoneNumber,name\n";
  for (int i = 0; i < 4500; ++i) {
    csv += fmt::format("+1212{:03d}{:04d},Contact {}\n", 200 + i / 10000, i % 10000, i);
  }
  const std::string id = Upload(csv);
  HttpResponse response = Call("GET", "/api/call/export/csv?batchId=" + id, AlphaToken());
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.Header("transfer-encoding"), "chunked");
  EXPECT_FALSE(response.HasHeader("content-length"));
  EXPECT_EQ(response.Header("content-disposition"),
            "attachment; filename=\"batch-" + id + ".csv\"");
  EXPECT_TRUE(response.body.ends_with("\r\n")) << "every line ends with CRLF";
  const std::vector<std::string> lines = CsvLines(response.body);
  ASSERT_EQ(lines.size(), 4501u);
  EXPECT_THAT(lines[0], ::testing::StartsWith("_id,phoneNumber,callStatus"));
  for (int i : {0, 1999, 2000, 3999, 4000, 4499}) {
    EXPECT_THAT(lines[i + 1], ::testing::EndsWith(fmt::format(",Contact {}", i))) << i;
  }
  // HTTP/1.0 has no chunked encoding: the body ends with the connection, and is complete.
  HttpResponse old = Send(server_->port(), "GET /api/call/export/csv?batchId=" + id +
                                               " HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                                               "Authorization: Bearer " +
                                               AlphaToken() + "\r\n\r\n");
  ASSERT_EQ(old.status, 200) << old.error;
  EXPECT_FALSE(old.HasHeader("transfer-encoding"));
  EXPECT_EQ(old.body, response.body);
}

TEST_F(BatchApiTest, ExportEscapesCellsThatASpreadsheetWouldRunAsFormulas) {
  const std::string id = Upload(
      "phoneNumber,name,formula\n"
      "2125550123,\"=HYPERLINK(\"\"http://x\"\")\",@SUM(A1)\n"
      "2125550124,+1 (555) 0100,-3.5\n"
      "2125550125,-x,+12125551234\n"
      "2125550126,\"=1+2,3\",1e5\n");
  HttpResponse response = Call("GET", "/api/call/export/csv?batchId=" + id, AlphaToken());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.body, HasSubstr(",\"'=HYPERLINK(\"\"http://x\"\")\",'@SUM(A1)\r\n"));
  EXPECT_THAT(response.body, HasSubstr(",'+1 (555) 0100,-3.5\r\n"));
  EXPECT_THAT(response.body, HasSubstr(",'-x,+12125551234\r\n"));
  EXPECT_THAT(response.body, HasSubstr(",\"'=1+2,3\",1e5\r\n"));
}

TEST_F(BatchApiTest, ExportFollowsTheSameVisibilityRules) {
  const json member = CreateAlphaUser("agent@alpha.test", "member");
  const std::string id = Upload();
  ExpectError(Call("GET", "/api/call/export/csv", AlphaToken()), 400, "batchId is required");
  ExpectError(Call("GET", "/api/call/export/csv?batchId=123", AlphaToken()), 400,
              "Invalid batch ID format");
  ExpectError(Call("GET", "/api/call/export/csv?batchId=" + id, member["token"]), 404,
              "Batch not found");
  ExpectError(Call("GET", "/api/call/export/csv?batchId=" + id, BetaToken()), 404,
              "Batch not found");
  EXPECT_EQ(Call("GET", "/api/call/export/csv?batchId=" + id, "").status, 401);
}

}  // namespace
}  // namespace nexus::testing
