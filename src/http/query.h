// File: http/query.h
//
// Reading `application/x-www-form-urlencoded` query strings ("page=2&limit=10").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nexus::http {

// The decoded value of the first `name` parameter ('+' is a space), nullopt when absent.
// InvalidArgument naming the parameter when its escape sequences are malformed.
absl::StatusOr<std::optional<std::string>> QueryParam(std::string_view query,
                                                      std::string_view name);

// An integer parameter within [min, max], `fallback` when absent or empty. InvalidArgument
// naming the parameter ("limit must be an integer 1..100") otherwise.
absl::StatusOr<int64_t> IntQueryParam(std::string_view query, std::string_view name,
                                      int64_t fallback, int64_t min, int64_t max);

}  // namespace nexus::http
