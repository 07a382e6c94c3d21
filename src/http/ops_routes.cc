// Operations routes: liveness, readiness and Prometheus metrics. Public: they reveal no tenant
// data (metrics carry route patterns and counts only).
#include "http/api.h"
#include "http/json_body.h"

namespace nexus::http {

void AddOperationsRoutes(Router& router, const ApiServices& services) {
  router.Add({"GET", "/healthz", Access::kPublic, 0, [](RouteContext&) {
                return JsonResponse(200, {{"status", "ok"}});
              }});
  router.Add({"GET", "/readyz", Access::kPublic, 0, [ready = services.check_ready](RouteContext&) {
                const absl::Status ping = ready();
                if (!ping.ok()) {
                  return JsonResponse(
                      503, {{"status", "unavailable"}, {"message", "the store does not answer"}});
                }
                return JsonResponse(200, {{"status", "ready"}});
              }});
  router.Add({"GET", "/metrics", Access::kPublic, 0, [metrics = services.metrics](RouteContext&) {
                Response response;
                response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                response.body = metrics->Render();
                return response;
              }});
}

}  // namespace nexus::http
