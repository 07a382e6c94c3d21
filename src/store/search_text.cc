#include "store/search_text.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <bit>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/json_escape.h"

namespace nexus::store {
namespace {

void AppendUtf8(std::string& out, uint32_t cp) {
  char buffer[U8_MAX_LENGTH];
  int32_t length = 0;
  U8_APPEND_UNSAFE(buffer, length, static_cast<UChar32>(cp));
  out.append(buffer, static_cast<size_t>(length));
}

// A forward reader over the JSON this store writes: objects and arrays of strings. It accepts
// any valid JSON of that shape (whitespace, every escape) and skips scalar non-string values.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  // Skips whitespace, then consumes `c` if it is next.
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }

  // Reads a string value into `out` (appending); false when the next value is not a string.
  bool ReadString(std::string& out) {
    if (!Consume('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      switch (const char escape = text_[pos_++]) {
        case '"':
        case '\\':
        case '/':
          out += escape;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!ReadHex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
            const size_t mark = pos_;
            pos_ += 2;
            uint32_t low = 0;
            if (ReadHex4(low) && low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = mark;
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  // Skips a number, true, false or null; false for anything else.
  bool SkipScalar() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        break;
      }
      if (c == '"' || c == '{' || c == '[') return false;
      ++pos_;
    }
    return pos_ > start;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool ReadHex4(uint32_t& value) {
    if (pos_ + 4 > text_.size()) return false;
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

void AppendFolded(std::string& out, std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const auto length = static_cast<int32_t>(text.size());
  int32_t i = 0;
  while (i < length) {
    const uint8_t b = bytes[i];
    if (b < 0x80) {  // ASCII fast path
      out += static_cast<char>(b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b);
      ++i;
      continue;
    }
    const int32_t start = i;
    UChar32 cp = 0;
    U8_NEXT(bytes, i, length, cp);
    if (cp < 0) {  // not valid UTF-8: keep the bytes as they are
      out.append(text.data() + start, static_cast<size_t>(i - start));
      continue;
    }
    AppendUtf8(out, static_cast<uint32_t>(u_foldCase(cp, U_FOLD_CASE_DEFAULT)));
  }
}

std::string Folded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendFolded(out, text);
  return out;
}

std::string CallSearchText(std::string_view e164, std::string_view variables_json) {
  std::string out;
  out.reserve(e164.size() + variables_json.size());
  AppendFolded(out, e164);
  JsonReader reader(variables_json);
  if (!reader.Consume('{') || reader.Consume('}')) return out;
  std::string key, value;
  do {
    key.clear();
    value.clear();
    if (!reader.ReadString(key) || !reader.Consume(':')) break;
    if (reader.ReadString(value)) {
      out += kSearchSeparator;
      AppendFolded(out, value);
    } else if (!reader.SkipScalar()) {
      break;
    }
  } while (reader.Consume(','));
  return out;
}

namespace {

// True when `text` is printable ASCII without '"' or '\\': JSON writes it unchanged.
bool IsVerbatimAscii(std::string_view text) {
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

bool CallMatches(std::string_view e164, std::string_view variables_json,
                 std::string_view folded_term) {
  if (folded_term.empty()) return true;
  if (IsVerbatimAscii(folded_term)) {
    const TermFinder finder(folded_term, /*ignore_ascii_case=*/true);
    if (finder.Find(e164, 0) != std::string_view::npos) return true;
    // A JSON text of printable ASCII without a backslash holds every value verbatim, and ASCII
    // folds to ASCII only: if the term is nowhere in the text (nor in an ASCII phone number), it
    // is in no value. (A hit may be in a key, so it is confirmed below.)
    bool verbatim = IsAscii(e164);
    for (const char c : verbatim ? variables_json : std::string_view()) {
      const auto b = static_cast<unsigned char>(c);
      if (b < 0x20 || b >= 0x7f || c == '\\') {
        verbatim = false;
        break;
      }
    }
    if (verbatim && finder.Find(variables_json, 0) == std::string_view::npos) return false;
  }
  return CallSearchText(e164, variables_json).find(folded_term) != std::string::npos;
}

bool ForEachStringMember(std::string_view json,
                         absl::FunctionRef<void(std::string_view, std::string_view)> member) {
  JsonReader reader(json);
  if (!reader.Consume('{')) return false;
  if (reader.Consume('}')) return reader.AtEnd();
  std::string key, value;
  do {
    key.clear();
    value.clear();
    if (!reader.ReadString(key) || !reader.Consume(':') || !reader.ReadString(value)) return false;
    member(key, value);
  } while (reader.Consume(','));
  return reader.Consume('}') && reader.AtEnd();
}

bool IsAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

TermFinder::TermFinder(std::string_view term, bool ignore_ascii_case) : term_(term) {
  for (const char c : term_) {
    fold_.push_back(ignore_ascii_case && c >= 'a' && c <= 'z' ? char{0x20} : char{0});
  }
}

size_t TermFinder::Find(std::string_view text, size_t from) const {
  const size_t m = term_.size();
  const size_t size = text.size();
  if (from > size || m > size - from) return std::string_view::npos;
  if (m == 0) return from;
  const char* data = text.data();
  size_t i = from;
#if defined(__SSE2__)
  const __m128i first_or = _mm_set1_epi8(fold_.front());
  const __m128i first_eq = _mm_set1_epi8(term_.front());
  const __m128i last_or = _mm_set1_epi8(fold_.back());
  const __m128i last_eq = _mm_set1_epi8(term_.back());
  for (; i + m - 1 + 16 <= size; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + m - 1));
    const __m128i hit = _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(a, first_or), first_eq),
                                      _mm_cmpeq_epi8(_mm_or_si128(b, last_or), last_eq));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    while (mask != 0) {
      const size_t at = i + static_cast<size_t>(std::countr_zero(mask));
      if (MatchesAt(data + at)) return at;
      mask &= mask - 1;
    }
  }
#endif
  for (; i + m <= size; ++i) {
    if (MatchesAt(data + i)) return i;
  }
  return std::string_view::npos;
}

bool TermFinder::MatchesAt(const char* p) const {
  for (size_t k = 0; k < term_.size(); ++k) {
    if (static_cast<char>(p[k] | fold_[k]) != term_[k]) return false;
  }
  return true;
}

std::optional<std::vector<std::string>> ParseJsonStringArray(std::string_view json) {
  JsonReader reader(json);
  std::vector<std::string> items;
  if (!reader.Consume('[')) return std::nullopt;
  if (!reader.Consume(']')) {
    do {
      if (!reader.ReadString(items.emplace_back())) return std::nullopt;
    } while (reader.Consume(','));
    if (!reader.Consume(']')) return std::nullopt;
  }
  if (!reader.AtEnd()) return std::nullopt;
  return items;
}

std::string JsonStringArray(std::span<const std::string> items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ',';
    core::AppendJsonString(out, item);
  }
  out += ']';
  return out;
}

}  // namespace nexus::store
