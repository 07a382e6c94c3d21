#include "service/bootstrap.h"

#include "absl/strings/ascii.h"
#include "core/object_id.h"
#include "core/status.h"

namespace nexus::service {
namespace {

// A stable, readable admin e-mail derived from the organization name: "Acme Corp" →
// "admin@acme-corp.local".
std::string AdminEmailFor(std::string_view org_name) {
  std::string slug;
  for (char c : org_name) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u)) {
      slug += absl::ascii_tolower(u);
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.empty()) slug = "workspace";
  return "admin@" + slug + ".local";
}

}  // namespace

absl::StatusOr<InitResult> InitWorkspace(store::Store& store, const core::Clock& clock,
                                         const InitOptions& options) {
  if (auto status = domain::ValidateOrganizationName(options.organization_name); !status.ok()) {
    return absl::InvalidArgumentError(fmt::format("--org: {}", status.message()));
  }
  const absl::Time now = clock.Now();
  store::NewWorkspace workspace;
  domain::Organization& org = workspace.organization;
  org.id = core::NewObjectId(now);
  org.name = std::string(absl::StripAsciiWhitespace(options.organization_name));
  org.created_at = now;
  org.legal_window = options.legal_window;

  domain::User& admin = workspace.admin;
  admin.id = core::NewObjectId(now);
  admin.organization_id = org.id;
  admin.email = AdminEmailFor(org.name);
  admin.name = "Admin";
  admin.role = domain::Role::kAdmin;
  admin.created_at = now;

  domain::IssuedCredential token =
      domain::IssueCredential(domain::CredentialKind::kToken, admin, "", now);
  workspace.admin_token = token.record;

  if (options.demo) {
    domain::Agent agent;
    agent.id = core::NewObjectId(now);
    agent.organization_id = org.id;
    agent.name = "Demo Agent";
    agent.language = "en-US";
    agent.variables = {{"name", true, domain::VariableType::kString},
                       {"account_id", false, domain::VariableType::kString}};
    agent.webhook_secret = domain::NewWebhookSecret();
    agent.created_at = now;
    agent.updated_at = now;

    domain::PhoneNumber number;
    number.id = core::NewObjectId(now);
    number.organization_id = org.id;
    number.e164 = "+14155550100";
    number.agent_id = agent.id;
    number.created_at = now;

    workspace.agent = std::move(agent);
    workspace.phone_number = std::move(number);
  }

  NEXUS_RETURN_IF_ERROR(store.CreateWorkspace(workspace));
  InitResult result;
  result.organization = std::move(workspace.organization);
  result.admin = std::move(workspace.admin);
  result.token = std::move(token.secret);
  result.token_id = token.record.id;
  result.agent = std::move(workspace.agent);
  result.phone_number = std::move(workspace.phone_number);
  return result;
}

absl::StatusOr<NewToken> CreateTokenForUser(store::Store& store, const core::Clock& clock,
                                            std::string_view user_id) {
  if (!core::IsObjectId(user_id)) {
    return absl::InvalidArgumentError("--user must be a 24-character hex user ID");
  }
  const std::string id = absl::AsciiStrToLower(absl::string_view(user_id.data(), user_id.size()));
  auto user = store.FindUserById(id);
  if (absl::IsNotFound(user.status())) {
    return absl::NotFoundError(fmt::format("user {} not found", id));
  }
  NEXUS_RETURN_IF_ERROR(user.status());
  domain::IssuedCredential issued =
      domain::IssueCredential(domain::CredentialKind::kToken, *user, "", clock.Now());
  NEXUS_RETURN_IF_ERROR(store.InsertCredential(issued.record));
  return NewToken{std::move(issued.secret), issued.record.id, user->id};
}

}  // namespace nexus::service
