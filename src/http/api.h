// File: http/api.h
//
// The Nexus HTTP API: the route table (see BuildRoutes in api.cc, the API's table of contents)
// and the server Application that, for each request head, matches a route, authenticates the
// caller, checks the role and sets the body limit — all before a body byte is read. Unknown
// paths answer 404, a known path with another method 405, a missing/invalid credential 401, a
// member on an admin route 403.
#pragma once

#include <cstdint>
#include <functional>

#include "core/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "schedule/dialler.h"
#include "service/auth_service.h"
#include "service/batch_service.h"
#include "service/idempotency.h"
#include "service/upload_service.h"
#include "service/workspace_service.h"

namespace nexus::http {

struct UploadRouteOptions {
  uint64_t max_body_bytes = 100ull << 20;  // the whole multipart body (413 beyond)
  std::string spool_dir = "/tmp";          // where uploaded files wait while they are read
};

struct ApiOptions {
  uint64_t json_body_limit = 1 << 20;  // 1 MiB for every JSON route
  UploadRouteOptions upload;
};

// Everything the handlers use; each must outlive the Api.
struct ApiServices {
  std::function<absl::Status()> check_ready;  // OK when the store answers (/readyz)
  service::AuthService* auth = nullptr;
  service::WorkspaceService* workspace = nullptr;
  service::UploadService* upload = nullptr;
  service::InFlightKeys* in_flight = nullptr;
  core::Metrics* metrics = nullptr;
  service::BatchService* batch = nullptr;
  schedule::Dialler* dialler = nullptr;  // POST /api/call/{callId}/status
};

class Api {
 public:
  Api(ApiServices services, ApiOptions options);

  // The server Application (see http/server.h). Thread-safe.
  Plan Prepare(Request& head) const;

  const Router& router() const { return router_; }

 private:
  ApiServices services_;
  ApiOptions options_;
  Router router_;
};

// Route groups, defined in their own files and registered by Api's constructor.
void AddOperationsRoutes(Router& router, const ApiServices& services);
void AddWorkspaceRoutes(Router& router, const ApiServices& services, uint64_t json_body_limit);
// POST /api/call/{callId}/status, the agent runtime's signed reports (call_status_routes.cc).
void AddCallStatusRoutes(Router& router, const ApiServices& services, uint64_t json_body_limit);
// Batch details, lists, delete, start/stop calling and the CSV export (batch_routes.cc).
void AddBatchRoutes(Router& router, const ApiServices& services, uint64_t json_body_limit);
// `services` and `options` must outlive the router (the Api keeps both).
void AddUploadRoutes(Router& router, const ApiServices& services,
                     const UploadRouteOptions& options);

// Removes upload spool files (`upload-<pid>-*.part` in `dir`) left behind by processes that no
// longer run (a crash or kill -9 mid-upload). Returns how many were removed.
int SweepUploadSpool(const std::string& dir);

}  // namespace nexus::http
