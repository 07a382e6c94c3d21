#include "domain/daily_window.h"

#include <gtest/gtest.h>

namespace nexus::domain {
namespace {

TEST(TimeOfDay, ParsesOnlyStrictTwentyFourHourTimes) {
  EXPECT_EQ(ParseTimeOfDay("00:00")->minutes, 0);
  EXPECT_EQ(ParseTimeOfDay("23:59")->minutes, 23 * 60 + 59);
  EXPECT_EQ(ParseTimeOfDay("09:05")->minutes, 9 * 60 + 5);
  for (const char* bad : {"24:00", "9:00", "09:60", "0900", "09:00 ", "ab:cd", "", "-1:00"}) {
    EXPECT_FALSE(ParseTimeOfDay(bad).has_value()) << bad;
  }
  EXPECT_EQ(FormatTimeOfDay(TimeOfDay{9 * 60 + 5}), "09:05");
}

TEST(DailyWindow, EndBeforeStartCrossesMidnight) {
  auto window = MakeDailyWindow("callingHour", "22:00", "02:00");
  ASSERT_TRUE(window.ok());
  EXPECT_TRUE(window->CrossesMidnight());
  EXPECT_FALSE(MakeDailyWindow("callingHour", "09:00", "17:00")->CrossesMidnight());
}

TEST(DailyWindow, EqualOrMalformedEdgesNameTheField) {
  auto equal = MakeDailyWindow("callingHour", "09:00", "09:00");
  EXPECT_EQ(equal.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(equal.status().message().find("callingHour"), absl::string_view::npos);
  auto bad_end = MakeDailyWindow("legalWindow", "09:00", "25:00");
  EXPECT_NE(bad_end.status().message().find("legalWindow.end"), absl::string_view::npos);
}

}  // namespace
}  // namespace nexus::domain
