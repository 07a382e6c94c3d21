#include "ingest/xml_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace nexus::ingest {
namespace {

using ::testing::HasSubstr;

// Records events as text: "<a x=1>text</a>".
class Recorder final : public XmlHandler {
 public:
  void StartElement(std::string_view name, const char** attributes) override {
    // Appended piece by piece: g++ 12 at -O3 reports a false -Wrestrict for "<" + std::string.
    events.append("<").append(name);
    for (const char** a = attributes; *a != nullptr; a += 2) {
      events.append(" ").append(XmlLocalName(a[0])).append("=").append(a[1]);
    }
    events.append(">");
  }
  void EndElement(std::string_view name) override {
    events.append("</").append(name).append(">");
  }
  void Text(std::string_view text) override { events += text; }
  std::string ErrorPrefix() const override { return "prefix: "; }

  std::string events;
};

absl::Status ParseInPieces(std::string_view xml, Recorder& recorder, size_t piece,
                           XmlLimits limits = {}) {
  XmlParser parser(recorder, limits, "part.xml");
  while (!xml.empty()) {
    const size_t n = std::min(piece, xml.size());
    absl::Status status = parser.Parse(xml.substr(0, n), false);
    if (!status.ok()) return status;
    xml.remove_prefix(n);
  }
  return parser.Parse("", true);
}

TEST(XmlParser, StripsPrefixesAndStreamsText) {
  for (const size_t piece : {size_t{1}, size_t{5}, size_t{1000}}) {
    Recorder recorder;
    ASSERT_TRUE(ParseInPieces("<?xml version=\"1.0\"?><x:a xmlns:x=\"u\" x:k=\"v\">t&amp;u"
                              "<b/></x:a>",
                              recorder, piece)
                    .ok());
    EXPECT_EQ(recorder.events, "<a x=u k=v>t&u<b></b></a>") << piece;
  }
}

TEST(XmlAttribute, MatchesLocalNames) {
  const char* attributes[] = {"sheetId", "1", "r:id", "rId1", "a:b:name", "n", nullptr};
  EXPECT_STREQ(XmlAttribute(attributes, "id"), "rId1");
  EXPECT_STREQ(XmlAttribute(attributes, "sheetId"), "1");
  EXPECT_STREQ(XmlAttribute(attributes, "name"), "n");
  EXPECT_EQ(XmlAttribute(attributes, "i"), nullptr);
  EXPECT_EQ(XmlAttribute(attributes, "Id"), nullptr);
  EXPECT_EQ(XmlAttribute(attributes, "r"), nullptr);
  EXPECT_EQ(XmlLocalName("x:row"), "row");
}

TEST(XmlParser, RefusesDoctypeDepthAttributesAndLongTokens) {
  Recorder recorder;
  absl::Status status = ParseInPieces("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", recorder, 100);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("prefix: XML with a DOCTYPE is not allowed (part.xml, line 1"));

  XmlLimits limits;
  limits.max_depth = 3;
  status = ParseInPieces("<a><b><c><d/></c></b></a>", recorder, 100, limits);
  EXPECT_THAT(std::string(status.message()), HasSubstr("XML nested deeper than 3 elements"));
  EXPECT_TRUE(ParseInPieces("<a><b><c/></b></a>", recorder, 100, limits).ok());

  limits.max_attributes = 2;
  status = ParseInPieces("<a x=\"1\" y=\"2\" z=\"3\"/>", recorder, 100, limits);
  EXPECT_THAT(std::string(status.message()), HasSubstr("<a> has more than 2 attributes"));

  limits.max_token_bytes = 1000;
  status = ParseInPieces("<a x=\"" + std::string(5000, 'v') + "\"/>", recorder, 100, limits);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("XML tag, comment or instruction longer than 1000 bytes"));
  // Text is streamed, not held: any length is fine.
  EXPECT_TRUE(ParseInPieces("<a>" + std::string(50000, 'v') + "</a>", recorder, 100, limits).ok());

  status = ParseInPieces("<a></b>", recorder, 100);
  EXPECT_THAT(std::string(status.message()), HasSubstr("prefix: malformed XML: mismatched tag"));
}

TEST(XmlParser, HandlerFailureStopsAndSticks) {
  class Failing final : public XmlHandler {
   public:
    void StartElement(std::string_view name, const char**) override {
      ++starts;
      if (name == "stop") parser->Fail(absl::ResourceExhaustedError("enough"));
    }
    void EndElement(std::string_view) override {}
    void Text(std::string_view) override {}
    std::string ErrorPrefix() const override { return ""; }
    XmlParser* parser = nullptr;
    int starts = 0;
  };
  Failing handler;
  XmlParser parser(handler, {}, "p");
  handler.parser = &parser;
  EXPECT_EQ(parser.Parse("<a><stop/><more/><more/></a>", true),
            absl::ResourceExhaustedError("enough"));
  EXPECT_EQ(handler.starts, 2);
  EXPECT_EQ(parser.Parse("<x/>", true), absl::ResourceExhaustedError("enough"));
}

}  // namespace
}  // namespace nexus::ingest
