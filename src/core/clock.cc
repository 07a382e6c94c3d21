#include "core/clock.h"

#include "absl/time/clock.h"

namespace nexus::core {

absl::Time RealClock::Now() const { return absl::Now(); }

Clock& RealClock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
}

ShiftedClock::ShiftedClock(absl::Time start) : offset_(start - absl::Now()) {}

absl::Time ShiftedClock::Now() const { return absl::Now() + offset_; }

}  // namespace nexus::core
