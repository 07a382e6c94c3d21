#include "store/call_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_escape.h"
#include "domain/batch.h"
#include "store/search_text.h"
#include "store/store.h"

namespace nexus::store {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using CallState = CallIndex::CallState;
using SortKey = CallQuery::SortKey;
using domain::CallStatus;

// --- helpers ---------------------------------------------------------------------------------

// One call as a test describes it: the phone number and, per batch variable key, its value
// (nullopt: the call lacks that variable).
struct TestCall {
  std::string phone;
  std::vector<std::optional<std::string>> values;
  CallState state;
};

// `values` (one per key) as a JSON object, the members in key order.
std::string VariablesJson(std::span<const std::string> keys,
                          std::span<const std::optional<std::string>> values) {
  std::string json = "{";
  for (size_t i = 0; i < keys.size() && i < values.size(); ++i) {
    if (!values[i]) continue;
    if (json.size() > 1) json += ',';
    core::AppendJsonString(json, keys[i]);
    json += ':';
    core::AppendJsonString(json, *values[i]);
  }
  json += '}';
  return json;
}

CallIndex Build(std::span<const std::string> keys, std::span<const TestCall> calls,
                int64_t change_seq = 0) {
  CallIndex::Builder builder(keys, calls.size());
  for (const TestCall& call : calls) {
    EXPECT_TRUE(builder.Add(call.phone, VariablesJson(keys, call.values), call.state))
        << call.phone;
  }
  return std::move(builder).Finish(change_seq);
}

// Every match of `query` (whatever its page), in its order.
std::vector<int64_t> AllSeqs(const CallIndex& index, CallQuery query) {
  query.offset = 0;
  query.limit = index.size() + 1;
  const std::optional<CallIndex::Page> page = index.Query(query);
  EXPECT_TRUE(page.has_value());
  if (!page) return {};
  EXPECT_EQ(page->total, static_cast<int64_t>(page->seqs.size()));
  return page->seqs;
}

// The seqs whose calls `term` finds, in row order.
std::vector<int64_t> Search(const CallIndex& index, std::string_view term) {
  CallQuery query;
  query.search = std::string(term);
  query.descending = false;
  return AllSeqs(index, query);
}

const std::vector<std::string> kNameCity = {"name", "city"};

// Whether the one call (phone, {name, city}) is found by `term`, checked against CallMatches (the
// rule the SQL path applies) on the way.
bool Finds(std::string_view phone, std::optional<std::string> name, std::optional<std::string> city,
           std::string_view term) {
  const std::vector<TestCall> calls = {
      {std::string(phone), {std::move(name), std::move(city)}, {}}};
  const CallIndex index = Build(kNameCity, calls);
  const bool found = !Search(index, term).empty();
  EXPECT_EQ(found, CallMatches(phone, VariablesJson(kNameCity, calls[0].values), Folded(term)))
      << "index and CallMatches disagree on term \"" << term << "\"";
  return found;
}

bool Finds(std::string_view name, std::string_view term) {
  return Finds("+12125550100", std::string(name), std::nullopt, term);
}

// --- search ----------------------------------------------------------------------------------

TEST(CallIndexTest, SearchIgnoresAsciiCaseBothWays) {
  EXPECT_TRUE(Finds("Emily DAVIS", "emily"));
  EXPECT_TRUE(Finds("Emily DAVIS", "EMILY"));
  EXPECT_TRUE(Finds("Emily DAVIS", "davis"));
  EXPECT_TRUE(Finds("Emily DAVIS", "dAvIs"));
  EXPECT_TRUE(Finds("emily davis", "EMILY DAVIS"));
  EXPECT_TRUE(Finds("Emily DAVIS", "y D"));
  EXPECT_FALSE(Finds("Emily DAVIS", "emilyd"));
  EXPECT_FALSE(Finds("Emily DAVIS", "davis "));
}

TEST(CallIndexTest, SearchFoldsNonAsciiText) {
  // "JOSÉ" finds "José" and the other way round; "é" alone finds both cases.
  EXPECT_TRUE(Finds("Jos\xC3\xA9", "JOS\xC3\x89"));
  EXPECT_TRUE(Finds("JOS\xC3\x89", "jos\xC3\xA9"));
  EXPECT_TRUE(Finds("Jos\xC3\xA9", "\xC3\xA9"));
  EXPECT_TRUE(Finds("JOS\xC3\x89", "\xC3\xA9"));
  EXPECT_TRUE(Finds("JOS\xC3\x89", "\xC3\x89"));
  EXPECT_TRUE(Finds("Jos\xC3\xA9", "jos"));  // an ASCII term in a call that is not all ASCII
  EXPECT_FALSE(Finds("Jose", "jos\xC3\xA9"));
  EXPECT_FALSE(Finds("Jos\xC3\xA9", "jose"));
  // U+212A KELVIN SIGN folds to "k": an ASCII term finds it.
  EXPECT_TRUE(Finds("5 \xE2\x84\xAA", "k"));
  EXPECT_TRUE(Finds("5 \xE2\x84\xAA", "5 K"));
  EXPECT_TRUE(Finds("5 k", "\xE2\x84\xAA"));
  // U+017F LATIN SMALL LETTER LONG S folds to "s".
  EXPECT_TRUE(
      Finds("Ro\xC5\xBF"
            "e",
            "ROSE"));
  EXPECT_TRUE(Finds("Rose", "\xC5\xBF"));
  // Simple folding only: "ß" is not "ss"; U+1E9E (capital sharp s) folds to "ß".
  EXPECT_FALSE(
      Finds("Stra\xC3\x9F"
            "e",
            "strasse"));
  EXPECT_FALSE(Finds("Strasse",
                     "stra\xC3\x9F"
                     "e"));
  EXPECT_FALSE(Finds("STRASSE", "\xC3\x9F"));
  EXPECT_TRUE(
      Finds("STRA\xE1\xBA\x9E"
            "E",
            "stra\xC3\x9F"
            "e"));
  // Greek: capital sigma and final sigma both fold to sigma.
  EXPECT_TRUE(Finds("\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x99\xCE\x91", "\xCF\x83\xCE\xBF\xCF\x86"));
  EXPECT_TRUE(Finds("\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x99\xCE\x91", "\xCF\x82"));
  EXPECT_TRUE(Finds("\xCE\xBB\xCF\x82", "\xCE\x9B\xCE\xA3"));
}

TEST(CallIndexTest, SearchLooksAtThePhoneAndEveryValueButNotTheKeys) {
  const auto finds = [](std::string_view term) {
    return Finds("+12125550123", "Emily Davis", "Paris", term);
  };
  EXPECT_TRUE(finds("+1212"));
  EXPECT_TRUE(finds("5550123"));
  EXPECT_TRUE(finds("+12125550123"));
  EXPECT_TRUE(finds("davis"));
  EXPECT_TRUE(finds("PARIS"));
  EXPECT_TRUE(finds("s"));
  EXPECT_FALSE(finds("name"));
  EXPECT_FALSE(finds("city"));
  EXPECT_FALSE(finds("\""));
  EXPECT_FALSE(finds(":"));
  EXPECT_FALSE(finds(","));
  // Never across two values, nor across the phone and a value.
  EXPECT_FALSE(finds("davisparis"));
  EXPECT_FALSE(finds("davis paris"));
  EXPECT_FALSE(finds("0123emily"));
  // Nor across two calls.
  const std::vector<TestCall> calls = {{"+1", {"Emily Davis", std::nullopt}, {}},
                                       {"+2", {"Paris", std::nullopt}, {}}};
  const CallIndex index = Build(kNameCity, calls);
  EXPECT_THAT(Search(index, "davis"), ElementsAre(0));
  EXPECT_THAT(Search(index, "paris"), ElementsAre(1));
  EXPECT_THAT(Search(index, "s"), ElementsAre(0, 1));
  EXPECT_THAT(Search(index, "davis+2"), IsEmpty());
  EXPECT_THAT(Search(index, "davisparis"), IsEmpty());
  EXPECT_THAT(Search(index, "+"), ElementsAre(0, 1));
}

TEST(CallIndexTest, SearchFindsTheSameInANonAsciiCallsOtherValues) {
  // The second value is not ASCII, so the call is searched on its folded text; an ASCII term
  // must still find the ASCII value and the phone, and still not span two values.
  const auto finds = [](std::string_view term) {
    return Finds("+12125550123", "Emily DAVIS", "Z\xC3\xBCrich", term);
  };
  EXPECT_TRUE(finds("davis"));
  EXPECT_TRUE(finds("2125"));
  EXPECT_TRUE(finds("Z\xC3\x9C"));
  EXPECT_TRUE(finds("rich"));
  EXPECT_FALSE(finds("davisz"));
  EXPECT_FALSE(finds("city"));
}

TEST(CallIndexTest, SearchOfANonAsciiPhoneFollowsTheSearchText) {
  // Phone numbers are E.164, but the index takes any text: a phone number that is not ASCII is
  // searched on its folded text like a value.
  const std::vector<TestCall> calls = {
      {"+1 \xE2\x84\xAA", {"x", std::nullopt}, {}},            // KELVIN SIGN, folds to "k"
      {"\xC5\xBF\xC3\x89", {std::nullopt, std::nullopt}, {}},  // ſÉ, folds to "sé"
      {"+1 \xC3\x89", {"\xC3\xA9", std::nullopt}, {}},
  };
  const CallIndex index = Build(kNameCity, calls);
  for (const std::string_view term : {"k", "1 k", "s", "S\xC3\xA9", "\xC3\x89", "x", "kx"}) {
    std::vector<int64_t> expected;
    for (size_t i = 0; i < calls.size(); ++i) {
      const std::string text =
          CallSearchText(calls[i].phone, VariablesJson(kNameCity, calls[i].values));
      if (text.find(Folded(term)) != std::string::npos) expected.push_back(static_cast<int64_t>(i));
    }
    EXPECT_EQ(Search(index, term), expected) << term;
  }
  EXPECT_THAT(Search(index, "k"), ElementsAre(0));
  EXPECT_THAT(Search(index, "s"), ElementsAre(1));
  EXPECT_THAT(Search(index, "\xC3\xA9"), ElementsAre(1, 2));
}

// The SQL path (nexus_matches -> CallMatches) once missed a term that only the folding of a
// non-ASCII phone number produces when the variables JSON is verbatim ASCII: its fast path
// returned false without considering the phone. Found by this suite's comparison with the index.
TEST(CallIndexTest, SqlPathAgreesOnANonAsciiPhone) {
  EXPECT_NE(CallSearchText("+1 \xE2\x84\xAA", R"({"name":"x"})").find("k"), std::string::npos);
  EXPECT_TRUE(CallMatches("+1 \xE2\x84\xAA", R"({"name":"x"})", "k"));
  EXPECT_TRUE(CallMatches("\xE2\x84\xAA", "{}", "k"));
  EXPECT_TRUE(Finds("+1 \xE2\x84\xAA", "x", std::nullopt, "k"));  // Finds compares both
}

TEST(CallIndexTest, SearchMatchesJsonEscapesAsTheirCharacters) {
  CallIndex::Builder builder(kNameCity);
  ASSERT_TRUE(builder.Add("+1", R"({"name":"\u0041BC \"q\" a\\b","city":"Jos\u00e9"})", {}));
  ASSERT_TRUE(builder.Add("+2", R"({"city":"x\/y"})", {}));
  const CallIndex index = std::move(builder).Finish(0);
  EXPECT_THAT(Search(index, "abc"), ElementsAre(0));
  EXPECT_THAT(Search(index, "\"Q\""), ElementsAre(0));
  EXPECT_THAT(Search(index, "a\\b"), ElementsAre(0));
  EXPECT_THAT(Search(index, "JOS\xC3\x89"), ElementsAre(0));
  EXPECT_THAT(Search(index, "x/y"), ElementsAre(1));
  EXPECT_THAT(Search(index, "u0041"), IsEmpty());
  EXPECT_THAT(Search(index, "u00e9"), IsEmpty());
  EXPECT_THAT(Search(index, "\\/"), IsEmpty());
}

TEST(CallIndexTest, SearchDoesNotConfuseNonLettersWithTheirCaseFlippedNeighbours) {
  // '@' '[' '\\' ']' '^' '_' differ from '`' '{' '|' '}' '~' DEL only in bit 0x20, as 'A'-'Z'
  // differ from 'a'-'z'; only letters are caseless.
  const std::pair<std::string_view, std::string_view> kPairs[] = {
      {"@", "`"}, {"[", "{"}, {"\\", "|"}, {"]", "}"}, {"^", "~"}, {"_", "\x7f"}};
  for (const auto& [upper, lower] : kPairs) {
    SCOPED_TRACE(std::string(upper) + " / " + std::string(lower));
    for (const size_t length : {size_t{1}, size_t{20}, size_t{40}}) {
      // The byte at the start, in the middle and at the end of short and long values.
      for (const size_t at : {size_t{0}, length / 2, length - 1}) {
        std::string with_upper(length, '.');
        with_upper.replace(at, 1, upper);
        std::string with_lower(length, '.');
        with_lower.replace(at, 1, lower);
        EXPECT_TRUE(Finds(with_lower, lower));
        EXPECT_FALSE(Finds(with_lower, upper));
        EXPECT_TRUE(Finds(with_upper, upper));
        EXPECT_FALSE(Finds(with_upper, lower));
      }
    }
  }
  EXPECT_FALSE(Finds("user@example.com", "user`example"));
  EXPECT_FALSE(Finds("user`example.com", "USER@EXAMPLE"));
  EXPECT_FALSE(Finds("[tag]", "{tag}"));
  EXPECT_FALSE(Finds("{TAG}", "[tag]"));
  EXPECT_TRUE(Finds("[TAG]", "[tag]"));
  // '?' is the separator with bit 0x20 set: it must not match between two values.
  EXPECT_FALSE(Finds("+1", "a", "b", "a?b"));
  EXPECT_FALSE(Finds("+1", "a", "b", "?"));
  EXPECT_FALSE(Finds("+1", "a", "b", "1?a"));
}

// A term of `length` letters of mixed case, none of which occurs in the filler.
std::string Pattern(size_t length, bool upper) {
  std::string out;
  for (size_t i = 0; i < length; ++i) {
    char c = static_cast<char>('q' + i % 9);  // q .. y
    if (upper != (i % 3 == 0)) c = static_cast<char>(c - 'a' + 'A');
    out += c;
  }
  return out;
}

TEST(CallIndexTest, SearchFindsATermAtEveryPositionAndBlockBoundary) {
  // The scan tests 16 positions at a time on the term's first and last bytes: put the term at
  // the start, the end and the middle of values of every length up to 48, in calls whose values
  // start at every alignment, next to near misses whose first and last bytes do match.
  for (const size_t m : {size_t{1}, size_t{2}, size_t{3}, size_t{15}, size_t{16}, size_t{17},
                         size_t{31}, size_t{32}, size_t{33}}) {
    SCOPED_TRACE(m);
    const std::string term = Pattern(m, false);
    const std::string in_text = Pattern(m, true);
    std::vector<TestCall> calls;
    std::vector<int64_t> expected;
    for (size_t length = 1; length <= 48; ++length) {
      for (const size_t offset_in_buffer : {size_t{0}, size_t{1}, size_t{7}}) {
        const std::string lead(offset_in_buffer, '.');
        if (length >= m) {
          for (const size_t at : {size_t{0}, (length - m) / 2, length - m}) {
            std::string value(length, '.');
            value.replace(at, m, in_text);
            expected.push_back(static_cast<int64_t>(calls.size()));
            calls.push_back({"+1", {lead + value, std::nullopt}, {}});
            // One alone in its batch: the term ends exactly `length` bytes into the buffer.
            const std::vector<TestCall> alone = {{"+1", {value, std::nullopt}, {}}};
            const CallIndex one = Build(kNameCity, alone);
            EXPECT_THAT(Search(one, term), ElementsAre(0)) << value;
            // In the phone column as well (the first column).
            const std::vector<TestCall> as_phone = {{value, {std::nullopt, "x"}, {}}};
            EXPECT_THAT(Search(Build(kNameCity, as_phone), term), ElementsAre(0)) << value;
          }
          if (m >= 3) {
            // A near miss: first and last bytes right, one in the middle wrong.
            std::string value(length, '.');
            std::string wrong = in_text;
            wrong[m / 2] = '.';
            value.replace(length - m, m, wrong);
            calls.push_back({"+1", {lead + value, std::nullopt}, {}});
            const std::vector<TestCall> alone = {{"+1", {value, std::nullopt}, {}}};
            EXPECT_THAT(Search(Build(kNameCity, alone), term), IsEmpty()) << value;
          }
        }
        if (m >= 2 && length + 1 >= m) {
          // The term cut short by the value's end: all but its last byte at the very end, with
          // the last byte starting the next value.
          std::string value(length + 1 - m, '.');
          value += in_text.substr(0, m - 1);
          calls.push_back({"+1", {lead + value, in_text.substr(m - 1) + "."}, {}});
        }
      }
    }
    const CallIndex index = Build(kNameCity, calls);
    EXPECT_EQ(Search(index, term), expected);
    EXPECT_EQ(Search(index, in_text), expected);
    std::vector<int64_t> oracle;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (CallMatches(calls[i].phone, VariablesJson(kNameCity, calls[i].values), Folded(term))) {
        oracle.push_back(static_cast<int64_t>(i));
      }
    }
    EXPECT_EQ(oracle, expected);
  }
}

TEST(CallIndexTest, SearchFindsATermEndingAtTheVeryEndOfAColumn) {
  std::vector<TestCall> calls;
  for (int i = 0; i < 40; ++i) calls.push_back({"+1", {std::string(i, '.'), std::nullopt}, {}});
  calls.push_back({"+1", {std::string(33, '.') + "XyZ", std::nullopt}, {}});
  calls.push_back({"+1", {std::nullopt, std::nullopt}, {}});  // absent: no bytes after it
  const CallIndex index = Build(kNameCity, calls);
  EXPECT_THAT(Search(index, "xyz"), ElementsAre(40));
  EXPECT_THAT(Search(index, "z"), ElementsAre(40));
  EXPECT_THAT(Search(index, "..xyz"), ElementsAre(40));
  EXPECT_THAT(Search(index, "xyz."), IsEmpty());
}

TEST(CallIndexTest, SearchTermWithTheSeparatorIsDeclined) {
  const std::vector<TestCall> calls = {{"+1", {"a", "b"}, {}}};
  const CallIndex index = Build(kNameCity, calls);
  CallQuery query;
  query.search =
      "a\x1f"
      "b";
  EXPECT_EQ(index.Query(query), std::nullopt);
  query.search = "\x1f";
  EXPECT_EQ(index.Query(query), std::nullopt);
  query.search = "a";
  EXPECT_NE(index.Query(query), std::nullopt);
}

TEST(CallIndexTest, EmptySearchFindsEveryCall) {
  const std::vector<TestCall> calls = {{"+1", {"a", std::nullopt}, {}},
                                       {"+2", {std::nullopt, std::nullopt}, {}}};
  const CallIndex index = Build(kNameCity, calls);
  EXPECT_THAT(Search(index, ""), ElementsAre(0, 1));
}

// --- filters ---------------------------------------------------------------------------------

TEST(CallIndexTest, FiltersByExactPhoneVariablesAndStatus) {
  const std::vector<TestCall> calls = {
      {"+12125550100", {"Paris", "A"}, {CallStatus::kQueued, 0, 0}},
      {"+12125550101", {"paris", std::nullopt}, {CallStatus::kCompleted, 1, 0}},
      {"+12125550100", {"", "A"}, {CallStatus::kCompleted, 1, 0}},
      {"+121255501000", {std::nullopt, "B"}, {CallStatus::kFailed, 2, 0}},
  };
  const CallIndex index = Build(kNameCity, calls);
  const auto query = [&](auto set) {
    CallQuery q;
    q.descending = false;
    set(q);
    return AllSeqs(index, q);
  };
  EXPECT_THAT(query([](CallQuery& q) { q.phone = "+12125550100"; }), ElementsAre(0, 2));
  EXPECT_THAT(query([](CallQuery& q) { q.phone = "+1212555010"; }), IsEmpty());
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"name", "Paris"}}; }), ElementsAre(0));
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"name", "paris"}}; }), ElementsAre(1));
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"name", "Pari"}}; }), IsEmpty());
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"name", ""}}; }), ElementsAre(2));
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"name", std::nullopt}}; }), ElementsAre(3));
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"city", std::nullopt}}; }), ElementsAre(1));
  EXPECT_THAT(query([](CallQuery& q) {
                q.variables = {{"city", "A"}, {"name", ""}};
              }),
              ElementsAre(2));
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"city", "A"}, {"city", "B"}}; }), IsEmpty());
  // A key that is no variable of the batch: every call lacks it.
  EXPECT_THAT(query([](CallQuery& q) {
                q.variables = {{"zip", std::nullopt}};
              }),
              ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"zip", ""}}; }), IsEmpty());
  EXPECT_THAT(query([](CallQuery& q) { q.variables = {{"Name", "Paris"}}; }), IsEmpty());
  EXPECT_THAT(query([](CallQuery& q) { q.status = CallStatus::kCompleted; }), ElementsAre(1, 2));
  EXPECT_THAT(query([](CallQuery& q) { q.status = CallStatus::kBusy; }), IsEmpty());
  EXPECT_THAT(query([](CallQuery& q) {
                q.status = CallStatus::kCompleted;
                q.phone = "+12125550100";
                q.search = "A";
              }),
              ElementsAre(2));
  EXPECT_THAT(query([](CallQuery& q) {
                q.search = "paris";
                q.variables = {{"city", std::nullopt}};
              }),
              ElementsAre(1));
}

// --- sorting ---------------------------------------------------------------------------------

TEST(CallIndexTest, SortsStatusByItsNameThenSeq) {
  std::vector<TestCall> calls;
  // Every status twice, in enum order: seq i and i + 8 share a status.
  for (int round = 0; round < 2; ++round) {
    for (const CallStatus status : domain::kAllCallStatuses) {
      calls.push_back({"+1", {}, {status, 0, 0}});
    }
  }
  const CallIndex index = Build({}, calls);
  CallQuery query;
  query.sort_key = SortKey::kStatus;
  query.descending = false;
  std::vector<std::string_view> names;
  for (const int64_t seq : AllSeqs(index, query)) {
    names.push_back(domain::CallStatusName(calls[static_cast<size_t>(seq)].state.status));
  }
  EXPECT_THAT(names, ElementsAre("busy", "busy", "canceled", "canceled", "completed", "completed",
                                 "dnc", "dnc", "failed", "failed", "in_progress", "in_progress",
                                 "no_answer", "no_answer", "queued", "queued"));
  // busy is kAllCallStatuses[5]: seq 5 then 13; queued is [0]: seq 0 then 8.
  EXPECT_THAT(AllSeqs(index, query),
              ElementsAre(5, 13, 7, 15, 2, 10, 6, 14, 3, 11, 1, 9, 4, 12, 0, 8));
  query.descending = true;
  EXPECT_THAT(AllSeqs(index, query),
              ElementsAre(8, 0, 12, 4, 9, 1, 11, 3, 14, 6, 10, 2, 15, 7, 13, 5));
  // With a status filter, a status sort is the row order.
  query.status = CallStatus::kDnc;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(14, 6));
  query.descending = false;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(6, 14));
}

TEST(CallIndexTest, SortsByCreatedAtUpdatedAtAndAttempts) {
  const std::vector<TestCall> calls = {
      {"+1", {}, {CallStatus::kQueued, 3, 500}},       {"+1", {}, {CallStatus::kQueued, 0, -7}},
      {"+1", {}, {CallStatus::kQueued, 3, 500}},       {"+1", {}, {CallStatus::kQueued, 65535, 0}},
      {"+1", {}, {CallStatus::kQueued, 1, 1LL << 50}},
  };
  const CallIndex index = Build({}, calls);
  CallQuery query;
  query.descending = false;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(0, 1, 2, 3, 4));
  query.descending = true;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(4, 3, 2, 1, 0));
  query.sort_key = SortKey::kUpdatedAt;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(4, 2, 0, 3, 1));
  query.descending = false;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(1, 3, 0, 2, 4));
  query.sort_key = SortKey::kAttempts;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(1, 4, 0, 2, 3));
  query.descending = true;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(3, 2, 0, 4, 1));
}

TEST(CallIndexTest, SortsPhoneAndVariablesBytewiseWithAbsentLowest) {
  const std::vector<TestCall> calls = {
      {"+2", {"b", std::nullopt}, {}},
      {"+10", {"\xC3\xA9", "x"}, {}},  // é: above every ASCII byte
      {"+1", {std::nullopt, "x"}, {}},
      {"+2", {"", std::nullopt}, {}},
      {"+1", {"B", std::nullopt}, {}},
      {"+9", {"b", std::nullopt}, {}},
      {"+3", {"\x7f", std::nullopt}, {}},
      {"+4", {"ba", std::nullopt}, {}},
  };
  const CallIndex index = Build(kNameCity, calls);
  CallQuery query;
  query.descending = false;
  query.sort_key = SortKey::kPhone;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(2, 4, 1, 0, 3, 6, 7, 5));
  query.descending = true;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(5, 7, 6, 3, 0, 1, 4, 2));
  query.sort_key = SortKey::kVariable;
  query.sort_variable = "name";
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(1, 6, 7, 5, 0, 4, 3, 2));
  query.descending = false;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(2, 3, 4, 0, 5, 7, 6, 1));
  query.sort_variable = "city";
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(0, 3, 4, 5, 6, 7, 1, 2));
  // A key that is no variable: absent everywhere, so the row order.
  query.sort_variable = "zip";
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  query.descending = true;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(7, 6, 5, 4, 3, 2, 1, 0));
}

// --- paging ----------------------------------------------------------------------------------

std::vector<TestCall> PagingCalls() {
  std::vector<TestCall> calls;
  for (int i = 0; i < 300; ++i) {
    calls.push_back(
        {"+1" + std::to_string(i % 7),
         {std::to_string(i * 37 % 11), i % 5 == 0 ? std::nullopt : std::optional<std::string>("c")},
         {domain::kAllCallStatuses[i % 8], i % 4, (i * 7919) % 101}});
  }
  return calls;
}

TEST(CallIndexTest, PagesAreSlicesOfTheWholeOrder) {
  const std::vector<TestCall> calls = PagingCalls();
  const CallIndex index = Build(kNameCity, calls);
  for (const SortKey sort : {SortKey::kCreatedAt, SortKey::kUpdatedAt, SortKey::kPhone,
                             SortKey::kStatus, SortKey::kAttempts, SortKey::kVariable}) {
    for (const bool descending : {false, true}) {
      for (const std::string_view search : {"", "3"}) {
        SCOPED_TRACE(testing::Message() << "sort " << static_cast<int>(sort) << " descending "
                                        << descending << " search " << search);
        CallQuery query;
        query.sort_key = sort;
        query.sort_variable = "name";
        query.descending = descending;
        query.search = std::string(search);
        const std::vector<int64_t> all = AllSeqs(index, query);
        ASSERT_FALSE(all.empty());
        for (const auto& [offset, limit] : std::vector<std::pair<int64_t, int64_t>>{
                 {0, 10}, {1, 1}, {7, 13}, {100, 50}, {150, 1000}, {0, 1}}) {
          query.offset = offset;
          query.limit = limit;
          const std::optional<CallIndex::Page> page = index.Query(query);
          ASSERT_TRUE(page.has_value());
          EXPECT_EQ(page->total, static_cast<int64_t>(all.size()));
          const auto total = static_cast<int64_t>(all.size());
          const std::vector<int64_t> slice(all.begin() + std::min(offset, total),
                                           all.begin() + std::min(offset + limit, total));
          EXPECT_EQ(page->seqs, slice) << "offset " << offset << " limit " << limit;
        }
        // The deepest page: the last call alone.
        query.offset = static_cast<int64_t>(all.size()) - 1;
        query.limit = 10;
        EXPECT_THAT(index.Query(query)->seqs, ElementsAre(all.back()));
      }
    }
  }
}

TEST(CallIndexTest, PagePastTheEndOrOfLimitZeroIsEmptyWithTheTotal) {
  const std::vector<TestCall> calls = PagingCalls();
  const CallIndex index = Build(kNameCity, calls);
  for (const SortKey sort : {SortKey::kCreatedAt, SortKey::kPhone}) {
    CallQuery query;
    query.sort_key = sort;
    query.status = CallStatus::kFailed;
    query.offset = 38;  // seq 3, 11, ..., 299 are failed
    query.limit = 10;
    std::optional<CallIndex::Page> page = index.Query(query);
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->total, 38);
    EXPECT_THAT(page->seqs, IsEmpty());
    query.offset = 1'000'000;
    page = index.Query(query);
    EXPECT_EQ(page->total, 38);
    EXPECT_THAT(page->seqs, IsEmpty());
    query.offset = 0;
    query.limit = 0;
    page = index.Query(query);
    EXPECT_EQ(page->total, 38);
    EXPECT_THAT(page->seqs, IsEmpty());
    query.offset = 37;
    query.limit = 10;
    page = index.Query(query);
    EXPECT_EQ(page->total, 38);
    EXPECT_EQ(page->seqs.size(), 1u);
  }
}

// --- building, Apply, bookkeeping ------------------------------------------------------------

TEST(CallIndexTest, BuilderAcceptsObjectsOfStringsInAnyKeyOrder) {
  const std::vector<std::string> keys = {"a", "b", "c"};
  CallIndex::Builder builder(keys);
  EXPECT_TRUE(builder.Add("+1", "{}", {}));
  EXPECT_TRUE(builder.Add("+2", " { } ", {}));
  EXPECT_TRUE(builder.Add("+3", R"({"c":"3","a":"1"})", {}));
  EXPECT_TRUE(builder.Add("+4", R"( { "b" : "2" , "c" : "" } )", {}));
  EXPECT_TRUE(builder.Add("+5", R"({"a":"x","b":"y","c":"z"})", {CallStatus::kBusy, 65535, -1}));
  EXPECT_TRUE(builder.Add("", "{}", {}));  // an empty phone number is still text
  const CallIndex index = std::move(builder).Finish(0);
  EXPECT_EQ(index.size(), 6);
  CallQuery query;
  query.descending = false;
  query.variables = {{"c", ""}};
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(3));
  query.variables = {{"a", "1"}, {"c", "3"}, {"b", std::nullopt}};
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(2));
  query.variables = {{"a", std::nullopt}, {"b", std::nullopt}, {"c", std::nullopt}};
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(0, 1, 5));
  query.variables = {};
  query.sort_key = SortKey::kAttempts;
  query.descending = true;
  query.limit = 1;
  EXPECT_THAT(index.Query(query)->seqs, ElementsAre(4));
}

TEST(CallIndexTest, BuilderRefusesCallsItCannotIndex) {
  const std::vector<std::string> keys = {"a", "b"};
  const auto add = [&](std::string_view phone, std::string_view json, CallState state = {}) {
    CallIndex::Builder builder(keys);
    EXPECT_TRUE(builder.Add("+1", R"({"a":"ok"})", {}));  // refusals also after a good call
    return builder.Add(phone, json, state);
  };
  // Not a JSON object of strings.
  for (const std::string_view json :
       {"", "[]", "\"a\"", "null", R"({"a":1})", R"({"a":null})", R"({"a":true})",
        R"({"a":{"b":"c"}})", R"({"a":["x"]})", R"({"a":"x")", R"({"a":"x"} x)", R"({"a":"x",})",
        R"({"a" "x"})", R"({a:"x"})", R"({"a":"\q"})", "{\"a\":\"x", "not json"}) {
    EXPECT_FALSE(add("+1", json)) << json;
  }
  // A key that is no variable of the batch, or the same key twice.
  EXPECT_FALSE(add("+1", R"({"z":"x"})"));
  EXPECT_FALSE(add("+1", R"({"A":"x"})"));
  EXPECT_FALSE(add("+1", R"({"a":"x","a":"x"})"));
  EXPECT_FALSE(add("+1", R"({"a":"x","b":"y","a":"z"})"));
  EXPECT_FALSE(add("+1", R"({"b":"y","a":"x","b":"z"})"));
  // A NUL byte in a value or in the phone number.
  EXPECT_FALSE(add("+1", R"({"a":"x\u0000y"})"));
  EXPECT_FALSE(add("+1", R"({"b":"\u0000"})"));
  EXPECT_FALSE(add(std::string_view("+1\0", 3), "{}"));
  EXPECT_FALSE(add(std::string_view("\0", 1), R"({"a":"x"})"));
  // Attempts out of [0, 65535].
  EXPECT_FALSE(add("+1", "{}", {CallStatus::kQueued, -1, 0}));
  EXPECT_FALSE(add("+1", "{}", {CallStatus::kQueued, 65536, 0}));
  EXPECT_FALSE(add("+1", "{}", {CallStatus::kQueued, int64_t{1} << 40, 0}));
  EXPECT_TRUE(add("+1", "{}", {CallStatus::kQueued, 65535, 0}));
  EXPECT_TRUE(add("+1", "{}", {CallStatus::kQueued, 0, 0}));
  // Control characters other than NUL are text.
  EXPECT_TRUE(add("+1", R"({"a":"x\u0001\ty"})"));
}

TEST(CallIndexTest, ApplyUpdatesTheMutableStateWithinBounds) {
  const std::vector<TestCall> calls = {{"+1", {}, {CallStatus::kQueued, 0, 10}},
                                       {"+2", {}, {CallStatus::kQueued, 0, 20}},
                                       {"+3", {}, {CallStatus::kQueued, 0, 30}}};
  CallIndex index = Build({}, calls, 5);
  EXPECT_FALSE(index.Apply(-1, {CallStatus::kBusy, 1, 1}));
  EXPECT_FALSE(index.Apply(3, {CallStatus::kBusy, 1, 1}));
  EXPECT_FALSE(index.Apply(int64_t{1} << 40, {CallStatus::kBusy, 1, 1}));
  EXPECT_FALSE(index.Apply(0, {CallStatus::kBusy, -1, 1}));
  EXPECT_FALSE(index.Apply(0, {CallStatus::kBusy, 65536, 1}));
  ASSERT_TRUE(index.Apply(2, {CallStatus::kBusy, 65535, -5}));
  ASSERT_TRUE(index.Apply(0, {CallStatus::kCompleted, 2, 40}));
  CallQuery query;
  query.descending = false;
  query.status = CallStatus::kBusy;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(2));
  query.status = CallStatus::kQueued;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(1));
  query.status = std::nullopt;
  query.sort_key = SortKey::kUpdatedAt;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(2, 1, 0));
  query.sort_key = SortKey::kAttempts;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(1, 0, 2));
  query.sort_key = SortKey::kStatus;
  EXPECT_THAT(AllSeqs(index, query), ElementsAre(2, 0, 1));  // busy, completed, queued
  EXPECT_EQ(index.change_seq(), 5);  // Apply leaves the counter to the owner
}

TEST(CallIndexTest, EmptyBatchAnswersEveryQueryWithNothing) {
  for (const std::vector<std::string>& keys :
       {std::vector<std::string>{}, std::vector<std::string>{"name", "city"}}) {
    const CallIndex index = CallIndex::Builder(keys).Finish(0);
    EXPECT_EQ(index.size(), 0);
    for (const SortKey sort : {SortKey::kCreatedAt, SortKey::kUpdatedAt, SortKey::kPhone,
                               SortKey::kStatus, SortKey::kAttempts, SortKey::kVariable}) {
      for (const bool descending : {false, true}) {
        for (const std::string_view search : {"", "a", "\xC3\xA9"}) {
          CallQuery query;
          query.sort_key = sort;
          query.sort_variable = "name";
          query.descending = descending;
          query.search = std::string(search);
          std::optional<CallIndex::Page> page = index.Query(query);
          ASSERT_TRUE(page.has_value());
          EXPECT_EQ(page->total, 0);
          EXPECT_THAT(page->seqs, IsEmpty());
          query.status = CallStatus::kQueued;
          query.phone = "+1";
          query.variables = {{"name", std::nullopt}, {"zip", std::nullopt}};
          page = index.Query(query);
          ASSERT_TRUE(page.has_value());
          EXPECT_EQ(page->total, 0);
        }
      }
    }
    CallQuery separator;
    separator.search = "\x1f";
    EXPECT_FALSE(CallIndex::Builder(keys).Finish(0).Query(separator).has_value());
    CallIndex mutable_index = CallIndex::Builder(keys).Finish(0);
    EXPECT_FALSE(mutable_index.Apply(0, {}));
  }
}

TEST(CallIndexTest, MemoryGrowsWithTheData) {
  const auto build = [](int n, size_t value_length) {
    std::vector<TestCall> calls;
    for (int i = 0; i < n; ++i) {
      calls.push_back({"+1212555" + std::to_string(1000 + i),
                       {std::string(value_length, 'a'), std::nullopt},
                       {}});
    }
    return Build(kNameCity, calls).memory_bytes();
  };
  const size_t small = build(10, 5);
  EXPECT_GT(small, 0u);
  EXPECT_GT(build(1000, 5), small);
  EXPECT_GT(build(1000, 5), 1000u * (5 + 12));  // at least the text held
  EXPECT_GT(build(1000, 50), build(1000, 5));
  // Non-ASCII calls also keep their folded text.
  std::vector<TestCall> calls;
  for (int i = 0; i < 1000; ++i) calls.push_back({"+1", {"\xC3\x89t\xC3\xA9", std::nullopt}, {}});
  std::vector<TestCall> ascii_calls;
  for (int i = 0; i < 1000; ++i) ascii_calls.push_back({"+1", {"Etetee", std::nullopt}, {}});
  EXPECT_GT(Build(kNameCity, calls).memory_bytes(), Build(kNameCity, ascii_calls).memory_bytes());
}

TEST(CallIndexTest, ChangeSeqComesFromFinishAndTheOwner) {
  const std::vector<TestCall> calls = {{"+1", {}, {}}};
  CallIndex index = Build({}, calls, 42);
  EXPECT_EQ(index.change_seq(), 42);
  index.set_change_seq(43);
  EXPECT_EQ(index.change_seq(), 43);
  EXPECT_EQ(CallIndex::Builder({}).Finish(-1).change_seq(), -1);
}

// --- differential test against a brute-force model of the SQL path -----------------------------

// The rules of the store's SQL path (store.h CallQuery), written out call by call.
class Oracle {
 public:
  Oracle(std::vector<std::string> keys, std::vector<TestCall> calls)
      : keys_(std::move(keys)), calls_(std::move(calls)) {
    for (const TestCall& call : calls_) json_.push_back(VariablesJson(keys_, call.values));
  }

  void Apply(size_t seq, const CallState& state) { calls_[seq].state = state; }
  const std::vector<TestCall>& calls() const { return calls_; }

  std::optional<CallIndex::Page> Query(const CallQuery& query) const {
    const std::string term = Folded(query.search);
    if (term.find(kSearchSeparator) != std::string::npos) return std::nullopt;
    std::vector<int64_t> matched;
    for (size_t i = 0; i < calls_.size(); ++i) {
      const TestCall& call = calls_[i];
      if (query.status && call.state.status != *query.status) continue;
      if (query.phone && call.phone != *query.phone) continue;
      bool ok = true;
      for (const CallQuery::VariableCondition& condition : query.variables) {
        if (Value(i, condition.key) != condition.value) ok = false;
      }
      if (!ok || !CallMatches(call.phone, json_[i], term)) continue;
      matched.push_back(static_cast<int64_t>(i));
    }
    const bool row_order = query.sort_key == SortKey::kCreatedAt ||
                           (query.sort_key == SortKey::kStatus && query.status);
    std::stable_sort(matched.begin(), matched.end(), [&](int64_t a, int64_t b) {
      if (row_order) return false;
      return Compare(query, static_cast<size_t>(a), static_cast<size_t>(b)) < 0;
    });
    if (query.descending) std::reverse(matched.begin(), matched.end());
    CallIndex::Page page;
    page.total = static_cast<int64_t>(matched.size());
    for (int64_t k = query.offset; k < page.total && k < query.offset + query.limit; ++k) {
      page.seqs.push_back(matched[static_cast<size_t>(k)]);
    }
    return page;
  }

 private:
  std::optional<std::string> Value(size_t seq, std::string_view key) const {
    for (size_t k = 0; k < keys_.size(); ++k) {
      if (keys_[k] == key) return calls_[seq].values[k];
    }
    return std::nullopt;
  }

  // memcmp order: bytes as unsigned char, a prefix first.
  static int CompareBytes(std::string_view a, std::string_view b) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      const auto x = static_cast<unsigned char>(a[i]);
      const auto y = static_cast<unsigned char>(b[i]);
      if (x != y) return x < y ? -1 : 1;
    }
    return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
  }

  template <typename T>
  static int Three(const T& a, const T& b) {
    return a < b ? -1 : (b < a ? 1 : 0);
  }

  // The sort key's order (0 for a tie, left to seq by the stable sort).
  int Compare(const CallQuery& query, size_t a, size_t b) const {
    const TestCall& x = calls_[a];
    const TestCall& y = calls_[b];
    switch (query.sort_key) {
      case SortKey::kCreatedAt:
        return 0;
      case SortKey::kStatus:
        return CompareBytes(domain::CallStatusName(x.state.status),
                            domain::CallStatusName(y.state.status));
      case SortKey::kUpdatedAt:
        return Three(x.state.updated_at_ms, y.state.updated_at_ms);
      case SortKey::kAttempts:
        return Three(x.state.attempts, y.state.attempts);
      case SortKey::kPhone:
        return CompareBytes(x.phone, y.phone);
      case SortKey::kVariable: {
        const std::optional<std::string> u = Value(a, query.sort_variable);
        const std::optional<std::string> v = Value(b, query.sort_variable);
        if (!u || !v) return Three(u.has_value(), v.has_value());  // absent lowest
        return CompareBytes(*u, *v);
      }
    }
    return 0;
  }

  std::vector<std::string> keys_;
  std::vector<TestCall> calls_;
  std::vector<std::string> json_;
};

std::string Describe(const CallQuery& query) {
  std::string out = "search \"" + query.search + "\"";
  if (query.status) out += " status " + std::string(domain::CallStatusName(*query.status));
  if (query.phone) out += " phone " + *query.phone;
  for (const CallQuery::VariableCondition& condition : query.variables) {
    out += " var " + condition.key + "=" + (condition.value ? "\"" + *condition.value + "\"" : "∅");
  }
  out += " sort " + std::to_string(static_cast<int>(query.sort_key)) + " " + query.sort_variable +
         (query.descending ? " desc" : " asc");
  out += " offset " + std::to_string(query.offset) + " limit " + std::to_string(query.limit);
  return out;
}

class RandomBatch {
 public:
  explicit RandomBatch(uint64_t seed) : rng_(seed) {}

  size_t Uniform(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::string Text(size_t max_tokens, bool ascii_only) {
    static const std::vector<std::string_view> kAscii = {
        "a", "b", "k", "s", "z",  "A",  "B", "K", "S", "Z",  "0",  "7", "@", "`", "[",
        "{", " ", "?", "_", "\"", "\\", "/", "e", "E", "ss", "SS", "x", "Y", "~", "^"};
    static const std::vector<std::string_view> kOther = {"\xC3\x89",      // É
                                                         "\xC3\xA9",      // é
                                                         "\xC3\x9F",      // ß
                                                         "\xE1\xBA\x9E",  // ẞ
                                                         "\xE2\x84\xAA",  // K (Kelvin)
                                                         "\xC5\xBF",      // ſ
                                                         "\xCE\xA3",      // Σ
                                                         "\xCF\x82",      // ς
                                                         "\xF0\x9F\x98\x80"};
    const size_t n = Uniform(max_tokens + 1);
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      if (!ascii_only && Chance(0.15)) {
        out += kOther[Uniform(kOther.size())];
      } else {
        out += kAscii[Uniform(kAscii.size())];
      }
    }
    return out;
  }

  // Short values repeat (equality filters and sort ties), long ones run past 16 and 32 bytes.
  std::optional<std::string> Value(bool ascii_only) {
    if (Chance(0.15)) return std::nullopt;
    if (Chance(0.05)) return "";
    if (Chance(0.3)) return pool_[Uniform(pool_.size())];
    return Text(Chance(0.3) ? 50 : 8, ascii_only);
  }

  std::vector<TestCall> Calls(size_t n, size_t keys) {
    for (int i = 0; i < 20; ++i) pool_.push_back(Text(4, Chance(0.7)));
    std::vector<TestCall> calls;
    for (size_t i = 0; i < n; ++i) {
      const bool ascii_only = Chance(0.8);
      TestCall call;
      // Phone numbers are ASCII (E.164; letters too, to be searched), see
      // SearchOfANonAsciiPhoneFollowsTheSearchText for the others.
      call.phone = Chance(0.9) ? "+1555" + std::to_string(Uniform(300)) : Text(6, true);
      for (size_t k = 0; k < keys; ++k) call.values.push_back(Value(ascii_only));
      call.state = State();
      calls.push_back(std::move(call));
    }
    return calls;
  }

  CallState State() {
    return {domain::kAllCallStatuses[Uniform(8)], static_cast<int64_t>(Uniform(6)),
            static_cast<int64_t>(Uniform(50)) - 10};
  }

  // A term: a piece of some call's text with its ASCII case flipped at random, or random text.
  std::string Term(const std::vector<TestCall>& calls) {
    const size_t kind = Uniform(10);
    if (kind < 2) return "";
    if (kind < 4) return Text(3, Chance(0.5));
    if (kind == 4 && Chance(0.3)) return Chance(0.5) ? "a\x1f" : Text(2, false) + "\x1f";
    const TestCall& call = calls[Uniform(calls.size())];
    std::string text = call.phone;
    const size_t k = Uniform(call.values.size() + 1);
    if (k < call.values.size() && call.values[k]) text = *call.values[k];
    if (text.empty()) return "z";
    const size_t begin = Uniform(text.size());
    std::string term = text.substr(begin, 1 + Uniform(std::min<size_t>(20, text.size() - begin)));
    for (char& c : term) {
      if (Chance(0.5) && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) c ^= 0x20;
    }
    if (Chance(0.1)) term += Text(1, false);  // often spoils the match
    return term;
  }

  CallQuery Query(const std::vector<TestCall>& calls, const std::vector<std::string>& keys) {
    CallQuery query;
    query.search = Term(calls);
    if (Chance(0.25)) query.status = domain::kAllCallStatuses[Uniform(8)];
    if (Chance(0.1)) query.phone = Chance(0.8) ? calls[Uniform(calls.size())].phone : "+1";
    const size_t conditions = Chance(0.3) ? 1 + Uniform(2) : 0;
    for (size_t i = 0; i < conditions; ++i) {
      const size_t k = Uniform(keys.size() + 1);
      const std::string key = k < keys.size() ? keys[k] : "unknown";
      std::optional<std::string> value;
      if (Chance(0.7)) {
        value = k < keys.size() ? calls[Uniform(calls.size())].values[k] : std::nullopt;
        if (!value && Chance(0.5)) value = "";
      }
      query.variables.push_back({key, value});
    }
    query.sort_key = static_cast<SortKey>(Uniform(6));
    const size_t v = Uniform(keys.size() + 1);
    query.sort_variable = v < keys.size() ? keys[v] : "unknown";
    query.descending = Chance(0.5);
    query.offset = Chance(0.6) ? 0 : static_cast<int64_t>(Uniform(Chance(0.5) ? 30 : 2100));
    query.limit = Chance(0.1) ? 0 : (Chance(0.2) ? 5000 : 1 + static_cast<int64_t>(Uniform(30)));
    return query;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> pool_;
};

TEST(CallIndexTest, AnswersLikeABruteForceModelOfTheRules) {
  const std::vector<std::string> keys = {"name", "city", "code"};
  RandomBatch random(20240517);
  std::vector<TestCall> calls = random.Calls(2000, keys.size());
  CallIndex::Builder builder(keys, calls.size());
  for (const TestCall& call : calls) {
    ASSERT_TRUE(builder.Add(call.phone, VariablesJson(keys, call.values), call.state));
  }
  CallIndex index = std::move(builder).Finish(1);
  Oracle oracle(keys, calls);
  int declined = 0, nonempty = 0;
  for (int round = 0; round < 500; ++round) {
    for (int i = 0; i < 5; ++i) {
      const size_t seq = random.Uniform(calls.size());
      const CallState state = random.State();
      ASSERT_TRUE(index.Apply(static_cast<int64_t>(seq), state));
      oracle.Apply(seq, state);
    }
    const CallQuery query = random.Query(oracle.calls(), keys);
    SCOPED_TRACE(Describe(query));
    const std::optional<CallIndex::Page> expected = oracle.Query(query);
    const std::optional<CallIndex::Page> actual = index.Query(query);
    ASSERT_EQ(actual.has_value(), expected.has_value());
    if (!expected) {
      ++declined;
      continue;
    }
    ASSERT_EQ(actual->total, expected->total);
    ASSERT_EQ(actual->seqs, expected->seqs);
    if (!expected->seqs.empty()) ++nonempty;
  }
  // The queries exercised something.
  EXPECT_GT(declined, 0);
  EXPECT_GT(nonempty, 150);
}

TEST(CallIndexTest, AnswersLikeTheModelForRawJsonVariants) {
  // The same calls with their JSON written differently (member order, escapes, whitespace)
  // index alike.
  const std::vector<std::string> keys = {"name", "city"};
  RandomBatch random(7);
  const std::vector<TestCall> calls = random.Calls(400, keys.size());
  CallIndex::Builder plain_builder(keys, calls.size());
  CallIndex::Builder varied_builder(keys, calls.size());
  for (const TestCall& call : calls) {
    ASSERT_TRUE(plain_builder.Add(call.phone, VariablesJson(keys, call.values), call.state));
    // Reversed member order, every ASCII letter \u-escaped, spaces around the punctuation.
    std::string json = " { ";
    for (size_t k = keys.size(); k-- > 0;) {
      if (!call.values[k]) continue;
      if (json.size() > 3) json += " , ";
      core::AppendJsonString(json, keys[k]);
      json += " : \"";
      for (const char c : *call.values[k]) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04X", static_cast<unsigned>(c));
          json += escape;
        } else if (c == '"' || c == '\\') {
          json += '\\';
          json += c;
        } else {
          json += c;
        }
      }
      json += '"';
    }
    json += " } ";
    ASSERT_TRUE(varied_builder.Add(call.phone, json, call.state)) << json;
  }
  const CallIndex plain = std::move(plain_builder).Finish(0);
  const CallIndex varied = std::move(varied_builder).Finish(0);
  const Oracle oracle(keys, calls);
  for (int round = 0; round < 200; ++round) {
    const CallQuery query = random.Query(calls, keys);
    SCOPED_TRACE(Describe(query));
    const std::optional<CallIndex::Page> expected = oracle.Query(query);
    for (const CallIndex* index : {&plain, &varied}) {
      const std::optional<CallIndex::Page> actual = index->Query(query);
      ASSERT_EQ(actual.has_value(), expected.has_value());
      if (!expected) continue;
      ASSERT_EQ(actual->total, expected->total);
      ASSERT_EQ(actual->seqs, expected->seqs);
    }
  }
}

}  // namespace
}  // namespace nexus::store
