#include "support/agent_receiver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "support/http_text.h"

namespace nexus::testing {
namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;

using http_text::AsciiLower;
using http_text::EqualsIgnoreCase;
using http_text::Lowercase;
using http_text::Trim;

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string BuildResponse(int status, std::string_view body, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(ReasonPhrase(status)).append("\r\n");
  // 1xx, 204 and 304 answers have no body, and 204 may not even say Content-Length.
  const bool no_body = status < 200 || status == 204 || status == 304;
  if (!no_body) {
    out.append("Content-Type: text/plain\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n");
  }
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!no_body) out.append(body);
  return out;
}

// Sends all of `bytes`; false when the peer is gone (or the receiver shut the socket down).
bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct ParsedHead {
  std::string method, target;
  HttpHeaders headers;
  bool http10 = false;
};

// Parses "METHOD SP target SP HTTP/1.x CRLF (name: value CRLF)*" (the final CRLF removed);
// nullopt when it is not a request this receiver understands.
std::optional<ParsedHead> ParseHead(std::string_view head) {
  ParsedHead parsed;
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  std::string_view method = request_line.substr(0, sp1);
  std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = request_line.substr(sp2 + 1);
  if (!IsToken(method) || target.empty() || target.find(' ') != std::string_view::npos) {
    return std::nullopt;
  }
  if (version == "HTTP/1.0") {
    parsed.http10 = true;
  } else if (version != "HTTP/1.1") {
    return std::nullopt;
  }
  parsed.method = std::string(method);
  parsed.target = std::string(target);
  size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    // No obsolete line folding, no whitespace before the colon (RFC 9112 §5.1).
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) return std::nullopt;
    parsed.headers.emplace_back(Lowercase(line.substr(0, colon)),
                                std::string(Trim(line.substr(colon + 1))));
  }
  return parsed;
}

}  // namespace

std::string ReceivedRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

AgentReceiver::AgentReceiver() {
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) return;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    ::close(fd);
    return;
  }
  listen_fd_ = fd;
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread(&AgentReceiver::AcceptLoop, this);
}

AgentReceiver::~AgentReceiver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (wake_pipe_[1] >= 0) {
    char byte = 0;
    while (::write(wake_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
    }
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  // Only now, with the accept thread gone, is connections_ stable. A connection's fd is closed
  // only here or in ReapFinished, after its thread ended, so shutdown() never hits a reused fd.
  std::lock_guard lock(connections_mutex_);
  for (auto& connection : connections_) ::shutdown(connection->fd, SHUT_RDWR);
  for (auto& connection : connections_) {
    if (connection->thread.joinable()) connection->thread.join();
    ::close(connection->fd);
  }
  connections_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

std::string AgentReceiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void AgentReceiver::SetHandler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr;
}

void AgentReceiver::SetStatus(int status) {
  std::lock_guard lock(mutex_);
  status_ = status;
}

void AgentReceiver::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_ = delay;
}

std::vector<ReceivedRequest> AgentReceiver::Requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

size_t AgentReceiver::RequestCount() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

bool AgentReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void AgentReceiver::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int ready = ::poll(fds, 2, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || fds[1].revents != 0 || stopping_) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: let connections finish instead of spinning.
      if (errno == EMFILE || errno == ENFILE)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++connections_accepted_;
    ReapFinished();
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    Connection* raw = connection.get();
    std::lock_guard lock(connections_mutex_);
    connections_.push_back(std::move(connection));
    raw->thread = std::thread(&AgentReceiver::Serve, this, raw);
  }
}

void AgentReceiver::ReapFinished() {
  std::lock_guard lock(connections_mutex_);
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->finished) {
      (*it)->thread.join();
      ::close((*it)->fd);
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

bool AgentReceiver::SleepUnlessStopped(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, delay, [&] { return stopping_.load(); });
}

std::pair<int, std::string> AgentReceiver::Answer(const ReceivedRequest& request) {
  std::shared_ptr<const Handler> handler;
  int status = 0;
  std::chrono::milliseconds delay{0};
  {
    std::lock_guard lock(mutex_);
    handler = handler_;
    status = status_;
    delay = delay_;
  }
  if (delay.count() > 0 && !SleepUnlessStopped(delay)) return {0, ""};
  if (handler) return (*handler)(request);
  return {status, ""};
}

void AgentReceiver::Serve(Connection* connection) {
  const int fd = connection->fd;
  std::string buffer;  // received, not yet consumed

  // Appends what the socket has to `buffer`; false on end of stream, error, or shutdown.
  auto read_more = [&]() -> bool {
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
      int ready = ::poll(fds, 2, -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || fds[1].revents != 0) return false;
      char chunk[16384];
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
      return true;
    }
  };
  // Answers `status` and ends the connection.
  auto refuse = [&](int status) {
    SendAll(fd, BuildResponse(status, "", /*close=*/true));
    return false;
  };

  // Reads, records and answers one request; false when the connection is done.
  auto serve_one = [&]() -> bool {
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > kMaxHeadBytes) return refuse(431);
      if (!read_more()) return false;
    }
    std::optional<ParsedHead> head = ParseHead(std::string_view(buffer).substr(0, head_end));
    buffer.erase(0, head_end + 4);
    if (!head) return refuse(400);
    ReceivedRequest request;
    request.method = std::move(head->method);
    request.target = std::move(head->target);
    request.headers = std::move(head->headers);
    if (!request.Header("transfer-encoding").empty()) return refuse(501);  // no chunked bodies

    size_t length = 0;
    int length_headers = 0;
    for (const auto& [name, value] : request.headers) {
      if (name != "content-length") continue;
      if (++length_headers > 1 || value.empty() || value.size() > 9 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return refuse(400);
      }
      length = std::stoul(value);
    }
    if (length > kMaxBodyBytes) return refuse(413);
    if (!head->http10 && buffer.size() < length &&
        EqualsIgnoreCase(request.Header("expect"), "100-continue") &&
        !SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
      return false;
    }
    while (buffer.size() < length) {
      if (!read_more()) return false;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    request.at = std::chrono::steady_clock::now();
    const bool close =
        head->http10 || Lowercase(request.Header("connection")).find("close") != std::string::npos;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    cv_.notify_all();

    auto [status, body] = Answer(request);
    if (status == 0 || stopping_) return false;
    return SendAll(fd, BuildResponse(status, body, close)) && !close;
  };

  while (serve_one()) {
  }
  // Ends the connection for the peer now; the descriptor itself is closed by whoever joins us.
  ::shutdown(fd, SHUT_RDWR);
  connection->finished = true;
}

}  // namespace nexus::testing
