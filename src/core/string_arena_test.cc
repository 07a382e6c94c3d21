#include "core/string_arena.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nexus::core {
namespace {

TEST(StringArenaTest, ViewsStayValidAcrossNewBlocks) {
  StringArena arena(/*block_size=*/16);
  std::vector<std::string_view> views;
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    expected.push_back("value-" + std::to_string(i));
    views.push_back(arena.Append(expected.back()));
  }
  for (size_t i = 0; i < views.size(); ++i) EXPECT_EQ(views[i], expected[i]);
  EXPECT_GE(arena.capacity(), 200u * 9);
}

TEST(StringArenaTest, TextLargerThanABlockGetsItsOwnBlock) {
  StringArena arena(/*block_size=*/8);
  const std::string big(100, 'x');
  const std::string_view small = arena.Append("abc");
  const std::string_view stored = arena.Append(big);
  EXPECT_EQ(stored, big);
  EXPECT_EQ(small, "abc");
  EXPECT_EQ(arena.Append("de"), "de");
}

TEST(StringArenaTest, EmptyTextIsAnEmptyView) {
  StringArena arena;
  EXPECT_TRUE(arena.Append("").empty());
  EXPECT_EQ(arena.capacity(), 0u);
}

}  // namespace
}  // namespace nexus::core
