#include "service/workspace_service.h"

#include "absl/strings/ascii.h"
#include "core/object_id.h"
#include "core/status.h"
#include "domain/phone.h"

namespace nexus::service {
namespace {

std::string Trimmed(std::string_view text) {
  return std::string(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
}

absl::Status CheckId(std::string_view field, std::string_view id) {
  if (!core::IsObjectId(id)) {
    return absl::InvalidArgumentError(fmt::format("{} must be a 24-character hex ID", field));
  }
  return absl::OkStatus();
}

// IDs are compared as stored: lowercase hex.
std::string LowerId(std::string_view id) {
  return absl::AsciiStrToLower(absl::string_view(id.data(), id.size()));
}

}  // namespace

absl::StatusOr<domain::Organization> WorkspaceService::GetOrganization(
    const domain::Principal& caller) {
  return store_.GetOrganization(caller.user.organization_id);
}

absl::StatusOr<domain::Organization> WorkspaceService::UpdateOrganization(
    const domain::Principal& caller, const OrganizationPatch& patch) {
  NEXUS_ASSIGN_OR_RETURN(domain::Organization org,
                         store_.GetOrganization(caller.user.organization_id));
  if (patch.name) {
    NEXUS_RETURN_IF_ERROR(domain::ValidateOrganizationName(*patch.name));
    org.name = Trimmed(*patch.name);
  }
  if (patch.timezone) {
    if (!domain::IsKnownTimeZone(*patch.timezone)) {
      return absl::InvalidArgumentError(
          fmt::format("timezone \"{}\" is not a known IANA time zone (e.g. America/New_York)",
                      *patch.timezone));
    }
    org.timezone = *patch.timezone;
  }
  if (patch.default_country) {
    const std::string region = absl::AsciiStrToUpper(*patch.default_country);
    if (!domain::IsSupportedRegion(region)) {
      return absl::InvalidArgumentError(
          "defaultCountry must be an ISO 3166 alpha-2 region code such as \"US\"");
    }
    org.default_country = region;
  }
  if (patch.legal_window) {
    if (!patch.legal_window->has_value()) {
      org.legal_window.reset();
    } else {
      NEXUS_ASSIGN_OR_RETURN(org.legal_window,
                             domain::MakeDailyWindow("legalWindow", (*patch.legal_window)->start,
                                                     (*patch.legal_window)->end));
    }
  }
  NEXUS_RETURN_IF_ERROR(store_.UpdateOrganization(org));
  return org;
}

absl::Status WorkspaceService::ApplyAgentInput(const AgentInput& input, domain::Agent& agent) {
  if (input.name) {
    NEXUS_RETURN_IF_ERROR(domain::ValidateAgentName(*input.name));
    agent.name = Trimmed(*input.name);
  }
  if (input.language) {
    if (input.language->has_value() && !(*input.language)->empty()) {
      NEXUS_RETURN_IF_ERROR(domain::ValidateLanguageTag(**input.language));
      agent.language = **input.language;
    } else {
      agent.language.reset();
    }
  }
  if (input.variables) {
    std::vector<domain::Variable> variables;
    variables.reserve(input.variables->size());
    for (size_t i = 0; i < input.variables->size(); ++i) {
      const VariableInput& in = (*input.variables)[i];
      domain::Variable variable{in.key, in.required, domain::VariableType::kString};
      if (in.type) {
        const auto type = domain::ParseVariableType(*in.type);
        if (!type) {
          return absl::InvalidArgumentError(fmt::format(
              "variables[{}].type must be one of string, number, integer, boolean, date, email",
              i));
        }
        variable.type = *type;
      }
      variables.push_back(std::move(variable));
    }
    NEXUS_RETURN_IF_ERROR(domain::ValidateVariables(variables));
    agent.variables = std::move(variables);
  }
  if (input.dispatch_url) {
    if (input.dispatch_url->has_value() && !(*input.dispatch_url)->empty()) {
      NEXUS_RETURN_IF_ERROR(domain::ValidateDispatchUrl(**input.dispatch_url));
      agent.dispatch_url = **input.dispatch_url;
    } else {
      agent.dispatch_url.reset();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<domain::Agent> WorkspaceService::CreateAgent(const domain::Principal& caller,
                                                            const AgentInput& input) {
  if (!input.name) return absl::InvalidArgumentError("name is required");
  const absl::Time now = clock_.Now();
  domain::Agent agent;
  agent.id = core::NewObjectId(now);
  agent.organization_id = caller.user.organization_id;
  agent.webhook_secret = domain::NewWebhookSecret();
  agent.created_at = now;
  agent.updated_at = now;
  NEXUS_RETURN_IF_ERROR(ApplyAgentInput(input, agent));
  NEXUS_RETURN_IF_ERROR(store_.InsertAgent(agent));
  return agent;
}

absl::StatusOr<domain::Agent> WorkspaceService::UpdateAgent(const domain::Principal& caller,
                                                            std::string_view agent_id,
                                                            const AgentInput& input) {
  NEXUS_RETURN_IF_ERROR(CheckId("agent ID", agent_id));
  NEXUS_ASSIGN_OR_RETURN(domain::Agent agent,
                         store_.GetAgent(caller.user.organization_id, LowerId(agent_id)));
  NEXUS_RETURN_IF_ERROR(ApplyAgentInput(input, agent));
  agent.updated_at = clock_.Now();
  NEXUS_RETURN_IF_ERROR(store_.UpdateAgent(agent));
  return agent;
}

absl::StatusOr<std::vector<domain::Agent>> WorkspaceService::ListAgents(
    const domain::Principal& caller) {
  return store_.ListAgents(caller.user.organization_id);
}

absl::Status WorkspaceService::CheckAgentExists(const domain::Principal& caller,
                                                std::string_view field,
                                                const std::string& agent_id) {
  NEXUS_RETURN_IF_ERROR(CheckId(field, agent_id));
  auto agent = store_.GetAgent(caller.user.organization_id, agent_id);
  if (absl::IsNotFound(agent.status())) {
    return absl::NotFoundError(fmt::format("{}: agent not found", field));
  }
  return agent.status();
}

absl::StatusOr<domain::PhoneNumber> WorkspaceService::CreatePhoneNumber(
    const domain::Principal& caller, std::string_view text,
    const std::optional<std::string>& agent_id) {
  NEXUS_ASSIGN_OR_RETURN(const domain::Organization org,
                         store_.GetOrganization(caller.user.organization_id));
  auto e164 = domain::NormalizePhoneNumber(text, org.default_country);
  if (!e164.ok()) {
    return absl::InvalidArgumentError(fmt::format("phoneNumber: {}", e164.status().message()));
  }
  domain::PhoneNumber number;
  if (agent_id) {
    NEXUS_RETURN_IF_ERROR(CheckAgentExists(caller, "agentId", LowerId(*agent_id)));
    number.agent_id = LowerId(*agent_id);
  }
  const absl::Time now = clock_.Now();
  number.id = core::NewObjectId(now);
  number.organization_id = org.id;
  number.e164 = *std::move(e164);
  number.created_at = now;
  NEXUS_RETURN_IF_ERROR(store_.InsertPhoneNumber(number));
  return number;
}

absl::StatusOr<domain::PhoneNumber> WorkspaceService::UpdatePhoneNumber(
    const domain::Principal& caller, std::string_view number_id,
    const std::optional<std::string>& agent_id) {
  NEXUS_RETURN_IF_ERROR(CheckId("phone number ID", number_id));
  NEXUS_ASSIGN_OR_RETURN(domain::PhoneNumber number,
                         store_.GetPhoneNumber(caller.user.organization_id, LowerId(number_id)));
  if (agent_id) {
    NEXUS_RETURN_IF_ERROR(CheckAgentExists(caller, "agentId", LowerId(*agent_id)));
    number.agent_id = LowerId(*agent_id);
  } else {
    number.agent_id.reset();
  }
  NEXUS_RETURN_IF_ERROR(store_.UpdatePhoneNumber(number));
  return number;
}

absl::StatusOr<std::vector<domain::PhoneNumber>> WorkspaceService::ListPhoneNumbers(
    const domain::Principal& caller) {
  return store_.ListPhoneNumbers(caller.user.organization_id);
}

absl::StatusOr<domain::User> WorkspaceService::CreateUser(const domain::Principal& caller,
                                                          std::string_view email,
                                                          std::string_view name,
                                                          std::string_view role) {
  const std::string normalized_email = absl::AsciiStrToLower(Trimmed(email));
  NEXUS_RETURN_IF_ERROR(domain::ValidateEmail(normalized_email));
  NEXUS_RETURN_IF_ERROR(domain::ValidateUserName(name));
  const auto parsed_role = domain::ParseRole(role);
  if (!parsed_role) return absl::InvalidArgumentError("role must be \"admin\" or \"member\"");
  const absl::Time now = clock_.Now();
  domain::User user;
  user.id = core::NewObjectId(now);
  user.organization_id = caller.user.organization_id;
  user.email = normalized_email;
  user.name = Trimmed(name);
  user.role = *parsed_role;
  user.created_at = now;
  NEXUS_RETURN_IF_ERROR(store_.InsertUser(user));
  return user;
}

absl::StatusOr<domain::IssuedCredential> WorkspaceService::CreateToken(
    const domain::Principal& caller, std::string_view user_id) {
  NEXUS_RETURN_IF_ERROR(CheckId("user ID", user_id));
  NEXUS_ASSIGN_OR_RETURN(const domain::User user,
                         store_.GetUser(caller.user.organization_id, LowerId(user_id)));
  domain::IssuedCredential issued =
      domain::IssueCredential(domain::CredentialKind::kToken, user, "", clock_.Now());
  NEXUS_RETURN_IF_ERROR(store_.InsertCredential(issued.record));
  return issued;
}

absl::Status WorkspaceService::RevokeToken(const domain::Principal& caller,
                                           std::string_view token_id) {
  NEXUS_RETURN_IF_ERROR(CheckId("token ID", token_id));
  const std::string id = LowerId(token_id);
  const std::string& org = caller.user.organization_id;
  NEXUS_ASSIGN_OR_RETURN(const domain::Credential token,
                         store_.GetCredential(org, id, domain::CredentialKind::kToken));
  if (!caller.IsAdmin() && token.user_id != caller.user.id) {
    return absl::NotFoundError("token not found");
  }
  return store_.RevokeCredential(org, id, domain::CredentialKind::kToken, clock_.Now());
}

absl::StatusOr<domain::IssuedCredential> WorkspaceService::CreateApiKey(
    const domain::Principal& caller, std::string_view name) {
  const std::string trimmed = Trimmed(name);
  if (trimmed.empty() || trimmed.size() > 200) {
    return absl::InvalidArgumentError("name must be 1-200 characters");
  }
  domain::IssuedCredential issued =
      domain::IssueCredential(domain::CredentialKind::kApiKey, caller.user, trimmed, clock_.Now());
  NEXUS_RETURN_IF_ERROR(store_.InsertCredential(issued.record));
  return issued;
}

absl::Status WorkspaceService::RevokeApiKey(const domain::Principal& caller,
                                            std::string_view key_id) {
  NEXUS_RETURN_IF_ERROR(CheckId("API key ID", key_id));
  return store_.RevokeCredential(caller.user.organization_id, LowerId(key_id),
                                 domain::CredentialKind::kApiKey, clock_.Now());
}

absl::StatusOr<DncAddResult> WorkspaceService::AddDncNumbers(
    const domain::Principal& caller, const std::vector<std::string>& numbers) {
  if (numbers.size() > 10000) {
    return absl::InvalidArgumentError(
        "numbers: at most 10000 per request (use POST /api/dnc/upload for files)");
  }
  NEXUS_ASSIGN_OR_RETURN(const domain::Organization org,
                         store_.GetOrganization(caller.user.organization_id));
  DncAddResult result;
  std::vector<std::string> e164_numbers;
  e164_numbers.reserve(numbers.size());
  for (const std::string& text : numbers) {
    auto e164 = domain::NormalizePhoneNumber(text, org.default_country);
    if (e164.ok()) {
      e164_numbers.push_back(*std::move(e164));
    } else {
      result.invalid.push_back(text);
    }
  }
  if (!e164_numbers.empty()) {
    NEXUS_ASSIGN_OR_RETURN(result.added, store_.AddDncNumbers(org.id, e164_numbers, clock_.Now()));
  }
  return result;
}

absl::Status WorkspaceService::RemoveDncNumber(const domain::Principal& caller,
                                               std::string_view number) {
  NEXUS_ASSIGN_OR_RETURN(const domain::Organization org,
                         store_.GetOrganization(caller.user.organization_id));
  auto e164 = domain::NormalizePhoneNumber(number, org.default_country);
  if (!e164.ok()) {
    return absl::InvalidArgumentError(fmt::format("phone number: {}", e164.status().message()));
  }
  return store_.RemoveDncNumber(org.id, *e164);
}

absl::StatusOr<store::DncPage> WorkspaceService::ListDncNumbers(const domain::Principal& caller,
                                                                int64_t page, int64_t limit) {
  if (page < 1) return absl::InvalidArgumentError("page must be an integer >= 1");
  if (limit < 1 || limit > 100) return absl::InvalidArgumentError("limit must be 1..100");
  if (page > (int64_t{1} << 40) / limit) return absl::InvalidArgumentError("page is too large");
  return store_.ListDncNumbers(caller.user.organization_id, (page - 1) * limit, limit);
}

}  // namespace nexus::service
