// File: domain/daily_window.h
//
// Civil times of day ("HH:MM", 24-hour) and daily windows made of two of them. A window whose end
// is before its start crosses midnight; start == end is not a window. Used for a batch's
// callingHour and an organization's legal calling window.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nexus::domain {

struct TimeOfDay {
  int minutes = 0;  // minutes since local midnight, 0..1439
  bool operator==(const TimeOfDay&) const = default;
};

// Parses exactly "HH:MM" with 00 <= HH <= 23 and 00 <= MM <= 59. nullopt otherwise.
std::optional<TimeOfDay> ParseTimeOfDay(std::string_view text);
std::string FormatTimeOfDay(TimeOfDay t);

struct DailyWindow {
  TimeOfDay start;
  TimeOfDay end;
  bool CrossesMidnight() const { return end.minutes < start.minutes; }
  bool operator==(const DailyWindow&) const = default;
};

// Builds a window from two "HH:MM" strings. InvalidArgument naming `field` (e.g. "callingHour")
// when either is malformed or they are equal.
absl::StatusOr<DailyWindow> MakeDailyWindow(std::string_view field, std::string_view start,
                                            std::string_view end);

}  // namespace nexus::domain
