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
// The free functions below are the shared SQLite plumbing of this folder (migrations.cc uses
// them too); nothing outside store/ includes this header.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
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

class ConnectionPool;  // sqlite_store.cc

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

 private:
  explicit SqliteStore(std::unique_ptr<ConnectionPool> pool);
  std::unique_ptr<ConnectionPool> pool_;
};

}  // namespace nexus::store::sqlite
