#include "http/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/metrics.h"
#include "support/raw_http.h"

namespace nexus::http {
namespace {

using ::nexus::testing::BuildRequest;
using ::nexus::testing::HttpHeaders;
using ::nexus::testing::HttpResponse;
using ::nexus::testing::RawConnection;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint64_t kEchoLimit = 64;

// Every limit small and every timeout short, so that the timeout tests stay well under 2 s. One
// I/O thread: proves that slow clients cannot block others by occupying threads.
ServerOptions TestOptions() {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.io_threads = 1;
  options.worker_threads = 2;
  options.header_timeout = absl::Milliseconds(500);
  options.keep_alive_timeout = absl::Milliseconds(600);
  options.min_body_bytes_per_second = 10000;
  options.body_grace = absl::Milliseconds(300);
  options.max_header_bytes = 4096;
  options.max_header_count = 20;
  options.shutdown_grace = absl::Seconds(2);
  return options;
}

Response TextResponse(std::string body) {
  Response response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

// The server against a tiny fake application:
//   /echo        200 "METHOD path?query|body", body limit kEchoLimit
//   /header      200 with the value of the request's X-Probe header (via FindHeader)
//   /missing     404 immediately, without reading any body
//   /throw       the handler throws
//   /app-throws  the Application itself throws
//   /slow        the handler signals handler_started_, then waits for release_handler_
//   /close       the handler asks for the connection to be closed
//   /evil        the handler returns headers that must not reach the wire
//   anything else: 404 immediately, route "unmatched"
class ServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    Release();
    if (server_ != nullptr) server_->Shutdown();
  }

  void StartServer(ServerOptions options = TestOptions()) {
    server_ = std::make_unique<Server>(
        std::move(options), [this](Request& head) { return Route(head); }, &metrics_);
    absl::StatusOr<uint16_t> port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  Plan Route(Request& head) {
    Plan plan;
    if (head.path == "/echo") {
      plan.route = "/echo";
      plan.body_limit = kEchoLimit;
      plan.handle = [](Request& request) {
        Response response = TextResponse(request.method + " " + request.path + "?" + request.query +
                                         "|" + request.body);
        response.headers.push_back({"X-Remote", request.remote_address});
        return response;
      };
    } else if (head.path == "/header") {
      plan.route = "/header";
      plan.handle = [](Request& request) {
        const std::string* probe = request.FindHeader("X-PROBE");
        return TextResponse(probe == nullptr ? "(none)" : *probe);
      };
    } else if (head.path == "/throw") {
      plan.route = "/throw";
      plan.handle = [](Request&) -> Response { throw std::runtime_error("boom"); };
    } else if (head.path == "/app-throws") {
      throw std::runtime_error("application boom");
    } else if (head.path == "/slow") {
      plan.route = "/slow";
      plan.handle = [this](Request&) {
        handler_started_.Notify();
        release_handler_.WaitForNotificationWithTimeout(absl::Seconds(5));
        return TextResponse("slow done");
      };
    } else if (head.path == "/sink" || head.path == "/sink-stop") {
      // Streams the body: counts pieces and bytes; /sink-stop refuses once 100 bytes arrived.
      struct CountingSink : BodySink {
        bool stop_early = false;
        size_t bytes = 0;
        size_t pieces = 0;
        std::string head_tail;  // the first and last byte seen, to check ordering
        std::optional<Response> Consume(std::string_view piece) override {
          ++pieces;
          bytes += piece.size();
          if (head_tail.empty()) head_tail += piece.front();
          last = piece.back();
          if (stop_early && bytes >= 100) {
            Response refused = TextResponse("stopped at " + std::to_string(bytes));
            refused.status = 400;
            return refused;
          }
          return std::nullopt;
        }
        Response Finish(Request& request) override {
          return TextResponse(std::to_string(bytes) + " bytes " + head_tail + last +
                              " body=" + std::to_string(request.body.size()));
        }
        char last = '-';
      };
      auto sink = std::make_shared<CountingSink>();
      sink->stop_early = head.path == "/sink-stop";
      plan.route = "/sink";
      plan.body_limit = 10 * 1024 * 1024;
      plan.sink = sink;
    } else if (head.path == "/stream" || head.path == "/stream-fails") {
      // Five pieces "piece-0|" .. "piece-4|" (with an empty one in between); /stream-fails
      // errs after the second.
      const bool fails = head.path == "/stream-fails";
      plan.route = "/stream";
      plan.handle = [fails](Request&) {
        Response response = TextResponse("");
        auto next = std::make_shared<int>(0);
        response.body_stream = [next, fails](std::string& out) -> absl::StatusOr<bool> {
          const int i = (*next)++;
          if (fails && i == 2) return absl::InternalError("store went away");
          if (i == 3) return true;  // an empty piece is skipped, not sent as the last chunk
          out = "piece-" + std::to_string(i > 3 ? i - 1 : i) + "|";
          return i < 5;
        };
        return response;
      };
    } else if (head.path == "/close") {
      plan.route = "/close";
      plan.handle = [](Request&) {
        Response response = TextResponse("bye");
        response.close_connection = true;
        return response;
      };
    } else if (head.path == "/evil") {
      plan.route = "/evil";
      plan.handle = [](Request&) {
        Response response = TextResponse("evil");
        response.headers.push_back({"X-Fine", "yes"});
        response.headers.push_back({"X-Split", "a\r\nX-Injected: yes"});
        response.headers.push_back({"Content-Length", "999"});
        return response;
      };
    } else {
      Response not_found;
      not_found.status = 404;
      not_found.body = R"({"success":false,"message":"not found"})";
      plan.immediate = std::move(not_found);
    }
    return plan;
  }

  // Lets a /slow handler return. Calls never overlap (helper threads are joined before TearDown).
  void Release() {
    if (!release_handler_.HasBeenNotified()) release_handler_.Notify();
  }

  HttpResponse Get(std::string_view target, const HttpHeaders& headers = {}) {
    return ::nexus::testing::Request(port_, "GET", target, headers);
  }

  // A keep-alive request (no Connection header) with a Host, for RawConnection tests.
  std::string KeepAliveRequest(std::string_view method, std::string_view target,
                               std::string_view body = {}) {
    return BuildRequest(method, target, {{"Host", "localhost"}}, body);
  }

  // The request is recorded right after its answer is written, so a client can see the answer
  // a moment before the counter moves.
  double WaitForCounter(const core::MetricLabels& labels, double at_least) {
    const Clock::time_point deadline = Clock::now() + 1s;
    double value = 0;
    while ((value = metrics_.Value("nexus_http_requests_total", labels)) < at_least &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    return value;
  }

  core::Metrics metrics_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  absl::Notification handler_started_;
  absl::Notification release_handler_;
};

TEST(RequestTest, FindHeaderIsCaseInsensitiveAndReturnsTheFirst) {
  Request request;
  request.headers = {{"content-type", "text/plain"}, {"x-a", "1"}, {"x-a", "2"}};
  ASSERT_NE(request.FindHeader("X-A"), nullptr);
  EXPECT_EQ(*request.FindHeader("X-A"), "1");
  EXPECT_EQ(*request.FindHeader("Content-Type"), "text/plain");
  EXPECT_EQ(request.FindHeader("x-b"), nullptr);
}

TEST_F(ServerTest, GetRoundTrip) {
  StartServer();
  HttpResponse response = Get("/echo?page=2&q=a%20b");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "GET /echo?page=2&q=a%20b|");
  EXPECT_EQ(response.Header("content-type"), "text/plain");
  EXPECT_EQ(response.Header("content-length"), std::to_string(response.body.size()));
  EXPECT_EQ(response.Header("x-remote"), "127.0.0.1");
  EXPECT_FALSE(response.Header("x-request-id").empty());
}

TEST_F(ServerTest, PostRoundTrip) {
  StartServer();
  HttpResponse response = ::nexus::testing::Request(port_, "POST", "/echo", {}, "hello");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "POST /echo?|hello");
}

TEST_F(ServerTest, ChunkedPostWithinLimitIsAssembled) {
  StartServer();
  HttpResponse response = ::nexus::testing::Send(
      port_,
      "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "POST /echo?|hello world");
}

TEST_F(ServerTest, HandlerSeesHeadersCaseInsensitively) {
  StartServer();
  HttpResponse response = Get("/header", {{"x-Probe", "found"}});
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "found");
}

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.connected()) << connection.error();
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/echo?n=1")));
  HttpResponse first = connection.ReadResponse();
  ASSERT_EQ(first.status, 200) << first.error;
  EXPECT_EQ(first.body, "GET /echo?n=1|");
  EXPECT_NE(first.Header("connection"), "close");

  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("POST", "/echo?n=2", "abc")));
  HttpResponse second = connection.ReadResponse();
  ASSERT_EQ(second.status, 200) << second.error;
  EXPECT_EQ(second.body, "POST /echo?n=2|abc");
  EXPECT_NE(first.Header("x-request-id"), second.Header("x-request-id"));
}

TEST_F(ServerTest, StreamedBodyIsSentChunkedAndTheConnectionStaysAlive) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.connected()) << connection.error();
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/stream")));
  HttpResponse streamed = connection.ReadResponse();
  ASSERT_EQ(streamed.status, 200) << streamed.error;
  EXPECT_EQ(streamed.Header("transfer-encoding"), "chunked");
  EXPECT_FALSE(streamed.HasHeader("content-length"));
  EXPECT_EQ(streamed.body, "piece-0|piece-1|piece-2|piece-3|piece-4|");
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/echo?after=stream")));
  HttpResponse next = connection.ReadResponse();
  ASSERT_EQ(next.status, 200) << next.error;
  EXPECT_EQ(next.body, "GET /echo?after=stream|");
}

TEST_F(ServerTest, StreamedBodyThatFailsIsCutOffWithoutTheFinalChunk) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.connected()) << connection.error();
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/stream-fails")));
  HttpResponse cut = connection.ReadResponse();
  EXPECT_EQ(cut.status, 0) << "a truncated transfer is not a complete response: " << cut.body;
  EXPECT_FALSE(cut.error.empty());
}

TEST_F(ServerTest, StreamedBodyToAnHttp10ClientEndsWithTheConnection) {
  StartServer();
  HttpResponse response =
      ::nexus::testing::Send(port_, "GET /stream HTTP/1.0\r\nHost: localhost\r\n\r\n");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_FALSE(response.HasHeader("transfer-encoding"));
  EXPECT_EQ(response.body, "piece-0|piece-1|piece-2|piece-3|piece-4|");
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/echo?n=1") +
                                  KeepAliveRequest("POST", "/echo?n=2", "xy") +
                                  KeepAliveRequest("GET", "/echo?n=3")));
  EXPECT_EQ(connection.ReadResponse().body, "GET /echo?n=1|");
  EXPECT_EQ(connection.ReadResponse().body, "POST /echo?n=2|xy");
  EXPECT_EQ(connection.ReadResponse().body, "GET /echo?n=3|");
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(
      connection.SendSome(BuildRequest("GET", "/echo", {{"Host", "x"}, {"Connection", "close"}})));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.Header("connection"), "close");
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, Http10WithoutKeepAliveIsClosed) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome("GET /echo HTTP/1.0\r\n\r\n"));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, HandlerCanCloseTheConnection) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/close")));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.Header("connection"), "close");
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, HeadAnswersWithLengthButNoBody) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("HEAD", "/echo")));
  HttpResponse head = connection.ReadResponse(/*head_request=*/true);
  ASSERT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.Header("content-length"), std::to_string(std::string("HEAD /echo?|").size()));
  // Had a body been sent, it would be read as the next response's status line.
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/echo")));
  EXPECT_EQ(connection.ReadResponse().body, "GET /echo?|");
}

TEST_F(ServerTest, ClientRequestIdIsEchoed) {
  StartServer();
  HttpResponse response = Get("/echo", {{"X-Request-Id", "client-id_42"}});
  EXPECT_EQ(response.Header("x-request-id"), "client-id_42");
}

TEST_F(ServerTest, RequestIdIsGeneratedWhenMissingOrInsane) {
  StartServer();
  for (const HttpHeaders& headers : std::vector<HttpHeaders>{
           {}, {{"X-Request-Id", "has space"}}, {{"X-Request-Id", std::string(129, 'a')}}}) {
    HttpResponse response = Get("/echo", headers);
    ASSERT_EQ(response.status, 200) << response.error;
    EXPECT_THAT(response.Header("x-request-id"), MatchesRegex("[0-9a-f]{16}"));
  }
  EXPECT_NE(Get("/echo").Header("x-request-id"), Get("/echo").Header("x-request-id"));
}

TEST_F(ServerTest, ImmediateAnswerKeepsAliveWhenThereIsNoBody) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/nowhere")));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 404) << response.error;
  EXPECT_EQ(response.body, R"({"success":false,"message":"not found"})");
  EXPECT_EQ(response.Header("content-type"), "application/json");
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/echo")));
  EXPECT_EQ(connection.ReadResponse().status, 200);
}

TEST_F(ServerTest, ImmediateAnswerClosesWhenABodyWasAnnounced) {
  StartServer();
  RawConnection connection(port_);
  // The body is announced but never sent: the answer must not wait for it.
  ASSERT_TRUE(
      connection.SendSome("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 404) << response.error;
  EXPECT_EQ(response.Header("connection"), "close");
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, ContentLengthOverLimitAnswers413BeforeTheBodyIsSent) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(
      connection.SendSome("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"));
  const Clock::time_point begin = Clock::now();
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 413) << response.error;
  EXPECT_LT(Clock::now() - begin, 1s);
  EXPECT_EQ(response.body,
            R"({"success":false,"message":"request body too large: limit is 64 bytes"})");
  EXPECT_EQ(response.Header("connection"), "close");
  EXPECT_FALSE(response.Header("x-request-id").empty());
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, ChunkedBodyOverLimitAnswers413) {
  StartServer();
  RawConnection connection(port_);
  const std::string chunk = "28\r\n" + std::string(40, 'x') + "\r\n";  // 40 bytes; limit is 64
  ASSERT_TRUE(connection.SendSome(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 413) << response.error;
  EXPECT_THAT(response.body, HasSubstr("limit is 64 bytes"));
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, HugeHeaderAnswers431) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(
      "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(5000, 'a') + "\r\n\r\n"));
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 431) << response.error;
  EXPECT_EQ(response.body,
            R"({"success":false,"message":"request header too large: limit is 4096 bytes"})");
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, TooManyHeadersAnswers431) {
  StartServer();
  HttpHeaders headers;
  for (int i = 0; i < 25; ++i) headers.emplace_back("X-H" + std::to_string(i), "v");
  HttpResponse response = Get("/echo", headers);
  ASSERT_EQ(response.status, 431) << response.error;
  EXPECT_THAT(response.body, HasSubstr("too many header fields: limit is 20"));
}

TEST_F(ServerTest, EncodedBodyAnswers415) {
  StartServer();
  HttpResponse response = ::nexus::testing::Request(
      port_, "POST", "/echo", {{"Content-Encoding", "gzip"}}, "\x1f\x8b compressed");
  ASSERT_EQ(response.status, 415) << response.error;
  EXPECT_THAT(response.body, HasSubstr("Content-Encoding is not supported"));
  // identity is no encoding at all.
  HttpResponse identity = ::nexus::testing::Request(port_, "POST", "/echo",
                                                    {{"Content-Encoding", "Identity"}}, "plain");
  EXPECT_EQ(identity.status, 200) << identity.error;
}

TEST_F(ServerTest, MalformedRequestsAnswer400AndClose) {
  StartServer();
  const char* const kBadRequests[] = {
      "GARBAGE\r\n\r\n",
      "GET / HTTP/9.1\r\n\r\n",
      "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  };
  for (const char* bad : kBadRequests) {
    RawConnection connection(port_);
    ASSERT_TRUE(connection.SendSome(bad));
    HttpResponse response = connection.ReadResponse();
    EXPECT_EQ(response.status, 400) << bad << response.error;
    EXPECT_THAT(response.body, HasSubstr("malformed request")) << bad;
    EXPECT_TRUE(connection.IsClosedByPeer(500ms)) << bad;
  }
}

TEST_F(ServerTest, BadChunkAnswers400) {
  StartServer();
  HttpResponse response = ::nexus::testing::Send(
      port_, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
  ASSERT_EQ(response.status, 400) << response.error;
  EXPECT_THAT(response.body, HasSubstr("malformed request body"));
}

TEST_F(ServerTest, SlowlorisDoesNotDelayOthersAndIsCutOffAfterHeaderTimeout) {
  StartServer();
  RawConnection slow(port_);
  const Clock::time_point begin = Clock::now();
  ASSERT_TRUE(slow.SendSome("GET /echo HTTP/1.1\r\nHost: x\r\n"));

  const HttpResponse normal = Get("/echo");
  EXPECT_EQ(normal.status, 200) << normal.error;
  EXPECT_LT(Clock::now() - begin, 1s);

  // Trickling more header lines does not buy more time: the whole head is due at once.
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(slow.SendSome("X-Trickle: 1\r\n"));
  HttpResponse cut_off = slow.ReadResponse();
  const auto elapsed = Clock::now() - begin;
  ASSERT_EQ(cut_off.status, 408) << cut_off.error;
  EXPECT_THAT(cut_off.body, HasSubstr("request header not received within 500ms"));
  EXPECT_GE(elapsed, 450ms);
  EXPECT_LT(elapsed, 1s);
  EXPECT_TRUE(slow.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, SilentConnectionIsClosedAfterHeaderTimeoutWithoutAnAnswer) {
  StartServer();
  RawConnection silent(port_);
  const Clock::time_point begin = Clock::now();
  EXPECT_TRUE(silent.IsClosedByPeer(1500ms));
  EXPECT_GE(Clock::now() - begin, 450ms);
  EXPECT_EQ(silent.ReadResponse().status, 0);  // closed without a word
}

TEST_F(ServerTest, SlowBodyBelowMinimumRateAnswers408) {
  StartServer();
  RawConnection connection(port_);
  const Clock::time_point begin = Clock::now();
  // 60 bytes are due within body_grace (300 ms) + 60 / 10000 s; only 10 ever come.
  ASSERT_TRUE(connection.SendSome(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n0123456789"));
  HttpResponse response = connection.ReadResponse();
  const auto elapsed = Clock::now() - begin;
  ASSERT_EQ(response.status, 408) << response.error;
  EXPECT_THAT(response.body, HasSubstr("request body arrived too slowly"));
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1s);
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
}

TEST_F(ServerTest, TricklingChunkedBodyIsCutOff) {
  StartServer();
  RawConnection connection(port_);
  const Clock::time_point begin = Clock::now();
  ASSERT_TRUE(
      connection.SendSome("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // One byte every 50 ms is 20 B/s, far below 10000 B/s: each chunk re-arms the deadline, but
  // only by what it carried, so the grace runs out.
  bool closed = false;
  while (!closed && Clock::now() - begin < 1500ms) {
    if (!connection.SendSome("1\r\na\r\n")) break;
    closed = connection.IsClosedByPeer(50ms);  // the pause between bytes
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - begin, 800ms);  // cut off soon after the 300 ms grace
  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 408) << response.error;
  EXPECT_THAT(response.body, HasSubstr("minimum rate is 10000 bytes per second"));
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/echo")));
  ASSERT_EQ(connection.ReadResponse().status, 200);
  const Clock::time_point idle_since = Clock::now();
  EXPECT_TRUE(connection.IsClosedByPeer(1500ms));
  EXPECT_GE(Clock::now() - idle_since, 550ms);
}

TEST_F(ServerTest, HandlerExceptionAnswers500WithRequestId) {
  StartServer();
  HttpResponse response = Get("/throw", {{"X-Request-Id", "req-1"}});
  ASSERT_EQ(response.status, 500) << response.error;
  EXPECT_EQ(response.body, R"({"success":false,"message":"internal error","requestId":"req-1"})");
  EXPECT_EQ(response.Header("x-request-id"), "req-1");

  HttpResponse generated = Get("/throw");
  ASSERT_EQ(generated.status, 500);
  EXPECT_THAT(generated.body, HasSubstr(generated.Header("x-request-id")));
}

TEST_F(ServerTest, ApplicationExceptionAnswers500) {
  StartServer();
  HttpResponse response = Get("/app-throws");
  ASSERT_EQ(response.status, 500) << response.error;
  EXPECT_THAT(response.body, HasSubstr(R"("requestId":")"));
}

TEST_F(ServerTest, HandlerCannotInjectOrOverrideFramingHeaders) {
  StartServer();
  HttpResponse response = Get("/evil");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "evil");
  EXPECT_EQ(response.Header("x-fine"), "yes");
  EXPECT_FALSE(response.HasHeader("x-split"));
  EXPECT_FALSE(response.HasHeader("x-injected"));
  EXPECT_EQ(response.Header("content-length"), "4");
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  HttpResponse interim = connection.ReadResponse();
  ASSERT_EQ(interim.status, 100) << interim.error;
  ASSERT_TRUE(connection.SendSome("hello"));
  HttpResponse final_response = connection.ReadResponse();
  ASSERT_EQ(final_response.status, 200) << final_response.error;
  EXPECT_EQ(final_response.body, "POST /echo?|hello");
}

TEST_F(ServerTest, SlowHandlerDoesNotBlockOtherRequests) {
  StartServer();
  std::future<HttpResponse> slow = std::async(std::launch::async, [this] { return Get("/slow"); });
  ASSERT_TRUE(handler_started_.WaitForNotificationWithTimeout(absl::Seconds(1)));
  const Clock::time_point begin = Clock::now();
  EXPECT_EQ(Get("/echo").status, 200);
  EXPECT_LT(Clock::now() - begin, 1s);
  Release();
  EXPECT_EQ(slow.get().body, "slow done");
}

TEST_F(ServerTest, ShutdownLetsARunningHandlerFinishAndAnswer) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(KeepAliveRequest("GET", "/slow")));
  ASSERT_TRUE(handler_started_.WaitForNotificationWithTimeout(absl::Seconds(1)));
  std::thread release([this] {
    absl::SleepFor(absl::Milliseconds(200));
    Release();
  });
  const Clock::time_point begin = Clock::now();
  server_->Shutdown();
  const auto elapsed = Clock::now() - begin;
  release.join();
  EXPECT_GE(elapsed, 150ms);  // it waited for the handler
  EXPECT_LT(elapsed, 1500ms);

  HttpResponse response = connection.ReadResponse();
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "slow done");
  EXPECT_EQ(response.Header("connection"), "close");  // no keep-alive while shutting down
  EXPECT_TRUE(connection.IsClosedByPeer(500ms));
  // And nothing listens any more.
  EXPECT_EQ(Get("/echo").status, 0);
}

TEST_F(ServerTest, ShutdownClosesIdleAndWaitingConnections) {
  StartServer();
  RawConnection idle(port_);
  ASSERT_TRUE(idle.SendSome(KeepAliveRequest("GET", "/echo")));
  ASSERT_EQ(idle.ReadResponse().status, 200);
  RawConnection waiting(port_);
  ASSERT_TRUE(waiting.SendSome("GET /echo HTTP/1.1\r\n"));
  std::this_thread::sleep_for(50ms);  // let the server accept and start reading it

  const Clock::time_point begin = Clock::now();
  server_->Shutdown();
  EXPECT_LT(Clock::now() - begin, 500ms);  // nothing in flight: no need to wait out the grace
  EXPECT_TRUE(idle.IsClosedByPeer(200ms));
  EXPECT_TRUE(waiting.IsClosedByPeer(200ms));
  server_->Shutdown();  // idempotent
}

TEST_F(ServerTest, ConnectionsBeyondTheMaximumAreClosed) {
  ServerOptions options = TestOptions();
  options.max_connections = 1;
  StartServer(options);
  RawConnection first(port_);
  ASSERT_TRUE(first.SendSome(KeepAliveRequest("GET", "/echo")));
  ASSERT_EQ(first.ReadResponse().status, 200);

  RawConnection second(port_);
  EXPECT_TRUE(second.IsClosedByPeer(300ms));

  ASSERT_TRUE(first.SendSome(KeepAliveRequest("GET", "/echo")));
  EXPECT_EQ(first.ReadResponse().status, 200);
}

TEST_F(ServerTest, MetricsCountRequestsByRouteMethodAndStatus) {
  StartServer();
  ASSERT_EQ(Get("/echo").status, 200);
  ASSERT_EQ(Get("/echo").status, 200);
  ASSERT_EQ(Get("/nowhere").status, 404);
  EXPECT_EQ(WaitForCounter({{"route", "/echo"}, {"method", "GET"}, {"status", "200"}}, 2), 2);
  EXPECT_EQ(WaitForCounter({{"route", "unmatched"}, {"method", "GET"}, {"status", "404"}}, 1), 1);
  const std::string text = metrics_.Render();
  EXPECT_THAT(text,
              HasSubstr(R"(nexus_http_requests_total{route="/echo",method="GET",status="200"} 2)"));
  EXPECT_THAT(text, HasSubstr("# TYPE nexus_http_request_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr(R"(nexus_http_request_duration_seconds_count{route="/echo"} 2)"));
}

TEST_F(ServerTest, StartFailsNamingTheAddressWhenThePortIsTaken) {
  StartServer();
  ServerOptions options = TestOptions();
  options.port = port_;
  core::Metrics metrics;
  Server second(
      options, [](Request&) { return Plan{}; }, &metrics);
  absl::StatusOr<uint16_t> port = second.Start();
  ASSERT_FALSE(port.ok());
  EXPECT_TRUE(absl::IsUnavailable(port.status()));
  EXPECT_THAT(std::string(port.status().message()),
              HasSubstr("127.0.0.1:" + std::to_string(port_)));
}

TEST_F(ServerTest, ShutdownWithoutStartIsHarmless) {
  Server server(
      TestOptions(), [](Request&) { return Plan{}; }, &metrics_);
  server.Shutdown();
  server.Shutdown();
}

}  // namespace
}  // namespace nexus::http

namespace nexus::http {
namespace {

TEST_F(ServerTest, SinkReceivesALargeBodyInOrderWithoutBuffering) {
  StartServer();
  std::string body(3 * 1024 * 1024, 'x');
  body.front() = 'A';
  body.back() = 'Z';
  HttpResponse response = nexus::testing::Request(port_, "POST", "/sink", {}, body);
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "3145728 bytes AZ body=0");
}

TEST_F(ServerTest, SinkWithNoBodyStillFinishes) {
  StartServer();
  HttpResponse response = nexus::testing::Request(port_, "POST", "/sink");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.body, "0 bytes - body=0");
}

TEST_F(ServerTest, SinkCanStopTheUploadWithAnAnswer) {
  StartServer();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.SendSome(
      BuildRequest("POST", "/sink-stop", {{"Host", "x"}, {"Content-Length", "1000000"}})));
  ASSERT_TRUE(connection.SendSome(std::string(200, 'y')));
  HttpResponse response = connection.ReadResponse();
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("stopped at"));
  EXPECT_TRUE(connection.IsClosedByPeer());
}

}  // namespace
}  // namespace nexus::http
