// File: ingest/text_encoding.h
//
// Byte-level text helpers for the readers: strict UTF-8 validation, Windows-1252 → UTF-8 and
// streaming UTF-16 → UTF-8. Pure functions, no allocation except appending to the caller's string.
// Internal to ingest (not used by other modules).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nexus::ingest {

inline constexpr size_t kNotFound = static_cast<size_t>(-1);

// Validates `data` as UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
// Returns the offset of the first byte of the first invalid sequence, or kNotFound. When `final`
// is false, a sequence cut short by the end of `data` is not an error: `*valid_prefix` is set to
// where it starts (everything before is valid) so the caller can resume there with more bytes.
// When the result is kNotFound and nothing was cut short, `*valid_prefix` is data.size().
size_t FindInvalidUtf8(std::string_view data, bool final, size_t* valid_prefix);

// As FindInvalidUtf8, but a NUL byte also stops the scan and is returned as "invalid".
size_t FindInvalidUtf8OrNul(std::string_view data, bool final, size_t* valid_prefix);

// True when every byte is < 0x80.
bool IsAscii(std::string_view data);

// Appends `data`, read as Windows-1252 (WHATWG index: the five undefined bytes 0x81, 0x8D,
// 0x8F, 0x90, 0x9D map to the C1 controls of the same value), to `out` as UTF-8.
void AppendWindows1252AsUtf8(std::string_view data, std::string& out);

// Transcodes UTF-16 (`big_endian` or little) from `in` to UTF-8 at `out`, which must have room
// for 3 * (size / 2) + 3 bytes. Unpaired surrogates become U+FFFD. When `final` is false, a
// trailing odd byte or a trailing high surrogate is left unconsumed (to be completed by the next
// bytes); when true they become U+FFFD. Returns the number of input bytes consumed and sets
// `*out_size` to the number of bytes written.
size_t Utf16ToUtf8(const unsigned char* in, size_t size, bool big_endian, bool final, char* out,
                   size_t* out_size);

}  // namespace nexus::ingest
