// File: schedule/simulator.h
//
// The built-in agent runtime for demos and tests (`nexus serve --simulate`): it accepts every
// dispatch at once, then after a random duration reports a random outcome for that attempt
// through the dialler, as a real runtime would through POST /api/call/{id}/status. The mix of
// outcomes and the range of durations are configurable; the random source is seeded, so a run
// is repeatable for a given seed and arrival order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schedule/dialler.h"

namespace nexus::schedule {

struct SimulatorOptions {
  // Relative weights of completed, no_answer, busy, failed.
  int completed = 60, no_answer = 20, busy = 10, failed = 10;
  absl::Duration min_duration = absl::Seconds(2);
  absl::Duration max_duration = absl::Seconds(8);
  uint64_t seed = 1;
};

// Parses "completed=60,no_answer=20,busy=10,failed=10" (any subset; others keep their default).
absl::StatusOr<SimulatorOptions> ParseSimulatorMix(std::string_view text, SimulatorOptions base);

class Simulator final : public CallSender {
 public:
  explicit Simulator(SimulatorOptions options);
  ~Simulator() override;  // stops; reports not yet due are dropped (their calls time out)
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Reports go to `dialler` (set once, before the first Send).
  void Attach(Dialler* dialler) { dialler_ = dialler; }

  void Send(DispatchRequest request, std::function<void(DispatchResult)> done) override;
  bool NeedsUrl() const override { return false; }

 private:
  struct Pending {
    std::chrono::steady_clock::time_point due;
    std::string call_id;
    int64_t attempt;
    OutcomeReport report;
    bool operator>(const Pending& other) const { return due > other.due; }
  };
  void Run();

  const SimulatorOptions options_;
  Dialler* dialler_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
  std::mt19937_64 random_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace nexus::schedule
