// File: service/workspace_service.h
//
// Use cases of the workspace API (SPEC §6): organization settings, agents, phone numbers, users,
// tokens, API keys and the do-not-call list. Every call acts for a Principal and touches only
// that principal's organization: an ID of another organization is NotFound, exactly like a
// missing one. Role checks (admin vs member) are made by the HTTP route table before these run;
// the one per-object rule enforced here is that a member may revoke only their own tokens.
//
// Inputs are plain structs already decoded from JSON; semantic validation happens here and
// fails with InvalidArgument whose message starts with the field name ("timezone ...").
// Nothing is written when validation fails. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "domain/agent.h"
#include "domain/credential.h"
#include "domain/organization.h"
#include "domain/phone_number.h"
#include "domain/user.h"
#include "store/store.h"

namespace nexus::service {

// A field that may be absent (outer nullopt), explicitly null (inner nullopt) or set.
template <typename T>
using Nullable = std::optional<std::optional<T>>;

struct WindowInput {
  std::string start;
  std::string end;
};

struct OrganizationPatch {
  std::optional<std::string> name;
  std::optional<std::string> timezone;
  std::optional<std::string> default_country;
  Nullable<WindowInput> legal_window;
};

struct VariableInput {
  std::string key;
  bool required = false;
  std::optional<std::string> type;  // default "string"
};

// POST creates (name required); PATCH changes only the fields present.
struct AgentInput {
  std::optional<std::string> name;
  Nullable<std::string> language;
  std::optional<std::vector<VariableInput>> variables;
  Nullable<std::string> dispatch_url;
};

struct DncAddResult {
  int64_t added = 0;
  std::vector<std::string> invalid;  // the inputs that are not valid phone numbers, as given
};

class WorkspaceService {
 public:
  // `store` and `clock` must outlive this object.
  WorkspaceService(store::Store& store, const core::Clock& clock) : store_(store), clock_(clock) {}

  absl::StatusOr<domain::Organization> GetOrganization(const domain::Principal& caller);
  absl::StatusOr<domain::Organization> UpdateOrganization(const domain::Principal& caller,
                                                          const OrganizationPatch& patch);

  absl::StatusOr<domain::Agent> CreateAgent(const domain::Principal& caller,
                                            const AgentInput& input);
  absl::StatusOr<domain::Agent> UpdateAgent(const domain::Principal& caller,
                                            std::string_view agent_id, const AgentInput& input);
  absl::StatusOr<std::vector<domain::Agent>> ListAgents(const domain::Principal& caller);

  // `text` in any spelling; normalised to E.164 with the organization's default country.
  absl::StatusOr<domain::PhoneNumber> CreatePhoneNumber(const domain::Principal& caller,
                                                        std::string_view text,
                                                        const std::optional<std::string>& agent_id);
  absl::StatusOr<domain::PhoneNumber> UpdatePhoneNumber(const domain::Principal& caller,
                                                        std::string_view number_id,
                                                        const std::optional<std::string>& agent_id);
  absl::StatusOr<std::vector<domain::PhoneNumber>> ListPhoneNumbers(
      const domain::Principal& caller);

  absl::StatusOr<domain::User> CreateUser(const domain::Principal& caller, std::string_view email,
                                          std::string_view name, std::string_view role);
  absl::StatusOr<domain::IssuedCredential> CreateToken(const domain::Principal& caller,
                                                       std::string_view user_id);
  absl::Status RevokeToken(const domain::Principal& caller, std::string_view token_id);
  absl::StatusOr<domain::IssuedCredential> CreateApiKey(const domain::Principal& caller,
                                                        std::string_view name);
  absl::Status RevokeApiKey(const domain::Principal& caller, std::string_view key_id);

  absl::StatusOr<DncAddResult> AddDncNumbers(const domain::Principal& caller,
                                             const std::vector<std::string>& numbers);
  absl::Status RemoveDncNumber(const domain::Principal& caller, std::string_view number);
  // `page` >= 1, `limit` 1..100 (InvalidArgument otherwise).
  absl::StatusOr<store::DncPage> ListDncNumbers(const domain::Principal& caller, int64_t page,
                                                int64_t limit);

 private:
  // The agent `agent_id` of the caller's organization: InvalidArgument for a malformed ID,
  // NotFound ("agent not found") for an unknown one.
  absl::Status CheckAgentExists(const domain::Principal& caller, std::string_view field,
                                const std::string& agent_id);
  absl::Status ApplyAgentInput(const AgentInput& input, domain::Agent& agent);

  store::Store& store_;
  const core::Clock& clock_;
};

}  // namespace nexus::service
