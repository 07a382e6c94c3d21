// File: tests/support/agent_receiver.h
//
// A tiny HTTP/1.1 server on plain POSIX sockets, for tests: it plays the agent runtime that
// receives dispatches. Like raw_http.h it shares no code with the production HTTP stack, so it is
// an independent oracle: what it records is what went over the wire.
//
// It listens on 127.0.0.1 on a free port (port 0) and serves each connection on its own thread,
// with keep-alive. It understands requests framed by Content-Length (or without a body) and
// answers "Expect: 100-continue"; anything else (Transfer-Encoding, a malformed request line or
// header, an oversized head or body) gets a 4xx or 501 with "Connection: close" and the
// connection is closed. "Connection: close" and HTTP/1.0 requests close after the answer.
//
// Every complete request is recorded (method, target, headers with lowercased names, body, and
// the steady-clock instant its last byte arrived) before it is answered. The answer is the
// handler's when one is set, else the default status (200) with an empty body; the delay, when
// set, passes before either. The destructor does not wait for delays: it stops every connection
// at once (a delayed request then gets no answer) and joins all threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/raw_http.h"

namespace nexus::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  HttpHeaders headers;  // names lowercased, in the order received
  std::string body;
  std::chrono::steady_clock::time_point at;  // when the request was complete

  // The value of the first header called `name` (ASCII case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
};

class AgentReceiver {
 public:
  // Status and body of the answer; status 0 closes the connection without answering. The handler
  // runs on the connection's thread, possibly on several threads at once.
  using Handler = std::function<std::pair<int, std::string>(const ReceivedRequest&)>;

  // Starts listening; check port() != 0 (0 means socket/bind/listen failed).
  AgentReceiver();
  // Stops accepting, closes every connection (pending delays are cut short), joins all threads.
  ~AgentReceiver();
  AgentReceiver(const AgentReceiver&) = delete;
  AgentReceiver& operator=(const AgentReceiver&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(std::string_view path = "/dispatch") const;

  // Replaces the handler; an empty one restores the default status answer.
  void SetHandler(Handler handler);
  // The answer's status when no handler is set (200 until changed).
  void SetStatus(int status);
  // Waited before answering each request (zero until changed).
  void SetDelay(std::chrono::milliseconds delay);

  std::vector<ReceivedRequest> Requests() const;
  size_t RequestCount() const;
  int ConnectionsAccepted() const { return connections_accepted_.load(); }
  // Waits until at least n requests arrived or the timeout passes; returns whether they did.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  void AcceptLoop();
  void Serve(Connection* connection);
  // Joins and closes the connections whose thread has finished. Called by the accept thread.
  void ReapFinished();
  // Sleeps for `delay` unless the receiver stops first; false when it stopped.
  bool SleepUnlessStopped(std::chrono::milliseconds delay);
  std::pair<int, std::string> Answer(const ReceivedRequest& request);

  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};  // written once at shutdown: wakes every poll()
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_accepted_{0};
  std::thread accept_thread_;

  std::mutex connections_mutex_;
  std::list<std::unique_ptr<Connection>> connections_;  // guarded by connections_mutex_

  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;  // a request arrived, or stopping
  std::vector<ReceivedRequest> requests_;
  std::shared_ptr<const Handler> handler_;
  int status_ = 200;
  std::chrono::milliseconds delay_{0};
};

}  // namespace nexus::testing
