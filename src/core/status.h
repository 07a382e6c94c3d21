// File: core/status.h
//
// Errors are values at every module boundary: functions that can fail return absl::Status or
// absl::StatusOr<T>. These macros propagate them without boilerplate. Codes used across Nexus:
// InvalidArgument (bad input, names the field), NotFound, PermissionDenied, Unauthenticated,
// AlreadyExists, FailedPrecondition, ResourceExhausted, Unavailable, Internal.
// http/error_mapping.h is the one place that turns codes into HTTP statuses.
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Debian's Abseil has its own string_view type (not std::string_view); let fmt format it so
// `fmt::format("{}", status.message())` works.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  auto format(absl::string_view value, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(value.data(), value.size()),
                                                    ctx);
  }
};

#define NEXUS_STATUS_CONCAT_INNER(a, b) a##b
#define NEXUS_STATUS_CONCAT(a, b) NEXUS_STATUS_CONCAT_INNER(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define NEXUS_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status nexus_status_ = (expr);         \
    if (!nexus_status_.ok()) return nexus_status_; \
  } while (false)

// `NEXUS_ASSIGN_OR_RETURN(auto x, Foo());` declares x from a StatusOr or returns its error.
#define NEXUS_ASSIGN_OR_RETURN(lhs, expr) \
  NEXUS_ASSIGN_OR_RETURN_IMPL(NEXUS_STATUS_CONCAT(nexus_statusor_, __LINE__), lhs, expr)
#define NEXUS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()
