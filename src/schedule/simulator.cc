#include "schedule/simulator.h"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "core/log.h"

namespace nexus::schedule {

absl::StatusOr<SimulatorOptions> ParseSimulatorMix(std::string_view text, SimulatorOptions base) {
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    const std::string_view name(part.data(), eq == absl::string_view::npos ? part.size() : eq);
    int weight = -1;
    if (eq != absl::string_view::npos) {
      const char* first = part.data() + eq + 1;
      const char* last = part.data() + part.size();
      if (auto [end, error] = std::from_chars(first, last, weight);
          error != std::errc() || end != last) {
        weight = -1;
      }
    }
    int* target = name == "completed"   ? &base.completed
                  : name == "no_answer" ? &base.no_answer
                  : name == "busy"      ? &base.busy
                  : name == "failed"    ? &base.failed
                                        : nullptr;
    if (target == nullptr || weight < 0 || weight > 1000) {
      return absl::InvalidArgumentError(fmt::format(
          "--simulate-mix: expected completed=N,no_answer=N,busy=N,failed=N, got \"{}\"",
          std::string(part)));
    }
    *target = weight;
  }
  if (base.completed + base.no_answer + base.busy + base.failed == 0) {
    return absl::InvalidArgumentError("--simulate-mix: at least one weight must be positive");
  }
  return base;
}

Simulator::Simulator(SimulatorOptions options)
    : options_(options), random_(options.seed), thread_([this] { Run(); }) {}

Simulator::~Simulator() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Simulator::Send(DispatchRequest request, std::function<void(DispatchResult)> done) {
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("callId") || !body.contains("attempt")) {
    done({.accepted = false, .http_status = 400, .error = "simulator: malformed dispatch"});
    return;
  }
  Pending pending;
  pending.call_id = body["callId"].get<std::string>();
  pending.attempt = body["attempt"].get<int64_t>();
  pending.report.attempt = pending.attempt;
  {
    std::lock_guard lock(mu_);
    std::discrete_distribution<int> pick({double(options_.completed), double(options_.no_answer),
                                          double(options_.busy), double(options_.failed)});
    static constexpr domain::CallStatus kOutcomes[] = {
        domain::CallStatus::kCompleted, domain::CallStatus::kNoAnswer, domain::CallStatus::kBusy,
        domain::CallStatus::kFailed};
    pending.report.status = kOutcomes[pick(random_)];
    const int64_t low = absl::ToInt64Milliseconds(options_.min_duration);
    const int64_t high = std::max(low, absl::ToInt64Milliseconds(options_.max_duration));
    const int64_t millis = std::uniform_int_distribution<int64_t>(low, high)(random_);
    pending.due = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
    if (pending.report.status == domain::CallStatus::kCompleted) {
      pending.report.duration_seconds = millis / 1000;
      pending.report.recording_url =
          "simulated://recording/" + pending.call_id + "/" + std::to_string(pending.attempt);
      pending.report.transcript = "(simulated conversation)";
    }
    pending_.push(std::move(pending));
  }
  cv_.notify_all();
  done({.accepted = true, .http_status = 200, .error = ""});
}

void Simulator::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (pending_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto due = pending_.top().due;
    if (std::chrono::steady_clock::now() < due) {
      cv_.wait_until(lock, due);
      continue;
    }
    Pending next = pending_.top();
    pending_.pop();
    lock.unlock();
    if (dialler_ != nullptr) {
      if (auto effect = dialler_->ApplyOutcome(next.call_id, next.report); !effect.ok()) {
        core::Log(core::LogLevel::kWarn, "simulator report failed")
            .Str("call_id", next.call_id)
            .Str("detail", effect.status().ToString());
      }
    }
    lock.lock();
  }
}

}  // namespace nexus::schedule
