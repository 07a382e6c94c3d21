#include "schedule/dispatch_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "core/webhook_signature.h"
#include "support/agent_receiver.h"
#include "support/raw_http.h"

namespace nexus::schedule {
namespace {

using nexus::testing::AgentReceiver;
using nexus::testing::ReceivedRequest;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr char kSecret[] = "whsec_test_0123456789";
constexpr char kBody[] =
    R"({"callId":"c1","batchId":"b1","attempt":1,"from":"+14155550100","to":"+14155550123",)"
    R"("agentId":"a1","language":"en","variables":{"name":"Ada"}})";

absl::Time FakeNow() { return absl::FromUnixSeconds(1767225600); }  // 2026-01-01T00:00:00Z

DispatchClientOptions Options(int threads) {
  DispatchClientOptions options;
  options.threads = threads;
  options.timeout = absl::Seconds(5);
  options.connect_timeout = absl::Seconds(2);
  return options;
}

// Collects the `done` calls of n posts, counting calls per post.
class Outcomes {
 public:
  explicit Outcomes(size_t n) : calls_(n, 0), results_(n) {}

  DispatchClient::Done Done(size_t index) {
    return [this, index](DispatchResult result) {
      std::lock_guard lock(mutex_);
      ++calls_[index];
      results_[index] = std::move(result);
      ++total_;
      cv_.notify_all();
    };
  }
  // Waits until at least `n` done calls arrived in all.
  bool WaitForCalls(size_t n, std::chrono::milliseconds timeout = 30s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return total_ >= n; });
  }
  bool WaitAll(std::chrono::milliseconds timeout = 30s) {
    return WaitForCalls(calls_.size(), timeout);
  }
  int calls(size_t index) {
    std::lock_guard lock(mutex_);
    return calls_[index];
  }
  DispatchResult result(size_t index) {
    std::lock_guard lock(mutex_);
    return results_[index];
  }
  size_t total() {
    std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> calls_;
  std::vector<DispatchResult> results_;
  size_t total_ = 0;
};

// Posts one request and waits for its result.
DispatchResult PostAndWait(DispatchClient& client, DispatchRequest request) {
  Outcomes outcomes(1);
  client.Post(std::move(request), outcomes.Done(0));
  EXPECT_TRUE(outcomes.WaitAll()) << "done was never called";
  return outcomes.result(0);
}

// A latch a receiver handler can block on, so a test decides when a request in flight ends.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 10s, [&] { return open_; });  // bounded: a failing test must not hang
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A socket bound to a loopback port but not listening: connecting to that port is refused, and
// nothing else can take the port while the test runs.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~RefusingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(DispatchClientTest, AcceptedOn200WithASignedJsonPost) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  DispatchClient client(Options(2), FakeNow);

  DispatchResult result =
      PostAndWait(client, {receiver.url("/agents/a1/dispatch"), kSecret, kBody});
  EXPECT_TRUE(result.accepted) << result.error;
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.error, "");

  std::vector<ReceivedRequest> requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const ReceivedRequest& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/agents/a1/dispatch");
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("content-length"), std::to_string(std::string(kBody).size()));
  EXPECT_EQ(request.Header("user-agent"), "nexus-dialler");
  EXPECT_EQ(request.Header("expect"), "");
  EXPECT_EQ(request.body, kBody);

  const std::string timestamp = request.Header(core::kTimestampHeader);
  const std::string signature = request.Header(core::kSignatureHeader);
  EXPECT_EQ(timestamp, "1767225600");  // the injected clock, not the machine's
  EXPECT_THAT(signature, ::testing::StartsWith("sha256="));
  EXPECT_TRUE(core::VerifyWebhook(kSecret, timestamp, signature, request.body, FakeNow()).ok());
  EXPECT_FALSE(
      core::VerifyWebhook("other-secret", timestamp, signature, request.body, FakeNow()).ok());
  EXPECT_FALSE(
      core::VerifyWebhook(kSecret, timestamp, signature, request.body + " ", FakeNow()).ok());
}

TEST(DispatchClientTest, EveryTwoHundredStatusIsAccepted) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  DispatchClient client(Options(1), FakeNow);
  for (int status : {201, 202, 204, 299}) {
    receiver.SetStatus(status);
    DispatchResult result = PostAndWait(client, {receiver.url(), kSecret, kBody});
    EXPECT_TRUE(result.accepted) << status << ": " << result.error;
    EXPECT_EQ(result.http_status, status);
  }
}

TEST(DispatchClientTest, ServerErrorIsNotAccepted) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetStatus(500);
  DispatchClient client(Options(1), FakeNow);

  DispatchResult result = PostAndWait(client, {receiver.url(), kSecret, kBody});
  EXPECT_FALSE(result.accepted);
  EXPECT_EQ(result.http_status, 500);
  EXPECT_EQ(result.error, "HTTP 500");
}

TEST(DispatchClientTest, OtherStatusesAreNotAcceptedAndRedirectsNotFollowed) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  DispatchClient client(Options(1), FakeNow);
  for (int status : {302, 400, 401, 404, 429, 503}) {
    receiver.SetStatus(status);
    DispatchResult result = PostAndWait(client, {receiver.url(), kSecret, kBody});
    EXPECT_FALSE(result.accepted) << status;
    EXPECT_EQ(result.http_status, status);
    EXPECT_EQ(result.error, "HTTP " + std::to_string(status));
  }
  EXPECT_EQ(receiver.RequestCount(), 6u);
}

TEST(DispatchClientTest, NoAnswerWithinTheTimeoutIsNotAccepted) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetDelay(3s);
  DispatchClientOptions options = Options(1);
  options.timeout = absl::Milliseconds(300);
  DispatchClient client(options, FakeNow);

  const auto start = std::chrono::steady_clock::now();
  DispatchResult result = PostAndWait(client, {receiver.url(), kSecret, kBody});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(result.accepted);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_THAT(result.error, HasSubstr("timeout after 300 ms"));
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2500ms);
  EXPECT_EQ(receiver.RequestCount(), 1u);  // it did arrive; the answer was too late
}

TEST(DispatchClientTest, ConnectionRefusedIsNotAccepted) {
  RefusingPort refusing;
  ASSERT_NE(refusing.port(), 0);
  DispatchClient client(Options(1), FakeNow);

  DispatchResult result = PostAndWait(
      client,
      {"http://127.0.0.1:" + std::to_string(refusing.port()) + "/dispatch", kSecret, kBody});
  EXPECT_FALSE(result.accepted);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_NE(result.error, "");
}

TEST(DispatchClientTest, OnlyHttpAndHttpsUrlsAreUsed) {
  DispatchClient client(Options(1), FakeNow);
  for (const char* url :
       {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "not a url"}) {
    DispatchResult result = PostAndWait(client, {url, kSecret, kBody});
    EXPECT_FALSE(result.accepted) << url;
    EXPECT_EQ(result.http_status, 0) << url;
    EXPECT_NE(result.error, "") << url;
  }
}

TEST(DispatchClientTest, LargeResponseBodyIsDiscardedButTheStatusCounts) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetHandler([](const ReceivedRequest&) {
    return std::pair{200, std::string(256 * 1024, 'x')};
  });
  DispatchClient client(Options(1), FakeNow);

  DispatchResult result = PostAndWait(client, {receiver.url(), kSecret, kBody});
  EXPECT_TRUE(result.accepted) << result.error;
  EXPECT_EQ(result.http_status, 200);

  // A small body is read in full and the connection reused.
  receiver.SetHandler([](const ReceivedRequest&) { return std::pair{200, std::string(100, 'y')}; });
  for (int i = 0; i < 3; ++i) {
    result = PostAndWait(client, {receiver.url(), kSecret, kBody});
    EXPECT_TRUE(result.accepted) << result.error;
  }
  EXPECT_LE(receiver.ConnectionsAccepted(), 2);
}

TEST(DispatchClientTest, ManyConcurrentPostsCompleteExactlyOnce) {
  constexpr size_t kPosts = 500;
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  Outcomes outcomes(kPosts);
  DispatchClient client(Options(4), FakeNow);

  for (size_t i = 0; i < kPosts; ++i) {
    client.Post({receiver.url(), kSecret, R"({"callId":"c)" + std::to_string(i) + R"("})"},
                outcomes.Done(i));
  }
  ASSERT_TRUE(outcomes.WaitAll()) << outcomes.total() << " of " << kPosts << " done";
  std::this_thread::sleep_for(50ms);  // a duplicate call would show up now
  EXPECT_EQ(outcomes.total(), kPosts);
  for (size_t i = 0; i < kPosts; ++i) {
    EXPECT_EQ(outcomes.calls(i), 1) << i;
    DispatchResult result = outcomes.result(i);
    EXPECT_TRUE(result.accepted) << i << ": " << result.error;
  }
  EXPECT_EQ(client.queued(), 0u);

  std::vector<ReceivedRequest> requests = receiver.Requests();
  ASSERT_EQ(requests.size(), kPosts);
  std::set<std::string> bodies;
  for (const ReceivedRequest& request : requests) bodies.insert(request.body);
  EXPECT_EQ(bodies.size(), kPosts);
  EXPECT_LE(receiver.ConnectionsAccepted(), 4);  // one kept-alive connection per worker
}

TEST(DispatchClientTest, SequentialPostsReuseTheConnection) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  DispatchClient client(Options(1), FakeNow);
  for (int i = 0; i < 50; ++i) {
    DispatchResult result = PostAndWait(client, {receiver.url(), kSecret, kBody});
    ASSERT_TRUE(result.accepted) << i << ": " << result.error;
  }
  EXPECT_EQ(receiver.RequestCount(), 50u);
  EXPECT_LE(receiver.ConnectionsAccepted(), 2);
}

TEST(DispatchClientTest, DestructorFailsQueuedPostsAndFinishesTheOneInFlight) {
  constexpr size_t kPosts = 20;
  Gate gate;
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetHandler([&](const ReceivedRequest&) {
    gate.Wait();
    return std::pair{200, std::string()};
  });
  Outcomes outcomes(kPosts);
  auto client = std::make_unique<DispatchClient>(Options(1), FakeNow);
  for (size_t i = 0; i < kPosts; ++i)
    client->Post({receiver.url(), kSecret, kBody}, outcomes.Done(i));
  ASSERT_TRUE(receiver.WaitForRequests(1, 10s));  // post 0 is in flight, 1..19 queued
  EXPECT_EQ(client->queued(), kPosts - 1);

  std::thread destroyer([&] { client.reset(); });
  // The destructor fails the queued posts first, then waits for the one in flight.
  EXPECT_TRUE(outcomes.WaitForCalls(kPosts - 1, 10s));
  EXPECT_EQ(outcomes.calls(0), 0);
  gate.Open();
  destroyer.join();

  EXPECT_EQ(outcomes.total(), kPosts);
  EXPECT_EQ(outcomes.calls(0), 1);
  EXPECT_TRUE(outcomes.result(0).accepted) << outcomes.result(0).error;
  for (size_t i = 1; i < kPosts; ++i) {
    EXPECT_EQ(outcomes.calls(i), 1) << i;
    EXPECT_FALSE(outcomes.result(i).accepted) << i;
    EXPECT_EQ(outcomes.result(i).error, "shutting down") << i;
  }
  EXPECT_EQ(receiver.RequestCount(), 1u);
}

TEST(DispatchClientTest, PostRefusesPastMaxQueue) {
  Gate gate;
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetHandler([&](const ReceivedRequest&) {
    gate.Wait();
    return std::pair{200, std::string()};
  });
  DispatchClientOptions options = Options(1);
  options.max_queue = 2;
  Outcomes outcomes(4);
  DispatchClient client(options, FakeNow);

  client.Post({receiver.url(), kSecret, kBody}, outcomes.Done(0));
  ASSERT_TRUE(receiver.WaitForRequests(1, 10s));  // in flight: the queue is empty again
  client.Post({receiver.url(), kSecret, kBody}, outcomes.Done(1));
  client.Post({receiver.url(), kSecret, kBody}, outcomes.Done(2));
  EXPECT_EQ(client.queued(), 2u);
  client.Post({receiver.url(), kSecret, kBody}, outcomes.Done(3));
  // Refused on the spot.
  EXPECT_EQ(outcomes.calls(3), 1);
  EXPECT_FALSE(outcomes.result(3).accepted);
  EXPECT_EQ(outcomes.result(3).error, "queue full");

  gate.Open();
  ASSERT_TRUE(outcomes.WaitAll());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(outcomes.calls(i), 1) << i;
    EXPECT_TRUE(outcomes.result(i).accepted) << i << ": " << outcomes.result(i).error;
  }
}

TEST(DispatchClientTest, DoneMayPostARetry) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetHandler([&](const ReceivedRequest& request) {
    return std::pair{request.body == "retry" ? 200 : 503, std::string()};
  });
  Outcomes outcomes(1);
  DispatchClient client(Options(1), FakeNow);
  client.Post({receiver.url(), kSecret, "first"}, [&](DispatchResult first) {
    EXPECT_EQ(first.http_status, 503);
    client.Post({receiver.url(), kSecret, "retry"}, outcomes.Done(0));
  });
  ASSERT_TRUE(outcomes.WaitAll());
  EXPECT_TRUE(outcomes.result(0).accepted) << outcomes.result(0).error;
}

// The receiver itself, checked with the independent raw-socket client.

TEST(AgentReceiverTest, KeepAliveHandlerAndRecording) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  receiver.SetHandler([](const ReceivedRequest& request) {
    return std::pair{201, "echo:" + request.body};
  });
  nexus::testing::RawConnection connection(receiver.port());
  ASSERT_TRUE(connection.connected()) << connection.error();
  for (std::string body : {"one", "two"}) {
    ASSERT_TRUE(connection.SendSome(nexus::testing::BuildRequest(
        "POST", "/x?y=1", {{"Host", "a"}, {"X-Test", "Value"}}, body)));
    nexus::testing::HttpResponse response = connection.ReadResponse();
    EXPECT_EQ(response.status, 201) << response.error;
    EXPECT_EQ(response.body, "echo:" + body);
  }
  EXPECT_EQ(receiver.ConnectionsAccepted(), 1);
  std::vector<ReceivedRequest> requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].target, "/x?y=1");
  EXPECT_EQ(requests[1].body, "two");
  EXPECT_EQ(requests[1].Header("X-TEST"), "Value");
  EXPECT_EQ(requests[1].headers[1].first, "x-test");
  EXPECT_LE(requests[0].at, requests[1].at);
}

TEST(AgentReceiverTest, RefusesWhatItDoesNotUnderstandAndCloses) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  for (const char* raw :
       {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "garbage\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n"}) {
    nexus::testing::RawConnection connection(receiver.port());
    ASSERT_TRUE(connection.SendSome(raw));
    nexus::testing::HttpResponse response = connection.ReadResponse();
    EXPECT_GE(response.status, 400) << raw;
    EXPECT_TRUE(connection.IsClosedByPeer()) << raw;
  }
  EXPECT_EQ(receiver.RequestCount(), 0u);
}

TEST(AgentReceiverTest, ConnectionCloseIsHonoured) {
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  nexus::testing::HttpResponse response =
      nexus::testing::Request(receiver.port(), "POST", "/dispatch", {}, "x");
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.Header("connection"), "close");
  EXPECT_TRUE(receiver.WaitForRequests(1, 1s));
  EXPECT_FALSE(receiver.WaitForRequests(2, 10ms));
}

TEST(AgentReceiverTest, DestructorDoesNotWaitForDelays) {
  auto receiver = std::make_unique<AgentReceiver>();
  ASSERT_NE(receiver->port(), 0);
  receiver->SetDelay(30s);
  nexus::testing::RawConnection connection(receiver->port());
  ASSERT_TRUE(connection.SendSome(nexus::testing::BuildRequest("POST", "/", {}, "x")));
  ASSERT_TRUE(receiver->WaitForRequests(1, 5s));
  const auto start = std::chrono::steady_clock::now();
  receiver.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(connection.IsClosedByPeer());
}

TEST(AgentReceiverTest, ServesThousandsOfRequestsPerSecond) {
  constexpr int kConnections = 4;
  constexpr int kPerConnection = 1000;
  AgentReceiver receiver;
  ASSERT_NE(receiver.port(), 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&] {
      nexus::testing::RawConnection connection(receiver.port());
      const std::string request = nexus::testing::BuildRequest("POST", "/", {}, kBody);
      for (int i = 0; i < kPerConnection; ++i) {
        if (!connection.SendSome(request)) return;
        if (connection.ReadResponse().status != 200) return;
        ++ok;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok.load(), kConnections * kPerConnection);
  EXPECT_EQ(receiver.RequestCount(), static_cast<size_t>(kConnections * kPerConnection));
  // Generous bound (sanitizers, shared cores); the rate is printed for the record.
  EXPECT_LT(seconds, 10.0);
  std::printf("[ receiver ] %d requests in %.3f s = %.0f/s\n", kConnections * kPerConnection,
              seconds, kConnections * kPerConnection / seconds);
}

}  // namespace
}  // namespace nexus::schedule
