// File: tests/integration/api_fixture.h
//
// A running `nexus serve` on a fresh SQLite database holding two organizations made with
// `nexus init --demo` ("Alpha" and "Beta"), plus helpers to call the API as either admin.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/nexus_process.h"
#include "support/raw_http.h"

namespace nexus::testing {

// The lines of a CSV body, split at CRLF (a last line without one is included).
inline std::vector<std::string> CsvLines(const std::string& body) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < body.size();) {
    size_t end = body.find("\r\n", start);
    if (end == std::string::npos) end = body.size();
    lines.push_back(body.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = "sqlite://" + dir_.path() + "/nexus.db";
    alpha_ = InitWorkspace(db_, {"--demo", "--org", "Alpha"});
    beta_ = InitWorkspace(db_, {"--demo", "--org", "Beta"});
    ASSERT_FALSE(alpha_.is_null());
    ASSERT_FALSE(beta_.is_null());
    server_ = NexusServer::Start(db_, ServerArgs());
    ASSERT_NE(server_, nullptr);
  }

  virtual std::vector<std::string> ServerArgs() const { return {}; }

  // Calls the API with `token` (none when empty) and a JSON body (none when null).
  HttpResponse Call(std::string_view method, std::string_view target, const std::string& token,
                    const nlohmann::json& body = nullptr, HttpHeaders headers = {}) const {
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    std::string payload;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      payload = body.dump();
    }
    return Request(server_->port(), method, target, headers, payload);
  }

  static nlohmann::json Body(const HttpResponse& response) {
    return nlohmann::json::parse(response.body, nullptr, false);
  }

  std::string AlphaToken() const { return alpha_["token"]; }
  std::string BetaToken() const { return beta_["token"]; }

  // Creates a user in Alpha with `role` and returns {"userId", "token"}.
  nlohmann::json CreateAlphaUser(const std::string& email, const std::string& role) const {
    HttpResponse user = Call("POST", "/api/users", AlphaToken(),
                             {{"email", email}, {"name", "Test User"}, {"role", role}});
    EXPECT_EQ(user.status, 201) << user.body;
    const std::string id = Body(user)["user"]["_id"];
    HttpResponse token = Call("POST", "/api/users/" + id + "/tokens", AlphaToken());
    EXPECT_EQ(token.status, 201) << token.body;
    return {{"userId", id}, {"token", Body(token)["token"]}, {"tokenId", Body(token)["tokenId"]}};
  }

  TempDir dir_;
  std::string db_;
  nlohmann::json alpha_;
  nlohmann::json beta_;
  std::unique_ptr<NexusServer> server_;
};

}  // namespace nexus::testing
