// POST /api/call/upload against the real binary: every row of SPEC §4's field table, the seed's
// error list, strict / lenient / dry-run, DNC, de-duplication, idempotent retries. Every refused
// upload is also checked to have stored nothing.
#include <gmock/gmock.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include <fstream>
#include <sstream>

#include "api_fixture.h"
#include "support/upload_client.h"

namespace nexus::testing {
namespace {

using ::testing::HasSubstr;

// Rows 2-6 as a spreadsheet numbers them; row 5 repeats row 2's number in another spelling and
// row 6 is not a phone number.
constexpr char kContacts[] =
    "phoneNumber,name,account_id,notes\r\n"
    "(212) 555-0123,Emily Davis,ACC-5678,prefers mornings\r\n"
    "+1 415 555 0142,\"Nguyen, Bao\",ACC-0001,\r\n"
    "646.555.0199,Jos\xC3\xA9 \xC3\x81lvarez,ACC-0002,\"said \"\"call back\"\"\"\r\n"
    "2125550123,Emily Again,ACC-9999,duplicate\r\n"
    "12,Broken Number,ACC-0003,not a phone number\r\n";

constexpr char kValidContacts[] =
    "phoneNumber,name,account_id\n"
    "(212) 555-0123,Emily Davis,ACC-5678\n"
    "+1 415 555 0142,Bao Nguyen,ACC-0001\n";

class UploadTest : public ApiTest {
 protected:
  std::string DbPath() const { return dir_.path() + "/nexus.db"; }

  UploadFields BaseFields() const {
    return {{"userId", alpha_["userId"]},
            {"batchName", "Spring campaign"},
            {"batchType", "outbound"},
            {"callingNumbers", "[\"" + alpha_["phoneNumberId"].get<std::string>() + "\"]"}};
  }

  static UploadFields With(UploadFields fields, const std::string& name, const std::string& value) {
    for (auto& [key, v] : fields) {
      if (key == name) {
        v = value;
        return fields;
      }
    }
    fields.emplace_back(name, value);
    return fields;
  }

  static UploadFields Without(UploadFields fields, const std::string& name) {
    std::erase_if(fields, [&](const auto& field) { return field.first == name; });
    return fields;
  }

  HttpResponse Upload(const UploadFields& fields, const std::string& content = kValidContacts,
                      const std::string& file_name = "contacts.csv",
                      const HttpHeaders& headers = {}) {
    return PostUpload(server_->port(), AlphaToken(), fields, UploadFile{file_name, content},
                      headers);
  }

  void ExpectNothingStored() {
    EXPECT_EQ(CountRows(DbPath(), "batches"), 0);
    EXPECT_EQ(CountRows(DbPath(), "calls"), 0);
    EXPECT_EQ(CountRows(DbPath(), "batch_skipped_rows"), 0);
  }
};

TEST_F(UploadTest, ValidCsvIsStoredWithTheDocumentedDefaults) {
  HttpResponse response = Upload(BaseFields());
  ASSERT_EQ(response.status, 200) << response.body;
  const auto body = Body(response);
  EXPECT_EQ(body["success"], true);
  const auto batch = body["batch"];
  EXPECT_EQ(batch["_id"].get<std::string>().size(), 24u);
  EXPECT_EQ(batch["batchName"], "Spring campaign");
  EXPECT_EQ(batch["callingNumbers"], nlohmann::json::array({alpha_["phoneNumberId"]}));
  EXPECT_EQ(batch["totalCalls"], 2);
  EXPECT_EQ(batch["batchType"], "outbound");
  EXPECT_EQ(batch["status"], "active");
  EXPECT_EQ(batch["agentId"], alpha_["agentId"]);
  EXPECT_EQ(batch["timezone"], "UTC");
  EXPECT_EQ(batch["callingHour"], nlohmann::json({{"start", "09:00"}, {"end", "17:00"}}));
  EXPECT_EQ(batch["allowedDays"], nlohmann::json({1, 2, 3, 4, 5}));
  EXPECT_EQ(batch["retry"], 0);
  EXPECT_EQ(batch["delay"], 60);
  EXPECT_EQ(batch["enableDNC"], true);
  EXPECT_EQ(batch["createdAt"].get<std::string>().size(), 24u);
  EXPECT_EQ(body["summary"], nlohmann::json({{"rows", 2},
                                             {"inserted", 2},
                                             {"invalid", 0},
                                             {"duplicates", 0},
                                             {"dnc", 0},
                                             {"encoding", "utf-8"}}));
  EXPECT_EQ(body["invalidRows"], nlohmann::json::array());
  EXPECT_EQ(CountRows(DbPath(), "batches"), 1);
  EXPECT_EQ(CountRows(DbPath(), "calls"), 2);
}

TEST_F(UploadTest, StrictModeWithAnInvalidRowIs422NamingTheRowAndStoresNothing) {
  HttpResponse response = Upload(BaseFields(), kContacts);
  ASSERT_EQ(response.status, 422) << response.body;
  const auto body = Body(response);
  EXPECT_EQ(body["success"], false);
  EXPECT_EQ(body["invalidCount"], 1);
  ASSERT_EQ(body["invalidRows"].size(), 1u);
  EXPECT_EQ(body["invalidRows"][0]["row"], 6);
  EXPECT_EQ(body["invalidRows"][0]["errors"][0],
            nlohmann::json({{"column", "phoneNumber"},
                            {"value", "12"},
                            {"message", "not a valid phone number for region US"}}));
  ExpectNothingStored();
}

TEST_F(UploadTest, LenientModeSkipsInvalidRowsAndKeepsTheFirstOfEachNumber) {
  HttpResponse response = Upload(With(BaseFields(), "type", "true"), kContacts);
  ASSERT_EQ(response.status, 200) << response.body;
  const auto body = Body(response);
  EXPECT_EQ(body["summary"]["rows"], 5);
  EXPECT_EQ(body["summary"]["inserted"], 3);
  EXPECT_EQ(body["summary"]["invalid"], 1);
  EXPECT_EQ(body["summary"]["duplicates"], 1);
  EXPECT_EQ(body["summary"]["dnc"], 0);
  EXPECT_EQ(body["invalidRows"][0]["row"], 6);
  EXPECT_EQ(body["batch"]["totalCalls"], 3);
  EXPECT_EQ(CountRows(DbPath(), "calls"), 3);

  // The upload's rows in the metrics (their rate is the upload rows/s).
  HttpResponse metrics = Call("GET", "/metrics", "");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("nexus_upload_rows_total{result=\"stored\"} 5\n"));
  EXPECT_THAT(metrics.body, HasSubstr("nexus_upload_rows_per_second_count 1\n"));
}

TEST_F(UploadTest, InvalidRowsCsvListsEverySkippedRowWithItsFirstErrorAndOriginalCells) {
  ASSERT_EQ(Call("POST", "/api/dnc", AlphaToken(), {{"numbers", {"+1 646 555 0100"}}}).status, 200);
  const std::string contacts =
      "phoneNumber,name,account_id,notes\r\n"
      "(212) 555-0123,Emily Davis,ACC-5678,ok\r\n"                // row 2: stored
      "12,\"=HYPERLINK(\"\"http://x\"\")\",ACC-1,bad number\r\n"  // row 3: invalid, guarded cell
      "212.555.0123,Emily Again,ACC-2,\"dup, of 2\"\r\n"          // row 4: duplicate of row 2
      "646-555-0100,On List,ACC-3,dnc\r\n"                        // row 5: DNC
      "415 555 0142,,ACC-4,missing name\r\n"                      // row 6: required name missing
      "1.21255E+10,Excel,ACC-5,damaged\r\n";                      // row 7: Excel damage
  HttpResponse upload = Upload(With(BaseFields(), "type", "true"), contacts);
  ASSERT_EQ(upload.status, 200) << upload.body;
  const std::string id = Body(upload)["batch"]["_id"];
  EXPECT_EQ(Body(upload)["summary"]["inserted"], 1);

  HttpResponse csv = Call("GET", "/api/call/batch/" + id + "/invalid-rows.csv", AlphaToken());
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_THAT(csv.Header("content-type"), HasSubstr("text/csv"));
  EXPECT_EQ(csv.Header("content-disposition"),
            "attachment; filename=\"batch-" + id + "-invalid-rows.csv\"");
  const std::vector<std::string> lines = CsvLines(csv.body);
  ASSERT_EQ(lines.size(), 6u) << csv.body;
  EXPECT_EQ(lines[0], "row,column,message,phoneNumber,name,account_id,notes");
  EXPECT_EQ(lines[1],
            "3,phoneNumber,not a valid phone number for region US,12,"
            "\"'=HYPERLINK(\"\"http://x\"\")\",ACC-1,bad number");
  EXPECT_EQ(lines[2],
            "4,phoneNumber,duplicate of row 2 (+12125550123),212.555.0123,Emily Again,ACC-2,"
            "\"dup, of 2\"");
  EXPECT_EQ(lines[3], "5,phoneNumber,on the do-not-call list,646-555-0100,On List,ACC-3,dnc");
  EXPECT_EQ(lines[4], "6,name,name is required,415 555 0142,,ACC-4,missing name");
  EXPECT_THAT(lines[5], ::testing::StartsWith("7,phoneNumber,the phone number was turned into "
                                              "scientific notation by Excel"));
  EXPECT_THAT(lines[5], ::testing::EndsWith(",1.21255E+10,Excel,ACC-5,damaged"));

  // Another organization's batch is not found; a batch without skipped rows has just the header.
  EXPECT_EQ(Call("GET", "/api/call/batch/" + id + "/invalid-rows.csv", BetaToken()).status, 404);
  HttpResponse clean = Upload(With(BaseFields(), "type", "true"));
  ASSERT_EQ(clean.status, 200) << clean.body;
  const std::string clean_id = Body(clean)["batch"]["_id"];
  HttpResponse empty =
      Call("GET", "/api/call/batch/" + clean_id + "/invalid-rows.csv", AlphaToken());
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(empty.body, "row,column,message,phoneNumber,name,account_id\r\n");
}

// The same sheet as CSV text, as an XLSX workbook written here with libxlsxwriter (typed
// cells: numbers, dates, booleans, a formula) and as the committed BIFF8 file
// tests/data/xls/conformance.xls (made by tests/data/xls/make_fixtures.py):
//   phoneNumber     | name         | amount  | signup     | vip   | notes
//   12125551234     | O'Brien, Zoë | 1.5     | 2023-03-15 | TRUE  | first
//   (blank row)
//   +1 646 555 0199 | José         | -3.25   | 2024-02-29 | FALSE |
//   6465550100      | Li           | 0.1+0.2 | 1999-12-31 | TRUE  | two\nlines
//   (blank row)
//                   |              |         |            |       | orphan note   (invalid)
std::string ConformanceCsv() {
  return "phoneNumber,name,amount,signup,vip,notes\r\n"
         "12125551234,\"O'Brien, Zo\xC3\xAB\",1.5,2023-03-15,true,first\r\n"
         ",,,,,\r\n"
         "+1 646 555 0199,Jos\xC3\xA9,-3.25,2024-02-29,false,\r\n"
         "6465550100,Li,0.3,1999-12-31,true,\"two\nlines\"\r\n"
         "  , ,,,,\r\n"
         ",,,,,orphan note\r\n";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string ConformanceXlsx(const std::string& path) {
  lxw_workbook* wb = workbook_new(path.c_str());
  lxw_worksheet* ws = workbook_add_worksheet(wb, nullptr);
  lxw_format* date = workbook_add_format(wb);
  format_set_num_format(date, "yyyy-mm-dd");
  const char* header[] = {"phoneNumber", "name", "amount", "signup", "vip", "notes"};
  for (int c = 0; c < 6; ++c) worksheet_write_string(ws, 0, c, header[c], nullptr);
  worksheet_write_number(ws, 1, 0, 12125551234.0, nullptr);
  worksheet_write_string(ws, 1, 1, "O'Brien, Zo\xC3\xAB", nullptr);
  worksheet_write_number(ws, 1, 2, 1.5, nullptr);
  lxw_datetime d1 = {2023, 3, 15, 0, 0, 0};
  worksheet_write_datetime(ws, 1, 3, &d1, date);
  worksheet_write_boolean(ws, 1, 4, 1, nullptr);
  worksheet_write_string(ws, 1, 5, "first", nullptr);
  worksheet_write_string(ws, 3, 0, "+1 646 555 0199", nullptr);
  worksheet_write_string(ws, 3, 1, "Jos\xC3\xA9", nullptr);
  worksheet_write_number(ws, 3, 2, -3.25, nullptr);
  lxw_datetime d2 = {2024, 2, 29, 18, 45, 0};
  worksheet_write_datetime(ws, 3, 3, &d2, date);
  worksheet_write_boolean(ws, 3, 4, 0, nullptr);
  worksheet_write_number(ws, 4, 0, 6465550100.0, nullptr);
  worksheet_write_string(ws, 4, 1, "Li", nullptr);
  worksheet_write_formula_num(ws, 4, 2, "=0.1+0.2", nullptr, 0.1 + 0.2);
  lxw_datetime d3 = {1999, 12, 31, 0, 0, 0};
  worksheet_write_datetime(ws, 4, 3, &d3, date);
  worksheet_write_boolean(ws, 4, 4, 1, nullptr);
  worksheet_write_string(ws, 4, 5, "two\nlines", nullptr);
  worksheet_write_string(ws, 6, 5, "orphan note", nullptr);
  EXPECT_EQ(workbook_close(wb), LXW_NO_ERROR);
  return ReadFile(path);
}

TEST_F(UploadTest, CsvXlsxAndXlsUploadsProduceTheSameCalls) {
  const std::string xlsx_path = dir_.path() + "/conformance.xlsx";
  const std::vector<UploadFile> files = {
      {"contacts.csv", ConformanceCsv(), "text/csv"},
      {"contacts.xlsx", ConformanceXlsx(xlsx_path),
       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"contacts.xls", ReadFile(NEXUS_TEST_DATA_DIR "/xls/conformance.xls"),
       "application/vnd.ms-excel"}};
  std::vector<nlohmann::json> calls_by_format;
  for (const UploadFile& file : files) {
    SCOPED_TRACE(file.name);
    ASSERT_FALSE(file.content.empty());
    HttpResponse upload =
        PostUpload(server_->port(), AlphaToken(), With(BaseFields(), "type", "true"), file);
    ASSERT_EQ(upload.status, 200) << upload.body;
    const auto body = Body(upload);
    EXPECT_EQ(body["summary"]["rows"], 4);  // blank rows are not rows
    EXPECT_EQ(body["summary"]["inserted"], 3);
    EXPECT_EQ(body["summary"]["invalid"], 1);
    EXPECT_EQ(body["invalidRows"][0]["row"], 7);  // spreadsheet numbering in every format
    const std::string id = body["batch"]["_id"];
    HttpResponse details =
        Call("GET", "/api/call/batch-details/" + id + "?limit=10&sortBy=phoneNumber&sortOrder=asc",
             AlphaToken());
    ASSERT_EQ(details.status, 200) << details.body;
    nlohmann::json calls = nlohmann::json::array();
    const nlohmann::json page = Body(details);
    for (nlohmann::json call : page["data"]["data"]) {
      for (const char* field : {"_id", "createdAt", "updatedAt"}) call.erase(field);
      calls.push_back(std::move(call));
    }
    calls_by_format.push_back(std::move(calls));
  }
  ASSERT_EQ(calls_by_format.size(), 3u);
  EXPECT_EQ(calls_by_format[0].size(), 3u) << calls_by_format[0].dump();
  EXPECT_EQ(calls_by_format[0][0]["phoneNumber"], "+12125551234");
  EXPECT_EQ(calls_by_format[0][0]["name"], "O'Brien, Zo\xC3\xAB");
  EXPECT_EQ(calls_by_format[0][0]["amount"], "1.5");
  EXPECT_EQ(calls_by_format[0][0]["signup"], "2023-03-15");
  EXPECT_EQ(calls_by_format[0][0]["vip"], "true");
  EXPECT_EQ(calls_by_format[0][1].value("amount", ""), "0.3");  // 0.1+0.2 as Excel shows it
  EXPECT_EQ(calls_by_format[0][1].value("notes", ""), "two\nlines");
  EXPECT_FALSE(calls_by_format[0][2].contains("notes")) << "an empty cell is not stored";
  EXPECT_EQ(calls_by_format[1], calls_by_format[0]) << "XLSX differs from CSV";
  EXPECT_EQ(calls_by_format[2], calls_by_format[0]) << "XLS differs from CSV";
}

TEST_F(UploadTest, ManySkippedRowsAreStreamedPageByPage) {
  // 2,500 skipped rows: more than one 2,000-row page of invalid-rows.csv.
  std::string contacts = "phoneNumber,name\n(212) 555-0123,Kept\n";
  for (int i = 0; i < 2500; ++i) contacts += "12,Broken " + std::to_string(i) + "\n";
  HttpResponse upload = Upload(With(BaseFields(), "type", "true"), contacts);
  ASSERT_EQ(upload.status, 200) << upload.body;
  const std::string id = Body(upload)["batch"]["_id"];
  HttpResponse csv = Call("GET", "/api/call/batch/" + id + "/invalid-rows.csv", AlphaToken());
  ASSERT_EQ(csv.status, 200) << csv.error;
  EXPECT_EQ(csv.Header("transfer-encoding"), "chunked");
  const std::vector<std::string> lines = CsvLines(csv.body);
  ASSERT_EQ(lines.size(), 2501u);
  EXPECT_EQ(lines[0], "row,column,message,phoneNumber,name");
  EXPECT_THAT(lines[1], ::testing::StartsWith("3,phoneNumber,"));
  EXPECT_THAT(lines[2000], ::testing::EndsWith(",12,Broken 1999"));
  EXPECT_THAT(lines[2001], ::testing::StartsWith("2003,phoneNumber,"));  // second page
  EXPECT_THAT(lines[2500], ::testing::EndsWith(",12,Broken 2499"));
}

TEST_F(UploadTest, DryRunAnswersLikeARealUploadButStoresNothing) {
  HttpResponse response =
      Upload(With(With(BaseFields(), "type", "TRUE"), "dryRun", "1"), kContacts);
  ASSERT_EQ(response.status, 200) << response.body;
  const auto body = Body(response);
  EXPECT_FALSE(body["batch"].contains("_id"));
  EXPECT_EQ(body["summary"]["inserted"], 3);
  EXPECT_EQ(body["dryRun"], true);
  ExpectNothingStored();
  HttpResponse strict = Upload(With(BaseFields(), "dryRun", "true"), kContacts);
  EXPECT_EQ(strict.status, 422);
}

TEST_F(UploadTest, NumbersOnTheDncListAreNotInsertedUnlessDncIsDisabled) {
  ASSERT_EQ(Call("POST", "/api/dnc", AlphaToken(), {{"numbers", {"4155550142"}}}).status, 200);
  HttpResponse with_dnc = Upload(BaseFields());
  ASSERT_EQ(with_dnc.status, 200) << with_dnc.body;
  EXPECT_EQ(Body(with_dnc)["summary"]["dnc"], 1);
  EXPECT_EQ(Body(with_dnc)["summary"]["inserted"], 1);
  HttpResponse without = Upload(With(BaseFields(), "enableDNC", "false"));
  ASSERT_EQ(without.status, 200) << without.body;
  EXPECT_EQ(Body(without)["summary"]["dnc"], 0);
  EXPECT_EQ(Body(without)["summary"]["inserted"], 2);
}

TEST_F(UploadTest, EveryRowDuplicateOrDncIs400NoValidRows) {
  ASSERT_EQ(
      Call("POST", "/api/dnc", AlphaToken(), {{"numbers", {"2125550123", "4155550142"}}}).status,
      200);
  HttpResponse response = Upload(BaseFields());
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(Body(response)["message"].get<std::string>(), HasSubstr("no valid rows"));
  EXPECT_EQ(Body(response)["summary"]["dnc"], 2);
  ExpectNothingStored();
}

TEST_F(UploadTest, OptionalFieldsAreValidatedAndEchoed) {
  HttpResponse response =
      Upload(With(With(With(With(With(With(BaseFields(), "retry", "3"), "delay", "120"), "timezone",
                                 "America/New_York"),
                            "callingHour", R"({"start":"20:00","end":"02:00"})"),
                       "allowedDays", "[7,1,1,3]"),
                  "batchType", "mixed"));
  ASSERT_EQ(response.status, 200) << response.body;
  const auto batch = Body(response)["batch"];
  EXPECT_EQ(batch["retry"], 3);
  EXPECT_EQ(batch["delay"], 120);
  EXPECT_EQ(batch["timezone"], "America/New_York");
  EXPECT_EQ(batch["callingHour"]["start"], "20:00");
  EXPECT_EQ(batch["allowedDays"], nlohmann::json({0, 1, 3}));
  EXPECT_EQ(batch["batchType"], "mixed");
  // An empty optional field means absent.
  HttpResponse blank = Upload(With(With(BaseFields(), "timezone", "  "), "retry", ""));
  ASSERT_EQ(blank.status, 200) << blank.body;
  EXPECT_EQ(Body(blank)["batch"]["timezone"], "UTC");
  EXPECT_EQ(Body(blank)["batch"]["retry"], 0);
}

TEST_F(UploadTest, EachBadFieldIs400AndStoresNothing) {
  struct Case {
    UploadFields fields;
    std::string message;
  };
  const UploadFields base = BaseFields();
  const std::vector<Case> cases = {
      {Without(base, "userId"), "userId"},
      {With(base, "userId", "123"), "Invalid User ID format"},
      {Without(base, "batchName"), "batchName"},
      {With(base, "batchName", "   "), "batchName"},
      {With(base, "batchName", std::string(201, 'b')), "batchName"},
      {Without(base, "batchType"), "batchType"},
      {With(base, "batchType", "inbound"), "batchType"},
      {Without(base, "callingNumbers"), "callingNumbers"},
      {With(base, "callingNumbers", "not json"), "callingNumbers"},
      {With(base, "callingNumbers", "[]"), "callingNumbers"},
      {With(base, "callingNumbers", "[\"xyz\"]"), "callingNumbers"},
      {With(base, "enableDNC", "maybe"), "enableDNC"},
      {With(base, "type", "yes"), "type"},
      {With(base, "dryRun", "please"), "dryRun"},
      {With(base, "retry", "-1"), "retry"},
      {With(base, "retry", "11"), "retry"},
      {With(base, "retry", "2.5"), "retry"},
      {With(base, "delay", "604801"), "delay"},
      {With(base, "timezone", "Mars/Olympus"), "timezone"},
      {With(base, "callingHour", R"({"start":"09:00","end":"09:00"})"), "callingHour"},
      {With(base, "callingHour", R"({"start":"9am","end":"17:00"})"), "callingHour"},
      {With(base, "callingHour", "09:00-17:00"), "callingHour"},
      {With(base, "allowedDays", "[]"), "allowedDays"},
      {With(base, "allowedDays", "[1,8]"), "allowedDays"},
      {With(base, "allowedDays", "monday"), "allowedDays"},
      {With(base, "defaultCountry", "ZZ"), "defaultCountry"},
  };
  for (const Case& c : cases) {
    HttpResponse response = Upload(c.fields);
    EXPECT_EQ(response.status, 400) << c.message << ": " << response.body;
    EXPECT_EQ(Body(response)["success"], false);
    EXPECT_THAT(Body(response)["message"].get<std::string>(), HasSubstr(c.message));
  }
  UploadFields twice = base;
  twice.emplace_back("batchName", "again");
  HttpResponse repeated = Upload(twice);
  EXPECT_EQ(repeated.status, 400);
  EXPECT_THAT(Body(repeated)["message"].get<std::string>(), HasSubstr("more than once"));
  HttpResponse no_file = PostUpload(server_->port(), AlphaToken(), base, std::nullopt);
  EXPECT_EQ(no_file.status, 400);
  EXPECT_THAT(Body(no_file)["message"].get<std::string>(), HasSubstr("file"));
  ExpectNothingStored();
}

TEST_F(UploadTest, UnknownFieldsAreIgnored) {
  EXPECT_EQ(Upload(With(BaseFields(), "favouriteColour", "green")).status, 200);
}

TEST_F(UploadTest, MissingObjectsAre404WithTheSeedMessages) {
  // A user of another organization is "not found", like a missing one.
  HttpResponse other_user = Upload(With(BaseFields(), "userId", beta_["userId"]));
  EXPECT_EQ(other_user.status, 404);
  EXPECT_EQ(Body(other_user)["message"], "User not found");
  HttpResponse other_number = Upload(With(
      BaseFields(), "callingNumbers", "[\"" + beta_["phoneNumberId"].get<std::string>() + "\"]"));
  EXPECT_EQ(other_number.status, 404);

  // A number bound to no agent.
  HttpResponse created =
      Call("POST", "/api/phone-numbers", AlphaToken(), {{"phoneNumber", "+14155550111"}});
  const std::string unbound = Body(created)["phoneNumber"]["_id"];
  HttpResponse no_agent = Upload(With(BaseFields(), "callingNumbers", "[\"" + unbound + "\"]"));
  EXPECT_EQ(no_agent.status, 404);
  EXPECT_EQ(Body(no_agent)["message"], "No agent found for calling numbers");

  // An agent without a language.
  Call("PATCH", "/api/agents/" + alpha_["agentId"].get<std::string>(), AlphaToken(),
       {{"language", nullptr}});
  HttpResponse no_language = Upload(BaseFields());
  EXPECT_EQ(no_language.status, 404);
  EXPECT_EQ(Body(no_language)["message"], "No language configured for agent");
  ExpectNothingStored();
}

TEST_F(UploadTest, NumbersBoundToDifferentAgentsAre400) {
  HttpResponse agent =
      Call("POST", "/api/agents", AlphaToken(), {{"name", "Other"}, {"language", "en"}});
  HttpResponse number =
      Call("POST", "/api/phone-numbers", AlphaToken(),
           {{"phoneNumber", "+14155550112"}, {"agentId", Body(agent)["agent"]["_id"]}});
  const std::string numbers = "[\"" + alpha_["phoneNumberId"].get<std::string>() + "\",\"" +
                              Body(number)["phoneNumber"]["_id"].get<std::string>() + "\"]";
  HttpResponse response = Upload(With(BaseFields(), "callingNumbers", numbers));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(Body(response)["message"].get<std::string>(), HasSubstr("same agent"));
}

TEST_F(UploadTest, FileProblemsAre400NamingTheProblem) {
  struct Case {
    std::string name;
    std::string content;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"contacts.txt", kValidContacts, "file type"},
      {"contacts.xlsx", kValidContacts, "file type"},
      {"contacts.csv", "", "empty"},
      {"contacts.csv", "phoneNumber,name,account_id\n", "no data rows"},
      {"contacts.csv", "name,account_id\nAnn,1\n", "phoneNumber"},
      {"contacts.csv", "phoneNumber,account_id\n2125550123,1\n", "name"},
      {"contacts.csv", "phoneNumber,Phone Number,name\n1,2,3\n", "same name"},
      {"contacts.csv", "phoneNumber,name,notes,Notes\n1,2,3,4\n", "same name"},
      {"contacts.csv", "phoneNumber,name\n\"2125550123,Ann\n", "row 2"},
      {"contacts.csv",
       std::string("phoneNumber,name\n21255\0"
                   "50123,Ann\n",
                   33),
       "NUL"},
  };
  for (const Case& c : cases) {
    HttpResponse response = Upload(BaseFields(), c.content, c.name);
    EXPECT_EQ(response.status, 400) << c.name << " / " << c.message << ": " << response.body;
    EXPECT_THAT(Body(response)["message"].get<std::string>(), HasSubstr(c.message)) << c.message;
  }
  ExpectNothingStored();
}

TEST_F(UploadTest, HeadersMatchIgnoringCaseSpacesAndUnderscores) {
  HttpResponse response =
      Upload(BaseFields(), "  Phone Number ,NAME,Account-ID,Notes\n2125550123,Ann,A1,x\n");
  ASSERT_EQ(response.status, 200) << response.body;
}

TEST_F(UploadTest, AuthenticationAndRoleComeBeforeTheBody) {
  EXPECT_EQ(
      PostUpload(server_->port(), "", BaseFields(), UploadFile{"c.csv", kValidContacts}).status,
      401);
  const auto member = CreateAlphaUser("member@alpha.test", "member");
  EXPECT_EQ(PostUpload(server_->port(), member["token"], BaseFields(),
                       UploadFile{"c.csv", kValidContacts})
                .status,
            403);
  ExpectNothingStored();
}

TEST_F(UploadTest, IdempotencyKeyReplaysTheFirstAnswerAndRefusesADifferentRequest) {
  const HttpHeaders key = {{"Idempotency-Key", "import-2025-05-15"}};
  HttpResponse first = Upload(BaseFields(), kValidContacts, "contacts.csv", key);
  ASSERT_EQ(first.status, 200) << first.body;
  HttpResponse again = Upload(BaseFields(), kValidContacts, "contacts.csv", key);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["batch"]["_id"], Body(first)["batch"]["_id"]);
  EXPECT_EQ(again.Header("idempotent-replayed"), "true");
  EXPECT_EQ(CountRows(DbPath(), "batches"), 1);

  HttpResponse different =
      Upload(With(BaseFields(), "batchName", "Other"), kValidContacts, "contacts.csv", key);
  EXPECT_EQ(different.status, 422) << different.body;
  EXPECT_EQ(CountRows(DbPath(), "batches"), 1);

  HttpResponse bad_key = Upload(BaseFields(), kValidContacts, "contacts.csv",
                                {{"Idempotency-Key", std::string(256, 'k')}});
  EXPECT_EQ(bad_key.status, 400);
}

TEST_F(UploadTest, DncUploadAddsTheValidNumbersOfAFile) {
  const std::string boundary = "dncBoundary42";
  HttpResponse response = Request(
      server_->port(), "POST", "/api/dnc/upload",
      {{"Authorization", "Bearer " + AlphaToken()},
       {"Content-Type", "multipart/form-data; boundary=" + boundary}},
      MultipartBody(boundary, {},
                    UploadFile{"dnc.csv", "Phone\n(212) 555-0123\n+1 415 555 0142\nnope\n\n"}));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response),
            nlohmann::json({{"success", true}, {"added", 2}, {"invalid", 1}, {"rows", 3}}));
  EXPECT_EQ(Body(Call("GET", "/api/dnc", AlphaToken()))["total"], 2);
  HttpResponse no_column =
      Request(server_->port(), "POST", "/api/dnc/upload",
              {{"Authorization", "Bearer " + AlphaToken()},
               {"Content-Type", "multipart/form-data; boundary=" + boundary}},
              MultipartBody(boundary, {}, UploadFile{"dnc.csv", "name,city\nAnn,Paris\n"}));
  EXPECT_EQ(no_column.status, 400);
}

class UploadLimitsTest : public UploadTest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--max-rows", "3", "--upload-body-limit", "65536", "--max-cell-bytes", "64"};
  }
};

TEST_F(UploadLimitsTest, RowLimitIs422NamingTheRow) {
  const std::string content =
      "phoneNumber,name\n2125550101,A\n2125550102,B\n2125550103,C\n2125550104,D\n";
  HttpResponse response = Upload(BaseFields(), content);
  EXPECT_EQ(response.status, 422) << response.body;
  EXPECT_THAT(Body(response)["message"].get<std::string>(), HasSubstr("row 5"));
  ExpectNothingStored();
}

TEST_F(UploadLimitsTest, CellLimitIs422) {
  HttpResponse response =
      Upload(BaseFields(), "phoneNumber,name\n2125550101," + std::string(100, 'n') + "\n");
  EXPECT_EQ(response.status, 422) << response.body;
  ExpectNothingStored();
}

TEST_F(UploadLimitsTest, BodyOverTheUploadLimitIs413BeforeItIsRead) {
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.SendSome(BuildRequest("POST", "/api/call/upload",
                                               {{"Host", "x"},
                                                {"Authorization", "Bearer " + AlphaToken()},
                                                {"Content-Type", "multipart/form-data; boundary=x"},
                                                {"Content-Length", "90000000"}})));
  EXPECT_EQ(connection.ReadResponse().status, 413);
  ExpectNothingStored();
}

}  // namespace
}  // namespace nexus::testing
