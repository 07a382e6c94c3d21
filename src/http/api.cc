#include "http/api.h"

#include "http/error_mapping.h"
#include "http/json_body.h"

namespace nexus::http {
namespace {

std::optional<std::string_view> HeaderValue(const Request& request, std::string_view name) {
  const std::string* value = request.FindHeader(name);
  if (value == nullptr) return std::nullopt;
  return std::string_view(*value);
}

Plan Immediate(Response response, std::string route) {
  Plan plan;
  plan.immediate = std::move(response);
  plan.route = std::move(route);
  return plan;
}

}  // namespace

Api::Api(ApiServices services, ApiOptions options) : services_(services), options_(options) {
  AddOperationsRoutes(router_, services_);
  AddWorkspaceRoutes(router_, services_, options_.json_body_limit);
  AddUploadRoutes(router_, services_, options_.upload);
  AddBatchRoutes(router_, services_, options_.json_body_limit);
  AddCallStatusRoutes(router_, services_, options_.json_body_limit);
}

Plan Api::Prepare(Request& head) const {
  Router::Match match = router_.Find(head.method, head.path);
  if (match.route == nullptr) {
    if (match.other_method_matches) {
      return Immediate(
          JsonResponse(405, {{"success", false}, {"message", "method not allowed on this path"}}),
          "unmatched");
    }
    return Immediate(JsonResponse(404, {{"success", false}, {"message", "no such route"}}),
                     "unmatched");
  }
  const Route& route = *match.route;

  std::optional<domain::Principal> principal;
  if (route.access != Access::kPublic) {
    auto authenticated = services_.auth->Authenticate(HeaderValue(head, "authorization"),
                                                      HeaderValue(head, "x-api-key"));
    if (!authenticated.ok()) {
      return Immediate(ErrorResponse(authenticated.status(), head.request_id), route.pattern);
    }
    if (route.access == Access::kAdmin && !authenticated->IsAdmin()) {
      return Immediate(
          ErrorResponse(absl::PermissionDeniedError("this action needs an admin of the workspace"),
                        head.request_id),
          route.pattern);
    }
    principal = std::move(authenticated).value();
  }

  Plan plan;
  plan.route = route.pattern;
  plan.body_limit = route.body_limit;
  if (route.sink_factory) {
    RouteContext context{head, match.params, principal ? &*principal : nullptr};
    plan.sink = route.sink_factory(context);
    return plan;
  }
  plan.handle = [handler = route.handler, params = std::move(match.params),
                 principal = std::move(principal)](Request& request) {
    RouteContext context{request, params, principal ? &*principal : nullptr};
    return handler(context);
  };
  return plan;
}

}  // namespace nexus::http
