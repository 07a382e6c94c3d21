#include "schedule/dialler.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/json_escape.h"
#include "core/log.h"
#include "core/status.h"
#include "core/webhook_signature.h"

namespace nexus::schedule {
namespace {

using json = nlohmann::json;

constexpr int kExpirePerPass = 500;
constexpr int kLookahead = 64;
constexpr std::chrono::milliseconds kMinPassGap(5);
constexpr absl::Duration kCountsEvery = absl::Seconds(5);  // the nexus_calls gauge

uint8_t DayMask(const std::vector<int>& days) {
  uint8_t mask = 0;
  for (int day : days) {
    if (day >= 0 && day <= 6) mask |= static_cast<uint8_t>(1u << day);
  }
  return mask;
}

bool Retryable(domain::CallStatus status) {
  return status == domain::CallStatus::kFailed || status == domain::CallStatus::kNoAnswer ||
         status == domain::CallStatus::kBusy;
}

// {"callId","batchId","attempt","from","to","agentId","language","variables"} (SPEC §6).
std::string DispatchBody(const store::DialCandidate& call, int64_t attempt, std::string_view from,
                         const domain::Agent& agent) {
  std::string body;
  body.reserve(256 + call.variables_json.size());
  const auto field = [&body](std::string_view key, std::string_view value) {
    body += body.empty() ? "{" : ",";
    core::AppendJsonString(body, key);
    body += ':';
    core::AppendJsonString(body, value);
  };
  field("callId", call.call_id);
  field("batchId", call.batch_id);
  body += ",\"attempt\":" + std::to_string(attempt);
  field("from", from);
  field("to", call.phone);
  field("agentId", agent.id);
  field("language", agent.language.value_or(""));
  body += ",\"variables\":";
  body += call.variables_json.empty() ? "{}" : call.variables_json;
  body += '}';
  return body;
}

absl::StatusOr<OutcomeReport> ParseReport(std::string_view body) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return absl::InvalidArgumentError("body must be a JSON object");
  OutcomeReport report;
  const auto status = parsed.find("callStatus");
  if (status == parsed.end() || !status->is_string()) {
    return absl::InvalidArgumentError("callStatus is required");
  }
  const std::optional<domain::CallStatus> value =
      domain::ParseCallStatus(status->get<std::string>());
  if (!value || !domain::IsAttemptOutcome(*value)) {
    return absl::InvalidArgumentError(
        "callStatus must be one of completed, failed, no_answer, busy");
  }
  report.status = *value;
  if (const auto it = parsed.find("callDuration"); it != parsed.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 86400 * 7) {
      return absl::InvalidArgumentError("callDuration must be a number of seconds");
    }
    report.duration_seconds = static_cast<int64_t>(it->get<double>());
  }
  for (const auto& [key, target] : {std::pair{"recordingUrl", &report.recording_url},
                                    std::pair{"transcript", &report.transcript}}) {
    if (const auto it = parsed.find(key); it != parsed.end() && !it->is_null()) {
      if (!it->is_string())
        return absl::InvalidArgumentError(fmt::format("{} must be a string", key));
      *target = it->get<std::string>();
    }
  }
  if (const auto it = parsed.find("attempt"); it != parsed.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1) {
      return absl::InvalidArgumentError("attempt must be a positive integer");
    }
    report.attempt = it->get<int64_t>();
  }
  return report;
}

}  // namespace

struct Dialler::BatchContext {
  domain::Agent agent;
  std::vector<std::string> numbers;  // calling numbers, E.164, in the batch's order
};

Dialler::Dialler(store::Store& store, const core::Clock& clock, CallSender& sender,
                 DiallerOptions options, core::Metrics* metrics)
    : store_(store), clock_(clock), sender_(sender), options_(options), metrics_(metrics) {
  if (metrics_ != nullptr) {
    metrics_->DescribeCounter("nexus_dialler_dispatches_total",
                              "Attempts handed to the agent runtime, by result");
    metrics_->DescribeCounter("nexus_call_outcomes_total",
                              "Attempt outcomes applied to calls, by status");
    metrics_->DescribeGauge("nexus_dialler_in_progress", "Attempts this process has in flight");
    metrics_->DescribeGauge("nexus_calls", "Calls of every batch by status (every 5 s)");
    metrics_->DescribeHistogram("nexus_dialler_dispatch_lag_seconds",
                                "From a call being due to its dispatch starting",
                                {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60});
  }
}

Dialler::~Dialler() { Stop(); }

absl::Status Dialler::Start() {
  NEXUS_ASSIGN_OR_RETURN(const std::vector<store::InProgressCall> running,
                         store_.ListInProgress(absl::InfiniteFuture(), 1 << 20));
  {
    std::lock_guard lock(mu_);
    for (const store::InProgressCall& call : running) {
      if (call.from.empty()) continue;
      in_flight_[call.call_id] = call.from;
      ++busy_[call.from];
    }
  }
  if (!running.empty()) {
    core::Log(core::LogLevel::kInfo, "dialler recovered attempts in progress")
        .Int("calls", static_cast<int64_t>(running.size()));
  }
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (absl::Status status = RunOnce(); !status.ok()) {
        core::Log(core::LogLevel::kWarn, "dialler pass failed").Str("detail", status.ToString());
      }
      lock.lock();
      // Freed lines wake the next pass early, but passes stay at least kMinPassGap apart so
      // that a stream of reports starts calls in groups (one transaction each), not one by one.
      wake_.wait_for(lock, kMinPassGap, [this] { return stopping_; });
      wake_.wait_for(lock, absl::ToChronoMilliseconds(options_.tick) - kMinPassGap,
                     [this] { return stopping_ || woken_; });
      woken_ = false;
    }
  });
  return absl::OkStatus();
}

void Dialler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Dialler::in_flight() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(in_flight_.size());
}

void Dialler::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

absl::StatusOr<absl::TimeZone> Dialler::Zone(const std::string& name) {
  std::lock_guard lock(mu_);
  if (const auto it = zones_.find(name); it != zones_.end()) return it->second;
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) {
    return absl::FailedPreconditionError(fmt::format("unknown time zone \"{}\"", name));
  }
  zones_.emplace(name, zone);
  return zone;
}

absl::StatusOr<CallingRules> Dialler::RulesFor(const domain::Batch& batch,
                                               const std::optional<std::string>& call_zone) {
  NEXUS_ASSIGN_OR_RETURN(const domain::Organization org,
                         store_.GetOrganization(batch.organization_id));
  NEXUS_ASSIGN_OR_RETURN(const absl::TimeZone zone,
                         Zone(call_zone ? *call_zone : batch.settings.timezone));
  return CallingRules{.zone = zone,
                      .window = batch.settings.calling_hour,
                      .allowed_days = DayMask(batch.settings.allowed_days),
                      .legal = org.legal_window};
}

absl::StatusOr<std::optional<absl::Time>> Dialler::NextAttempt(
    const domain::Batch& batch, const std::optional<std::string>& zone, int64_t attempt,
    domain::CallStatus status, absl::Time now) {
  if (!Retryable(status) || attempt >= 1 + batch.settings.retry) return std::nullopt;
  NEXUS_ASSIGN_OR_RETURN(const CallingRules rules, RulesFor(batch, zone));
  const absl::Time next = NextOpening(rules, now + absl::Seconds(batch.settings.delay_seconds));
  if (next == absl::InfiniteFuture()) return std::nullopt;
  return next;
}

absl::Status Dialler::RunOnce() {
  const absl::Time now = clock_.Now();
  NEXUS_RETURN_IF_ERROR(ExpireAttempts(now));
  NEXUS_ASSIGN_OR_RETURN(const std::vector<domain::Batch> batches, store_.ListActiveBatches());
  for (const domain::Batch& batch : batches) {
    const absl::Status status = WorkBatch(batch, now);
    std::string& last_error = batches_[batch.id].last_error;
    if (!status.ok() && status.ToString() != last_error) {  // once per distinct problem
      core::Log(core::LogLevel::kWarn, "dialler could not work a batch")
          .Str("batch_id", batch.id)
          .Str("detail", status.ToString());
    }
    last_error = status.ok() ? std::string() : status.ToString();
  }
  if (metrics_ != nullptr) {
    metrics_->Set("nexus_dialler_in_progress", {}, in_flight());
    if (now - last_counts_ >= kCountsEvery || now < last_counts_) {
      last_counts_ = now;
      NEXUS_ASSIGN_OR_RETURN(const store::CallCounts counts, store_.CountAllCalls());
      for (domain::CallStatus status : domain::kAllCallStatuses) {
        metrics_->Set("nexus_calls", {{"status", std::string(domain::CallStatusName(status))}},
                      static_cast<double>(counts.Of(status)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Dialler::ExpireAttempts(absl::Time now) {
  NEXUS_ASSIGN_OR_RETURN(const std::vector<store::InProgressCall> expired,
                         store_.ListInProgress(now, kExpirePerPass));
  for (const store::InProgressCall& call : expired) {
    OutcomeReport timeout;
    timeout.status = domain::CallStatus::kFailed;
    timeout.attempt = call.attempts;
    timeout.transcript = "no report within the call timeout";
    auto ref = store_.FindCall(call.call_id);
    if (absl::IsNotFound(ref.status())) {
      // Its batch was deleted: the attempt still ends (no retry), or it would stay first in
      // this list for ever and hold its calling number.
      const store::AttemptOutcome outcome{.call_id = call.call_id,
                                          .attempt = call.attempts,
                                          .status = timeout.status,
                                          .duration_seconds = std::nullopt,
                                          .recording_url = "",
                                          .transcript = timeout.transcript,
                                          .next_attempt_at = std::nullopt};
      NEXUS_ASSIGN_OR_RETURN(const store::OutcomeEffect effect, Record(outcome));
      if (effect == store::OutcomeEffect::kApplied) Release(call.call_id);
      continue;
    }
    NEXUS_RETURN_IF_ERROR(ref.status());
    NEXUS_RETURN_IF_ERROR(Apply(*ref, timeout).status());
    core::Log(core::LogLevel::kInfo, "attempt timed out")
        .Str("call_id", call.call_id)
        .Int("attempt", call.attempts);
  }
  return absl::OkStatus();
}

absl::Status Dialler::WorkBatch(const domain::Batch& batch, absl::Time now) {
  BatchContext context;
  NEXUS_ASSIGN_OR_RETURN(context.agent, store_.GetAgent(batch.organization_id, batch.agent_id));
  if (sender_.NeedsUrl() && (!context.agent.dispatch_url || context.agent.dispatch_url->empty())) {
    return absl::FailedPreconditionError("the batch's agent has no dispatchUrl");
  }
  for (const std::string& number_id : batch.settings.calling_number_ids) {
    auto number = store_.GetPhoneNumber(batch.organization_id, number_id);
    if (number.ok()) context.numbers.push_back(number->e164);
  }
  if (context.numbers.empty()) return absl::OkStatus();

  // Room on the calling numbers.
  int room = 0;
  {
    std::lock_guard lock(mu_);
    for (const std::string& number : context.numbers) {
      const auto it = busy_.find(number);
      room += std::max(0, options_.per_number_concurrency - (it == busy_.end() ? 0 : it->second));
    }
  }
  room = std::min(room, options_.max_starts_per_batch);
  if (room == 0) return absl::OkStatus();

  BatchState& state = batches_[batch.id];
  NEXUS_ASSIGN_OR_RETURN(const CallingRules batch_rules, RulesFor(batch, std::nullopt));
  const bool batch_open = IsOpen(batch_rules, now);
  if (!batch_open) {
    state.open_since.reset();
  } else if (!state.open_since) {
    state.open_since = now;
  }

  // Candidates in order: waiting calls that are due, fresh calls with their own zone, fresh
  // calls on the batch's zone (only while its window is open: closed, they simply wait).
  // Calls deferred or ended as dnc take no line, so each list reads a little past the room.
  const int fetch = room + kLookahead;
  NEXUS_ASSIGN_OR_RETURN(std::vector<store::DialCandidate> candidates,
                         store_.ListWaitingCalls(batch.id, now, fetch));
  const size_t waiting_count = candidates.size();
  NEXUS_ASSIGN_OR_RETURN(const std::vector<store::DialCandidate> own,
                         store_.ListFreshCalls(batch.id, /*own_zone=*/true, -1, fetch));
  candidates.insert(candidates.end(), own.begin(), own.end());
  const size_t fresh_start = candidates.size();
  if (batch_open) {
    NEXUS_ASSIGN_OR_RETURN(
        const std::vector<store::DialCandidate> fresh,
        store_.ListFreshCalls(batch.id, /*own_zone=*/false, state.fresh_after_seq, fetch));
    candidates.insert(candidates.end(), fresh.begin(), fresh.end());
  }

  std::vector<store::Deferral> deferrals;
  std::vector<store::AttemptStart> starts;
  std::vector<const store::DialCandidate*> started_calls;
  std::vector<absl::Time> due_times;
  // Per start: the seq of a fresh call on the batch's zone (the cursor passed it), else -1.
  std::vector<int64_t> cursor_seqs;
  const absl::Time deadline = now + options_.call_timeout;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const store::DialCandidate& call = candidates[i];
    const bool on_batch_zone = i >= fresh_start;
    if (static_cast<int>(starts.size()) >= room) break;
    CallingRules rules = batch_rules;  // the same window, days and legal window
    if (!on_batch_zone && call.timezone) {
      NEXUS_ASSIGN_OR_RETURN(rules.zone, Zone(*call.timezone));
    }
    if (!IsOpen(rules, now)) {
      absl::Time opening = NextOpening(rules, now);
      // A window that never opens (no overlap with the legal window): look again in a day, in
      // case the settings change.
      if (opening == absl::InfiniteFuture()) opening = now + absl::Hours(24);
      deferrals.push_back({call.call_id, call.status, call.attempts, opening});
      if (on_batch_zone) state.fresh_after_seq = call.seq;
      continue;
    }
    if (batch.settings.enable_dnc) {
      NEXUS_ASSIGN_OR_RETURN(const bool listed,
                             store_.IsOnDncList(batch.organization_id, call.phone));
      if (listed) {
        NEXUS_RETURN_IF_ERROR(
            store_.MarkCallDnc(call.call_id, call.status, call.attempts, now).status());
        if (on_batch_zone) state.fresh_after_seq = call.seq;
        continue;
      }
    }
    // The next calling number with room, round-robin.
    std::optional<std::string> from;
    {
      std::lock_guard lock(mu_);
      for (size_t tried = 0; tried < context.numbers.size() && !from; ++tried) {
        const std::string& number =
            context.numbers[(state.next_number + tried) % context.numbers.size()];
        int& busy = busy_[number];
        if (busy < options_.per_number_concurrency) {
          ++busy;  // reserved; released below if the start does not happen
          from = number;
          state.next_number = (state.next_number + tried + 1) % context.numbers.size();
        }
      }
    }
    if (!from) break;
    starts.push_back({call.call_id, call.status, call.attempts, *from, deadline});
    started_calls.push_back(&call);
    cursor_seqs.push_back(on_batch_zone ? call.seq : -1);
    // When the call became due: a waiting call at its next attempt; a fresh one when its batch
    // was last started or its window was seen opening, whichever is later.
    due_times.push_back(i < waiting_count && call.next_attempt_at
                            ? *call.next_attempt_at
                            : std::max(batch.updated_at, state.open_since.value_or(now)));
    if (on_batch_zone) state.fresh_after_seq = call.seq;
  }

  if (!deferrals.empty()) NEXUS_RETURN_IF_ERROR(store_.DeferCalls(deferrals, now));
  if (starts.empty()) return absl::OkStatus();
  // A fresh call the cursor passed but that did not start (the batch was paused meanwhile, or
  // the store failed) must be read again: the cursor goes back to just before it.
  const auto rewind = [&](size_t i) {
    if (cursor_seqs[i] >= 0) {
      state.fresh_after_seq = std::min(state.fresh_after_seq, cursor_seqs[i] - 1);
    }
  };
  auto started = store_.StartAttempts(starts, now);
  if (!started.ok()) {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < starts.size(); ++i) {
      --busy_[starts[i].from];
      rewind(i);
    }
    return started.status();
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    const store::AttemptStart& start = starts[i];
    if (!(*started)[i]) {
      std::lock_guard lock(mu_);
      --busy_[start.from];
      rewind(i);
      continue;
    }
    {
      std::lock_guard lock(mu_);
      in_flight_[start.call_id] = start.from;
    }
    const int64_t attempt = start.expected_attempts + 1;
    if (metrics_ != nullptr) {
      metrics_->Observe("nexus_dialler_dispatch_lag_seconds", {},
                        absl::ToDoubleSeconds(std::max(absl::ZeroDuration(), now - due_times[i])));
    }
    DispatchRequest request{
        .url = context.agent.dispatch_url.value_or(""),
        .secret = context.agent.webhook_secret,
        .body = DispatchBody(*started_calls[i], attempt, start.from, context.agent)};
    sender_.Send(std::move(request),
                 [this, call_id = start.call_id, attempt](DispatchResult result) {
                   Dispatched(call_id, attempt, result);
                 });
  }
  return absl::OkStatus();
}

void Dialler::Dispatched(const std::string& call_id, int64_t attempt,
                         const DispatchResult& result) {
  if (metrics_ != nullptr) {
    metrics_->Add("nexus_dialler_dispatches_total",
                  {{"result", result.accepted ? "accepted" : "failed"}});
  }
  if (result.accepted) return;
  core::Log(core::LogLevel::kWarn, "dispatch failed")
      .Str("call_id", call_id)
      .Int("attempt", attempt)
      .Str("error", result.error);
  OutcomeReport failed;
  failed.status = domain::CallStatus::kFailed;
  failed.attempt = attempt;
  failed.transcript = "dispatch failed: " + result.error;
  if (auto effect = ApplyOutcome(call_id, failed); !effect.ok()) {
    core::Log(core::LogLevel::kError, "cannot record a failed dispatch")
        .Str("call_id", call_id)
        .Str("detail", effect.status().ToString());
  }
}

void Dialler::Release(const std::string& call_id) {
  {
    std::lock_guard lock(mu_);
    const auto it = in_flight_.find(call_id);
    if (it == in_flight_.end()) return;
    if (int& busy = busy_[it->second]; busy > 0) --busy;
    in_flight_.erase(it);
  }
  Wake();
}

absl::StatusOr<store::OutcomeEffect> Dialler::Record(store::AttemptOutcome outcome) {
  PendingOutcome mine{std::move(outcome), std::nullopt};
  std::unique_lock lock(record_mu_);
  record_queue_.push_back(&mine);
  // Wait while another caller writes; it takes this outcome in its next group.
  recorded_.wait(lock, [&] { return mine.result.has_value() || !recording_; });
  if (mine.result) return *std::move(mine.result);
  recording_ = true;  // the leader: write groups until the queue is empty
  while (!record_queue_.empty()) {
    std::vector<PendingOutcome*> group;
    group.swap(record_queue_);
    lock.unlock();
    std::vector<store::AttemptOutcome> outcomes;
    outcomes.reserve(group.size());
    for (const PendingOutcome* pending : group) outcomes.push_back(pending->outcome);
    auto effects = store_.RecordOutcomes(outcomes, clock_.Now());
    lock.lock();
    for (size_t i = 0; i < group.size(); ++i) {
      if (effects.ok()) {
        group[i]->result = (*effects)[i];
      } else {
        group[i]->result = effects.status();
      }
    }
    recorded_.notify_all();
  }
  recording_ = false;
  recorded_.notify_all();
  return *std::move(mine.result);
}

absl::StatusOr<store::OutcomeEffect> Dialler::Report(std::string_view call_id,
                                                     std::string_view timestamp,
                                                     std::string_view signature,
                                                     std::string_view body) {
  NEXUS_ASSIGN_OR_RETURN(const store::CallRef call, store_.FindCall(call_id));
  NEXUS_ASSIGN_OR_RETURN(const domain::Agent agent,
                         store_.GetAgent(call.organization_id, call.agent_id));
  NEXUS_RETURN_IF_ERROR(
      core::VerifyWebhook(agent.webhook_secret, timestamp, signature, body, clock_.Now()));
  NEXUS_ASSIGN_OR_RETURN(const OutcomeReport report, ParseReport(body));
  return Apply(call, report);
}

absl::StatusOr<store::OutcomeEffect> Dialler::ApplyOutcome(std::string_view call_id,
                                                           const OutcomeReport& report) {
  NEXUS_ASSIGN_OR_RETURN(const store::CallRef call, store_.FindCall(call_id));
  return Apply(call, report);
}

absl::StatusOr<store::OutcomeEffect> Dialler::Apply(const store::CallRef& call,
                                                    const OutcomeReport& report) {
  const absl::Time now = clock_.Now();
  const int64_t attempt = report.attempt.value_or(call.attempts);
  std::optional<absl::Time> next;
  if (call.status == domain::CallStatus::kInProgress && attempt == call.attempts) {
    NEXUS_ASSIGN_OR_RETURN(const domain::Batch batch,
                           store_.GetBatch(call.organization_id, call.batch_id));
    NEXUS_ASSIGN_OR_RETURN(next, NextAttempt(batch, call.timezone, attempt, report.status, now));
  }
  const store::AttemptOutcome outcome{.call_id = call.call_id,
                                      .attempt = attempt,
                                      .status = report.status,
                                      .duration_seconds = report.duration_seconds,
                                      .recording_url = report.recording_url,
                                      .transcript = report.transcript,
                                      .next_attempt_at = next};
  NEXUS_ASSIGN_OR_RETURN(const store::OutcomeEffect effect, Record(outcome));
  if (effect == store::OutcomeEffect::kApplied) {
    Release(call.call_id);
    if (metrics_ != nullptr) {
      metrics_->Add("nexus_call_outcomes_total",
                    {{"status", std::string(domain::CallStatusName(report.status))}});
    }
  }
  return effect;
}

}  // namespace nexus::schedule
