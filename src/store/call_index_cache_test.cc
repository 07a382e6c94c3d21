#include "store/call_index_cache.h"

#include <gtest/gtest.h>

namespace nexus::store {
namespace {

TEST(CallIndexCacheTest, GetReturnsTheSameEntryUntilErased) {
  CallIndexCache cache(1000);
  const auto first = cache.Get("a");
  EXPECT_EQ(cache.Get("a"), first);
  EXPECT_NE(cache.Get("b"), first);
  cache.Erase("a");
  EXPECT_NE(cache.Get("a"), first);  // a new, empty entry
}

TEST(CallIndexCacheTest, ChargingPastTheLimitEvictsTheLeastRecentlyUsed) {
  CallIndexCache cache(1000);
  const auto a = cache.Get("a");
  const auto b = cache.Get("b");
  const auto c = cache.Get("c");
  ASSERT_TRUE(cache.Charge("a", 400));
  ASSERT_TRUE(cache.Charge("b", 400));
  EXPECT_EQ(cache.charged_bytes(), 800u);
  EXPECT_EQ(cache.Get("a"), a);  // a is now more recent than b
  ASSERT_TRUE(cache.Charge("c", 400));
  EXPECT_EQ(cache.charged_bytes(), 800u);  // b went
  EXPECT_EQ(cache.Get("a"), a);
  EXPECT_EQ(cache.Get("c"), c);
  EXPECT_NE(cache.Get("b"), b);
}

TEST(CallIndexCacheTest, AnEntryLargerThanTheLimitIsRefusedAndEvictsNothing) {
  CallIndexCache cache(1000);
  cache.Get("a");
  cache.Get("big");
  ASSERT_TRUE(cache.Charge("a", 600));
  EXPECT_FALSE(cache.Charge("big", 1001));
  EXPECT_EQ(cache.charged_bytes(), 600u);
}

TEST(CallIndexCacheTest, RechargingAnEntryReplacesItsSizeAndErasingFreesIt) {
  CallIndexCache cache(1000);
  cache.Get("a");
  ASSERT_TRUE(cache.Charge("a", 600));
  ASSERT_TRUE(cache.Charge("a", 200));
  EXPECT_EQ(cache.charged_bytes(), 200u);
  cache.Erase("a");
  EXPECT_EQ(cache.charged_bytes(), 0u);
  cache.Erase("missing");  // nothing to do
  EXPECT_EQ(cache.charged_bytes(), 0u);
}

}  // namespace
}  // namespace nexus::store
