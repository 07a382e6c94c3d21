// File: http/server.h
//
// The HTTP/1.1 server, on Boost.Beast + Asio behind this pimpl: nothing outside server.cc sees a
// Beast or Asio type. It is safe to face the internet:
//  - every read has a deadline: the request head must arrive within header_timeout of the first
//    byte being awaited, and the body at no less than min_body_rate (after body_grace);
//  - the head is limited in bytes (431) and in header count (431);
//  - a request body with a Content-Encoding other than identity is refused (415) unread;
//  - the body limit is decided per request by the Application: a Content-Length above it answers
//    413 before any body byte is read (and the connection is closed); a chunked body is cut off
//    with 413 the moment it passes the limit;
//  - I/O runs on io_threads; the Application and handlers run on a separate pool of
//    worker_threads, so a slow client or a slow handler never blocks other connections.
// Every response carries X-Request-Id (the client's if it sent a sane one, else a new one), and
// every request writes one JSON log line (method, route, status, bytes, duration, request id)
// and updates the request metrics. Handlers must not throw; if one does, the server answers 500
// with the request ID and logs the error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/metrics.h"

namespace nexus::http {

struct Header {
  std::string name;  // lowercase in a Request; as given in a Response
  std::string value;
};

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // the raw request-target, e.g. "/api/dnc?page=2"
  std::string path;    // target up to '?', still percent-encoded
  std::string query;   // target after '?', still percent-encoded ("" if none)
  std::vector<Header> headers;
  std::string body;  // filled before Plan::handle runs
  std::string request_id;
  std::string remote_address;

  // The first header with this name (ASCII case-insensitive), or nullptr.
  const std::string* FindHeader(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;
  std::string body;
  bool close_connection = false;
  // Instead of `body`, for answers too large to hold (exports): the body is sent chunked, one
  // piece at a time. Called on a worker thread for the first piece, then again only after the
  // previous piece was written to the client (so memory holds one piece and a slow client holds
  // no thread): appends the next piece to `out` (cleared before each call) and returns true
  // while more pieces follow, false with the last one. An error after the headers were sent can
  // no longer change the status: it is logged and the connection closed without the final
  // chunk, so the client sees a truncated transfer, never a short file that looks complete.
  std::function<absl::StatusOr<bool>(std::string& out)> body_stream;
};

// Receives a request body piece by piece instead of having it buffered (the upload route).
// Consume runs on a worker thread for each piece, in order, one at a time; the next piece is read
// only after it returns (back-pressure). Returning a Response stops reading: that answer is sent
// and the connection closed. Finish runs once the body is complete. If the client goes away or a
// deadline passes, neither is called again and the sink is simply destroyed: its destructor must
// release whatever it holds (temp files).
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual std::optional<Response> Consume(std::string_view piece) = 0;
  virtual Response Finish(Request& request) = 0;
};

// What the application decides once a request's line and headers are known.
struct Plan {
  // Set to answer at once without reading the body (404, 401, 403, ...). If the request has a
  // body, the connection is closed after this answer.
  std::optional<Response> immediate;
  // Largest body accepted; a larger one answers 413.
  uint64_t body_limit = 0;
  // Runs on a worker thread with the whole body in Request::body.
  std::function<Response(Request&)> handle;
  // Instead of `handle`: the body is streamed to this sink (and Request::body stays empty).
  std::shared_ptr<BodySink> sink;
  // Route pattern for logs and metrics ("/api/agents/{id}"); "unmatched" when no route matched.
  std::string route = "unmatched";
};

// Called on a worker thread for every request head; may block (e.g. on a store lookup to
// authenticate). Must not throw.
using Application = std::function<Plan(Request& head)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; Start() returns the one bound
  int io_threads = 1;
  int worker_threads = 4;
  absl::Duration header_timeout = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(30);  // idle time allowed between requests
  uint64_t min_body_bytes_per_second = 16 * 1024;
  absl::Duration body_grace = absl::Seconds(10);  // slack before the minimum rate applies
  uint32_t max_header_bytes = 16 * 1024;
  uint32_t max_header_count = 100;
  int max_connections = 4096;  // beyond this, new connections are closed at once
  absl::Duration shutdown_grace = absl::Seconds(30);  // how long Shutdown waits for requests
};

class Server {
 public:
  // `metrics` must outlive the server; it receives nexus_http_requests_total and
  // nexus_http_request_duration_seconds.
  Server(ServerOptions options, Application app, core::Metrics* metrics);
  ~Server();  // calls Shutdown()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the threads. Returns the bound port, or Unavailable naming the
  // address when it cannot bind.
  absl::StatusOr<uint16_t> Start();

  // Stops accepting, closes idle connections, lets requests in progress finish (up to
  // shutdown_grace), then stops every thread. Safe to call more than once and from any thread
  // except a worker or I/O thread of this server.
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::http
