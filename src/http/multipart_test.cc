// File: http/multipart_test.cc
//
// MultipartParser and its helpers: real curl bodies, parameter syntax, filename sanitising, every
// split of the input, delimiter look-alikes inside content, limits and malformed bodies.
#include "http/multipart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace nexus::http {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;

struct RecordedPart {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string body;
  int chunks = 0;
  bool ended = false;

  bool operator==(const RecordedPart& other) const {
    return name == other.name && filename == other.filename && content_type == other.content_type &&
           body == other.body && ended == other.ended;
  }
};

// Records the parts and checks the event order; can be told to fail at the n-th event.
class Recorder : public MultipartHandler {
 public:
  absl::Status OnField(const PartHeaders& headers, std::string_view value) override {
    EXPECT_FALSE(headers.is_file());
    EXPECT_FALSE(in_file_);
    parts.push_back({headers.name, headers.filename, headers.content_type, std::string(value)});
    parts.back().ended = true;
    return Event();
  }
  absl::Status OnPartBegin(const PartHeaders& headers) override {
    EXPECT_TRUE(headers.is_file());
    EXPECT_FALSE(in_file_);
    in_file_ = true;
    parts.push_back({headers.name, headers.filename, headers.content_type, ""});
    sanitized.push_back(headers.SanitizedFilename());
    return Event();
  }
  absl::Status OnPartData(std::string_view chunk) override {
    EXPECT_TRUE(in_file_);
    EXPECT_FALSE(chunk.empty());
    parts.back().body.append(chunk);
    ++parts.back().chunks;
    return Event();
  }
  absl::Status OnPartEnd() override {
    EXPECT_TRUE(in_file_);
    in_file_ = false;
    parts.back().ended = true;
    return Event();
  }

  std::vector<RecordedPart> parts;
  std::vector<std::string> sanitized;
  int fail_at_event = -1;
  int events = 0;

 private:
  absl::Status Event() {
    if (events++ == fail_at_event) return absl::ResourceExhaustedError("disk full");
    return absl::OkStatus();
  }
  bool in_file_ = false;
};

struct Result {
  absl::Status status;
  std::vector<RecordedPart> parts;
  std::vector<std::string> sanitized;
};

// Parses `body` fed in pieces ending at `splits` (sorted offsets), then Finish().
Result ParseSplit(std::string_view body, const std::vector<size_t>& splits,
                  std::string_view boundary = "XyZ", MultipartLimits limits = {}) {
  Recorder recorder;
  MultipartParser parser(boundary, &recorder, limits);
  Result result;
  size_t start = 0;
  for (size_t split : splits) {
    result.status = parser.Feed(body.substr(start, split - start));
    start = split;
    if (!result.status.ok()) break;
  }
  if (result.status.ok()) result.status = parser.Feed(body.substr(start));
  if (result.status.ok()) result.status = parser.Finish();
  result.parts = recorder.parts;
  result.sanitized = recorder.sanitized;
  return result;
}

Result Parse(std::string_view body, std::string_view boundary = "XyZ",
             MultipartLimits limits = {}) {
  return ParseSplit(body, {}, boundary, limits);
}

Result ParseBytewise(std::string_view body, std::string_view boundary = "XyZ",
                     MultipartLimits limits = {}) {
  std::vector<size_t> splits;
  for (size_t i = 1; i < body.size(); ++i) splits.push_back(i);
  return ParseSplit(body, splits, boundary, limits);
}

// Every way of cutting `body` in one and in two places must give the same outcome as one piece.
void ExpectSplitInvariant(std::string_view body, std::string_view boundary = "XyZ",
                          MultipartLimits limits = {}) {
  const Result whole = Parse(body, boundary, limits);
  for (size_t i = 0; i <= body.size(); ++i) {
    for (size_t j = i; j <= body.size(); ++j) {
      const Result split = ParseSplit(body, {i, j}, boundary, limits);
      ASSERT_EQ(split.status, whole.status) << "split at " << i << "," << j;
      ASSERT_EQ(split.parts, whole.parts) << "split at " << i << "," << j;
    }
  }
  const Result bytewise = ParseBytewise(body, boundary, limits);
  EXPECT_EQ(bytewise.status, whole.status);
  EXPECT_EQ(bytewise.parts, whole.parts);
}

std::string Field(std::string_view name, std::string_view value) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"" + std::string(name) + "\"\r\n\r\n" +
         std::string(value) + "\r\n";
}

std::string File(std::string_view disposition_params, std::string_view data) {
  return "--XyZ\r\nContent-Disposition: form-data; " + std::string(disposition_params) +
         "\r\nContent-Type: text/csv\r\n\r\n" + std::string(data) + "\r\n";
}

constexpr char kClose[] = "--XyZ--\r\n";

void ExpectInvalid(const Result& result, std::string_view message_part) {
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument) << result.status;
  EXPECT_THAT(std::string(result.status.message()), HasSubstr(std::string(message_part)));
}

// Captured from `curl -F userId=... -F 'batchName=May "VIP" list' -F 'callingNumbers=[...]'
// -F 'file=@contacts.csv;type=text/csv'` (curl 7.88.1).
constexpr std::string_view kCurlBoundary = "------------------------a27a08a5cca06476";
constexpr std::string_view kCurlBody =
    "--------------------------a27a08a5cca06476\r\n"
    "Content-Disposition: form-data; name=\"userId\"\r\n"
    "\r\n"
    "64e5f12345abcdef98765432\r\n"
    "--------------------------a27a08a5cca06476\r\n"
    "Content-Disposition: form-data; name=\"batchName\"\r\n"
    "\r\n"
    "May \"VIP\" list\r\n"
    "--------------------------a27a08a5cca06476\r\n"
    "Content-Disposition: form-data; name=\"callingNumbers\"\r\n"
    "\r\n"
    "[\"64e5f12345abcdef87654321\"]\r\n"
    "--------------------------a27a08a5cca06476\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"contacts.csv\"\r\n"
    "Content-Type: text/csv\r\n"
    "\r\n"
    "phoneNumber,name\r\n"
    "+12125551234,Ann\r\n"
    "\r\n"
    "--------------------------a27a08a5cca06476--\r\n";

// --- BoundaryFromContentType ---

TEST(BoundaryFromContentType, AcceptsTokenAndQuotedBoundaries) {
  EXPECT_EQ(*BoundaryFromContentType(
                "multipart/form-data; boundary=------------------------a27a08a5cca06476"),
            "------------------------a27a08a5cca06476");
  EXPECT_EQ(*BoundaryFromContentType("Multipart/Form-Data;BOUNDARY=\"a b:c?d\""), "a b:c?d");
  EXPECT_EQ(*BoundaryFromContentType("  multipart/form-data ; charset=utf-8 ; boundary=x ;"), "x");
  EXPECT_EQ(*BoundaryFromContentType("multipart/form-data; boundary=\"q\\)\"; x=y"), "q)");
  EXPECT_EQ(*BoundaryFromContentType(std::string("multipart/form-data; boundary=") +
                                     std::string(70, 'b')),
            std::string(70, 'b'));
}

TEST(BoundaryFromContentType, RejectsEverythingElse) {
  for (const std::string& bad : {
           std::string(""),
           std::string("multipart/form-data"),
           std::string("multipart/form-data; boundary="),
           std::string("multipart/form-data; boundary=\"\""),
           std::string("multipart/mixed; boundary=x"),
           std::string("text/plain; boundary=x"),
           std::string("multipart/form-data; boundary=x; boundary=y"),
           std::string("multipart/form-data; boundary=\"unterminated"),
           std::string("multipart/form-data; boundary=\"ends in space \""),
           std::string("multipart/form-data; boundary=a\xC3\xA9"),
           std::string("multipart/form-data; boundary=") + std::string(71, 'b'),
           std::string("multipart/form-data boundary=x"),
           std::string("multipart/form-data; =x"),
       }) {
    const absl::StatusOr<std::string> boundary = BoundaryFromContentType(bad);
    ASSERT_FALSE(boundary.ok()) << bad;
    EXPECT_EQ(boundary.status(), absl::InvalidArgumentError(
                                     "Content-Type must be multipart/form-data with a boundary"));
  }
}

// --- Well-formed bodies ---

TEST(MultipartParser, ParsesACurlBody) {
  const Result result = Parse(kCurlBody, kCurlBoundary);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 4u);
  EXPECT_EQ(result.parts[0].name, "userId");
  EXPECT_EQ(result.parts[0].body, "64e5f12345abcdef98765432");
  EXPECT_FALSE(result.parts[0].filename.has_value());
  EXPECT_EQ(result.parts[1].body, "May \"VIP\" list");
  EXPECT_EQ(result.parts[2].body, "[\"64e5f12345abcdef87654321\"]");
  EXPECT_EQ(result.parts[3].name, "file");
  EXPECT_EQ(result.parts[3].filename, "contacts.csv");
  EXPECT_EQ(result.parts[3].content_type, "text/csv");
  EXPECT_EQ(result.parts[3].body, "phoneNumber,name\r\n+12125551234,Ann\r\n");
  EXPECT_TRUE(result.parts[3].ended);
}

TEST(MultipartParser, CurlBodyIsSplitInvariant) {
  const Result whole = Parse(kCurlBody, kCurlBoundary);
  for (size_t i = 0; i <= kCurlBody.size(); ++i) {
    const Result split = ParseSplit(kCurlBody, {i}, kCurlBoundary);
    ASSERT_EQ(split.status, whole.status) << i;
    ASSERT_EQ(split.parts, whole.parts) << i;
  }
  const Result bytewise = ParseBytewise(kCurlBody, kCurlBoundary);
  EXPECT_EQ(bytewise.parts, whole.parts);
}

TEST(MultipartParser, EverySplitOfASmallBodyGivesTheSameParts) {
  const std::string body = "pre\r\n" + Field("a", "1\r\n2") +
                           File("name=\"file\"; filename=\"f.csv\"", "x\r\n--XyZz\r\n-") + kClose;
  const Result whole = Parse(body);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.parts.size(), 2u);
  EXPECT_EQ(whole.parts[0].body, "1\r\n2");
  EXPECT_EQ(whole.parts[1].body, "x\r\n--XyZz\r\n-");
  ExpectSplitInvariant(body);
}

TEST(MultipartParser, SplitInvarianceHoldsForErrorsToo) {
  ExpectSplitInvariant(Field("a", "1") + "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n" +
                       std::string(kClose));
  ExpectSplitInvariant(Field("a", "1") + "--XyZ\r\nX: y\n\r\n");
  ExpectSplitInvariant(Field("a", "1") + "--XyZ");
}

TEST(MultipartParser, AcceptsQuotedAndUnquotedParameters) {
  const std::string body =
      "--XyZ\r\ncontent-disposition: FORM-DATA;name=plain\r\n\r\nv1\r\n"
      "--XyZ\r\nCONTENT-DISPOSITION:form-data ; Name = \"quoted\" ; extra=1;\r\n\r\nv2\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=file; filename=list.csv\r\n"
      "content-TYPE:  text/csv ; charset=utf-8 \r\nX-Unknown: whatever\r\n\r\ndata\r\n" +
      std::string(kClose);
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 3u);
  EXPECT_EQ(result.parts[0].name, "plain");
  EXPECT_EQ(result.parts[1].name, "quoted");
  EXPECT_EQ(result.parts[2].filename, "list.csv");
  EXPECT_EQ(result.parts[2].content_type, "text/csv ; charset=utf-8");
  EXPECT_EQ(result.parts[2].body, "data");
}

TEST(MultipartParser, UnescapesQuotedStrings) {
  // curl escapes '\' as "\\" and sends '"' as %22 (kept as given); "\"" is an escaped quote;
  // an unneeded escape ("\U") is a literal backslash, as old browsers sent Windows paths.
  const std::string body = File(R"(name="file"; filename="dir\\a%22b.csv")", "1") +
                           File(R"(name="file"; filename="say \"hi\".csv")", "2") +
                           File(R"(name="file"; filename="C:\Users\ann\list.csv")", "3") +
                           std::string(kClose);
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 3u);
  EXPECT_EQ(result.parts[0].filename, "dir\\a%22b.csv");
  EXPECT_EQ(result.sanitized[0], "a%22b.csv");
  EXPECT_EQ(result.parts[1].filename, "say \"hi\".csv");
  EXPECT_EQ(result.sanitized[1], "say \"hi\".csv");
  EXPECT_EQ(result.parts[2].filename, "C:\\Users\\ann\\list.csv");
  EXPECT_EQ(result.sanitized[2], "list.csv");
}

TEST(MultipartParser, FilenameStarIsUsedOnlyWithoutAPlainFilename) {
  const std::string body =
      File(R"(name="file"; filename*=UTF-8''%E2%82%AC%20rates.csv)", "1") +
      File(R"(name="file"; filename="plain.csv"; filename*=UTF-8''other.csv)", "2") +
      File(R"(name="file"; filename*=iso-8859-1'en'%E9t%E9.csv)", "3") + std::string(kClose);
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 3u);
  EXPECT_EQ(result.parts[0].filename, "\xE2\x82\xAC rates.csv");
  EXPECT_EQ(result.parts[1].filename, "plain.csv");
  EXPECT_EQ(result.parts[2].filename, "\xC3\xA9t\xC3\xA9.csv");

  ExpectInvalid(Parse(File(R"(name="file"; filename*=UTF-8''bad%zz)", "") + std::string(kClose)),
                "malformed multipart filename* parameter");
  ExpectInvalid(Parse(File(R"(name="file"; filename*=koi8-r''x)", "") + std::string(kClose)),
                "malformed multipart filename* parameter");
}

TEST(MultipartParser, EmptyFilenameIsAFilePart) {
  const Result result = Parse(File(R"(name="file"; filename="")", "") + std::string(kClose));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 1u);
  EXPECT_EQ(result.parts[0].filename, "");
  EXPECT_EQ(result.parts[0].body, "");
  EXPECT_EQ(result.parts[0].chunks, 0);
  EXPECT_TRUE(result.parts[0].ended);
}

TEST(MultipartParser, ReportsRepeatedNamesForTheUploadLayerToReject) {
  const Result result = Parse(Field("userId", "a") + Field("userId", "b") + std::string(kClose));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 2u);
  EXPECT_EQ(result.parts[0].body, "a");
  EXPECT_EQ(result.parts[1].body, "b");
}

TEST(MultipartParser, IgnoresPreambleAndEpilogue) {
  const std::string body = "This is a preamble.\r\n--XyZ is not a delimiter here\r\n" +
                           Field("a", "1") + "--XyZ--\r\nepilogue\r\n--XyZ\r\ngarbage";
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 1u);
  EXPECT_EQ(result.parts[0].body, "1");
  ExpectSplitInvariant(body);
}

TEST(MultipartParser, EmptyFormIsValid) {
  const Result result = Parse("--XyZ--");
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.parts.empty());
}

TEST(MultipartParser, DelimiterLookalikesInsideDataAreContent) {
  const std::string data =
      "a\r\n--XyZX"       // boundary followed by another bchar
      "|--XyZ|"           // no CRLF before it
      "b\n--XyZ\r\n"      // bare LF before it
      "c\r\n--XyZ-x"      // one dash only
      "d\r\n--XyZ \tz"    // padding, then not CRLF
      "e\r\n--XyZ\r\r\n"  // CR not followed by LF
      "f\r\n--Xy|"        // a prefix only
      "\r\r\n--X\r";      // stray CRs right before the real delimiter
  const std::string body = File(R"(name="file"; filename="f")", data) + std::string(kClose);
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 1u);
  EXPECT_EQ(result.parts[0].body, data);
  const Result bytewise = ParseBytewise(body);
  EXPECT_EQ(bytewise.parts, result.parts);
}

TEST(MultipartParser, ReportsContentWithLookalikesInOneChunkPerFeed) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += "\r\n--XyZX\r\n--XyZ-\r\n--Xy\r";
  const std::string body = File(R"(name="file"; filename="f")", data) + std::string(kClose);
  const Result whole = Parse(body);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  EXPECT_EQ(whole.parts[0].body, data);
  EXPECT_EQ(whole.parts[0].chunks, 1);
  // Split inside a look-alike: the bytes held over come first, then the rest in one piece.
  const size_t split = body.find("--XyZX") + 3;
  const Result two = ParseSplit(body, {split});
  EXPECT_EQ(two.parts, whole.parts);
  EXPECT_LE(two.parts[0].chunks, 3);
}

TEST(MultipartParser, AcceptsTransportPaddingAfterTheBoundary) {
  const std::string body = "--XyZ \t \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ" +
                           std::string(MultipartParser::kMaxTransportPadding, ' ') + "\r\n" +
                           "Content-Disposition: form-data; name=b\r\n\r\n2\r\n--XyZ--";
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 2u);
  EXPECT_EQ(result.parts[1].body, "2");

  // One more space makes it content.
  const std::string lookalike =
      "\r\n--XyZ" + std::string(MultipartParser::kMaxTransportPadding + 1, ' ');
  const Result too_much =
      Parse(File(R"(name="file"; filename="f")", "x" + lookalike) + std::string(kClose));
  ASSERT_TRUE(too_much.status.ok()) << too_much.status;
  EXPECT_EQ(too_much.parts[0].body, "x" + lookalike);
}

TEST(MultipartParser, StreamsLargeFilePartsInChunksAsTheyArrive) {
  std::string data;
  for (int i = 0; data.size() < (1 << 20); ++i) data += "+1212555" + std::to_string(i) + ",x\r\n";
  const std::string body = File(R"(name="file"; filename="big.csv")", data) + std::string(kClose);

  const size_t prefix = body.find("\r\n\r\n") + 4;  // boundary line and part headers
  Recorder recorder;
  MultipartParser parser("XyZ", &recorder);
  const size_t kChunk = 64 * 1024;
  for (size_t fed = 0; fed < body.size();) {
    const std::string_view chunk = std::string_view(body).substr(fed, kChunk);
    ASSERT_TRUE(parser.Feed(chunk).ok());
    fed += chunk.size();
    if (fed < prefix + data.size()) {
      // Everything fed is handed on at once, but for a possible "\r\n--XyZ" prefix.
      ASSERT_EQ(recorder.parts.size(), 1u);
      EXPECT_GE(recorder.parts[0].body.size() + 7, fed - prefix);
    }
  }
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(recorder.parts.size(), 1u);
  EXPECT_EQ(recorder.parts[0].body, data);
  EXPECT_GE(recorder.parts[0].chunks, static_cast<int>(data.size() / kChunk));
}

TEST(MultipartParser, FieldValuesMayHoldAnyBytes) {
  const std::string value = "a\0b\r\nc\r\n--XyZz"s;
  const Result result = Parse(Field("a", value) + std::string(kClose));
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.parts[0].body, value);
}

// --- Filenames ---

TEST(SanitizeFilename, StripsDirectoriesControlsAndBidiOverrides) {
  EXPECT_EQ(SanitizeFilename("../../etc/passwd"), "passwd");
  EXPECT_EQ(SanitizeFilename("..\\..\\windows\\win.ini"), "win.ini");
  EXPECT_EQ(SanitizeFilename("/abs/path/"), "");
  EXPECT_EQ(SanitizeFilename(".."), "");
  EXPECT_EQ(SanitizeFilename("a\0.csv"s), "a.csv");
  EXPECT_EQ(SanitizeFilename("a\x01\x1F\x7F\tb.csv"), "ab.csv");
  EXPECT_EQ(SanitizeFilename("a\xC2\x85"
                             "b.csv"),
            "ab.csv");  // C1 NEL
  EXPECT_EQ(SanitizeFilename("invoice\xE2\x80\xAE"
                             "vsc.exe"),
            "invoicevsc.exe");                                                        // U+202E
  EXPECT_EQ(SanitizeFilename("\xE2\x81\xA6x\xE2\x81\xA9\xE2\x80\x8F.csv"), "x.csv");  // LRI PDI RLM
  EXPECT_EQ(SanitizeFilename("\xEF\xBB\xBFlist.csv"), "list.csv");                    // BOM
  EXPECT_EQ(SanitizeFilename("  spaced name.csv  "), "spaced name.csv");
  EXPECT_EQ(SanitizeFilename("M\xC3\xBCller \xE2\x82\xAC.csv"), "M\xC3\xBCller \xE2\x82\xAC.csv");
  EXPECT_EQ(SanitizeFilename("bad\xFF\xC0\xAF.csv"), "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD.csv");
  EXPECT_EQ(SanitizeFilename("a\0/b"s), "b");
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80             ? 1
               : (b & 0xE0) == 0xC0 ? 2
               : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST(SanitizeFilename, TruncatesTo255BytesOnACharacterBoundaryKeepingTheExtension) {
  std::string euros;
  for (int i = 0; i < 200; ++i) euros += "\xE2\x82\xAC";  // 600 bytes
  const std::string with_extension = SanitizeFilename(euros + ".xlsx");
  EXPECT_LE(with_extension.size(), 255u);
  EXPECT_GE(with_extension.size(), 253u);
  EXPECT_TRUE(IsValidUtf8(with_extension));
  EXPECT_TRUE(with_extension.ends_with("\xE2\x82\xAC.xlsx"));

  const std::string without = SanitizeFilename("x" + euros);
  EXPECT_LE(without.size(), 255u);
  EXPECT_TRUE(IsValidUtf8(without));
  EXPECT_EQ(SanitizeFilename(std::string(300, 'a') + ".csv"), std::string(251, 'a') + ".csv");
  EXPECT_EQ(SanitizeFilename(std::string(300, 'a')), std::string(255, 'a'));
  // Cutting must not leave a dot name behind.
  EXPECT_EQ(SanitizeFilename(". " + std::string(300, ' ') + "x."), "");
}

TEST(MultipartParser, PathLikeAndDisguisedFilenamesAreKeptAsGivenAndSanitised) {
  const std::string body = File(R"(name="file"; filename="../../etc/passwd")", "1") +
                           File("name=\"file\"; filename=\"gpj\xE2\x80\xAE.csv\"", "2") +
                           File("name=\"file\"; filename=\"a\0.csv\""s, "3") + std::string(kClose);
  const Result result = Parse(body);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.parts.size(), 3u);
  EXPECT_EQ(result.parts[0].filename, "../../etc/passwd");
  EXPECT_EQ(result.sanitized[0], "passwd");
  EXPECT_EQ(result.sanitized[1], "gpj.csv");
  EXPECT_EQ(result.parts[2].filename, "a\0.csv"s);
  EXPECT_EQ(result.sanitized[2], "a.csv");
}

// --- Malformed bodies and limits ---

TEST(MultipartParser, RejectsAControlCharacterInAName) {
  ExpectInvalid(Parse(File("name=\"fi\0le\"; filename=\"a.csv\""s, "") + std::string(kClose)),
                "multipart field name contains a control character");
}

TEST(MultipartParser, RejectsANameThatIsNotUtf8) {
  ExpectInvalid(Parse(Field("caf\xE9", "v") + std::string(kClose)),
                "multipart field name is not valid UTF-8");
  const Result ok = Parse(Field("caf\xC3\xA9", "v") + std::string(kClose));
  ASSERT_TRUE(ok.status.ok()) << ok.status;
  EXPECT_EQ(ok.parts[0].name, "caf\xC3\xA9");
}

TEST(MultipartParser, RejectsAMissingClosingBoundary) {
  for (const std::string& body : {
           std::string(""),
           std::string("no delimiter at all"),
           Field("a", "1"),
           Field("a", "1") + "--XyZ",
           Field("a", "1") + "--XyZ-",
           File(R"(name="file"; filename="f")", "data without end"),
           // Bare-LF framing never finds a delimiter.
           std::string("--XyZ\nContent-Disposition: form-data; name=a\n\n1\n--XyZ--\n"),
       }) {
    const Result result = Parse(body);
    EXPECT_EQ(result.status,
              absl::InvalidArgumentError("malformed multipart body: missing closing boundary"))
        << body;
  }
}

TEST(MultipartParser, RejectsTruncatedHeaders) {
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=\"a\""),
                "missing closing boundary");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n"),
                "missing closing boundary");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n1\r\n--XyZ--"),
                "malformed multipart Content-Disposition header");
}

TEST(MultipartParser, RequiresCrlfInPartHeaders) {
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\n\r\n1\r\n--XyZ--"),
                "malformed multipart part headers: lines must end in CRLF");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\n1\r\n--XyZ--"),
                "lines must end in CRLF");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data;\r name=a\r\n\r\n1\r\n--XyZ--"),
                "lines must end in CRLF");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n--XyZ--"),
                "folded header lines are not supported");
}

TEST(MultipartParser, RejectsMalformedHeaderLines) {
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition form-data; name=a\r\n\r\n1\r\n--XyZ--"),
                "a header line has no colon");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition : form-data; name=a\r\n\r\n1\r\n--XyZ--"),
                "invalid header name");
  ExpectInvalid(Parse("--XyZ\r\n: form-data; name=a\r\n\r\n1\r\n--XyZ--"), "invalid header name");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\r\n"
                      "Content-Disposition: form-data; name=b\r\n\r\n1\r\n--XyZ--"),
                "more than one Content-Disposition");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a/b\r\n"
                      "content-type: c/d\r\n\r\n1\r\n--XyZ--"),
                "more than one Content-Type");
}

TEST(MultipartParser, RequiresFormDataWithAName) {
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n--XyZ--"),
                "multipart part is not form-data");
  ExpectInvalid(Parse("--XyZ\r\nContent-Type: text/plain\r\n\r\n1\r\n--XyZ--"),
                "multipart part has no \"Content-Disposition: form-data\" header");
  ExpectInvalid(Parse("--XyZ\r\n\r\n1\r\n--XyZ--"), "has no \"Content-Disposition");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data\r\n\r\n1\r\n--XyZ--"),
                "multipart part has no name");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n1\r\n--XyZ--"),
                "multipart part has no name");
  ExpectInvalid(
      Parse("--XyZ\r\nContent-Disposition: form-data; name=a; NAME=b\r\n\r\n1\r\n--XyZ--"),
      "more than one \"NAME\" parameter");
  ExpectInvalid(Parse("--XyZ\r\nContent-Disposition: form-data; name=a b\r\n\r\n1\r\n--XyZ--"),
                "malformed multipart Content-Disposition header");
}

// "f<i>", built by appending (g++ 12 at -O3 reports a false -Wrestrict for "f" + std::string).
std::string FieldName(int i) {
  std::string name = "f";
  name += std::to_string(i);
  return name;
}

TEST(MultipartParser, StopsAtThePartLimitOnTenThousandTinyParts) {
  std::string body;
  for (int i = 0; i < 10000; ++i) body += Field(FieldName(i), "v");
  body += kClose;
  Recorder recorder;
  MultipartParser parser("XyZ", &recorder);
  const absl::Status status = parser.Feed(body);
  EXPECT_EQ(status, absl::InvalidArgumentError("too many form fields (limit 32)"));
  EXPECT_EQ(recorder.parts.size(), 32u);
  EXPECT_EQ(parser.parts(), 32u);
  // Sticky: no more callbacks, same error.
  EXPECT_EQ(parser.Feed(Field("x", "y")), status);
  EXPECT_EQ(parser.Finish(), status);
  EXPECT_EQ(recorder.parts.size(), 32u);
}

TEST(MultipartParser, ThirtyTwoPartsAreFine) {
  std::string body;
  for (int i = 0; i < 32; ++i) body += Field(FieldName(i), "v");
  EXPECT_TRUE(Parse(body + std::string(kClose)).status.ok());
}

TEST(MultipartParser, RejectsHugeNamesAndFilenames) {
  const std::string big(8 * 1024, 'n');
  ExpectInvalid(Parse(Field(big, "v") + std::string(kClose)),
                "multipart part headers too large (limit 4096 bytes)");
  ExpectInvalid(Parse(File("name=\"file\"; filename=\"" + big + "\"", "") + std::string(kClose)),
                "multipart part headers too large");
  ExpectInvalid(Parse(File("name=\"file\"; filename*=UTF-8''" + big, "") + std::string(kClose)),
                "multipart part headers too large");
  // Under the header limit, over the name/filename limits.
  ExpectInvalid(Parse(Field(std::string(257, 'n'), "v") + std::string(kClose)),
                "multipart field name is too long (limit 256 bytes)");
  EXPECT_TRUE(Parse(Field(std::string(256, 'n'), "v") + std::string(kClose)).status.ok());
  ExpectInvalid(Parse(File("name=\"file\"; filename=\"" + std::string(1025, 'f') + "\"", "") +
                      std::string(kClose)),
                "multipart filename is too long (limit 1024 bytes)");
}

TEST(MultipartParser, HeaderBlockLimitCountsEveryByte) {
  const std::string head = "--XyZ\r\n";
  const std::string headers =
      "Content-Disposition: form-data; name=a\r\nX: " + std::string(100, 'x') + "\r\n\r\n";
  MultipartLimits limits;
  limits.max_part_header_bytes = headers.size();
  EXPECT_TRUE(Parse(head + headers + "1\r\n--XyZ--", "XyZ", limits).status.ok());
  limits.max_part_header_bytes = headers.size() - 1;
  ExpectInvalid(Parse(head + headers + "1\r\n--XyZ--", "XyZ", limits),
                "multipart part headers too large");
  // A header block that never ends is cut off at the limit, not buffered.
  ExpectInvalid(Parse(head + std::string(1 << 20, 'h')), "multipart part headers too large");
}

TEST(MultipartParser, RejectsAFieldOverTheLimitNamingIt) {
  MultipartLimits limits;
  limits.max_field_bytes = 10;
  EXPECT_TRUE(Parse(Field("batchName", std::string(10, 'v')) + std::string(kClose), "XyZ", limits)
                  .status.ok());
  const Result result =
      Parse(Field("batchName", std::string(11, 'v')) + std::string(kClose), "XyZ", limits);
  EXPECT_EQ(result.status,
            absl::InvalidArgumentError("form field \"batchName\" is too large (limit 10 bytes)"));
  // The default limit (64 KiB); file parts have none.
  ExpectInvalid(Parse(Field("notes", std::string(64 * 1024 + 1, 'v')) + std::string(kClose)),
                "form field \"notes\" is too large (limit 65536 bytes)");
  EXPECT_TRUE(Parse(File(R"(name="file"; filename="f")", std::string(200 * 1024, 'v')) +
                    std::string(kClose))
                  .status.ok());
}

TEST(MultipartParser, HandlerErrorsAbortAndAreSticky) {
  for (int fail_at = 0; fail_at < 6; ++fail_at) {
    Recorder recorder;
    recorder.fail_at_event = fail_at;
    MultipartParser parser("XyZ", &recorder);
    // Events: field a, begin file, data, end file, field b (5 events).
    const std::string body = Field("a", "1") + File(R"(name="file"; filename="f")", "data") +
                             Field("b", "2") + std::string(kClose);
    const absl::Status status = parser.Feed(body);
    if (fail_at < 5) {
      EXPECT_EQ(status, absl::ResourceExhaustedError("disk full")) << fail_at;
      EXPECT_EQ(recorder.events, fail_at + 1);
      EXPECT_EQ(parser.Finish(), status);
      EXPECT_EQ(parser.Feed("more"), status);
      EXPECT_EQ(recorder.events, fail_at + 1);
    } else {
      EXPECT_TRUE(status.ok());
      EXPECT_TRUE(parser.Finish().ok());
    }
  }
}

TEST(MultipartParser, FinishIsFinal) {
  Recorder recorder;
  MultipartParser parser("XyZ", &recorder);
  EXPECT_FALSE(parser.done());
  ASSERT_TRUE(parser.Feed(Field("a", "1") + std::string(kClose)).ok());
  EXPECT_TRUE(parser.done());
  EXPECT_TRUE(parser.Feed("epilogue").ok());
  EXPECT_TRUE(parser.Finish().ok());
  EXPECT_TRUE(parser.Finish().ok());
  EXPECT_EQ(parser.Feed("x").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MultipartParser, RejectsAnInvalidBoundary) {
  Recorder recorder;
  MultipartParser parser("bad\r\nboundary", &recorder);
  EXPECT_EQ(parser.Feed("--bad\r\nboundary--").code(), absl::StatusCode::kInvalidArgument);
  MultipartParser empty("", &recorder);
  EXPECT_EQ(empty.Finish().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MultipartParser, LongBoundaryWithSpacesWorksAcrossSplits) {
  const std::string boundary = "a'()+_,-./:=? " + std::string(56, 'z');  // 70 bchars
  ASSERT_EQ(boundary.size(), 70u);
  const std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=f; " +
                           "filename=x\r\n\r\n\r\n--" + boundary.substr(0, 69) + "\r\n--" +
                           boundary + "--";
  const Result whole = Parse(body, boundary);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.parts.size(), 1u);
  EXPECT_EQ(whole.parts[0].body, "\r\n--" + boundary.substr(0, 69));
  ExpectSplitInvariant(body, boundary);
}

}  // namespace
}  // namespace nexus::http
