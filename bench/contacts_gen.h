// File: bench/contacts_gen.h
//
// Deterministic synthetic contact lists for benchmarks: the same (rows, seed) always gives the
// same bytes, on every platform (no std:: distributions). Columns:
// phoneNumber,name,account_id,email,priority,notes. US numbers in several spellings; names with
// commas, doubled quotes and UTF-8 accents; ~4% of notes span two lines; ~2% of numbers repeat an
// earlier one (in another spelling); ~1% of numbers are invalid. LF line ends, no BOM, quoted only
// when needed (the Google Sheets shape). ContactsStyle::kPlain drops all of that.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace nexus::bench {

// kPlain: the same columns with nothing to quote and nothing to transcode (ASCII names without
// commas or quotes, one-line notes, valid unique 10-digit numbers): the reader's fast path.
enum class ContactsStyle { kRealistic, kPlain };

// Writes the header and `rows` data rows to `path`.
absl::Status WriteContactsCsv(const std::string& path, int64_t rows, uint64_t seed = 1,
                              ContactsStyle style = ContactsStyle::kRealistic);

// The same content, in memory.
std::string ContactsCsv(int64_t rows, uint64_t seed = 1,
                        ContactsStyle style = ContactsStyle::kRealistic);

}  // namespace nexus::bench
