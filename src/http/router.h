// File: http/router.h
//
// The route table: method + path pattern ("/api/agents/{id}") → who may call it, how large a
// body it accepts, and the handler. Patterns match whole segments; a `{name}` segment captures
// one non-empty, percent-decoded segment. Routes are listed explicitly in api.cc, which reads as
// the API's table of contents. Matching is read-only and thread-safe once the table is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/credential.h"
#include "http/server.h"

namespace nexus::http {

enum class Access {
  kPublic,  // no credentials needed (/healthz, /metrics, ...)
  kMember,  // any user of the organization
  kAdmin,   // admins only; members get 403
};

using PathParams = std::vector<std::pair<std::string, std::string>>;

// What a handler gets: the request, the captured path parameters and, for non-public routes,
// the authenticated caller (never null there).
struct RouteContext {
  Request& request;
  const PathParams& params;
  const domain::Principal* principal = nullptr;

  // The captured parameter `name` ("" when the pattern has none of that name).
  std::string_view Param(std::string_view name) const;
};

using Handler = std::function<Response(RouteContext&)>;
// For routes that stream their body (the upload): makes the sink that receives it. The context
// is valid only during the call: the sink copies what it keeps.
using SinkFactory = std::function<std::shared_ptr<BodySink>(RouteContext&)>;

struct Route {
  // A route whose body (at most `body_limit` bytes) is buffered for `handler`.
  Route(std::string method, std::string pattern, Access access, uint64_t body_limit,
        Handler handler)
      : method(std::move(method)),
        pattern(std::move(pattern)),
        access(access),
        body_limit(body_limit),
        handler(std::move(handler)) {}
  Route(std::string method, std::string pattern, Access access, uint64_t body_limit,
        Handler handler, std::nullptr_t)
      : Route(std::move(method), std::move(pattern), access, body_limit, std::move(handler)) {}
  // A route whose body streams into the sink `sink_factory` makes.
  Route(std::string method, std::string pattern, Access access, uint64_t body_limit, std::nullptr_t,
        SinkFactory sink_factory)
      : method(std::move(method)),
        pattern(std::move(pattern)),
        access(access),
        body_limit(body_limit),
        sink_factory(std::move(sink_factory)) {}

  std::string method;
  std::string pattern;
  Access access = Access::kAdmin;
  uint64_t body_limit = 0;
  Handler handler;           // buffered body; or
  SinkFactory sink_factory;  // streamed body
};

class Router {
 public:
  void Add(Route route);

  struct Match {
    const Route* route = nullptr;  // null when nothing matched
    PathParams params;
    bool other_method_matches = false;  // the path exists with another method (→ 405)
  };
  // `path` is the raw, still percent-encoded path. A path with a malformed %-escape or an
  // encoded '/' in a parameter matches nothing.
  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  std::vector<std::vector<std::string>> segments_;  // split patterns, parallel to routes_
};

// Percent-decodes `text` ("+" stays "+"); false on a malformed escape.
bool PercentDecode(std::string_view text, std::string& out);

}  // namespace nexus::http
