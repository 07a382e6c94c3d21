#include "core/webhook_signature.h"

#include <charconv>

#include "core/crypto.h"

namespace nexus::core {
namespace {

std::string Sign(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp).append(".").append(body);
  return "sha256=" + HmacSha256Hex(secret, message);
}

}  // namespace

SignedHeaders SignWebhook(std::string_view secret, absl::Time now, std::string_view body) {
  SignedHeaders headers;
  headers.timestamp = std::to_string(absl::ToUnixSeconds(now));
  headers.signature = Sign(secret, headers.timestamp, body);
  return headers;
}

absl::Status VerifyWebhook(std::string_view secret, std::string_view timestamp,
                           std::string_view signature, std::string_view body, absl::Time now) {
  if (timestamp.empty() || signature.empty()) {
    return absl::UnauthenticatedError("X-Nexus-Timestamp and X-Nexus-Signature are required");
  }
  int64_t seconds = 0;
  const auto [end, error] =
      std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (error != std::errc() || end != timestamp.data() + timestamp.size() || timestamp.size() > 12) {
    return absl::UnauthenticatedError("X-Nexus-Timestamp must be Unix seconds");
  }
  if (absl::AbsDuration(absl::FromUnixSeconds(seconds) - now) > kSignatureTolerance) {
    return absl::UnauthenticatedError("X-Nexus-Timestamp is more than 300 s away from now");
  }
  if (!ConstantTimeEquals(Sign(secret, timestamp, body), signature)) {
    return absl::UnauthenticatedError("bad X-Nexus-Signature");
  }
  return absl::OkStatus();
}

}  // namespace nexus::core
