// File: store/search_text.h
//
// Case-insensitive search support shared by the store implementations. batch-details `search`
// is a literal, case-insensitive substring over a call's phone number and variable values, not
// the keys (SPEC §5). A call matches when the case-folded term occurs in its search text: the
// case-folded phone number and values separated by kSearchSeparator. The store evaluates that
// per call (SQLite: the nexus_matches() function), so no LIKE wildcard or escape is involved and
// nothing is stored: keeping the folded text per call measured +1.1 s (+44 %) on the insert of a
// 1M-call upload, against ~+150 ms on a search that reads the whole batch (docs/architecture.md).
//
// Folding is Unicode simple case folding (ICU u_foldCase, default mapping): "É" and "é" match,
// "ß" does not match "ss" (that would be full folding, which changes lengths). Bytes that are not
// valid UTF-8 are kept unchanged. All functions are pure and thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"

namespace nexus::store {

// Between the phone number and each value in a call's search text (ASCII unit separator), so a
// term never matches across two values unless it contains this byte.
inline constexpr char kSearchSeparator = '\x1f';

// Appends `text` case-folded to `out`.
void AppendFolded(std::string& out, std::string_view text);
std::string Folded(std::string_view text);

// The search text of a call: Folded(e164), then for every member value of `variables_json` (a
// JSON object of string values, as NewCall carries it) kSearchSeparator and the folded value.
// Keys are not included. A malformed object contributes the values read before the fault; a
// value that is not a string is skipped.
std::string CallSearchText(std::string_view e164, std::string_view variables_json);

// Whether CallSearchText(e164, variables_json) contains `folded_term` (a Folded() search term),
// without building the search text for the common case of a call that does not match: an ASCII
// term is looked for in the raw text first. True for an empty term.
bool CallMatches(std::string_view e164, std::string_view variables_json,
                 std::string_view folded_term);

// Calls `member(key, value)` for each member of the JSON object `json`, in order, with the key
// and the value unescaped (views valid during that call only). False when `json` is not an
// object whose values are all strings; the members before the fault have been passed by then.
bool ForEachStringMember(std::string_view json,
                         absl::FunctionRef<void(std::string_view, std::string_view)> member);

// Whether every byte of `text` is ASCII (below 0x80).
bool IsAscii(std::string_view text);

// Finds a non-empty term in text, 16 positions at a time (SSE2) on the term's first and last
// bytes. With `ignore_ascii_case` the term must be ASCII-lowercase, and a term byte that is a
// lowercase letter also matches that letter in uppercase — (b | 0x20) == t is exactly that test
// for a letter t, so a byte costs one OR and one compare; any other byte matches only itself.
// The term's bytes must outlive the finder.
class TermFinder {
 public:
  TermFinder(std::string_view term, bool ignore_ascii_case);

  // The first position at or after `from` where the term starts in `text`, or npos.
  size_t Find(std::string_view text, size_t from) const;

 private:
  bool MatchesAt(const char* p) const;

  std::string_view term_;
  std::string fold_;  // per term byte: 0x20 for a caseless letter, else 0
};

// The items of `json` when it is a JSON array of strings, else nullopt.
std::optional<std::vector<std::string>> ParseJsonStringArray(std::string_view json);

// `items` as a JSON array of strings (the inverse of ParseJsonStringArray for valid UTF-8).
std::string JsonStringArray(std::span<const std::string> items);

}  // namespace nexus::store
