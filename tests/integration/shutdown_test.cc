// SIGTERM: the server stops accepting, finishes the request it is reading, and exits 0.
#include <gmock/gmock.h>
#include <signal.h>

#include <thread>

#include "api_fixture.h"

namespace nexus::testing {
namespace {

using ShutdownTest = ApiTest;

TEST_F(ShutdownTest, SigtermExitsCleanly) {
  EXPECT_EQ(Request(server_->port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(server_->Terminate(), 0);
  EXPECT_THAT(server_->Log(), ::testing::HasSubstr("\"msg\":\"stopped\""));
  // Nothing listens any more.
  RawConnection after(server_->port(), std::chrono::milliseconds(500));
  EXPECT_FALSE(after.connected() && after.SendSome(BuildRequest("GET", "/healthz")) &&
               after.ReadResponse().status == 200);
}

TEST_F(ShutdownTest, RequestInProgressIsAnsweredBeforeExit) {
  const std::string body = R"({"name":"Finished during shutdown"})";
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.SendSome(BuildRequest("POST", "/api/agents",
                                               {{"Host", "x"},
                                                {"Authorization", "Bearer " + AlphaToken()},
                                                {"Content-Type", "application/json"},
                                                {"Content-Length", std::to_string(body.size())}})));
  ASSERT_TRUE(connection.SendSome(body.substr(0, 10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(server_->pid(), SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(connection.SendSome(body.substr(10)));
  HttpResponse response = connection.ReadResponse();
  EXPECT_EQ(response.status, 201) << response.error << response.body;
  EXPECT_EQ(server_->Terminate(), 0);

  // The agent was stored: a new server on the same database lists it.
  auto again = NexusServer::Start(db_);
  ASSERT_NE(again, nullptr);
  HttpResponse agents =
      Request(again->port(), "GET", "/api/agents", {{"Authorization", "Bearer " + AlphaToken()}});
  EXPECT_THAT(agents.body, ::testing::HasSubstr("Finished during shutdown"));
}

}  // namespace
}  // namespace nexus::testing
