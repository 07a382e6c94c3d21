#include "http/json_body.h"

#include "core/status.h"

namespace nexus::http {
namespace {

absl::Status WrongType(std::string_view key, std::string_view expected) {
  return absl::InvalidArgumentError(fmt::format("{} must be {}", key, expected));
}

}  // namespace

absl::StatusOr<JsonObject> JsonObject::Parse(std::string_view body, bool empty_is_object) {
  if (body.empty() && empty_is_object) return JsonObject(nlohmann::json::object());
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError("request body must be valid JSON");
  }
  if (!value.is_object()) {
    return absl::InvalidArgumentError("request body must be a JSON object");
  }
  return JsonObject(std::move(value));
}

bool JsonObject::Has(std::string_view key) const { return value_.contains(key); }

const nlohmann::json* JsonObject::Raw(std::string_view key) const {
  auto it = value_.find(key);
  return it == value_.end() ? nullptr : &*it;
}

absl::StatusOr<std::optional<std::string>> JsonObject::String(std::string_view key) const {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(key, "a string");
  return std::optional<std::string>(v->get<std::string>());
}

absl::StatusOr<Nullable<std::string>> JsonObject::NullableString(std::string_view key) const {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) return Nullable<std::string>();
  if (v->is_null()) return Nullable<std::string>(std::optional<std::string>());
  if (!v->is_string()) return WrongType(key, "a string or null");
  return Nullable<std::string>(v->get<std::string>());
}

absl::StatusOr<std::optional<bool>> JsonObject::Bool(std::string_view key) const {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return WrongType(key, "true or false");
  return std::optional<bool>(v->get<bool>());
}

absl::StatusOr<std::optional<std::vector<std::string>>> JsonObject::StringArray(
    std::string_view key) const {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr) return std::optional<std::vector<std::string>>();
  if (!v->is_array()) return WrongType(key, "an array of strings");
  std::vector<std::string> out;
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return WrongType(fmt::format("{}[{}]", key, i), "a string");
    out.push_back((*v)[i].get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Response JsonResponse(int status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace nexus::http
