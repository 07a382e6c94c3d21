#include "core/object_id.h"

#include <gtest/gtest.h>

#include <set>

namespace nexus::core {
namespace {

TEST(ObjectId, HasMongoLayoutWithTimestampFirst) {
  const absl::Time now = absl::FromUnixSeconds(0x64e5f123);
  const std::string id = NewObjectId(now);
  ASSERT_EQ(id.size(), 24u);
  EXPECT_TRUE(IsObjectId(id));
  EXPECT_EQ(id.substr(0, 8), "64e5f123");
  EXPECT_EQ(ObjectIdTime(id), now);
  for (char c : id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
}

TEST(ObjectId, IdsFromOneProcessAreUniqueAndShareTheRandomPart) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(NewObjectId(now));
  EXPECT_EQ(ids.size(), 10000u);
  EXPECT_EQ(ids.begin()->substr(8, 10), ids.rbegin()->substr(8, 10));
}

TEST(ObjectId, IsObjectIdRejectsWrongLengthAndNonHex) {
  EXPECT_TRUE(IsObjectId("64e5f12345abcdef98765432"));
  EXPECT_TRUE(IsObjectId("64E5F12345ABCDEF98765432"));
  EXPECT_FALSE(IsObjectId("64e5f12345abcdef9876543"));
  EXPECT_FALSE(IsObjectId("64e5f12345abcdef987654321"));
  EXPECT_FALSE(IsObjectId("64e5f12345abcdef9876543g"));
  EXPECT_FALSE(IsObjectId(""));
}

}  // namespace
}  // namespace nexus::core
