// libFuzzer target for http::MultipartParser and BoundaryFromContentType.
//
// Input: byte 0 picks the boundary (3 fixed ones, or the first line of the input parsed as a
// Content-Type), small or default limits, and whether the handler fails (at the n-th
// field/begin/end event, or once n bytes of file data have arrived); byte 1 seeds the split
// points; the rest is the body. Every body is parsed three times: in one Feed(), one byte at a
// time, and in pseudo-random pieces; the three transcripts (events, merged data, final status)
// must be identical. Invariants checked on the way: events in order (file parts Begin, Data*,
// End; fields only between parts), non-empty data chunks, at most 3 data calls per part per
// Feed(), total bytes delivered <= body size, names/filenames/values/part count within the
// limits, names UTF-8 without controls, SanitizedFilename() safe, errors only InvalidArgument (or
// the injected one) and sticky with no callback after them, done() after success. A successful
// parse is serialized again and must parse to the same parts.
// Run: build/fuzz-mp/fuzz/multipart_fuzz -dict=fuzz/multipart.dict fuzz/corpus/multipart
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "http/multipart.h"

namespace {

using nexus::http::BoundaryFromContentType;
using nexus::http::MultipartHandler;
using nexus::http::MultipartLimits;
using nexus::http::MultipartParser;
using nexus::http::PartHeaders;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "contract violated: %s\n", what);
    std::abort();
  }
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (b < 0x80) {
      n = 1;
    } else if ((b & 0xE0) == 0xC0 && b >= 0xC2) {
      n = 2;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3;
    } else if ((b & 0xF8) == 0xF0 && b <= 0xF4) {
      n = 4;
    } else {
      return false;
    }
    if (n > s.size() - i) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

struct Part {
  PartHeaders headers;
  std::string body;
  bool operator==(const Part& o) const {
    return headers.name == o.headers.name && headers.filename == o.headers.filename &&
           headers.content_type == o.headers.content_type && body == o.body;
  }
};

class Recorder : public MultipartHandler {
 public:
  Recorder(const MultipartLimits& limits, int fail_at) : limits_(limits), fail_at_(fail_at) {}

  absl::Status OnField(const PartHeaders& headers, std::string_view value) override {
    Check(!in_file_, "field inside a file part");
    CheckHeaders(headers, false);
    Check(value.size() <= limits_.max_field_bytes, "field limit");
    bytes_ += value.size();
    parts_.push_back({headers, std::string(value)});
    transcript_ += "field " + Describe(headers) + " " + std::to_string(value.size()) + ":";
    transcript_.append(value);
    transcript_ += "\n";
    return Event();
  }
  absl::Status OnPartBegin(const PartHeaders& headers) override {
    Check(!in_file_, "nested part");
    CheckHeaders(headers, true);
    in_file_ = true;
    data_calls_ = 0;
    parts_.push_back({headers, ""});
    transcript_ += "begin " + Describe(headers) + "\n";
    return Event();
  }
  absl::Status OnPartData(std::string_view chunk) override {
    Check(in_file_, "data outside a file part");
    Check(!chunk.empty(), "empty chunk");
    Check(++data_calls_ <= 3, "at most 3 data calls per part and Feed");
    bytes_ += chunk.size();
    parts_.back().body.append(chunk);
    Check(!stopped_, "callback after an error");
    // How data arrives in chunks depends on the split, so a data failure is tied to a byte count.
    if (fail_at_ >= 8 && bytes_ >= static_cast<size_t>(fail_at_ - 7) * 4) {
      return absl::ResourceExhaustedError("injected data");
    }
    return absl::OkStatus();
  }
  absl::Status OnPartEnd() override {
    Check(in_file_, "end outside a file part");
    in_file_ = false;
    transcript_ +=
        "end " + std::to_string(parts_.back().body.size()) + ":" + parts_.back().body + "\n";
    return Event();
  }

  void Stop() { stopped_ = true; }
  void NewFeed() { data_calls_ = 0; }
  size_t bytes() const { return bytes_; }
  const std::vector<Part>& parts() const { return parts_; }
  std::string& transcript() { return transcript_; }

 private:
  absl::Status Event() {
    Check(!stopped_, "callback after an error");
    Check(parts_.size() <= limits_.max_parts, "part limit");
    if (events_++ == fail_at_) return absl::ResourceExhaustedError("injected event");
    return absl::OkStatus();
  }
  void CheckHeaders(const PartHeaders& headers, bool file) {
    Check(headers.is_file() == file, "is_file");
    Check(!headers.name.empty() && headers.name.size() <= limits_.max_name_bytes, "name limit");
    Check(IsValidUtf8(headers.name), "name UTF-8");
    for (const char c : headers.name) {
      Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F, "control in name");
    }
    if (!file) {
      Check(headers.SanitizedFilename().empty(), "field has a filename");
      return;
    }
    Check(headers.filename->size() <= limits_.max_filename_bytes, "filename limit");
    const std::string clean = headers.SanitizedFilename();
    Check(clean.size() <= 255, "sanitized length");
    Check(IsValidUtf8(clean), "sanitized UTF-8");
    Check(clean != "." && clean != "..", "sanitized dots");
    Check(clean.find_first_of("/\\") == std::string::npos, "sanitized separator");
    for (const char c : clean) {
      Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F, "sanitized control");
    }
    Check(clean.find("\xE2\x80\xAE") == std::string::npos, "sanitized RLO");
  }
  static std::string Describe(const PartHeaders& h) {
    return "name=" + h.name + "|file=" + (h.filename ? "1" + *h.filename : "0") +
           "|type=" + h.content_type;
  }

  const MultipartLimits limits_;
  const int fail_at_;
  bool in_file_ = false;
  bool stopped_ = false;
  int events_ = 0;
  int data_calls_ = 0;  // OnPartData calls for the current part in the current Feed()
  size_t bytes_ = 0;
  std::vector<Part> parts_;
  std::string transcript_;
};

struct Outcome {
  std::string transcript;
  std::vector<Part> parts;
};

// Parses `body` in pieces of the sizes `next_size()` returns (0: all that is left).
template <typename NextSize>
Outcome Run(std::string_view boundary, std::string_view body, const MultipartLimits& limits,
            int fail_at, NextSize next_size) {
  Recorder recorder(limits, fail_at);
  MultipartParser parser(boundary, &recorder, limits);
  absl::Status status;
  size_t pos = 0;
  while (status.ok() && pos < body.size()) {
    size_t n = next_size();
    if (n == 0 || n > body.size() - pos) n = body.size() - pos;
    recorder.NewFeed();
    status = parser.Feed(body.substr(pos, n));
    pos += n;
  }
  if (status.ok()) status = parser.Finish();
  Check(recorder.bytes() <= body.size(), "bytes delivered <= input");
  if (status.ok()) {
    Check(parser.done(), "done after success");
  } else {
    Check(status.code() == absl::StatusCode::kInvalidArgument ||
              (fail_at >= 0 && status.code() == absl::StatusCode::kResourceExhausted),
          "error code");
    Check(!status.message().empty(), "error message");
    recorder.Stop();
    Check(parser.Feed("--") == status, "sticky Feed");
    Check(parser.Finish() == status, "sticky Finish");
  }
  Check(parser.parts() <= limits.max_parts, "parts()");
  recorder.transcript() += "status: " + status.ToString();
  return {std::move(recorder.transcript()), recorder.parts()};
}

void AppendQuoted(std::string& out, std::string_view value) {
  out += '"';
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

std::string Serialize(std::string_view boundary, const std::vector<Part>& parts) {
  std::string out;
  for (const Part& part : parts) {
    out += "--";
    out += boundary;
    out += "\r\nContent-Disposition: form-data; name=";
    AppendQuoted(out, part.headers.name);
    if (part.headers.filename) {
      const std::string& filename = *part.headers.filename;
      if (filename.find_first_of("\r\n") == std::string::npos) {
        out += "; filename=";
        AppendQuoted(out, filename);
      } else {  // only filename* (decoded) can carry CR/LF
        out += "; filename*=UTF-8''";
        for (const char c : filename) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += '%';
          out += kHex[static_cast<unsigned char>(c) >> 4];
          out += kHex[c & 0xF];
        }
      }
    }
    out += "\r\n";
    if (!part.headers.content_type.empty())
      out += "Content-Type: " + part.headers.content_type + "\r\n";
    out += "\r\n";
    out += part.body;
    out += "\r\n";
  }
  out += "--";
  out += boundary;
  out += "--\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t config = data[0];
  uint32_t rng = data[1] * 2654435761u + 1;
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  static constexpr std::string_view kBoundaries[3] = {"b", "XyZ",
                                                      "----WebKitFormBoundary7MA4YWxkTrZu0gW"};
  std::string boundary;
  if ((config & 3) == 3) {
    const size_t eol = body.find('\n');
    const std::string_view line = body.substr(0, eol);
    body = eol == std::string_view::npos ? std::string_view() : body.substr(eol + 1);
    absl::StatusOr<std::string> parsed = BoundaryFromContentType(line);
    if (!parsed.ok()) {
      Check(parsed.status() == absl::InvalidArgumentError(
                                   "Content-Type must be multipart/form-data with a boundary"),
            "content type error");
      return 0;
    }
    boundary = *std::move(parsed);
    Check(!boundary.empty() && boundary.size() <= 70 && boundary.back() != ' ', "boundary size");
    for (const char c : boundary) {
      Check(c != '\r' && c != '\n' && c != '"' && c != ';' &&
                static_cast<unsigned char>(c) > 0x1F && static_cast<unsigned char>(c) < 0x7F,
            "boundary chars");
    }
  } else {
    boundary = std::string(kBoundaries[config & 3]);
  }

  MultipartLimits limits;
  if (config & 4) {
    limits.max_parts = 4;
    limits.max_part_header_bytes = 160;
    limits.max_field_bytes = 24;
    limits.max_name_bytes = 12;
    limits.max_filename_bytes = 40;
  }
  const int fail_at = (config & 8) ? (config >> 4) : -1;
  const size_t max_piece = 1 + ((config >> 4) ^ (data[1] & 0xF)) * 3;

  const Outcome whole = Run(boundary, body, limits, fail_at, [] { return size_t{0}; });
  const Outcome bytes = Run(boundary, body, limits, fail_at, [] { return size_t{1}; });
  const Outcome pieces = Run(boundary, body, limits, fail_at, [&] {
    rng = rng * 1103515245u + 12345u;
    return size_t{(rng >> 16) % (max_piece + 1)};  // 0 → the rest
  });
  if (whole.transcript != bytes.transcript || whole.transcript != pieces.transcript) {
    std::fprintf(stderr, "one piece:\n%s\n\nbyte by byte:\n%s\n\nin pieces:\n%s\n",
                 whole.transcript.c_str(), bytes.transcript.c_str(), pieces.transcript.c_str());
    std::abort();
  }

  const bool ok = whole.transcript.ends_with("status: OK");
  if (ok && fail_at < 0) {
    MultipartLimits roomy = limits;
    roomy.max_part_header_bytes = 1 << 20;
    const std::string again = Serialize(boundary, whole.parts);
    const Outcome reparsed = Run(boundary, again, roomy, -1, [] { return size_t{0}; });
    Check(reparsed.transcript.ends_with("status: OK"), "round trip parses");
    Check(reparsed.parts == whole.parts, "round trip gives the same parts");
  }
  return 0;
}
