#include "store/sqlite/wal_checkpointer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace nexus::store::sqlite {
namespace {

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "nexus-wal-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/wal.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  DbPtr Open() {
    auto db = OpenConnection(path_, StoreOptions{});
    EXPECT_TRUE(db.ok()) << db.status();
    return std::move(*db);
  }

  // Size of the database's WAL file (0 when there is none).
  static int64_t WalBytes(const std::string& path) {
    std::error_code error;
    const auto size = std::filesystem::file_size(path + "-wal", error);
    return error ? 0 : static_cast<int64_t>(size);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(WalCheckpointerTest, CommitsPastTheThresholdAreCheckpointedInTheBackground) {
  DbPtr writer = Open();
  ASSERT_TRUE(ExecScript(writer.get(), "CREATE TABLE t (v BLOB)").ok());
  WalCheckpointer checkpointer(Open());
  checkpointer.Attach(writer.get());
  // A small commit does not wake it.
  ASSERT_TRUE(ExecScript(writer.get(), "INSERT INTO t VALUES (zeroblob(100))").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(checkpointer.checkpoints(), 0);
  // ~8 MB in one commit: well past 1,000 pages of 4 KiB.
  ASSERT_TRUE(ExecScript(writer.get(),
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                         "WHERE i < 2000) INSERT INTO t SELECT zeroblob(4000) FROM n")
                  .ok());
  for (int i = 0; i < 100 && checkpointer.checkpoints() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(checkpointer.checkpoints(), 1);
  // Everything was copied back: the next write starts the WAL over instead of growing it.
  const int64_t before = WalBytes(path_);
  ASSERT_GT(before, 8'000'000);
  ASSERT_TRUE(ExecScript(writer.get(), "INSERT INTO t VALUES (zeroblob(100))").ok());
  EXPECT_EQ(WalBytes(path_), before);  // the file is reused from its start, not appended to
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(writer.get(), "PRAGMA wal_checkpoint(PASSIVE)", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_LE(sqlite3_column_int(stmt, 1), 10) << "frames in the WAL after the restart";
  sqlite3_finalize(stmt);
}

}  // namespace
}  // namespace nexus::store::sqlite
