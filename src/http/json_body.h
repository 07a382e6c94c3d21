// File: http/json_body.h
//
// Decoding JSON request bodies into typed fields at the edge. Wrong types are refused with
// InvalidArgument naming the field ("name must be a string") and never replaced by a default.
// Unknown fields are ignored. Also builds JSON responses.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "http/server.h"

namespace nexus::http {

// A field that may be absent (outer nullopt), explicitly null (inner nullopt) or set.
template <typename T>
using Nullable = std::optional<std::optional<T>>;

class JsonObject {
 public:
  // InvalidArgument unless `body` is a JSON object (an empty body counts as `{}` only when
  // `empty_is_object`).
  static absl::StatusOr<JsonObject> Parse(std::string_view body, bool empty_is_object = false);
  explicit JsonObject(nlohmann::json value) : value_(std::move(value)) {}

  bool Has(std::string_view key) const;
  // Absent → nullopt; present and not a string (null included) → InvalidArgument.
  absl::StatusOr<std::optional<std::string>> String(std::string_view key) const;
  // Absent → nullopt; null → inner nullopt; a string → the value; else InvalidArgument.
  absl::StatusOr<Nullable<std::string>> NullableString(std::string_view key) const;
  absl::StatusOr<std::optional<bool>> Bool(std::string_view key) const;
  // Absent → nullopt; an array of strings → the strings; else InvalidArgument.
  absl::StatusOr<std::optional<std::vector<std::string>>> StringArray(std::string_view key) const;
  // The raw value (nullptr when absent) for fields with a structure of their own.
  const nlohmann::json* Raw(std::string_view key) const;

 private:
  nlohmann::json value_;
};

// A JSON response with `status` and `body`.
Response JsonResponse(int status, const nlohmann::json& body);

}  // namespace nexus::http
