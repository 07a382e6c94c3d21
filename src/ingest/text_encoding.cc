#include "ingest/text_encoding.h"

#include "core/utf8.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nexus::ingest {
namespace {

// Windows-1252 bytes 0x80..0x9F (WHATWG encoding index); 0xA0..0xFF equal their code point.
constexpr uint16_t kWindows1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

// Skips ASCII bytes from `i` (NUL included unless kStopAtNul); returns the offset of the first
// byte >= 0x80 (or NUL), or size.
template <bool kStopAtNul>
inline size_t SkipAscii(const unsigned char* s, size_t i, size_t size) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  while (size - i >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    if constexpr (kStopAtNul) v = _mm_or_si128(v, _mm_cmpeq_epi8(v, zero));
    const int mask = _mm_movemask_epi8(v);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    i += 16;
  }
#endif
  while (i < size && s[i] < 0x80 && (!kStopAtNul || s[i] != 0)) ++i;
  return i;
}

template <bool kStopAtNul>
size_t FindInvalid(std::string_view data, bool final, size_t* valid_prefix) {
  const auto* s = reinterpret_cast<const unsigned char*>(data.data());
  const size_t size = data.size();
  size_t i = 0;
  for (;;) {
    i = SkipAscii<kStopAtNul>(s, i, size);
    if (i == size) break;
    const unsigned lead = s[i];
    size_t length;
    unsigned low = 0x80;  // range allowed for the second byte
    unsigned high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // overlong
      if (lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // overlong
      if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return i;  // a continuation byte, C0/C1, F5..FF, or (kStopAtNul) NUL
    }
    for (size_t k = 1; k < length; ++k) {
      if (i + k >= size) {
        if (final) return i;
        *valid_prefix = i;
        return kNotFound;
      }
      const unsigned byte = s[i + k];
      if (byte < (k == 1 ? low : 0x80u) || byte > (k == 1 ? high : 0xBFu)) return i;
    }
    i += length;
  }
  *valid_prefix = size;
  return kNotFound;
}

}  // namespace

size_t FindInvalidUtf8(std::string_view data, bool final, size_t* valid_prefix) {
  return FindInvalid<false>(data, final, valid_prefix);
}

size_t FindInvalidUtf8OrNul(std::string_view data, bool final, size_t* valid_prefix) {
  return FindInvalid<true>(data, final, valid_prefix);
}

bool IsAscii(std::string_view data) {
  const auto* s = reinterpret_cast<const unsigned char*>(data.data());
  return SkipAscii<false>(s, 0, data.size()) == data.size();
}

void AppendWindows1252AsUtf8(std::string_view data, std::string& out) {
  for (const char c : data) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      out.push_back(c);
      continue;
    }
    const uint32_t cp = byte < 0xA0 ? kWindows1252High[byte - 0x80] : byte;
    char encoded[4];
    out.append(encoded, core::EncodeUtf8(cp, encoded));
  }
}

size_t Utf16ToUtf8(const unsigned char* in, size_t size, bool big_endian, bool final, char* out,
                   size_t* out_size) {
  constexpr uint32_t kReplacement = 0xFFFD;
  const auto unit = [in, big_endian](size_t i) -> uint32_t {
    return big_endian ? (uint32_t{in[i]} << 8 | in[i + 1]) : (uint32_t{in[i + 1]} << 8 | in[i]);
  };
  char* o = out;
  size_t i = 0;
  while (size - i >= 2) {
    const uint32_t u = unit(i);
    if (u < 0x80) {
      *o++ = static_cast<char>(u);
      i += 2;
    } else if (u < 0xD800 || u > 0xDFFF) {
      o += core::EncodeUtf8(u, o);
      i += 2;
    } else if (u <= 0xDBFF) {  // high surrogate: needs a low one next
      if (size - i < 4) {
        if (!final) break;
        o += core::EncodeUtf8(kReplacement, o);
        i += 2;
        continue;
      }
      const uint32_t u2 = unit(i + 2);
      if (u2 >= 0xDC00 && u2 <= 0xDFFF) {
        o += core::EncodeUtf8(0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00), o);
        i += 4;
      } else {
        o += core::EncodeUtf8(kReplacement, o);
        i += 2;
      }
    } else {  // lone low surrogate
      o += core::EncodeUtf8(kReplacement, o);
      i += 2;
    }
  }
  if (final && i < size) {  // odd trailing byte (or an unpaired high surrogate handled above)
    o += core::EncodeUtf8(kReplacement, o);
    i = size;
  }
  *out_size = static_cast<size_t>(o - out);
  return i;
}

}  // namespace nexus::ingest
