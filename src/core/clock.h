// File: core/clock.h
//
// Time is injected. Nothing in Nexus reads the system clock except RealClock, so tests can move
// time across calling windows and DST edges with FakeClock. Both are thread-safe.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace nexus::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The wall clock. Real() is a process-wide instance that lives forever.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override;
  static Clock& Real();
};

// A clock that starts at a given instant and runs at the real rate from there (the hidden
// `serve --test-start-time`, for dialling tests).
class ShiftedClock final : public Clock {
 public:
  explicit ShiftedClock(absl::Time start);
  absl::Time Now() const override;

 private:
  absl::Duration offset_;
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  void Set(absl::Time t);
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nexus::core
