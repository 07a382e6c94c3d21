// The HTTP edge of the real binary: limits decided before the body is read (413, 431, 415),
// slow clients that cannot starve others, request IDs, operations routes and the request log.
#include <gmock/gmock.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "api_fixture.h"

namespace nexus::testing {
namespace {

using ::testing::HasSubstr;

class HttpLimitsTest : public ApiTest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--json-body-limit", "4096", "--header-timeout", "1", "--workers", "2"};
  }
};

TEST_F(HttpLimitsTest, OversizedContentLengthIs413BeforeAnyBodyByteIsSent) {
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.connected());
  ASSERT_TRUE(connection.SendSome(BuildRequest("PATCH", "/api/organization",
                                               {{"Host", "x"},
                                                {"Authorization", "Bearer " + AlphaToken()},
                                                {"Content-Type", "application/json"},
                                                {"Content-Length", "1000000000"}})));
  const auto started = std::chrono::steady_clock::now();
  HttpResponse response = connection.ReadResponse();
  EXPECT_EQ(response.status, 413) << response.error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  EXPECT_THAT(Body(response)["message"].get<std::string>(), HasSubstr("4096"));
  EXPECT_TRUE(connection.IsClosedByPeer());
}

TEST_F(HttpLimitsTest, BodyJustOverTheConfiguredJsonLimitIs413AndChangesNothing) {
  const std::string name(5000, 'x');
  HttpResponse response = Call("PATCH", "/api/organization", AlphaToken(), {{"name", name}});
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(Body(Call("GET", "/api/organization", AlphaToken()))["organization"]["name"], "Alpha");
}

TEST_F(HttpLimitsTest, UnauthenticatedLargeBodyIsRefusedWith401WithoutReadingIt) {
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.SendSome(
      BuildRequest("POST", "/api/agents", {{"Host", "x"}, {"Content-Length", "50000000"}})));
  EXPECT_EQ(connection.ReadResponse().status, 401);
}

TEST_F(HttpLimitsTest, HugeHeaderAndTooManyHeadersAre431) {
  HttpResponse huge =
      Request(server_->port(), "GET", "/healthz", {{"X-Padding", std::string(64 * 1024, 'a')}});
  EXPECT_EQ(huge.status, 431);
  HttpHeaders many;
  for (int i = 0; i < 150; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
  HttpResponse too_many = Request(server_->port(), "GET", "/healthz", many);
  EXPECT_EQ(too_many.status, 431);
  EXPECT_EQ(Request(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpLimitsTest, CompressedRequestBodyIs415AndNotInflated) {
  HttpResponse response = Call("POST", "/api/agents", AlphaToken(), {{"name", "Zipped"}},
                               {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(response.status, 415);
  EXPECT_EQ(Body(Call("GET", "/api/agents", AlphaToken()))["agents"].size(), 1u);
}

TEST_F(HttpLimitsTest, SlowClientsDoNotDelayANormalRequest) {
  // More stalled connections than worker threads, each holding a half-sent request head.
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(std::make_unique<RawConnection>(server_->port()));
    ASSERT_TRUE(slow.back()->SendSome("GET /api/agents HTTP/1.1\r\nHost: x\r\nAuthor"));
  }
  const auto started = std::chrono::steady_clock::now();
  HttpResponse normal = Call("GET", "/api/agents", AlphaToken());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(normal.status, 200);
  EXPECT_LT(took, std::chrono::milliseconds(500));
  // The stalled ones are cut off at the header deadline (1 s here).
  for (auto& connection : slow) EXPECT_TRUE(connection->IsClosedByPeer(std::chrono::seconds(3)));
}

TEST_F(HttpLimitsTest, RequestIdIsEchoedOrGenerated) {
  HttpResponse echoed =
      Request(server_->port(), "GET", "/healthz", {{"X-Request-Id", "trace-abc-123"}});
  EXPECT_EQ(echoed.Header("x-request-id"), "trace-abc-123");
  HttpResponse generated = Request(server_->port(), "GET", "/healthz");
  EXPECT_EQ(generated.Header("x-request-id").size(), 16u);
  HttpResponse error = Request(server_->port(), "GET", "/api/agents");
  EXPECT_FALSE(error.Header("x-request-id").empty());
  EXPECT_THAT(server_->WaitForLog("trace-abc-123"), HasSubstr("\"request_id\":\"trace-abc-123\""));
}

TEST_F(HttpLimitsTest, UnknownRouteIs404AndWrongMethodIs405) {
  EXPECT_EQ(Call("GET", "/api/nothing-here", AlphaToken()).status, 404);
  EXPECT_EQ(Call("PUT", "/api/agents", AlphaToken()).status, 405);
}

TEST_F(HttpLimitsTest, OperationsRoutes) {
  HttpResponse health = Request(server_->port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(Body(health)["status"], "ok");
  HttpResponse ready = Request(server_->port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Body(ready)["status"], "ready");
  Call("GET", "/api/agents", AlphaToken());
  Call("GET", "/api/agents", "");
  HttpResponse metrics = Request(server_->port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.Header("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE nexus_http_requests_total counter"));
  EXPECT_THAT(metrics.body, HasSubstr("route=\"/api/agents\""));
  EXPECT_THAT(metrics.body, HasSubstr("status=\"401\""));
  EXPECT_THAT(metrics.body, HasSubstr("nexus_http_request_duration_seconds_bucket"));
}

TEST_F(HttpLimitsTest, EveryRequestWritesOneStructuredLogLine) {
  Request(server_->port(), "GET", "/healthz", {{"X-Request-Id", "log-line-check"}});
  std::string line;
  std::istringstream log(server_->WaitForLog("log-line-check"));
  for (std::string l; std::getline(log, l);) {
    if (l.find("log-line-check") != std::string::npos) line = l;
  }
  ASSERT_FALSE(line.empty());
  const auto entry = nlohmann::json::parse(line);
  EXPECT_EQ(entry["msg"], "request");
  EXPECT_EQ(entry["method"], "GET");
  EXPECT_EQ(entry["route"], "/healthz");
  EXPECT_EQ(entry["status"], 200);
  EXPECT_TRUE(entry.contains("bytes_out"));
  EXPECT_TRUE(entry.contains("duration_ms"));
}

}  // namespace
}  // namespace nexus::testing
