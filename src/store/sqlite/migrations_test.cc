#include "store/sqlite/migrations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/time_format.h"
#include "store/sqlite/sqlite_store.h"

namespace nexus::store::sqlite {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixMillis(1'715'781'600'123);

DbPtr OpenRaw(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  return DbPtr(db);
}

// The single integer `sql` answers (-1 when it fails).
int64_t QueryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return -1;
  StmtPtr stmt(raw);
  return sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : -1;
}

bool HasTable(sqlite3* db, const std::string& name) {
  return QueryInt(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '" +
                          name + "'") == 1;
}

int LatestVersion() { return AllMigrations().back().version; }

class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "nexus-migrations-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Batch 'b-1' of organization 'org-1' with call_id_prefix 000000000000000000, as every schema
// version since 1 accepts it.
#define NEXUS_INSERT_BATCH_B1_SQL                                                             \
  "INSERT INTO batches (id, organization_id, user_id, agent_id, call_id_prefix, name, type, " \
  "status, calling_number_ids, retry, delay_seconds, timezone, calling_start, calling_end, "  \
  "allowed_days, enable_dnc, default_country, total_calls, created_at, updated_at) VALUES "   \
  "('b-1', 'org-1', 'user-1', 'a-1', '000000000000000000', 'B', 'outbound', 'active', "       \
  "'p-1', 0, 60, 'UTC', 540, 1020, '1,2,3,4,5', 1, 'US', 1, 1, 1);"

TEST(Migrations, VersionsCountUpFromOne) {
  int expected = 1;
  for (const Migration& migration : AllMigrations()) EXPECT_EQ(migration.version, expected++);
  EXPECT_GE(LatestVersion(), 1);
}

TEST(Migrations, EmptyDatabaseGetsTheWholeSchema) {
  DbPtr db = OpenRaw(":memory:");
  EXPECT_EQ(SchemaVersion(db.get()).value_or(-1), 0);

  absl::StatusOr<int> applied = Migrate(db.get(), kNow);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, static_cast<int>(AllMigrations().size()));
  EXPECT_EQ(SchemaVersion(db.get()).value_or(-1), LatestVersion());
  for (const char* table :
       {"organizations", "users", "credentials", "agents", "agent_variables", "phone_numbers",
        "dnc_numbers", "batches", "calls", "idempotency_keys", "schema_migrations"}) {
    EXPECT_TRUE(HasTable(db.get(), table)) << table;
  }
  EXPECT_EQ(QueryInt(db.get(), "SELECT applied_at FROM schema_migrations WHERE version = 1"),
            core::ToUnixMillis(kNow));
}

TEST(Migrations, UpToDateDatabaseIsLeftAlone) {
  DbPtr db = OpenRaw(":memory:");
  ASSERT_TRUE(Migrate(db.get(), kNow).ok());
  absl::StatusOr<int> again = Migrate(db.get(), kNow + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(AllMigrations().size()));
}

TEST(Migrations, UpgradeFromVersionOneKeepsItsData) {
  DbPtr db = OpenRaw(":memory:");
  ASSERT_EQ(Migrate(db.get(), kNow, AllMigrations().first(1)).value_or(-1), 1);
  ASSERT_TRUE(ExecScript(db.get(),
                         "INSERT INTO organizations (id, name, timezone, default_country, "
                         "created_at) VALUES ('org-1', 'Acme', 'UTC', 'US', 1);"
                         "INSERT INTO users (id, organization_id, email, name, role, created_at) "
                         "VALUES ('user-1', 'org-1', 'a@acme.example', 'Ann', 'admin', 1);"
                         "INSERT INTO dnc_numbers (organization_id, e164, created_at) "
                         "VALUES ('org-1', '+12125550100', 1);")
                  .ok());
  EXPECT_FALSE(HasTable(db.get(), "batches"));

  absl::StatusOr<int> applied = Migrate(db.get(), kNow + absl::Hours(1), AllMigrations().first(2));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, 1);
  EXPECT_EQ(SchemaVersion(db.get()).value_or(-1), 2);
  EXPECT_EQ(QueryInt(db.get(), "SELECT applied_at FROM schema_migrations WHERE version = 2"),
            core::ToUnixMillis(kNow + absl::Hours(1)));
  for (const char* table : {"batches", "calls", "idempotency_keys"}) {
    EXPECT_TRUE(HasTable(db.get(), table)) << table;
  }
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM organizations WHERE name = 'Acme'"), 1);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM users WHERE email = 'a@acme.example'"), 1);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM dnc_numbers"), 1);
  // The new tables work against the old rows.
  EXPECT_TRUE(ExecScript(db.get(), NEXUS_INSERT_BATCH_B1_SQL
                         "INSERT INTO calls (id, batch_id, seq, phone, variables, created_at, "
                         "updated_at) VALUES ('000000000000000000000000', 'b-1', 0, "
                         "'+12125550101', '{}', 1, 1);")
                  .ok());
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT COUNT(*) FROM calls WHERE status = 'queued' AND "
                     "attempts = 0 AND next_attempt_at IS NULL AND timezone IS NULL"),
            1);
}

// Migrations 7 and 8 on a database with calls (version 6): existing calls start unchanged
// (change_seq 0, not in calls_changed), and calls_by_status keeps only the calls not queued.
TEST(Migrations, ChangeTrackingAndThePartialStatusIndexKeepExistingCalls) {
  DbPtr db = OpenRaw(":memory:");
  ASSERT_TRUE(Migrate(db.get(), kNow, AllMigrations().first(6)).ok());
  ASSERT_TRUE(
      ExecScript(db.get(),
                 "INSERT INTO organizations (id, name, timezone, default_country, "
                 "created_at) VALUES ('org-1', 'Acme', 'UTC', 'US', 1);" NEXUS_INSERT_BATCH_B1_SQL
                 "INSERT INTO batch_call_counts (batch_id, queued, failed) "
                 "VALUES ('b-1', 1, 1);"
                 "INSERT INTO calls (id, batch_id, seq, phone, variables, status, "
                 "created_at, updated_at) VALUES "
                 "('000000000000000000000000', 'b-1', 0, '+12125550101', '{}', "
                 "'queued', 1, 1), "
                 "('000000000000000000000001', 'b-1', 1, '+12125550102', '{}', "
                 "'failed', 1, 1);")
          .ok());
  ASSERT_EQ(Migrate(db.get(), kNow).value_or(-1), LatestVersion() - 6);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM calls WHERE change_seq = 0"), 2);
  EXPECT_EQ(QueryInt(db.get(), "SELECT change_seq FROM batch_call_counts WHERE batch_id = 'b-1'"),
            0);
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT COUNT(*) FROM calls INDEXED BY calls_changed "
                     "WHERE batch_id = 'b-1' AND change_seq > 0"),
            0);
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT group_concat(seq) FROM calls INDEXED BY calls_by_status "
                     "WHERE batch_id = 'b-1' AND status <> 'queued'"),
            1);
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT COUNT(*) FROM sqlite_master WHERE name = 'calls_by_status' "
                     "AND sql LIKE '%WHERE status <> ''queued''%'"),
            1);
}

TEST(Migrations, BatchMustBelongToAnExistingOrganization) {
  DbPtr db = OpenRaw(":memory:");
  ASSERT_TRUE(ExecScript(db.get(), "PRAGMA foreign_keys = ON").ok());
  ASSERT_TRUE(Migrate(db.get(), kNow).ok());
  EXPECT_FALSE(ExecScript(db.get(),
                          "INSERT INTO batches (id, organization_id, user_id, agent_id, "
                          "call_id_prefix, name, type, status, calling_number_ids, retry, "
                          "delay_seconds, timezone, calling_start, calling_end, allowed_days, "
                          "enable_dnc, default_country, total_calls, created_at, updated_at) "
                          "VALUES ('b-1', 'org-x', 'u', 'a', 'p', 'B', 'outbound', 'active', '', "
                          "0, 60, 'UTC', 540, 1020, '1', 1, 'US', 0, 1, 1)")
                   .ok());
}

TEST(Migrations, OnlyPendingMigrationsRunInOrder) {
  const Migration first[] = {{1, "CREATE TABLE a (x INTEGER)"}};
  const Migration both[] = {{1, "CREATE TABLE a (x INTEGER)"},
                            {2, "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (7)"}};
  DbPtr db = OpenRaw(":memory:");
  EXPECT_EQ(Migrate(db.get(), kNow, first).value_or(-1), 1);
  EXPECT_EQ(Migrate(db.get(), kNow, both).value_or(-1), 1);
  EXPECT_EQ(SchemaVersion(db.get()).value_or(-1), 2);
  EXPECT_TRUE(HasTable(db.get(), "b"));
  EXPECT_EQ(QueryInt(db.get(), "SELECT x FROM a"), 7);
}

TEST(Migrations, FailingMigrationChangesNothing) {
  const Migration migrations[] = {
      {1, "CREATE TABLE a (x INTEGER)"},
      {2, "CREATE TABLE c (x INTEGER); INSERT INTO nowhere VALUES (1)"}};
  DbPtr db = OpenRaw(":memory:");
  absl::StatusOr<int> applied = Migrate(db.get(), kNow, migrations);
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(applied.status().message()), ::testing::Not(HasSubstr("INSERT")));
  EXPECT_EQ(SchemaVersion(db.get()).value_or(-1), 1);
  EXPECT_TRUE(HasTable(db.get(), "a"));
  EXPECT_FALSE(HasTable(db.get(), "c"));
  EXPECT_TRUE(sqlite3_get_autocommit(db.get()));  // no transaction left open
}

TEST(Migrations, DatabaseNewerThanTheBinaryIsFailedPrecondition) {
  DbPtr db = OpenRaw(":memory:");
  ASSERT_TRUE(Migrate(db.get(), kNow).ok());
  ASSERT_TRUE(
      ExecScript(db.get(), "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
          .ok());
  absl::StatusOr<int> applied = Migrate(db.get(), kNow);
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(applied.status().message()), HasSubstr("version 99"));
}

TEST(Migrations, EveryInterfaceLookupUsesAnIndex) {
  DbPtr db = OpenRaw(":memory:");
  ASSERT_TRUE(Migrate(db.get(), kNow).ok());
  for (const char* query : {
           "SELECT * FROM credentials WHERE secret_hash = 'h' AND revoked_at IS NULL",
           "SELECT * FROM credentials WHERE organization_id = 'o' AND id = 'c' AND kind = 'token'",
           "SELECT * FROM users WHERE organization_id = 'o' AND id = 'u'",
           "SELECT * FROM agents WHERE organization_id = 'o' ORDER BY created_at, id",
           "SELECT * FROM agent_variables WHERE agent_id = 'a' ORDER BY position",
           "SELECT * FROM phone_numbers WHERE organization_id = 'o' ORDER BY created_at, id",
           "SELECT * FROM dnc_numbers WHERE organization_id = 'o' ORDER BY e164 LIMIT 10",
           "SELECT e164 FROM dnc_numbers WHERE organization_id = 'o' ORDER BY e164",
           "SELECT * FROM batches WHERE organization_id = 'o' AND id = 'b' AND deleted_at IS NULL",
           "SELECT * FROM batches WHERE organization_id = 'o' ORDER BY created_at DESC LIMIT 10",
           "SELECT * FROM batches WHERE user_id = 'u' ORDER BY created_at DESC LIMIT 10",
           "SELECT * FROM calls WHERE id >= 'a' AND id <= 'b' AND +batch_id = 'b' "
           "ORDER BY id LIMIT 10",
           "SELECT * FROM calls WHERE batch_id = 'b' AND status = 'failed' "
           "AND status <> 'queued' ORDER BY seq LIMIT 10",
           "SELECT * FROM calls WHERE id = 'c'",
           "SELECT * FROM idempotency_keys WHERE user_id = 'u' AND key = 'k' AND created_at >= 0",
       }) {
    const std::string plan_query = std::string("EXPLAIN QUERY PLAN ") + query;
    sqlite3_stmt* raw = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db.get(), plan_query.c_str(), -1, &raw, nullptr), SQLITE_OK);
    StmtPtr stmt(raw);
    std::string plan;
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 3));
      plan += "; ";
    }
    EXPECT_THAT(plan, ::testing::AnyOf(HasSubstr("USING INDEX"), HasSubstr("USING PRIMARY KEY"),
                                       HasSubstr("USING COVERING INDEX")))
        << query;
    EXPECT_THAT(plan, ::testing::Not(HasSubstr("SCAN"))) << query;
  }
}

TEST(Migrations, ReopenedStoreAppliesNothingAndKeepsItsData) {
  TempDir dir;
  const std::string path = dir.path() + "/nexus.db";
  const std::string url = "sqlite://" + path;
  NewWorkspace workspace;
  workspace.organization.id = "org-1";
  workspace.organization.name = "Acme";
  workspace.admin.id = "user-1";
  workspace.admin.organization_id = "org-1";
  workspace.admin.email = "a@acme.example";
  workspace.admin_token.id = "cred-1";
  workspace.admin_token.organization_id = "org-1";
  workspace.admin_token.user_id = "user-1";
  workspace.admin_token.secret_hash = "hash-1";
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(url);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->CreateWorkspace(workspace).ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> reopened = OpenStore(url);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::StatusOr<domain::Organization> got = (*reopened)->GetOrganization("org-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "Acme");
  EXPECT_TRUE((*reopened)->FindActiveCredential("hash-1").ok());

  DbPtr db = OpenRaw(path);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(AllMigrations().size()));
}

TEST(Migrations, OpeningANewerDatabaseIsFailedPrecondition) {
  TempDir dir;
  const std::string path = dir.path() + "/nexus.db";
  ASSERT_TRUE(OpenStore("sqlite://" + path).ok());
  {
    DbPtr db = OpenRaw(path);
    ASSERT_TRUE(
        ExecScript(db.get(), "INSERT INTO schema_migrations (version, applied_at) VALUES (1000, 0)")
            .ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore("sqlite://" + path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("newer nexus"));
}

}  // namespace
}  // namespace nexus::store::sqlite
