// File: schedule/dialler.h
//
// The dialler works through every active batch inside its calling windows (SPEC §6 "Dialling",
// "Dispatch", "Outcome", "Retries and completion"). Each pass (RunOnce; Start() runs passes on
// a thread every `tick`, and sooner when a line frees up):
//   1. attempts past their deadline (`call_timeout`) count as failed, and may be retried;
//   2. per active batch, while its calling numbers have room (`per_number_concurrency` calls at
//      a time each): due waiting calls (retries, and calls deferred to their window), then fresh
//      calls with their own time zone, then fresh calls on the batch's zone while its window is
//      open. Each is checked against its window (closed → deferred to the next opening), the
//      DNC list for an enableDNC batch (listed now → ends as dnc), then started with the next
//      calling number round-robin and handed to the CallSender.
// Starting is a compare-and-set in the store before the dispatch, so an attempt is dispatched
// at most once, even across restarts: an attempt in flight when a process died has its
// deadline, and counts as failed when it passes. A refused dispatch is a failed attempt.
// Outcomes (Report, from POST /api/call/{id}/status, or the simulator) are applied through the
// store, which logs them, schedules the retry computed here (after `delay`, moved into the next
// open window, while attempts < 1 + retry) and completes a batch whose calls are all final.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "schedule/calling_window.h"
#include "schedule/dispatch_client.h"
#include "store/store.h"

namespace nexus::schedule {

// Where a started attempt goes: the agent runtime over HTTP, or the simulator. `done` runs
// exactly once, on any thread.
class CallSender {
 public:
  virtual ~CallSender() = default;
  virtual void Send(DispatchRequest request, std::function<void(DispatchResult)> done) = 0;
  // Whether requests need the agent's dispatchUrl (the simulator does not).
  virtual bool NeedsUrl() const { return true; }
};

// CallSender over a DispatchClient (which must outlive it).
class HttpCallSender final : public CallSender {
 public:
  explicit HttpCallSender(DispatchClient& client) : client_(client) {}
  void Send(DispatchRequest request, std::function<void(DispatchResult)> done) override {
    client_.Post(std::move(request), std::move(done));
  }

 private:
  DispatchClient& client_;
};

struct DiallerOptions {
  int per_number_concurrency = 1;                    // calls at a time per calling number
  absl::Duration call_timeout = absl::Seconds(600);  // no report by then: failed
  absl::Duration tick = absl::Milliseconds(200);     // a due call starts within about this
  int max_starts_per_batch = 500;                    // per pass
};

// A report of an attempt's outcome, as the runtime sends it (JSON body of the status route).
struct OutcomeReport {
  domain::CallStatus status = domain::CallStatus::kCompleted;
  std::optional<int64_t> duration_seconds;
  std::string recording_url;
  std::string transcript;
  std::optional<int64_t> attempt;  // the dispatch's "attempt"; absent: the call's current one
};

class Dialler {
 public:
  // `store`, `clock`, `sender` and `metrics` (may be null) must outlive the dialler.
  Dialler(store::Store& store, const core::Clock& clock, CallSender& sender, DiallerOptions options,
          core::Metrics* metrics);
  ~Dialler();  // stops the thread
  Dialler(const Dialler&) = delete;
  Dialler& operator=(const Dialler&) = delete;

  // Recovers the attempts in progress (their numbers stay busy until they end), then runs passes
  // on a thread until Stop().
  absl::Status Start();
  void Stop();

  // One pass (see above). Thread-compatible with Report, not with itself.
  absl::Status RunOnce();

  // POST /api/call/{callId}/status: NotFound for an unknown call; Unauthenticated for a bad or
  // stale signature (checked with the call's agent's webhookSecret over the raw body);
  // InvalidArgument naming the field for a bad body.
  absl::StatusOr<store::OutcomeEffect> Report(std::string_view call_id, std::string_view timestamp,
                                              std::string_view signature, std::string_view body);
  // The same without a signature, for the in-process simulator.
  absl::StatusOr<store::OutcomeEffect> ApplyOutcome(std::string_view call_id,
                                                    const OutcomeReport& report);

  // Attempts this process has in flight (for tests and the in-progress gauge).
  int in_flight() const;

 private:
  struct BatchState {
    int64_t fresh_after_seq = -1;          // calls on the batch's zone up to here were handled
    size_t next_number = 0;                // round-robin position in the calling numbers
    std::optional<absl::Time> open_since;  // when this process saw the batch's window open
    std::string last_error;                // logged once, not every pass
  };
  struct BatchContext;

  absl::Status ExpireAttempts(absl::Time now);
  absl::Status WorkBatch(const domain::Batch& batch, absl::Time now);
  absl::StatusOr<absl::TimeZone> Zone(const std::string& name);
  absl::StatusOr<CallingRules> RulesFor(const domain::Batch& batch,
                                        const std::optional<std::string>& call_zone);
  // The retry time of a call whose attempt number `attempt` ended with `status`, or nullopt.
  absl::StatusOr<std::optional<absl::Time>> NextAttempt(const domain::Batch& batch,
                                                        const std::optional<std::string>& zone,
                                                        int64_t attempt, domain::CallStatus status,
                                                        absl::Time now);
  absl::StatusOr<store::OutcomeEffect> Apply(const store::CallRef& call,
                                             const OutcomeReport& report);
  // Group commit: concurrent reports are written in one RecordOutcomes transaction (one fsync)
  // by whichever caller finds no write in progress; the others wait for their result.
  absl::StatusOr<store::OutcomeEffect> Record(store::AttemptOutcome outcome);
  void Dispatched(const std::string& call_id, int64_t attempt, const DispatchResult& result);
  void Release(const std::string& call_id);
  void Wake();

  store::Store& store_;
  const core::Clock& clock_;
  CallSender& sender_;
  const DiallerOptions options_;
  core::Metrics* metrics_;

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::string> in_flight_;  // call ID → calling number
  absl::flat_hash_map<std::string, int> busy_;               // calling number → calls
  absl::flat_hash_map<std::string, absl::TimeZone> zones_;
  absl::flat_hash_map<std::string, BatchState> batches_;  // only the pass thread touches it
  absl::Time last_counts_ = absl::InfinitePast();         // the nexus_calls gauge's refresh
  struct PendingOutcome {
    store::AttemptOutcome outcome;
    std::optional<absl::StatusOr<store::OutcomeEffect>> result;
  };
  std::mutex record_mu_;
  std::condition_variable recorded_;
  std::vector<PendingOutcome*> record_queue_;
  bool recording_ = false;
  std::condition_variable wake_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace nexus::schedule
