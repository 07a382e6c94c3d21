// File: ingest/xml_stream.h
//
// A push parser for untrusted XML (the parts of an XLSX workbook), on expat, with the holes of
// expat 2.5 closed (shared/research/reliability.md §0.3):
//   * a <!DOCTYPE> stops the parse: no DTD, so no entity expansion of any kind (billion laughs,
//     quadratic blow-up, external entities) and none of the O(n²) DTD bugs fixed after 2.5;
//   * elements nested deeper than max_depth, or with more than max_attributes attributes, stop it;
//   * a single token expat must hold whole (a tag with its attributes, a comment, a processing
//     instruction, an entity reference) longer than max_token_bytes stops it: after each piece the
//     bytes fed since expat's last event are measured, so expat's buffer stays bounded however
//     the input is shaped. Character data is streamed by expat in pieces and is not limited here;
//     the handler limits what it keeps.
// Element names reach the handler without their namespace prefix ("x:row" → "row"); attribute
// names keep theirs and are looked up by local name with XmlAttribute(). Text arrives in pieces.
//
// Errors are InvalidArgument: "<prefix><problem> (<part>, line L, column C)", where the prefix
// comes from the handler (e.g. "row 12: ") and the problem is one of the above or "malformed XML:
// <expat's message>". A handler stops the parse with its own status through Fail(); the first
// error wins and every later Parse() returns it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"

struct XML_ParserStruct;  // expat's parser; XML_Parser is a pointer to it

namespace nexus::ingest {

struct XmlLimits {
  int max_depth = 64;
  int max_attributes = 64;
  size_t max_token_bytes = 64 * 1024;
};

class XmlHandler {
 public:
  virtual ~XmlHandler() = default;
  // `attributes` is expat's array: name, value, name, value, ..., nullptr.
  virtual void StartElement(std::string_view name, const char** attributes) = 0;
  virtual void EndElement(std::string_view name) = 0;
  virtual void Text(std::string_view text) = 0;
  // Put before the parser's own error messages, e.g. "row 12: ".
  virtual std::string ErrorPrefix() const = 0;
};

// The value of the attribute whose local name is `local_name`, or nullptr.
const char* XmlAttribute(const char** attributes, std::string_view local_name);

// The local part of an XML name: after the last ':'.
std::string_view XmlLocalName(std::string_view name);

class XmlParser {
 public:
  // `part` names the document in messages. The handler must outlive the parser.
  XmlParser(XmlHandler& handler, const XmlLimits& limits, std::string part);
  ~XmlParser();
  XmlParser(const XmlParser&) = delete;
  XmlParser& operator=(const XmlParser&) = delete;

  // Parses the next piece of the document; `final` marks the last one (which may be empty).
  absl::Status Parse(std::string_view data, bool final);

  // For handlers: stops the parse with `status` (ignored when an error is already set).
  void Fail(absl::Status status);
  bool failed() const { return !error_.ok(); }

  // The current line, for messages.
  int64_t line() const;

 private:
  struct Callbacks;
  struct ParserDeleter {
    void operator()(XML_ParserStruct* parser) const;
  };
  absl::Status ParserError(std::string_view problem);

  XmlHandler& handler_;
  const XmlLimits limits_;
  const std::string part_;
  std::unique_ptr<XML_ParserStruct, ParserDeleter> parser_;
  int depth_ = 0;
  uint64_t fed_ = 0;        // bytes given to expat so far
  int64_t last_event_ = 0;  // byte index of expat's last event
  absl::Status error_;
};

}  // namespace nexus::ingest
