// The workspace API of SPEC §6: organization settings, agents, phone numbers, users, tokens, API
// keys and the DNC list. Handlers decode JSON into service inputs, call WorkspaceService and
// encode the answer; every error goes through ErrorResponse.
#include <functional>

#include "core/status.h"
#include "core/time_format.h"
#include "http/api.h"
#include "http/error_mapping.h"
#include "http/json_body.h"
#include "http/query.h"

namespace nexus::http {
namespace {

using nlohmann::json;
using service::WorkspaceService;

json OptionalString(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json EncodeOrganization(const domain::Organization& org) {
  json window = nullptr;
  if (org.legal_window) {
    window = {{"start", domain::FormatTimeOfDay(org.legal_window->start)},
              {"end", domain::FormatTimeOfDay(org.legal_window->end)}};
  }
  return {{"_id", org.id},
          {"name", org.name},
          {"timezone", org.timezone},
          {"defaultCountry", org.default_country},
          {"legalWindow", window},
          {"createdAt", core::FormatIsoMillis(org.created_at)}};
}

json EncodeAgent(const domain::Agent& agent, bool with_secret) {
  json variables = json::array();
  for (const domain::Variable& v : agent.variables) {
    variables.push_back(
        {{"key", v.key}, {"required", v.required}, {"type", domain::VariableTypeName(v.type)}});
  }
  json out = {{"_id", agent.id},
              {"name", agent.name},
              {"language", OptionalString(agent.language)},
              {"variables", variables},
              {"dispatchUrl", OptionalString(agent.dispatch_url)},
              {"createdAt", core::FormatIsoMillis(agent.created_at)},
              {"updatedAt", core::FormatIsoMillis(agent.updated_at)}};
  if (with_secret) out["webhookSecret"] = agent.webhook_secret;
  return out;
}

json EncodePhoneNumber(const domain::PhoneNumber& number) {
  return {{"_id", number.id},
          {"phoneNumber", number.e164},
          {"agentId", OptionalString(number.agent_id)},
          {"createdAt", core::FormatIsoMillis(number.created_at)}};
}

json EncodeUser(const domain::User& user) {
  return {{"_id", user.id},
          {"email", user.email},
          {"name", user.name},
          {"role", domain::RoleName(user.role)},
          {"createdAt", core::FormatIsoMillis(user.created_at)}};
}

// A handler that answers `ok_status` with the JSON `body` returns, or the error it returns.
using JsonBody = std::function<absl::StatusOr<json>(RouteContext&)>;
Handler Answer(int ok_status, JsonBody body) {
  return [ok_status, body = std::move(body)](RouteContext& context) {
    absl::StatusOr<json> result = body(context);
    if (!result.ok()) return ErrorResponse(result.status(), context.request.request_id);
    return JsonResponse(ok_status, *result);
  };
}

absl::StatusOr<service::OrganizationPatch> DecodeOrganizationPatch(const JsonObject& body) {
  service::OrganizationPatch patch;
  NEXUS_ASSIGN_OR_RETURN(patch.name, body.String("name"));
  NEXUS_ASSIGN_OR_RETURN(patch.timezone, body.String("timezone"));
  NEXUS_ASSIGN_OR_RETURN(patch.default_country, body.String("defaultCountry"));
  if (const json* window = body.Raw("legalWindow")) {
    if (window->is_null()) {
      patch.legal_window.emplace(std::nullopt);
    } else {
      if (!window->is_object()) {
        return absl::InvalidArgumentError(
            "legalWindow must be {\"start\":\"HH:MM\",\"end\":\"HH:MM\"} or null");
      }
      JsonObject fields(*window);
      NEXUS_ASSIGN_OR_RETURN(auto start, fields.String("start"));
      NEXUS_ASSIGN_OR_RETURN(auto end, fields.String("end"));
      if (!start) return absl::InvalidArgumentError("legalWindow.start is required");
      if (!end) return absl::InvalidArgumentError("legalWindow.end is required");
      patch.legal_window.emplace(service::WindowInput{*start, *end});
    }
  }
  return patch;
}

absl::StatusOr<service::AgentInput> DecodeAgentInput(const JsonObject& body) {
  service::AgentInput input;
  NEXUS_ASSIGN_OR_RETURN(input.name, body.String("name"));
  NEXUS_ASSIGN_OR_RETURN(input.language, body.NullableString("language"));
  NEXUS_ASSIGN_OR_RETURN(input.dispatch_url, body.NullableString("dispatchUrl"));
  if (const json* variables = body.Raw("variables")) {
    if (!variables->is_array()) return absl::InvalidArgumentError("variables must be an array");
    std::vector<service::VariableInput> decoded;
    for (size_t i = 0; i < variables->size(); ++i) {
      const std::string field = fmt::format("variables[{}]", i);
      if (!(*variables)[i].is_object()) {
        return absl::InvalidArgumentError(field + " must be an object with a \"key\"");
      }
      JsonObject item((*variables)[i]);
      service::VariableInput variable;
      auto key = item.String("key");
      if (!key.ok() || !key->has_value()) {
        return absl::InvalidArgumentError(field + ".key must be a string");
      }
      variable.key = **key;
      auto required = item.Bool("required");
      if (!required.ok())
        return absl::InvalidArgumentError(field + ".required must be true or false");
      variable.required = required->value_or(false);
      auto type = item.String("type");
      if (!type.ok()) return absl::InvalidArgumentError(field + ".type must be a string");
      variable.type = *type;
      decoded.push_back(std::move(variable));
    }
    input.variables = std::move(decoded);
  }
  return input;
}

// The agentId field of a phone-number body: absent or null → unbound.
absl::StatusOr<std::optional<std::string>> DecodeAgentId(const JsonObject& body) {
  NEXUS_ASSIGN_OR_RETURN(Nullable<std::string> agent_id, body.NullableString("agentId"));
  if (!agent_id) return std::optional<std::string>();
  return *agent_id;
}

}  // namespace

void AddWorkspaceRoutes(Router& router, const ApiServices& services, uint64_t json_limit) {
  WorkspaceService* const ws = services.workspace;  // not used until a request arrives

  // --- organization ----------------------------------------------------------------------
  router.Add({"GET", "/api/organization", Access::kMember, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto org, ws->GetOrganization(*c.principal));
                return json{{"success", true}, {"organization", EncodeOrganization(org)}};
              })});
  router.Add({"PATCH", "/api/organization", Access::kAdmin, json_limit,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                NEXUS_ASSIGN_OR_RETURN(auto patch, DecodeOrganizationPatch(body));
                NEXUS_ASSIGN_OR_RETURN(auto org, ws->UpdateOrganization(*c.principal, patch));
                return json{{"success", true}, {"organization", EncodeOrganization(org)}};
              })});

  // --- agents ----------------------------------------------------------------------------
  router.Add({"POST", "/api/agents", Access::kAdmin, json_limit,
              Answer(201, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                NEXUS_ASSIGN_OR_RETURN(auto input, DecodeAgentInput(body));
                NEXUS_ASSIGN_OR_RETURN(auto agent, ws->CreateAgent(*c.principal, input));
                return json{{"success", true}, {"agent", EncodeAgent(agent, true)}};
              })});
  router.Add({"GET", "/api/agents", Access::kMember, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto agents, ws->ListAgents(*c.principal));
                json list = json::array();
                for (const auto& agent : agents) list.push_back(EncodeAgent(agent, false));
                return json{{"success", true}, {"agents", list}};
              })});
  router.Add({"PATCH", "/api/agents/{id}", Access::kAdmin, json_limit,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                NEXUS_ASSIGN_OR_RETURN(auto input, DecodeAgentInput(body));
                NEXUS_ASSIGN_OR_RETURN(auto agent,
                                       ws->UpdateAgent(*c.principal, c.Param("id"), input));
                return json{{"success", true}, {"agent", EncodeAgent(agent, true)}};
              })});

  // --- phone numbers ---------------------------------------------------------------------
  router.Add({"POST", "/api/phone-numbers", Access::kAdmin, json_limit,
              Answer(201, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                NEXUS_ASSIGN_OR_RETURN(auto text, body.String("phoneNumber"));
                if (!text) return absl::InvalidArgumentError("phoneNumber is required");
                NEXUS_ASSIGN_OR_RETURN(auto agent_id, DecodeAgentId(body));
                NEXUS_ASSIGN_OR_RETURN(auto number,
                                       ws->CreatePhoneNumber(*c.principal, *text, agent_id));
                return json{{"success", true}, {"phoneNumber", EncodePhoneNumber(number)}};
              })});
  router.Add({"GET", "/api/phone-numbers", Access::kMember, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto numbers, ws->ListPhoneNumbers(*c.principal));
                json list = json::array();
                for (const auto& number : numbers) list.push_back(EncodePhoneNumber(number));
                return json{{"success", true}, {"phoneNumbers", list}};
              })});
  router.Add({"PATCH", "/api/phone-numbers/{id}", Access::kAdmin, json_limit,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                if (!body.Has("agentId")) {
                  return absl::InvalidArgumentError("agentId is required (an agent ID or null)");
                }
                NEXUS_ASSIGN_OR_RETURN(auto agent_id, DecodeAgentId(body));
                NEXUS_ASSIGN_OR_RETURN(auto number,
                                       ws->UpdatePhoneNumber(*c.principal, c.Param("id"), agent_id));
                return json{{"success", true}, {"phoneNumber", EncodePhoneNumber(number)}};
              })});

  // --- users, tokens and API keys --------------------------------------------------------
  router.Add({"POST", "/api/users", Access::kAdmin, json_limit,
              Answer(201, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                NEXUS_ASSIGN_OR_RETURN(auto email, body.String("email"));
                NEXUS_ASSIGN_OR_RETURN(auto name, body.String("name"));
                NEXUS_ASSIGN_OR_RETURN(auto role, body.String("role"));
                if (!email) return absl::InvalidArgumentError("email is required");
                if (!name) return absl::InvalidArgumentError("name is required");
                if (!role) return absl::InvalidArgumentError("role is required");
                NEXUS_ASSIGN_OR_RETURN(auto user,
                                       ws->CreateUser(*c.principal, *email, *name, *role));
                return json{{"success", true}, {"user", EncodeUser(user)}};
              })});
  router.Add({"POST", "/api/users/{id}/tokens", Access::kAdmin, json_limit,
              Answer(201, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto issued, ws->CreateToken(*c.principal, c.Param("id")));
                return json{{"success", true},
                            {"token", issued.secret},
                            {"tokenId", issued.record.id},
                            {"userId", issued.record.user_id}};
              })});
  // Members may revoke their own tokens; admins any token of the organization.
  router.Add({"DELETE", "/api/tokens/{id}", Access::kMember, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_RETURN_IF_ERROR(ws->RevokeToken(*c.principal, c.Param("id")));
                return json{{"success", true}};
              })});
  router.Add({"POST", "/api/api-keys", Access::kAdmin, json_limit,
              Answer(201, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
                NEXUS_ASSIGN_OR_RETURN(auto name, body.String("name"));
                if (!name) return absl::InvalidArgumentError("name is required");
                NEXUS_ASSIGN_OR_RETURN(auto issued, ws->CreateApiKey(*c.principal, *name));
                return json{{"success", true},
                            {"apiKey", issued.secret},
                            {"apiKeyId", issued.record.id},
                            {"name", issued.record.name}};
              })});
  router.Add({"DELETE", "/api/api-keys/{id}", Access::kAdmin, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_RETURN_IF_ERROR(ws->RevokeApiKey(*c.principal, c.Param("id")));
                return json{{"success", true}};
              })});

  // --- do-not-call list ------------------------------------------------------------------
  router.Add(
      {"POST", "/api/dnc", Access::kAdmin, json_limit,
       Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
         NEXUS_ASSIGN_OR_RETURN(auto body, JsonObject::Parse(c.request.body));
         NEXUS_ASSIGN_OR_RETURN(auto numbers, body.StringArray("numbers"));
         if (!numbers) return absl::InvalidArgumentError("numbers is required");
         NEXUS_ASSIGN_OR_RETURN(auto result, ws->AddDncNumbers(*c.principal, *numbers));
         return json{{"success", true}, {"added", result.added}, {"invalid", result.invalid}};
       })});
  router.Add({"GET", "/api/dnc", Access::kAdmin, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_ASSIGN_OR_RETURN(auto page,
                                       IntQueryParam(c.request.query, "page", 1, 1, 1'000'000'000));
                NEXUS_ASSIGN_OR_RETURN(auto limit,
                                       IntQueryParam(c.request.query, "limit", 20, 1, 100));
                NEXUS_ASSIGN_OR_RETURN(auto listed, ws->ListDncNumbers(*c.principal, page, limit));
                json numbers = json::array();
                for (const auto& entry : listed.entries) {
                  numbers.push_back({{"phoneNumber", entry.e164},
                                     {"createdAt", core::FormatIsoMillis(entry.created_at)}});
                }
                return json{{"success", true},
                            {"numbers", numbers},
                            {"total", listed.total},
                            {"page", page},
                            {"limit", limit}};
              })});
  router.Add({"DELETE", "/api/dnc/{e164}", Access::kAdmin, 0,
              Answer(200, [ws](RouteContext& c) -> absl::StatusOr<json> {
                NEXUS_RETURN_IF_ERROR(ws->RemoveDncNumber(*c.principal, c.Param("e164")));
                return json{{"success", true}};
              })});
}

}  // namespace nexus::http
