#include "domain/daily_window.h"

#include <fmt/format.h>

#include <cstdio>

namespace nexus::domain {

std::optional<TimeOfDay> ParseTimeOfDay(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (size_t i : {0, 1, 3, 4}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (hours > 23 || minutes > 59) return std::nullopt;
  return TimeOfDay{hours * 60 + minutes};
}

std::string FormatTimeOfDay(TimeOfDay t) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%02d:%02d", t.minutes / 60 % 100, t.minutes % 60);
  return buffer;
}

absl::StatusOr<DailyWindow> MakeDailyWindow(std::string_view field, std::string_view start,
                                            std::string_view end) {
  const auto s = ParseTimeOfDay(start);
  if (!s) {
    return absl::InvalidArgumentError(
        fmt::format("{}.start must be a 24-hour time \"HH:MM\"", field));
  }
  const auto e = ParseTimeOfDay(end);
  if (!e) {
    return absl::InvalidArgumentError(
        fmt::format("{}.end must be a 24-hour time \"HH:MM\"", field));
  }
  if (*s == *e) {
    return absl::InvalidArgumentError(fmt::format("{0}.start and {0}.end must differ", field));
  }
  return DailyWindow{*s, *e};
}

}  // namespace nexus::domain
