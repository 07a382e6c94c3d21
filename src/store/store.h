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

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "domain/agent.h"
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

struct DncPage {
  std::vector<domain::DncEntry> entries;  // ordered by e164
  int64_t total = 0;
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
};

struct StoreOptions {
  // SQLite: connections in the pool (readers run in parallel under WAL; writes are serialised
  // with BEGIN IMMEDIATE).
  int pool_size = 8;
  // How long a write waits for the database's single writer before answering Unavailable.
  absl::Duration busy_timeout = absl::Seconds(5);
};

// Opens (creating if needed) the store named by `url` and brings its schema to the current
// version by running pending migrations. Accepts "sqlite://PATH" (relative or absolute; PATH
// ":memory:" for a private in-memory database). InvalidArgument for an unknown scheme or a
// malformed URL; Unavailable when the database cannot be opened.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url,
                                                 const StoreOptions& options = {});

}  // namespace nexus::store
