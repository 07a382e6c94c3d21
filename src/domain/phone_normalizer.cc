#include "domain/phone_normalizer.h"

#include <fmt/format.h>
#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "domain/phone.h"

// Declared in libphonenumber's metadata.h, which Debian does not install (the symbols are
// exported): the serialized PhoneMetadataCollection that PhoneNumberUtil parses at start-up.
namespace i18n::phonenumbers {
int metadata_size();
const void* metadata_get();
}  // namespace i18n::phonenumbers

namespace nexus::domain {
namespace {

using i18n::phonenumbers::PhoneMetadata;
using i18n::phonenumbers::PhoneMetadataCollection;
using i18n::phonenumbers::PhoneNumberDesc;
using i18n::phonenumbers::PhoneNumberUtil;

// libphonenumber's limits (PhoneNumberUtil keeps its constants private).
constexpr size_t kMinLengthForNsn = 2;
constexpr size_t kMaxLengthForNsn = 17;
constexpr size_t kMaxLengthCountryCode = 3;
// NormalizePhoneNumber's own limit, checked before libphonenumber is called.
constexpr size_t kMaxInputLength = 250;
// Longest digit string the fast path reads: '+' + 3-digit country code + 17-digit NSN.
constexpr size_t kMaxDigits = kMaxLengthCountryCode + kMaxLengthForNsn;

// ---------------------------------------------------------------------------------------------
// Metadata regular expressions as DFAs over the digits.
//
// The alphabet is the ten digits plus kEndSymbol, which stands for '$': matchers feed it only at
// the end of the input, so "$" can only match there, as in ICU. Supported syntax: digits, \d,
// [...] of digits and digit ranges, (...) and (?:...), '|', the greedy quantifiers ?, *, +,
// {n}, {n,}, {n,m}, and '$'. Anything else makes compilation fail, and the caller falls back.

constexpr int kEndSymbol = 10;
constexpr int kSymbols = 11;
constexpr uint16_t kAllDigits = 0x3FF;
constexpr int kMaxRepeat = 64;
constexpr size_t kMaxNfaStates = 200000;
constexpr size_t kMaxDfaStates = 100000;

struct RegexNode {
  enum class Kind { kEmpty, kSet, kConcat, kAlt, kRepeat };
  Kind kind = Kind::kEmpty;
  uint16_t set = 0;  // kSet: bit i = symbol i
  int min = 0;       // kRepeat
  int max = 0;       // kRepeat; -1 = unbounded
  std::vector<int> kids;
};

class RegexParser {
 public:
  explicit RegexParser(std::string_view pattern) : p_(pattern) {}

  // The root node, or nullopt when the pattern uses syntax outside the supported subset.
  std::optional<int> Parse() {
    const int root = ParseAlt();
    if (!ok_ || pos_ != p_.size()) return std::nullopt;
    return root;
  }
  const std::vector<RegexNode>& nodes() const { return nodes_; }

 private:
  bool Eof() const { return pos_ >= p_.size(); }
  char Peek(size_t ahead = 0) const { return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : '\0'; }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  int Add(RegexNode node) {
    nodes_.push_back(std::move(node));
    return static_cast<int>(nodes_.size()) - 1;
  }
  int Fail() {
    ok_ = false;
    return Add({});
  }
  int Set(uint16_t set) {
    RegexNode node;
    node.kind = RegexNode::Kind::kSet;
    node.set = set;
    return Add(std::move(node));
  }

  int ParseAlt() {
    RegexNode alt;
    alt.kind = RegexNode::Kind::kAlt;
    alt.kids.push_back(ParseConcat());
    while (ok_ && Peek() == '|') {
      ++pos_;
      alt.kids.push_back(ParseConcat());
    }
    if (alt.kids.size() == 1) return alt.kids[0];
    return Add(std::move(alt));
  }

  int ParseConcat() {
    RegexNode cat;
    cat.kind = RegexNode::Kind::kConcat;
    while (ok_ && !Eof() && Peek() != '|' && Peek() != ')') cat.kids.push_back(ParseRepeat());
    return Add(std::move(cat));
  }

  bool ParseCount(int* value) {
    if (!IsDigit(Peek())) return false;
    int v = 0;
    while (IsDigit(Peek())) {
      v = v * 10 + (Peek() - '0');
      if (v > kMaxRepeat) return false;
      ++pos_;
    }
    *value = v;
    return true;
  }

  int ParseRepeat() {
    const int atom = ParseAtom();
    if (!ok_) return atom;
    int min = 0;
    int max = 0;
    switch (Peek()) {
      case '?':
        min = 0, max = 1, ++pos_;
        break;
      case '*':
        min = 0, max = -1, ++pos_;
        break;
      case '+':
        min = 1, max = -1, ++pos_;
        break;
      case '{':
        ++pos_;
        if (!ParseCount(&min)) return Fail();
        max = min;
        if (Peek() == ',') {
          ++pos_;
          if (Peek() == '}') {
            max = -1;
          } else if (!ParseCount(&max) || max < min) {
            return Fail();
          }
        }
        if (Peek() != '}') return Fail();
        ++pos_;
        break;
      default:
        return atom;
    }
    // A lazy or possessive modifier, or a stacked quantifier, is outside the subset.
    const char next = Peek();
    if (next == '?' || next == '*' || next == '+' || next == '{') return Fail();
    RegexNode repeat;
    repeat.kind = RegexNode::Kind::kRepeat;
    repeat.min = min;
    repeat.max = max;
    repeat.kids = {atom};
    return Add(std::move(repeat));
  }

  int ParseAtom() {
    const char c = Peek();
    if (IsDigit(c)) {
      ++pos_;
      return Set(static_cast<uint16_t>(1u << (c - '0')));
    }
    if (c == '$') {
      ++pos_;
      return Set(static_cast<uint16_t>(1u << kEndSymbol));
    }
    if (c == '\\') {
      if (Peek(1) != 'd') return Fail();
      pos_ += 2;
      return Set(kAllDigits);
    }
    if (c == '[') return ParseClass();
    if (c == '(') {
      ++pos_;
      if (Peek() == '?') {
        if (Peek(1) != ':') return Fail();
        pos_ += 2;
      }
      const int inner = ParseAlt();
      if (!ok_ || Peek() != ')') return Fail();
      ++pos_;
      return inner;
    }
    return Fail();
  }

  int ParseClass() {
    ++pos_;  // '['
    uint16_t set = 0;
    while (!Eof() && Peek() != ']') {
      const char c = Peek();
      if (c == '\\' && Peek(1) == 'd') {
        set |= kAllDigits;
        pos_ += 2;
        continue;
      }
      if (!IsDigit(c)) return Fail();  // '^', escapes, non-digits: outside the subset
      ++pos_;
      if (Peek() == '-' && IsDigit(Peek(1))) {
        const char hi = Peek(1);
        if (hi < c) return Fail();
        for (char d = c; d <= hi; ++d) set |= static_cast<uint16_t>(1u << (d - '0'));
        pos_ += 2;
      } else {
        set |= static_cast<uint16_t>(1u << (c - '0'));
      }
    }
    if (Eof() || set == 0) return Fail();
    ++pos_;  // ']'
    return Set(set);
  }

  std::string_view p_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::vector<RegexNode> nodes_;
};

// Thompson NFA built backwards from the continuation state; state 0 accepts.
class NfaBuilder {
 public:
  struct State {
    uint16_t set = 0;  // symbols leading to `out`; 0 = epsilon-only state
    int out = -1;
    std::vector<int> eps;
  };

  explicit NfaBuilder(const std::vector<RegexNode>& nodes) : nodes_(nodes) {}

  std::optional<int> Build(int root) {
    states_.emplace_back();  // accepting state
    const int start = Build(root, 0);
    if (too_big_) return std::nullopt;
    return start;
  }
  const std::vector<State>& states() const { return states_; }

 private:
  int NewState() {
    if (states_.size() >= kMaxNfaStates) too_big_ = true;
    states_.emplace_back();
    return static_cast<int>(states_.size()) - 1;
  }

  int Build(int index, int next) {
    if (too_big_) return next;
    const RegexNode& node = nodes_[index];
    switch (node.kind) {
      case RegexNode::Kind::kEmpty:
        return next;
      case RegexNode::Kind::kSet: {
        const int s = NewState();
        states_[s].set = node.set;
        states_[s].out = next;
        return s;
      }
      case RegexNode::Kind::kConcat:
        for (auto it = node.kids.rbegin(); it != node.kids.rend(); ++it) next = Build(*it, next);
        return next;
      case RegexNode::Kind::kAlt: {
        const int s = NewState();
        for (const int kid : node.kids) {
          const int start = Build(kid, next);
          states_[s].eps.push_back(start);
        }
        return s;
      }
      case RegexNode::Kind::kRepeat: {
        const int kid = node.kids[0];
        int cur = next;
        if (node.max < 0) {
          const int loop = NewState();
          const int body = Build(kid, loop);
          states_[loop].eps = {body, next};
          cur = loop;
        } else {
          // X{n,m} = X^n (X (X ...)?)?: each optional copy may stop and go on to `next`.
          for (int i = 0; i < node.max - node.min; ++i) {
            const int opt = NewState();
            const int body = Build(kid, cur);
            states_[opt].eps = {body, next};
            cur = opt;
          }
        }
        for (int i = 0; i < node.min; ++i) cur = Build(kid, cur);
        return cur;
      }
    }
    return next;
  }

  const std::vector<RegexNode>& nodes_;
  std::vector<State> states_;
  bool too_big_ = false;
};

// A complete DFA (every state has a transition for every symbol; `dead` is the empty set).
struct Dfa {
  std::vector<std::array<int32_t, kSymbols>> next;
  std::vector<uint8_t> accept;         // a match ends here
  std::vector<uint8_t> accept_at_end;  // a match ends here if the input ends here ('$' allowed)
  int32_t start = 0;
  int32_t dead = 0;

  // ICU RegexMatcher::matches() on an ASCII digit string.
  bool FullMatch(std::string_view digits) const {
    int32_t s = start;
    for (const char c : digits) s = next[s][c - '0'];
    return accept_at_end[s] != 0;
  }

  // The anchored matches (ICU lookingAt()) of an ASCII digit string: how many distinct end
  // positions they have, capped at 2, and the smallest in *first_end.
  int MatchEnds(std::string_view digits, size_t* first_end = nullptr) const {
    int count = 0;
    int32_t s = start;
    for (size_t i = 0;; ++i) {
      const bool at_end = i == digits.size();
      if (at_end ? accept_at_end[s] : accept[s]) {
        if (count == 0 && first_end != nullptr) *first_end = i;
        if (++count == 2) return count;
      }
      if (at_end) return count;
      s = next[s][digits[i] - '0'];
      if (s == dead) return count;
    }
  }
};

std::optional<Dfa> CompileDfa(std::string_view pattern) {
  RegexParser parser(pattern);
  const std::optional<int> root = parser.Parse();
  if (!root) return std::nullopt;
  NfaBuilder builder(parser.nodes());
  const std::optional<int> nfa_start = builder.Build(*root);
  if (!nfa_start) return std::nullopt;
  const std::vector<NfaBuilder::State>& nfa = builder.states();

  // Epsilon closure, keeping the states that matter for the future: symbol states and the
  // accepting state 0.
  std::vector<uint32_t> mark(nfa.size(), 0);
  uint32_t generation = 0;
  std::vector<int> stack;
  auto closure = [&](const std::vector<int>& seeds) {
    ++generation;
    std::vector<int> out;
    stack = seeds;
    while (!stack.empty()) {
      const int s = stack.back();
      stack.pop_back();
      if (mark[s] == generation) continue;
      mark[s] = generation;
      if (nfa[s].set != 0 || s == 0) out.push_back(s);
      for (const int e : nfa[s].eps) stack.push_back(e);
    }
    std::sort(out.begin(), out.end());
    return out;
  };

  std::map<std::vector<int>, int32_t> ids;
  std::vector<std::vector<int>> sets;
  auto intern = [&](std::vector<int> set) {
    auto [it, inserted] = ids.emplace(std::move(set), static_cast<int32_t>(sets.size()));
    if (inserted) sets.push_back(it->first);
    return it->second;
  };

  Dfa dfa;
  dfa.start = intern(closure({*nfa_start}));
  dfa.dead = intern({});
  std::vector<int> seeds;
  for (size_t i = 0; i < sets.size(); ++i) {
    if (sets.size() > kMaxDfaStates) return std::nullopt;
    const std::vector<int> set = sets[i];  // copy: `sets` grows below
    std::array<int32_t, kSymbols> row{};
    for (int symbol = 0; symbol < kSymbols; ++symbol) {
      seeds.clear();
      for (const int s : set) {
        if (nfa[s].set & (1u << symbol)) seeds.push_back(nfa[s].out);
      }
      row[symbol] = intern(closure(seeds));
    }
    dfa.next.push_back(row);
    dfa.accept.push_back(std::binary_search(set.begin(), set.end(), 0) ? 1 : 0);
  }
  dfa.accept_at_end.resize(sets.size());
  for (size_t i = 0; i < sets.size(); ++i) {
    dfa.accept_at_end[i] = dfa.accept[i] || dfa.accept[dfa.next[i][kEndSymbol]];
  }
  return dfa;
}

// ---------------------------------------------------------------------------------------------
// Per-metadata data for the parse replay.

enum class LengthResult { kPossible, kPossibleLocalOnly, kInvalidLength, kTooShort, kTooLong };

struct MetaInfo {
  const PhoneMetadata* meta = nullptr;
  int cc = 0;
  std::string cc_string;
  bool usable = false;  // every regex below compiled
  std::optional<Dfa> general;
  std::optional<Dfa> national_prefix;  // national_prefix_for_parsing; unset when empty
  std::optional<Dfa> idd;              // international_prefix
  bool has_transform = false;
  std::vector<int> possible_lengths;  // general_desc
  std::vector<int> local_lengths;     // general_desc, local only

  // libphonenumber's TestNumberLength(number, metadata) (type UNKNOWN: the general desc).
  LengthResult TestNumberLength(size_t length) const {
    if (possible_lengths.front() == -1) return LengthResult::kInvalidLength;
    const int actual = static_cast<int>(length);
    if (std::find(local_lengths.begin(), local_lengths.end(), actual) != local_lengths.end()) {
      return LengthResult::kPossibleLocalOnly;
    }
    const int minimum = possible_lengths.front();
    if (minimum == actual) return LengthResult::kPossible;
    if (minimum > actual) return LengthResult::kTooShort;
    if (possible_lengths.back() < actual) return LengthResult::kTooLong;
    return std::find(possible_lengths.begin() + 1, possible_lengths.end(), actual) !=
                   possible_lengths.end()
               ? LengthResult::kPossible
               : LengthResult::kInvalidLength;
  }

  // MaybeStripNationalPrefixAndCarrierCode: strips the national prefix from *number when
  // libphonenumber would. False when unsure (a match with a transform rule, or a prefix with
  // two possible lengths): the caller falls back.
  bool StripNationalPrefix(std::string_view* number) const {
    if (number->empty() || !national_prefix) return true;
    size_t end = 0;
    const int ends = national_prefix->MatchEnds(*number, &end);
    if (ends == 0) return true;  // both Consume() calls fail: nothing stripped
    if (has_transform || ends > 1) return false;
    const std::string_view stripped = number->substr(end);
    // "If the original number was viable, the stripped one must be too."
    if (general->FullMatch(*number) && !general->FullMatch(stripped)) return true;
    *number = stripped;
    return true;
  }
};

std::unique_ptr<MetaInfo> MakeMetaInfo(const PhoneMetadata& meta) {
  auto info = std::make_unique<MetaInfo>();
  info->meta = &meta;
  info->cc = meta.country_code();
  info->cc_string = std::to_string(meta.country_code());
  const PhoneNumberDesc& general = meta.general_desc();
  info->possible_lengths.assign(general.possible_length().begin(), general.possible_length().end());
  info->local_lengths.assign(general.possible_length_local_only().begin(),
                             general.possible_length_local_only().end());
  // An empty general pattern never matches in libphonenumber, unlike an empty DFA.
  if (info->possible_lengths.empty() || general.national_number_pattern().empty()) return info;
  info->general = CompileDfa(general.national_number_pattern());
  info->idd = CompileDfa(meta.international_prefix());
  info->has_transform = !meta.national_prefix_transform_rule().empty();
  bool prefix_ok = true;
  if (!meta.national_prefix_for_parsing().empty()) {
    info->national_prefix = CompileDfa(meta.national_prefix_for_parsing());
    prefix_ok = info->national_prefix.has_value();
  }
  info->usable = info->general && info->idd && prefix_ok;
  return info;
}

// ---------------------------------------------------------------------------------------------
// Validity memo: per (country code, NSN length) decision DAG over the NSN's digits.

// A pattern IsValidNumber may consult at the DAG's NSN length.
struct ValidityPattern {
  const Dfa* dfa = nullptr;
  // Per DFA state, bit n: some (live) / every (full) digit string of length n leads to a match.
  const std::vector<uint32_t>* live = nullptr;
  const std::vector<uint32_t>* full = nullptr;
};

struct CompiledPattern {
  Dfa dfa;
  std::vector<uint32_t> live;
  std::vector<uint32_t> full;
};

std::unique_ptr<CompiledPattern> CompilePattern(std::string_view pattern) {
  std::optional<Dfa> dfa = CompileDfa(pattern);
  if (!dfa) return nullptr;
  auto compiled = std::make_unique<CompiledPattern>();
  compiled->dfa = std::move(*dfa);
  const Dfa& d = compiled->dfa;
  const size_t states = d.next.size();
  compiled->live.assign(states, 0);
  compiled->full.assign(states, 0);
  for (size_t s = 0; s < states; ++s) {
    if (d.accept_at_end[s]) compiled->live[s] = compiled->full[s] = 1;
  }
  for (size_t n = 1; n <= kMaxLengthForNsn; ++n) {
    for (size_t s = 0; s < states; ++s) {
      bool any = false;
      bool all = true;
      for (int digit = 0; digit < 10; ++digit) {
        const int32_t t = d.next[s][digit];
        any = any || ((compiled->live[t] >> (n - 1)) & 1);
        all = all && ((compiled->full[t] >> (n - 1)) & 1);
      }
      compiled->live[s] |= static_cast<uint32_t>(any) << n;
      compiled->full[s] |= static_cast<uint32_t>(all) << n;
    }
  }
  return compiled;
}

struct ValidityDag {
  int32_t root = 0;  // >= 0: node index; < 0: ~class
  std::vector<std::array<int32_t, 10>> nodes;
  size_t classes = 0;
  // Per class: 0 = not asked yet, 1 = valid, 2 = invalid.
  std::unique_ptr<std::atomic<uint8_t>[]> verdicts;
};

constexpr size_t kMaxDagNodes = 200000;

class DagBuilder {
 public:
  DagBuilder(std::vector<ValidityPattern> patterns, size_t length)
      : patterns_(std::move(patterns)), length_(length) {}

  std::unique_ptr<ValidityDag> Build() {
    std::vector<int32_t> states;
    for (const ValidityPattern& p : patterns_) states.push_back(p.dfa->start);
    auto dag = std::make_unique<ValidityDag>();
    dag->root = Node(0, states);
    if (overflow_) return nullptr;
    dag->nodes = std::move(nodes_);
    dag->classes = classes_.size();
    dag->verdicts = std::make_unique<std::atomic<uint8_t>[]>(classes_.size());
    return dag;
  }

 private:
  static constexpr int32_t kNo = -1;   // decided: no completion matches
  static constexpr int32_t kYes = -2;  // decided: every completion matches

  int32_t Node(size_t depth, std::vector<int32_t>& states) {
    const size_t rest = length_ - depth;
    bool decided = true;
    for (size_t i = 0; i < states.size(); ++i) {
      const int32_t s = states[i];
      if (s < 0) continue;
      if (!(((*patterns_[i].live)[s] >> rest) & 1)) {
        states[i] = kNo;
      } else if (((*patterns_[i].full)[s] >> rest) & 1) {
        states[i] = kYes;
      } else {
        decided = false;
      }
    }
    if (decided) {
      std::string outcome(states.size(), '0');
      for (size_t i = 0; i < states.size(); ++i) outcome[i] = states[i] == kYes ? '1' : '0';
      auto [it, inserted] = classes_.emplace(std::move(outcome), classes_.size());
      return ~static_cast<int32_t>(it->second);
    }
    std::vector<int32_t> key = states;
    key.push_back(static_cast<int32_t>(depth));
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    if (nodes_.size() >= kMaxDagNodes) {
      overflow_ = true;
      return 0;
    }
    const auto id = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
    memo_.emplace(std::move(key), id);
    std::array<int32_t, 10> kids{};
    std::vector<int32_t> child(states.size());
    for (int digit = 0; digit < 10; ++digit) {
      for (size_t i = 0; i < states.size(); ++i) {
        child[i] = states[i] < 0 ? states[i] : patterns_[i].dfa->next[states[i]][digit];
      }
      kids[digit] = Node(depth + 1, child);
      if (overflow_) return 0;
    }
    nodes_[id] = kids;
    return id;
  }

  std::vector<ValidityPattern> patterns_;
  size_t length_;
  std::vector<std::array<int32_t, 10>> nodes_;
  absl::flat_hash_map<std::vector<int32_t>, int32_t> memo_;
  std::map<std::string, size_t> classes_;
  bool overflow_ = false;
};

struct CcInfo {
  int cc = 0;
  std::vector<const PhoneMetadata*> metas;  // every region (or the non-geo entity) with `cc`

  std::once_flag patterns_once;
  bool patterns_ok = false;
  std::vector<std::unique_ptr<CompiledPattern>> compiled;
  std::vector<std::pair<const CompiledPattern*, uint32_t>> patterns;  // with the lengths mask

  std::array<std::once_flag, kMaxLengthForNsn + 1> dag_once;
  std::array<std::unique_ptr<ValidityDag>, kMaxLengthForNsn + 1> dags;
};

// Every pattern IsValidNumber can consult for `info.cc`: GetRegionCodeForNumber tries each
// region's leading digits (a prefix match) or its number types, and IsValidNumberForRegion the
// chosen region's number types (IsNumberMatchingDesc: possible lengths, then a full match).
void CompileValidityPatterns(CcInfo& info) {
  constexpr uint32_t kAllLengths = (1u << (kMaxLengthForNsn + 1)) - 1;
  std::map<std::string, const CompiledPattern*> by_text;
  std::set<std::pair<const CompiledPattern*, uint32_t>> seen;
  auto add = [&](const std::string& text, uint32_t lengths) {
    auto it = by_text.find(text);
    if (it == by_text.end()) {
      std::unique_ptr<CompiledPattern> compiled = CompilePattern(text);
      if (!compiled) return false;
      it = by_text.emplace(text, compiled.get()).first;
      info.compiled.push_back(std::move(compiled));
    }
    if (seen.emplace(it->second, lengths).second) info.patterns.emplace_back(it->second, lengths);
    return true;
  };
  for (const PhoneMetadata* meta : info.metas) {
    const PhoneNumberDesc* descs[] = {
        &meta->general_desc(), &meta->premium_rate(),    &meta->toll_free(), &meta->shared_cost(),
        &meta->voip(),         &meta->personal_number(), &meta->pager(),     &meta->uan(),
        &meta->voicemail(),    &meta->fixed_line(),      &meta->mobile()};
    for (const PhoneNumberDesc* desc : descs) {
      // An empty pattern never matches (RegexBasedMatcher::MatchNationalNumber): a constant.
      if (desc->national_number_pattern().empty()) continue;
      uint32_t lengths = kAllLengths;
      if (desc->possible_length_size() > 0) {
        lengths = 0;
        for (const int length : desc->possible_length()) {
          if (length >= 0 && length <= static_cast<int>(kMaxLengthForNsn)) lengths |= 1u << length;
        }
      }
      if (lengths != 0 && !add(desc->national_number_pattern(), lengths)) return;
    }
    // Consume() of the leading digits on digits only == full match of "(?:leading)\d*".
    if (meta->has_leading_digits() && !add("(?:" + meta->leading_digits() + ")\\d*", kAllLengths)) {
      return;
    }
  }
  info.patterns_ok = true;
}

std::unique_ptr<ValidityDag> BuildValidityDag(const CcInfo& info, size_t length) {
  std::vector<ValidityPattern> active;
  for (const auto& [compiled, lengths] : info.patterns) {
    if (!((lengths >> length) & 1)) continue;
    active.push_back({&compiled->dfa, &compiled->live, &compiled->full});
  }
  return DagBuilder(std::move(active), length).Build();
}

struct Counts {
  uint64_t fast = 0;
  uint64_t slow = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct PhoneNormalizer::Impl {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneMetadataCollection collection;
  bool enabled = false;
  std::vector<std::unique_ptr<MetaInfo>> metas;
  std::array<const MetaInfo*, 26 * 26> by_region{};
  std::array<const MetaInfo*, 1000> main_for_cc{};  // null: not an assigned country code
  std::array<std::unique_ptr<CcInfo>, 1000> cc_info;

  mutable std::atomic<uint64_t> fast{0};
  mutable std::atomic<uint64_t> slow{0};
  mutable std::atomic<uint64_t> memo_fills{0};
  mutable std::atomic<uint64_t> direct_validity{0};
  mutable std::atomic<uint64_t> dags_built{0};

  Impl() { enabled = Load(); }

  static int RegionIndex(std::string_view region) {
    if (region.size() != 2 || region[0] < 'A' || region[0] > 'Z' || region[1] < 'A' ||
        region[1] > 'Z') {
      return -1;
    }
    return (region[0] - 'A') * 26 + (region[1] - 'A');
  }

  const MetaInfo* FindRegion(std::string_view region) const {
    const int index = RegionIndex(region);
    return index < 0 ? nullptr : by_region[index];
  }

  bool Load() {
    if (!collection.ParseFromArray(i18n::phonenumbers::metadata_get(),
                                   i18n::phonenumbers::metadata_size())) {
      return false;
    }
    std::map<int, const MetaInfo*> non_geo;
    size_t geo_count = 0;
    for (const PhoneMetadata& meta : collection.metadata()) {
      metas.push_back(MakeMetaInfo(meta));
      const MetaInfo* info = metas.back().get();
      if (meta.id() == PhoneNumberUtil::kRegionCodeForNonGeoEntity) {
        non_geo[meta.country_code()] = info;
        continue;
      }
      const int index = RegionIndex(meta.id());
      if (index < 0 || by_region[index] != nullptr) return false;
      by_region[index] = info;
      ++geo_count;
    }
    // The collection must be the one the PhoneNumberUtil singleton loaded.
    std::set<std::string> regions;
    util.GetSupportedRegions(&regions);
    if (regions.size() != geo_count) return false;
    for (const std::string& region : regions) {
      const MetaInfo* info = FindRegion(region);
      if (info == nullptr || util.GetCountryCodeForRegion(region) != info->cc) return false;
      std::string ndd;
      util.GetNddPrefixForRegion(region, false, &ndd);
      if (ndd != info->meta->national_prefix()) return false;
    }
    for (int cc = 1; cc < 1000; ++cc) {
      std::string region;
      util.GetRegionCodeForCountryCode(cc, &region);
      if (region == "ZZ") continue;
      const MetaInfo* main = region == PhoneNumberUtil::kRegionCodeForNonGeoEntity
                                 ? (non_geo.count(cc) ? non_geo[cc] : nullptr)
                                 : FindRegion(region);
      if (main == nullptr || main->cc != cc) return false;
      main_for_cc[cc] = main;
      cc_info[cc] = std::make_unique<CcInfo>();
      cc_info[cc]->cc = cc;
      for (const auto& info : metas) {
        if (info->cc == cc) cc_info[cc]->metas.push_back(info->meta);
      }
    }
    return true;
  }

  bool CallIsValidNumber(int cc, std::string_view nsn) const {
    uint64_t national = 0;
    for (const char c : nsn) national = national * 10 + static_cast<uint64_t>(c - '0');
    i18n::phonenumbers::PhoneNumber number;
    number.set_country_code(cc);
    number.set_national_number(national);
    return util.IsValidNumber(number);
  }

  const ValidityDag* Dag(int cc, size_t length) const {
    CcInfo& info = *cc_info[cc];
    std::call_once(info.patterns_once, [&] { CompileValidityPatterns(info); });
    if (!info.patterns_ok) return nullptr;
    std::call_once(info.dag_once[length], [&] {
      info.dags[length] = BuildValidityDag(info, length);
      dags_built.fetch_add(1, std::memory_order_relaxed);
    });
    return info.dags[length].get();
  }

  // IsValidNumber for a number with country code `cc` and NSN `nsn` (no leading zero).
  bool IsValid(int cc, std::string_view nsn) const {
    const ValidityDag* dag = Dag(cc, nsn.size());
    if (dag == nullptr) {
      direct_validity.fetch_add(1, std::memory_order_relaxed);
      return CallIsValidNumber(cc, nsn);
    }
    int32_t cur = dag->root;
    for (size_t i = 0; cur >= 0 && i < nsn.size(); ++i) cur = dag->nodes[cur][nsn[i] - '0'];
    if (cur >= 0) {  // cannot happen: every pattern is decided at depth L
      direct_validity.fetch_add(1, std::memory_order_relaxed);
      return CallIsValidNumber(cc, nsn);
    }
    std::atomic<uint8_t>& slot = dag->verdicts[~cur];
    uint8_t verdict = slot.load(std::memory_order_relaxed);
    if (verdict == 0) {
      verdict = CallIsValidNumber(cc, nsn) ? 1 : 2;
      slot.store(verdict, std::memory_order_relaxed);
      memo_fills.fetch_add(1, std::memory_order_relaxed);
    }
    return verdict == 1;
  }

  // The replay of PhoneNumberUtil::Parse + IsValidNumber + Format(E164) for the common shapes.
  // False when the input is outside them or the replay meets a case it is unsure of.
  bool TryFast(std::string_view text, const MetaInfo* region, PhoneResult& out) const {
    if (!enabled || region == nullptr || text.size() > kMaxInputLength) return false;
    // ExtractPossibleNumber + Normalize: for this alphabet, the digits and whether a '+' leads.
    char buffer[kMaxDigits];
    size_t count = 0;
    bool plus = false;
    for (const char c : text) {
      if (c >= '0' && c <= '9') {
        if (count == kMaxDigits) return false;
        buffer[count++] = c;
      } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
        continue;
      } else if (c == '+' && count == 0 && !plus) {
        plus = true;
      } else {
        return false;
      }
    }
    // With 3+ digits the text is viable (IsViablePhoneNumber); fewer are left to the slow path.
    if (count < 3) return false;
    const std::string_view digits(buffer, count);

    // MaybeExtractCountryCode.
    int cc = 0;
    std::string_view national;
    const MetaInfo* meta = nullptr;  // ParseHelper's country_metadata
    if (plus) {
      // ExtractCountryCode: the shortest assigned 1-3 digit code; '0' or none falls back.
      if (digits[0] == '0') return false;
      int value = 0;
      for (size_t i = 1; i <= kMaxLengthCountryCode; ++i) {
        value = value * 10 + (digits[i - 1] - '0');
        if (main_for_cc[value] != nullptr) {
          cc = value;
          national = digits.substr(i);
          break;
        }
      }
      if (cc == 0) return false;
      meta = main_for_cc[cc];
    } else {
      if (!region->usable) return false;
      // An IDD at the start (stripped or, before a 0, kept) is left to the slow path.
      if (region->idd->MatchEnds(digits) > 0) return false;
      cc = region->cc;
      national = digits;
      meta = region;
      if (digits.starts_with(region->cc_string)) {
        std::string_view potential = digits.substr(region->cc_string.size());
        if (!region->StripNationalPrefix(&potential)) return false;
        if ((!region->general->FullMatch(digits) && region->general->FullMatch(potential)) ||
            region->TestNumberLength(digits.size()) == LengthResult::kTooLong) {
          national = potential;
          meta = main_for_cc[cc];  // GetRegionCodeForCountryCode(cc), may differ from region
        }
      }
    }
    if (meta == nullptr || !meta->usable) return false;
    if (national.size() < kMinLengthForNsn) return false;  // TOO_SHORT_NSN

    // ParseHelper: strip the national prefix if what remains has a possible length.
    std::string_view potential = national;
    if (!meta->StripNationalPrefix(&potential)) return false;
    const LengthResult length = meta->TestNumberLength(potential.size());
    if (length != LengthResult::kTooShort && length != LengthResult::kPossibleLocalOnly &&
        length != LengthResult::kInvalidLength) {
      national = potential;
    }
    // TOO_SHORT_NSN / TOO_LONG_NSN, and Italian leading zeros, go to the slow path.
    if (national.size() < kMinLengthForNsn || national.size() > kMaxLengthForNsn ||
        national[0] == '0') {
      return false;
    }

    out.fast = true;
    if (!IsValid(cc, national)) {
      out.code = PhoneResult::Code::kInvalid;
      out.size = 0;
      return true;
    }
    // Format(E164): "+" + country code + NSN.
    char* p = out.e164.data();
    *p++ = '+';
    for (const char c : meta->cc_string) *p++ = c;
    for (const char c : national) *p++ = c;
    out.size = static_cast<uint8_t>(p - out.e164.data());
    out.code = PhoneResult::Code::kOk;
    return true;
  }

  void NormalizeOne(std::string_view text, std::string_view region_code, const MetaInfo* region,
                    PhoneResult& out, Counts& counts) const {
    if (TryFast(text, region, out)) {
      ++counts.fast;
      return;
    }
    ++counts.slow;
    out.fast = false;
    out.size = 0;
    absl::StatusOr<std::string> e164 = NormalizePhoneNumber(text, region_code);
    if (!e164.ok()) {
      // NormalizePhoneNumber's two errors: its own length check, else libphonenumber's verdict.
      out.code =
          text.size() > kMaxInputLength ? PhoneResult::Code::kTooLong : PhoneResult::Code::kInvalid;
      return;
    }
    // Cannot overflow: ParseHelper rejects NSNs over 17 digits and country codes have 1-3.
    const size_t size = std::min(e164->size(), PhoneResult::kMaxE164);
    std::copy_n(e164->data(), size, out.e164.data());
    out.size = static_cast<uint8_t>(size);
    out.code = PhoneResult::Code::kOk;
  }

  void Add(const Counts& counts) const {
    fast.fetch_add(counts.fast, std::memory_order_relaxed);
    slow.fetch_add(counts.slow, std::memory_order_relaxed);
  }
};

PhoneNormalizer::PhoneNormalizer() : impl_(std::make_unique<Impl>()) {}
PhoneNormalizer::~PhoneNormalizer() = default;

bool PhoneNormalizer::fast_path_enabled() const { return impl_->enabled; }

absl::StatusOr<std::string> PhoneNormalizer::Normalize(std::string_view text,
                                                       std::string_view region) const {
  PhoneResult result;
  if (impl_->TryFast(text, impl_->FindRegion(region), result)) {
    impl_->fast.fetch_add(1, std::memory_order_relaxed);
    if (!result.ok()) return ErrorStatus(result, region);
    return std::string(result.E164());
  }
  impl_->slow.fetch_add(1, std::memory_order_relaxed);
  return NormalizePhoneNumber(text, region);
}

PhoneResult PhoneNormalizer::NormalizeToResult(std::string_view text,
                                               std::string_view region) const {
  PhoneResult result;
  Counts counts;
  impl_->NormalizeOne(text, region, impl_->FindRegion(region), result, counts);
  impl_->Add(counts);
  return result;
}

void PhoneNormalizer::NormalizeBatch(std::span<const std::string_view> texts,
                                     std::string_view region, std::span<PhoneResult> out,
                                     int threads) const {
  const MetaInfo* meta = impl_->FindRegion(region);
  const size_t n = std::min(texts.size(), out.size());
  constexpr size_t kChunk = 4096;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    Counts counts;
    for (;;) {
      const size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= n) break;
      const size_t end = std::min(n, begin + kChunk);
      for (size_t i = begin; i < end; ++i) {
        impl_->NormalizeOne(texts[i], region, meta, out[i], counts);
      }
    }
    impl_->Add(counts);
  };
  const size_t extra = threads <= 1 ? 0 : std::min<size_t>(threads - 1, n / kChunk);
  std::vector<std::jthread> pool;
  pool.reserve(extra);
  for (size_t t = 0; t < extra; ++t) pool.emplace_back(worker);
  worker();
}  // the jthreads join here

absl::Status PhoneNormalizer::ErrorStatus(const PhoneResult& result, std::string_view region) {
  switch (result.code) {
    case PhoneResult::Code::kOk:
      return absl::OkStatus();
    case PhoneResult::Code::kTooLong:
      return absl::InvalidArgumentError("phone number is too long");
    case PhoneResult::Code::kInvalid:
      break;
  }
  return absl::InvalidArgumentError(fmt::format("not a valid phone number for region {}", region));
}

PhoneNormalizer::Stats PhoneNormalizer::stats() const {
  Stats s;
  s.fast = impl_->fast.load(std::memory_order_relaxed);
  s.slow = impl_->slow.load(std::memory_order_relaxed);
  s.memo_fills = impl_->memo_fills.load(std::memory_order_relaxed);
  s.direct_validity = impl_->direct_validity.load(std::memory_order_relaxed);
  s.dags_built = impl_->dags_built.load(std::memory_order_relaxed);
  return s;
}

}  // namespace nexus::domain
