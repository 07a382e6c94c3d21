#include "ingest/xml_stream.h"

#include <expat.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/status.h"
#include "fmt/format.h"

namespace nexus::ingest {

std::string_view XmlLocalName(std::string_view name) {
  const size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

namespace {

// XmlLocalName of a C string in one pass (no strlen, then rfind).
std::string_view LocalName(const char* name) {
  const char* local = name;
  const char* p = name;
  for (; *p != '\0'; ++p) {
    if (*p == ':') local = p + 1;
  }
  return std::string_view(local, static_cast<size_t>(p - local));
}

// True when the local part of the C string `name` is `local_name`.
bool LocalNameIs(const char* name, std::string_view local_name) {
  size_t i = 0;
  for (const char* p = name; *p != '\0'; ++p) {
    if (*p == ':') {
      i = 0;
    } else if (i == local_name.size() || local_name[i] != *p) {
      // Mismatch: skip to the next ':' (a prefix), if any, and start over after it.
      while (*p != '\0' && *p != ':') ++p;
      if (*p == '\0') return false;
      i = 0;
    } else {
      ++i;
    }
  }
  return i == local_name.size();
}

}  // namespace

const char* XmlAttribute(const char** attributes, std::string_view local_name) {
  for (const char** a = attributes; a[0] != nullptr; a += 2) {
    if (LocalNameIs(a[0], local_name)) return a[1];
  }
  return nullptr;
}

// expat's C callbacks, forwarding to the handler unless the parse has failed (expat may still
// deliver a few events after XML_StopParser).
struct XmlParser::Callbacks {
  static void Start(void* user, const XML_Char* name, const XML_Char** attributes) {
    auto* self = static_cast<XmlParser*>(user);
    if (self->failed()) return;
    if (++self->depth_ > self->limits_.max_depth) {
      self->Fail(self->ParserError(
          fmt::format("XML nested deeper than {} elements", self->limits_.max_depth)));
      return;
    }
    int count = 0;
    for (const XML_Char** a = attributes; a[0] != nullptr; a += 2) ++count;
    if (count > self->limits_.max_attributes) {
      self->Fail(self->ParserError(fmt::format("XML element <{:.64}> has more than {} attributes",
                                               name, self->limits_.max_attributes)));
      return;
    }
    self->handler_.StartElement(LocalName(name), attributes);
  }

  static void End(void* user, const XML_Char* name) {
    auto* self = static_cast<XmlParser*>(user);
    if (self->failed()) return;
    self->handler_.EndElement(LocalName(name));
    --self->depth_;
  }

  static void Characters(void* user, const XML_Char* text, int size) {
    auto* self = static_cast<XmlParser*>(user);
    if (self->failed()) return;
    self->handler_.Text(std::string_view(text, static_cast<size_t>(size)));
  }

  static void Doctype(void* user, const XML_Char* /*name*/, const XML_Char* /*sysid*/,
                      const XML_Char* /*pubid*/, int /*has_internal_subset*/) {
    auto* self = static_cast<XmlParser*>(user);
    self->Fail(self->ParserError("XML with a DOCTYPE is not allowed"));
  }

  // Unreachable without a DTD; refused again in case a future expat reports one differently.
  static void Entity(void* user, const XML_Char* /*name*/, int /*parameter_entity*/,
                     const XML_Char* /*value*/, int /*value_length*/, const XML_Char* /*base*/,
                     const XML_Char* /*system_id*/, const XML_Char* /*public_id*/,
                     const XML_Char* /*notation*/) {
    auto* self = static_cast<XmlParser*>(user);
    self->Fail(self->ParserError("XML entity declarations are not allowed"));
  }
};

void XmlParser::ParserDeleter::operator()(XML_ParserStruct* parser) const {
  XML_ParserFree(parser);
}

XmlParser::XmlParser(XmlHandler& handler, const XmlLimits& limits, std::string part)
    : handler_(handler), limits_(limits), part_(std::move(part)) {
  parser_.reset(XML_ParserCreate(nullptr));
  if (parser_ == nullptr) {
    error_ = absl::ResourceExhaustedError("out of memory creating an XML parser");
    return;
  }
  XML_Parser p = parser_.get();
  XML_SetUserData(p, this);
  XML_SetElementHandler(p, Callbacks::Start, Callbacks::End);
  XML_SetCharacterDataHandler(p, Callbacks::Characters);
  XML_SetStartDoctypeDeclHandler(p, Callbacks::Doctype);
  XML_SetEntityDeclHandler(p, Callbacks::Entity);
  XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
}

XmlParser::~XmlParser() = default;

int64_t XmlParser::line() const {
  return parser_ == nullptr ? 0 : static_cast<int64_t>(XML_GetCurrentLineNumber(parser_.get()));
}

absl::Status XmlParser::ParserError(std::string_view problem) {
  XML_Parser p = parser_.get();
  return absl::InvalidArgumentError(
      fmt::format("{}{} ({}, line {}, column {})", handler_.ErrorPrefix(), problem, part_,
                  XML_GetCurrentLineNumber(p), XML_GetCurrentColumnNumber(p)));
}

void XmlParser::Fail(absl::Status status) {
  if (!error_.ok()) return;
  error_ = std::move(status);
  if (parser_ != nullptr) XML_StopParser(parser_.get(), XML_FALSE);
}

absl::Status XmlParser::Parse(std::string_view data, bool final) {
  if (!error_.ok()) return error_;
  XML_Parser p = parser_.get();
  // Feed at most 1 MiB per call, so the token check below runs often enough (and sizes fit int).
  constexpr size_t kMaxPiece = 1 << 20;
  do {
    const size_t piece = std::min(data.size(), kMaxPiece);
    const bool last = final && piece == data.size();
    const XML_Status status = XML_Parse(p, data.data(), static_cast<int>(piece), last);
    fed_ += piece;
    data.remove_prefix(piece);
    if (!error_.ok()) return error_;  // a handler (or a limit above) stopped the parse
    if (status != XML_STATUS_OK) {
      Fail(ParserError(fmt::format("malformed XML: {}", XML_ErrorString(XML_GetErrorCode(p)))));
      return error_;
    }
    // Bytes fed since expat's last event are bytes it holds unparsed: a token in progress (or,
    // with reparse deferral, a piece it has not looked at yet: at most about twice the longest
    // token). The index is -1 while expat has deferred the whole buffer.
    const XML_Index index = XML_GetCurrentByteIndex(p);
    if (index >= 0) last_event_ = index;
    if (fed_ - static_cast<uint64_t>(last_event_) > limits_.max_token_bytes + piece) {
      Fail(ParserError(fmt::format("XML tag, comment or instruction longer than {} bytes",
                                   limits_.max_token_bytes)));
      return error_;
    }
  } while (!data.empty());
  return absl::OkStatus();
}

}  // namespace nexus::ingest
