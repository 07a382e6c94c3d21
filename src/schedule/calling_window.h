// File: schedule/calling_window.h
//
// When may a call be placed? Pure functions of (rules, instant): no I/O, no clock, no globals.
//
// Contract. An instant t is OPEN iff, with c = the civil minute containing t in `rules.zone`
// (whole-minute precision: seconds are ignored) and m = c's minute of the day:
//   1. m lies in the batch window on an allowed day. Windows are half-open [start, end). A window
//      that crosses midnight belongs to the day it OPENS: 22:00-02:00 with only Friday allowed is
//      open Fri 22:00 -> Sat 02:00, and NOT Fri 00:00-02:00 (that part is Thursday's window);
//   2. and, when `rules.legal` is set, m lies in the legal window. The legal window applies every
//      day, so for it (crossing midnight or not) only the time of day matters.
// Daylight-saving time follows from this civil-minute definition, nothing more:
//   - spring forward: a window edge that does not exist that day (02:30 in America/New_York on
//     2026-03-08) means the window opens at the first instant whose local time is inside the
//     window (03:00 EDT, the transition itself); a window lying entirely in the gap does not open
//     that day;
//   - fall back: local times that happen twice (01:00-02:00 in New York on 2026-11-01) are open
//     both times, so a window can open, close when the clock jumps back out of it, and re-open;
//     09:00-17:00 simply lasts 8 hours of local time, i.e. 9 real hours when it spans the repeat.
// The zone is the call's (the row's timezone, else the batch's); loading it is the caller's job.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "domain/daily_window.h"

namespace nexus::schedule {

struct CallingRules {
  absl::TimeZone zone;          // the call's zone (row timezone, else batch's)
  domain::DailyWindow window;   // the batch's callingHour
  uint8_t allowed_days = 0x7f;  // bit d set = day d allowed, 0 = Sunday .. 6 = Saturday
  std::optional<domain::DailyWindow> legal;  // organization legal window, nullopt = off
};

// True when `t` is open under `rules` (see above). Infinite instants, and instants more than
// ~140 million years from 1970, are never open.
bool IsOpen(const CallingRules& rules, absl::Time t);

// Earliest instant >= t at which IsOpen is true: t itself when open, otherwise the start of a
// civil minute or a UTC-offset transition instant. absl::InfiniteFuture() when it never opens (no
// allowed days, or the batch window and the legal window never overlap on an allowed day), and
// for a t that IsOpen rejects outright (infinite or out of range). Cost: a few time-zone lookups
// (about 0.2 us), no per-minute stepping; the search spans at most ~16 civil days, which finds
// every opening of a weekly schedule that opens at all. DST is handled through absl's transition
// table, which covers DST zones up to about the year 2437.
absl::Time NextOpening(const CallingRules& rules, absl::Time t);

}  // namespace nexus::schedule
