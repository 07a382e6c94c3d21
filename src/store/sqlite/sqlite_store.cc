#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>

#include "core/clock.h"
#include "core/log.h"
#include "core/status.h"
#include "core/time_format.h"
#include "store/sqlite/migrations.h"

namespace nexus::store::sqlite {
namespace {

// UNIQUE rules other than primary keys, by the column list SQLite names in "UNIQUE constraint
// failed: <columns>", and the field the caller is told about.
constexpr std::pair<std::string_view, std::string_view> kUniqueFields[] = {
    {"users.organization_id, users.email", "email"},
    {"phone_numbers.organization_id, phone_numbers.e164", "phoneNumber"},
    {"credentials.secret_hash", "secretHash"},
    // Tenancy keys for the same-organization foreign keys; only a taken ID can break them.
    {"users.organization_id, users.id", "id"},
    {"agents.organization_id, agents.id", "id"},
};

absl::Status AlreadyExists(std::string_view field) {
  return absl::AlreadyExistsError(fmt::format("{} already exists", field));
}

}  // namespace

absl::Status SqliteStatus(int rc, sqlite3* db) {
  const std::string_view detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError("database is busy");
    case SQLITE_FULL:
      core::Log(core::LogLevel::kError, "database or disk is full").Str("detail", detail);
      return absl::ResourceExhaustedError("database or disk is full");
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return AlreadyExists("id");
      if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        for (const auto& [columns, field] : kUniqueFields) {
          if (detail.ends_with(columns)) return AlreadyExists(field);
        }
      }
      break;
  }
  core::Log(core::LogLevel::kError, "sqlite error").Int("code", rc).Str("detail", detail);
  return absl::InternalError("database error");
}

absl::StatusOr<DbPtr> OpenConnection(const std::string& path, const StoreOptions& options) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  const auto unavailable = [&path](int code) {
    core::Log(core::LogLevel::kError, "cannot open database")
        .Str("path", path)
        .Str("detail", sqlite3_errstr(code));
    return absl::UnavailableError(
        fmt::format("cannot open database \"{}\": {}", path, sqlite3_errstr(code)));
  };
  if (rc != SQLITE_OK) return unavailable(rc);
  sqlite3_extended_result_codes(db.get(), 1);
  const int64_t timeout_ms = absl::ToInt64Milliseconds(options.busy_timeout);
  sqlite3_busy_timeout(db.get(), static_cast<int>(std::clamp<int64_t>(timeout_ms, 0, INT_MAX)));
  // WAL lets readers run beside the writer; it is meaningless for an in-memory database.
  const char* pragmas = path == ":memory:"
                            ? "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                            : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                              "PRAGMA foreign_keys = ON;";
  if (int pragma_rc = sqlite3_exec(db.get(), pragmas, nullptr, nullptr, nullptr);
      pragma_rc != SQLITE_OK) {
    return unavailable(pragma_rc);
  }
  return db;
}

absl::Status ExecScript(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? absl::OkStatus() : SqliteStatus(rc, db);
}

absl::Status InTransaction(sqlite3* db, const char* begin, absl::FunctionRef<absl::Status()> body) {
  NEXUS_RETURN_IF_ERROR(ExecScript(db, begin));
  absl::Status status = body();
  if (status.ok()) status = ExecScript(db, "COMMIT");
  if (!status.ok() && sqlite3_get_autocommit(db) == 0) {
    if (int rc = sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      core::Log(core::LogLevel::kError, "sqlite rollback failed").Str("detail", sqlite3_errmsg(db));
    }
  }
  return status;
}

namespace {

// SQL text; the consteval constructor admits only compile-time strings, so a statement can never
// be assembled from input, and the text can key the statement cache.
struct Sql {
  consteval Sql(const char* sql) : text(sql) {}  // NOLINT(google-explicit-constructor)
  std::string_view text;
};

// A bound parameter: NULL, an integer or text (copied by SQLite when bound).
using Arg = std::variant<std::nullptr_t, int64_t, std::string_view>;

Arg OptText(const std::optional<std::string>& text) {
  return text ? Arg(std::string_view(*text)) : Arg(nullptr);
}
Arg Millis(absl::Time t) { return core::ToUnixMillis(t); }
Arg OptMillis(const std::optional<absl::Time>& t) { return t ? Millis(*t) : Arg(nullptr); }

int Bind(sqlite3_stmt* stmt, int index, const Arg& arg) {
  if (const auto* value = std::get_if<int64_t>(&arg)) {
    return sqlite3_bind_int64(stmt, index, *value);
  }
  if (const auto* text = std::get_if<std::string_view>(&arg)) {
    // A null data() would bind NULL; an empty string_view still means "".
    return sqlite3_bind_text64(stmt, index, text->data() != nullptr ? text->data() : "",
                               text->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  return sqlite3_bind_null(stmt, index);
}

// A cached statement in use: steps it and reads columns; resets it and clears its bindings when
// destroyed.
class Cursor {
 public:
  Cursor(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Cursor(Cursor&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_) {}
  Cursor& operator=(Cursor&&) = delete;
  ~Cursor() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // True when a row is ready; false when the statement is done.
  absl::StatusOr<bool> Next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(rc, db_);
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  absl::Time Time(int col) const { return core::FromUnixMillis(Int(col)); }
  std::string Text(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return text != nullptr ? std::string(text, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::optional<std::string> OptText(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<std::string>(Text(col));
  }
  std::optional<absl::Time> OptTime(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<absl::Time>(Time(col));
  }

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
};

}  // namespace

// One database connection with its prepared statements. Used by one thread at a time.
class Connection {
 public:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}
  sqlite3* db() const { return db_.get(); }

  // The statement for `sql` (prepared once per connection) with `args` bound to ?1, ?2, ...
  absl::StatusOr<Cursor> Query(Sql sql, std::initializer_list<Arg> args) {
    StmtPtr& stmt = statements_[sql.text];
    if (stmt == nullptr) {
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v3(db(), sql.text.data(), static_cast<int>(sql.text.size()),
                                        SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      if (rc != SQLITE_OK) {
        statements_.erase(sql.text);
        return SqliteStatus(rc, db());
      }
      stmt.reset(raw);
    }
    Cursor cursor(stmt.get(), db());
    int index = 1;
    for (const Arg& arg : args) {
      if (int rc = Bind(stmt.get(), index++, arg); rc != SQLITE_OK) return SqliteStatus(rc, db());
    }
    return cursor;
  }

  // Runs `sql` to completion and returns how many rows it changed.
  absl::StatusOr<int64_t> Exec(Sql sql, std::initializer_list<Arg> args) {
    NEXUS_ASSIGN_OR_RETURN(Cursor cursor, Query(sql, args));
    for (;;) {
      NEXUS_ASSIGN_OR_RETURN(const bool row, cursor.Next());
      if (!row) break;
    }
    return sqlite3_changes64(db());
  }

 private:
  DbPtr db_;
  std::unordered_map<std::string_view, StmtPtr> statements_;  // after db_: finalised first
};

// A fixed set of connections handed out one thread at a time.
class ConnectionPool {
 public:
  // Returns its connection to the pool when destroyed.
  class Lease {
   public:
    Lease(ConnectionPool* pool, Connection* connection) : pool_(pool), connection_(connection) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), connection_(other.connection_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->Release(connection_);
    }
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_; }

   private:
    ConnectionPool* pool_;
    Connection* connection_;
  };

  ConnectionPool(std::vector<std::unique_ptr<Connection>> connections, absl::Duration max_wait)
      : max_wait_(std::clamp(absl::ToChronoMilliseconds(max_wait), std::chrono::milliseconds(0),
                             std::chrono::milliseconds(INT_MAX))),
        connections_(std::move(connections)) {
    for (const auto& connection : connections_) idle_.push_back(connection.get());
  }

  // Waits up to `max_wait` for a free connection; Unavailable after that.
  absl::StatusOr<Lease> Acquire() {
    std::unique_lock lock(mu_);
    if (!idle_cv_.wait_for(lock, max_wait_, [this] { return !idle_.empty(); })) {
      return absl::UnavailableError("database is busy");
    }
    Connection* connection = idle_.back();
    idle_.pop_back();
    return Lease(this, connection);
  }

 private:
  void Release(Connection* connection) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(connection);
    }
    idle_cv_.notify_one();
  }

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer.
  const std::chrono::milliseconds max_wait_;
  const std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::vector<Connection*> idle_;  // guarded by mu_
};

namespace {

enum class Mode { kRead, kWrite };

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Runs `fn(connection)` in one transaction on a pooled connection and returns its result
// (absl::Status or absl::StatusOr<T>); a failure anywhere rolls everything back.
template <typename Fn>
std::invoke_result_t<Fn&, Connection&> Transact(ConnectionPool& pool, Mode mode, Fn&& fn) {
  NEXUS_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, pool.Acquire());
  std::optional<std::invoke_result_t<Fn&, Connection&>> result;
  NEXUS_RETURN_IF_ERROR(InTransaction(
      lease->db(), mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN", [&]() -> absl::Status {
        result.emplace(fn(*lease));
        return StatusOf(*result);
      }));
  return *std::move(result);
}

// The first row of `sql` through `read`, or NotFound("<what> not found").
template <typename Read>
auto SelectOne(Connection& c, std::string_view what, Sql sql, std::initializer_list<Arg> args,
               Read read) -> std::invoke_result_t<Read&, const Cursor&> {
  NEXUS_ASSIGN_OR_RETURN(Cursor row, c.Query(sql, args));
  NEXUS_ASSIGN_OR_RETURN(const bool found, row.Next());
  if (!found) return absl::NotFoundError(fmt::format("{} not found", what));
  return read(row);
}

// Every row of `sql` through `read`.
template <typename Read,
          typename T = typename std::invoke_result_t<Read&, const Cursor&>::value_type>
absl::StatusOr<std::vector<T>> SelectAll(Connection& c, Sql sql, std::initializer_list<Arg> args,
                                         Read read) {
  std::vector<T> items;
  NEXUS_ASSIGN_OR_RETURN(Cursor row, c.Query(sql, args));
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(const bool more, row.Next());
    if (!more) break;
    NEXUS_ASSIGN_OR_RETURN(T item, read(row));
    items.push_back(std::move(item));
  }
  return items;
}

// OK when `changes` is at least one row; NotFound("<what> not found") when none.
absl::Status ChangedSome(const absl::StatusOr<int64_t>& changes, std::string_view what) {
  NEXUS_RETURN_IF_ERROR(changes.status());
  if (*changes == 0) return absl::NotFoundError(fmt::format("{} not found", what));
  return absl::OkStatus();
}

absl::Status Corrupt(std::string_view what) {
  core::Log(core::LogLevel::kError, "invalid value in database").Str("field", what);
  return absl::InternalError("database error");
}

std::string_view KindName(domain::CredentialKind kind) {
  return kind == domain::CredentialKind::kApiKey ? "api_key" : "token";
}

absl::StatusOr<int64_t> ReadInt(const Cursor& row) { return row.Int(0); }

// --- row readers: each takes the columns its SELECTs list, in that order -------------------

// id, name, timezone, default_country, legal_start, legal_end, created_at
absl::StatusOr<domain::Organization> ReadOrganization(const Cursor& row) {
  domain::Organization org{.id = row.Text(0),
                           .name = row.Text(1),
                           .timezone = row.Text(2),
                           .default_country = row.Text(3),
                           .legal_window = std::nullopt,
                           .created_at = row.Time(6)};
  if (!row.IsNull(4)) {
    org.legal_window =
        domain::DailyWindow{{static_cast<int>(row.Int(4))}, {static_cast<int>(row.Int(5))}};
  }
  return org;
}

// id, organization_id, email, name, role, created_at (from column `col`)
absl::StatusOr<domain::User> ReadUser(const Cursor& row, int col) {
  const std::optional<domain::Role> role = domain::ParseRole(row.Text(col + 4));
  if (!role) return Corrupt("users.role");
  return domain::User{.id = row.Text(col),
                      .organization_id = row.Text(col + 1),
                      .email = row.Text(col + 2),
                      .name = row.Text(col + 3),
                      .role = *role,
                      .created_at = row.Time(col + 5)};
}

// id, organization_id, user_id, kind, name, secret_hash, created_at, revoked_at
absl::StatusOr<domain::Credential> ReadCredential(const Cursor& row) {
  const std::string kind = row.Text(3);
  if (kind != "token" && kind != "api_key") return Corrupt("credentials.kind");
  return domain::Credential{
      .id = row.Text(0),
      .organization_id = row.Text(1),
      .user_id = row.Text(2),
      .kind = kind == "api_key" ? domain::CredentialKind::kApiKey : domain::CredentialKind::kToken,
      .name = row.Text(4),
      .secret_hash = row.Text(5),
      .created_at = row.Time(6),
      .revoked_at = row.OptTime(7)};
}

// id, organization_id, name, language, dispatch_url, webhook_secret, created_at, updated_at
// (variables are loaded separately by LoadVariables)
absl::StatusOr<domain::Agent> ReadAgent(const Cursor& row) {
  return domain::Agent{.id = row.Text(0),
                       .organization_id = row.Text(1),
                       .name = row.Text(2),
                       .language = row.OptText(3),
                       .variables = {},
                       .dispatch_url = row.OptText(4),
                       .webhook_secret = row.Text(5),
                       .created_at = row.Time(6),
                       .updated_at = row.Time(7)};
}

// key, required, type
absl::StatusOr<domain::Variable> ReadVariable(const Cursor& row) {
  const std::optional<domain::VariableType> type = domain::ParseVariableType(row.Text(2));
  if (!type) return Corrupt("agent_variables.type");
  return domain::Variable{.key = row.Text(0), .required = row.Int(1) != 0, .type = *type};
}

// id, organization_id, e164, agent_id, created_at
absl::StatusOr<domain::PhoneNumber> ReadPhoneNumber(const Cursor& row) {
  return domain::PhoneNumber{.id = row.Text(0),
                             .organization_id = row.Text(1),
                             .e164 = row.Text(2),
                             .agent_id = row.OptText(3),
                             .created_at = row.Time(4)};
}

// e164, created_at
absl::StatusOr<domain::DncEntry> ReadDncEntry(const Cursor& row) {
  return domain::DncEntry{.e164 = row.Text(0), .created_at = row.Time(1)};
}

absl::Status LoadVariables(Connection& c, domain::Agent& agent) {
  NEXUS_ASSIGN_OR_RETURN(agent.variables,
                         SelectAll(c,
                                   "SELECT key, required, type FROM agent_variables "
                                   "WHERE agent_id = ? ORDER BY position",
                                   {agent.id}, ReadVariable));
  return absl::OkStatus();
}

// --- inserts -----------------------------------------------------------------------------

absl::Status Insert(Connection& c, const domain::Organization& org) {
  const auto& window = org.legal_window;
  return c
      .Exec(
          "INSERT INTO organizations "
          "(id, name, timezone, default_country, legal_start, legal_end, created_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)",
          {org.id, org.name, org.timezone, org.default_country,
           window ? Arg(int64_t{window->start.minutes}) : Arg(nullptr),
           window ? Arg(int64_t{window->end.minutes}) : Arg(nullptr), Millis(org.created_at)})
      .status();
}

absl::Status Insert(Connection& c, const domain::User& user) {
  return c
      .Exec(
          "INSERT INTO users (id, organization_id, email, name, role, created_at) "
          "VALUES (?, ?, ?, ?, ?, ?)",
          {user.id, user.organization_id, user.email, user.name, domain::RoleName(user.role),
           Millis(user.created_at)})
      .status();
}

absl::Status Insert(Connection& c, const domain::Credential& cred) {
  return c
      .Exec(
          "INSERT INTO credentials (id, organization_id, user_id, kind, name, secret_hash, "
          "created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          {cred.id, cred.organization_id, cred.user_id, KindName(cred.kind), cred.name,
           cred.secret_hash, Millis(cred.created_at), OptMillis(cred.revoked_at)})
      .status();
}

absl::Status InsertVariables(Connection& c, const domain::Agent& agent) {
  int64_t position = 0;
  for (const domain::Variable& v : agent.variables) {
    NEXUS_RETURN_IF_ERROR(
        c.Exec("INSERT INTO agent_variables (agent_id, position, key, required, "
               "type) VALUES (?, ?, ?, ?, ?)",
               {agent.id, position++, v.key, int64_t{v.required}, domain::VariableTypeName(v.type)})
            .status());
  }
  return absl::OkStatus();
}

absl::Status Insert(Connection& c, const domain::Agent& agent) {
  NEXUS_RETURN_IF_ERROR(
      c.Exec("INSERT INTO agents (id, organization_id, name, language, "
             "dispatch_url, webhook_secret, created_at, updated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             {agent.id, agent.organization_id, agent.name, OptText(agent.language),
              OptText(agent.dispatch_url), agent.webhook_secret, Millis(agent.created_at),
              Millis(agent.updated_at)})
          .status());
  return InsertVariables(c, agent);
}

absl::Status Insert(Connection& c, const domain::PhoneNumber& number) {
  return c
      .Exec(
          "INSERT INTO phone_numbers (id, organization_id, e164, agent_id, created_at) "
          "VALUES (?, ?, ?, ?, ?)",
          {number.id, number.organization_id, number.e164, OptText(number.agent_id),
           Millis(number.created_at)})
      .status();
}

}  // namespace

// --- SqliteStore ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const StoreOptions& options) {
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be at least 1");
  // An in-memory database exists per connection, so ":memory:" gets exactly one.
  const int size = path == ":memory:" ? 1 : options.pool_size;
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < size; ++i) {
    NEXUS_ASSIGN_OR_RETURN(DbPtr db, OpenConnection(path, options));
    if (i == 0) {
      NEXUS_RETURN_IF_ERROR(Migrate(db.get(), core::RealClock::Real().Now()).status());
    }
    connections.push_back(std::make_unique<Connection>(std::move(db)));
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(
      std::make_unique<ConnectionPool>(std::move(connections), options.busy_timeout)));
}

SqliteStore::SqliteStore(std::unique_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}
SqliteStore::~SqliteStore() = default;

absl::Status SqliteStore::Ping() {
  return Transact(*pool_, Mode::kRead, [](Connection& c) {
    return SelectOne(c, "row", "SELECT 1", {}, ReadInt).status();
  });
}

absl::Status SqliteStore::CreateWorkspace(const NewWorkspace& workspace) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::Status {
    NEXUS_RETURN_IF_ERROR(Insert(c, workspace.organization));
    NEXUS_RETURN_IF_ERROR(Insert(c, workspace.admin));
    NEXUS_RETURN_IF_ERROR(Insert(c, workspace.admin_token));
    if (workspace.agent) NEXUS_RETURN_IF_ERROR(Insert(c, *workspace.agent));
    if (workspace.phone_number) NEXUS_RETURN_IF_ERROR(Insert(c, *workspace.phone_number));
    return absl::OkStatus();
  });
}

absl::StatusOr<domain::Organization> SqliteStore::GetOrganization(std::string_view org_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(c, "organization",
                     "SELECT id, name, timezone, default_country, legal_start, legal_end, "
                     "created_at FROM organizations WHERE id = ?",
                     {org_id}, ReadOrganization);
  });
}

absl::Status SqliteStore::UpdateOrganization(const domain::Organization& org) {
  const auto& window = org.legal_window;
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) {
    return ChangedSome(
        c.Exec("UPDATE organizations SET name = ?, timezone = ?, default_country = ?, "
               "legal_start = ?, legal_end = ? WHERE id = ?",
               {org.name, org.timezone, org.default_country,
                window ? Arg(int64_t{window->start.minutes}) : Arg(nullptr),
                window ? Arg(int64_t{window->end.minutes}) : Arg(nullptr), org.id}),
        "organization");
  });
}

absl::Status SqliteStore::InsertUser(const domain::User& user) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) { return Insert(c, user); });
}

absl::StatusOr<domain::User> SqliteStore::GetUser(std::string_view org_id,
                                                  std::string_view user_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(c, "user",
                     "SELECT id, organization_id, email, name, role, created_at FROM users "
                     "WHERE organization_id = ? AND id = ?",
                     {org_id, user_id}, [](const Cursor& row) { return ReadUser(row, 0); });
  });
}

absl::StatusOr<domain::User> SqliteStore::FindUserById(std::string_view user_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(c, "user",
                     "SELECT id, organization_id, email, name, role, created_at FROM users "
                     "WHERE id = ?",
                     {user_id}, [](const Cursor& row) { return ReadUser(row, 0); });
  });
}

absl::Status SqliteStore::InsertCredential(const domain::Credential& credential) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) { return Insert(c, credential); });
}

absl::StatusOr<CredentialOwner> SqliteStore::FindActiveCredential(std::string_view secret_hash) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(
        c, "credential",
        "SELECT c.id, c.organization_id, c.user_id, c.kind, c.name, c.secret_hash, c.created_at, "
        "c.revoked_at, u.id, u.organization_id, u.email, u.name, u.role, u.created_at "
        "FROM credentials c JOIN users u ON u.id = c.user_id "
        "WHERE c.secret_hash = ? AND c.revoked_at IS NULL",
        {secret_hash}, [](const Cursor& row) -> absl::StatusOr<CredentialOwner> {
          NEXUS_ASSIGN_OR_RETURN(domain::Credential credential, ReadCredential(row));
          NEXUS_ASSIGN_OR_RETURN(domain::User user, ReadUser(row, 8));
          return CredentialOwner{std::move(credential), std::move(user)};
        });
  });
}

absl::StatusOr<domain::Credential> SqliteStore::GetCredential(std::string_view org_id,
                                                              std::string_view credential_id,
                                                              domain::CredentialKind kind) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(
        c, "credential",
        "SELECT id, organization_id, user_id, kind, name, secret_hash, created_at, "
        "revoked_at FROM credentials WHERE organization_id = ? AND id = ? AND kind = ?",
        {org_id, credential_id, KindName(kind)}, ReadCredential);
  });
}

absl::Status SqliteStore::RevokeCredential(std::string_view org_id, std::string_view credential_id,
                                           domain::CredentialKind kind, absl::Time when) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) {
    // COALESCE keeps the first revocation time, so revoking again changes nothing.
    return ChangedSome(c.Exec("UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) "
                              "WHERE organization_id = ? AND id = ? AND kind = ?",
                              {Millis(when), org_id, credential_id, KindName(kind)}),
                       "credential");
  });
}

absl::Status SqliteStore::InsertAgent(const domain::Agent& agent) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) { return Insert(c, agent); });
}

absl::Status SqliteStore::UpdateAgent(const domain::Agent& agent) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::Status {
    NEXUS_RETURN_IF_ERROR(ChangedSome(
        c.Exec("UPDATE agents SET name = ?, language = ?, dispatch_url = ?, "
               "webhook_secret = ?, updated_at = ? WHERE organization_id = ? AND id = ?",
               {agent.name, OptText(agent.language), OptText(agent.dispatch_url),
                agent.webhook_secret, Millis(agent.updated_at), agent.organization_id, agent.id}),
        "agent"));
    NEXUS_RETURN_IF_ERROR(
        c.Exec("DELETE FROM agent_variables WHERE agent_id = ?", {agent.id}).status());
    return InsertVariables(c, agent);
  });
}

absl::StatusOr<domain::Agent> SqliteStore::GetAgent(std::string_view org_id,
                                                    std::string_view agent_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<domain::Agent> {
    NEXUS_ASSIGN_OR_RETURN(
        domain::Agent agent,
        SelectOne(c, "agent",
                  "SELECT id, organization_id, name, language, dispatch_url, webhook_secret, "
                  "created_at, updated_at FROM agents WHERE organization_id = ? AND id = ?",
                  {org_id, agent_id}, ReadAgent));
    NEXUS_RETURN_IF_ERROR(LoadVariables(c, agent));
    return agent;
  });
}

absl::StatusOr<std::vector<domain::Agent>> SqliteStore::ListAgents(std::string_view org_id) {
  return Transact(*pool_, Mode::kRead,
                  [&](Connection& c) -> absl::StatusOr<std::vector<domain::Agent>> {
                    NEXUS_ASSIGN_OR_RETURN(
                        std::vector<domain::Agent> agents,
                        SelectAll(c,
                                  "SELECT id, organization_id, name, language, dispatch_url, "
                                  "webhook_secret, created_at, updated_at FROM agents "
                                  "WHERE organization_id = ? ORDER BY created_at, id",
                                  {org_id}, ReadAgent));
                    for (domain::Agent& agent : agents) {
                      NEXUS_RETURN_IF_ERROR(LoadVariables(c, agent));
                    }
                    return agents;
                  });
}

absl::Status SqliteStore::InsertPhoneNumber(const domain::PhoneNumber& number) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) { return Insert(c, number); });
}

absl::Status SqliteStore::UpdatePhoneNumber(const domain::PhoneNumber& number) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) {
    return ChangedSome(c.Exec("UPDATE phone_numbers SET agent_id = ? "
                              "WHERE organization_id = ? AND id = ?",
                              {OptText(number.agent_id), number.organization_id, number.id}),
                       "phone number");
  });
}

absl::StatusOr<domain::PhoneNumber> SqliteStore::GetPhoneNumber(std::string_view org_id,
                                                                std::string_view number_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(c, "phone number",
                     "SELECT id, organization_id, e164, agent_id, created_at FROM phone_numbers "
                     "WHERE organization_id = ? AND id = ?",
                     {org_id, number_id}, ReadPhoneNumber);
  });
}

absl::StatusOr<std::vector<domain::PhoneNumber>> SqliteStore::ListPhoneNumbers(
    std::string_view org_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectAll(c,
                     "SELECT id, organization_id, e164, agent_id, created_at FROM phone_numbers "
                     "WHERE organization_id = ? ORDER BY created_at, id",
                     {org_id}, ReadPhoneNumber);
  });
}

absl::StatusOr<int64_t> SqliteStore::AddDncNumbers(std::string_view org_id,
                                                   const std::vector<std::string>& e164_numbers,
                                                   absl::Time when) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::StatusOr<int64_t> {
    int64_t added = 0;
    for (const std::string& e164 : e164_numbers) {
      NEXUS_ASSIGN_OR_RETURN(const int64_t changes,
                             c.Exec("INSERT OR IGNORE INTO dnc_numbers (organization_id, e164, "
                                    "created_at) VALUES (?, ?, ?)",
                                    {org_id, e164, Millis(when)}));
      added += changes;
    }
    return added;
  });
}

absl::Status SqliteStore::RemoveDncNumber(std::string_view org_id, std::string_view e164) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) {
    return ChangedSome(
        c.Exec("DELETE FROM dnc_numbers WHERE organization_id = ? AND e164 = ?", {org_id, e164}),
        "do-not-call number");
  });
}

absl::StatusOr<DncPage> SqliteStore::ListDncNumbers(std::string_view org_id, int64_t offset,
                                                    int64_t limit) {
  if (offset < 0 || limit < 0) {
    return absl::InvalidArgumentError("offset and limit must not be negative");
  }
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<DncPage> {
    DncPage page;
    NEXUS_ASSIGN_OR_RETURN(
        page.total,
        SelectOne(c, "count", "SELECT COUNT(*) FROM dnc_numbers WHERE organization_id = ?",
                  {org_id}, ReadInt));
    NEXUS_ASSIGN_OR_RETURN(page.entries,
                           SelectAll(c,
                                     "SELECT e164, created_at FROM dnc_numbers "
                                     "WHERE organization_id = ? ORDER BY e164 LIMIT ? OFFSET ?",
                                     {org_id, limit, offset}, ReadDncEntry));
    return page;
  });
}

absl::StatusOr<bool> SqliteStore::IsOnDncList(std::string_view org_id, std::string_view e164) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<bool> {
    NEXUS_ASSIGN_OR_RETURN(const int64_t found,
                           SelectOne(c, "row",
                                     "SELECT EXISTS (SELECT 1 FROM dnc_numbers "
                                     "WHERE organization_id = ? AND e164 = ?)",
                                     {org_id, e164}, ReadInt));
    return found != 0;
  });
}

}  // namespace nexus::store::sqlite
