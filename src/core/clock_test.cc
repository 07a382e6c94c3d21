#include "core/clock.h"

#include <gtest/gtest.h>

namespace nexus::core {
namespace {

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1005));
  clock.Set(absl::FromUnixSeconds(7));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(7));
}

TEST(RealClock, IsCloseToTheSystemClock) {
  const absl::Time now = RealClock::Real().Now();
  EXPECT_GT(now, absl::FromUnixSeconds(1700000000));
}

}  // namespace
}  // namespace nexus::core
