#include "http/error_mapping.h"

#include "core/log.h"
#include "http/json_body.h"

namespace nexus::http {

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kOutOfRange:
      return 422;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 507;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 503;
    default:
      return 500;
  }
}

Response ErrorResponse(const absl::Status& status, std::string_view request_id) {
  const int code = HttpStatusFor(status);
  nlohmann::json body = {{"success", false}};
  if (code == 500) {
    core::Log(core::LogLevel::kError, "internal error")
        .Str("request_id", request_id)
        .Str("error", std::string_view(status.message().data(), status.message().size()));
    body["message"] = "internal error";
    body["requestId"] = std::string(request_id);
  } else {
    body["message"] = std::string(status.message());
  }
  Response response = JsonResponse(code, body);
  if (code == 401) response.headers.push_back({"WWW-Authenticate", "Bearer"});
  if (code == 503) response.headers.push_back({"Retry-After", "1"});
  return response;
}

}  // namespace nexus::http
