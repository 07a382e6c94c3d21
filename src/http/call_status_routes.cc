// POST /api/call/{callId}/status: the agent runtime reports an attempt's outcome (SPEC §6
// "Outcome"). No bearer token: the request is authenticated by the agent's signature over the
// raw body (X-Nexus-Timestamp, X-Nexus-Signature), which the dialler checks.
#include "http/api.h"
#include "http/error_mapping.h"
#include "http/json_body.h"

namespace nexus::http {

void AddCallStatusRoutes(Router& router, const ApiServices& services, uint64_t json_body_limit) {
  router.Add({"POST", "/api/call/{callId}/status", Access::kPublic, json_body_limit,
              [dialler = services.dialler](RouteContext& c) -> Response {
                const std::string* timestamp = c.request.FindHeader("x-nexus-timestamp");
                const std::string* signature = c.request.FindHeader("x-nexus-signature");
                auto effect =
                    dialler->Report(c.Param("callId"), timestamp != nullptr ? *timestamp : "",
                                    signature != nullptr ? *signature : "", c.request.body);
                if (!effect.ok()) {
                  if (absl::IsNotFound(effect.status())) {
                    return JsonResponse(404, {{"success", false}, {"message", "Call not found"}});
                  }
                  return ErrorResponse(effect.status(), c.request.request_id);
                }
                return JsonResponse(200, {{"success", true}});
              }});
}

}  // namespace nexus::http
