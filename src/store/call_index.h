// File: store/call_index.h
//
// An in-memory index of one batch's calls that answers a batch-details query (CallQuery) — the
// total and the row numbers (seq) of one page — without reading the batch from the database. A
// store keeps one for a large batch whose queries would otherwise read every call: a search, a
// phone or variable filter, a sort other than createdAt / callStatus (docs/architecture.md,
// "Batch queries").
//
// What it holds, per call (seq 0 .. size()-1):
//  - immutable after the upload: the phone number and every variable value, column by column
//    (one text buffer and one offset array per column), plus, for the few calls whose text is
//    not all ASCII, their case-folded search text (store/search_text.h);
//  - mutable: status, attempts and updated_at, which the owner keeps current with Apply() for
//    every call changed since `change_seq` (the store's per-batch change counter).
//
// Answers are exactly those of the store's SQL for the same snapshot: the same matching rules
// (search_text.h CallMatches; variable equality on the stored text, nullopt = absent), the same
// orders (SQL text order of status names, NULL / absent lowest, ties by seq in the sort's
// direction). Query() declines (nullopt) the one case it does not model — a search term
// containing kSearchSeparator — and the caller asks the database.
//
// Not thread-safe: the owner serialises Apply() and Query() on one index.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "domain/batch.h"
#include "store/store.h"

namespace nexus::store {

class CallIndex {
 public:
  // The mutable part of a call's row.
  struct CallState {
    domain::CallStatus status = domain::CallStatus::kQueued;
    int64_t attempts = 0;
    int64_t updated_at_ms = 0;
  };

  class Builder;  // below

  struct Page {
    int64_t total = 0;          // calls matching the query
    std::vector<int64_t> seqs;  // the page, in the query's order
  };

  int64_t size() const { return static_cast<int64_t>(status_.size()); }
  // The store's change counter the mutable columns reflect.
  int64_t change_seq() const { return change_seq_; }
  void set_change_seq(int64_t change_seq) { change_seq_ = change_seq; }
  // Heap bytes held (for a cache's memory limit).
  size_t memory_bytes() const;

  // Records call `seq`'s current state. False when `seq` is out of range or the state cannot be
  // held (attempts above 65,535): the index must then be dropped.
  bool Apply(int64_t seq, const CallState& state);

  // The matching total and the page at query.offset / query.limit; nullopt when the search term
  // (after folding) contains kSearchSeparator.
  std::optional<Page> Query(const CallQuery& query) const;

 private:
  CallIndex() = default;

  // One column's values: value i is bytes[start(i), ends[i] - 1), followed by kSearchSeparator;
  // ends[i] == start(i) (no separator) means absent.
  struct Column {
    std::string bytes;
    std::vector<uint32_t> ends;
    uint32_t start(size_t i) const { return i == 0 ? 0 : ends[i - 1]; }
    std::optional<std::string_view> value(size_t i) const {
      const uint32_t begin = start(i);
      if (ends[i] == begin) return std::nullopt;
      return std::string_view(bytes.data() + begin, ends[i] - begin - 1);
    }
  };

  // Sets bit `seq` of `bits` for every call whose search text contains `folded_term`.
  void MarkSearchMatches(std::string_view folded_term, std::vector<uint64_t>& bits) const;
  const Column* VariableColumn(std::string_view key) const;

  std::vector<std::string> keys_;  // column i + 1 holds keys_[i]
  std::vector<Column> columns_;    // [0] the phone number, then one per key
  std::vector<uint64_t> non_ascii_bits_;
  std::vector<uint32_t> non_ascii_;  // seqs of the calls whose folded text is kept
  std::string folded_;               // their CallSearchText, each followed by kSearchSeparator
  std::vector<uint32_t> folded_ends_;
  std::vector<uint8_t> status_;  // domain::CallStatus
  std::vector<uint16_t> attempts_;
  std::vector<int64_t> updated_at_;
  int64_t change_seq_ = 0;
};

class CallIndex::Builder {
 public:
  // `variable_keys`: the batch's variable keys, one column each. `expected_calls` only reserves
  // memory.
  explicit Builder(std::span<const std::string> variable_keys, size_t expected_calls = 0);

  // Adds the call with the next seq (0, 1, ...). False when the call cannot be indexed — its
  // variables are not a JSON object of strings, name a key that is not a variable of the
  // batch or the same key twice, a value or the phone number holds a NUL byte, a column
  // outgrows 4 GiB, or attempts is out of range — and the builder must then be dropped.
  bool Add(std::string_view phone, std::string_view variables_json, const CallState& state);

  CallIndex Finish(int64_t change_seq) &&;

 private:
  bool AddValue(size_t column, std::string_view value);

  CallIndex index_;
  absl::flat_hash_map<std::string, size_t> column_of_key_;  // column of each variable key
  std::vector<bool> seen_;                                  // per column, for the current call
};

}  // namespace nexus::store
