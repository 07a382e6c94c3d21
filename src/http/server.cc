#include "http/server.h"

// clang-format off
// Boost 1.74's Asio and Beast headers use std::exchange and friends without including <utility>;
// g++ 12's standard headers no longer drag it in, so it must come before any Boost header.
#include <utility>
// clang-format on

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/crypto.h"
#include "core/json_escape.h"
#include "core/log.h"

namespace nexus::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;  // `http` is this namespace
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr char kRequestsTotal[] = "nexus_http_requests_total";
constexpr char kRequestDuration[] = "nexus_http_request_duration_seconds";

// After an error answer the client may still be sending (a body we refused, the rest of an
// oversized head). Closing a socket that has unread data makes the kernel send RST, which can
// destroy our answer before the client has read it. So we half-close, then read and discard for
// up to this long before closing ("lingering close", as Apache and nginx do).
constexpr auto kLingerTime = std::chrono::seconds(1);
// After accept() fails (e.g. out of file descriptors), wait this long instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// Read size while waiting for the next request on a kept-alive connection.
constexpr size_t kIdleReadSize = 4096;
// Beast reads at most the buffer's free capacity (down to 512 bytes), and every read of a streamed
// body is a round trip to a worker thread: a buffer left at the head's few KiB made an 80 MB
// upload take ~20k round trips (3.8 s). Streamed bodies read in pieces of up to this size.
constexpr size_t kStreamReadSize = 256 * 1024;
// The longest deadline we arm: keeps time_point arithmetic far from overflow (InfiniteDuration,
// a minimum rate of 0).
constexpr absl::Duration kMaxTimeout = absl::Hours(24 * 365);
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), AsciiLower);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

SteadyClock::duration ToSteady(absl::Duration d) {
  d = std::clamp(d, absl::ZeroDuration(), kMaxTimeout);
  return std::chrono::duration_cast<SteadyClock::duration>(absl::ToChronoNanoseconds(d));
}

// Time allowed to move `bytes` at `bytes_per_second`; a rate of 0 means no minimum.
SteadyClock::duration TransferTime(uint64_t bytes, uint64_t bytes_per_second) {
  if (bytes_per_second == 0) return ToSteady(kMaxTimeout);
  const double seconds =
      std::min(static_cast<double>(bytes) / static_cast<double>(bytes_per_second),
               absl::ToDoubleSeconds(kMaxTimeout));
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
}

// A client's X-Request-Id is echoed into our logs and responses, so it must be short and free of
// spaces and control characters (no log or header injection).
bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The method as a metrics label. The method is any token the client likes; labels must come from
// a small fixed set or every odd method would create a new time series.
std::string MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                "PATCH", "DELETE", "OPTIONS"};
  for (std::string_view known : kKnown) {
    if (method == known) return std::string(known);
  }
  return "OTHER";
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A handler's header must not be able to break the framing of the response (CR/LF injection).
bool IsValidResponseHeader(const Header& header) {
  if (header.name.empty() || !std::all_of(header.name.begin(), header.name.end(), IsTokenChar)) {
    return false;
  }
  return header.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// Headers the server owns: they describe the framing of this connection, which only the server
// knows. A handler's copy is dropped rather than risk two conflicting values.
bool IsServerManagedHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive") ||
         EqualsIgnoreCase(name, "x-request-id");
}

bool IsHttpParseError(const beast::error_code& ec) {
  static const beast::error_code kProbe = bhttp::error::bad_method;
  return ec.category() == kProbe.category();
}

Response ErrorResponse(int status, std::string_view message) {
  Response response;
  response.status = status;
  response.body = "{\"success\":false,\"message\":";
  core::AppendJsonString(response.body, message);
  response.body += '}';
  return response;
}

Response InternalErrorResponse(std::string_view request_id) {
  Response response;
  response.status = 500;
  response.body = "{\"success\":false,\"message\":\"internal error\",\"requestId\":";
  core::AppendJsonString(response.body, request_id);
  response.body += '}';
  return response;
}

// What one request leaves in the log and the metrics.
struct RequestRecord {
  std::string_view method;
  std::string_view route;
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  double seconds = 0;
  std::string_view request_id;
  std::string_view remote;
  std::optional<std::string> write_error;
};

class Connection;

// Everything connections share. It is Server::Impl in all but name: a class of its own only so
// that Connection, in this anonymous namespace, can name it (Server::Impl is private).
class ServerCore {
 public:
  ServerCore(ServerOptions options, Application app, core::Metrics* metrics);
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  absl::StatusOr<uint16_t> Start();
  void Shutdown();

  const ServerOptions& options() const { return options_; }
  const Application& app() const { return app_; }
  // True from the moment Shutdown begins: no keep-alive, no new requests.
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  template <typename Task>
  void RunOnWorker(Task&& task) {
    net::post(workers_, std::forward<Task>(task));
  }

  void Record(const RequestRecord& record);
  void Unregister(uint64_t connection_id);

 private:
  void RunIoContext();
  beast::error_code Listen(const tcp::endpoint& endpoint);
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Admit(tcp::socket socket);
  bool NoConnections() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return connections_.empty(); }
  std::vector<std::weak_ptr<Connection>> SnapshotConnections() ABSL_LOCKS_EXCLUDED(mu_);

  const ServerOptions options_;
  const Application app_;
  core::Metrics* const metrics_;

  std::mutex lifecycle_mu_;  // serializes Start and Shutdown
  bool started_ = false;     // guarded by lifecycle_mu_
  bool shut_down_ = false;   // guarded by lifecycle_mu_

  // The registry of live connections, for Shutdown. Weak: a connection lives as long as its
  // pending operations do, and removes itself from here in its destructor.
  absl::Mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  uint64_t next_connection_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stopping_{false};  // written under mu_, so Admit cannot race Shutdown

  // Members are destroyed in reverse order: the worker pool first (tasks still queued there hold
  // connections whose sockets belong to ioc_), then the acceptor, then ioc_ (whose queued
  // handlers hold the remaining connections); the registry above outlives them all.
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;          // on its own strand
  net::steady_timer accept_retry_;  // same strand
  std::vector<std::thread> io_threads_;
  net::thread_pool workers_;
};

// One client connection. All of its state is touched only on its strand, except request_ and
// plan_, which are handed to a worker thread and back (each post is a happens-before edge, and
// the strand does not touch them meanwhile).
//
// Life of a request:
//   StartHead -> OnHead -> RunApplication (worker) -> OnPlan
//     -> [ReadBody -> OnBodyRead ...] -> RunHandler (worker) -> SendResponse -> OnWrite
//     -> WaitForNextRequest (keep-alive) or CloseGracefully.
//
// Read deadlines use our own timer, not beast::tcp_stream::expires_after: a tcp_stream timeout
// closes the socket, and we want to answer 408 first. The timer cancels the pending read
// instead; the read handler sees timed_out_ and answers. Writes do use tcp_stream's deadline:
// a client that does not read our answer in time is simply dropped.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerCore* core, uint64_t id, tcp::socket socket, std::string remote)
      : core_(core),
        id_(id),
        remote_(std::move(remote)),
        stream_(std::move(socket)),
        executor_(stream_.get_executor()),
        deadline_(executor_) {}
  ~Connection() { core_->Unregister(id_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Any thread.
  void Start() {
    net::dispatch(executor_, [self = shared_from_this()] { self->StartHead(); });
  }

  // Any thread: closes the connection if it is between requests or waiting for a head; a
  // request in progress is answered (with Connection: close) and then the connection closes.
  void NotifyShutdown() {
    net::post(executor_, [self = shared_from_this()] { self->OnShutdown(); });
  }

  // Only once no I/O thread runs any more (end of Shutdown): cuts off whatever is left.
  void CloseFromOutside() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  enum class State {
    kIdle,           // kept alive, waiting for the first byte of the next request
    kReadingHead,    // reading the request line and headers
    kInApplication,  // the Application or a handler runs on a worker
    kReadingBody,
    kWriting,
    kLingering,  // answered and half-closed; draining input before closing
    kClosed,
  };

  // --- Head ------------------------------------------------------------------------------------

  void StartHead() {
    if (state_ == State::kClosed) return;
    if (core_->stopping()) return Close();
    const ServerOptions& options = core_->options();
    state_ = State::kReadingHead;
    request_ = Request{};
    request_.remote_address = remote_;
    plan_ = Plan{};
    has_body_ = false;
    version_ = 11;
    bytes_in_ = 0;
    bytes_out_ = 0;
    start_ = SteadyClock::now();
    parser_.emplace();
    parser_->header_limit(options.max_header_bytes);
    // The body limit is the Application's decision, made once it has seen the head. Until then
    // a large Content-Length must not fail the parse: OnPlan answers 413 itself.
    // (Not boost::none: Beast 1.74 compares `length > body_limit_` on the optional, and every
    // value is greater than none.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    ArmDeadline(start_ + ToSteady(options.header_timeout));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnHead(ec, n); });
  }

  void OnHead(beast::error_code ec, size_t bytes) {
    if (state_ == State::kClosed) return;
    const bool timed_out = DisarmDeadline();
    bytes_in_ += bytes;
    if (ec) {
      if (timed_out) {
        // A partial head gets a 408 (a slow but honest client learns why); a connection that
        // sent nothing at all (a browser's preconnect, a port scan) is just closed.
        if (parser_->got_some() || buffer_.size() > 0) {
          return SendError(408, fmt::format("request header not received within {}",
                                            absl::FormatDuration(core_->options().header_timeout)));
        }
        return Close();
      }
      if (ec == bhttp::error::header_limit) {
        return SendError(431, fmt::format("request header too large: limit is {} bytes",
                                          core_->options().max_header_bytes));
      }
      // The client went away (cleanly or mid-head), or Shutdown closed us: nobody to answer.
      if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
          !IsHttpParseError(ec)) {
        return Close();
      }
      return SendError(400, "malformed request: " + ec.message());
    }

    const auto& message = parser_->get();
    version_ = message.version();
    request_.method = std::string(message.method_string());
    request_.target = std::string(message.target());
    const size_t question = request_.target.find('?');
    request_.path = request_.target.substr(0, question);
    if (question != std::string::npos) request_.query = request_.target.substr(question + 1);
    for (const auto& field : message) {
      request_.headers.push_back({Lowercase(field.name_string()), std::string(field.value())});
    }
    const std::string* client_id = request_.FindHeader("x-request-id");
    request_.request_id = (client_id != nullptr && IsSaneRequestId(*client_id))
                              ? *client_id
                              : core::HexEncode(core::RandomBytes(8));

    if (request_.headers.size() > core_->options().max_header_count) {
      return SendError(431, fmt::format("too many header fields: limit is {}",
                                        core_->options().max_header_count));
    }
    for (const Header& header : request_.headers) {
      // We never decode request bodies: a compressed body would reach handlers as garbage, and
      // decompression is where "zip bombs" live.
      if (header.name == "content-encoding" && !EqualsIgnoreCase(Trim(header.value), "identity")) {
        return SendError(415, "Content-Encoding is not supported: send the body uncompressed");
      }
    }
    has_body_ = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    RunApplication();
  }

  // --- Application -----------------------------------------------------------------------------

  void RunApplication() {
    state_ = State::kInApplication;
    core_->RunOnWorker([self = shared_from_this()] {
      Plan plan;
      try {
        plan = self->core_->app()(self->request_);
      } catch (const std::exception& e) {
        self->LogThrow("application", e.what());
        plan = Plan{};
        plan.immediate = InternalErrorResponse(self->request_.request_id);
      } catch (...) {
        self->LogThrow("application", "unknown exception");
        plan = Plan{};
        plan.immediate = InternalErrorResponse(self->request_.request_id);
      }
      net::post(self->executor_,
                [self, plan = std::move(plan)]() mutable { self->OnPlan(std::move(plan)); });
    });
  }

  void OnPlan(Plan plan) {
    if (state_ == State::kClosed) return;
    plan_ = std::move(plan);
    if (plan_.immediate) {
      Response response = std::move(*plan_.immediate);
      plan_.immediate.reset();
      // An announced body stays unread, so the stream is no longer at a message boundary.
      return SendResponse(std::move(response), /*unread_input=*/has_body_);
    }
    if (!plan_.handle && !plan_.sink) {
      core::Log(core::LogLevel::kError, "plan has neither an immediate response nor a handler")
          .Str("route", plan_.route)
          .Str("request_id", request_.request_id);
      return SendResponse(InternalErrorResponse(request_.request_id), has_body_);
    }
    // Decided from the head alone, before a single body byte is read: a client announcing a
    // gigabyte learns at once that it need not send it.
    const auto length = parser_->content_length();
    if (length && *length > plan_.body_limit) return SendError(413, BodyTooLargeMessage());
    if (!has_body_) return plan_.sink ? PassToSink() : RunHandler();
    ReadBody();
  }

  // --- Body ------------------------------------------------------------------------------------
  //
  // Kept apart from the rest so that a streaming mode (the upload route: chunks handed to a sink
  // as they arrive instead of buffered into Request::body) can be added to Plan later and branch
  // here, with the same deadlines and limits.

  void ReadBody() {
    state_ = State::kReadingBody;
    parser_->body_limit(plan_.body_limit);  // a chunked body is cut off the moment it passes it
    body_start_ = SteadyClock::now();
    if (plan_.sink) buffer_.reserve(kStreamReadSize);
    const std::string* expect = request_.FindHeader("expect");
    if (expect != nullptr && version_ >= 11 && EqualsIgnoreCase(Trim(*expect), "100-continue")) {
      // Clients that ask (curl does for large bodies) wait for this before sending the body.
      stream_.expires_after(WriteTimeout(kContinue.size()));
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->stream_.expires_never();
                         if (self->state_ == State::kClosed) return;
                         if (ec) return self->Close();
                         self->ReadBodySome();
                       });
      return;
    }
    ReadBodySome();
  }

  // With a Content-Length the whole body is due by body_grace + length / rate. A chunked body's
  // length is unknown, so its deadline moves with what has arrived: each byte received buys
  // 1/rate seconds more, and a client trickling below the rate falls behind and is cut off.
  SteadyClock::time_point BodyDeadline() const {
    const ServerOptions& options = core_->options();
    const auto length = parser_->content_length();
    // bytes_in_ (head included) rather than the body buffer, which a sink empties as it goes.
    const uint64_t due = length ? *length : bytes_in_;
    return body_start_ + ToSteady(options.body_grace) +
           TransferTime(due, options.min_body_bytes_per_second);
  }

  void ReadBodySome() {
    ArmDeadline(BodyDeadline());
    bhttp::async_read_some(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnBodyRead(ec, n); });
  }

  void OnBodyRead(beast::error_code ec, size_t bytes) {
    if (state_ == State::kClosed) return;
    const bool timed_out = DisarmDeadline();
    bytes_in_ += bytes;
    if (ec) {
      if (timed_out) {
        return SendError(408, fmt::format("request body arrived too slowly: the minimum rate is "
                                          "{} bytes per second",
                                          core_->options().min_body_bytes_per_second));
      }
      if (ec == bhttp::error::body_limit) return SendError(413, BodyTooLargeMessage());
      if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
          !IsHttpParseError(ec)) {
        return Close();
      }
      return SendError(400, "malformed request body: " + ec.message());
    }
    if (plan_.sink) return PassToSink();
    if (!parser_->is_done()) return ReadBodySome();
    request_.body = std::move(parser_->get().body());
    RunHandler();
  }

  // Streaming mode: hands what arrived to the sink on a worker, then reads on (or finishes).
  void PassToSink() {
    state_ = State::kInApplication;
    std::string piece = std::move(parser_->get().body());
    parser_->get().body().clear();  // string_body appends at size(): the next piece starts fresh
    const bool done = parser_->is_done();
    core_->RunOnWorker([self = shared_from_this(), piece = std::move(piece), done] {
      std::optional<Response> stop;
      try {
        if (!piece.empty()) stop = self->plan_.sink->Consume(piece);
        if (!stop && done) stop = self->plan_.sink->Finish(self->request_);
      } catch (const std::exception& e) {
        self->LogThrow("body sink", e.what());
        stop = InternalErrorResponse(self->request_.request_id);
      } catch (...) {
        self->LogThrow("body sink", "unknown exception");
        stop = InternalErrorResponse(self->request_.request_id);
      }
      net::post(self->executor_, [self, done, stop = std::move(stop)]() mutable {
        if (self->state_ == State::kClosed) return;
        if (stop) return self->SendResponse(std::move(*stop), /*unread_input=*/!done);
        self->state_ = State::kReadingBody;
        self->ReadBodySome();
      });
    });
  }

  std::string BodyTooLargeMessage() const {
    return fmt::format("request body too large: limit is {} bytes", plan_.body_limit);
  }

  // --- Handler and response --------------------------------------------------------------------

  void RunHandler() {
    state_ = State::kInApplication;
    core_->RunOnWorker([self = shared_from_this()] {
      Response response;
      try {
        response = self->plan_.handle(self->request_);
      } catch (const std::exception& e) {
        self->LogThrow("handler", e.what());
        response = InternalErrorResponse(self->request_.request_id);
      } catch (...) {
        self->LogThrow("handler", "unknown exception");
        response = InternalErrorResponse(self->request_.request_id);
      }
      net::post(self->executor_, [self, response = std::move(response)]() mutable {
        self->SendResponse(std::move(response), /*unread_input=*/false);
      });
    });
  }

  void SendError(int status, std::string_view message) {
    // Errors are sent mid-request: whatever the client still sends is unread, so close after.
    SendResponse(ErrorResponse(status, message), /*unread_input=*/true);
  }

  // `unread_input`: the request was not read to its end, so the connection cannot carry another
  // request; it is closed after the answer, lingering so the answer survives.
  void SendResponse(Response response, bool unread_input) {
    if (state_ == State::kClosed) return;
    state_ = State::kWriting;
    if (request_.request_id.empty()) request_.request_id = core::HexEncode(core::RandomBytes(8));
    if (response.status < 200 || response.status > 999) {
      core::Log(core::LogLevel::kError, "handler returned an invalid status")
          .Int("status", response.status)
          .Str("route", plan_.route)
          .Str("request_id", request_.request_id);
      response = InternalErrorResponse(request_.request_id);
    }
    status_ = response.status;
    const bool head_complete = parser_ && parser_->is_header_done();
    keep_alive_ = !unread_input && !response.close_connection && !core_->stopping() &&
                  head_complete && parser_->get().keep_alive();
    linger_ = unread_input;

    response_.emplace();
    response_->version(version_ == 10 ? 10 : 11);
    response_->result(static_cast<unsigned>(response.status));
    for (const Header& header : response.headers) {
      if (!IsValidResponseHeader(header)) {
        core::Log(core::LogLevel::kError, "handler returned an invalid header; dropped")
            .Str("header", header.name)  // the name only: values may hold secrets
            .Str("request_id", request_.request_id);
        continue;
      }
      if (IsServerManagedHeader(header.name)) continue;
      response_->insert(header.name, header.value);
    }
    if (!response.content_type.empty()) {
      response_->set(bhttp::field::content_type, response.content_type);
    }
    response_->set("X-Request-Id", request_.request_id);
    response_->keep_alive(keep_alive_);
    const bool bodiless_status = response.status == 204 || response.status == 304;
    if (response.body_stream && !bodiless_status && request_.method != "HEAD") {
      return SendStreamedBody(std::move(response.body_stream));
    }
    const size_t body_size = bodiless_status ? 0 : response.body.size();
    if (bodiless_status) {
      // RFC 9110: no body and no Content-Length on 204; 304 describes the cached one.
    } else if (request_.method == "HEAD") {
      response_->content_length(body_size);  // the length a GET would get, without the body
    } else {
      response_->body() = std::move(response.body);
      response_->prepare_payload();
    }
    stream_.expires_after(WriteTimeout(body_size));
    bhttp::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnWrite(ec, n); });
  }

  // A Response::body_stream: the head with Transfer-Encoding: chunked, then pieces produced on a
  // worker, each written before the next is asked for, then the final chunk.
  void SendStreamedBody(std::function<absl::StatusOr<bool>(std::string&)> body_stream) {
    body_stream_ = std::move(body_stream);
    // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
    chunked_ = version_ != 10;
    if (chunked_) {
      response_->chunked(true);
    } else {
      keep_alive_ = false;
      response_->keep_alive(false);
    }
    head_serializer_.emplace(*response_);
    stream_.expires_after(WriteTimeout(0));
    bhttp::async_write_header(stream_, *head_serializer_,
                              [self = shared_from_this()](beast::error_code ec, size_t n) {
                                self->OnPieceWritten(ec, n);
                              });
  }

  void ProducePiece() {
    core_->RunOnWorker([self = shared_from_this()] {
      std::string piece;
      absl::StatusOr<bool> more;
      try {
        more = self->body_stream_(piece);
      } catch (const std::exception& e) {
        more = absl::InternalError(e.what());
      } catch (...) {
        more = absl::InternalError("unknown exception");
      }
      net::post(self->executor_,
                [self, piece = std::move(piece), more = std::move(more)]() mutable {
                  self->WritePiece(std::move(piece), std::move(more));
                });
    });
  }

  void WritePiece(std::string piece, absl::StatusOr<bool> more) {
    if (state_ == State::kClosed) return;
    if (!more.ok()) {
      core::Log(core::LogLevel::kError, "streamed response failed after its head was sent")
          .Str("route", plan_.route)
          .Str("request_id", request_.request_id)
          .Str("detail", more.status().ToString());
      keep_alive_ = false;
      return OnWrite(net::error::make_error_code(net::error::operation_aborted), 0);
    }
    piece_ = std::move(piece);
    stream_more_ = *more;
    if (piece_.empty()) return OnPieceWritten({}, 0);  // an empty chunk would end the body
    stream_.expires_after(WriteTimeout(piece_.size()));
    const auto written = [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->OnPieceWritten(ec, n);
    };
    if (chunked_) {
      net::async_write(stream_, bhttp::make_chunk(net::buffer(piece_)), written);
    } else {
      net::async_write(stream_, net::buffer(piece_), written);
    }
  }

  // After the head or a piece: the next piece, or the final chunk.
  void OnPieceWritten(beast::error_code ec, size_t bytes) {
    if (state_ == State::kClosed) return;
    stream_.expires_never();
    bytes_out_ += bytes;
    if (ec) return OnWrite(ec, 0);
    if (stream_more_) return ProducePiece();
    if (!chunked_) return OnWrite({}, 0);
    stream_.expires_after(WriteTimeout(0));
    net::async_write(
        stream_, bhttp::make_chunk_last(),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnWrite(ec, n); });
  }

  // The client must read our answer no slower than we require it to send bodies.
  SteadyClock::duration WriteTimeout(uint64_t bytes) const {
    const ServerOptions& options = core_->options();
    return ToSteady(options.body_grace) + TransferTime(bytes, options.min_body_bytes_per_second);
  }

  void OnWrite(beast::error_code ec, size_t bytes) {
    if (state_ == State::kClosed) return;
    stream_.expires_never();
    bytes_out_ += bytes;
    head_serializer_.reset();  // refers to response_
    body_stream_ = nullptr;
    piece_.clear();
    stream_more_ = true;
    response_.reset();
    RequestRecord record;
    record.method = request_.method;
    record.route = plan_.route;
    record.status = status_;
    record.bytes_in = bytes_in_;
    record.bytes_out = bytes_out_;
    record.seconds = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    record.request_id = request_.request_id;
    record.remote = remote_;
    if (ec) record.write_error = ec.message();
    core_->Record(record);
    if (ec) return Close();
    if (!keep_alive_) return CloseGracefully(linger_);
    WaitForNextRequest();
  }

  // --- Between requests and closing -----------------------------------------------------------

  void WaitForNextRequest() {
    state_ = State::kIdle;
    parser_.reset();
    request_ = Request{};
    plan_ = Plan{};
    if (core_->stopping()) return Close();
    if (buffer_.size() > 0) return StartHead();  // pipelined: the next head is already here
    // The idle wait has its own (longer) limit; header_timeout starts with the first byte.
    ArmDeadline(SteadyClock::now() + ToSteady(core_->options().keep_alive_timeout));
    stream_.async_read_some(
        buffer_.prepare(kIdleReadSize),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnIdleRead(ec, n); });
  }

  void OnIdleRead(beast::error_code ec, size_t bytes) {
    if (state_ == State::kClosed) return;
    DisarmDeadline();
    // Idle too long, the client closed, or Shutdown: nothing was asked, so nothing to answer.
    if (ec) return Close();
    buffer_.commit(bytes);
    StartHead();
  }

  void CloseGracefully(bool linger) {
    state_ = State::kLingering;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || !linger || core_->stopping()) return Close();
    buffer_.consume(buffer_.size());
    ArmDeadline(SteadyClock::now() + kLingerTime);
    Linger();
  }

  void Linger() {
    stream_.async_read_some(buffer_.prepare(kIdleReadSize),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (self->state_ == State::kClosed) return;
                              // Discard; stop at the client's close, an error, or the end of the
                              // linger time.
                              if (ec || self->timed_out_) return self->Close();
                              self->Linger();
                            });
  }

  void OnShutdown() {
    switch (state_) {
      case State::kIdle:
      case State::kReadingHead:
      case State::kLingering:
        Close();
        break;
      default:
        break;  // in progress: answered with Connection: close (stopping() disables keep-alive)
    }
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    DisarmDeadline();
    stream_.close();  // pending operations complete with an error; their handlers see kClosed
  }

  // --- Read deadline ---------------------------------------------------------------------------

  void ArmDeadline(SteadyClock::time_point when) {
    timed_out_ = false;
    const uint64_t generation = ++deadline_generation_;
    deadline_.expires_at(when);
    deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      // A stale wait (the read finished and a new deadline was armed before this handler ran)
      // must not cancel the next read.
      if (ec || generation != self->deadline_generation_ || self->state_ == State::kClosed) {
        return;
      }
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  // Returns whether the deadline fired.
  bool DisarmDeadline() {
    ++deadline_generation_;
    deadline_.cancel();
    const bool timed_out = timed_out_;
    timed_out_ = false;
    return timed_out;
  }

  void LogThrow(std::string_view where, std::string_view what) const {
    core::Log(core::LogLevel::kError, "request failed with an exception")
        .Str("in", where)
        .Str("error", what)
        .Str("route", plan_.route)
        .Str("request_id", request_.request_id);
  }

  ServerCore* const core_;
  const uint64_t id_;
  const std::string remote_;
  beast::tcp_stream stream_;
  const net::any_io_executor executor_;  // the connection's strand
  net::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;

  State state_ = State::kReadingHead;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  // A streamed body (Response::body_stream): its producer, the head's serializer, the piece
  // being written and whether more follow. Touched on the strand, and by one worker task at a
  // time between ProducePiece and WritePiece.
  std::function<absl::StatusOr<bool>(std::string&)> body_stream_;
  std::optional<bhttp::response_serializer<bhttp::string_body>> head_serializer_;
  std::string piece_;
  bool stream_more_ = true;
  bool chunked_ = true;
  Request request_;
  Plan plan_;
  bool has_body_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool linger_ = false;
  int status_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  SteadyClock::time_point start_;
  SteadyClock::time_point body_start_;
};

ServerCore::ServerCore(ServerOptions options, Application app, core::Metrics* metrics)
    : options_(std::move(options)),
      app_(std::move(app)),
      metrics_(metrics),
      acceptor_(net::make_strand(ioc_)),
      accept_retry_(acceptor_.get_executor()),
      workers_(static_cast<size_t>(std::max(1, options_.worker_threads))) {
  if (metrics_ != nullptr) {
    metrics_->DescribeCounter(kRequestsTotal, "HTTP requests answered, by route, method, status.");
    metrics_->DescribeHistogram(
        kRequestDuration, "Time from the start of a request to the end of its response.",
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  }
}

absl::StatusOr<uint16_t> ServerCore::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_ || shut_down_) return absl::FailedPreconditionError("server already started");
  const std::string address = fmt::format("{}:{}", options_.host, options_.port);
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto endpoints =
      resolver.resolve(options_.host, std::to_string(options_.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (!ec) {
    ec = net::error::host_not_found;
    for (const auto& entry : endpoints) {
      ec = Listen(entry.endpoint());
      if (!ec) break;
    }
  }
  if (ec)
    return absl::UnavailableError(fmt::format("cannot listen on {}: {}", address, ec.message()));

  const uint16_t port = acceptor_.local_endpoint().port();
  started_ = true;
  work_.emplace(ioc_.get_executor());
  net::post(acceptor_.get_executor(), [this] { DoAccept(); });
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    io_threads_.emplace_back([this] { RunIoContext(); });
  }
  core::Log(core::LogLevel::kInfo, "listening").Str("host", options_.host).Int("port", port);
  return port;
}

beast::error_code ServerCore::Listen(const tcp::endpoint& endpoint) {
  beast::error_code ec;
  beast::error_code ignored;
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return ec;
  // Restarting must not wait out TIME_WAIT connections of the previous process.
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) acceptor_.close(ignored);
  return ec;
}

void ServerCore::RunIoContext() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      // Handlers do not throw by design; if one does, keep serving the other connections.
      core::Log(core::LogLevel::kError, "exception on an I/O thread").Str("error", e.what());
    }
  }
}

void ServerCore::DoAccept() {
  // Each connection gets its own strand, so io_threads > 1 never run one connection's handlers
  // concurrently.
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void ServerCore::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open()) return;  // Shutdown closed it
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    core::Log(core::LogLevel::kWarn, "accept failed").Str("error", ec.message());
    accept_retry_.expires_after(kAcceptRetryDelay);
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor_.is_open()) DoAccept();
    });
    return;
  }
  Admit(std::move(socket));
  DoAccept();
}

void ServerCore::Admit(tcp::socket socket) {
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string() : peer.address().to_string();
  std::shared_ptr<Connection> connection;
  {
    absl::MutexLock lock(&mu_);
    const bool full = options_.max_connections > 0 &&
                      connections_.size() >= static_cast<size_t>(options_.max_connections);
    if (!stopping_.load(std::memory_order_relaxed) && !full) {
      const uint64_t id = ++next_connection_id_;
      connection = std::make_shared<Connection>(this, id, std::move(socket), std::move(remote));
      connections_.emplace(id, connection);
    }
  }
  if (connection == nullptr) {
    // Over capacity or shutting down: closing at once is the cheapest refusal there is, and
    // costs no more than the accept.
    socket.close(ec);
    return;
  }
  connection->Start();
}

void ServerCore::Unregister(uint64_t connection_id) {
  absl::MutexLock lock(&mu_);
  connections_.erase(connection_id);
}

std::vector<std::weak_ptr<Connection>> ServerCore::SnapshotConnections() {
  std::vector<std::weak_ptr<Connection>> live;
  absl::MutexLock lock(&mu_);
  live.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) live.push_back(connection);
  return live;
}

void ServerCore::Record(const RequestRecord& record) {
  core::Log line(core::LogLevel::kInfo, "request");
  // Never header values here: they carry tokens.
  line.Str("method", record.method)
      .Str("route", record.route)
      .Int("status", record.status)
      .Int("bytes_in", static_cast<int64_t>(record.bytes_in))
      .Int("bytes_out", static_cast<int64_t>(record.bytes_out))
      .Num("duration_ms", record.seconds * 1000)
      .Str("request_id", record.request_id)
      .Str("remote", record.remote);
  if (record.write_error) line.Str("write_error", *record.write_error);
  if (metrics_ == nullptr) return;
  const std::string route(record.route);
  metrics_->Add(kRequestsTotal, {{"route", route},
                                 {"method", MethodLabel(record.method)},
                                 {"status", std::to_string(record.status)}});
  metrics_->Observe(kRequestDuration, {{"route", route}}, record.seconds);
}

void ServerCore::Shutdown() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (!started_) {
    workers_.join();
    return;
  }
  {
    absl::MutexLock registry_lock(&mu_);
    stopping_.store(true, std::memory_order_release);
  }
  const std::vector<std::weak_ptr<Connection>> live = SnapshotConnections();
  core::Log(core::LogLevel::kInfo, "shutting down")
      .Int("connections", static_cast<int64_t>(live.size()));
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
  });
  for (const auto& weak : live) {
    if (auto connection = weak.lock()) connection->NotifyShutdown();
  }

  bool drained = false;
  {
    absl::MutexLock registry_lock(&mu_);
    drained = mu_.AwaitWithTimeout(absl::Condition(this, &ServerCore::NoConnections),
                                   options_.shutdown_grace);
  }

  work_.reset();
  ioc_.stop();
  for (std::thread& thread : io_threads_) thread.join();
  io_threads_.clear();
  // Tasks not yet started are dropped; a handler still running is waited for (a thread cannot
  // be interrupted), its answer never sent.
  workers_.stop();
  workers_.join();
  // No I/O thread runs now, so what is left past the grace can be closed from here.
  size_t cut_off = 0;
  for (const auto& weak : SnapshotConnections()) {
    if (auto connection = weak.lock()) {
      connection->CloseFromOutside();
      ++cut_off;
    }
  }
  core::Log(core::LogLevel::kInfo, "shut down")
      .Bool("drained", drained)
      .Int("connections_cut_off", static_cast<int64_t>(cut_off));
}

}  // namespace

const std::string* Request::FindHeader(std::string_view name) const {
  for (const Header& header : headers) {
    if (EqualsIgnoreCase(header.name, name)) return &header.value;
  }
  return nullptr;
}

struct Server::Impl {
  Impl(ServerOptions options, Application app, core::Metrics* metrics)
      : core(std::move(options), std::move(app), metrics) {}
  ServerCore core;
};

Server::Server(ServerOptions options, Application app, core::Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(app), metrics)) {}

Server::~Server() { Shutdown(); }

absl::StatusOr<uint16_t> Server::Start() { return impl_->core.Start(); }

void Server::Shutdown() { impl_->core.Shutdown(); }

}  // namespace nexus::http
