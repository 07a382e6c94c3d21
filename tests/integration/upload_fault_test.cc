// Faults during an upload: the server killed while receiving the file and while inside the
// insert transaction, and a full database. Afterwards no partial batch exists, the database is
// intact, the spool is clean after a restart, and the next upload works.
#include <gmock/gmock.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "api_fixture.h"
#include "support/upload_client.h"

namespace nexus::testing {
namespace {

std::string Contacts(int rows) {
  std::string csv = "phoneNumber,name,account_id\n";
  for (int i = 0; i < rows; ++i) {
    // Valid, distinct US numbers: 212-555-01xx style spread over several exchanges.
    csv += "+1212" + std::to_string(2000000 + i) + ",Contact " + std::to_string(i) + ",A" +
           std::to_string(i) + "\n";
  }
  return csv;
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  std::string result = "cannot read";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

size_t SpoolFiles(const std::string& dir) {
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("upload-", 0) == 0) ++count;
  }
  return count;
}

class UploadFaultTest : public ApiTest {
 protected:
  std::string DbPath() const { return dir_.path() + "/nexus.db"; }
  std::string SpoolDir() const { return dir_.path(); }
  std::vector<std::string> ServerArgs() const override { return {"--spool-dir", SpoolDir()}; }

  UploadFields Fields() const {
    return {{"userId", alpha_["userId"]},
            {"batchName", "Fault"},
            {"batchType", "outbound"},
            {"callingNumbers", "[\"" + alpha_["phoneNumberId"].get<std::string>() + "\"]"}};
  }

  void ExpectCleanAfterRestart() {
    server_ = NexusServer::Start(db_, ServerArgs());
    ASSERT_NE(server_, nullptr);
    EXPECT_EQ(CountRows(DbPath(), "batches"), 0);
    EXPECT_EQ(CountRows(DbPath(), "calls"), 0);
    EXPECT_EQ(CountRows(DbPath(), "idempotency_keys"), 0);
    EXPECT_EQ(IntegrityCheck(DbPath()), "ok");
    EXPECT_EQ(SpoolFiles(SpoolDir()), 0u) << "the restart sweeps spool files of dead processes";
    HttpResponse next =
        PostUpload(server_->port(), AlphaToken(), Fields(), UploadFile{"c.csv", Contacts(10)});
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_EQ(CountRows(DbPath(), "calls"), 10);
  }
};

TEST_F(UploadFaultTest, KillWhileReceivingLeavesNothing) {
  const std::string boundary = "faultBoundary";
  const std::string body =
      MultipartBody(boundary, Fields(), UploadFile{"big.csv", Contacts(60000)});
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.SendSome(
      BuildRequest("POST", "/api/call/upload",
                   {{"Host", "x"},
                    {"Authorization", "Bearer " + AlphaToken()},
                    {"Content-Type", "multipart/form-data; boundary=" + boundary},
                    {"Content-Length", std::to_string(body.size())}})));
  ASSERT_TRUE(connection.SendSome(std::string_view(body).substr(0, body.size() / 2)));
  // Wait until the server has started spooling, then kill it mid-body.
  for (int i = 0; i < 100 && SpoolFiles(SpoolDir()) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(SpoolFiles(SpoolDir()), 1u);
  server_->Kill();
  ExpectCleanAfterRestart();
}

TEST_F(UploadFaultTest, KillInsideTheInsertTransactionLeavesNothing) {
  server_->Terminate();
  server_ = NexusServer::Start(db_, {"--spool-dir", SpoolDir(), "--test-allow-faults"},
                               {"NEXUS_TEST_KILL_AFTER_CALLS=2500"});
  ASSERT_NE(server_, nullptr);
  HttpResponse response =
      PostUpload(server_->port(), AlphaToken(), Fields(), UploadFile{"c.csv", Contacts(5000)},
                 {{"Idempotency-Key", "killed-upload"}});
  EXPECT_EQ(response.status, 0) << "the server died mid-transaction: " << response.body;
  int code = 0;
  for (int i = 0; i < 100 && !server_->HasExited(&code); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(code, -1) << "killed by SIGKILL";
  ExpectCleanAfterRestart();
}

TEST_F(UploadFaultTest, FullDatabaseAnswers507AndStoresNothing) {
  server_->Terminate();
  // A few hundred pages hold the workspace but not 20,000 calls.
  server_ = NexusServer::Start(
      db_, {"--spool-dir", SpoolDir(), "--test-allow-faults", "--test-max-page-count", "300"});
  ASSERT_NE(server_, nullptr);
  HttpResponse response =
      PostUpload(server_->port(), AlphaToken(), Fields(), UploadFile{"c.csv", Contacts(20000)});
  EXPECT_EQ(response.status, 507) << response.body;
  EXPECT_THAT(Body(response)["message"].get<std::string>(), ::testing::HasSubstr("full"));
  EXPECT_EQ(CountRows(DbPath(), "batches"), 0);
  EXPECT_EQ(CountRows(DbPath(), "calls"), 0);
  EXPECT_EQ(IntegrityCheck(DbPath()), "ok");
  // The server keeps serving.
  EXPECT_EQ(Call("GET", "/api/agents", AlphaToken()).status, 200);
}

}  // namespace
}  // namespace nexus::testing
