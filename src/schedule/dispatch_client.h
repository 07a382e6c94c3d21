// File: schedule/dispatch_client.h
//
// Hands calls to the agent runtime (SPEC: "a POST of {callId,batchId,attempt,from,to,agentId,
// language,variables} to the agent's dispatchUrl; a 2xx answer means accepted, anything else or
// no answer in 10 s is a failed attempt").
//
// Contract. Post() queues one POST and never blocks on the network. A fixed pool of worker threads
// sends it: body as given, Content-Type: application/json, User-Agent: nexus-dialler, and
// X-Nexus-Timestamp / X-Nexus-Signature from core::SignWebhook(secret, now(), body) taken just
// before sending. Only http:// and https:// URLs; redirects are not followed (a 3xx is a failure);
// the response body is discarded (at most 64 KiB is read). `done` runs exactly once per Post(), on
// a worker thread, with accepted = true iff a 2xx status arrived within `timeout`. Each worker
// keeps its connections alive between requests, so a steady stream to one host needs at most
// `threads` connections while the host keeps them open.
//
// Refusals call `done` before Post() returns, on the caller's thread: error "queue full" past
// max_queue, "shutting down" once the destructor has begun. The destructor stops taking work,
// fails every queued request with "shutting down" (on the destructor's thread), lets requests in
// flight finish (up to `timeout`) and joins the workers. `done` may call Post() again (a retry)
// but must not destroy the client.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace nexus::schedule {

struct DispatchRequest {
  std::string url;     // http:// or https://
  std::string secret;  // the agent's webhookSecret (HMAC key)
  std::string body;    // JSON, sent as is with Content-Type: application/json
};

struct DispatchResult {
  bool accepted = false;  // a 2xx answer arrived in time
  int http_status = 0;    // 0 when no answer (connect error, timeout)
  // For logs when not accepted: "HTTP 500", "timeout after 10 s (<curl's message>)", curl's
  // message, "queue full", "shutting down". Empty when accepted.
  std::string error;
};

struct DispatchClientOptions {
  int threads = 8;                                    // concurrent sends (at least 1 is used)
  absl::Duration timeout = absl::Seconds(10);         // whole request
  absl::Duration connect_timeout = absl::Seconds(5);  // TCP (+ TLS) connect, within `timeout`
  size_t max_queue = 100000;  // Post refuses (done gets an error result) past it
};

class DispatchClient {
 public:
  using Done = std::function<void(DispatchResult)>;

  // `now` gives the signing timestamp (the service clock; tests may pass a fake one). It is
  // called from the worker threads, concurrently.
  DispatchClient(DispatchClientOptions options, std::function<absl::Time()> now);
  // Stops taking new requests, calls `done` with "shutting down" for queued ones, completes the
  // ones in flight, joins the workers.
  ~DispatchClient();
  DispatchClient(const DispatchClient&) = delete;
  DispatchClient& operator=(const DispatchClient&) = delete;

  // Queues one POST; `done` runs later on a worker thread (or at once on a refusal, see above).
  void Post(DispatchRequest request, Done done);
  // Requests waiting for a worker (not counting those in flight).
  size_t queued() const;

 private:
  struct Item {
    DispatchRequest request;
    Done done;
  };

  void WorkerLoop();

  const DispatchClientOptions options_;
  const std::function<absl::Time()> now_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;  // work queued, or stopping
  std::deque<Item> queue_;      // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace nexus::schedule
