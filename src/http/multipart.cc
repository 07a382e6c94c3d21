// File: http/multipart.cc
//
// See multipart.h for the contract. The delimiter search relies on one fact: CR appears in the
// delimiter (CRLF "--" boundary) only at index 0, because RFC 2046 bchars exclude it. So a
// partial match that fails can never hide the start of another match except at the byte that
// failed, the prefix of a delimiter that ends one Feed() is unique and is carried as a count,
// and comparing at every CR costs O(n) in all (a match of length k leaves no CR in those k
// bytes). Whole delimiters are found with memmem (linear-time in glibc, and far faster than a
// CR-by-CR scan on CRLF text); right after a look-alike ("CRLF--boundaryX") a short stretch is
// scanned CR by CR instead, so a body packed with look-alikes does not pay memmem's set-up each
// time.
#include "http/multipart.h"

#include "core/utf8.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/status.h"

namespace nexus::http {
namespace {

constexpr size_t kMaxBoundaryBytes = 70;       // RFC 2046 §5.1.1
constexpr size_t kMaxSanitizedFilename = 255;  // bytes
constexpr size_t kMaxKeptExtension = 16;       // bytes, dot included

constexpr char kContentTypeError[] = "Content-Type must be multipart/form-data with a boundary";

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  return IsAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 2045 tspecials: the only characters a backslash escapes in a quoted-string (see header).
bool IsTSpecial(char c) {
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos;
}

// RFC 2046 bchars.
bool IsBoundaryChar(char c) {
  return IsAlnum(c) || std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

bool IsControl(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b < 0x20 || b == 0x7F;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// A forward-only reader over a header value.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ == text_.size(); }
  char Peek() const { return text_[pos_]; }
  void SkipOws() {
    while (!AtEnd() && IsOws(Peek())) ++pos_;
  }
  bool Consume(char c) {
    if (AtEnd() || Peek() != c) return false;
    ++pos_;
    return true;
  }
  std::string_view Token() {
    const size_t start = pos_;
    while (!AtEnd() && IsTokenChar(Peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // An unquoted parameter value: a token, leniently widened to any visible byte (raw UTF-8
  // included) other than ';' and '"'.
  std::string_view BareValue() {
    const size_t start = pos_;
    while (!AtEnd() && !IsControl(Peek()) && !IsOws(Peek()) && Peek() != ';' && Peek() != '"') {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }
  // A quoted-string starting at the cursor; nullopt if it is not terminated.
  std::optional<std::string> QuotedString() {
    if (!Consume('"')) return std::nullopt;
    std::string out;
    while (!AtEnd()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\' && !AtEnd() && IsTSpecial(Peek())) {
        out += text_[pos_++];
        continue;
      }
      out += c;
    }
    return std::nullopt;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

struct Parameter {
  std::string_view name;  // a token, as written
  std::string value;      // unquoted
};

// Parses `*( OWS ";" OWS token OWS "=" OWS ( token / quoted-string ) ) OWS` up to the end, with
// empty parameters (";;", a trailing ";") tolerated. False on a syntax error.
bool ParseParameters(Cursor& cursor, std::vector<Parameter>& out) {
  for (;;) {
    cursor.SkipOws();
    if (cursor.AtEnd()) return true;
    if (!cursor.Consume(';')) return false;
    cursor.SkipOws();
    if (cursor.AtEnd() || cursor.Peek() == ';') continue;
    Parameter parameter;
    parameter.name = cursor.Token();
    if (parameter.name.empty()) return false;
    cursor.SkipOws();
    if (!cursor.Consume('=')) return false;
    cursor.SkipOws();
    if (!cursor.AtEnd() && cursor.Peek() == '"') {
      std::optional<std::string> quoted = cursor.QuotedString();
      if (!quoted) return false;
      parameter.value = std::move(*quoted);
    } else {
      const std::string_view bare = cursor.BareValue();
      if (bare.empty()) return false;
      parameter.value = std::string(bare);
    }
    out.push_back(std::move(parameter));
  }
}

bool IsValidBoundary(std::string_view boundary) {
  if (boundary.empty() || boundary.size() > kMaxBoundaryBytes || boundary.back() == ' ') {
    return false;
  }
  return std::all_of(boundary.begin(), boundary.end(), IsBoundaryChar);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// An ISO-8859-1 byte (= its code point) as UTF-8.
void AppendLatin1(std::string& out, uint8_t byte) {
  if (byte < 0x80) {
    out += static_cast<char>(byte);
    return;
  }
  out += static_cast<char>(0xC0 | (byte >> 6));
  out += static_cast<char>(0x80 | (byte & 0x3F));
}

// RFC 5987 ext-value: charset "'" [language] "'" value-chars, charset UTF-8 or ISO-8859-1.
// Returns the value as UTF-8 (unchecked for UTF-8 charset), or nullopt when malformed.
std::optional<std::string> DecodeExtValue(std::string_view ext) {
  const size_t q1 = ext.find('\'');
  if (q1 == std::string_view::npos) return std::nullopt;
  const size_t q2 = ext.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return std::nullopt;
  const std::string_view charset = ext.substr(0, q1);
  const bool latin1 = EqualsIgnoreCase(charset, "iso-8859-1");
  if (!latin1 && !EqualsIgnoreCase(charset, "utf-8")) return std::nullopt;
  std::string out;
  for (size_t i = q2 + 1; i < ext.size(); ++i) {
    auto byte = static_cast<uint8_t>(ext[i]);
    if (ext[i] == '%') {
      if (i + 2 >= ext.size()) return std::nullopt;
      const int hi = HexValue(ext[i + 1]);
      const int lo = HexValue(ext[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      byte = static_cast<uint8_t>(hi * 16 + lo);
      i += 2;
    } else if (byte <= 0x20 || byte >= 0x7F || ext[i] == '\'') {
      return std::nullopt;
    }
    if (latin1) {
      AppendLatin1(out, byte);
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view text) {
  uint32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t length = core::DecodeUtf8(text, i, &cp);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// Controls and invisible formatting characters that can disguise a name on screen.
bool IsUnsafeCodePoint(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return true;  // C0, DEL, C1
  if (cp == 0x061C || cp == 0x180E) return true;             // Arabic letter mark, Mongolian VS
  if (cp == 0x200B || cp == 0x200E || cp == 0x200F) return true;  // ZWSP, LRM, RLM
  if (cp >= 0x2028 && cp <= 0x202E) return true;  // line/paragraph separators, LRE..RLO
  if (cp >= 0x2060 && cp <= 0x206F) return true;  // word joiner, LRI..PDI, deprecated formats
  if (cp == 0xFEFF) return true;                  // BOM / zero-width no-break space
  if (cp >= 0xFFF9 && cp <= 0xFFFB) return true;  // interlinear annotation
  return false;
}

// `name` (valid UTF-8, longer than kMaxSanitizedFilename) cut to that many bytes on a character
// boundary, keeping a short extension.
std::string Shorten(std::string_view name) {
  std::string_view extension;
  const size_t dot = name.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && name.size() - dot <= kMaxKeptExtension) {
    extension = name.substr(dot);
  }
  std::string_view stem = name.substr(0, name.size() - extension.size());
  size_t cut = kMaxSanitizedFilename - extension.size();
  while (cut > 0 && (static_cast<uint8_t>(stem[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  stem = TrimOws(stem.substr(0, cut));
  std::string out(stem);
  out.append(extension);
  return out;
}

absl::Status BadHeaders(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("malformed multipart part headers: {}", what));
}

}  // namespace

absl::StatusOr<std::string> BoundaryFromContentType(std::string_view content_type) {
  const absl::Status error = absl::InvalidArgumentError(kContentTypeError);
  Cursor cursor(content_type);
  cursor.SkipOws();
  if (!EqualsIgnoreCase(cursor.Token(), "multipart") || !cursor.Consume('/') ||
      !EqualsIgnoreCase(cursor.Token(), "form-data")) {
    return error;
  }
  std::vector<Parameter> parameters;
  if (!ParseParameters(cursor, parameters)) return error;
  std::optional<std::string> boundary;
  for (Parameter& parameter : parameters) {
    if (!EqualsIgnoreCase(parameter.name, "boundary")) continue;
    if (boundary) return error;  // two boundaries: ambiguous
    boundary = std::move(parameter.value);
  }
  if (!boundary || !IsValidBoundary(*boundary)) return error;
  return *std::move(boundary);
}

std::string SanitizeFilename(std::string_view filename) {
  std::string clean;
  clean.reserve(std::min(filename.size(), size_t{4096}));
  for (size_t i = 0; i < filename.size();) {
    uint32_t cp = 0;
    const size_t length = core::DecodeUtf8(filename, i, &cp);
    if (length == 0) {
      clean += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (!IsUnsafeCodePoint(cp)) clean.append(filename.substr(i, length));
    i += length;
  }
  // Only the last path segment: '/' and '\' never occur inside a multi-byte UTF-8 sequence.
  const size_t slash = clean.find_last_of("/\\");
  if (slash != std::string::npos) clean.erase(0, slash + 1);
  const std::string_view view = TrimOws(clean);
  std::string out = view.size() <= kMaxSanitizedFilename ? std::string(view) : Shorten(view);
  if (out == "." || out == "..") out.clear();
  return out;
}

std::string PartHeaders::SanitizedFilename() const {
  return filename ? SanitizeFilename(*filename) : std::string();
}

MultipartParser::MultipartParser(std::string_view boundary, MultipartHandler* handler,
                                 MultipartLimits limits)
    : delimiter_(fmt::format("\r\n--{}", boundary)), handler_(handler), limits_(limits) {
  if (!IsValidBoundary(boundary)) {
    Fail(absl::InvalidArgumentError(kContentTypeError)).IgnoreError();
  }
}

absl::Status MultipartParser::Fail(absl::Status status) {
  state_ = State::kFailed;
  status_ = status;
  return status;
}

absl::Status MultipartParser::Feed(std::string_view bytes) {
  if (state_ == State::kFailed) return status_;
  if (state_ == State::kFinished) {
    return absl::FailedPreconditionError("multipart parser: Feed() after Finish()");
  }
  pending_ = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    absl::Status status = Step(bytes, pos);
    if (!status.ok()) return Fail(std::move(status));
  }
  absl::Status status = FlushAtEnd(bytes);
  if (!status.ok()) return Fail(std::move(status));
  return absl::OkStatus();
}

// Hands on the content of this input not yet reported; an open candidate is carried over.
absl::Status MultipartParser::FlushAtEnd(std::string_view in) {
  if (state_ != State::kPreamble && state_ != State::kBody) return absl::OkStatus();
  if (!in_tail_ && matched_ == 0) return Emit(in.substr(pending_));
  const size_t length = in_tail_ ? delimiter_.size() + tail_.size() : matched_;
  const size_t at = candidate_at_;
  candidate_at_ = kCarried;
  carried_ = length;
  if (at == kCarried) return absl::OkStatus();  // all of this input belongs to the candidate
  return Emit(in.substr(pending_, at - pending_));
}

absl::Status MultipartParser::Finish() {
  if (state_ == State::kFailed) return status_;
  if (state_ == State::kEpilogue || state_ == State::kFinished) {
    state_ = State::kFinished;
    return absl::OkStatus();
  }
  return Fail(absl::InvalidArgumentError("malformed multipart body: missing closing boundary"));
}

// Consumes at least one byte of `in` from `pos`, or changes state without consuming.
absl::Status MultipartParser::Step(std::string_view in, size_t& pos) {
  switch (state_) {
    case State::kPreamble:
    case State::kBody:
      return ScanStep(in, pos);
    case State::kHeaders:
      return HeaderStep(in, pos);
    case State::kEpilogue:
      pos = in.size();
      return absl::OkStatus();
    case State::kFinished:
    case State::kFailed:
      break;
  }
  return absl::InternalError("multipart parser: unreachable state");
}

absl::Status MultipartParser::ScanStep(std::string_view in, size_t& pos) {
  if (in_tail_) return TailStep(in, pos);
  const char* const p = in.data();
  const size_t n = in.size();
  const size_t m = delimiter_.size();
  if (matched_ > 0) {  // a delimiter prefix ended the previous input
    while (pos < n && matched_ < m && p[pos] == delimiter_[matched_]) {
      ++pos;
      ++matched_;
    }
    if (matched_ == m) {
      matched_ = 0;
      in_tail_ = true;
      return absl::OkStatus();
    }
    if (pos == n) return absl::OkStatus();
    // Not a delimiter: the candidate is content (the virtual CRLF only ever precedes the
    // preamble, which Emit drops); the byte at pos is scanned afresh.
    matched_ = 0;
    return RejectCandidate();
  }

  // Finds the first delimiter, or the prefix of one that ends the input, at or after `pos`.
  // Content before it stays pending: it is reported when the candidate is decided or at the end
  // of the input, in one piece with whatever look-alikes it contains.
  const auto candidate = [&](size_t at) {
    const size_t available = std::min(m, n - at);
    pos = at + available;
    candidate_at_ = at;
    if (available == m) {
      in_tail_ = true;
    } else {
      matched_ = available;  // decided by the next Feed()
    }
    return absl::OkStatus();
  };
  size_t from = pos;
  if (after_lookalike_) {
    // Look-alikes may come thick and fast (hostile input): search a short stretch with a plain
    // loop before paying memmem's set-up again.
    after_lookalike_ = false;
    const size_t end = std::min(n, pos + kShortScan);
    for (size_t at = pos; at < end; ++at) {
      if (p[at] == '\r' && MatchesPrefix(p + at, n - at)) return candidate(at);
    }
    from = end;
  }
  // glibc's memmem is linear-time (two-way fallback) and many GB/s for needles of this size.
  const void* hit = memmem(p + from, n - from, delimiter_.data(), m);
  if (hit != nullptr) return candidate(static_cast<size_t>(static_cast<const char*>(hit) - p));
  // No whole delimiter: a prefix of one may end the input. It starts at a CR in the last m - 1
  // bytes, and there is at most one (CR occurs in the delimiter only at index 0).
  for (size_t at = std::max(from, n - std::min(n, m - 1)); at < n; ++at) {
    if (p[at] == '\r' && MatchesPrefix(p + at, n - at)) return candidate(at);
  }
  pos = n;
  return absl::OkStatus();
}

absl::Status MultipartParser::RejectCandidate() {
  after_lookalike_ = true;
  if (candidate_at_ != kCarried) {  // its bytes are still pending content of this input
    tail_.clear();
    return absl::OkStatus();
  }
  // The candidate began in an earlier input: report the bytes held from there; the rest of it is
  // at the start of this input, which is now pending content.
  pending_ = 0;
  const std::string_view delimiter(delimiter_);
  NEXUS_RETURN_IF_ERROR(Emit(delimiter.substr(0, std::min(carried_, delimiter.size()))));
  if (carried_ > delimiter.size()) {
    NEXUS_RETURN_IF_ERROR(Emit(std::string_view(tail_).substr(0, carried_ - delimiter.size())));
  }
  tail_.clear();
  return absl::OkStatus();
}

bool MultipartParser::MatchesPrefix(const char* p, size_t available) const {
  const size_t length = std::min(available, delimiter_.size());
  for (size_t i = 0; i < length; ++i) {
    if (p[i] != delimiter_[i]) return false;
  }
  return true;
}

absl::Status MultipartParser::TailStep(std::string_view in, size_t& pos) {
  while (pos < in.size()) {
    const char c = in[pos];
    if (tail_ == "-") {
      if (c == '-') {
        ++pos;
        return OnDelimiter(in, /*closing=*/true);
      }
    } else if (!tail_.empty() && tail_.back() == '\r') {
      if (c == '\n') {
        ++pos;
        return OnDelimiter(in, /*closing=*/false);
      }
    } else if (c == '-' && tail_.empty()) {
      tail_ += c;
      ++pos;
      continue;
    } else if (c == '\r') {
      tail_ += c;
      ++pos;
      continue;
    } else if (IsOws(c) && tail_.size() < kMaxTransportPadding) {
      tail_ += c;
      ++pos;
      continue;
    }
    // Not a delimiter after all: everything matched is content; `c` is scanned afresh.
    in_tail_ = false;
    return RejectCandidate();
  }
  return absl::OkStatus();
}

absl::Status MultipartParser::Emit(std::string_view data) {
  if (data.empty() || state_ != State::kBody) return absl::OkStatus();  // preamble: dropped
  if (part_.is_file()) return handler_->OnPartData(data);
  if (data.size() > limits_.max_field_bytes - field_value_.size()) {
    return absl::InvalidArgumentError(fmt::format(
        R"(form field "{}" is too large (limit {} bytes))", part_.name, limits_.max_field_bytes));
  }
  field_value_.append(data);
  return absl::OkStatus();
}

absl::Status MultipartParser::OnDelimiter(std::string_view in, bool closing) {
  in_tail_ = false;
  tail_.clear();
  matched_ = 0;
  if (candidate_at_ != kCarried) {  // content of this input before the delimiter
    NEXUS_RETURN_IF_ERROR(Emit(in.substr(pending_, candidate_at_ - pending_)));
  }
  if (state_ == State::kBody) {
    if (part_.is_file()) {
      NEXUS_RETURN_IF_ERROR(handler_->OnPartEnd());
    } else {
      NEXUS_RETURN_IF_ERROR(handler_->OnField(part_, field_value_));
    }
  }
  if (closing) {
    state_ = State::kEpilogue;
    return absl::OkStatus();
  }
  if (parts_ >= limits_.max_parts) {
    return absl::InvalidArgumentError(
        fmt::format("too many form fields (limit {})", limits_.max_parts));
  }
  ++parts_;
  state_ = State::kHeaders;
  header_block_.clear();
  line_start_ = 0;
  return absl::OkStatus();
}

absl::Status MultipartParser::HeaderStep(std::string_view in, size_t& pos) {
  const size_t limit = limits_.max_part_header_bytes;
  while (pos < in.size()) {
    if (header_block_.size() >= limit) {
      return absl::InvalidArgumentError(
          fmt::format("multipart part headers too large (limit {} bytes)", limit));
    }
    const size_t take = std::min(limit - header_block_.size(), in.size() - pos);
    const char* const p = in.data() + pos;
    const void* lf = std::memchr(p, '\n', take);
    const size_t length =
        lf == nullptr ? take : static_cast<size_t>(static_cast<const char*>(lf) - p) + 1;
    header_block_.append(p, length);
    pos += length;
    if (lf == nullptr) continue;
    const std::string_view line = std::string_view(header_block_).substr(line_start_);
    if (line.size() < 2 || line[line.size() - 2] != '\r') {
      return BadHeaders("lines must end in CRLF");
    }
    if (line.size() == 2) {  // the empty line ends the block
      pending_ = pos;
      return ParseHeaderBlock();
    }
    line_start_ = header_block_.size();
  }
  return absl::OkStatus();
}

absl::Status MultipartParser::ParseHeaderBlock() {
  std::optional<std::string_view> disposition;
  std::optional<std::string_view> content_type;
  std::string_view block(header_block_);
  block.remove_suffix(2);  // the empty line's CRLF
  while (!block.empty()) {
    const size_t end = block.find("\r\n");  // every line ends in CRLF (HeaderStep checked)
    const std::string_view line = block.substr(0, end);
    block.remove_prefix(end + 2);
    if (line.find('\r') != std::string_view::npos) return BadHeaders("lines must end in CRLF");
    if (line.empty() || IsOws(line.front()))
      return BadHeaders("folded header lines are not supported");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return BadHeaders("a header line has no colon");
    const std::string_view name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
      return BadHeaders("invalid header name");
    }
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-disposition")) {
      if (disposition) return BadHeaders("more than one Content-Disposition");
      disposition = value;
    } else if (EqualsIgnoreCase(name, "content-type")) {
      if (content_type) return BadHeaders("more than one Content-Type");
      content_type = value;
    }
  }
  if (!disposition) {
    return absl::InvalidArgumentError(
        "multipart part has no \"Content-Disposition: form-data\" header");
  }

  Cursor cursor(*disposition);
  if (!EqualsIgnoreCase(cursor.Token(), "form-data")) {
    return absl::InvalidArgumentError(
        "multipart part is not form-data (Content-Disposition must be form-data)");
  }
  std::vector<Parameter> parameters;
  if (!ParseParameters(cursor, parameters)) {
    return absl::InvalidArgumentError("malformed multipart Content-Disposition header");
  }
  std::optional<std::string> name;
  std::optional<std::string> filename;
  std::optional<std::string> ext_filename;
  for (Parameter& parameter : parameters) {
    std::optional<std::string>* slot = nullptr;
    if (EqualsIgnoreCase(parameter.name, "name")) {
      slot = &name;
    } else if (EqualsIgnoreCase(parameter.name, "filename")) {
      slot = &filename;
    } else if (EqualsIgnoreCase(parameter.name, "filename*")) {
      slot = &ext_filename;
    } else {
      continue;
    }
    if (*slot) {
      return absl::InvalidArgumentError(fmt::format(
          "multipart Content-Disposition has more than one \"{}\" parameter", parameter.name));
    }
    *slot = std::move(parameter.value);
  }
  if (!name || name->empty()) return absl::InvalidArgumentError("multipart part has no name");
  if (name->size() > limits_.max_name_bytes) {
    return absl::InvalidArgumentError(
        fmt::format("multipart field name is too long (limit {} bytes)", limits_.max_name_bytes));
  }
  if (std::any_of(name->begin(), name->end(), IsControl)) {
    return absl::InvalidArgumentError("multipart field name contains a control character");
  }
  if (!IsValidUtf8(*name)) {
    return absl::InvalidArgumentError("multipart field name is not valid UTF-8");
  }
  if (!filename && ext_filename) {
    filename = DecodeExtValue(*ext_filename);
    if (!filename) return absl::InvalidArgumentError("malformed multipart filename* parameter");
  }
  if (filename && filename->size() > limits_.max_filename_bytes) {
    return absl::InvalidArgumentError(
        fmt::format("multipart filename is too long (limit {} bytes)", limits_.max_filename_bytes));
  }

  part_.name = *std::move(name);
  part_.filename = std::move(filename);
  part_.content_type = std::string(content_type.value_or(""));
  field_value_.clear();
  state_ = State::kBody;
  if (part_.is_file()) return handler_->OnPartBegin(part_);
  return absl::OkStatus();
}

}  // namespace nexus::http
