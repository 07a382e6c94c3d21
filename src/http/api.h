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
#include "service/auth_service.h"
#include "service/workspace_service.h"

namespace nexus::http {

struct ApiOptions {
  uint64_t json_body_limit = 1 << 20;  // 1 MiB for every JSON route
};

// Everything the handlers use; each must outlive the Api.
struct ApiServices {
  std::function<absl::Status()> check_ready;  // OK when the store answers (/readyz)
  service::AuthService* auth = nullptr;
  service::WorkspaceService* workspace = nullptr;
  core::Metrics* metrics = nullptr;
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

}  // namespace nexus::http
