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
    // Batches and their calls (SPEC §4-§6), and the stored answers of Idempotency-Key requests.
    {2, R"sql(
CREATE TABLE batches (
  id                 TEXT PRIMARY KEY,
  organization_id    TEXT NOT NULL REFERENCES organizations (id),
  user_id            TEXT NOT NULL,  -- owner
  agent_id           TEXT NOT NULL,
  call_id_prefix     TEXT NOT NULL,  -- 18 hex digits; call i is this + 6 hex digits of i
  name               TEXT NOT NULL,
  type               TEXT NOT NULL,  -- domain::BatchTypeName
  status             TEXT NOT NULL,  -- domain::BatchStatusName
  calling_number_ids TEXT NOT NULL,  -- phone-number IDs, comma-separated, in the given order
  retry              INTEGER NOT NULL,
  delay_seconds      INTEGER NOT NULL,
  timezone           TEXT NOT NULL,     -- IANA
  calling_start      INTEGER NOT NULL,  -- minutes after local midnight
  calling_end        INTEGER NOT NULL,
  allowed_days       TEXT NOT NULL,     -- "1,2,3,4,5": sorted, 0 = Sunday
  enable_dnc         INTEGER NOT NULL,  -- 0 or 1
  default_country    TEXT NOT NULL,
  total_calls        INTEGER NOT NULL,
  deleted_at         INTEGER,           -- soft delete; NULL while the batch exists
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL
);
CREATE INDEX batches_by_organization ON batches (organization_id, created_at);
CREATE INDEX batches_by_user ON batches (user_id, created_at);

-- One upload inserts up to 1,000,000 rows here in one transaction, so the table carries only the
-- indexes that insert needs to pay for. batch_id has no FOREIGN KEY: its check is a lookup in
-- batches per row (measured +5-10% CPU for 1M calls), and InsertBatch writes the batch row in the
-- same transaction as its calls. Deleting a batch is a soft delete (batches.deleted_at).
CREATE TABLE calls (
  id              TEXT PRIMARY KEY,  -- batches.call_id_prefix + 6 hex digits of seq
  batch_id        TEXT NOT NULL,
  seq             INTEGER NOT NULL,  -- the upload's row order, from 0
  phone           TEXT NOT NULL,     -- E.164
  timezone        TEXT,              -- the contact's own IANA zone; NULL: the batch's
  variables       TEXT NOT NULL,     -- JSON object of string values
  status          TEXT NOT NULL DEFAULT 'queued',  -- domain::CallStatusName
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX calls_by_batch ON calls (batch_id, seq);

CREATE TABLE idempotency_keys (
  user_id       TEXT NOT NULL,
  key           TEXT NOT NULL,
  fingerprint   TEXT NOT NULL,  -- SHA-256 hex of the request
  http_status   INTEGER NOT NULL,
  response_body TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
)sql"},
    // Batch details, batch lists and the CSV export (SPEC §5, §6).
    //  - batches.variable_keys: the calls' variable keys in the file's column order (JSON array).
    //    (`search` needs no column: it is matched per call by nexus_matches(), see
    //    store/search_text.h; a stored folded text measured +1.1 s on a 1M-call upload.)
    //  - calls_by_status: status filters and sorts, and search inside one status, without a scan
    //    of the whole batch (measured cost: docs/architecture.md "Batch queries").
    //  - batch_call_counts: per-batch counters so summaries and list rows cost one row read, not
    //    a scan of up to 1M calls. picked = calls with attempts > 0; finished = calls in a final
    //    status: completed, dnc, canceled, or failed/no_answer/busy with no next attempt
    //    scheduled. InsertBatch writes a batch's row (queued = its calls). Whatever later
    //    inserts calls or changes a call's status, attempts or next_attempt_at must adjust the
    //    row in the same transaction (a bulk change can recount it like the backfill below).
    //    Not a trigger: any UPDATE of calls would then need a statement journal, which measured
    //    34 s instead of 1.1 s to cancel 267k queued calls (docs/architecture.md).
    {3, R"sql(
ALTER TABLE batches ADD COLUMN variable_keys TEXT NOT NULL DEFAULT '[]';
CREATE INDEX calls_by_status ON calls (batch_id, status, seq);

CREATE TABLE batch_call_counts (
  batch_id    TEXT PRIMARY KEY,
  queued      INTEGER NOT NULL DEFAULT 0,
  in_progress INTEGER NOT NULL DEFAULT 0,
  completed   INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  no_answer   INTEGER NOT NULL DEFAULT 0,
  busy        INTEGER NOT NULL DEFAULT 0,
  dnc         INTEGER NOT NULL DEFAULT 0,
  canceled    INTEGER NOT NULL DEFAULT 0,
  picked      INTEGER NOT NULL DEFAULT 0,
  finished    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO batch_call_counts (batch_id, queued, in_progress, completed, failed, no_answer, busy,
                               dnc, canceled, picked, finished)
SELECT batch_id, SUM(status = 'queued'), SUM(status = 'in_progress'), SUM(status = 'completed'),
       SUM(status = 'failed'), SUM(status = 'no_answer'), SUM(status = 'busy'),
       SUM(status = 'dnc'), SUM(status = 'canceled'), SUM(attempts > 0),
       SUM(status IN ('completed', 'dnc', 'canceled')
           OR (status IN ('failed', 'no_answer', 'busy') AND next_attempt_at IS NULL))
FROM calls GROUP BY batch_id;
INSERT OR IGNORE INTO batch_call_counts (batch_id) SELECT id FROM batches;

UPDATE batches SET variable_keys = COALESCE(
  (SELECT json_group_array(key) FROM
     (SELECT DISTINCT j.key AS key FROM calls c, json_each(c.variables) j
      WHERE c.batch_id = batches.id)), '[]');
)sql"},
    // calls_by_batch is never read: a batch's calls are one primary-key range in row order
    // (call_id_prefix + counter). Dropping it takes ~0.4 s off a 1M-call upload.
    {4, R"sql(
DROP INDEX calls_by_batch;
)sql"},
    // Lenient uploads keep the rows they skipped (first error + the cells as read) and the file's
    // header, for GET /api/call/batch/{id}/invalid-rows.csv; written in InsertBatch's transaction.
    {5, R"sql(
CREATE TABLE batch_skipped_rows (
  batch_id    TEXT NOT NULL,
  row         INTEGER NOT NULL,  -- spreadsheet row number
  column_name TEXT NOT NULL,     -- the first error's column
  message     TEXT NOT NULL,     -- the first error's message
  cells       TEXT NOT NULL,     -- JSON array of the row's cells as read
  PRIMARY KEY (batch_id, row)
) WITHOUT ROWID;
ALTER TABLE batches ADD COLUMN source_columns TEXT NOT NULL DEFAULT '[]';
)sql"},
    // Dialling (SPEC §6). Every index here is partial on columns an upload leaves NULL (or on
    // calls with their own time zone), so a large upload pays nothing for them.
    //  - calls_waiting: calls whose next attempt is scheduled (deferred to their window's
    //    opening, or a retry), per batch by due time.
    //  - calls_own_zone: queued, never-deferred calls with their own time zone; calls on the
    //    batch's zone are read through calls_by_status while the batch's window is open.
    //  - calls_in_progress: attempts by deadline (timeouts; restart recovery).
    //  - call_logs: one row per reported outcome (phoneLogs); a repeated report of the same
    //    outcome for the same attempt hits the primary key and changes nothing.
    {6, R"sql(
ALTER TABLE calls ADD COLUMN attempt_deadline INTEGER;  -- in_progress: when it counts as failed
ALTER TABLE calls ADD COLUMN dialed_from TEXT;          -- calling number of the latest attempt
CREATE INDEX calls_waiting ON calls (batch_id, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX calls_own_zone ON calls (batch_id, seq)
  WHERE status = 'queued' AND timezone IS NOT NULL AND next_attempt_at IS NULL;
CREATE INDEX calls_in_progress ON calls (attempt_deadline) WHERE attempt_deadline IS NOT NULL;
CREATE TABLE call_logs (
  call_id          TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  status           TEXT NOT NULL,
  duration_seconds INTEGER,
  recording_url    TEXT NOT NULL,
  transcript       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  PRIMARY KEY (call_id, attempt, status)
) WITHOUT ROWID;
)sql"},
    // Change tracking for the in-memory call indexes (store/call_index.h): every write that
    // changes a call's status, attempts or updated_at bumps its batch's change_seq and stamps the
    // call with the new value, so an index built at change_seq N catches up by reading the
    // calls_changed entries above N. The index is partial on change_seq > 0, which an upload
    // never writes, so a large upload pays nothing for it.
    {7, R"sql(
ALTER TABLE calls ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_call_counts ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX calls_changed ON calls (batch_id, change_seq) WHERE change_seq > 0;
)sql"},
    // calls_by_status leaves queued calls out — every call of a fresh upload — which takes
    // ~0.65 s (30 %) off the insert of a 1M-call batch. Status filters and sorts that need
    // queued calls read the batch's key range or its in-memory call index (store/call_index.h);
    // the dialler reads a batch's fresh calls in key order from its cursor.
    {8, R"sql(
DROP INDEX calls_by_status;
CREATE INDEX calls_by_status ON calls (batch_id, status, seq) WHERE status <> 'queued';
)sql"},
    // Append new migrations here: {9, R"sql(...)sql"}, ...
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
