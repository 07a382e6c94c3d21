// File: tests/support/raw_http.h
//
// A small blocking HTTP/1.1 client on plain POSIX sockets, for tests. It deliberately shares no
// code with the server (no Beast), so it is an independent oracle: what it parses is what went
// over the wire. It only ever talks to 127.0.0.1.
//
// Request()/Send() open a connection, send, read one response and close. RawConnection keeps a
// connection open for keep-alive, pipelining and slow-client (slowloris) tests: bytes are sent
// exactly as given, whenever the test chooses.
//
// Every read has a deadline (the timeout given at construction), so a server that never answers
// fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nexus::testing {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::chrono::milliseconds kDefaultHttpTimeout{5000};

struct HttpResponse {
  int status = 0;  // 0 when no complete response arrived; `error` says why
  std::string reason;
  HttpHeaders headers;  // names lowercased, in the order received
  std::string body;     // de-chunked
  std::string error;

  // The value of the first header called `name` (ASCII case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; check connected().
  explicit RawConnection(uint16_t port, std::chrono::milliseconds timeout = kDefaultHttpTimeout);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // The last transport error, for test failure messages.
  const std::string& error() const { return error_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Sends all of `bytes` (waiting up to the timeout for buffer space). False on error, e.g. when
  // the server has closed the connection.
  bool SendSome(std::string_view bytes);
  // Half-closes: the server sees end of stream, we can still read.
  void ShutdownWrite();

  // Reads one response (a 1xx interim response counts as one). The response to a HEAD request
  // has no body whatever its headers say, hence `head_request`. Bytes after the response stay
  // buffered for the next call (pipelining).
  HttpResponse ReadResponse(bool head_request = false);

  // Waits up to `wait` for the peer to close the connection (end of stream or reset). Bytes that
  // arrive meanwhile are kept for ReadResponse.
  bool IsClosedByPeer(std::chrono::milliseconds wait = std::chrono::milliseconds(2000));

 private:
  enum class Fill { kData, kEof, kTimeout, kError };
  using Deadline = std::chrono::steady_clock::time_point;

  // Appends whatever the socket has to buffer_, waiting until `deadline` for something.
  Fill FillBuffer(Deadline deadline);
  // Makes buffer_ hold at least `size` bytes. False (with error_ set) if it cannot.
  bool FillTo(size_t size, Deadline deadline);
  // Finds `delimiter` in buffer_ at or after `from`, reading more as needed; npos on failure.
  size_t FindInBuffer(std::string_view delimiter, size_t from, Deadline deadline);
  bool ReadChunkedBody(HttpResponse& response, Deadline deadline);

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;  // received, not yet consumed by ReadResponse
  bool eof_ = false;
  std::string error_;
};

// The bytes of a request: request line, `headers` as given, then `body`. Adds Content-Length
// when the body is non-empty and no Content-Length or Transfer-Encoding header was given. Adds
// nothing else (no Host, no Connection), so keep-alive tests control every byte.
std::string BuildRequest(std::string_view method, std::string_view target,
                         const HttpHeaders& headers = {}, std::string_view body = {});

// Opens a connection to 127.0.0.1:port, sends `raw_bytes`, reads one response and closes.
HttpResponse Send(uint16_t port, std::string_view raw_bytes,
                  std::chrono::milliseconds timeout = kDefaultHttpTimeout);

// Send() of BuildRequest() plus "Host" and "Connection: close" (unless given in `headers`).
HttpResponse Request(uint16_t port, std::string_view method, std::string_view target,
                     const HttpHeaders& headers = {}, std::string_view body = {});

}  // namespace nexus::testing
