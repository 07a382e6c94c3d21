#include "store/call_index.h"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>

#include "store/search_text.h"

namespace nexus::store {
namespace {

constexpr size_t kMaxColumnBytes = std::numeric_limits<uint32_t>::max();

void SetBit(std::vector<uint64_t>& bits, size_t i) { bits[i / 64] |= uint64_t{1} << (i % 64); }
bool TestBit(const std::vector<uint64_t>& bits, size_t i) {
  return (bits[i / 64] >> (i % 64) & 1) != 0;
}

// Status ranks in SQL text order of their names (busy < canceled < completed < ...), which is
// how the store sorts by callStatus.
std::array<uint8_t, std::size(domain::kAllCallStatuses)> StatusRanks() {
  std::array<uint8_t, std::size(domain::kAllCallStatuses)> ranks{};
  for (size_t i = 0; i < ranks.size(); ++i) {
    for (size_t j = 0; j < ranks.size(); ++j) {
      if (domain::CallStatusName(domain::kAllCallStatuses[j]) <
          domain::CallStatusName(domain::kAllCallStatuses[i])) {
        ++ranks[i];
      }
    }
  }
  return ranks;
}

}  // namespace

// --- Builder ---------------------------------------------------------------------------------

CallIndex::Builder::Builder(std::span<const std::string> variable_keys, size_t expected_calls) {
  index_.keys_.assign(variable_keys.begin(), variable_keys.end());
  index_.columns_.resize(variable_keys.size() + 1);
  for (size_t i = 0; i < variable_keys.size(); ++i) {
    column_of_key_.try_emplace(variable_keys[i], i + 1);
  }
  seen_.resize(index_.columns_.size());
  for (Column& column : index_.columns_) column.ends.reserve(expected_calls);
  index_.status_.reserve(expected_calls);
  index_.attempts_.reserve(expected_calls);
  index_.updated_at_.reserve(expected_calls);
}

bool CallIndex::Builder::AddValue(size_t column, std::string_view value) {
  Column& c = index_.columns_[column];
  if (value.find('\0') != std::string_view::npos) return false;
  if (c.bytes.size() + value.size() + 1 > kMaxColumnBytes) return false;
  c.bytes.append(value);
  c.bytes += kSearchSeparator;
  c.ends.push_back(static_cast<uint32_t>(c.bytes.size()));
  return true;
}

bool CallIndex::Builder::Add(std::string_view phone, std::string_view variables_json,
                             const CallState& state) {
  const size_t seq = index_.status_.size();
  if (seq >= std::numeric_limits<uint32_t>::max()) return false;
  if (state.attempts < 0 || state.attempts > std::numeric_limits<uint16_t>::max()) return false;
  std::fill(seen_.begin(), seen_.end(), false);
  if (!AddValue(0, phone)) return false;
  bool ascii = IsAscii(phone);
  bool ok = true;
  size_t next = 1;  // calls usually list their variables in the batch's key order
  const bool parsed =
      ForEachStringMember(variables_json, [&](std::string_view key, std::string_view value) {
        if (!ok) return;
        size_t column = 0;
        if (next < index_.columns_.size() && index_.keys_[next - 1] == key) {
          column = next;
        } else {
          const auto it = column_of_key_.find(absl::string_view(key.data(), key.size()));
          if (it == column_of_key_.end()) {
            ok = false;
            return;
          }
          column = it->second;
        }
        if (seen_[column] || !AddValue(column, value)) {
          ok = false;
          return;
        }
        seen_[column] = true;
        next = column + 1;
        ascii = ascii && IsAscii(value);
      });
  if (!parsed || !ok) return false;
  for (size_t column = 1; column < index_.columns_.size(); ++column) {
    if (seen_[column]) continue;
    Column& c = index_.columns_[column];
    c.ends.push_back(static_cast<uint32_t>(c.bytes.size()));  // absent
  }
  if (!ascii) {
    index_.folded_ += CallSearchText(phone, variables_json);
    index_.folded_ += kSearchSeparator;  // no term spans two calls
    if (index_.folded_.size() > kMaxColumnBytes) return false;
    index_.folded_ends_.push_back(static_cast<uint32_t>(index_.folded_.size()));
    index_.non_ascii_.push_back(static_cast<uint32_t>(seq));
  }
  index_.status_.push_back(static_cast<uint8_t>(state.status));
  index_.attempts_.push_back(static_cast<uint16_t>(state.attempts));
  index_.updated_at_.push_back(state.updated_at_ms);
  return true;
}

CallIndex CallIndex::Builder::Finish(int64_t change_seq) && {
  // Growth left up to half of each buffer unused; an index lives long, so give it back.
  for (Column& column : index_.columns_) {
    column.bytes.shrink_to_fit();
    column.ends.shrink_to_fit();
  }
  index_.folded_.shrink_to_fit();
  index_.folded_ends_.shrink_to_fit();
  index_.non_ascii_.shrink_to_fit();
  index_.status_.shrink_to_fit();
  index_.attempts_.shrink_to_fit();
  index_.updated_at_.shrink_to_fit();
  index_.non_ascii_bits_.assign((index_.status_.size() + 63) / 64, 0);
  for (const uint32_t seq : index_.non_ascii_) SetBit(index_.non_ascii_bits_, seq);
  index_.change_seq_ = change_seq;
  return std::move(index_);
}

// --- CallIndex -------------------------------------------------------------------------------

size_t CallIndex::memory_bytes() const {
  size_t bytes = folded_.capacity() + folded_ends_.capacity() * sizeof(uint32_t) +
                 non_ascii_.capacity() * sizeof(uint32_t) +
                 non_ascii_bits_.capacity() * sizeof(uint64_t) + status_.capacity() +
                 attempts_.capacity() * sizeof(uint16_t) + updated_at_.capacity() * sizeof(int64_t);
  for (const Column& column : columns_) {
    bytes += column.bytes.capacity() + column.ends.capacity() * sizeof(uint32_t);
  }
  for (const std::string& key : keys_) bytes += key.capacity();
  return bytes;
}

bool CallIndex::Apply(int64_t seq, const CallState& state) {
  if (seq < 0 || seq >= size()) return false;
  if (state.attempts < 0 || state.attempts > std::numeric_limits<uint16_t>::max()) return false;
  const auto i = static_cast<size_t>(seq);
  status_[i] = static_cast<uint8_t>(state.status);
  attempts_[i] = static_cast<uint16_t>(state.attempts);
  updated_at_[i] = state.updated_at_ms;
  return true;
}

namespace {

// Calls `hit(i)` once for each item of `text` that contains the term, in order; item i is
// text[ends[i - 1], ends[i]) and ends with a separator the term does not contain.
template <typename Hit>
void ForEachItemWithTerm(const TermFinder& finder, std::string_view text,
                         const std::vector<uint32_t>& ends, Hit hit) {
  size_t item = 0;
  for (size_t at = finder.Find(text, 0); at != std::string_view::npos;
       at = finder.Find(text, ends[item])) {
    while (ends[item] <= at) ++item;
    hit(item);
  }
}

}  // namespace

void CallIndex::MarkSearchMatches(std::string_view folded_term, std::vector<uint64_t>& bits) const {
  if (IsAscii(folded_term)) {
    // An all-ASCII call folds to its ASCII-lowercase text, so the term is found in its raw
    // values ignoring ASCII case; the other calls are decided on their folded text below.
    const TermFinder finder(folded_term, /*ignore_ascii_case=*/true);
    for (const Column& column : columns_) {
      ForEachItemWithTerm(finder, column.bytes, column.ends, [&](size_t call) {
        if (!TestBit(non_ascii_bits_, call)) SetBit(bits, call);
      });
    }
  }
  // Folding maps an ASCII text to ASCII only, so a term that is not ASCII can match only here.
  ForEachItemWithTerm(TermFinder(folded_term, /*ignore_ascii_case=*/false), folded_, folded_ends_,
                      [&](size_t k) { SetBit(bits, non_ascii_[k]); });
}

const CallIndex::Column* CallIndex::VariableColumn(std::string_view key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &columns_[i + 1];
  }
  return nullptr;
}

std::optional<CallIndex::Page> CallIndex::Query(const CallQuery& query) const {
  const std::string term = Folded(query.search);
  if (term.find(kSearchSeparator) != std::string::npos) return std::nullopt;
  const size_t n = status_.size();
  Page page;

  // Conditions on the variables; a key that is no column is absent from every call.
  struct VariableTest {
    const Column* column;
    const std::optional<std::string>* value;
  };
  std::vector<VariableTest> variable_tests;
  for (const CallQuery::VariableCondition& condition : query.variables) {
    const Column* column = VariableColumn(condition.key);
    if (column == nullptr) {
      if (condition.value) return page;  // nothing has it
      continue;                          // everything lacks it
    }
    variable_tests.push_back({column, &condition.value});
  }
  const Column& phones = columns_[0];
  const auto status =
      query.status ? std::optional(static_cast<uint8_t>(*query.status)) : std::optional<uint8_t>();
  const auto matches = [&](size_t i) {
    if (status && status_[i] != *status) return false;
    if (query.phone && *phones.value(i) != *query.phone) return false;
    for (const VariableTest& test : variable_tests) {
      if (test.column->value(i) != *test.value) return false;
    }
    return true;
  };

  std::vector<uint32_t> matched;
  if (term.empty()) {
    for (size_t i = 0; i < n; ++i) {
      if (matches(i)) matched.push_back(static_cast<uint32_t>(i));
    }
  } else {
    std::vector<uint64_t> bits((n + 63) / 64, 0);
    MarkSearchMatches(term, bits);
    for (size_t word = 0; word < bits.size(); ++word) {
      for (uint64_t w = bits[word]; w != 0; w &= w - 1) {
        const size_t i = word * 64 + static_cast<size_t>(std::countr_zero(w));
        if (matches(i)) matched.push_back(static_cast<uint32_t>(i));
      }
    }
  }
  page.total = static_cast<int64_t>(matched.size());
  if (query.limit <= 0 || query.offset < 0 || query.offset >= page.total) return page;
  const auto offset = static_cast<size_t>(query.offset);
  const size_t end = offset + std::min(static_cast<size_t>(query.limit), matched.size() - offset);

  using SortKey = CallQuery::SortKey;
  // A status filter makes a status sort the row order.
  const SortKey sort =
      query.sort_key == SortKey::kStatus && query.status ? SortKey::kCreatedAt : query.sort_key;
  const auto take = [&](auto key) {
    const auto ascending = [&key](uint32_t a, uint32_t b) {
      const auto ka = key(a);
      const auto kb = key(b);
      if (ka != kb) return ka < kb;
      return a < b;
    };
    const auto select = [&](auto less) {
      if (offset > 0)
        std::nth_element(matched.begin(), matched.begin() + offset, matched.end(), less);
      std::partial_sort(matched.begin() + offset, matched.begin() + end, matched.end(), less);
    };
    if (query.descending) {
      select([&](uint32_t a, uint32_t b) { return ascending(b, a); });
    } else {
      select(ascending);
    }
    page.seqs.assign(matched.begin() + offset, matched.begin() + end);
  };
  switch (sort) {
    case SortKey::kCreatedAt:
      if (query.descending) {
        for (size_t k = offset; k < end; ++k) page.seqs.push_back(matched[matched.size() - 1 - k]);
      } else {
        page.seqs.assign(matched.begin() + offset, matched.begin() + end);
      }
      break;
    case SortKey::kStatus: {
      static const auto kRanks = StatusRanks();
      take([&](uint32_t i) { return kRanks[status_[i]]; });
      break;
    }
    case SortKey::kUpdatedAt:
      take([&](uint32_t i) { return updated_at_[i]; });
      break;
    case SortKey::kAttempts:
      take([&](uint32_t i) { return attempts_[i]; });
      break;
    case SortKey::kPhone:
      take([&](uint32_t i) { return *phones.value(i); });
      break;
    case SortKey::kVariable: {
      const Column* column = VariableColumn(query.sort_variable);
      if (column == nullptr) {
        take([](uint32_t) { return 0; });  // absent everywhere: row order
      } else {
        take([column](uint32_t i) { return column->value(i); });
      }
      break;
    }
  }
  return page;
}

}  // namespace nexus::store
