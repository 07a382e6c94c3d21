#include "domain/batch.h"

namespace nexus::domain {
namespace {

template <typename Enum, size_t N>
std::optional<Enum> ParseByName(std::string_view text, const Enum (&values)[N],
                                std::string_view (*name)(Enum)) {
  for (Enum value : values) {
    if (name(value) == text) return value;
  }
  return std::nullopt;
}

constexpr BatchType kBatchTypes[] = {BatchType::kOutbound, BatchType::kMixed};
constexpr BatchStatus kBatchStatuses[] = {BatchStatus::kActive, BatchStatus::kPaused,
                                          BatchStatus::kCompleted, BatchStatus::kCanceled};

}  // namespace

std::string_view BatchTypeName(BatchType type) {
  return type == BatchType::kMixed ? "mixed" : "outbound";
}

std::optional<BatchType> ParseBatchType(std::string_view text) {
  return ParseByName(text, kBatchTypes, BatchTypeName);
}

std::string_view BatchStatusName(BatchStatus status) {
  switch (status) {
    case BatchStatus::kActive:
      return "active";
    case BatchStatus::kPaused:
      return "paused";
    case BatchStatus::kCompleted:
      return "completed";
    case BatchStatus::kCanceled:
      return "canceled";
  }
  return "active";
}

std::optional<BatchStatus> ParseBatchStatus(std::string_view text) {
  return ParseByName(text, kBatchStatuses, BatchStatusName);
}

std::string_view CallStatusName(CallStatus status) {
  switch (status) {
    case CallStatus::kQueued:
      return "queued";
    case CallStatus::kInProgress:
      return "in_progress";
    case CallStatus::kCompleted:
      return "completed";
    case CallStatus::kFailed:
      return "failed";
    case CallStatus::kNoAnswer:
      return "no_answer";
    case CallStatus::kBusy:
      return "busy";
    case CallStatus::kDnc:
      return "dnc";
    case CallStatus::kCanceled:
      return "canceled";
  }
  return "queued";
}

std::optional<CallStatus> ParseCallStatus(std::string_view text) {
  return ParseByName(text, kAllCallStatuses, CallStatusName);
}

bool IsAttemptOutcome(CallStatus status) {
  return status == CallStatus::kCompleted || status == CallStatus::kFailed ||
         status == CallStatus::kNoAnswer || status == CallStatus::kBusy;
}

}  // namespace nexus::domain
