#include "schedule/calling_window.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/splitmix64.h"

namespace nexus::schedule {
namespace {

using domain::DailyWindow;
using domain::TimeOfDay;

// allowed_days bits, 0 = Sunday .. 6 = Saturday.
constexpr uint8_t kSun = 1 << 0, kMon = 1 << 1, kTue = 1 << 2, kWed = 1 << 3, kThu = 1 << 4,
                  kFri = 1 << 5, kSat = 1 << 6;
constexpr uint8_t kWeekdays = kMon | kTue | kWed | kThu | kFri;
constexpr uint8_t kEveryDay = 0x7f;

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) ADD_FAILURE() << "cannot load time zone " << name;
  return zone;
}

// "HH:MM-HH:MM".
DailyWindow W(const std::string& text) {
  const auto part = [&](size_t at) {
    return TimeOfDay{std::stoi(text.substr(at, 2)) * 60 + std::stoi(text.substr(at + 3, 2))};
  };
  return DailyWindow{part(0), part(6)};
}

// RFC 3339 with its offset, e.g. "2026-03-08T03:00:00-04:00"; "never" is InfiniteFuture.
absl::Time T(const std::string& text) {
  if (text == "never") return absl::InfiniteFuture();
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    ADD_FAILURE() << "bad time " << text << ": " << error;
  }
  return t;
}

std::string Show(absl::Time t, const absl::TimeZone& zone) {
  if (t == absl::InfiniteFuture()) return "never";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez (%a)", t, zone);
}

struct Case {
  const char* name;
  const char* zone;
  const char* window;
  uint8_t days;
  const char* legal;  // nullptr = no legal window
  const char* t;
  const char* want;  // "never" = InfiniteFuture
};

CallingRules Rules(const Case& c) {
  CallingRules rules{Zone(c.zone), W(c.window), c.days, std::nullopt};
  if (c.legal != nullptr) rules.legal = W(c.legal);
  return rules;
}

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    const CallingRules rules = Rules(c);
    const absl::Time t = T(c.t);
    const absl::Time want = T(c.want);
    const absl::Time got = NextOpening(rules, t);
    EXPECT_EQ(got, want) << c.name << ": from " << Show(t, rules.zone) << " want "
                         << Show(want, rules.zone) << " got " << Show(got, rules.zone);
    EXPECT_EQ(IsOpen(rules, t), want == t) << c.name;
    if (want != absl::InfiniteFuture()) {
      EXPECT_TRUE(IsOpen(rules, want)) << c.name;
      if (want > t) {
        EXPECT_FALSE(IsOpen(rules, want - absl::Seconds(1))) << c.name;
      }
    }
  }
}

// 2026-01-09 is a Friday; New York is on EST (-05:00) all January.
TEST(CallingWindow, WeekdaysOnly) {
  RunCases({
      {"friday evening -> monday", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-09T21:00:00-05:00", "2026-01-12T09:00:00-05:00"},
      {"saturday -> monday", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-10T10:00:00-05:00", "2026-01-12T09:00:00-05:00"},
      {"sunday late -> monday", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-11T23:59:59-05:00", "2026-01-12T09:00:00-05:00"},
      {"before start", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-14T08:59:00-05:00", "2026-01-14T09:00:00-05:00"},
      {"exactly at start is open", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-14T09:00:00-05:00", "2026-01-14T09:00:00-05:00"},
      {"inside", "America/New_York", "09:00-17:00", kWeekdays, nullptr, "2026-01-14T12:34:56-05:00",
       "2026-01-14T12:34:56-05:00"},
      {"last second is open", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-14T16:59:59-05:00", "2026-01-14T16:59:59-05:00"},
      {"exactly at end is closed", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-14T17:00:00-05:00", "2026-01-15T09:00:00-05:00"},
      {"friday at end -> monday", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-09T17:00:00-05:00", "2026-01-12T09:00:00-05:00"},
      {"weekend only, from wednesday", "America/New_York", "10:00-12:00", kSat | kSun, nullptr,
       "2026-01-14T11:00:00-05:00", "2026-01-17T10:00:00-05:00"},
      {"sunday only, from sunday after", "America/New_York", "10:00-12:00", kSun, nullptr,
       "2026-01-11T12:00:00-05:00", "2026-01-18T10:00:00-05:00"},
  });
}

TEST(CallingWindow, CrossMidnightBelongsToTheDayItOpens) {
  RunCases({
      {"friday 01:00 is thursday's part", "America/New_York", "22:00-02:00", kFri, nullptr,
       "2026-01-09T01:00:00-05:00", "2026-01-09T22:00:00-05:00"},
      {"friday 21:59:59", "America/New_York", "22:00-02:00", kFri, nullptr,
       "2026-01-09T21:59:59-05:00", "2026-01-09T22:00:00-05:00"},
      {"friday 22:00 open", "America/New_York", "22:00-02:00", kFri, nullptr,
       "2026-01-09T22:00:00-05:00", "2026-01-09T22:00:00-05:00"},
      {"saturday 00:00 carries friday's window", "America/New_York", "22:00-02:00", kFri, nullptr,
       "2026-01-10T00:00:00-05:00", "2026-01-10T00:00:00-05:00"},
      {"saturday 01:59 open", "America/New_York", "22:00-02:00", kFri, nullptr,
       "2026-01-10T01:59:00-05:00", "2026-01-10T01:59:00-05:00"},
      {"saturday 02:00 closed -> next friday", "America/New_York", "22:00-02:00", kFri, nullptr,
       "2026-01-10T02:00:00-05:00", "2026-01-16T22:00:00-05:00"},
      {"saturday only: sunday 00:30 belongs to saturday", "America/New_York", "22:00-02:00", kSat,
       nullptr, "2026-01-11T00:30:00-05:00", "2026-01-11T00:30:00-05:00"},
      {"saturday only: saturday 00:30 is friday's", "America/New_York", "22:00-02:00", kSat,
       nullptr, "2026-01-10T00:30:00-05:00", "2026-01-10T22:00:00-05:00"},
      {"sunday only: monday 01:00 open", "America/New_York", "23:00-01:30", kSun, nullptr,
       "2026-01-12T01:00:00-05:00", "2026-01-12T01:00:00-05:00"},
      {"sunday only: sunday 01:00 is saturday's", "America/New_York", "23:00-01:30", kSun, nullptr,
       "2026-01-11T01:00:00-05:00", "2026-01-11T23:00:00-05:00"},
      {"every day: gap 02:00-22:00", "America/New_York", "22:00-02:00", kEveryDay, nullptr,
       "2026-01-14T12:00:00-05:00", "2026-01-14T22:00:00-05:00"},
      {"ends at midnight 00:00 is closed", "America/New_York", "20:00-00:00", kMon, nullptr,
       "2026-01-13T00:00:00-05:00", "2026-01-19T20:00:00-05:00"},
      {"ends at midnight 23:59 open", "America/New_York", "20:00-00:00", kMon, nullptr,
       "2026-01-12T23:59:00-05:00", "2026-01-12T23:59:00-05:00"},
  });
}

// The same rules and instant, three zones: the row's zone decides.
TEST(CallingWindow, RowZoneVersusBatchZone) {
  RunCases({
      {"new york 10:00 EST", "America/New_York", "09:00-17:00", kEveryDay, nullptr,
       "2026-01-14T15:00:00Z", "2026-01-14T15:00:00Z"},
      {"los angeles 07:00 PST", "America/Los_Angeles", "09:00-17:00", kEveryDay, nullptr,
       "2026-01-14T15:00:00Z", "2026-01-14T17:00:00Z"},
      {"tokyo 00:00 JST", "Asia/Tokyo", "09:00-17:00", kEveryDay, nullptr, "2026-01-14T15:00:00Z",
       "2026-01-15T00:00:00Z"},
      {"kathmandu 20:45 +05:45", "Asia/Kathmandu", "09:00-17:00", kEveryDay, nullptr,
       "2026-01-14T15:00:00Z", "2026-01-15T03:15:00Z"},
      {"weekdays: tokyo is already saturday", "Asia/Tokyo", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-16T15:30:00Z", "2026-01-19T00:00:00Z"},
      {"weekdays: new york is still friday", "America/New_York", "09:00-17:00", kWeekdays, nullptr,
       "2026-01-16T15:30:00Z", "2026-01-16T15:30:00Z"},
  });
}

TEST(CallingWindow, LegalWindowIntersects) {
  RunCases({
      {"08-21 within 07-22: 07:30", "America/New_York", "08:00-21:00", kEveryDay, "07:00-22:00",
       "2026-01-14T07:30:00-05:00", "2026-01-14T08:00:00-05:00"},
      {"08-21 within 07-22: 21:00", "America/New_York", "08:00-21:00", kEveryDay, "07:00-22:00",
       "2026-01-14T21:00:00-05:00", "2026-01-15T08:00:00-05:00"},
      {"07-22 narrowed by 08-21: 07:30", "America/New_York", "07:00-22:00", kEveryDay,
       "08:00-21:00", "2026-01-14T07:30:00-05:00", "2026-01-14T08:00:00-05:00"},
      {"07-22 narrowed by 08-21: 21:30", "America/New_York", "07:00-22:00", kEveryDay,
       "08:00-21:00", "2026-01-14T21:30:00-05:00", "2026-01-15T08:00:00-05:00"},
      {"no legal: 07:30 open", "America/New_York", "07:00-22:00", kEveryDay, nullptr,
       "2026-01-14T07:30:00-05:00", "2026-01-14T07:30:00-05:00"},
      {"no legal: 21:30 open", "America/New_York", "07:00-22:00", kEveryDay, nullptr,
       "2026-01-14T21:30:00-05:00", "2026-01-14T21:30:00-05:00"},
      {"disjoint", "America/New_York", "09:00-12:00", kEveryDay, "13:00-17:00",
       "2026-01-14T07:30:00-05:00", "never"},
      {"touching is disjoint", "America/New_York", "09:00-13:00", kEveryDay, "13:00-17:00",
       "2026-01-14T07:30:00-05:00", "never"},
      {"cross-midnight batch, two segments: 10:00 -> 20:00", "America/New_York", "20:00-10:00",
       kEveryDay, "08:00-21:00", "2026-01-14T10:00:00-05:00", "2026-01-14T20:00:00-05:00"},
      {"cross-midnight batch, two segments: 21:00 -> 08:00", "America/New_York", "20:00-10:00",
       kEveryDay, "08:00-21:00", "2026-01-14T21:00:00-05:00", "2026-01-15T08:00:00-05:00"},
      {"cross-midnight batch, two segments: 09:59 open", "America/New_York", "20:00-10:00",
       kEveryDay, "08:00-21:00", "2026-01-14T09:59:00-05:00", "2026-01-14T09:59:00-05:00"},
      {"cross-midnight legal: 09:00 -> 21:00", "America/New_York", "08:00-22:00", kEveryDay,
       "21:00-09:00", "2026-01-14T09:00:00-05:00", "2026-01-14T21:00:00-05:00"},
      {"both cross: 22:30 -> 23:00", "America/New_York", "22:00-06:00", kEveryDay, "23:00-05:00",
       "2026-01-14T22:30:00-05:00", "2026-01-14T23:00:00-05:00"},
      {"both cross: 05:00 -> 23:00", "America/New_York", "22:00-06:00", kEveryDay, "23:00-05:00",
       "2026-01-15T05:00:00-05:00", "2026-01-15T23:00:00-05:00"},
      // Batch 20:00-10:00 (Wednesday only) and legal 09:00-05:00 leave three segments per day:
      // 00:00-05:00 and 09:00-10:00 (Thursday, carried over) and 20:00-24:00 (Wednesday).
      {"three segments: wed 19:00 -> 20:00", "America/New_York", "20:00-10:00", kWed, "09:00-05:00",
       "2026-01-14T19:00:00-05:00", "2026-01-14T20:00:00-05:00"},
      {"three segments: thu 04:59 open", "America/New_York", "20:00-10:00", kWed, "09:00-05:00",
       "2026-01-15T04:59:00-05:00", "2026-01-15T04:59:00-05:00"},
      {"three segments: thu 05:00 -> 09:00", "America/New_York", "20:00-10:00", kWed, "09:00-05:00",
       "2026-01-15T05:00:00-05:00", "2026-01-15T09:00:00-05:00"},
      {"three segments: thu 10:00 -> next wed", "America/New_York", "20:00-10:00", kWed,
       "09:00-05:00", "2026-01-15T10:00:00-05:00", "2026-01-21T20:00:00-05:00"},
      {"three segments: wed 09:30 is tuesday's", "America/New_York", "20:00-10:00", kWed,
       "09:00-05:00", "2026-01-14T09:30:00-05:00", "2026-01-14T20:00:00-05:00"},
      {"legal excludes allowed day", "America/New_York", "22:00-02:00", kFri, "00:00-08:00",
       "2026-01-09T12:00:00-05:00", "2026-01-10T00:00:00-05:00"},
  });
}

TEST(CallingWindow, NoAllowedDaysNeverOpens) {
  RunCases({
      {"no days", "America/New_York", "09:00-17:00", 0, nullptr, "2026-01-14T12:00:00-05:00",
       "never"},
      {"no days, cross-midnight", "Europe/London", "22:00-02:00", 0, nullptr,
       "2026-01-14T23:00:00Z", "never"},
      {"bit 7 only is no day", "Europe/London", "09:00-17:00", 0x80, nullptr,
       "2026-01-14T12:00:00Z", "never"},
  });
}

// New York 2026: spring forward Sun 03-08 02:00 EST -> 03:00 EDT (07:00Z); fall back Sun 11-01
// 02:00 EDT -> 01:00 EST (06:00Z).
TEST(CallingWindow, DstNewYork) {
  RunCases({
      {"spring: edge 02:30 missing -> 03:00 EDT", "America/New_York", "02:30-05:00", kEveryDay,
       nullptr, "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"},
      {"spring: 01:59:59 EST closed", "America/New_York", "02:30-05:00", kEveryDay, nullptr,
       "2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00"},
      {"spring: window inside the gap -> next day", "America/New_York", "02:00-02:45", kEveryDay,
       nullptr, "2026-03-08T01:00:00-05:00", "2026-03-09T02:00:00-04:00"},
      {"spring: sunday-only window inside the gap -> next sunday", "America/New_York",
       "02:00-02:45", kSun, nullptr, "2026-03-08T01:00:00-05:00", "2026-03-15T02:00:00-04:00"},
      {"spring: window ends in the gap, open before", "America/New_York", "01:00-02:30", kEveryDay,
       nullptr, "2026-03-08T01:59:00-05:00", "2026-03-08T01:59:00-05:00"},
      {"spring: window ends in the gap, closed after", "America/New_York", "01:00-02:30", kEveryDay,
       nullptr, "2026-03-08T03:00:00-04:00", "2026-03-09T01:00:00-04:00"},
      {"spring: 09:00 EDT", "America/New_York", "09:00-17:00", kEveryDay, nullptr,
       "2026-03-08T01:00:00-05:00", "2026-03-08T09:00:00-04:00"},
      {"spring: saturday cross-midnight cut at the jump", "America/New_York", "22:00-02:30", kSat,
       nullptr, "2026-03-08T03:00:00-04:00", "2026-03-14T22:00:00-04:00"},
      {"spring: saturday cross-midnight before the jump", "America/New_York", "22:00-02:30", kSat,
       nullptr, "2026-03-08T01:59:00-05:00", "2026-03-08T01:59:00-05:00"},
      {"spring: legal edge in the gap", "America/New_York", "00:00-12:00", kEveryDay, "02:15-23:00",
       "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"},
      {"fall: first 01:30", "America/New_York", "01:30-03:00", kEveryDay, nullptr,
       "2026-11-01T00:00:00-04:00", "2026-11-01T01:30:00-04:00"},
      {"fall: second 01:45 open", "America/New_York", "01:30-03:00", kEveryDay, nullptr,
       "2026-11-01T01:45:00-05:00", "2026-11-01T01:45:00-05:00"},
      {"fall: jump back to 01:00 EST is closed", "America/New_York", "01:30-03:00", kEveryDay,
       nullptr, "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"},
      {"fall: re-opens at the transition", "America/New_York", "00:30-01:15", kEveryDay, nullptr,
       "2026-11-01T01:20:00-04:00", "2026-11-01T01:00:00-05:00"},
      {"fall: after the second close -> next day", "America/New_York", "00:30-01:15", kEveryDay,
       nullptr, "2026-11-01T01:15:00-05:00", "2026-11-02T00:30:00-05:00"},
      {"fall: second occurrence of the start", "America/New_York", "01:30-01:45", kEveryDay,
       nullptr, "2026-11-01T01:50:00-04:00", "2026-11-01T01:30:00-05:00"},
      {"fall: 09:00 EST", "America/New_York", "09:00-17:00", kEveryDay, nullptr,
       "2026-11-01T01:30:00-04:00", "2026-11-01T09:00:00-05:00"},
      {"fall: saturday cross-midnight lasts through the repeat", "America/New_York", "22:00-01:30",
       kSat, nullptr, "2026-11-01T01:10:00-05:00", "2026-11-01T01:10:00-05:00"},
  });
}

// London 2026: spring forward Sun 03-29 01:00 GMT -> 02:00 BST (01:00Z); fall back Sun 10-25
// 02:00 BST -> 01:00 GMT (01:00Z).
TEST(CallingWindow, DstLondon) {
  RunCases({
      {"spring: window inside the gap -> next day", "Europe/London", "01:15-01:45", kEveryDay,
       nullptr, "2026-03-29T00:30:00+00:00", "2026-03-30T01:15:00+01:00"},
      {"spring: edge in the gap -> 02:00 BST", "Europe/London", "01:30-09:00", kEveryDay, nullptr,
       "2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00"},
      {"spring: 09:00 BST", "Europe/London", "09:00-17:00", kEveryDay, nullptr,
       "2026-03-29T00:30:00+00:00", "2026-03-29T09:00:00+01:00"},
      {"fall: 01:59 BST open", "Europe/London", "01:30-02:00", kEveryDay, nullptr,
       "2026-10-25T01:59:00+01:00", "2026-10-25T01:59:00+01:00"},
      {"fall: 01:00 GMT -> 01:30 GMT", "Europe/London", "01:30-02:00", kEveryDay, nullptr,
       "2026-10-25T01:00:00+00:00", "2026-10-25T01:30:00+00:00"},
      {"fall: re-opens at the transition", "Europe/London", "00:00-01:10", kEveryDay, nullptr,
       "2026-10-25T01:10:00+01:00", "2026-10-25T01:00:00+00:00"},
      {"fall: legal window re-opens at the transition", "Europe/London", "00:00-23:00", kEveryDay,
       "22:00-01:10", "2026-10-25T01:10:00+01:00", "2026-10-25T01:00:00+00:00"},
  });
}

// Lord Howe 2026 (half-hour DST): fall back Sun 04-05 02:00 +11 -> 01:30 +10:30 (04-04 15:00Z);
// spring forward Sun 10-04 02:00 +10:30 -> 02:30 +11 (10-03 15:30Z).
TEST(CallingWindow, DstLordHowe) {
  RunCases({
      {"spring: edge in the gap -> 02:30", "Australia/Lord_Howe", "02:10-04:00", kEveryDay, nullptr,
       "2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00"},
      {"spring: window inside the gap -> next day", "Australia/Lord_Howe", "02:00-02:30", kEveryDay,
       nullptr, "2026-10-04T01:00:00+10:30", "2026-10-05T02:00:00+11:00"},
      {"spring: window starting right after the gap", "Australia/Lord_Howe", "02:30-03:00",
       kEveryDay, nullptr, "2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00"},
      {"spring: sunday only, gap -> next sunday", "Australia/Lord_Howe", "02:00-02:30", kSun,
       nullptr, "2026-10-04T01:59:00+10:30", "2026-10-11T02:00:00+11:00"},
      {"fall: first 01:45", "Australia/Lord_Howe", "01:45-03:00", kEveryDay, nullptr,
       "2026-04-05T01:00:00+11:00", "2026-04-05T01:45:00+11:00"},
      {"fall: jump back to 01:30 closed -> second 01:45", "Australia/Lord_Howe", "01:45-03:00",
       kEveryDay, nullptr, "2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30"},
      {"fall: re-opens at the transition", "Australia/Lord_Howe", "01:00-01:40", kEveryDay, nullptr,
       "2026-04-05T01:50:00+11:00", "2026-04-05T01:30:00+10:30"},
      {"fall: 09:00 +10:30", "Australia/Lord_Howe", "09:00-17:00", kEveryDay, nullptr,
       "2026-04-05T01:50:00+11:00", "2026-04-05T09:00:00+10:30"},
  });
}

// St. John's until 2011 changed clocks at 00:01, so falling back crossed midnight backwards: on
// Sun 2010-11-07 00:00:59 NDT (-02:30) the clock went back to Sat 23:01 NST (-03:30), and on Sun
// 2010-03-14 00:00:59 NST it jumped to 01:01 NDT.
TEST(CallingWindow, DstAcrossMidnightStJohns) {
  RunCases({
      {"fall: from sunday back into saturday's window", "America/St_Johns", "23:30-23:59", kSat,
       nullptr, "2010-11-07T00:00:30-02:30", "2010-11-06T23:30:00-03:30"},
      {"fall: the jump lands in saturday's window", "America/St_Johns", "23:00-23:10", kSat,
       nullptr, "2010-11-07T00:00:00-02:30", "2010-11-06T23:01:00-03:30"},
      {"fall: sunday 00:00 happens again after the repeat", "America/St_Johns", "00:00-00:01", kSun,
       nullptr, "2010-11-06T23:59:00-03:30", "2010-11-07T00:00:00-03:30"},
      {"spring: window inside the gap -> next day", "America/St_Johns", "00:30-01:00", kEveryDay,
       nullptr, "2010-03-14T00:00:00-03:30", "2010-03-15T00:30:00-02:30"},
      {"spring: edge in the gap -> 01:01 NDT", "America/St_Johns", "00:30-02:00", kEveryDay,
       nullptr, "2010-03-14T00:00:00-03:30", "2010-03-14T01:01:00-02:30"},
  });
}

TEST(CallingWindow, InfiniteAndFarInstants) {
  const CallingRules rules{Zone("America/New_York"), W("09:00-17:00"), kEveryDay, std::nullopt};
  EXPECT_FALSE(IsOpen(rules, absl::InfiniteFuture()));
  EXPECT_FALSE(IsOpen(rules, absl::InfinitePast()));
  EXPECT_EQ(NextOpening(rules, absl::InfiniteFuture()), absl::InfiniteFuture());
  EXPECT_EQ(NextOpening(rules, absl::InfinitePast()), absl::InfiniteFuture());
  // Far beyond civil-time arithmetic: rejected, not overflowed (UBSan would see it).
  for (const int64_t far : {int64_t{1} << 60, -(int64_t{1} << 60)}) {
    EXPECT_FALSE(IsOpen(rules, absl::FromUnixSeconds(far)));
    EXPECT_EQ(NextOpening(rules, absl::FromUnixSeconds(far)), absl::InfiniteFuture());
  }
}

// ---------------------------------------------------------------------------------------------
// Property test against an oracle written from the definition, not from the library: a civil
// minute c is open when some window opening at (day of c or the day before) + start, on an
// allowed day, lasts past c; and likewise for the legal window on any day.

int SundayIndex(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::sunday:
      return 0;
    case absl::Weekday::monday:
      return 1;
    case absl::Weekday::tuesday:
      return 2;
    case absl::Weekday::wednesday:
      return 3;
    case absl::Weekday::thursday:
      return 4;
    case absl::Weekday::friday:
      return 5;
    case absl::Weekday::saturday:
      return 6;
  }
  return -1;
}

bool Covers(const DailyWindow& window, uint8_t days, absl::CivilMinute c) {
  const int length = (window.end.minutes - window.start.minutes + 1440) % 1440;
  for (const absl::CivilDay day : {absl::CivilDay(c) - 1, absl::CivilDay(c)}) {
    if (((days >> SundayIndex(day)) & 1) == 0) continue;
    const absl::CivilMinute opens = absl::CivilMinute(day) + window.start.minutes;
    if (opens <= c && c < opens + length) return true;
  }
  return false;
}

bool OracleOpenCivil(const CallingRules& rules, absl::CivilMinute c) {
  return Covers(rules.window, rules.allowed_days, c) &&
         (!rules.legal || Covers(*rules.legal, kEveryDay, c));
}

bool OracleOpen(const CallingRules& rules, absl::Time t) {
  return OracleOpenCivil(rules, absl::ToCivilMinute(t, rules.zone));
}

// Whether the weekly pattern has any open minute at all (pure civil time, no zone).
bool OracleEverOpen(const CallingRules& rules) {
  const absl::CivilMinute sunday(2024, 1, 7);  // a Sunday
  for (int m = 0; m < 8 * 1440; ++m) {
    if (OracleOpenCivil(rules, sunday + m)) return true;
  }
  return false;
}

std::string Describe(const CallingRules& rules, absl::Time t) {
  std::string out = rules.zone.name() + " window " + std::to_string(rules.window.start.minutes) +
                    "-" + std::to_string(rules.window.end.minutes) + " days " +
                    std::to_string(rules.allowed_days) + " legal ";
  out += rules.legal ? std::to_string(rules.legal->start.minutes) + "-" +
                           std::to_string(rules.legal->end.minutes)
                     : "none";
  return out + " t " + Show(t, rules.zone) + " = " + absl::FormatTime(t);
}

TEST(CallingWindowProperty, OracleAgreesOnRandomCases) {
  const std::vector<std::string> names = {
      "Australia/Lord_Howe", "Asia/Kathmandu",    "America/St_Johns",    "Pacific/Chatham",
      "Europe/London",       "America/New_York",  "Asia/Tokyo",          "Australia/Adelaide",
      "America/Santiago",    "Africa/Casablanca", "America/Los_Angeles", "America/Chicago",
      "America/Phoenix",     "Pacific/Honolulu",  "America/Havana",      "Asia/Tehran",
      "Asia/Kolkata",        "Europe/Berlin",     "Pacific/Auckland",    "Asia/Gaza",
      "America/Asuncion",    "Australia/Sydney",  "Asia/Beirut",         "Europe/Dublin",
      "Antarctica/Troll",    "America/Nuuk",      "Pacific/Kiritimati",  "America/Scoresbysund"};
  std::vector<absl::TimeZone> zones;
  for (const std::string& name : names) zones.push_back(Zone(name));

  core::SplitMix64 rng(20260308);
  const int64_t from = absl::ToUnixSeconds(T("2020-01-01T00:00:00Z"));
  const int64_t to = absl::ToUnixSeconds(T("2035-12-31T00:00:00Z"));
  // Edges near the small hours, where DST transitions happen, half the time.
  const auto random_minute = [&] {
    return rng.Percent(50) ? static_cast<int>(rng.Below(1440))
                           : static_cast<int>(rng.Below(16)) * 15;
  };
  const auto random_window = [&] {
    DailyWindow window{{random_minute()}, {random_minute()}};
    while (window.end == window.start) window.end.minutes = random_minute();
    return window;
  };

  constexpr int kCases = 3000;
  int finite = 0, moved = 0, near_transition = 0;
  for (int i = 0; i < kCases; ++i) {
    CallingRules rules{zones[rng.Below(zones.size())], random_window(),
                       static_cast<uint8_t>(1 + rng.Below(127)), std::nullopt};
    if (rng.Percent(60)) rules.legal = random_window();
    absl::Time t = absl::FromUnixSeconds(from + static_cast<int64_t>(rng.Below(to - from)));
    absl::TimeZone::CivilTransition transition;
    if (rng.Percent(40) && rules.zone.NextTransition(t, &transition)) {
      // Within two days, or three hours, either side of a transition.
      const int64_t span = rng.Percent(50) ? 2 * 86400 : 3 * 3600;
      t = rules.zone.At(transition.to).trans +
          absl::Seconds(static_cast<int64_t>(rng.Below(2 * span)) - span);
      ++near_transition;
    }
    if (rng.Percent(20)) t = absl::FromUnixSeconds(absl::ToUnixSeconds(t) / 60 * 60);
    SCOPED_TRACE(Describe(rules, t));

    ASSERT_EQ(IsOpen(rules, t), OracleOpen(rules, t));
    const absl::Time next = NextOpening(rules, t);
    ASSERT_GE(next, t);
    if (next == absl::InfiniteFuture()) {
      ASSERT_FALSE(OracleEverOpen(rules));
      continue;
    }
    ++finite;
    ASSERT_TRUE(IsOpen(rules, next)) << "next " << Show(next, rules.zone);
    ASSERT_TRUE(OracleOpen(rules, next)) << "next " << Show(next, rules.zone);
    if (OracleOpen(rules, t)) {
      ASSERT_EQ(next, t);
      continue;
    }
    ++moved;
    ASSERT_LE(next - t, absl::Hours(16 * 24)) << "next " << Show(next, rules.zone);
    // Every offset here is a whole number of minutes and every transition is on a minute, so
    // openness can only change on UTC minute boundaries: check each one in (t, next).
    for (absl::Time u = absl::FromUnixSeconds(absl::ToUnixSeconds(t) / 60 * 60 + 60); u < next;
         u += absl::Minutes(1)) {
      ASSERT_FALSE(OracleOpen(rules, u))
          << "open earlier at " << Show(u, rules.zone) << ", next " << Show(next, rules.zone);
    }
    ASSERT_EQ(absl::ToUnixSeconds(next) % 60, 0) << "next " << Show(next, rules.zone);
  }
  // The generator really exercised the interesting paths.
  EXPECT_GT(finite, kCases / 2);
  EXPECT_GT(moved, kCases / 4);
  EXPECT_GT(near_transition, kCases / 4);
}

}  // namespace
}  // namespace nexus::schedule
