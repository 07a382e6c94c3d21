// File: core/json_escape.h
//
// Appends `text` to `out` as a JSON string literal (with quotes). Bytes that are not valid UTF-8
// are replaced by U+FFFD so the output is always valid JSON. Used by the log writer and the
// metrics renderer, which must not depend on a JSON library.
#pragma once

#include <string>
#include <string_view>

namespace nexus::core {

void AppendJsonString(std::string& out, std::string_view text);

}  // namespace nexus::core
