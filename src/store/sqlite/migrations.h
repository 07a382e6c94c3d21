// File: store/sqlite/migrations.h
//
// The SQLite schema as an ordered list of versioned SQL scripts compiled into the binary.
// schema_migrations(version, applied_at) records the ones applied. Migrate() runs each pending
// script and its record in one BEGIN IMMEDIATE transaction, re-reading the version inside it, so
// an up-to-date database is left alone and two processes starting together apply each script
// once. A database newer than the binary is refused rather than touched. To change the schema,
// append a migration with the next version; never edit one that has shipped.
#pragma once

#include <sqlite3.h>

#include <span>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nexus::store::sqlite {

struct Migration {
  int version;      // 1, 2, 3, ... in list order
  const char* sql;  // one or more statements
};

// Every migration this binary knows, in version order.
std::span<const Migration> AllMigrations();

// The highest version recorded in schema_migrations; 0 when the table is missing or empty.
absl::StatusOr<int> SchemaVersion(sqlite3* db);

// Applies the migrations of `migrations` newer than the database, in order, stamping them `now`,
// and returns how many ran. A failing script changes nothing (earlier ones stay applied).
// FailedPrecondition when the database's version is above the last of `migrations`.
absl::StatusOr<int> Migrate(sqlite3* db, absl::Time now,
                            std::span<const Migration> migrations = AllMigrations());

}  // namespace nexus::store::sqlite
