#include "schedule/dispatch_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>

#include "core/webhook_signature.h"

namespace nexus::schedule {
namespace {

constexpr size_t kMaxResponseBody = 64 * 1024;
constexpr char kUserAgent[] = "nexus-dialler";

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// curl reads 0 as "no timeout", so anything shorter than a millisecond becomes 1 ms.
long Millis(absl::Duration d) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// "10 s" for whole seconds, else "300 ms".
std::string DescribeDuration(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// The response body is not wanted: it is read (so the connection can be reused) and dropped, up
// to kMaxResponseBody; past that the transfer is aborted.
struct Sink {
  size_t received = 0;
  bool overflow = false;
};

size_t DiscardBody(char* /*data*/, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * count;
  sink->received += bytes;
  if (sink->received > kMaxResponseBody) {
    sink->overflow = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  return bytes;
}

// Options that are the same for every request a worker sends.
void SetFixedOptions(CURL* curl, const DispatchClientOptions& options, char* error_buffer) {
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, Millis(options.timeout));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, Millis(options.connect_timeout));
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &DiscardBody);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
}

DispatchResult Send(CURL* curl, const DispatchClientOptions& options,
                    const std::function<absl::Time()>& now, const DispatchRequest& request,
                    char* error_buffer) {
  const core::SignedHeaders signature = core::SignWebhook(request.secret, now(), request.body);
  curl_slist* headers = nullptr;
  const std::string lines[] = {
      "Content-Type: application/json",
      std::string(core::kTimestampHeader) + ": " + signature.timestamp,
      std::string(core::kSignatureHeader) + ": " + signature.signature,
      "Expect:",  // no 100-continue round trip, whatever the body size
  };
  for (const std::string& line : lines) {
    curl_slist* appended = curl_slist_append(headers, line.c_str());
    if (appended == nullptr) {
      curl_slist_free_all(headers);
      return {.accepted = false, .http_status = 0, .error = "out of memory"};
    }
    headers = appended;
  }

  Sink sink;
  error_buffer[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  // Nothing may dangle into the next request.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
  curl_slist_free_all(headers);

  DispatchResult result;
  if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && sink.overflow && status != 0)) {
    // A status arrived (an oversized body after it changes nothing).
    result.http_status = static_cast<int>(status);
    result.accepted = status >= 200 && status < 300;
    if (!result.accepted) result.error = "HTTP " + std::to_string(status);
    return result;
  }
  const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT) {
    result.error = "timeout after " + DescribeDuration(options.timeout) + " (" + detail + ")";
  } else {
    result.error = detail;
  }
  return result;
}

}  // namespace

DispatchClient::DispatchClient(DispatchClientOptions options, std::function<absl::Time()> now)
    : options_(std::move(options)), now_(std::move(now)) {
  InitCurlOnce();
  const int threads = std::max(1, options_.threads);
  workers_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) workers_.emplace_back(&DispatchClient::WorkerLoop, this);
}

DispatchClient::~DispatchClient() {
  std::deque<Item> abandoned;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    abandoned.swap(queue_);
  }
  cv_.notify_all();
  for (Item& item : abandoned) {
    item.done({.accepted = false, .http_status = 0, .error = "shutting down"});
  }
  for (std::thread& worker : workers_) worker.join();
}

void DispatchClient::Post(DispatchRequest request, Done done) {
  const char* refusal = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refusal = "shutting down";
    } else if (queue_.size() >= options_.max_queue) {
      refusal = "queue full";
    } else {
      queue_.push_back({std::move(request), std::move(done)});
    }
  }
  if (refusal != nullptr) {
    done({.accepted = false, .http_status = 0, .error = refusal});
    return;
  }
  cv_.notify_one();
}

size_t DispatchClient::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void DispatchClient::WorkerLoop() {
  // One easy handle per worker, reused for every request: it keeps the connections alive.
  CURL* curl = curl_easy_init();
  char error_buffer[CURL_ERROR_SIZE] = {};
  if (curl != nullptr) SetFixedOptions(curl, options_, error_buffer);
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and the destructor took what was queued
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    DispatchResult result =
        curl != nullptr
            ? Send(curl, options_, now_, item.request, error_buffer)
            : DispatchResult{.accepted = false, .http_status = 0, .error = "curl_easy_init failed"};
    item.done(std::move(result));
  }
  if (curl != nullptr) curl_easy_cleanup(curl);
}

}  // namespace nexus::schedule
