#include "http/router.h"

#include <gtest/gtest.h>

namespace nexus::http {
namespace {

Router MakeRouter() {
  Router router;
  router.Add({"GET", "/api/agents", Access::kMember, 0, nullptr});
  router.Add({"PATCH", "/api/agents/{id}", Access::kAdmin, 1024, nullptr});
  router.Add({"DELETE", "/api/dnc/{e164}", Access::kAdmin, 0, nullptr});
  router.Add({"GET", "/healthz", Access::kPublic, 0, nullptr});
  return router;
}

TEST(Router, MatchesLiteralPathsAndMethods) {
  const Router router = MakeRouter();
  auto match = router.Find("GET", "/api/agents");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->pattern, "/api/agents");
  EXPECT_EQ(router.Find("GET", "/api/agent").route, nullptr);
  EXPECT_EQ(router.Find("GET", "/api/agents/x/y").route, nullptr);
}

TEST(Router, CapturesPercentDecodedParameters) {
  const Router router = MakeRouter();
  auto match = router.Find("DELETE", "/api/dnc/%2B12125551234");
  ASSERT_NE(match.route, nullptr);
  ASSERT_EQ(match.params.size(), 1u);
  EXPECT_EQ(match.params[0].first, "e164");
  EXPECT_EQ(match.params[0].second, "+12125551234");
}

TEST(Router, RefusesEmptyMalformedOrSlashEncodedParameters) {
  const Router router = MakeRouter();
  EXPECT_EQ(router.Find("PATCH", "/api/agents/").route, nullptr);
  EXPECT_EQ(router.Find("PATCH", "/api/agents/%zz").route, nullptr);
  EXPECT_EQ(router.Find("PATCH", "/api/agents/a%2Fb").route, nullptr);
}

TEST(Router, ReportsWhenOnlyTheMethodDiffers) {
  const Router router = MakeRouter();
  auto match = router.Find("POST", "/api/agents");
  EXPECT_EQ(match.route, nullptr);
  EXPECT_TRUE(match.other_method_matches);
  EXPECT_FALSE(router.Find("POST", "/nowhere").other_method_matches);
}

TEST(PercentDecode, DecodesEscapesAndRejectsTruncatedOnes) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%20b%2b", out));
  EXPECT_EQ(out, "a b+");
  EXPECT_FALSE(PercentDecode("abc%2", out));
  EXPECT_FALSE(PercentDecode("%g0", out));
}

}  // namespace
}  // namespace nexus::http
