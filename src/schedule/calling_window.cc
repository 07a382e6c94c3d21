#include "schedule/calling_window.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "absl/time/civil_time.h"

namespace nexus::schedule {
namespace {

// Civil times are handled as "local seconds": seconds since 1970-01-01 00:00 of the civil calendar
// (no zone), so day and minute arithmetic is plain integer arithmetic.
constexpr int64_t kSecondsPerDay = 24 * 3600;
constexpr int kMinutesPerDay = 24 * 60;
constexpr absl::CivilSecond kLocalEpoch(1970, 1, 1, 0, 0, 0);
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Instants further than this from 1970 (about 140 million years) are never open: it keeps the
// local-seconds arithmetic far from overflow.
constexpr int64_t kMaxUnixSeconds = int64_t{1} << 52;
// How far civil time may run against absolute time: the largest backward jump of a UTC offset
// allowed for (modern ones are an hour or two; Pacific/Kwajalein's 1969 jump was 23 h).
// Candidates more than this much earlier in civil time than t cannot be >= t, and candidates more
// than this much later in civil time than the best one cannot be earlier than it.
constexpr int64_t kCivilSlackSeconds = 26 * 3600;
// Civil days the transition-aware search covers after t's day. A weekly schedule that opens at
// all opens within 8 days; the margin covers windows that DST gaps swallow.
constexpr int kSearchDays = 16;
// Safety cap on the transitions looked at between t and the best candidate.
constexpr int kMaxTransitions = 64;

int64_t FloorDiv(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return a % b < 0 ? q - 1 : q;
}

int64_t ToLocal(absl::CivilSecond civil) { return civil - kLocalEpoch; }
absl::CivilSecond FromLocal(int64_t local) { return kLocalEpoch + local; }

// 0 = Sunday .. 6 = Saturday, as in CallingRules::allowed_days, of the civil day number `day`
// (days since 1970-01-01, a Thursday).
int DayIndex(int64_t day) {
  const int64_t r = (day + 4) % 7;
  return static_cast<int>(r < 0 ? r + 7 : r);
}

bool Allowed(const CallingRules& rules, int day_index) {
  return (rules.allowed_days >> day_index) & 1;
}

// A set of minutes of one civil day: sorted, disjoint [start, end) intervals within 0..1440.
struct MinuteSet {
  struct Interval {
    int start = 0;
    int end = 0;
  };
  std::array<Interval, 4> items{};  // initialised: GCC 12 -O3 warns otherwise
  int size = 0;
  void Add(int start, int end) {
    if (start < end) items[size++] = {start, end};
  }
};

// The open minutes of a civil day whose weekday is `day_index`.
MinuteSet OpenMinutes(const CallingRules& rules, int day_index) {
  const int s = rules.window.start.minutes;
  const int e = rules.window.end.minutes;
  MinuteSet batch;
  if (!rules.window.CrossesMidnight()) {
    if (Allowed(rules, day_index)) batch.Add(s, e);
  } else {
    if (Allowed(rules, (day_index + 6) % 7)) batch.Add(0, e);  // yesterday's window, carried over
    if (Allowed(rules, day_index)) batch.Add(s, kMinutesPerDay);
  }
  if (!rules.legal) return batch;

  MinuteSet legal;
  const int ls = rules.legal->start.minutes;
  const int le = rules.legal->end.minutes;
  if (ls < le) {
    legal.Add(ls, le);
  } else {
    legal.Add(0, le);
    legal.Add(ls, kMinutesPerDay);
  }
  // Both inputs are sorted and disjoint, so the intersections come out sorted and disjoint: all
  // of batch interval i lies before batch interval i + 1, and likewise for the legal ones.
  MinuteSet out;
  for (int i = 0; i < batch.size; ++i) {
    for (int j = 0; j < legal.size; ++j) {
      out.Add(std::max(batch.items[i].start, legal.items[j].start),
              std::min(batch.items[i].end, legal.items[j].end));
    }
  }
  return out;
}

bool InWindow(const domain::DailyWindow& window, int minute) {
  const int s = window.start.minutes;
  const int e = window.end.minutes;
  return s < e ? s <= minute && minute < e : minute >= s || minute < e;
}

// Whether the civil minute containing `local` is open.
bool IsOpenLocal(const CallingRules& rules, int64_t local) {
  const int64_t day = FloorDiv(local, kSecondsPerDay);
  const int minute = static_cast<int>(local - day * kSecondsPerDay) / 60;
  bool in_batch = false;
  if (!rules.window.CrossesMidnight()) {
    in_batch = InWindow(rules.window, minute) && Allowed(rules, DayIndex(day));
  } else if (minute >= rules.window.start.minutes) {
    in_batch = Allowed(rules, DayIndex(day));
  } else if (minute < rules.window.end.minutes) {
    in_batch = Allowed(rules, DayIndex(day - 1));  // yesterday's window
  }
  return in_batch && (!rules.legal || InWindow(*rules.legal, minute));
}

// The first start of an open interval strictly after civil time `now`, looking at most 8 days
// past now's day (a whole week and more); kNever when there is none, i.e. the weekly pattern is
// empty. Pure civil time: no zone.
int64_t FirstStartAfter(const CallingRules& rules, int64_t now) {
  const int64_t today = FloorDiv(now, kSecondsPerDay);
  for (int64_t day = today; day <= today + 8; ++day) {
    const MinuteSet open = OpenMinutes(rules, DayIndex(day));
    for (int i = 0; i < open.size; ++i) {
      const int64_t start = day * kSecondsPerDay + open.items[i].start * 60;
      if (start > now) return start;
    }
  }
  return kNever;
}

// The general search, for when a UTC-offset transition may come first. Every opening after t is
// either the instant a civil time reaches an open interval's start (once, or twice when a
// fall-back repeats it) or a transition that jumps into an open interval.
absl::Time NextOpeningAcrossTransitions(const CallingRules& rules, absl::Time t, int64_t now) {
  // First the interval starts, day by day in civil order.
  absl::Time best = absl::InfiniteFuture();
  int64_t best_local = kNever;
  const int64_t today = FloorDiv(now, kSecondsPerDay);
  for (int64_t day = today - 1; day <= today + kSearchDays; ++day) {
    const int64_t midnight = day * kSecondsPerDay;
    if (best_local != kNever && midnight - best_local > kCivilSlackSeconds) break;
    const MinuteSet open = OpenMinutes(rules, DayIndex(day));
    for (int i = 0; i < open.size; ++i) {
      const int64_t start = midnight + open.items[i].start * 60;
      if (now - start > kCivilSlackSeconds) continue;  // long before t
      if (best_local != kNever && start - best_local > kCivilSlackSeconds) break;
      const absl::TimeZone::TimeInfo info = rules.zone.At(FromLocal(start));
      switch (info.kind) {
        case absl::TimeZone::TimeInfo::UNIQUE:
          if (info.pre > t && info.pre < best) best = info.pre, best_local = start;
          break;
        case absl::TimeZone::TimeInfo::REPEATED:
          // Both occurrences are open; the earlier one after t wins.
          if (info.pre > t && info.pre < best) {
            best = info.pre, best_local = start;
          } else if (info.post > t && info.post < best) {
            best = info.post, best_local = start;
          }
          break;
        case absl::TimeZone::TimeInfo::SKIPPED:
          // The start does not exist that day: the window opens (if at all) when the clock jumps
          // into it, which the transition scan below finds.
          break;
      }
    }
  }

  // Then transitions in (t, best) that jump into an open interval: a spring-forward over a
  // window's start (02:00 -> 03:00 into 02:30-05:00), or a fall-back into the middle of one
  // (02:00 -> 01:00 into 00:30-01:30, which closed at 01:30 the first time round).
  const absl::Time limit =
      best != absl::InfiniteFuture() ? best : t + absl::Hours(24 * (kSearchDays + 2));
  absl::Time from = t;
  absl::TimeZone::CivilTransition transition;
  for (int n = 0; n < kMaxTransitions && rules.zone.NextTransition(from, &transition); ++n) {
    const absl::Time at = rules.zone.At(transition.to).trans;
    if (at <= from || at >= limit) break;
    if (IsOpenLocal(rules, ToLocal(transition.to))) return at;
    from = at;
  }
  return best;
}

bool OutOfRange(absl::Time t) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  return seconds > kMaxUnixSeconds || seconds < -kMaxUnixSeconds;
}

}  // namespace

bool IsOpen(const CallingRules& rules, absl::Time t) {
  if (OutOfRange(t)) return false;  // includes the infinite instants
  return IsOpenLocal(rules, absl::ToUnixSeconds(t) + rules.zone.At(t).offset);
}

absl::Time NextOpening(const CallingRules& rules, absl::Time t) {
  if (OutOfRange(t)) return absl::InfiniteFuture();
  const int offset = rules.zone.At(t).offset;
  const int64_t now = absl::ToUnixSeconds(t) + offset;  // t's civil second (ToUnixSeconds floors)
  if (IsOpenLocal(rules, now)) return t;

  const int64_t first = FirstStartAfter(rules, now);
  if (first == kNever) return absl::InfiniteFuture();
  // Fast path: until the zone's next transition the offset stays `offset`, so civil time runs with
  // absolute time and the first interval start after now is the opening, if it comes before the
  // transition (at civil time transition.from on the old offset).
  absl::TimeZone::CivilTransition transition;
  if (!rules.zone.NextTransition(t, &transition) || first < ToLocal(transition.from)) {
    return absl::FromUnixSeconds(first - offset);
  }
  return NextOpeningAcrossTransitions(rules, t, now);
}

}  // namespace nexus::schedule
