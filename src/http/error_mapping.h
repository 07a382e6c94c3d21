// File: http/error_mapping.h
//
// The one place where a Status code becomes an HTTP status, and the workspace API's error body
// `{"success": false, "message": "..."}`. Internal errors answer 500 with a generic message and
// the request ID; their detail goes to the log, never to the client.
#pragma once

#include "absl/status/status.h"
#include "http/server.h"

namespace nexus::http {

// InvalidArgument 400, OutOfRange 422 (a well-formed request past a limit, e.g. a file with too
// many rows), Unauthenticated 401, PermissionDenied 403, NotFound 404,
// AlreadyExists/Aborted 409, FailedPrecondition 409, ResourceExhausted 507,
// Unavailable/DeadlineExceeded 503, anything else 500.
int HttpStatusFor(const absl::Status& status);

// `status` must not be OK. `request_id` is quoted in 500 answers so an operator can find the log.
Response ErrorResponse(const absl::Status& status, std::string_view request_id);

}  // namespace nexus::http
