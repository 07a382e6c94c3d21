// File: http/multipart.h
//
// A streaming (push) parser for multipart/form-data request bodies (RFC 7578 over RFC 2046), built
// to face hostile clients: the body is fed in pieces of any size, file parts are handed on as they
// arrive and never held in memory, every buffer is bounded, scanning is O(n) (memmem for the
// delimiter; see multipart.cc), and there is no std::regex and no recursion.
//
// Contract
//  - Events. A part whose Content-Disposition has a `filename` parameter (even `filename=""`, which
//    browsers send for an empty file input) is a *file part*: OnPartBegin(headers), then
//    OnPartData(chunk) zero or more times (non-empty chunks whose concatenation is exactly the
//    part's content; a chunk view is valid only during the call; chunks are as large as the input
//    allows: the part's content in one Feed() comes in one call, plus at most two short ones for
//    a delimiter look-alike that began in an earlier Feed()), then OnPartEnd(). Any other part
//    is a *field*: the parser collects its value (≤ max_field_bytes) and calls OnField(headers,
//    value) once, when the part's closing delimiter has been seen. Parts are reported in body
//    order; unknown names and repeated names are reported like any other (the upload layer
//    ignores unknown fields and answers 400 for a repeated one, SPEC §4).
//  - Data is reported only once it is known not to be part of a delimiter, so nothing is ever
//    taken back. The carry-over between Feed() calls is a count of delimiter bytes matched so far
//    (the bytes themselves are the known delimiter) plus at most kMaxTransportPadding + 1 bytes
//    after a complete "CRLF--boundary"; no file byte is buffered.
//  - Framing (RFC 2046 §5.1.1): a delimiter is CRLF "--" boundary, followed by optional transport
//    padding (≤ kMaxTransportPadding spaces/tabs) and CRLF, or by "--" for the closing delimiter.
//    The first delimiter may start the body without the CRLF. "CRLF--boundary" followed by
//    anything else (e.g. "--boundaryX", or "--boundary" after a bare LF) is content, not a
//    delimiter. The preamble before the first delimiter and the epilogue after the closing one
//    are ignored. A body that is only "--boundary--" is a valid, empty form.
//  - Part headers must end every line in CRLF; a bare LF or CR, a folded (continuation) line, a
//    line without a colon or a field name that is not a token is an error. Header names are
//    case-insensitive; headers other than Content-Disposition and Content-Type are ignored (so is
//    the deprecated Content-Transfer-Encoding: content is always delivered as sent). A repeated
//    Content-Disposition or Content-Type is an error (two parsers must not disagree on a part).
//  - Content-Disposition must be `form-data` with a non-empty `name`. Parameter values are tokens
//    or quoted-strings; in a quoted-string a backslash escapes only a separator character (`"`,
//    `\`, ...) and is otherwise literal, so an unescaped Windows path from old browsers survives.
//    Percent-encoding that browsers apply to `"` in names and filenames is not undone. `filename*`
//    (RFC 5987, UTF-8 or ISO-8859-1, which RFC 7578 §4.2 says senders must not use) is decoded
//    only when there is no plain `filename`; the plain one is preferred. A repeated `name`,
//    `filename` or `filename*` is an error; other parameters are ignored. A name must be valid
//    UTF-8 without control characters (so it can go into a JSON error message as is); a filename is
//    kept as given (any bytes; only a decoded filename* can hold CR/LF) and must be shown or stored
//    only through SanitizedFilename().
//  - Errors. Malformed input and broken limits end in InvalidArgument with a message fit for an
//    HTTP 400 body (it names the field for a value over the limit). A non-OK status returned by a
//    handler stops the parser and is returned unchanged by that Feed() (e.g. ResourceExhausted
//    for a full disk). Errors are sticky: later Feed()/Finish() calls return the same status and
//    make no more callbacks. After an error no OnPartEnd() follows a begun file part: the consumer
//    discards what it wrote.
//  - Finish() fails unless the closing delimiter was seen. Feed() after Finish() is
//    FailedPrecondition.
//  - Not thread-safe; one parser per request body.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nexus::http {

// The boundary of a `multipart/form-data; boundary=...` Content-Type (type, subtype and parameter
// names case-insensitive; the boundary a token or a quoted-string of 1..70 RFC 2046 bchars, not
// ending in a space). Anything else is InvalidArgument "Content-Type must be multipart/form-data
// with a boundary".
absl::StatusOr<std::string> BoundaryFromContentType(std::string_view content_type);

// `filename` as safe display text: invalid UTF-8 replaced by U+FFFD; C0/C1 controls (NUL
// included), DEL and invisible/bidirectional formatting characters (RTL override and the like,
// zero-width space, BOM) removed; everything up to the last '/' or '\' removed; surrounding
// whitespace trimmed; "." and ".." become ""; at most 255 bytes, cut on a UTF-8 boundary and
// keeping a short extension (".csv") when one is present. Never a path: "../../etc/passwd" →
// "passwd". May be empty.
std::string SanitizeFilename(std::string_view filename);

// Every limit breach is InvalidArgument (400). The research notes (§d) suggest 5 parts and 1 KiB
// of part headers; SPEC §4 has 14 fields plus the file and unknown fields must be tolerated, and
// a long UTF-8 filename plus its Content-Type needs more than 1 KiB, hence these defaults.
struct MultipartLimits {
  size_t max_parts = 32;                    // all parts, known or not, files included
  size_t max_part_header_bytes = 4 * 1024;  // one part's header block, CRLFs included
  size_t max_field_bytes = 64 * 1024;       // value of one non-file part
  size_t max_name_bytes = 256;              // `name` parameter
  size_t max_filename_bytes = 1024;         // `filename` (or decoded `filename*`) as given
};

struct PartHeaders {
  std::string name;                     // the `name` parameter: UTF-8, no control characters
  std::optional<std::string> filename;  // as given (decoded quoted-string): NOT a path
  std::string content_type;             // the part's Content-Type, trimmed; "" when absent

  bool is_file() const { return filename.has_value(); }
  // SanitizeFilename(*filename), or "" for a field. Use it for the extension check and display.
  std::string SanitizedFilename() const;
};

// Receives the parts of one body. Any non-OK status aborts the parse and is returned by Feed().
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  // A non-file part, complete.
  virtual absl::Status OnField(const PartHeaders& headers, std::string_view value) = 0;
  // A file part starts / continues / has ended (see the contract above).
  virtual absl::Status OnPartBegin(const PartHeaders& headers) = 0;
  virtual absl::Status OnPartData(std::string_view chunk) = 0;
  virtual absl::Status OnPartEnd() = 0;
};

class MultipartParser {
 public:
  // Longest run of spaces/tabs accepted between a boundary and its CRLF.
  static constexpr size_t kMaxTransportPadding = 32;
  // Bytes scanned CR by CR after a delimiter look-alike before memmem takes over again.
  static constexpr size_t kShortScan = 256;

  // `boundary` as returned by BoundaryFromContentType. `handler` must outlive the parser.
  MultipartParser(std::string_view boundary, MultipartHandler* handler,
                  MultipartLimits limits = {});
  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  // Parses the next bytes of the body; any split is fine, empty included.
  absl::Status Feed(std::string_view bytes);
  // The body has ended: OK only if the closing delimiter was seen.
  absl::Status Finish();

  // The closing delimiter has been seen (the rest of the body is epilogue).
  bool done() const { return state_ == State::kEpilogue || state_ == State::kFinished; }
  // Parts begun so far.
  size_t parts() const { return parts_; }

 private:
  enum class State { kPreamble, kHeaders, kBody, kEpilogue, kFinished, kFailed };

  absl::Status Step(std::string_view in, size_t& pos);
  absl::Status ScanStep(std::string_view in, size_t& pos);
  // p[0, available) agrees with the start of delimiter_.
  bool MatchesPrefix(const char* p, size_t available) const;
  absl::Status TailStep(std::string_view in, size_t& pos);
  absl::Status HeaderStep(std::string_view in, size_t& pos);
  absl::Status RejectCandidate();
  absl::Status OnDelimiter(std::string_view in, bool closing);
  absl::Status FlushAtEnd(std::string_view in);
  absl::Status ParseHeaderBlock();
  absl::Status Emit(std::string_view data);
  absl::Status Fail(absl::Status status);

  const std::string delimiter_;  // CRLF "--" boundary
  MultipartHandler* const handler_;
  const MultipartLimits limits_;

  State state_ = State::kPreamble;
  absl::Status status_;  // the sticky error once state_ is kFailed
  // A candidate delimiter is open while matched_ > 0 or in_tail_. matched_ counts the delimiter
  // bytes matched at the end of the input so far; it starts at 2: a virtual CRLF lets the first
  // delimiter open the body.
  size_t matched_ = 2;
  bool in_tail_ = false;  // a whole delimiter matched; tail_ holds what followed it
  std::string tail_;      // "-", or padding and maybe CR: ≤ kMaxTransportPadding + 1 bytes
  static constexpr size_t kCarried = static_cast<size_t>(-1);
  // Where the open candidate starts in the current input, or kCarried if in an earlier one.
  size_t candidate_at_ = kCarried;
  size_t carried_ = 2;  // bytes of a kCarried candidate that came before the current input
  size_t pending_ = 0;  // content of the current input from here on is not reported yet
  bool after_lookalike_ = false;  // the last candidate was not a delimiter (see ScanStep)
  size_t parts_ = 0;
  std::string header_block_;  // the current part's header lines (≤ max_part_header_bytes)
  size_t line_start_ = 0;     // offset in header_block_ of the line being read
  PartHeaders part_;
  std::string field_value_;  // a field part's value so far (≤ max_field_bytes)
};

}  // namespace nexus::http
