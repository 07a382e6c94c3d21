#include "core/webhook_signature.h"

#include <gtest/gtest.h>

#include "core/crypto.h"

namespace nexus::core {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);

TEST(WebhookSignatureTest, SignsTimestampDotBodyWithTheSecret) {
  const SignedHeaders headers = SignWebhook("s3cret", kNow, R"({"a":1})");
  EXPECT_EQ(headers.timestamp, "1790000000");
  EXPECT_EQ(headers.signature, "sha256=" + HmacSha256Hex("s3cret", R"(1790000000.{"a":1})"));
}

TEST(WebhookSignatureTest, AcceptsItsOwnSignatureWithinTheTolerance) {
  const SignedHeaders headers = SignWebhook("k", kNow, "body");
  EXPECT_TRUE(VerifyWebhook("k", headers.timestamp, headers.signature, "body", kNow).ok());
  EXPECT_TRUE(
      VerifyWebhook("k", headers.timestamp, headers.signature, "body", kNow + absl::Seconds(300))
          .ok());
  EXPECT_TRUE(
      VerifyWebhook("k", headers.timestamp, headers.signature, "body", kNow - absl::Seconds(300))
          .ok());
}

TEST(WebhookSignatureTest, RefusesStaleBadOrMissingSignatures) {
  const SignedHeaders headers = SignWebhook("k", kNow, "body");
  const auto code = [](const absl::Status& s) { return s.code(); };
  EXPECT_EQ(code(VerifyWebhook("k", headers.timestamp, headers.signature, "body",
                               kNow + absl::Seconds(301))),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code(VerifyWebhook("other", headers.timestamp, headers.signature, "body", kNow)),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code(VerifyWebhook("k", headers.timestamp, headers.signature, "b0dy", kNow)),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code(VerifyWebhook("k", "", headers.signature, "body", kNow)),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code(VerifyWebhook("k", "12x", headers.signature, "body", kNow)),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code(VerifyWebhook("k", headers.timestamp, "", "body", kNow)),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace nexus::core
