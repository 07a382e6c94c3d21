// File: domain/batch.h
//
// A batch is one upload: its dialling settings and its calls. A call is one contact row: an
// E.164 number, the row's variables, its own optional time zone, its status and attempts.
// Status vocabulary and transitions follow SPEC §1, §5 and §6.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "domain/daily_window.h"

namespace nexus::domain {

enum class BatchType { kOutbound, kMixed };
enum class BatchStatus { kActive, kPaused, kCompleted, kCanceled };
enum class CallStatus {
  kQueued,
  kInProgress,
  kCompleted,
  kFailed,
  kNoAnswer,
  kBusy,
  kDnc,
  kCanceled
};

std::string_view BatchTypeName(BatchType type);
std::optional<BatchType> ParseBatchType(std::string_view text);
std::string_view BatchStatusName(BatchStatus status);
std::optional<BatchStatus> ParseBatchStatus(std::string_view text);
std::string_view CallStatusName(CallStatus status);
std::optional<CallStatus> ParseCallStatus(std::string_view text);

// Every call status, in the order summaries list them.
inline constexpr CallStatus kAllCallStatuses[] = {
    CallStatus::kQueued,   CallStatus::kInProgress, CallStatus::kCompleted, CallStatus::kFailed,
    CallStatus::kNoAnswer, CallStatus::kBusy,       CallStatus::kDnc,       CallStatus::kCanceled};

// Dialling settings of a batch, validated (see service/upload_form.h for the rules).
struct BatchSettings {
  std::string name;
  BatchType type = BatchType::kOutbound;
  std::vector<std::string> calling_number_ids;  // 1..50 phone-number IDs, as given
  int retry = 0;                                // extra attempts, 0..10
  int64_t delay_seconds = 60;                   // between attempts, 0..604800
  std::string timezone;                         // IANA
  DailyWindow calling_hour{TimeOfDay{9 * 60}, TimeOfDay{17 * 60}};
  std::vector<int> allowed_days{1, 2, 3, 4, 5};  // sorted, unique, 0 = Sunday
  bool enable_dnc = true;
  std::string default_country;  // ISO 3166 alpha-2
};

struct Batch {
  std::string id;
  std::string organization_id;
  std::string user_id;  // owner
  std::string agent_id;
  // The first 18 hex digits (seconds + 5 random bytes) shared by the IDs of this batch's calls;
  // call i is call_id_prefix + 6 hex digits of i.
  std::string call_id_prefix;
  BatchSettings settings;
  BatchStatus status = BatchStatus::kActive;
  int64_t total_calls = 0;
  // The variable keys its calls may carry, in the file's column order: the agent's keys that had
  // a column and the extra columns (under their trimmed header). batch-details accepts exactly
  // these as variable filter/sortBy keys, and the CSV export has one column for each.
  std::vector<std::string> variable_keys;
  absl::Time created_at;
  absl::Time updated_at;
};

// One reported outcome of a dispatch attempt (SPEC §5 phoneLogs).
struct PhoneLog {
  int64_t attempt = 0;
  CallStatus status = CallStatus::kCompleted;
  std::optional<int64_t> duration_seconds;
  std::string recording_url;
  std::string transcript;
  absl::Time created_at;
};

// The statuses a runtime may report for an attempt: completed, failed, no_answer, busy.
bool IsAttemptOutcome(CallStatus status);

// One call of a batch as stored.
struct Call {
  std::string id;  // batch.call_id_prefix + 6 hex digits of seq
  std::string batch_id;
  int64_t seq = 0;                      // the upload's row order, from 0
  std::string phone;                    // E.164
  std::optional<std::string> timezone;  // the contact's own IANA zone; nullopt: the batch's
  std::string variables_json;           // a JSON object of string values
  CallStatus status = CallStatus::kQueued;
  int64_t attempts = 0;  // dispatches started
  std::optional<absl::Time> next_attempt_at;
  absl::Time created_at;
  absl::Time updated_at;
  std::vector<PhoneLog> phone_logs;  // oldest first; filled by batch-details queries only
};

}  // namespace nexus::domain
