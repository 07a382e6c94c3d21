#include "support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "support/http_text.h"

namespace nexus::testing {
namespace {

using Clock = std::chrono::steady_clock;

using http_text::AsciiLower;
using http_text::EqualsIgnoreCase;
using http_text::Lowercase;
using http_text::Trim;

bool HasHeaderIn(const HttpHeaders& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

int MillisUntil(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

bool HttpResponse::HasHeader(std::string_view name) const { return HasHeaderIn(headers, name); }

RawConnection::RawConnection(uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  // Small writes (slowloris tests) should leave at once, not wait for Nagle.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return;
  }
  fd_ = fd;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::SendSome(std::string_view bytes) {
  if (fd_ < 0) return false;
  const Clock::time_point deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    pollfd pfd{fd_, POLLOUT, 0};
    int ready = ::poll(&pfd, 1, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      error_ = ready == 0 ? "send: timed out" : std::string("poll: ") + std::strerror(errno);
      return false;
    }
    // MSG_NOSIGNAL: a server that closed on us must fail the call, not kill the test with SIGPIPE.
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void RawConnection::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

RawConnection::Fill RawConnection::FillBuffer(Deadline deadline) {
  if (fd_ < 0) {
    error_ = "not connected";
    return Fill::kError;
  }
  if (eof_) return Fill::kEof;
  for (;;) {
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      error_ = std::string("poll: ") + std::strerror(errno);
      return Fill::kError;
    }
    if (ready == 0) {
      error_ = "timed out waiting for the server";
      return Fill::kTimeout;
    }
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // A reset is the peer closing too, only less politely; what arrived before it still counts.
      error_ = std::string("recv: ") + std::strerror(errno);
      eof_ = true;
      return Fill::kEof;
    }
    if (n == 0) {
      eof_ = true;
      return Fill::kEof;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return Fill::kData;
  }
}

bool RawConnection::FillTo(size_t size, Deadline deadline) {
  while (buffer_.size() < size) {
    Fill fill = FillBuffer(deadline);
    if (fill == Fill::kData) continue;
    if (fill == Fill::kEof) error_ = "connection closed before the response was complete";
    return false;
  }
  return true;
}

size_t RawConnection::FindInBuffer(std::string_view delimiter, size_t from, Deadline deadline) {
  for (;;) {
    size_t pos = buffer_.find(delimiter, from);
    if (pos != std::string::npos) return pos;
    Fill fill = FillBuffer(deadline);
    if (fill == Fill::kData) continue;
    if (fill == Fill::kEof) {
      error_ = buffer_.empty() ? "connection closed without a response"
                               : "connection closed before the response was complete";
    }
    return std::string::npos;
  }
}

bool RawConnection::ReadChunkedBody(HttpResponse& response, Deadline deadline) {
  size_t pos = 0;
  for (;;) {
    size_t eol = FindInBuffer("\r\n", pos, deadline);
    if (eol == std::string::npos) return false;
    std::string size_line = buffer_.substr(pos, eol - pos);
    size_line = size_line.substr(0, size_line.find(';'));  // drop chunk extensions
    size_t size = 0;
    try {
      size = std::stoul(size_line, nullptr, 16);
    } catch (const std::exception&) {
      error_ = "bad chunk size line: " + size_line;
      return false;
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailer fields (ignored) end with an empty line.
      for (;;) {
        eol = FindInBuffer("\r\n", pos, deadline);
        if (eol == std::string::npos) return false;
        bool empty = eol == pos;
        pos = eol + 2;
        if (empty) break;
      }
      buffer_.erase(0, pos);
      return true;
    }
    if (!FillTo(pos + size + 2, deadline)) return false;
    response.body.append(buffer_, pos, size);
    pos += size + 2;
  }
}

HttpResponse RawConnection::ReadResponse(bool head_request) {
  HttpResponse response;
  const Deadline deadline = Clock::now() + timeout_;
  size_t head_end = FindInBuffer("\r\n\r\n", 0, deadline);
  if (head_end == std::string::npos) {
    response.error = error_;
    return response;
  }
  std::string head = buffer_.substr(0, head_end + 2);
  buffer_.erase(0, head_end + 4);

  // Status line: HTTP/1.1 200 OK
  size_t line_end = head.find("\r\n");
  std::string_view status_line(head.data(), line_end);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12) {
    response.error = "bad status line: " + std::string(status_line);
    return response;
  }
  int status = 0;
  for (char c : status_line.substr(9, 3)) {
    if (c < '0' || c > '9') {
      response.error = "bad status code: " + std::string(status_line);
      return response;
    }
    status = status * 10 + (c - '0');
  }
  response.reason = std::string(Trim(status_line.substr(12)));

  size_t pos = line_end + 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    std::string_view line(head.data() + pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      response.error = "bad header line: " + std::string(line);
      return response;
    }
    response.headers.emplace_back(Lowercase(Trim(line.substr(0, colon))),
                                  std::string(Trim(line.substr(colon + 1))));
  }

  const bool no_body =
      head_request || (status >= 100 && status < 200) || status == 204 || status == 304;
  if (!no_body) {
    if (Lowercase(response.Header("transfer-encoding")).find("chunked") != std::string::npos) {
      if (!ReadChunkedBody(response, deadline)) {
        response.error = error_;
        return response;
      }
    } else if (response.HasHeader("content-length")) {
      size_t length = 0;
      try {
        length = std::stoul(response.Header("content-length"));
      } catch (const std::exception&) {
        response.error = "bad Content-Length: " + response.Header("content-length");
        return response;
      }
      if (!FillTo(length, deadline)) {
        response.error = error_;
        return response;
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else {
      // No framing: the body runs to the end of the connection.
      for (;;) {
        Fill fill = FillBuffer(deadline);
        if (fill == Fill::kEof) break;
        if (fill != Fill::kData) {
          response.error = error_;
          return response;
        }
      }
      response.body = std::move(buffer_);
      buffer_.clear();
    }
  }
  response.status = status;
  return response;
}

bool RawConnection::IsClosedByPeer(std::chrono::milliseconds wait) {
  const Deadline deadline = Clock::now() + wait;
  for (;;) {
    Fill fill = FillBuffer(deadline);
    if (fill == Fill::kEof) return true;
    if (fill != Fill::kData) return false;
  }
}

std::string BuildRequest(std::string_view method, std::string_view target,
                         const HttpHeaders& headers, std::string_view body) {
  std::string out;
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  for (const auto& [name, value] : headers) out.append(name).append(": ").append(value) += "\r\n";
  if (!body.empty() && !HasHeaderIn(headers, "content-length") &&
      !HasHeaderIn(headers, "transfer-encoding")) {
    out.append("Content-Length: ").append(std::to_string(body.size())) += "\r\n";
  }
  out += "\r\n";
  out.append(body);
  return out;
}

HttpResponse Send(uint16_t port, std::string_view raw_bytes, std::chrono::milliseconds timeout) {
  RawConnection connection(port, timeout);
  HttpResponse response;
  if (!connection.connected() || !connection.SendSome(raw_bytes)) {
    response.error = connection.error();
    return response;
  }
  return connection.ReadResponse();
}

HttpResponse Request(uint16_t port, std::string_view method, std::string_view target,
                     const HttpHeaders& headers, std::string_view body) {
  HttpHeaders all = headers;
  if (!HasHeaderIn(all, "host")) all.emplace_back("Host", "127.0.0.1:" + std::to_string(port));
  if (!HasHeaderIn(all, "connection")) all.emplace_back("Connection", "close");
  RawConnection connection(port);
  HttpResponse response;
  if (!connection.connected() || !connection.SendSome(BuildRequest(method, target, all, body))) {
    response.error = connection.error();
    return response;
  }
  return connection.ReadResponse(method == "HEAD");
}

}  // namespace nexus::testing
