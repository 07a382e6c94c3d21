// File: store/sqlite/sqlite_store.h
//
// Store on SQLite (libsqlite3). A file database runs in WAL mode with synchronous=FULL and
// foreign keys on; the store keeps a pool of `pool_size` connections, each opened NOMUTEX and
// used by one thread at a time (checked out under a mutex, returned by an RAII lease), with its
// prepared statements cached. Every call is one transaction: reads in BEGIN (one snapshot), writes
// in BEGIN IMMEDIATE (SQLite's single writer; waiting longer than busy_timeout for it, or for a
// free connection, answers Unavailable). ":memory:" is a private database on a single connection
// (a shared-cache URI would add table locks that ignore busy_timeout), so all threads see it.
// SQL is static text with bound parameters; statuses follow store.h and never carry SQL.
//
// InsertBatch writes up to a million calls in its one transaction through a cached 100-row INSERT
// re-bound per chunk (and a one-row INSERT for the last few): text is bound SQLITE_STATIC and call
// IDs are formatted into a stack buffer, so no call is copied or allocated before SQLite builds
// its record. A transaction of 10,000 calls or more runs with a 256 MB page cache (back to
// SQLite's default 2 MB when it ends). Batch settings are plain columns: calling_number_ids and
// allowed_days as comma-separated text, the calling hours as minutes after midnight. total_calls
// is stored as the number of calls given (batch.total_calls is not consulted).
//
// Call indexes: a ListCalls that would read every call of a batch of at least
// call_index_min_calls (a search, a phone or variable filter, a sort other than createdAt /
// callStatus) is answered from the batch's in-memory CallIndex (store/call_index.h), built on
// first use — or on a background thread when the batch is first read with another view (the
// default view an operator opens first) — and brought up to the
// query's snapshot through calls_changed (migration 7: every write that changes a call stamps it
// with its batch's next change_seq). The indexes share call_index_max_bytes, least recently used
// out first.
//
// Batch queries (ListCalls, ListBatches, ForEachCall): a batch's calls are one contiguous range of
// the calls primary key, in row order, so the default view and the export read that range in key
// order; a status filter holding at most 25% of the batch reads calls_by_status; counters in
// batch_call_counts (migration 3; written by InsertBatch, adjusted by whatever changes calls)
// answer summaries and status-only totals.
// search is matched per call by the application SQL function nexus_matches() (store/
// search_text.h; nexus_fold() serves the batch-name search), registered on every connection;
// variable conditions and sorts use json_extract with a bound path (json_each for a key
// containing '"').
//
// TEST ONLY fault hook: when the store is opened with StoreOptions::allow_test_faults and the
// environment variable NEXUS_TEST_KILL_AFTER_CALLS=N (N >= 0) is set at open time, InsertBatch
// raises SIGKILL inside its transaction once the batch row and N calls are inserted (N = 0: right
// after the batch row; a batch of fewer than N calls is not affected), so a test can check that a
// kill -9 mid-upload leaves nothing behind. Without allow_test_faults the variable is never read.
//
// The free functions below are the shared SQLite plumbing of this folder (migrations.cc uses
// them too); nothing outside store/ includes this header.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "store/call_index.h"
#include "store/call_index_cache.h"
#include "store/store.h"

namespace nexus::store::sqlite {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, SqliteCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, SqliteCloser>;

// The store-contract status for the failed SQLite result code `rc` (`db`, if given, supplies the
// driver's message, which is logged but not returned): BUSY/LOCKED → Unavailable, FULL →
// ResourceExhausted, a primary-key clash → AlreadyExists ("id"), a known UNIQUE rule →
// AlreadyExists naming its field ("email", "phoneNumber", ...), anything else → Internal.
absl::Status SqliteStatus(int rc, sqlite3* db);

// A connection to `path` (a file or ":memory:") configured like every store connection.
// Unavailable when it cannot be opened or is not a database.
absl::StatusOr<DbPtr> OpenConnection(const std::string& path, const StoreOptions& options);

// Runs `sql` (any number of statements, no parameters) to completion.
absl::Status ExecScript(sqlite3* db, const char* sql);

// Runs `body` between `begin` ("BEGIN" or "BEGIN IMMEDIATE") and COMMIT; on any failure rolls
// back (when a transaction is still open) and returns the first error.
absl::Status InTransaction(sqlite3* db, const char* begin, absl::FunctionRef<absl::Status()> body);

class Connection;       // sqlite_store.cc
class ConnectionPool;   // sqlite_store.cc
class WalCheckpointer;  // wal_checkpointer.h

class SqliteStore final : public Store {
 public:
  // Opens `path` (created if missing), opens the pool and runs pending migrations.
  // FailedPrecondition when the database's schema is newer than this binary.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const StoreOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  absl::Status Ping() override;

  absl::Status CreateWorkspace(const NewWorkspace& workspace) override;
  absl::StatusOr<domain::Organization> GetOrganization(std::string_view org_id) override;
  absl::Status UpdateOrganization(const domain::Organization& organization) override;

  absl::Status InsertUser(const domain::User& user) override;
  absl::StatusOr<domain::User> GetUser(std::string_view org_id, std::string_view user_id) override;
  absl::StatusOr<domain::User> FindUserById(std::string_view user_id) override;

  absl::Status InsertCredential(const domain::Credential& credential) override;
  absl::StatusOr<CredentialOwner> FindActiveCredential(std::string_view secret_hash) override;
  absl::StatusOr<domain::Credential> GetCredential(std::string_view org_id,
                                                   std::string_view credential_id,
                                                   domain::CredentialKind kind) override;
  absl::Status RevokeCredential(std::string_view org_id, std::string_view credential_id,
                                domain::CredentialKind kind, absl::Time when) override;

  absl::Status InsertAgent(const domain::Agent& agent) override;
  absl::Status UpdateAgent(const domain::Agent& agent) override;
  absl::StatusOr<domain::Agent> GetAgent(std::string_view org_id,
                                         std::string_view agent_id) override;
  absl::StatusOr<std::vector<domain::Agent>> ListAgents(std::string_view org_id) override;

  absl::Status InsertPhoneNumber(const domain::PhoneNumber& number) override;
  absl::Status UpdatePhoneNumber(const domain::PhoneNumber& number) override;
  absl::StatusOr<domain::PhoneNumber> GetPhoneNumber(std::string_view org_id,
                                                     std::string_view number_id) override;
  absl::StatusOr<std::vector<domain::PhoneNumber>> ListPhoneNumbers(
      std::string_view org_id) override;

  absl::StatusOr<int64_t> AddDncNumbers(std::string_view org_id,
                                        const std::vector<std::string>& e164_numbers,
                                        absl::Time when) override;
  absl::Status RemoveDncNumber(std::string_view org_id, std::string_view e164) override;
  absl::StatusOr<DncPage> ListDncNumbers(std::string_view org_id, int64_t offset,
                                         int64_t limit) override;
  absl::StatusOr<bool> IsOnDncList(std::string_view org_id, std::string_view e164) override;
  absl::StatusOr<std::vector<std::string>> ListAllDncNumbers(std::string_view org_id) override;

  absl::Status InsertBatch(const domain::Batch& batch, std::span<const NewCall> calls,
                           const SkippedRows& skipped,
                           const IdempotencyRecord* idempotency) override;
  absl::Status ForEachSkippedRow(
      std::string_view org_id, std::string_view batch_id, int64_t after_row, int64_t limit,
      absl::FunctionRef<absl::Status(std::span<const std::string>)> header,
      absl::FunctionRef<absl::Status(const SkippedRow&)> row) override;
  absl::StatusOr<domain::Batch> GetBatch(std::string_view org_id,
                                         std::string_view batch_id) override;
  absl::StatusOr<std::optional<IdempotencyRecord>> FindIdempotencyRecord(
      std::string_view user_id, std::string_view key, absl::Time not_before) override;
  absl::StatusOr<BatchListPage> ListBatches(std::string_view org_id, std::string_view user_id,
                                            std::string_view search, int64_t offset,
                                            int64_t limit) override;
  absl::StatusOr<CallPage> ListCalls(std::string_view org_id, std::string_view batch_id,
                                     const CallQuery& query) override;
  absl::Status ForEachCall(std::string_view org_id, std::string_view batch_id,
                           absl::FunctionRef<absl::Status(const domain::Call&)> fn) override;
  absl::Status ForEachCallAfter(std::string_view org_id, std::string_view batch_id,
                                std::string_view after_id, int64_t limit,
                                absl::FunctionRef<absl::Status(const domain::Call&)> fn) override;
  absl::Status UpdateBatchStatus(std::string_view org_id, std::string_view batch_id,
                                 domain::BatchStatus expected, domain::BatchStatus status,
                                 absl::Time when) override;
  absl::Status DeleteBatch(std::string_view org_id, std::string_view batch_id,
                           absl::Time when) override;

  absl::StatusOr<std::vector<domain::Batch>> ListActiveBatches() override;
  absl::StatusOr<std::vector<DialCandidate>> ListFreshCalls(std::string_view batch_id,
                                                            bool own_zone, int64_t after_seq,
                                                            int limit) override;
  absl::StatusOr<std::vector<DialCandidate>> ListWaitingCalls(std::string_view batch_id,
                                                              absl::Time now, int limit) override;
  absl::StatusOr<std::vector<bool>> StartAttempts(std::span<const AttemptStart> starts,
                                                  absl::Time now) override;
  absl::Status DeferCalls(std::span<const Deferral> deferrals, absl::Time now) override;
  absl::StatusOr<bool> MarkCallDnc(std::string_view call_id, domain::CallStatus expected_status,
                                   int64_t expected_attempts, absl::Time now) override;
  absl::StatusOr<std::vector<OutcomeEffect>> RecordOutcomes(
      std::span<const AttemptOutcome> outcomes, absl::Time now) override;
  absl::StatusOr<CallRef> FindCall(std::string_view call_id) override;
  absl::StatusOr<CallCounts> CountAllCalls() override;
  absl::StatusOr<std::vector<InProgressCall>> ListInProgress(absl::Time until, int limit) override;

  // What the call indexes have done since the store opened (tests, logs).
  struct CallIndexStats {
    int64_t builds = 0;   // indexes built
    int64_t answers = 0;  // ListCalls answered from an index
    size_t bytes = 0;     // held by the indexes now
  };
  CallIndexStats call_index_stats() const;

 private:
  class CallIndexWarmer;

  SqliteStore(std::unique_ptr<WalCheckpointer> checkpointer, std::unique_ptr<ConnectionPool> pool,
              int64_t kill_after_calls, const StoreOptions& options);

  // The batch's call index (built if missing, brought up to c's snapshot), and the page `query`
  // asks for from it; nullopt when the index cannot answer (the batch is not indexable, or the
  // index is ahead of this snapshot) or `query` is null (a warm-up).
  absl::StatusOr<std::optional<CallIndex::Page>> UseCallIndex(Connection& c,
                                                              std::string_view batch_id,
                                                              int64_t batch_total,
                                                              const CallQuery* query);

  // Declared before the pool, so destroyed after the connections whose commits notify it.
  std::unique_ptr<WalCheckpointer> checkpointer_;  // null for ":memory:"
  std::unique_ptr<ConnectionPool> pool_;
  // TEST ONLY: NEXUS_TEST_KILL_AFTER_CALLS when allow_test_faults was set, else -1 (never).
  const int64_t kill_after_calls_;
  const int64_t call_index_min_calls_;
  std::unique_ptr<CallIndexCache> call_indexes_;  // null when disabled
  std::unique_ptr<CallIndexWarmer> warmer_;       // null when disabled
  std::atomic<int64_t> call_index_builds_{0};
  std::atomic<int64_t> call_index_answers_{0};
};

}  // namespace nexus::store::sqlite
