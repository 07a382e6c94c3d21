#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>

#include "core/clock.h"
#include "core/json_escape.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/status.h"
#include "core/time_format.h"
#include "store/search_text.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/wal_checkpointer.h"

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
    // A composite primary key reports SQLITE_CONSTRAINT_PRIMARYKEY with its columns.
    {"idempotency_keys.user_id, idempotency_keys.key", "idempotencyKey"},
};

absl::Status AlreadyExists(std::string_view field) {
  return absl::AlreadyExistsError(fmt::format("{} already exists", field));
}

std::string_view ValueText(sqlite3_value* value) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
  return text != nullptr ? std::string_view(text, sqlite3_value_bytes(value)) : std::string_view();
}

void ResultText(sqlite3_context* context, const std::string& text) {
  sqlite3_result_text64(context, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

// nexus_matches(phone, variables_json, folded_term): whether a call matches a search term
// (CallMatches, store/search_text.h).
void MatchesFunction(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  const bool matches = CallMatches(ValueText(argv[0]), ValueText(argv[1]), ValueText(argv[2]));
  sqlite3_result_int(context, matches ? 1 : 0);
}

// nexus_fold(text): `text` case-folded like search terms.
void FoldFunction(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  ResultText(context, Folded(ValueText(argv[0])));
}

// The application functions the store's SQL uses. Only statements use them (no schema object
// does), so the database stays readable by any SQLite tool.
int RegisterFunctions(sqlite3* db) {
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function_v2(db, "nexus_matches", 3, kFlags, nullptr, MatchesFunction,
                                      nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "nexus_fold", 1, kFlags, nullptr, FoldFunction, nullptr,
                                    nullptr, nullptr);
  }
  return rc;
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
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        for (const auto& [columns, field] : kUniqueFields) {
          if (detail.ends_with(columns)) return AlreadyExists(field);
        }
      }
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return AlreadyExists("id");
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
  if (options.allow_test_faults && options.test_max_page_count > 0) {
    const std::string cap = fmt::format("PRAGMA max_page_count = {};", options.test_max_page_count);
    if (int cap_rc = sqlite3_exec(db.get(), cap.c_str(), nullptr, nullptr, nullptr);
        cap_rc != SQLITE_OK) {
      return unavailable(cap_rc);
    }
  }
  if (int function_rc = RegisterFunctions(db.get()); function_rc != SQLITE_OK) {
    return unavailable(function_rc);
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
  // Valid until the cursor steps or is reset.
  std::string_view TextView(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return text != nullptr ? std::string_view(text, sqlite3_column_bytes(stmt_, col))
                           : std::string_view();
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

  // The statement for `sql`, prepared once per connection (reset, with no bindings, between
  // uses). The caller binds and steps it directly and must reset it and clear its bindings when
  // done (a Cursor over it does both).
  absl::StatusOr<sqlite3_stmt*> Prepare(Sql sql) {
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
    return stmt.get();
  }

  // The statement for `sql` (prepared once per connection) with `args` bound to ?1, ?2, ...
  absl::StatusOr<Cursor> Query(Sql sql, std::initializer_list<Arg> args) {
    return QueryArgs(sql, std::span<const Arg>(args.begin(), args.size()));
  }
  absl::StatusOr<Cursor> QueryArgs(Sql sql, std::span<const Arg> args) {
    NEXUS_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    Cursor cursor(stmt, db());
    int index = 1;
    for (const Arg& arg : args) {
      if (int rc = Bind(stmt, index++, arg); rc != SQLITE_OK) return SqliteStatus(rc, db());
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

// The comma-separated items of `text` ("" has none).
std::vector<std::string_view> SplitList(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    items.push_back(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return items;
}

std::optional<int> ParseSmallInt(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<domain::TimeOfDay> ReadTimeOfDay(const Cursor& row, int col) {
  const int64_t minutes = row.Int(col);
  if (row.IsNull(col) || minutes < 0 || minutes >= 24 * 60) return std::nullopt;
  return domain::TimeOfDay{static_cast<int>(minutes)};
}

// The columns ReadBatch reads, in its order (statements: NEXUS_SELECT_BATCH "FROM batches ...").
#define NEXUS_SELECT_BATCH                                                              \
  "SELECT id, organization_id, user_id, agent_id, call_id_prefix, name, type, status, " \
  "calling_number_ids, retry, delay_seconds, timezone, calling_start, calling_end, "    \
  "allowed_days, enable_dnc, default_country, total_calls, created_at, updated_at, "    \
  "variable_keys "

// id, organization_id, user_id, agent_id, call_id_prefix, name, type, status, calling_number_ids,
// retry, delay_seconds, timezone, calling_start, calling_end, allowed_days, enable_dnc,
// default_country, total_calls, created_at, updated_at, variable_keys
absl::StatusOr<domain::Batch> ReadBatch(const Cursor& row) {
  const std::optional<domain::BatchType> type = domain::ParseBatchType(row.Text(6));
  if (!type) return Corrupt("batches.type");
  const std::optional<domain::BatchStatus> status = domain::ParseBatchStatus(row.Text(7));
  if (!status) return Corrupt("batches.status");
  const std::optional<domain::TimeOfDay> start = ReadTimeOfDay(row, 12);
  const std::optional<domain::TimeOfDay> end = ReadTimeOfDay(row, 13);
  if (!start || !end) return Corrupt("batches.calling_start/end");

  domain::BatchSettings settings{.name = row.Text(5),
                                 .type = *type,
                                 .calling_number_ids = {},
                                 .retry = static_cast<int>(row.Int(9)),
                                 .delay_seconds = row.Int(10),
                                 .timezone = row.Text(11),
                                 .calling_hour = {*start, *end},
                                 .allowed_days = {},
                                 .enable_dnc = row.Int(15) != 0,
                                 .default_country = row.Text(16)};
  const std::string numbers = row.Text(8);
  for (std::string_view id : SplitList(numbers)) settings.calling_number_ids.emplace_back(id);
  const std::string days = row.Text(14);
  for (std::string_view text : SplitList(days)) {
    const std::optional<int> day = ParseSmallInt(text);
    if (!day || *day < 0 || *day > 6) return Corrupt("batches.allowed_days");
    settings.allowed_days.push_back(*day);
  }
  std::optional<std::vector<std::string>> variable_keys = ParseJsonStringArray(row.Text(20));
  if (!variable_keys) return Corrupt("batches.variable_keys");
  return domain::Batch{.id = row.Text(0),
                       .organization_id = row.Text(1),
                       .user_id = row.Text(2),
                       .agent_id = row.Text(3),
                       .call_id_prefix = row.Text(4),
                       .settings = std::move(settings),
                       .status = *status,
                       .total_calls = row.Int(17),
                       .variable_keys = *std::move(variable_keys),
                       .created_at = row.Time(18),
                       .updated_at = row.Time(19)};
}

// user_id, key, fingerprint, http_status, response_body, created_at
absl::StatusOr<IdempotencyRecord> ReadIdempotencyRecord(const Cursor& row) {
  return IdempotencyRecord{.user_id = row.Text(0),
                           .key = row.Text(1),
                           .fingerprint = row.Text(2),
                           .http_status = static_cast<int>(row.Int(3)),
                           .response_body = row.Text(4),
                           .created_at = row.Time(5)};
}

absl::StatusOr<std::string> ReadText(const Cursor& row) { return row.Text(0); }

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

// `items` joined with commas.
template <typename T>
std::string JoinList(const std::vector<T>& items) {
  std::string text;
  for (const T& item : items) {
    if (!text.empty()) text += ',';
    fmt::format_to(std::back_inserter(text), "{}", item);
  }
  return text;
}

constexpr size_t kCallIdPrefixLength = 18;
constexpr size_t kCallCounterDigits = 6;
constexpr size_t kMaxCallsPerBatch = size_t{1} << (4 * kCallCounterDigits);  // 16,777,216

absl::Status CheckBatch(const domain::Batch& batch, size_t call_count) {
  const std::string& prefix = batch.call_id_prefix;
  if (prefix.size() != kCallIdPrefixLength ||
      !std::all_of(prefix.begin(), prefix.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    return absl::InvalidArgumentError("callIdPrefix must be 18 lowercase hex digits");
  }
  if (call_count > kMaxCallsPerBatch) {
    return absl::InvalidArgumentError("a batch holds at most 16777216 calls");
  }
  for (const std::string& id : batch.settings.calling_number_ids) {
    // The list is stored comma-separated.
    if (id.find(',') != std::string::npos) {
      return absl::InvalidArgumentError("callingNumbers: an ID contains a comma");
    }
  }
  return absl::OkStatus();
}

absl::Status Insert(Connection& c, const domain::Batch& batch, int64_t total_calls) {
  const domain::BatchSettings& s = batch.settings;
  const std::string numbers = JoinList(s.calling_number_ids);
  const std::string days = JoinList(s.allowed_days);
  return c
      .Exec(
          "INSERT INTO batches (id, organization_id, user_id, agent_id, call_id_prefix, name, "
          "type, status, calling_number_ids, retry, delay_seconds, timezone, calling_start, "
          "calling_end, allowed_days, enable_dnc, default_country, total_calls, deleted_at, "
          "created_at, updated_at, variable_keys) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
          {batch.id,
           batch.organization_id,
           batch.user_id,
           batch.agent_id,
           batch.call_id_prefix,
           s.name,
           domain::BatchTypeName(s.type),
           domain::BatchStatusName(batch.status),
           numbers,
           int64_t{s.retry},
           s.delay_seconds,
           s.timezone,
           int64_t{s.calling_hour.start.minutes},
           int64_t{s.calling_hour.end.minutes},
           days,
           int64_t{s.enable_dnc},
           s.default_country,
           total_calls,
           Millis(batch.created_at),
           Millis(batch.updated_at),
           JsonStringArray(batch.variable_keys)})
      .status();
}

absl::Status Insert(Connection& c, const IdempotencyRecord& record) {
  NEXUS_RETURN_IF_ERROR(
      c.Exec("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at < ?",
             {record.user_id, record.key, Millis(record.created_at - kIdempotencyKeyLifetime)})
          .status());
  return c
      .Exec(
          "INSERT INTO idempotency_keys (user_id, key, fingerprint, http_status, response_body, "
          "created_at) VALUES (?, ?, ?, ?, ?, ?)",
          {record.user_id, record.key, record.fingerprint, int64_t{record.http_status},
           record.response_body, Millis(record.created_at)})
      .status();
}

// The header and skipped rows of a lenient upload (one cached statement, rebound per row).
absl::Status InsertSkippedRows(Connection& c, std::string_view batch_id,
                               const SkippedRows& skipped) {
  if (skipped.header.empty() && skipped.rows.empty()) return absl::OkStatus();
  NEXUS_RETURN_IF_ERROR(c.Exec("UPDATE batches SET source_columns = ? WHERE id = ?",
                               {JsonStringArray(skipped.header), batch_id})
                            .status());
  for (const SkippedRow& row : skipped.rows) {
    NEXUS_RETURN_IF_ERROR(c.Exec("INSERT INTO batch_skipped_rows (batch_id, row, column_name, "
                                 "message, cells) VALUES (?, ?, ?, ?, ?)",
                                 {batch_id, row.row, row.column, row.message, row.cells_json})
                              .status());
  }
  return absl::OkStatus();
}

// Binds `text` without copying it: it must stay valid until the statement is rebound or its
// bindings are cleared.
int BindStatic(sqlite3_stmt* stmt, int index, std::string_view text) {
  return sqlite3_bind_text64(stmt, index, text.data() != nullptr ? text.data() : "", text.size(),
                             SQLITE_STATIC, SQLITE_UTF8);
}

// "INSERT INTO calls ... VALUES (?, ...), ..." for `Rows` calls of kCallColumns parameters each,
// built at compile time (so it is still a static Sql text).
constexpr std::string_view kInsertCallsHead =
    "INSERT INTO calls (id, batch_id, seq, phone, timezone, variables, created_at, updated_at) "
    "VALUES ";
constexpr std::string_view kInsertCallsRow = "(?, ?, ?, ?, ?, ?, ?, ?)";
constexpr int kCallColumns = 8;

template <size_t Rows>
constexpr auto InsertCallsSql() {
  std::array<char, kInsertCallsHead.size() + Rows*(kInsertCallsRow.size() + 1)> sql{};
  auto out = std::copy(kInsertCallsHead.begin(), kInsertCallsHead.end(), sql.begin());
  for (size_t row = 0; row < Rows; ++row) {
    if (row > 0) *out++ = ',';
    out = std::copy(kInsertCallsRow.begin(), kInsertCallsRow.end(), out);
  }
  *out = '\0';
  return sql;
}

// Rows per multi-row INSERT. With one row per statement ~40% of a large upload's insert CPU is
// per-statement work (running the program, opening cursors); a 100-row statement amortises it for
// ~800 parameters and 2.4 KB of IDs on the stack. Larger chunks measured no faster.
constexpr size_t kCallsPerStatement = 100;
constexpr auto kInsertCallsChunkSql = InsertCallsSql<kCallsPerStatement>();
constexpr auto kInsertOneCallSql = InsertCallsSql<1>();

using CallId = char[kCallIdPrefixLength + kCallCounterDigits];

// Writes the counter digits of call `seq` into the last characters of `id` (a call ID whose
// prefix is already in place).
void SetCallCounter(std::span<char> id, size_t seq) {
  constexpr char kHex[] = "0123456789abcdef";
  for (size_t digit = 0; digit < kCallCounterDigits; ++digit, seq >>= 4) {
    id[id.size() - 1 - digit] = kHex[seq & 0xf];
  }
}

// Binds call `seq` to the kCallColumns parameters from `first`, without copying any text: `id`,
// `batch_id` and the call's views must outlive the step.
int BindCall(sqlite3_stmt* stmt, int first, const CallId& id, std::string_view batch_id, size_t seq,
             const NewCall& call, int64_t created_at) {
  int rc = sqlite3_bind_text64(stmt, first, id, sizeof(CallId), SQLITE_STATIC, SQLITE_UTF8);
  if (rc == SQLITE_OK) rc = BindStatic(stmt, first + 1, batch_id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, first + 2, static_cast<int64_t>(seq));
  if (rc == SQLITE_OK) rc = BindStatic(stmt, first + 3, call.e164);
  if (rc == SQLITE_OK) {
    rc = call.timezone.empty() ? sqlite3_bind_null(stmt, first + 4)
                               : BindStatic(stmt, first + 4, call.timezone);
  }
  if (rc == SQLITE_OK) rc = BindStatic(stmt, first + 5, call.variables_json);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, first + 6, created_at);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, first + 7, created_at);
  return rc;
}

// Steps an INSERT to completion and resets it (its bindings stay).
absl::Status StepInsert(sqlite3_stmt* stmt, sqlite3* db) {
  const int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) return SqliteStatus(rc, db);
  sqlite3_reset(stmt);
  return absl::OkStatus();
}

// The hot loop of an upload: every call of `batch`, kCallsPerStatement at a time through one
// cached multi-row INSERT, the last few through a one-row INSERT. Per call it only writes the
// counter digits of the ID into a stack buffer and rebinds the call's views; nothing is copied or
// allocated before SQLite builds the record. After `kill_after` calls (-1: never) the process
// kills itself (the TEST ONLY fault hook).
absl::Status InsertCalls(Connection& c, const domain::Batch& batch, std::span<const NewCall> calls,
                         int64_t kill_after) {
  NEXUS_ASSIGN_OR_RETURN(sqlite3_stmt * chunk, c.Prepare(kInsertCallsChunkSql.data()));
  NEXUS_ASSIGN_OR_RETURN(sqlite3_stmt * one, c.Prepare(kInsertOneCallSql.data()));
  CallId ids[kCallsPerStatement];
  // Declared after `ids`, so destroyed first: they reset the statements and clear their bindings
  // (which point into `ids`, `batch` and `calls`) however this function returns.
  const Cursor chunk_guard(chunk, c.db());
  const Cursor one_guard(one, c.db());
  for (CallId& id : ids) std::memcpy(id, batch.call_id_prefix.data(), kCallIdPrefixLength);
  const int64_t created_at = core::ToUnixMillis(batch.created_at);

  // With the fault hook armed, whole chunks stop at the kill point so that it is exact.
  const size_t chunked_limit =
      kill_after >= 0 ? std::min(calls.size(), static_cast<size_t>(kill_after)) : calls.size();
  size_t seq = 0;
  for (; seq + kCallsPerStatement <= chunked_limit; seq += kCallsPerStatement) {
    for (size_t row = 0; row < kCallsPerStatement; ++row) {
      SetCallCounter(ids[row], seq + row);
      const int rc = BindCall(chunk, static_cast<int>(row) * kCallColumns + 1, ids[row], batch.id,
                              seq + row, calls[seq + row], created_at);
      if (rc != SQLITE_OK) return SqliteStatus(rc, c.db());
    }
    NEXUS_RETURN_IF_ERROR(StepInsert(chunk, c.db()));
  }
  for (; seq < calls.size(); ++seq) {
    if (static_cast<int64_t>(seq) == kill_after) std::raise(SIGKILL);
    SetCallCounter(ids[0], seq);
    const int rc = BindCall(one, 1, ids[0], batch.id, seq, calls[seq], created_at);
    if (rc != SQLITE_OK) return SqliteStatus(rc, c.db());
    NEXUS_RETURN_IF_ERROR(StepInsert(one, c.db()));
  }
  if (static_cast<int64_t>(seq) == kill_after) std::raise(SIGKILL);
  return absl::OkStatus();
}

// A large upload writes ~200 bytes of table and index per call. With SQLite's default 2 MB page
// cache the transaction keeps spilling dirty pages to the WAL and reading interior pages back;
// 16 MB keeps the B-trees' right edges (every insert appends there) cached: a 1M-call insert
// measured 2.0 s with it, ~1.85 s with 64 MB, and the upload's 300 MiB memory budget has no room
// for more. Only one connection writes at a time, so at most one holds the large cache, and only
// until its transaction ends: shrinking the cache back frees every clean page.
constexpr size_t kLargeCacheCalls = 10'000;

class LargeCache {
 public:
  explicit LargeCache(sqlite3* db) : db_(db) {}
  LargeCache(const LargeCache&) = delete;
  LargeCache& operator=(const LargeCache&) = delete;
  ~LargeCache() {
    if (!enabled_) return;
    // SQLite's default; store connections never change it otherwise.
    if (int rc = sqlite3_exec(db_, "PRAGMA cache_size = -2000", nullptr, nullptr, nullptr);
        rc != SQLITE_OK) {
      core::Log(core::LogLevel::kError, "cannot restore the page cache size")
          .Str("detail", sqlite3_errmsg(db_));
    }
  }

  absl::Status Enable() {
    NEXUS_RETURN_IF_ERROR(ExecScript(db_, "PRAGMA cache_size = -16384"));  // KiB
    enabled_ = true;
    return absl::OkStatus();
  }

 private:
  sqlite3* db_;
  bool enabled_ = false;
};

// TEST ONLY: NEXUS_TEST_KILL_AFTER_CALLS as a call count, or -1 when unset or malformed.
int64_t KillAfterCallsFromEnvironment() {
  const char* text = std::getenv("NEXUS_TEST_KILL_AFTER_CALLS");
  if (text == nullptr) return -1;
  const std::string_view value(text);
  int64_t calls = -1;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), calls);
  if (error != std::errc() || end != value.data() + value.size() || calls < 0) {
    core::Log(core::LogLevel::kError, "ignoring malformed NEXUS_TEST_KILL_AFTER_CALLS")
        .Str("value", value);
    return -1;
  }
  core::Log(core::LogLevel::kInfo, "test fault armed: kill after inserting calls")
      .Int("calls", calls);
  return calls;
}

// --- batch queries (ListCalls, ListBatches, ForEachCall) ------------------------------------
//
// Every statement is static text; optional conditions are bound NULL when absent
// ("?N IS NULL OR ..."). ListCalls' statements share one parameter layout:
//   ?1 batch_id, ?2 / ?3 the batch's lowest / highest possible call ID, ?4 status, ?5 phone,
//   ?6 folded search term, then 8 variable conditions of 3 parameters each (?7 + 3i JSON path or
//   NULL, ?8 + 3i key, ?9 + 3i value or NULL for "absent"; key NULL = slot unused),
//   ?31 / ?32 the sort variable's path / key, ?33 the sort kind, ?34 LIMIT, ?35 OFFSET.
// A batch's calls are one contiguous range of the calls primary key (call_id_prefix + counter),
// in row order, so the default view reads that range in key order and stops after the page; a
// selective status filter reads calls_by_status instead. See docs/architecture.md.

// `Parts` concatenated at compile time into a NUL-terminated text (still a static Sql).
template <const std::string_view&... Parts>
constexpr auto JoinSql() {
  std::array<char, (Parts.size() + ...) + 1> sql{};
  auto out = sql.begin();
  ((out = std::copy(Parts.begin(), Parts.end(), out)), ...);
  *out = '\0';
  return sql;
}

constexpr size_t kCallQueryArgs = 35;
constexpr size_t kCallCountArgs = 30;  // count statements use ?1 .. ?30 only

constexpr std::string_view kCallSelect =
    "SELECT id, batch_id, seq, phone, timezone, variables, status, attempts, next_attempt_at, "
    "created_at, updated_at ";
constexpr std::string_view kCountSelect = "SELECT COUNT(*) ";
constexpr std::string_view kCallById = "FROM calls WHERE id = ?";
// The batch's primary-key range; "+batch_id" keeps the planner off calls_by_batch (an index
// entry and a primary-key lookup per call instead of one sequential read).
constexpr std::string_view kRangeFrom = "FROM calls WHERE id >= ?2 AND id <= ?3 AND +batch_id = ?1";
// calls_by_status holds no queued call (migration 8): a query on it must say so to use it.
constexpr std::string_view kStatusFrom =
    "FROM calls INDEXED BY calls_by_status WHERE batch_id = ?1 AND status = ?4 "
    "AND status <> 'queued'";
// A variable's value: json_extract with the bound path, or json_each for a key no path can name.
// clang-format off
#define NEXUS_CALL_VARIABLE(path, key)                                            \
  "(CASE WHEN " path " IS NOT NULL THEN json_extract(calls.variables, " path ")"  \
  " ELSE (SELECT value FROM json_each(calls.variables) WHERE key = " key ") END)"
#define NEXUS_CALL_CONDITION(path, key, value)                                    \
  " AND (" key " IS NULL OR " NEXUS_CALL_VARIABLE(path, key) " IS " value ")"
// clang-format on
constexpr std::string_view kCallConditions =
    " AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR phone = ?5)"
    " AND (?6 IS NULL OR nexus_matches(phone, variables, ?6))"  //
    NEXUS_CALL_CONDITION("?7", "?8", "?9")                      //
    NEXUS_CALL_CONDITION("?10", "?11", "?12")                   //
    NEXUS_CALL_CONDITION("?13", "?14", "?15")                   //
    NEXUS_CALL_CONDITION("?16", "?17", "?18")                   //
    NEXUS_CALL_CONDITION("?19", "?20", "?21")                   //
    NEXUS_CALL_CONDITION("?22", "?23", "?24")                   //
    NEXUS_CALL_CONDITION("?25", "?26", "?27")                   //
    NEXUS_CALL_CONDITION("?28", "?29", "?30");
constexpr std::string_view kSortKey =
    "CASE ?33 WHEN 1 THEN updated_at WHEN 2 THEN phone WHEN 3 THEN attempts"
    " ELSE " NEXUS_CALL_VARIABLE("?31", "?32") " END";
#undef NEXUS_CALL_CONDITION
#undef NEXUS_CALL_VARIABLE
constexpr std::string_view kOrderById = " ORDER BY id";
constexpr std::string_view kOrderByIdDesc = " ORDER BY id DESC";
constexpr std::string_view kOrderBySeq = " ORDER BY seq";
constexpr std::string_view kOrderBySeqDesc = " ORDER BY seq DESC";
constexpr std::string_view kOrderByStatus = " ORDER BY status, seq";
constexpr std::string_view kOrderByStatusDesc = " ORDER BY status DESC, seq DESC";
constexpr std::string_view kOrderBy = " ORDER BY ";
constexpr std::string_view kThenSeq = ", seq";
constexpr std::string_view kDescThenSeqDesc = " DESC, seq DESC";
constexpr std::string_view kPageLimit = " LIMIT ?34 OFFSET ?35";

constexpr auto kCountRangeSql = JoinSql<kCountSelect, kRangeFrom, kCallConditions>();
constexpr auto kCountStatusSql = JoinSql<kCountSelect, kStatusFrom, kCallConditions>();
constexpr auto kPageRangeSql =
    JoinSql<kCallSelect, kRangeFrom, kCallConditions, kOrderById, kPageLimit>();
constexpr auto kPageRangeDescSql =
    JoinSql<kCallSelect, kRangeFrom, kCallConditions, kOrderByIdDesc, kPageLimit>();
constexpr auto kPageStatusSql =
    JoinSql<kCallSelect, kStatusFrom, kCallConditions, kOrderBySeq, kPageLimit>();
constexpr auto kPageStatusDescSql =
    JoinSql<kCallSelect, kStatusFrom, kCallConditions, kOrderBySeqDesc, kPageLimit>();
constexpr auto kPageByStatusSql =
    JoinSql<kCallSelect, kRangeFrom, kCallConditions, kOrderByStatus, kPageLimit>();
constexpr auto kPageByStatusDescSql =
    JoinSql<kCallSelect, kRangeFrom, kCallConditions, kOrderByStatusDesc, kPageLimit>();
constexpr auto kPageRangeSortedSql =
    JoinSql<kCallSelect, kRangeFrom, kCallConditions, kOrderBy, kSortKey, kThenSeq, kPageLimit>();
constexpr auto kPageRangeSortedDescSql = JoinSql<kCallSelect, kRangeFrom, kCallConditions, kOrderBy,
                                                 kSortKey, kDescThenSeqDesc, kPageLimit>();
constexpr auto kPageStatusSortedSql =
    JoinSql<kCallSelect, kStatusFrom, kCallConditions, kOrderBy, kSortKey, kThenSeq, kPageLimit>();
constexpr auto kPageStatusSortedDescSql =
    JoinSql<kCallSelect, kStatusFrom, kCallConditions, kOrderBy, kSortKey, kDescThenSeqDesc,
            kPageLimit>();
constexpr auto kEveryCallSql = JoinSql<kCallSelect, kRangeFrom, kOrderById>();
constexpr auto kCallByIdSql = JoinSql<kCallSelect, kCallById>();

// The JSON path that names `key` for json_extract, or nullopt when none can (a key with a '"').
// SQLite compares a quoted path label with the key as it is written in the JSON text, so the
// label is the key escaped exactly as the variables were written (core::AppendJsonString).
std::optional<std::string> VariablePath(std::string_view key) {
  if (key.find('"') != std::string_view::npos) return std::nullopt;
  std::string path = "$.";
  core::AppendJsonString(path, key);
  return path;
}

// The lowest and highest IDs the calls of a batch with `prefix` can have.
std::pair<std::string, std::string> CallIdRange(const std::string& prefix) {
  return {prefix + "000000", prefix + "ffffff"};
}

// id, batch_id, seq, phone, timezone, variables, status, attempts, next_attempt_at, created_at,
// updated_at
absl::StatusOr<domain::Call> ReadCall(const Cursor& row) {
  const std::optional<domain::CallStatus> status = domain::ParseCallStatus(row.Text(6));
  if (!status) return Corrupt("calls.status");
  return domain::Call{.id = row.Text(0),
                      .batch_id = row.Text(1),
                      .seq = row.Int(2),
                      .phone = row.Text(3),
                      .timezone = row.OptText(4),
                      .variables_json = row.Text(5),
                      .status = *status,
                      .attempts = row.Int(7),
                      .next_attempt_at = row.OptTime(8),
                      .created_at = row.Time(9),
                      .updated_at = row.Time(10),
                      .phone_logs = {}};
}

// attempt, status, duration_seconds, recording_url, transcript, created_at (from column `col`)
absl::StatusOr<domain::PhoneLog> ReadPhoneLog(const Cursor& row, int col) {
  const std::optional<domain::CallStatus> status = domain::ParseCallStatus(row.Text(col + 1));
  if (!status) return Corrupt("call_logs.status");
  return domain::PhoneLog{.attempt = row.Int(col),
                          .status = *status,
                          .duration_seconds = row.IsNull(col + 2)
                                                  ? std::nullopt
                                                  : std::optional<int64_t>(row.Int(col + 2)),
                          .recording_url = row.Text(col + 3),
                          .transcript = row.Text(col + 4),
                          .created_at = row.Time(col + 5)};
}

// queued, in_progress, completed, failed, no_answer, busy, dnc, canceled, picked, finished (from
// column `col`), in the order of domain::kAllCallStatuses.
CallCounts ReadCounts(const Cursor& row, int col) {
  CallCounts counts;
  for (size_t i = 0; i < std::size(counts.by_status); ++i) {
    counts.by_status[i] = row.Int(col + static_cast<int>(i));
  }
  counts.picked = row.Int(col + 8);
  counts.finished = row.Int(col + 9);
  return counts;
}

// The counters of `batch_id` (all zero if it has no row, which InsertBatch always writes).
absl::StatusOr<CallCounts> LoadCounts(Connection& c, std::string_view batch_id) {
  NEXUS_ASSIGN_OR_RETURN(Cursor row, c.Query("SELECT queued, in_progress, completed, failed, "
                                             "no_answer, busy, dnc, canceled, picked, finished "
                                             "FROM batch_call_counts WHERE batch_id = ?",
                                             {batch_id}));
  NEXUS_ASSIGN_OR_RETURN(const bool found, row.Next());
  return found ? ReadCounts(row, 0) : CallCounts();
}

// The call_id_prefix of a batch of the organization that is not deleted; NotFound otherwise.
absl::StatusOr<std::string> LoadCallIdPrefix(Connection& c, std::string_view org_id,
                                             std::string_view batch_id) {
  return SelectOne(c, "batch",
                   "SELECT call_id_prefix FROM batches "
                   "WHERE organization_id = ? AND id = ? AND deleted_at IS NULL",
                   {org_id, batch_id}, ReadText);
}

// Every row of `sql` with `args` through ReadCall.
absl::StatusOr<std::vector<domain::Call>> SelectCalls(Connection& c, Sql sql,
                                                      std::span<const Arg> args) {
  std::vector<domain::Call> calls;
  NEXUS_ASSIGN_OR_RETURN(Cursor row, c.QueryArgs(sql, args));
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(const bool more, row.Next());
    if (!more) break;
    NEXUS_ASSIGN_OR_RETURN(domain::Call call, ReadCall(row));
    calls.push_back(std::move(call));
  }
  return calls;
}

// A status filter reads calls_by_status when the status holds at most this share of the batch;
// above it, reading the batch's key range in order and skipping other statuses is cheaper than
// an index entry plus a primary-key lookup per call.
constexpr int64_t kStatusIndexMaxShareDivisor = 4;  // 25%

// The statements of one ListCalls query, chosen for its conditions and sort.
struct CallStatements {
  Sql count;
  Sql page;
};

CallStatements ChooseStatements(const CallQuery& query, bool use_status_index) {
  using SortKey = CallQuery::SortKey;
  const auto order = [desc = query.descending](Sql ascending, Sql descending) {
    return desc ? descending : ascending;
  };
  // A status filter makes a status sort the row order.
  const SortKey sort =
      query.sort_key == SortKey::kStatus && query.status ? SortKey::kCreatedAt : query.sort_key;
  if (use_status_index) {
    if (sort == SortKey::kCreatedAt) {
      return {kCountStatusSql.data(), order(kPageStatusSql.data(), kPageStatusDescSql.data())};
    }
    return {kCountStatusSql.data(),
            order(kPageStatusSortedSql.data(), kPageStatusSortedDescSql.data())};
  }
  switch (sort) {
    case SortKey::kCreatedAt:
      return {kCountRangeSql.data(), order(kPageRangeSql.data(), kPageRangeDescSql.data())};
    case SortKey::kStatus:
      return {kCountRangeSql.data(), order(kPageByStatusSql.data(), kPageByStatusDescSql.data())};
    default:
      return {kCountRangeSql.data(),
              order(kPageRangeSortedSql.data(), kPageRangeSortedDescSql.data())};
  }
}

int64_t SortKind(CallQuery::SortKey key) {
  switch (key) {
    case CallQuery::SortKey::kUpdatedAt:
      return 1;
    case CallQuery::SortKey::kPhone:
      return 2;
    case CallQuery::SortKey::kAttempts:
      return 3;
    default:
      return 4;  // a variable (the other keys never reach kSortKey)
  }
}

// batches columns for ReadBatch (from column 0) and the counters (from column 21).
#define NEXUS_BATCH_LIST_SELECT                                                                \
  "SELECT b.id, b.organization_id, b.user_id, b.agent_id, b.call_id_prefix, b.name, b.type, "  \
  "b.status, b.calling_number_ids, b.retry, b.delay_seconds, b.timezone, b.calling_start, "    \
  "b.calling_end, b.allowed_days, b.enable_dnc, b.default_country, b.total_calls, "            \
  "b.created_at, b.updated_at, b.variable_keys, "                                              \
  "COALESCE(k.queued, 0), COALESCE(k.in_progress, 0), COALESCE(k.completed, 0), "              \
  "COALESCE(k.failed, 0), COALESCE(k.no_answer, 0), COALESCE(k.busy, 0), COALESCE(k.dnc, 0), " \
  "COALESCE(k.canceled, 0), COALESCE(k.picked, 0), COALESCE(k.finished, 0) "                   \
  "FROM batches b LEFT JOIN batch_call_counts k ON k.batch_id = b.id "
#define NEXUS_BATCH_LIST_WHERE                                                \
  "WHERE b.organization_id = ?1 AND b.user_id = ?2 AND b.deleted_at IS NULL " \
  "AND (?3 IS NULL OR instr(nexus_fold(b.name), ?3) > 0 OR instr(b.status, ?3) > 0)"
constexpr char kListBatchesSql[] = NEXUS_BATCH_LIST_SELECT NEXUS_BATCH_LIST_WHERE
    " ORDER BY b.created_at DESC, b.id DESC LIMIT ?4 OFFSET ?5";
constexpr char kCountBatchesSql[] = "SELECT COUNT(*) FROM batches b " NEXUS_BATCH_LIST_WHERE;
#undef NEXUS_BATCH_LIST_WHERE
#undef NEXUS_BATCH_LIST_SELECT

absl::StatusOr<BatchListItem> ReadBatchListItem(const Cursor& row) {
  NEXUS_ASSIGN_OR_RETURN(domain::Batch batch, ReadBatch(row));
  return BatchListItem{std::move(batch), ReadCounts(row, 21)};
}

// Fills in each call's phone logs, oldest attempt first.
absl::Status LoadPhoneLogs(Connection& c, std::vector<domain::Call>& calls) {
  for (domain::Call& call : calls) {
    NEXUS_ASSIGN_OR_RETURN(
        call.phone_logs,
        SelectAll(c,
                  "SELECT attempt, status, duration_seconds, recording_url, transcript, "
                  "created_at FROM call_logs WHERE call_id = ? ORDER BY attempt, created_at",
                  {std::string_view(call.id)},
                  [](const Cursor& log) { return ReadPhoneLog(log, 0); }));
  }
  return absl::OkStatus();
}

// --- call indexes (store/call_index.h) ------------------------------------------------------
//
// Queries that would read every call of a large batch (IndexHelps) are answered from the
// batch's in-memory CallIndex, kept in call_indexes_ and brought up to the query's snapshot
// first: the calls whose change_seq (migration 7) is above the index's are read through
// calls_changed and applied. The page's rows are then read by ID in the same snapshot.

// Whether `query` may read every call of a batch with `counts` without a call index: a search,
// a phone or variable filter, a sort other than createdAt, a callStatus sort over every status
// (calls_by_status has no queued calls), or a filter on queued calls when they are few (the key
// range is read until a page of them is found). A status filter otherwise reads calls_by_status
// or stops after a page of the key range, and the counters give its total.
bool IndexHelps(const CallQuery& query, const CallCounts& counts) {
  using SortKey = CallQuery::SortKey;
  if (!query.search.empty() || query.phone || !query.variables.empty()) return true;
  if (query.status == domain::CallStatus::kQueued &&
      counts.Of(domain::CallStatus::kQueued) * kStatusIndexMaxShareDivisor <= counts.Total()) {
    return true;
  }
  if (query.sort_key == SortKey::kStatus) return !query.status;  // with one status: row order
  return query.sort_key != SortKey::kCreatedAt;
}

absl::StatusOr<int64_t> LoadChangeSeq(Connection& c, std::string_view batch_id) {
  NEXUS_ASSIGN_OR_RETURN(
      Cursor row,
      c.Query("SELECT change_seq FROM batch_call_counts WHERE batch_id = ?", {batch_id}));
  NEXUS_ASSIGN_OR_RETURN(const bool found, row.Next());
  return found ? row.Int(0) : 0;
}

// Every call of the batch, read in c's snapshot into a CallIndex; nullopt when a call cannot be
// indexed (CallIndex::Builder::Add) or the calls are not seq 0, 1, ... in ID order.
absl::StatusOr<std::optional<CallIndex>> BuildCallIndex(Connection& c, std::string_view batch_id,
                                                        int64_t batch_total) {
  std::string prefix;
  std::optional<std::vector<std::string>> keys;
  {
    NEXUS_ASSIGN_OR_RETURN(Cursor batch, c.Query("SELECT call_id_prefix, variable_keys FROM "
                                                 "batches WHERE id = ? AND deleted_at IS NULL",
                                                 {batch_id}));
    NEXUS_ASSIGN_OR_RETURN(const bool found, batch.Next());
    if (!found) return absl::NotFoundError("batch not found");
    prefix = batch.Text(0);
    keys = ParseJsonStringArray(batch.TextView(1));
    if (!keys) return Corrupt("batches.variable_keys");
  }
  NEXUS_ASSIGN_OR_RETURN(const int64_t change_seq, LoadChangeSeq(c, batch_id));
  const auto [lowest_id, highest_id] = CallIdRange(prefix);
  NEXUS_ASSIGN_OR_RETURN(
      Cursor row, c.Query("SELECT seq, phone, variables, status, attempts, updated_at "
                          "FROM calls WHERE id >= ?2 AND id <= ?3 AND +batch_id = ?1 ORDER BY id",
                          {batch_id, std::string_view(lowest_id), std::string_view(highest_id)}));
  CallIndex::Builder builder(*keys, static_cast<size_t>(std::max<int64_t>(batch_total, 0)));
  for (int64_t seq = 0;; ++seq) {
    NEXUS_ASSIGN_OR_RETURN(const bool more, row.Next());
    if (!more) break;
    const std::optional<domain::CallStatus> status = domain::ParseCallStatus(row.TextView(3));
    if (!status) return Corrupt("calls.status");
    if (row.Int(0) != seq ||
        !builder.Add(row.TextView(1), row.TextView(2),
                     {.status = *status, .attempts = row.Int(4), .updated_at_ms = row.Int(5)})) {
      return std::nullopt;
    }
  }
  return std::move(builder).Finish(change_seq);
}

enum class CatchUpResult {
  kCurrent,  // the index now reflects the snapshot
  kAhead,    // the index reflects a later snapshot (another query moved it on): not usable here
  kBroken,   // a change could not be applied: the index must be dropped
};

// Applies to `index` the calls changed after its change_seq, up to c's snapshot.
absl::StatusOr<CatchUpResult> CatchUp(Connection& c, std::string_view batch_id, CallIndex& index) {
  NEXUS_ASSIGN_OR_RETURN(const int64_t change_seq, LoadChangeSeq(c, batch_id));
  if (change_seq == index.change_seq()) return CatchUpResult::kCurrent;
  if (change_seq < index.change_seq()) return CatchUpResult::kAhead;
  NEXUS_ASSIGN_OR_RETURN(Cursor row,
                         c.Query("SELECT seq, status, attempts, updated_at "
                                 "FROM calls INDEXED BY calls_changed "
                                 "WHERE batch_id = ? AND change_seq > ? AND change_seq > 0",
                                 {batch_id, index.change_seq()}));
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(const bool more, row.Next());
    if (!more) break;
    const std::optional<domain::CallStatus> status = domain::ParseCallStatus(row.TextView(1));
    if (!status) return Corrupt("calls.status");
    if (!index.Apply(row.Int(0),
                     {.status = *status, .attempts = row.Int(2), .updated_at_ms = row.Int(3)})) {
      return CatchUpResult::kBroken;
    }
  }
  index.set_change_seq(change_seq);
  return CatchUpResult::kCurrent;
}

// The calls with these seqs of the batch whose call IDs start with `prefix`, in that order.
absl::StatusOr<std::vector<domain::Call>> ReadCallsBySeq(Connection& c, const std::string& prefix,
                                                         std::span<const int64_t> seqs) {
  std::string id = prefix + "000000";
  std::vector<domain::Call> calls;
  calls.reserve(seqs.size());
  for (const int64_t seq : seqs) {
    SetCallCounter(id, static_cast<size_t>(seq));
    NEXUS_ASSIGN_OR_RETURN(domain::Call call, SelectOne(c, "call", kCallByIdSql.data(),
                                                        {std::string_view(id)}, ReadCall));
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace

// --- SqliteStore ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const StoreOptions& options) {
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be at least 1");
  // An in-memory database exists per connection, so ":memory:" gets exactly one.
  const int size = path == ":memory:" ? 1 : options.pool_size;
  std::vector<std::unique_ptr<Connection>> connections;
  std::unique_ptr<WalCheckpointer> checkpointer;
  for (int i = 0; i < size; ++i) {
    NEXUS_ASSIGN_OR_RETURN(DbPtr db, OpenConnection(path, options));
    if (i == 0) {
      NEXUS_RETURN_IF_ERROR(Migrate(db.get(), core::RealClock::Real().Now()).status());
      if (path != ":memory:") {
        NEXUS_ASSIGN_OR_RETURN(DbPtr own, OpenConnection(path, options));
        checkpointer = std::make_unique<WalCheckpointer>(std::move(own));
      }
    }
    if (checkpointer) checkpointer->Attach(db.get());
    connections.push_back(std::make_unique<Connection>(std::move(db)));
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(
      std::move(checkpointer),
      std::make_unique<ConnectionPool>(std::move(connections), options.busy_timeout),
      options.allow_test_faults ? KillAfterCallsFromEnvironment() : -1, options));
}

// Builds call indexes on its own thread, one at a time, when a large batch is first read with a
// view that needs none, so that the search or filter that follows finds it ready (a query
// arriving during the build waits for it).
class SqliteStore::CallIndexWarmer {
 public:
  explicit CallIndexWarmer(std::function<void(const std::string&)> warm)
      : warm_(std::move(warm)), thread_([this] { Run(); }) {}
  ~CallIndexWarmer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void Schedule(std::string batch_id) {
    {
      std::lock_guard lock(mu_);
      pending_.push_back(std::move(batch_id));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      const std::string batch_id = std::move(pending_.front());
      pending_.pop_front();
      lock.unlock();
      warm_(batch_id);
      lock.lock();
    }
  }

  const std::function<void(const std::string&)> warm_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pending_;  // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  std::thread thread_;               // last: starts once the rest is constructed
};

SqliteStore::SqliteStore(std::unique_ptr<WalCheckpointer> checkpointer,
                         std::unique_ptr<ConnectionPool> pool, int64_t kill_after_calls,
                         const StoreOptions& options)
    : checkpointer_(std::move(checkpointer)),
      pool_(std::move(pool)),
      kill_after_calls_(kill_after_calls),
      call_index_min_calls_(std::max<int64_t>(options.call_index_min_calls, 1)) {
  if (options.call_index_max_bytes > 0) {
    call_indexes_ = std::make_unique<CallIndexCache>(options.call_index_max_bytes);
    if (options.call_index_warm) {
      warmer_ = std::make_unique<CallIndexWarmer>([this](const std::string& batch_id) {
        const absl::Status warmed =
            Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::Status {
              NEXUS_ASSIGN_OR_RETURN(const CallCounts counts, LoadCounts(c, batch_id));
              return UseCallIndex(c, batch_id, counts.Total(), nullptr).status();
            });
        if (!warmed.ok() && !absl::IsNotFound(warmed)) {
          core::Log(core::LogLevel::kWarn, "call index warm-up failed")
              .Str("batch_id", batch_id)
              .Str("error", std::string(warmed.message()));
        }
      });
    }
  }
}

// The warmer's thread uses the pool: it stops first.
SqliteStore::~SqliteStore() { warmer_.reset(); }

absl::StatusOr<std::optional<CallIndex::Page>> SqliteStore::UseCallIndex(Connection& c,
                                                                         std::string_view batch_id,
                                                                         int64_t batch_total,
                                                                         const CallQuery* query) {
  const std::shared_ptr<CallIndexCache::Entry> entry = call_indexes_->Get(batch_id);
  std::lock_guard lock(entry->mu);
  if (entry->unindexable) return std::nullopt;
  if (entry->index && entry->index->size() != batch_total) entry->index.reset();
  if (!entry->index) {
    const absl::Time start = absl::Now();
    NEXUS_ASSIGN_OR_RETURN(entry->index, BuildCallIndex(c, batch_id, batch_total));
    const size_t bytes = entry->index ? entry->index->memory_bytes() : 0;
    if (!entry->index || !call_indexes_->Charge(batch_id, bytes)) {
      entry->index.reset();
      entry->unindexable = true;
      core::Log(core::LogLevel::kInfo, "batch not indexed: its queries read the database")
          .Str("batch_id", batch_id)
          .Int("index_bytes", static_cast<int64_t>(bytes));
      return std::nullopt;
    }
    ++call_index_builds_;
    core::ReleaseFreeMemory();  // the build's transient buffers
    core::Log(core::LogLevel::kInfo, "call index built")
        .Str("batch_id", batch_id)
        .Int("calls", entry->index->size())
        .Int("bytes", static_cast<int64_t>(bytes))
        .Int("ms", absl::ToInt64Milliseconds(absl::Now() - start));
  }
  NEXUS_ASSIGN_OR_RETURN(const CatchUpResult caught_up, CatchUp(c, batch_id, *entry->index));
  if (caught_up == CatchUpResult::kBroken) {
    entry->index.reset();
    entry->warm_scheduled = false;
    call_indexes_->Charge(batch_id, 0);
    return std::nullopt;
  }
  if (caught_up == CatchUpResult::kAhead || query == nullptr) return std::nullopt;
  std::optional<CallIndex::Page> page = entry->index->Query(*query);
  if (page) ++call_index_answers_;
  return page;
}

SqliteStore::CallIndexStats SqliteStore::call_index_stats() const {
  return {.builds = call_index_builds_.load(),
          .answers = call_index_answers_.load(),
          .bytes = call_indexes_ ? call_indexes_->charged_bytes() : 0};
}

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

absl::StatusOr<std::vector<std::string>> SqliteStore::ListAllDncNumbers(std::string_view org_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectAll(c, "SELECT e164 FROM dnc_numbers WHERE organization_id = ? ORDER BY e164",
                     {org_id}, ReadText);
  });
}

absl::Status SqliteStore::InsertBatch(const domain::Batch& batch, std::span<const NewCall> calls,
                                      const SkippedRows& skipped,
                                      const IdempotencyRecord* idempotency) {
  NEXUS_RETURN_IF_ERROR(CheckBatch(batch, calls.size()));
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::Status {
    std::optional<LargeCache> large_cache;
    if (calls.size() >= kLargeCacheCalls) {
      large_cache.emplace(c.db());
      NEXUS_RETURN_IF_ERROR(large_cache->Enable());
    }
    NEXUS_RETURN_IF_ERROR(Insert(c, batch, static_cast<int64_t>(calls.size())));
    NEXUS_RETURN_IF_ERROR(c.Exec("INSERT INTO batch_call_counts (batch_id, queued) VALUES (?, ?)",
                                 {batch.id, static_cast<int64_t>(calls.size())})
                              .status());
    NEXUS_RETURN_IF_ERROR(InsertCalls(c, batch, calls, kill_after_calls_));
    NEXUS_RETURN_IF_ERROR(InsertSkippedRows(c, batch.id, skipped));
    if (idempotency != nullptr) NEXUS_RETURN_IF_ERROR(Insert(c, *idempotency));
    return absl::OkStatus();
  });
}

absl::StatusOr<domain::Batch> SqliteStore::GetBatch(std::string_view org_id,
                                                    std::string_view batch_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(c, "batch",
                     NEXUS_SELECT_BATCH
                     "FROM batches "
                     "WHERE organization_id = ? AND id = ? AND deleted_at IS NULL",
                     {org_id, batch_id}, ReadBatch);
  });
}

absl::StatusOr<std::optional<IdempotencyRecord>> SqliteStore::FindIdempotencyRecord(
    std::string_view user_id, std::string_view key, absl::Time not_before) {
  return Transact(
      *pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<std::optional<IdempotencyRecord>> {
        NEXUS_ASSIGN_OR_RETURN(
            std::vector<IdempotencyRecord> records,
            SelectAll(c,
                      "SELECT user_id, key, fingerprint, http_status, response_body, created_at "
                      "FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at >= ?",
                      {user_id, key, Millis(not_before)}, ReadIdempotencyRecord));
        if (records.empty()) return std::nullopt;
        return std::move(records.front());
      });
}

absl::StatusOr<BatchListPage> SqliteStore::ListBatches(std::string_view org_id,
                                                       std::string_view user_id,
                                                       std::string_view search, int64_t offset,
                                                       int64_t limit) {
  if (offset < 0 || limit < 0) {
    return absl::InvalidArgumentError("offset and limit must not be negative");
  }
  const std::string folded = Folded(search);
  const Arg term = folded.empty() ? Arg(nullptr) : Arg(std::string_view(folded));
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<BatchListPage> {
    BatchListPage page;
    NEXUS_ASSIGN_OR_RETURN(
        page.total, SelectOne(c, "count", kCountBatchesSql, {org_id, user_id, term}, ReadInt));
    NEXUS_ASSIGN_OR_RETURN(
        page.items,
        SelectAll(c, kListBatchesSql, {org_id, user_id, term, limit, offset}, ReadBatchListItem));
    return page;
  });
}

absl::StatusOr<CallPage> SqliteStore::ListCalls(std::string_view org_id, std::string_view batch_id,
                                                const CallQuery& query) {
  if (query.offset < 0 || query.limit < 0) {
    return absl::InvalidArgumentError("offset and limit must not be negative");
  }
  if (query.variables.size() > CallQuery::kMaxVariableConditions) {
    return absl::InvalidArgumentError(fmt::format("at most {} variable conditions are supported",
                                                  CallQuery::kMaxVariableConditions));
  }
  // Everything the arguments point at lives until the transaction ends.
  const std::string search = Folded(query.search);
  const std::optional<std::string_view> status =
      query.status ? std::optional(domain::CallStatusName(*query.status)) : std::nullopt;
  std::vector<std::optional<std::string>> paths;
  for (const auto& condition : query.variables) paths.push_back(VariablePath(condition.key));
  const std::optional<std::string> sort_path = VariablePath(query.sort_variable);
  const bool only_status = !query.phone && query.variables.empty() && search.empty();

  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<CallPage> {
    NEXUS_ASSIGN_OR_RETURN(const std::string prefix, LoadCallIdPrefix(c, org_id, batch_id));
    const auto [lowest_id, highest_id] = CallIdRange(prefix);
    CallPage page;
    NEXUS_ASSIGN_OR_RETURN(page.counts, LoadCounts(c, batch_id));
    const int64_t batch_total = page.counts.Total();
    const bool use_status_index =
        query.status && *query.status != domain::CallStatus::kQueued &&
        page.counts.Of(*query.status) * kStatusIndexMaxShareDivisor <= batch_total;
    const CallStatements statements = ChooseStatements(query, use_status_index);

    std::array<Arg, kCallQueryArgs> args;
    args.fill(nullptr);
    args[0] = batch_id;
    args[1] = std::string_view(lowest_id);
    args[2] = std::string_view(highest_id);
    if (status) args[3] = *status;
    if (query.phone) args[4] = std::string_view(*query.phone);
    if (!search.empty()) args[5] = std::string_view(search);
    for (size_t i = 0; i < query.variables.size(); ++i) {
      const auto& condition = query.variables[i];
      if (paths[i]) args[6 + 3 * i] = std::string_view(*paths[i]);
      args[7 + 3 * i] = std::string_view(condition.key);
      if (condition.value) args[8 + 3 * i] = std::string_view(*condition.value);
    }
    if (sort_path) args[30] = std::string_view(*sort_path);
    args[31] = std::string_view(query.sort_variable);
    args[32] = SortKind(query.sort_key);
    args[33] = query.limit;
    args[34] = query.offset;

    if (call_indexes_ && batch_total >= call_index_min_calls_) {
      if (IndexHelps(query, page.counts)) {
        NEXUS_ASSIGN_OR_RETURN(const std::optional<CallIndex::Page> indexed,
                               UseCallIndex(c, batch_id, batch_total, &query));
        if (indexed) {
          page.total = indexed->total;
          NEXUS_ASSIGN_OR_RETURN(page.calls, ReadCallsBySeq(c, prefix, indexed->seqs));
          NEXUS_RETURN_IF_ERROR(LoadPhoneLogs(c, page.calls));
          return page;
        }
      } else if (warmer_ && !call_indexes_->Get(batch_id)->warm_scheduled.exchange(true)) {
        warmer_->Schedule(std::string(batch_id));  // for the search or filter likely to follow
      }
    }
    // The counters answer the total when at most the status is filtered.
    if (only_status) {
      page.total = query.status ? page.counts.Of(*query.status) : batch_total;
    } else {
      NEXUS_ASSIGN_OR_RETURN(Cursor count,
                             c.QueryArgs(statements.count, std::span(args).first(kCallCountArgs)));
      NEXUS_ASSIGN_OR_RETURN(const bool row, count.Next());
      page.total = row ? count.Int(0) : 0;
    }
    if (query.limit == 0 || query.offset >= page.total) return page;
    NEXUS_ASSIGN_OR_RETURN(page.calls, SelectCalls(c, statements.page, args));
    NEXUS_RETURN_IF_ERROR(LoadPhoneLogs(c, page.calls));
    return page;
  });
}

absl::Status SqliteStore::ForEachSkippedRow(
    std::string_view org_id, std::string_view batch_id, int64_t after_row, int64_t limit,
    absl::FunctionRef<absl::Status(std::span<const std::string>)> header,
    absl::FunctionRef<absl::Status(const SkippedRow&)> fn) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::Status {
    NEXUS_ASSIGN_OR_RETURN(const std::string columns,
                           SelectOne(c, "batch",
                                     "SELECT source_columns FROM batches "
                                     "WHERE organization_id = ? AND id = ? AND deleted_at IS NULL",
                                     {org_id, batch_id}, ReadText));
    std::optional<std::vector<std::string>> cells = ParseJsonStringArray(columns);
    if (!cells) return Corrupt("batches.source_columns");
    NEXUS_RETURN_IF_ERROR(header(*cells));
    NEXUS_ASSIGN_OR_RETURN(Cursor row, c.Query("SELECT row, column_name, message, cells "
                                               "FROM batch_skipped_rows WHERE batch_id = ? "
                                               "AND row > ? ORDER BY row",
                                               {batch_id, after_row}));
    for (int64_t left = limit; left != 0; --left) {
      NEXUS_ASSIGN_OR_RETURN(const bool more, row.Next());
      if (!more) return absl::OkStatus();
      const SkippedRow skipped{.row = row.Int(0),
                               .column = row.TextView(1),
                               .message = row.TextView(2),
                               .cells_json = row.TextView(3)};
      NEXUS_RETURN_IF_ERROR(fn(skipped));
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::ForEachCall(std::string_view org_id, std::string_view batch_id,
                                      absl::FunctionRef<absl::Status(const domain::Call&)> fn) {
  return ForEachCallAfter(org_id, batch_id, "", -1, fn);
}

absl::Status SqliteStore::ForEachCallAfter(
    std::string_view org_id, std::string_view batch_id, std::string_view after_id, int64_t limit,
    absl::FunctionRef<absl::Status(const domain::Call&)> fn) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::Status {
    NEXUS_ASSIGN_OR_RETURN(const std::string prefix, LoadCallIdPrefix(c, org_id, batch_id));
    auto [lowest_id, highest_id] = CallIdRange(prefix);
    // IDs all have the same length, so after_id + "\0" is the least ID greater than after_id.
    if (!after_id.empty()) {
      std::string next(after_id);
      next.push_back('\0');
      lowest_id = std::max(lowest_id, next);
    }
    int64_t left = limit;
    const Arg args[] = {batch_id, std::string_view(lowest_id), std::string_view(highest_id)};
    NEXUS_ASSIGN_OR_RETURN(Cursor row, c.QueryArgs(kEveryCallSql.data(), args));
    // The batch's phone logs in call-ID order, merged into the calls (also in ID order).
    NEXUS_ASSIGN_OR_RETURN(Cursor log,
                           c.Query("SELECT call_id, attempt, status, "
                                   "duration_seconds, recording_url, transcript, "
                                   "created_at FROM call_logs WHERE call_id >= ? AND "
                                   "call_id <= ? ORDER BY call_id, attempt, created_at",
                                   {std::string_view(lowest_id), std::string_view(highest_id)}));
    NEXUS_ASSIGN_OR_RETURN(bool log_ready, log.Next());
    for (; left != 0; --left) {
      NEXUS_ASSIGN_OR_RETURN(const bool more, row.Next());
      if (!more) return absl::OkStatus();
      NEXUS_ASSIGN_OR_RETURN(domain::Call call, ReadCall(row));
      while (log_ready && log.TextView(0) <= std::string_view(call.id)) {
        if (log.TextView(0) == std::string_view(call.id)) {
          NEXUS_ASSIGN_OR_RETURN(domain::PhoneLog entry, ReadPhoneLog(log, 1));
          call.phone_logs.push_back(std::move(entry));
        }
        NEXUS_ASSIGN_OR_RETURN(log_ready, log.Next());
      }
      NEXUS_RETURN_IF_ERROR(fn(call));
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::UpdateBatchStatus(std::string_view org_id, std::string_view batch_id,
                                            domain::BatchStatus expected,
                                            domain::BatchStatus status, absl::Time when) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::Status {
    NEXUS_ASSIGN_OR_RETURN(
        const int64_t changed,
        c.Exec("UPDATE batches SET status = ?, updated_at = ? WHERE organization_id = ? AND id = ? "
               "AND deleted_at IS NULL AND status = ?",
               {domain::BatchStatusName(status), Millis(when), org_id, batch_id,
                domain::BatchStatusName(expected)}));
    if (changed > 0) return absl::OkStatus();
    NEXUS_ASSIGN_OR_RETURN(const std::string current,
                           SelectOne(c, "batch",
                                     "SELECT status FROM batches WHERE organization_id = ? AND "
                                     "id = ? AND deleted_at IS NULL",
                                     {org_id, batch_id}, ReadText));
    return absl::FailedPreconditionError(fmt::format("the batch is {}", current));
  });
}

absl::Status SqliteStore::DeleteBatch(std::string_view org_id, std::string_view batch_id,
                                      absl::Time when) {
  NEXUS_RETURN_IF_ERROR(Transact(*pool_, Mode::kWrite, [&](Connection& c) {
    return ChangedSome(c.Exec("UPDATE batches SET deleted_at = ?, updated_at = ? "
                              "WHERE organization_id = ? AND id = ? AND deleted_at IS NULL",
                              {Millis(when), Millis(when), org_id, batch_id}),
                       "batch");
  }));
  if (call_indexes_) call_indexes_->Erase(batch_id);
  return absl::OkStatus();
}

// --- dialling -------------------------------------------------------------------------------

namespace {

// The compare-and-set updates touch only calls that are not final: queued, or waiting for a
// retry (a final call's counters must not move again).
#define NEXUS_NOT_FINAL                                                                       \
  "AND (status = 'queued' OR (status IN ('failed', 'no_answer', 'busy') AND next_attempt_at " \
  "IS NOT NULL)) "

// In an UPDATE of calls: stamps the call with its batch's next change_seq (migration 7), which
// the statement that follows must then take by BumpChangeSeq() or AdjustCounts().
#define NEXUS_STAMP_CHANGE                                                   \
  "change_seq = COALESCE((SELECT k.change_seq + 1 FROM batch_call_counts k " \
  "WHERE k.batch_id = calls.batch_id), 1) "

// Takes the next change_seq of the batch (see NEXUS_STAMP_CHANGE).
absl::Status BumpChangeSeq(Connection& c, std::string_view batch_id) {
  return c
      .Exec("UPDATE batch_call_counts SET change_seq = change_seq + 1 WHERE batch_id = ?",
            {batch_id})
      .status();
}

// Moves one call from status `from` to `to` in its batch's counters and takes the batch's next
// change_seq; `picked` and `finished` are the deltas of those two counters.
absl::Status AdjustCounts(Connection& c, std::string_view batch_id, domain::CallStatus from,
                          domain::CallStatus to, int64_t picked, int64_t finished) {
  return c
      .Exec(
          "UPDATE batch_call_counts SET "
          "queued = queued - (?2 = 'queued') + (?3 = 'queued'), "
          "in_progress = in_progress - (?2 = 'in_progress') + (?3 = 'in_progress'), "
          "completed = completed - (?2 = 'completed') + (?3 = 'completed'), "
          "failed = failed - (?2 = 'failed') + (?3 = 'failed'), "
          "no_answer = no_answer - (?2 = 'no_answer') + (?3 = 'no_answer'), "
          "busy = busy - (?2 = 'busy') + (?3 = 'busy'), "
          "dnc = dnc - (?2 = 'dnc') + (?3 = 'dnc'), "
          "canceled = canceled - (?2 = 'canceled') + (?3 = 'canceled'), "
          "picked = picked + ?4, finished = finished + ?5, change_seq = change_seq + 1 "
          "WHERE batch_id = ?1",
          {batch_id, domain::CallStatusName(from), domain::CallStatusName(to), picked, finished})
      .status();
}

// A batch whose calls are all final becomes completed (SPEC §6).
absl::Status CompleteIfFinished(Connection& c, std::string_view batch_id, absl::Time now) {
  return c
      .Exec(
          "UPDATE batches SET status = 'completed', updated_at = ?2 "
          "WHERE id = ?1 AND status IN ('active', 'paused') AND EXISTS ("
          "SELECT 1 FROM batch_call_counts k WHERE k.batch_id = ?1 AND k.finished = "
          "k.queued + k.in_progress + k.completed + k.failed + k.no_answer + k.busy + k.dnc + "
          "k.canceled)",
          {batch_id, Millis(now)})
      .status();
}

// The columns ReadCandidate reads, in its order.
#define NEXUS_SELECT_CANDIDATE \
  "SELECT id, batch_id, seq, phone, timezone, variables, status, attempts, next_attempt_at "

// id, batch_id, seq, phone, timezone, variables, status, attempts, next_attempt_at
absl::StatusOr<DialCandidate> ReadCandidate(const Cursor& row) {
  const std::optional<domain::CallStatus> status = domain::ParseCallStatus(row.Text(6));
  if (!status) return Corrupt("calls.status");
  return DialCandidate{.call_id = row.Text(0),
                       .batch_id = row.Text(1),
                       .seq = row.Int(2),
                       .phone = row.Text(3),
                       .timezone = row.OptText(4),
                       .variables_json = row.Text(5),
                       .status = *status,
                       .attempts = row.Int(7),
                       .next_attempt_at = row.OptTime(8)};
}

// The batch_id RETURNING gives when an UPDATE changed the call, nullopt when it did not.
absl::StatusOr<std::optional<std::string>> UpdatedBatch(absl::StatusOr<Cursor> cursor) {
  NEXUS_RETURN_IF_ERROR(cursor.status());
  NEXUS_ASSIGN_OR_RETURN(const bool changed, cursor->Next());
  if (!changed) return std::nullopt;
  std::string batch_id = cursor->Text(0);
  NEXUS_ASSIGN_OR_RETURN(const bool more, cursor->Next());  // run the statement to completion
  (void)more;
  return batch_id;
}

}  // namespace

absl::StatusOr<std::vector<domain::Batch>> SqliteStore::ListActiveBatches() {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectAll(c,
                     NEXUS_SELECT_BATCH
                     "FROM batches "
                     "WHERE status = 'active' AND deleted_at IS NULL ORDER BY created_at, id",
                     {}, ReadBatch);
  });
}

absl::StatusOr<std::vector<DialCandidate>> SqliteStore::ListFreshCalls(std::string_view batch_id,
                                                                       bool own_zone,
                                                                       int64_t after_seq,
                                                                       int limit) {
  return Transact(
      *pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<std::vector<DialCandidate>> {
        if (own_zone) {
          return SelectAll(c,
                           NEXUS_SELECT_CANDIDATE
                           "FROM calls INDEXED BY calls_own_zone "
                           "WHERE batch_id = ? AND status = 'queued' AND timezone IS NOT NULL AND "
                           "next_attempt_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                           {batch_id, after_seq, int64_t{limit}}, ReadCandidate);
        }
        // From the cursor on, in key order (= seq order): fresh calls are all queued, which
        // calls_by_status leaves out.
        NEXUS_ASSIGN_OR_RETURN(
            std::string from_id,
            SelectOne(c, "batch", "SELECT call_id_prefix FROM batches WHERE id = ?", {batch_id},
                      ReadText));
        if (after_seq + 1 >= static_cast<int64_t>(kMaxCallsPerBatch)) {
          return std::vector<DialCandidate>();
        }
        const std::string highest_id = CallIdRange(from_id).second;
        from_id.append(kCallCounterDigits, '0');
        SetCallCounter(from_id, static_cast<size_t>(std::max<int64_t>(after_seq + 1, 0)));
        return SelectAll(
            c,
            NEXUS_SELECT_CANDIDATE
            "FROM calls WHERE id >= ? AND id <= ? AND +batch_id = ? "
            "AND status = 'queued' AND timezone IS NULL AND next_attempt_at IS NULL "
            "ORDER BY id LIMIT ?",
            {std::string_view(from_id), std::string_view(highest_id), batch_id, int64_t{limit}},
            ReadCandidate);
      });
}

absl::StatusOr<std::vector<DialCandidate>> SqliteStore::ListWaitingCalls(std::string_view batch_id,
                                                                         absl::Time now,
                                                                         int limit) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectAll(c,
                     NEXUS_SELECT_CANDIDATE
                     "FROM calls INDEXED BY calls_waiting "
                     "WHERE batch_id = ? AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? "
                     "AND status IN ('queued', 'failed', 'no_answer', 'busy') "
                     "ORDER BY next_attempt_at LIMIT ?",
                     {batch_id, Millis(now), int64_t{limit}}, ReadCandidate);
  });
}

absl::StatusOr<std::vector<bool>> SqliteStore::StartAttempts(std::span<const AttemptStart> starts,
                                                             absl::Time now) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::StatusOr<std::vector<bool>> {
    std::vector<bool> started;
    started.reserve(starts.size());
    for (const AttemptStart& start : starts) {
      NEXUS_ASSIGN_OR_RETURN(
          const std::optional<std::string> batch_id,
          UpdatedBatch(c.Query(
              "UPDATE calls SET status = 'in_progress', attempts = attempts + 1, "
              "next_attempt_at = NULL, attempt_deadline = ?, dialed_from = ?, updated_at = "
              "?, " NEXUS_STAMP_CHANGE
              "WHERE id = ? AND status = ? AND attempts = ? " NEXUS_NOT_FINAL
              "AND EXISTS (SELECT 1 FROM batches b "
              "WHERE b.id = calls.batch_id AND b.status = 'active' AND b.deleted_at IS NULL) "
              "RETURNING batch_id",
              {Millis(start.deadline), start.from, Millis(now), start.call_id,
               domain::CallStatusName(start.expected_status), start.expected_attempts})));
      started.push_back(batch_id.has_value());
      if (!batch_id) continue;
      NEXUS_RETURN_IF_ERROR(AdjustCounts(c, *batch_id, start.expected_status,
                                         domain::CallStatus::kInProgress,
                                         start.expected_attempts == 0 ? 1 : 0, 0));
    }
    return started;
  });
}

absl::Status SqliteStore::DeferCalls(std::span<const Deferral> deferrals, absl::Time now) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::Status {
    for (const Deferral& deferral : deferrals) {
      NEXUS_ASSIGN_OR_RETURN(
          const std::optional<std::string> batch_id,
          UpdatedBatch(c.Query(
              "UPDATE calls SET next_attempt_at = ?, updated_at = ?, " NEXUS_STAMP_CHANGE
              "WHERE id = ? AND status = ? AND attempts = ? " NEXUS_NOT_FINAL "RETURNING batch_id",
              {Millis(deferral.until), Millis(now), deferral.call_id,
               domain::CallStatusName(deferral.expected_status), deferral.expected_attempts})));
      if (batch_id) NEXUS_RETURN_IF_ERROR(BumpChangeSeq(c, *batch_id));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> SqliteStore::MarkCallDnc(std::string_view call_id,
                                              domain::CallStatus expected_status,
                                              int64_t expected_attempts, absl::Time now) {
  return Transact(*pool_, Mode::kWrite, [&](Connection& c) -> absl::StatusOr<bool> {
    NEXUS_ASSIGN_OR_RETURN(
        const std::optional<std::string> batch_id,
        UpdatedBatch(c.Query(
            "UPDATE calls SET status = 'dnc', next_attempt_at = NULL, updated_at = "
            "?, " NEXUS_STAMP_CHANGE "WHERE id = ? AND status = ? AND attempts = ? " NEXUS_NOT_FINAL
            "RETURNING batch_id",
            {Millis(now), call_id, domain::CallStatusName(expected_status), expected_attempts})));
    if (!batch_id) return false;
    NEXUS_RETURN_IF_ERROR(
        AdjustCounts(c, *batch_id, expected_status, domain::CallStatus::kDnc, 0, 1));
    NEXUS_RETURN_IF_ERROR(CompleteIfFinished(c, *batch_id, now));
    return true;
  });
}

absl::StatusOr<std::vector<OutcomeEffect>> SqliteStore::RecordOutcomes(
    std::span<const AttemptOutcome> outcomes, absl::Time now) {
  for (const AttemptOutcome& outcome : outcomes) {
    if (!domain::IsAttemptOutcome(outcome.status)) {
      return absl::InvalidArgumentError("an outcome must be completed, failed, no_answer or busy");
    }
  }
  return Transact(
      *pool_, Mode::kWrite, [&](Connection& c) -> absl::StatusOr<std::vector<OutcomeEffect>> {
        std::vector<OutcomeEffect> effects;
        effects.reserve(outcomes.size());
        for (const AttemptOutcome& o : outcomes) {
          const Arg duration = o.duration_seconds ? Arg(*o.duration_seconds) : Arg(nullptr);
          NEXUS_ASSIGN_OR_RETURN(
              const int64_t logged,
              c.Exec("INSERT OR IGNORE INTO call_logs (call_id, attempt, status, "
                     "duration_seconds, recording_url, transcript, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {o.call_id, o.attempt, domain::CallStatusName(o.status), duration,
                      o.recording_url, o.transcript, Millis(now)}));
          // Only failed / no_answer / busy are retried; `completed` is always final.
          const bool retry =
              o.next_attempt_at.has_value() && o.status != domain::CallStatus::kCompleted;
          const Arg next = retry ? Arg(Millis(*o.next_attempt_at)) : Arg(nullptr);
          NEXUS_ASSIGN_OR_RETURN(
              const std::optional<std::string> batch_id,
              UpdatedBatch(c.Query(
                  "UPDATE calls SET status = ?, next_attempt_at = ?, "
                  "attempt_deadline = NULL, updated_at = ?, " NEXUS_STAMP_CHANGE
                  "WHERE id = ? AND status = 'in_progress' AND attempts = ? "
                  "RETURNING batch_id",
                  {domain::CallStatusName(o.status), next, Millis(now), o.call_id, o.attempt})));
          if (!batch_id) {
            // Not in progress on that attempt: the same outcome again, or a late or second
            // report (kept as a log only). A log written earlier (say, by a report that came
            // before its attempt started) never keeps an outcome from being applied.
            effects.push_back(logged == 0 ? OutcomeEffect::kDuplicate : OutcomeEffect::kLogged);
            continue;
          }
          NEXUS_RETURN_IF_ERROR(AdjustCounts(c, *batch_id, domain::CallStatus::kInProgress,
                                             o.status, 0, retry ? 0 : 1));
          if (!retry) NEXUS_RETURN_IF_ERROR(CompleteIfFinished(c, *batch_id, now));
          effects.push_back(OutcomeEffect::kApplied);
        }
        return effects;
      });
}

absl::StatusOr<CallCounts> SqliteStore::CountAllCalls() {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) -> absl::StatusOr<CallCounts> {
    NEXUS_ASSIGN_OR_RETURN(
        Cursor row, c.Query("SELECT TOTAL(k.queued), TOTAL(k.in_progress), TOTAL(k.completed), "
                            "TOTAL(k.failed), TOTAL(k.no_answer), TOTAL(k.busy), TOTAL(k.dnc), "
                            "TOTAL(k.canceled), TOTAL(k.picked), TOTAL(k.finished) "
                            "FROM batch_call_counts k JOIN batches b ON b.id = k.batch_id "
                            "WHERE b.deleted_at IS NULL",
                            {}));
    NEXUS_ASSIGN_OR_RETURN(const bool found, row.Next());
    return found ? ReadCounts(row, 0) : CallCounts();
  });
}

absl::StatusOr<CallRef> SqliteStore::FindCall(std::string_view call_id) {
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectOne(
        c, "call",
        "SELECT c.id, c.batch_id, b.organization_id, b.agent_id, c.status, c.attempts, "
        "c.timezone FROM calls c JOIN batches b ON b.id = c.batch_id "
        "WHERE c.id = ? AND b.deleted_at IS NULL",
        {call_id}, [](const Cursor& row) -> absl::StatusOr<CallRef> {
          const std::optional<domain::CallStatus> status = domain::ParseCallStatus(row.Text(4));
          if (!status) return Corrupt("calls.status");
          return CallRef{.call_id = row.Text(0),
                         .batch_id = row.Text(1),
                         .organization_id = row.Text(2),
                         .agent_id = row.Text(3),
                         .status = *status,
                         .attempts = row.Int(5),
                         .timezone = row.OptText(6)};
        });
  });
}

absl::StatusOr<std::vector<InProgressCall>> SqliteStore::ListInProgress(absl::Time until,
                                                                        int limit) {
  const Arg bound = until == absl::InfiniteFuture() ? Arg(INT64_MAX) : Millis(until);
  return Transact(*pool_, Mode::kRead, [&](Connection& c) {
    return SelectAll(c,
                     "SELECT id, batch_id, COALESCE(dialed_from, ''), attempts, attempt_deadline "
                     "FROM calls INDEXED BY calls_in_progress WHERE attempt_deadline IS NOT NULL "
                     "AND attempt_deadline <= ? AND status = 'in_progress' "
                     "ORDER BY attempt_deadline LIMIT ?",
                     {bound, int64_t{limit}},
                     [](const Cursor& row) -> absl::StatusOr<InProgressCall> {
                       return InProgressCall{.call_id = row.Text(0),
                                             .batch_id = row.Text(1),
                                             .from = row.Text(2),
                                             .attempts = row.Int(3),
                                             .deadline = row.Time(4)};
                     });
  });
}

}  // namespace nexus::store::sqlite
