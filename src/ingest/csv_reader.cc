#include "ingest/csv_reader.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/status/status.h"
#include "core/status.h"
#include "fmt/format.h"
#include "ingest/text_encoding.h"

namespace nexus::ingest {
namespace {

constexpr size_t kNpos = kNotFound;
constexpr size_t kPadding = 64;  // spare bytes after the buffer's capacity
constexpr size_t kMinFree = 64;  // FillOnce needs this much free space to make progress
constexpr size_t kMinReadBytes = 64;

inline bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// True when `text` is empty after trimming ASCII whitespace.
inline bool IsBlank(std::string_view text) {
  for (const char c : text) {
    if (!IsAsciiSpace(c)) return false;
  }
  return true;
}

// Spaces (and tabs, unless the tab is the delimiter) allowed around a quoted field.
inline bool IsPadding(char c, char delimiter) { return (c == ' ' || c == '\t') && c != delimiter; }

bool IsCandidateDelimiter(char c) { return c == ',' || c == ';' || c == '\t' || c == '|'; }

// The scanners below load 32 or 64 bytes at a time and may read up to 63 bytes past `end`: the
// buffer has kPadding initialized spare bytes after its capacity, and hits past `end` are masked.
static_assert(kPadding >= 64);

#if defined(__SSE2__)
inline uint32_t Mask32(__m128i low, __m128i high) {
  return static_cast<uint32_t>(_mm_movemask_epi8(low)) |
         static_cast<uint32_t>(_mm_movemask_epi8(high)) << 16;
}
#endif

// Finds the delimiter, quote, CR and LF bytes of the buffer. It computes their bitmask for a
// 64-byte block at a time and serves the next hit from it, so a row of short fields costs about
// one block computation plus a bit scan per field. The block cache lives in the reader between
// records (scan_block_, scan_bits_) and is dropped whenever the buffer changes.
class SpecialFinder {
 public:
  SpecialFinder(const char* block, uint64_t bits, const char* end, char delimiter)
      : block_(block), bits_(bits), end_(end), delimiter_(delimiter) {}

  // The first special byte at or after p (p < end), or end.
  const char* Find(const char* p) {
    const char* b = p;
    const uintptr_t offset = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(block_);
    if (offset < 64) {
      const uint64_t hits = bits_ & (~uint64_t{0} << offset);
      if (hits != 0) return block_ + __builtin_ctzll(hits);
      b = block_ + 64;
    }
    for (; b < end_; b += 64) {
      block_ = b;
      bits_ = Compute(b);
      if (bits_ != 0) return b + __builtin_ctzll(bits_);
    }
    return end_;
  }

  const char* block() const { return block_; }
  uint64_t bits() const { return bits_; }

 private:
  uint64_t Compute(const char* b) const {
    uint64_t bits = 0;
#if defined(__SSE2__)
    const __m128i d = _mm_set1_epi8(delimiter_);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    for (int i = 0; i < 4; ++i) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16 * i));
      const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, quote)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
      bits |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(hit))) << (16 * i);
    }
#else
    for (int i = 0; i < 64; ++i) {
      const char c = b[i];
      if (c == delimiter_ || c == '"' || c == '\r' || c == '\n') bits |= uint64_t{1} << i;
    }
#endif
    const auto left = static_cast<size_t>(end_ - b);
    if (left < 64) bits &= (uint64_t{1} << left) - 1;  // bytes past the end are not data
    return bits;
  }

  const char* block_;
  uint64_t bits_;
  const char* const end_;
  const char delimiter_;
};

// The first quote in [p, end), or nullptr. p <= end.
inline const char* FindQuote(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  while (p < end) {
    uint32_t mask =
        Mask32(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), quote),
               _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), quote));
    const auto left = static_cast<size_t>(end - p);
    if (left < 32) mask &= (uint32_t{1} << left) - 1;
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 32;
  }
  return nullptr;
#else
  return static_cast<const char*>(std::memchr(p, '"', static_cast<size_t>(end - p)));
#endif
}

// The largest raw record we buffer: max_columns cells of max_cell_bytes, every byte a doubled
// quote, plus 1 MiB for empty cells and spaces. Saturates instead of overflowing.
uint64_t MaxRecordBytes(const ReadLimits& limits) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const uint64_t columns = static_cast<uint64_t>(std::max(limits.max_columns, 1));
  uint64_t per_cell;
  uint64_t total;
  if (__builtin_mul_overflow(static_cast<uint64_t>(limits.max_cell_bytes), uint64_t{2},
                             &per_cell) ||
      __builtin_add_overflow(per_cell, uint64_t{3}, &per_cell) ||
      __builtin_mul_overflow(per_cell, columns, &total) ||
      __builtin_add_overflow(total, uint64_t{1} << 20, &total)) {
    return kMax;
  }
  return total;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  uint64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<uint64_t>::max() : sum;
}

CsvOptions Normalized(CsvOptions options) {
  options.read_bytes = std::clamp<size_t>(options.read_bytes, kMinReadBytes, size_t{1} << 30);
  options.sniff_bytes = std::min<size_t>(options.sniff_bytes, size_t{1} << 30);
  return options;
}

}  // namespace

CsvReader::CsvReader(std::unique_ptr<ByteSource> source, ReadLimits limits, CsvOptions options)
    : source_(std::move(source)),
      limits_(limits),
      options_(Normalized(options)),
      max_columns_(static_cast<size_t>(std::max(limits.max_columns, 0))),
      max_record_bytes_(MaxRecordBytes(limits)),
      quoted_cell_limit_(
          SaturatingAdd(SaturatingAdd(limits.max_cell_bytes, limits.max_cell_bytes), 2)),
      nul_at_(kNpos),
      invalid_at_(kNpos) {}

CsvReader::~CsvReader() = default;

std::string_view CsvReader::encoding() const {
  switch (encoding_) {
    case Encoding::kUtf8:
      return "utf-8";
    case Encoding::kUtf16Le:
      return "utf-16le";
    case Encoding::kUtf16Be:
      return "utf-16be";
    case Encoding::kWindows1252:
      return "windows-1252";
  }
  return "utf-8";
}

absl::StatusOr<bool> CsvReader::Next(Row& row) {
  if (!error_.ok()) return error_;
  if (done_) return false;
  if (!started_) {
    started_ = true;
    if (absl::Status status = Start(); !status.ok()) {
      error_ = std::move(status);
      return error_;
    }
  }
  for (;;) {
    switch (ParseRecord()) {
      case Parse::kRecord:
        if (FinishRecord(row)) return true;
        if (!error_.ok()) return error_;
        break;  // a blank row
      case Parse::kNeedMore:
        if (absl::Status status = Refill(); !status.ok()) {
          error_ = std::move(status);
          return error_;
        }
        break;
      case Parse::kEnd:
        done_ = true;
        return false;
      case Parse::kError:
        return error_;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Buffer management and decoding.

absl::Status CsvReader::Start() {
  if (options_.delimiter != 0) {
    const char d = options_.delimiter;
    if (d == '"' || d == '\r' || d == '\n' || d == '\0') {
      return absl::InvalidArgumentError("unsupported CSV delimiter");
    }
    delimiter_ = d;
  }
  Grow(2 * options_.read_bytes + kMinFree);  // FillTo grows it to hold the sniff window
  cells_.reserve(std::min<size_t>(max_columns_, 64));

  // The byte order mark decides between UTF-8 and UTF-16: read (at most) three bytes.
  while (!eof_ && end_ < 3) {
    NEXUS_ASSIGN_OR_RETURN(const size_t n, source_->Read(buf_.get() + end_, 3 - end_));
    if (n > 3 - end_) return absl::InternalError("byte source returned more than asked");
    if (n == 0) eof_ = true;
    end_ += n;
  }
  const auto* b = reinterpret_cast<const unsigned char*>(buf_.get());
  if (end_ >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
    pos_ = 3;
  } else if (end_ >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF))) {
    encoding_ = b[0] == 0xFF ? Encoding::kUtf16Le : Encoding::kUtf16Be;
    raw_ = std::make_unique<char[]>(options_.read_bytes + 8);
    raw_size_ = end_ - 2;
    std::memcpy(raw_.get(), buf_.get() + 2, raw_size_);
    end_ = 0;
    if (eof_) {  // a file of a BOM and at most one more byte
      size_t written = 0;
      Utf16ToUtf8(reinterpret_cast<const unsigned char*>(raw_.get()), raw_size_,
                  encoding_ == Encoding::kUtf16Be, /*final=*/true, buf_.get(), &written);
      raw_size_ = 0;
      end_ = written;
    }
  }
  scanned_ = validated_ = pos_;

  // Sniff window: UTF-8 or Windows-1252 is decided on exactly its first sniff_bytes bytes (plus
  // the rest of a sequence that starts inside it), whatever the chunking of the source.
  NEXUS_RETURN_IF_ERROR(FillTo(options_.sniff_bytes + 4));
  if (encoding_ == Encoding::kUtf8 && invalid_at_ != kNpos &&
      invalid_at_ - pos_ < options_.sniff_bytes) {
    encoding_ = Encoding::kWindows1252;
  }
  if (delimiter_ != 0) return absl::OkStatus();
  NEXUS_RETURN_IF_ERROR(FillTo(6));  // "sep=;\n"
  if (SkipSepLine()) return absl::OkStatus();
  // The delimiter is decided on the whole header record, however long.
  while (!DetectDelimiter() && !eof_ && end_ - pos_ < max_record_bytes_) {
    NEXUS_RETURN_IF_ERROR(FillTo(2 * (end_ - pos_)));
  }
  return absl::OkStatus();
}

absl::Status CsvReader::FillTo(size_t available) {
  while (!eof_ && end_ - pos_ < available) {
    if (capacity_ - end_ < kMinFree) Grow(std::max(2 * capacity_, pos_ + available + kMinFree));
    NEXUS_RETURN_IF_ERROR(FillOnce());
  }
  Scan();
  return absl::OkStatus();
}

absl::Status CsvReader::FillOnce() {
  char* const out = buf_.get() + end_;
  const size_t free = capacity_ - end_;
  if (encoding_ != Encoding::kUtf16Le && encoding_ != Encoding::kUtf16Be) {
    const size_t want = std::min(free, options_.read_bytes);
    NEXUS_ASSIGN_OR_RETURN(const size_t n, source_->Read(out, want));
    if (n > want) return absl::InternalError("byte source returned more than asked");
    if (n == 0) eof_ = true;
    end_ += n;
    return absl::OkStatus();
  }
  // UTF-16: `raw` bytes transcode to at most 3 * raw / 2 + 3 bytes.
  const size_t max_raw = (free - 3) / 3 * 2;
  const size_t want = std::min(options_.read_bytes, max_raw - raw_size_);
  NEXUS_ASSIGN_OR_RETURN(const size_t n, source_->Read(raw_.get() + raw_size_, want));
  if (n > want) return absl::InternalError("byte source returned more than asked");
  if (n == 0) eof_ = true;
  raw_size_ += n;
  size_t written = 0;
  const size_t used = Utf16ToUtf8(reinterpret_cast<const unsigned char*>(raw_.get()), raw_size_,
                                  encoding_ == Encoding::kUtf16Be, /*final=*/eof_, out, &written);
  std::memmove(raw_.get(), raw_.get() + used, raw_size_ - used);
  raw_size_ -= used;
  end_ += written;
  return absl::OkStatus();
}

absl::Status CsvReader::Refill() {
  scan_block_ = nullptr;  // the bytes move and grow
  scan_bits_ = 0;
  Compact();
  // Read until the buffer holds at least twice the unfinished record, so a long record is
  // re-parsed O(log n) times and the total work stays linear.
  const size_t target = std::max(end_ + 1, 2 * end_);
  if (target + kMinFree > capacity_) Grow(std::max(2 * capacity_, target + kMinFree));
  do {
    NEXUS_RETURN_IF_ERROR(FillOnce());
  } while (!eof_ && end_ < target && capacity_ - end_ >= kMinFree);
  Scan();
  return absl::OkStatus();
}

void CsvReader::Compact() {
  if (pos_ == 0) return;
  const size_t shift = pos_;
  std::memmove(buf_.get(), buf_.get() + shift, end_ - shift);
  const auto shifted = [shift](size_t offset) {
    return offset == kNpos ? kNpos : (offset > shift ? offset - shift : 0);
  };
  end_ -= shift;
  scanned_ = shifted(scanned_);
  validated_ = shifted(validated_);
  nul_at_ = shifted(nul_at_);
  invalid_at_ = encoding_ == Encoding::kUtf8 ? shifted(invalid_at_) : kNpos;
  record_end_ = 0;
  pos_ = 0;
}

void CsvReader::Grow(size_t capacity) {
  auto bigger = std::make_unique<char[]>(capacity + kPadding);  // zeroed: scanners read ahead
  if (end_ > 0) std::memcpy(bigger.get(), buf_.get(), end_);
  buf_ = std::move(bigger);
  capacity_ = capacity;
}

void CsvReader::Scan() {
  if (encoding_ == Encoding::kUtf8 && invalid_at_ == kNpos && nul_at_ == kNpos) {
    // One pass finds both invalid UTF-8 and NUL bytes; here scanned_ == validated_.
    size_t valid = 0;
    const size_t bad = FindInvalidUtf8OrNul(
        std::string_view(buf_.get() + validated_, end_ - validated_), eof_, &valid);
    if (bad == kNpos) {
      validated_ += valid;  // a sequence cut by the end of the buffer is checked next time
      scanned_ = validated_;
      return;
    }
    const size_t at = validated_ + bad;
    validated_ = scanned_ = at;
    if (buf_[at] == '\0') {
      nul_at_ = at;  // the reader stops there: no need to look further
      return;
    }
    invalid_at_ = at;  // keep looking for NUL bytes past it
  }
  if (nul_at_ == kNpos && scanned_ < end_) {
    const void* nul = std::memchr(buf_.get() + scanned_, 0, end_ - scanned_);
    if (nul != nullptr) nul_at_ = static_cast<size_t>(static_cast<const char*>(nul) - buf_.get());
  }
  scanned_ = end_;
}

// Excel's `sep=;` first line names the delimiter and is not part of the table.
bool CsvReader::SkipSepLine() {
  const char* p = buf_.get() + pos_;
  const size_t available = end_ - pos_;
  if (available < 5) return false;
  if (std::tolower(static_cast<unsigned char>(p[0])) != 's' ||
      std::tolower(static_cast<unsigned char>(p[1])) != 'e' ||
      std::tolower(static_cast<unsigned char>(p[2])) != 'p' || p[3] != '=' ||
      !IsCandidateDelimiter(p[4])) {
    return false;
  }
  size_t consumed = 5;
  bool cr = false;
  if (available > 5) {
    if (p[5] == '\r') {
      cr = true;
    } else if (p[5] != '\n') {
      return false;
    }
    consumed = 6;
  }
  delimiter_ = p[4];
  pos_ += consumed;
  skip_lf_ = cr;
  return true;
}

// Counts the unquoted candidate delimiters in the header record (the first record with text) and
// sets delimiter_. Returns false when the buffered bytes end before the header record does.
bool CsvReader::DetectDelimiter() {
  static constexpr char kCandidates[4] = {',', ';', '\t', '|'};
  size_t counts[4] = {0, 0, 0, 0};
  bool in_quotes = false;
  bool has_text = false;
  bool complete = false;
  for (const char* p = buf_.get() + pos_; p < buf_.get() + end_; ++p) {
    const char c = *p;
    if (in_quotes) {
      if (c == '"') {
        in_quotes = false;
      } else if (!IsAsciiSpace(c)) {
        has_text = true;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '\r' || c == '\n') {
      if (has_text) {
        complete = true;
        break;
      }
      std::fill(std::begin(counts), std::end(counts), 0);  // a blank line before the header
    } else if (const char* hit = std::find(kCandidates, kCandidates + 4, c);
               hit != kCandidates + 4) {
      ++counts[hit - kCandidates];
    } else if (!IsAsciiSpace(c)) {
      has_text = true;
    }
  }
  delimiter_ = ',';
  for (int i = 1; i < 4; ++i) {
    bool clear = counts[i] > counts[0];
    for (int j = 1; j < 4; ++j) {
      if (j != i && counts[j] >= counts[i]) clear = false;
    }
    if (clear) delimiter_ = kCandidates[i];
  }
  return complete;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

// Errors and their order. A record may hold several problems; the reader reports the one that
// starts earliest in the file, so that the error never depends on how the source was chunked
// (where the buffer happened to end when a check ran). Each problem has a position:
//   NUL byte: the byte. Cell too long: the first byte past max_cell_bytes (unquoted), or past
//   2 * max_cell_bytes + 2 raw bytes (quoted: then it is too long whatever its `""` pairs).
//   Row too long: the first byte past max_record_bytes_. Syntax errors: where they are seen.
// Ties go to the NUL byte, then the cell, then the row.

CsvReader::Parse CsvReader::Fail(absl::Status status) {
  error_ = std::move(status);
  return Parse::kError;
}

absl::Status CsvReader::NulError() const {
  return absl::InvalidArgumentError(fmt::format("row {}: NUL byte (binary file?)", CurrentRow()));
}

absl::Status CsvReader::CellTooLongError(size_t column, bool quoted) const {
  return absl::ResourceExhaustedError(
      fmt::format("row {}: cell in column {} longer than {} bytes (limit {}){}", CurrentRow(),
                  column, limits_.max_cell_bytes, limits_.max_cell_bytes,
                  quoted ? "; is a closing quote missing?" : ""));
}

absl::Status CsvReader::RowTooLongError() const {
  return absl::ResourceExhaustedError(
      fmt::format("row {}: row longer than {} bytes (limit {} columns of {} bytes)", CurrentRow(),
                  max_record_bytes_, limits_.max_columns, limits_.max_cell_bytes));
}

// error_ holds a problem seen at `at`; a NUL byte or the row length limit may come first.
CsvReader::Parse CsvReader::FailAt(const char* at) {
  const auto at_offset = static_cast<uint64_t>(at - buf_.get());
  const uint64_t row_at = SaturatingAdd(record_start_, max_record_bytes_);
  if (nul_at_ != kNpos && nul_at_ <= at_offset && nul_at_ <= row_at) {
    error_ = NulError();
  } else if (row_at < at_offset) {
    error_ = RowTooLongError();
  }
  return Parse::kError;
}

// The record is unfinished at the end of the buffer. Before asking for more bytes, report any
// problem already inside the buffer, so memory stays bounded by the limits.
CsvReader::Parse CsvReader::NeedMore(const char* field, uint64_t cell_limit, size_t column,
                                     bool quoted) {
  const uint64_t end = end_;
  const uint64_t cell_at = SaturatingAdd(static_cast<uint64_t>(field - buf_.get()), cell_limit);
  const uint64_t row_at = SaturatingAdd(record_start_, max_record_bytes_);
  if (nul_at_ < end && nul_at_ <= cell_at && nul_at_ <= row_at) return Fail(NulError());
  if (cell_at < end && cell_at <= row_at) return Fail(CellTooLongError(column, quoted));
  if (row_at < end) return Fail(RowTooLongError());
  return Parse::kNeedMore;
}

inline bool CsvReader::AddCell(const char* data, size_t size, size_t column) {
  if (size <= limits_.max_cell_bytes && cells_.size() < max_columns_) [[likely]] {
    cells_.emplace_back(data, size);
    return true;
  }
  return AddCellSlow(data, size, column);
}

// Sets error_ and returns false when the cell is too long or one column too many.
bool CsvReader::AddCellSlow(const char* data, size_t size, size_t column) {
  if (size > limits_.max_cell_bytes) {
    error_ = CellTooLongError(column, false);
    return false;
  }
  if (IsBlank(std::string_view(data, size))) return true;  // an empty cell past the limit
  error_ = absl::ResourceExhaustedError(fmt::format("row {}: more than {} columns (limit {})",
                                                    CurrentRow(), limits_.max_columns,
                                                    limits_.max_columns));
  return false;
}

// A quoted field containing `""`: copied to scratch_ with each pair turned into one quote.
bool CsvReader::AddUnescapedCell(const char* data, size_t size, size_t column) {
  const size_t offset = scratch_.size();
  const char* p = data;
  const char* const end = data + size;
  while (p < end) {
    const char* quote = static_cast<const char*>(std::memchr(p, '"', end - p));
    if (quote == nullptr) {
      scratch_.append(p, end);
      break;
    }
    scratch_.append(p, quote + 1);  // keep one quote of the pair
    p = quote + 2;
  }
  const size_t unescaped = scratch_.size() - offset;
  const size_t cells_before = cells_.size();
  if (!AddCell(scratch_.data() + offset, unescaped, column)) return false;
  // The view is fixed up once the record is complete (scratch_ may still reallocate).
  if (cells_.size() > cells_before) fixups_.push_back({cells_before, offset, unescaped});
  return true;
}

CsvReader::Parse CsvReader::ParseRecord() {
  constexpr uint64_t kNoCell = std::numeric_limits<uint64_t>::max();
  const char* const base = buf_.get();
  const char* const end = base + end_;
  const char* p = base + pos_;
  if (skip_lf_) {
    if (p == end) {
      if (!eof_) return Parse::kNeedMore;
    } else if (*p == '\n') {
      ++p;
    }
  }
  if (p == end) return eof_ ? Parse::kEnd : Parse::kNeedMore;

  const char* const record_start = p;
  record_start_ = static_cast<size_t>(p - base);
  const char delimiter = delimiter_;
  const size_t max_cell = limits_.max_cell_bytes;
  SpecialFinder finder(scan_block_, scan_bits_, end, delimiter);
  cells_.clear();
  fixups_.clear();
  scratch_.clear();
  // When the record is complete: its text ends at `text_end`, its line end before `next`.
  const char* text_end;
  const char* next;
  bool cr = false;
  for (size_t column = 1;; ++column) {
    const char* const field = p;
    if (p == end) {  // after a delimiter at the end of the data
      if (!eof_) return NeedMore(field, kNoCell, column, false);
      if (!AddCell(p, 0, column)) return FailAt(end);
      text_end = next = end;
      break;
    }
    if (*p != '"') {
      const char* const special = finder.Find(p);
      if (special == end && !eof_) return NeedMore(field, max_cell, column, false);
      const auto size = static_cast<size_t>(special - field);
      if (size > max_cell) {
        error_ = CellTooLongError(column, false);
        return FailAt(field + max_cell);
      }
      const char c = special == end ? '\n' : *special;
      if (c != '"') {
        if (!AddCell(field, size, column)) return FailAt(special);
        if (c == delimiter) {
          p = special + 1;
          continue;
        }
        text_end = special;
        next = special == end ? end : special + 1;
        cr = c == '\r';
        break;
      }
      for (const char* s = field; s < special; ++s) {
        if (!IsPadding(*s, delimiter)) {
          error_ = absl::InvalidArgumentError(
              fmt::format("row {}: quote character inside an unquoted field in column {} (a field "
                          "containing quotes must be quoted, with each quote doubled)",
                          CurrentRow(), column));
          return FailAt(special);
        }
      }
      p = special;  // spaces, then the opening quote
    }

    // A quoted field; p is at its opening quote.
    const char* const content = p + 1;
    const char* search = content;
    const char* close;
    bool doubled = false;
    for (;;) {
      close = FindQuote(search, end);
      if (close == nullptr) {
        if (!eof_) return NeedMore(content, quoted_cell_limit_, column, true);
        if (static_cast<uint64_t>(end - content) > quoted_cell_limit_) {
          error_ = CellTooLongError(column, true);
          return FailAt(content + quoted_cell_limit_);
        }
        error_ = absl::InvalidArgumentError(fmt::format(
            "row {}: unterminated quoted field starting in row {}, column {} (no closing quote "
            "before the end of the file)",
            CurrentRow(), CurrentRow(), column));
        return FailAt(end);
      }
      if (close + 1 == end && !eof_) return NeedMore(content, quoted_cell_limit_, column, true);
      if (close + 1 == end || close[1] != '"') break;
      doubled = true;
      search = close + 2;
    }
    const auto size = static_cast<size_t>(close - content);
    if (size >= quoted_cell_limit_) {  // as NeedMore would have seen with the buffer ending here
      error_ = CellTooLongError(column, true);
      return FailAt(content + quoted_cell_limit_);
    }
    if (!(doubled ? AddUnescapedCell(content, size, column) : AddCell(content, size, column))) {
      return FailAt(close);
    }
    const char* after = close + 1;
    while (after < end && IsPadding(*after, delimiter)) ++after;
    if (after == end) {
      if (!eof_) return NeedMore(after, kNoCell, column, false);
      text_end = next = end;
      break;
    }
    if (*after == delimiter) {
      p = after + 1;
      continue;
    }
    if (*after == '\r' || *after == '\n') {
      text_end = after;
      next = after + 1;
      cr = *after == '\r';
      break;
    }
    error_ = absl::InvalidArgumentError(fmt::format(
        "row {}: unexpected text after the closing quote in column {}", CurrentRow(), column));
    return FailAt(after);
  }
  if (static_cast<uint64_t>(text_end - record_start) > max_record_bytes_) {
    error_ = RowTooLongError();
    return FailAt(text_end);
  }
  pos_ = static_cast<size_t>(next - base);
  record_end_ = pos_;
  scan_block_ = finder.block();
  scan_bits_ = finder.bits();
  skip_lf_ = cr;
  return Parse::kRecord;
}

bool CsvReader::TranscodeWindows1252Cells() {
  transcoded_.clear();
  fixups_.clear();
  for (size_t i = 0; i < cells_.size(); ++i) {
    if (IsAscii(cells_[i])) continue;
    const size_t offset = transcoded_.size();
    AppendWindows1252AsUtf8(cells_[i], transcoded_);
    const size_t size = transcoded_.size() - offset;
    if (size > limits_.max_cell_bytes) {  // 0x80..0xFF take 2 or 3 bytes of UTF-8
      error_ = CellTooLongError(i + 1, false);
      return false;
    }
    fixups_.push_back({i, offset, size});
  }
  for (const Fixup& f : fixups_) {
    cells_[f.index] = std::string_view(transcoded_).substr(f.offset, f.size);
  }
  return true;
}

bool CsvReader::FinishRecord(Row& row) {
  if (nul_at_ < record_end_) {
    error_ = NulError();
    return false;
  }
  for (const Fixup& f : fixups_) {
    cells_[f.index] = std::string_view(scratch_).substr(f.offset, f.size);
  }
  if (encoding_ == Encoding::kUtf8 && invalid_at_ < record_end_) {
    encoding_ = Encoding::kWindows1252;
  }
  if (encoding_ == Encoding::kWindows1252 && !TranscodeWindows1252Cells()) return false;
  const int64_t number = ++record_number_;

  bool blank = true;
  for (const std::string_view cell : cells_) {
    if (!IsBlank(cell)) {
      blank = false;
      break;
    }
  }
  if (blank) return false;

  if (header_width_ < 0) {
    while (!cells_.empty() && IsBlank(cells_.back())) cells_.pop_back();
    header_width_ = static_cast<int64_t>(cells_.size());
  } else {
    if (++data_rows_ > limits_.max_rows) {
      error_ = absl::ResourceExhaustedError(fmt::format(
          "row {}: more than {} data rows (limit {})", number, limits_.max_rows, limits_.max_rows));
      return false;
    }
    const auto width = static_cast<size_t>(header_width_);
    while (cells_.size() > width && IsBlank(cells_.back())) cells_.pop_back();
    if (cells_.size() < width) cells_.resize(width);
  }
  row.number = number;
  row.cells = std::span<const std::string_view>(cells_.data(), cells_.size());
  return true;
}

}  // namespace nexus::ingest
