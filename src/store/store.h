// File: store/store.h
//
// The persistence interface the rest of Nexus talks to. Implementations (sqlite/ now, postgres/
// later) live below this folder and are chosen only by OpenStore(); nothing outside store/ sees
// SQL, a connection or a driver type.
//
// Contract shared by every method:
//  - Each call is atomic: it commits completely or changes nothing.
//  - Tenancy: every lookup of an organization's object takes the organization ID and answers
//    NotFound for an object of another organization, exactly as for a missing one.
//  - Errors: NotFound (no such object), AlreadyExists (a uniqueness rule, message names the
//    field), Unavailable (store busy, locked or unreachable; safe to retry), ResourceExhausted
//    (disk or database full), Internal (anything else; the message carries no SQL).
//  - Thread-safe: one Store is shared by every server thread.
#pragma once

#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "domain/agent.h"
#include "domain/batch.h"
#include "domain/credential.h"
#include "domain/organization.h"
#include "domain/phone_number.h"
#include "domain/user.h"

namespace nexus::store {

// Everything `nexus init` creates, written in one transaction.
struct NewWorkspace {
  domain::Organization organization;
  domain::User admin;
  domain::Credential admin_token;
  std::optional<domain::Agent> agent;
  std::optional<domain::PhoneNumber> phone_number;
};

// A credential found by its secret hash, with the user it acts as.
struct CredentialOwner {
  domain::Credential credential;
  domain::User user;
};

// One call of a new batch, as the upload prepared it. The views must stay valid for the duration
// of InsertBatch.
struct NewCall {
  std::string_view e164;
  std::string_view timezone;        // "" = the batch's
  std::string_view variables_json;  // a JSON object of string values: {"name":"Ann",...}
};

// A data row a lenient upload skipped (invalid, duplicate or on the DNC list), kept for
// GET /api/call/batch/{id}/invalid-rows.csv. The views must stay valid during InsertBatch.
struct SkippedRow {
  int64_t row = 0;              // spreadsheet row number
  std::string_view column;      // the first error's column ("phoneNumber", a variable key, ...)
  std::string_view message;     // the first error's message
  std::string_view cells_json;  // JSON array of the row's cells as read from the file
};

struct SkippedRows {
  std::span<const std::string> header;  // the file's header cells
  std::span<const SkippedRow> rows;     // in row order
};

// An Idempotency-Key is answered from its record for this long; after that the key is free and
// a new request with it replaces the expired record.
inline constexpr absl::Duration kIdempotencyKeyLifetime = absl::Hours(24);

// The stored answer of a successful request made with an Idempotency-Key.
struct IdempotencyRecord {
  std::string user_id;
  std::string key;
  std::string fingerprint;  // SHA-256 hex of the request (fields + file)
  int http_status = 200;
  std::string response_body;
  absl::Time created_at;
};

struct DncPage {
  std::vector<domain::DncEntry> entries;  // ordered by e164
  int64_t total = 0;
};

// How many calls of a batch are in each state (kept as counters, so reading them costs one row).
struct CallCounts {
  int64_t by_status[std::size(domain::kAllCallStatuses)] = {};  // indexed like kAllCallStatuses
  int64_t picked = 0;  // calls dialled at least once (attempts > 0)
  // Calls in a final status (SPEC §6 "Retries and completion"): completed, dnc, canceled, or
  // failed / no_answer / busy with no next attempt scheduled (next_attempt_at NULL).
  int64_t finished = 0;

  int64_t Of(domain::CallStatus status) const { return by_status[static_cast<size_t>(status)]; }
  int64_t Total() const {
    int64_t total = 0;
    for (int64_t count : by_status) total += count;
    return total;
  }
};

// A page of one batch's calls (GET /api/call/batch-details). Conditions are ANDed.
struct CallQuery {
  // Equality on a variable; `value` nullopt matches calls that do not have the variable.
  struct VariableCondition {
    std::string key;
    std::optional<std::string> value;
  };
  static constexpr size_t kMaxVariableConditions = 8;

  std::optional<domain::CallStatus> status;
  std::optional<std::string> phone;          // E.164, exact
  std::vector<VariableCondition> variables;  // at most kMaxVariableConditions
  std::string search;  // "" = none; case-insensitive literal substring (store/search_text.h)

  enum class SortKey { kCreatedAt, kUpdatedAt, kPhone, kStatus, kAttempts, kVariable };
  SortKey sort_key = SortKey::kCreatedAt;
  std::string sort_variable;  // for kVariable: compared as text; calls without it sort lowest
  bool descending = true;     // ties are broken by row order (seq), in the same direction
  int64_t offset = 0;
  int64_t limit = 10;
};

struct CallPage {
  std::vector<domain::Call> calls;
  int64_t total = 0;  // calls matching the conditions
  CallCounts counts;  // the whole batch, read in the same snapshot as `calls`
};

// A batch with its counters, as batch lists show it.
struct BatchListItem {
  domain::Batch batch;
  CallCounts counts;
};

struct BatchListPage {
  std::vector<BatchListItem> items;  // newest first (created_at, then ID, descending)
  int64_t total = 0;
};

// --- dialling (schedule/dispatcher.h) ---------------------------------------------------------

// A call the dialler may start, with the state it was read in (StartAttempts compares it).
struct DialCandidate {
  std::string call_id;
  std::string batch_id;
  int64_t seq = 0;
  std::string phone;                    // E.164
  std::optional<std::string> timezone;  // the contact's own zone
  std::string variables_json;
  domain::CallStatus status = domain::CallStatus::kQueued;
  int64_t attempts = 0;
  std::optional<absl::Time> next_attempt_at;
};

// Start one attempt of a call, if it is still in the state it was read in.
struct AttemptStart {
  std::string call_id;
  domain::CallStatus expected_status = domain::CallStatus::kQueued;
  int64_t expected_attempts = 0;
  std::string from;     // the calling number (E.164) dialling it
  absl::Time deadline;  // no report by then: the attempt counts as failed
};

// A call's next attempt moved to `until` (its window's next opening), if still in the state it
// was read in.
struct Deferral {
  std::string call_id;
  domain::CallStatus expected_status = domain::CallStatus::kQueued;
  int64_t expected_attempts = 0;
  absl::Time until;
};

// What the runtime reported for an attempt (or the timeout decided).
struct AttemptOutcome {
  std::string call_id;
  int64_t attempt = 0;  // the attempt reported on (calls.attempts when it was started)
  domain::CallStatus status = domain::CallStatus::kFailed;  // an attempt outcome
  std::optional<int64_t> duration_seconds;
  std::string recording_url;
  std::string transcript;
  std::optional<absl::Time> next_attempt_at;  // a retry; nullopt = the call ends here
};

enum class OutcomeEffect {
  kApplied,    // the call left in_progress with this outcome
  kDuplicate,  // this attempt already has this outcome: nothing changed
  kLogged,     // a late or second report: logged, the call's status unchanged
};

// The call an outcome report names, with what checking and applying it needs.
struct CallRef {
  std::string call_id;
  std::string batch_id;
  std::string organization_id;
  std::string agent_id;
  domain::CallStatus status = domain::CallStatus::kQueued;
  int64_t attempts = 0;
  std::optional<std::string> timezone;
};

// An attempt in progress (restart: its calling number is busy; timeouts).
struct InProgressCall {
  std::string call_id;
  std::string batch_id;
  std::string from;
  int64_t attempts = 0;
  absl::Time deadline;
};

class Store {
 public:
  virtual ~Store() = default;

  // OK when the database answers a trivial query.
  virtual absl::Status Ping() = 0;

  // --- organizations ---------------------------------------------------------------------
  // Creates the organization, its admin, the admin's token and the optional demo agent and phone
  // number together. AlreadyExists if any ID is taken.
  virtual absl::Status CreateWorkspace(const NewWorkspace& workspace) = 0;
  virtual absl::StatusOr<domain::Organization> GetOrganization(std::string_view org_id) = 0;
  // Overwrites name, timezone, default_country and legal_window of an existing organization.
  virtual absl::Status UpdateOrganization(const domain::Organization& organization) = 0;

  // --- users -----------------------------------------------------------------------------
  // AlreadyExists ("email") when the organization has a user with the same email.
  virtual absl::Status InsertUser(const domain::User& user) = 0;
  virtual absl::StatusOr<domain::User> GetUser(std::string_view org_id,
                                               std::string_view user_id) = 0;
  // By ID alone, for the CLI (`nexus token create --user`), which has no organization context.
  virtual absl::StatusOr<domain::User> FindUserById(std::string_view user_id) = 0;

  // --- credentials (tokens and API keys) -------------------------------------------------
  virtual absl::Status InsertCredential(const domain::Credential& credential) = 0;
  // The unrevoked credential whose secret_hash equals `secret_hash`, with its user. NotFound when
  // there is none or it was revoked. The implementation may look up by hash; the caller still
  // compares the hash in constant time.
  virtual absl::StatusOr<CredentialOwner> FindActiveCredential(std::string_view secret_hash) = 0;
  virtual absl::StatusOr<domain::Credential> GetCredential(std::string_view org_id,
                                                           std::string_view credential_id,
                                                           domain::CredentialKind kind) = 0;
  // Marks the credential revoked at `when` (idempotent for an already revoked one).
  // NotFound when the organization has no credential of that kind with that ID.
  virtual absl::Status RevokeCredential(std::string_view org_id, std::string_view credential_id,
                                        domain::CredentialKind kind, absl::Time when) = 0;

  // --- agents ----------------------------------------------------------------------------
  virtual absl::Status InsertAgent(const domain::Agent& agent) = 0;
  // Overwrites every field but id, organization_id and created_at. NotFound if missing.
  virtual absl::Status UpdateAgent(const domain::Agent& agent) = 0;
  virtual absl::StatusOr<domain::Agent> GetAgent(std::string_view org_id,
                                                 std::string_view agent_id) = 0;
  // Ordered by creation time, oldest first.
  virtual absl::StatusOr<std::vector<domain::Agent>> ListAgents(std::string_view org_id) = 0;

  // --- phone numbers ---------------------------------------------------------------------
  // AlreadyExists ("phoneNumber") when the organization already has this E.164 number.
  virtual absl::Status InsertPhoneNumber(const domain::PhoneNumber& number) = 0;
  // Overwrites agent_id. NotFound if missing.
  virtual absl::Status UpdatePhoneNumber(const domain::PhoneNumber& number) = 0;
  virtual absl::StatusOr<domain::PhoneNumber> GetPhoneNumber(std::string_view org_id,
                                                             std::string_view number_id) = 0;
  // Ordered by creation time, oldest first.
  virtual absl::StatusOr<std::vector<domain::PhoneNumber>> ListPhoneNumbers(
      std::string_view org_id) = 0;

  // --- do-not-call list ------------------------------------------------------------------
  // Adds the E.164 numbers not yet on the list; returns how many were new.
  virtual absl::StatusOr<int64_t> AddDncNumbers(std::string_view org_id,
                                                const std::vector<std::string>& e164_numbers,
                                                absl::Time when) = 0;
  // NotFound when the number is not on the list.
  virtual absl::Status RemoveDncNumber(std::string_view org_id, std::string_view e164) = 0;
  virtual absl::StatusOr<DncPage> ListDncNumbers(std::string_view org_id, int64_t offset,
                                                 int64_t limit) = 0;
  virtual absl::StatusOr<bool> IsOnDncList(std::string_view org_id, std::string_view e164) = 0;
  // Every number on the organization's list (the upload checks a whole file against it).
  virtual absl::StatusOr<std::vector<std::string>> ListAllDncNumbers(std::string_view org_id) = 0;

  // --- batches and calls -----------------------------------------------------------------
  // Stores the batch, all its calls (status queued, 0 attempts, created_at = batch.created_at)
  // and, if given, the idempotency record, in ONE write transaction: all or nothing. Call i gets
  // the ID batch.call_id_prefix + the 6-hex-digit counter i (0-based), i.e. a valid ObjectId, and
  // seq = i (the upload's row order). AlreadyExists when the batch ID or the idempotency
  // (user_id, key) is taken; ResourceExhausted when the disk or database is full.
  // batch.variable_keys is stored with the batch; the batch's CallCounts start at queued = the
  // number of calls. Whatever later adds calls to a batch must continue the counter (so that ID
  // order stays row order, which ListCalls relies on) and add them to the counters, and whatever
  // changes a call's status, attempts or next attempt must adjust the counters in the same
  // transaction (they are stored, not computed: see store/sqlite/migrations.cc, migration 3).
  // The skipped rows (may be empty) are stored in the same transaction.
  virtual absl::Status InsertBatch(const domain::Batch& batch, std::span<const NewCall> calls,
                                   const SkippedRows& skipped,
                                   const IdempotencyRecord* idempotency) = 0;
  // Calls `header` with the batch's file header cells, then `row` for each of at most `limit`
  // skipped rows (-1: all) numbered above `after_row` (0: from the first), in row order (views
  // valid during the call), inside one read snapshot. NotFound as GetBatch.
  virtual absl::Status ForEachSkippedRow(
      std::string_view org_id, std::string_view batch_id, int64_t after_row, int64_t limit,
      absl::FunctionRef<absl::Status(std::span<const std::string>)> header,
      absl::FunctionRef<absl::Status(const SkippedRow&)> row) = 0;
  // A batch of the organization that is not deleted; NotFound otherwise.
  virtual absl::StatusOr<domain::Batch> GetBatch(std::string_view org_id,
                                                 std::string_view batch_id) = 0;
  // The record for (user_id, key) created at or after `not_before`, or nullopt.
  virtual absl::StatusOr<std::optional<IdempotencyRecord>> FindIdempotencyRecord(
      std::string_view user_id, std::string_view key, absl::Time not_before) = 0;

  // The batches of the organization owned by `user_id` that are not deleted, newest first, with
  // their counters. `search` ("" = none) keeps those whose name or status contains it
  // (case-insensitive, literal). InvalidArgument for a negative offset or limit.
  virtual absl::StatusOr<BatchListPage> ListBatches(std::string_view org_id,
                                                    std::string_view user_id,
                                                    std::string_view search, int64_t offset,
                                                    int64_t limit) = 0;
  // One page of a batch's calls, how many match, and the batch's counters, in one snapshot.
  // NotFound as GetBatch. InvalidArgument for a negative offset or limit or more than
  // kMaxVariableConditions variable conditions. Implementations must answer the default view
  // (no condition, sorted by createdAt) and a status-only filter without reading every call.
  virtual absl::StatusOr<CallPage> ListCalls(std::string_view org_id, std::string_view batch_id,
                                             const CallQuery& query) = 0;
  // Calls `fn` for every call of the batch in row order (seq), inside one read snapshot, and
  // stops at the first error `fn` returns. NotFound as GetBatch.
  virtual absl::Status ForEachCall(std::string_view org_id, std::string_view batch_id,
                                   absl::FunctionRef<absl::Status(const domain::Call&)> fn) = 0;
  // The same for at most `limit` calls whose ID is greater than `after_id` ("" = from the
  // first): one page of a long export, each page its own short read transaction.
  virtual absl::Status ForEachCallAfter(
      std::string_view org_id, std::string_view batch_id, std::string_view after_id, int64_t limit,
      absl::FunctionRef<absl::Status(const domain::Call&)> fn) = 0;
  // Sets the batch's status and updated_at, if its status is still `expected` (compare and
  // set). NotFound as GetBatch; FailedPrecondition when the status is no longer `expected`.
  virtual absl::Status UpdateBatchStatus(std::string_view org_id, std::string_view batch_id,
                                         domain::BatchStatus expected, domain::BatchStatus status,
                                         absl::Time when) = 0;
  // Soft delete: sets deleted_at (and updated_at); the batch is NotFound from then on, for every
  // method. NotFound when it is missing or already deleted.
  virtual absl::Status DeleteBatch(std::string_view org_id, std::string_view batch_id,
                                   absl::Time when) = 0;

  // --- dialling ------------------------------------------------------------------------------
  // Calls' status and attempts change only through these; each adjusts the batch counters in
  // the same transaction, and a batch whose calls are all final becomes completed. The
  // compare-and-set ones (StartAttempts, DeferCalls, MarkCallDnc) never touch a final call.
  //
  // Active, not deleted batches of every organization, oldest first.
  virtual absl::StatusOr<std::vector<domain::Batch>> ListActiveBatches() = 0;
  // Queued calls never deferred (next_attempt_at NULL) of the batch with seq > after_seq, in row
  // order: those with their own time zone (own_zone) or those on the batch's zone.
  virtual absl::StatusOr<std::vector<DialCandidate>> ListFreshCalls(std::string_view batch_id,
                                                                    bool own_zone,
                                                                    int64_t after_seq,
                                                                    int limit) = 0;
  // Calls of the batch whose next attempt (a deferral or a retry) is due at `now`, earliest
  // first.
  virtual absl::StatusOr<std::vector<DialCandidate>> ListWaitingCalls(std::string_view batch_id,
                                                                      absl::Time now,
                                                                      int limit) = 0;
  // In one transaction, each start whose call still has the expected status and attempts and
  // whose batch is active: status in_progress, attempts + 1, next attempt cleared, deadline and
  // calling number set. Returns, per start, whether it happened.
  virtual absl::StatusOr<std::vector<bool>> StartAttempts(std::span<const AttemptStart> starts,
                                                          absl::Time now) = 0;
  virtual absl::Status DeferCalls(std::span<const Deferral> deferrals, absl::Time now) = 0;
  // Ends the call as dnc (SPEC: a number put on the list after the upload is never dialled), if
  // it still has the expected status and attempts. Returns whether it did.
  virtual absl::StatusOr<bool> MarkCallDnc(std::string_view call_id,
                                           domain::CallStatus expected_status,
                                           int64_t expected_attempts, absl::Time now) = 0;
  // Appends a phone log per outcome (once per call, attempt and status) and, when the call is
  // in_progress on that attempt, applies the outcome (status, next attempt, counters; a
  // `completed` outcome is final whatever next_attempt_at says). Not applied: kDuplicate when
  // that log already existed, else kLogged.
  virtual absl::StatusOr<std::vector<OutcomeEffect>> RecordOutcomes(
      std::span<const AttemptOutcome> outcomes, absl::Time now) = 0;
  // The call with this ID in any organization's non-deleted batch; NotFound otherwise.
  virtual absl::StatusOr<CallRef> FindCall(std::string_view call_id) = 0;
  // The counters of every non-deleted batch, summed (the calls-by-status metric).
  virtual absl::StatusOr<CallCounts> CountAllCalls() = 0;
  // Attempts in progress whose deadline is at or before `until` (InfiniteFuture: all).
  virtual absl::StatusOr<std::vector<InProgressCall>> ListInProgress(absl::Time until,
                                                                     int limit) = 0;
};

struct StoreOptions {
  // SQLite: connections in the pool (readers run in parallel under WAL; writes are serialised
  // with BEGIN IMMEDIATE).
  int pool_size = 8;
  // How long a write waits for the database's single writer before answering Unavailable.
  absl::Duration busy_timeout = absl::Seconds(5);
  // Batches of at least this many calls get an in-memory index (store/call_index.h) for the
  // batch-details queries that would otherwise read every call: a search, a phone or variable
  // filter, a sort other than createdAt / callStatus. Smaller batches are read from the database.
  int64_t call_index_min_calls = 20'000;
  // Memory those indexes may hold together, least recently used batch out first; 0 = no
  // indexes. About 120 bytes per call with 4 short variables (100 bytes of JSON).
  size_t call_index_max_bytes = size_t{512} << 20;
  // When a large batch is read with a view that needs no index (the default view, which an
  // operator opens first), build its index on a background thread, so that the search or filter
  // that follows finds it ready instead of waiting for the build (~1 s per million calls).
  bool call_index_warm = true;
  // TEST ONLY: honour fault-injection environment variables (see store/sqlite/sqlite_store.h,
  // NEXUS_TEST_KILL_AFTER_CALLS) and test_max_page_count. Set only by the hidden
  // `nexus serve --test-allow-faults` flag that the fault tests use; never in a deployment.
  bool allow_test_faults = false;
  // TEST ONLY (with allow_test_faults): caps the SQLite file at this many pages to simulate a
  // full disk (0 = no cap).
  int64_t test_max_page_count = 0;
};

// Opens (creating if needed) the store named by `url` and brings its schema to the current
// version by running pending migrations. Accepts "sqlite://PATH" (relative or absolute; PATH
// ":memory:" for a private in-memory database). InvalidArgument for an unknown scheme or a
// malformed URL; Unavailable when the database cannot be opened.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url,
                                                 const StoreOptions& options = {});

}  // namespace nexus::store
