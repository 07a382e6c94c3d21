// File: domain/variable_value.h
//
// Checking one spreadsheet value against its variable type (SPEC §4 "Values"): values are stored
// as trimmed text; `date` is normalised to YYYY-MM-DD and `boolean` to true/false; other types
// are kept as written once they match. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "domain/agent.h"

namespace nexus::domain {

// Checks `value` (already trimmed, non-empty) against `type`. On success returns true and sets
// `normalized` to the text to store (a view into `value`, or into `scratch` for rewritten values).
// On failure returns false and sets `message` to a human explanation ("not a number").
bool CheckVariableValue(VariableType type, std::string_view value, std::string& scratch,
                        std::string_view& normalized, std::string_view& message);

// True when `text` looks like a phone number that Excel turned into scientific notation
// ("1.21255E+10"): the digits are lost and cannot be recovered.
bool LooksLikeExcelScientific(std::string_view text);

}  // namespace nexus::domain
