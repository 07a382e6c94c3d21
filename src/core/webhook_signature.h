// File: core/webhook_signature.h
//
// The signature on dispatches to the agent runtime and on its status reports (SPEC §6
// "Outcome"): headers X-Nexus-Timestamp (Unix seconds) and
// X-Nexus-Signature: sha256=<lowercase hex of HMAC-SHA256(secret, timestamp + "." + raw body)>,
// the secret's UTF-8 bytes being the key. A report is accepted only with a valid signature and a
// timestamp at most kSignatureTolerance away from now (either direction).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace nexus::core {

inline constexpr std::string_view kTimestampHeader = "X-Nexus-Timestamp";
inline constexpr std::string_view kSignatureHeader = "X-Nexus-Signature";
inline constexpr absl::Duration kSignatureTolerance = absl::Seconds(300);

struct SignedHeaders {
  std::string timestamp;  // Unix seconds, decimal
  std::string signature;  // "sha256=<hex>"
};

SignedHeaders SignWebhook(std::string_view secret, absl::Time now, std::string_view body);

// OK, or Unauthenticated saying what is wrong (missing header, stale timestamp, bad signature);
// the comparison is constant-time.
absl::Status VerifyWebhook(std::string_view secret, std::string_view timestamp,
                           std::string_view signature, std::string_view body, absl::Time now);

}  // namespace nexus::core
