// Keeps docs/api/openapi.yaml true: every route in the router must be documented there with its
// method, and every documented /api path must exist in the router.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "http/api.h"

namespace nexus::http {
namespace {

// (path, lowercase method) pairs under `paths:` of the OpenAPI file, read line by line: a path is
// a two-space-indented key starting with '/', a method a four-space-indented key.
std::set<std::pair<std::string, std::string>> DocumentedOperations(const std::string& file) {
  std::ifstream in(file);
  std::set<std::pair<std::string, std::string>> operations;
  std::string line, path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!in_paths) continue;
    if (!line.empty() && line[0] != ' ') break;  // the next top-level key
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
      continue;
    }
    for (const char* method : {"get", "post", "patch", "put", "delete"}) {
      if (line == std::string("    ") + method + ":") operations.emplace(path, method);
    }
  }
  return operations;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

TEST(OpenApi, EveryRouteIsDocumentedAndEveryDocumentedRouteExists) {
  const auto documented = DocumentedOperations(NEXUS_SOURCE_DIR "/docs/api/openapi.yaml");
  ASSERT_FALSE(documented.empty()) << "cannot read docs/api/openapi.yaml";
  // The handlers are never called here, so the services may be null.
  const Api api(ApiServices{}, ApiOptions{});
  std::set<std::pair<std::string, std::string>> routed;
  for (const Route& route : api.router().routes()) {
    routed.emplace(route.pattern, Lower(route.method));
    EXPECT_TRUE(documented.count({route.pattern, Lower(route.method)}))
        << route.method << " " << route.pattern << " is missing from docs/api/openapi.yaml";
  }
  for (const auto& [path, method] : documented) {
    EXPECT_TRUE(routed.count({path, method}))
        << method << " " << path << " is documented but not routed";
  }
}

}  // namespace
}  // namespace nexus::http
