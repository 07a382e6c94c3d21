#include "store/sqlite/migrations.h"

#include <fmt/format.h>

#include <initializer_list>

#include "core/log.h"
#include "core/status.h"
#include "core/time_format.h"
#include "store/sqlite/sqlite_store.h"

namespace nexus::store::sqlite {
namespace {

// Timestamps (*_at) are Unix milliseconds; IDs are the domain's ObjectId strings.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE organizations (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  timezone        TEXT NOT NULL,
  default_country TEXT NOT NULL,
  legal_start     INTEGER,  -- minutes after local midnight; both NULL: no legal window
  legal_end       INTEGER,
  created_at      INTEGER NOT NULL,
  CHECK ((legal_start IS NULL) = (legal_end IS NULL))
);

CREATE TABLE users (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations (id),
  email           TEXT NOT NULL,
  name            TEXT NOT NULL,
  role            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (organization_id, email),
  UNIQUE (organization_id, id)  -- lets credentials require a user of their own organization
);

CREATE TABLE credentials (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations (id),
  user_id         TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('token', 'api_key')),
  name            TEXT NOT NULL,
  secret_hash     TEXT NOT NULL UNIQUE,  -- its index serves the lookup by hash
  created_at      INTEGER NOT NULL,
  revoked_at      INTEGER,
  FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);

CREATE TABLE agents (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations (id),
  name            TEXT NOT NULL,
  language        TEXT,
  dispatch_url    TEXT,
  webhook_secret  TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (organization_id, id)  -- lets phone numbers require an agent of their own organization
);
CREATE INDEX agents_by_organization ON agents (organization_id, created_at);

CREATE TABLE agent_variables (
  agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,  -- declaration order, from 0
  key      TEXT NOT NULL,
  required INTEGER NOT NULL,  -- 0 or 1
  type     TEXT NOT NULL,
  PRIMARY KEY (agent_id, position)
) WITHOUT ROWID;

CREATE TABLE phone_numbers (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations (id),
  e164            TEXT NOT NULL,
  agent_id        TEXT,
  created_at      INTEGER NOT NULL,
  UNIQUE (organization_id, e164),
  FOREIGN KEY (organization_id, agent_id) REFERENCES agents (organization_id, id)
);
CREATE INDEX phone_numbers_by_organization ON phone_numbers (organization_id, created_at);

CREATE TABLE dnc_numbers (
  organization_id TEXT NOT NULL REFERENCES organizations (id),
  e164            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, e164)
) WITHOUT ROWID;
)sql"},
    // Append new migrations here: {2, R"sql(...)sql"}, ...
};

// Runs `sql` with `args` bound to ?1, ?2, ... and returns the first column of its first row
// (0 when it returns no row).
absl::StatusOr<int64_t> StepInt(sqlite3* db, const char* sql, std::initializer_list<int64_t> args) {
  sqlite3_stmt* raw = nullptr;
  if (int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr); rc != SQLITE_OK) {
    return SqliteStatus(rc, db);
  }
  StmtPtr stmt(raw);
  int index = 1;
  for (int64_t arg : args) sqlite3_bind_int64(stmt.get(), index++, arg);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(stmt.get(), 0);
  if (rc == SQLITE_DONE) return 0;
  return SqliteStatus(rc, db);
}

}  // namespace

std::span<const Migration> AllMigrations() { return kMigrations; }

absl::StatusOr<int> SchemaVersion(sqlite3* db) {
  NEXUS_ASSIGN_OR_RETURN(const int64_t has_table,
                         StepInt(db,
                                 "SELECT COUNT(*) FROM sqlite_master "
                                 "WHERE type = 'table' AND name = 'schema_migrations'",
                                 {}));
  if (has_table == 0) return 0;
  NEXUS_ASSIGN_OR_RETURN(
      const int64_t version,
      StepInt(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {}));
  return static_cast<int>(version);
}

absl::StatusOr<int> Migrate(sqlite3* db, absl::Time now, std::span<const Migration> migrations) {
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  const auto newer_than_binary = [latest](int version) {
    return absl::FailedPreconditionError(fmt::format(
        "the database schema is version {} but this nexus binary knows only up to version {}; "
        "run a newer nexus",
        version, latest));
  };
  NEXUS_RETURN_IF_ERROR(ExecScript(db,
                                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"));
  NEXUS_ASSIGN_OR_RETURN(const int initial, SchemaVersion(db));
  if (initial > latest) return newer_than_binary(initial);

  int applied = 0;
  for (const Migration& migration : migrations) {
    if (migration.version <= initial) continue;
    bool ran = false;
    NEXUS_RETURN_IF_ERROR(InTransaction(db, "BEGIN IMMEDIATE", [&]() -> absl::Status {
      // Another process may have migrated since we looked.
      NEXUS_ASSIGN_OR_RETURN(const int current, SchemaVersion(db));
      if (current > latest) return newer_than_binary(current);
      if (current >= migration.version) return absl::OkStatus();
      NEXUS_RETURN_IF_ERROR(ExecScript(db, migration.sql));
      NEXUS_RETURN_IF_ERROR(
          StepInt(db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                  {migration.version, core::ToUnixMillis(now)})
              .status());
      ran = true;
      return absl::OkStatus();
    }));
    if (ran) {
      ++applied;
      core::Log(core::LogLevel::kInfo, "applied schema migration")
          .Int("version", migration.version);
    }
  }
  return applied;
}

}  // namespace nexus::store::sqlite
