// libFuzzer differential target for store::CallIndex (store/call_index.h) against the matching
// rule of the store's SQL path, store::CallMatches (store/search_text.h).
//
// Input: byte 0 holds flags — bits 0-1: the batch's variable count (1-3); bit 2: write the JSON
// with core::AppendJsonString (invalid UTF-8 becomes U+FFFD) or with a minimal escaper that keeps
// every other byte as it is; bit 3: \u-escape ASCII letters; bits 4-6: the sort of the checked
// page; bit 7: descending. The rest is split at NUL bytes into fields: the search term, then per
// call its phone number and one value per variable (a field starting with 0x01 is an absent
// variable). At most 64 calls. Every call must be accepted by the builder.
//
// Checked (__builtin_trap on a violation):
//  - Query() declines (nullopt) exactly when the folded term holds kSearchSeparator;
//  - for a search-only query, the matching seqs are exactly the calls for which
//    CallSearchText(phone, json) contains Folded(term), which are exactly those for which
//    CallMatches(phone, json, Folded(term)) is true (this found CallMatches' fast path missing a
//    term that only the folding of a non-ASCII phone number produces; CallIndexTest.
//    SqlPathAgreesOnANonAsciiPhone);
//  - total == matches; createdAt pages in seq order, either direction; a page sorted by another
//    key holds the same seqs in that key's order, ties by seq in the same direction.
// Run: build/fuzz/fuzz/call_index_fuzz -dict=fuzz/call_index.dict fuzz/corpus/call_index
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_escape.h"
#include "domain/batch.h"
#include "store/call_index.h"
#include "store/search_text.h"
#include "store/store.h"

namespace {

using nexus::store::CallIndex;
using nexus::store::CallQuery;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "call_index_fuzz: %s\n", what);
    __builtin_trap();
  }
}

// A JSON string literal keeping every byte but '"', '\\' and controls, which it \u-escapes;
// with `escape_letters`, ASCII letters too.
void AppendRawJsonString(std::string& out, std::string_view text, bool escape_letters) {
  out += '"';
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20 || (escape_letters && letter)) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", b);
      out += escape;
    } else {
      out += c;
    }
  }
  out += '"';
}

struct Call {
  std::string phone;
  std::string json;
  std::vector<std::optional<std::string>> values;  // as the JSON holds them
  CallIndex::CallState state;
};

int Compare(std::string_view a, std::string_view b) {  // bytewise, as unsigned char
  const int c = a.compare(b);                          // char_traits<char> compares unsigned
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const size_t variable_count = 1 + (flags & 3) % 3;
  const bool core_escaper = (flags & 4) != 0;
  const bool escape_letters = (flags & 8) != 0;
  const int sort_choice = (flags >> 4) & 7;
  const bool descending = (flags & 0x80) != 0;

  std::vector<std::string_view> fields;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (size_t begin = 0;;) {
    const size_t end = rest.find('\0', begin);
    fields.push_back(rest.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  const std::string term(fields[0]);

  std::vector<std::string> keys;
  for (size_t k = 0; k < variable_count; ++k) keys.push_back("v" + std::to_string(k));
  std::vector<Call> calls;
  for (size_t f = 1; f < fields.size() && calls.size() < 64; f += 1 + variable_count) {
    Call call;
    call.phone = std::string(fields[f]);
    call.json = "{";
    for (size_t k = 0; k < variable_count; ++k) {
      const size_t at = f + 1 + k;
      if (at >= fields.size() || (!fields[at].empty() && fields[at][0] == '\x01')) {
        continue;
      }
      if (call.json.size() > 1) call.json += ',';
      call.json += '"' + keys[k] + "\":";
      if (core_escaper) {
        nexus::core::AppendJsonString(call.json, fields[at]);
      } else {
        AppendRawJsonString(call.json, fields[at], escape_letters);
      }
    }
    call.json += '}';
    call.values.resize(variable_count);
    const bool parsed = nexus::store::ForEachStringMember(
        call.json, [&](std::string_view key, std::string_view value) {
          call.values[static_cast<size_t>(key[1] - '0')] = std::string(value);
        });
    Check(parsed, "the JSON written is an object of strings");
    const size_t i = calls.size();
    call.state = {nexus::domain::kAllCallStatuses[i % std::size(nexus::domain::kAllCallStatuses)],
                  static_cast<int64_t>(i % 5), static_cast<int64_t>((i * 7) % 11) - 3};
    calls.push_back(std::move(call));
  }

  CallIndex::Builder builder(keys, calls.size());
  for (const Call& call : calls) {
    Check(builder.Add(call.phone, call.json, call.state), "Add refused a valid call");
  }
  const CallIndex index = std::move(builder).Finish(0);
  Check(index.size() == static_cast<int64_t>(calls.size()), "size");

  const std::string folded = nexus::store::Folded(term);
  CallQuery query;
  query.search = term;
  query.descending = false;
  query.offset = 0;
  query.limit = 1000;
  const std::optional<CallIndex::Page> page = index.Query(query);
  const bool has_separator = folded.find(nexus::store::kSearchSeparator) != std::string::npos;
  Check(page.has_value() != has_separator, "declined iff the folded term holds the separator");
  if (!page) return 0;

  std::vector<int64_t> expected;
  for (size_t i = 0; i < calls.size(); ++i) {
    const bool in_text = nexus::store::CallSearchText(calls[i].phone, calls[i].json).find(folded) !=
                         std::string::npos;
    Check(nexus::store::CallMatches(calls[i].phone, calls[i].json, folded) == in_text,
          "CallMatches disagrees with CallSearchText");
    if (in_text) expected.push_back(static_cast<int64_t>(i));
  }
  Check(page->total == static_cast<int64_t>(expected.size()), "total");
  Check(page->seqs == expected, "the matching seqs");

  // The same matches in another order.
  using SortKey = CallQuery::SortKey;
  constexpr SortKey kSorts[] = {SortKey::kCreatedAt, SortKey::kUpdatedAt, SortKey::kPhone,
                                SortKey::kStatus,    SortKey::kAttempts,  SortKey::kVariable};
  query.sort_key = kSorts[sort_choice % std::size(kSorts)];
  query.sort_variable = keys[static_cast<size_t>(sort_choice) % keys.size()];
  query.descending = descending;
  const std::optional<CallIndex::Page> sorted = index.Query(query);
  Check(sorted.has_value() && sorted->total == page->total, "sorted total");
  std::vector<int64_t> same = sorted->seqs;
  std::sort(same.begin(), same.end());
  Check(same == expected, "sorted seqs are the matches");
  const auto order = [&](int64_t a, int64_t b) {  // < 0 when a comes first ascending
    const Call& x = calls[static_cast<size_t>(a)];
    const Call& y = calls[static_cast<size_t>(b)];
    const auto three = [](auto p, auto q) { return p < q ? -1 : (q < p ? 1 : 0); };
    int c = 0;
    switch (query.sort_key) {
      case SortKey::kCreatedAt:
        break;
      case SortKey::kUpdatedAt:
        c = three(x.state.updated_at_ms, y.state.updated_at_ms);
        break;
      case SortKey::kAttempts:
        c = three(x.state.attempts, y.state.attempts);
        break;
      case SortKey::kStatus:
        c = Compare(nexus::domain::CallStatusName(x.state.status),
                    nexus::domain::CallStatusName(y.state.status));
        break;
      case SortKey::kPhone:
        c = Compare(x.phone, y.phone);
        break;
      case SortKey::kVariable: {
        const size_t k = static_cast<size_t>(sort_choice) % keys.size();
        const auto& u = x.values[k];
        const auto& v = y.values[k];
        c = u && v ? Compare(*u, *v) : three(u.has_value(), v.has_value());  // absent lowest
        break;
      }
    }
    return c != 0 ? c : three(a, b);
  };
  for (size_t i = 1; i < sorted->seqs.size(); ++i) {
    const int c = order(sorted->seqs[i - 1], sorted->seqs[i]);
    Check(descending ? c > 0 : c < 0, "sort order");
  }
  return 0;
}
