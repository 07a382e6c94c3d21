#include "http/upload_form.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "core/object_id.h"
#include "core/status.h"
#include "domain/organization.h"
#include "domain/phone.h"

namespace nexus::http {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

// Looks fields up by name; every known field may appear once.
class FieldSet {
 public:
  explicit FieldSet(const FormFields& fields) : fields_(fields) {}

  // The trimmed value, nullopt when absent or blank. InvalidArgument when sent twice.
  absl::StatusOr<std::optional<std::string>> Get(std::string_view name) const {
    // A pointer rather than an optional<string> built in the loop: g++ 12 -O3 reports a false
    // "maybe uninitialized" on the latter.
    const std::string* found = nullptr;
    for (const auto& [key, value] : fields_) {
      if (key != name) continue;
      if (found != nullptr) {
        return Invalid(fmt::format("field {} was sent more than once", name));
      }
      found = &value;
    }
    if (found == nullptr || Trim(*found).empty()) return std::optional<std::string>();
    return std::optional<std::string>(std::string(Trim(*found)));
  }

 private:
  const FormFields& fields_;
};

absl::StatusOr<std::optional<int64_t>> ParseInteger(const std::optional<std::string>& text,
                                                    std::string_view field, int64_t min,
                                                    int64_t max, std::string_view unit) {
  if (!text) return std::optional<int64_t>();
  int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    return Invalid(fmt::format("{} must be an integer {}..{}{}", field, min, max, unit));
  }
  return std::optional<int64_t>(value);
}

absl::StatusOr<std::optional<bool>> ParseBoolField(const std::optional<std::string>& text,
                                                   std::string_view field) {
  if (!text) return std::optional<bool>();
  const auto value = ParseFormBool(*text);
  if (!value) return Invalid(fmt::format("{} must be \"true\" or \"false\"", field));
  return std::optional<bool>(*value);
}

absl::StatusOr<std::vector<std::string>> ParseCallingNumbers(const std::string& text) {
  const auto bad = [] {
    return Invalid("callingNumbers must be a JSON array of 1 to 50 phone number IDs");
  };
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array() || parsed.empty() || parsed.size() > 50) {
    return bad();
  }
  std::vector<std::string> ids;
  for (const auto& item : parsed) {
    if (!item.is_string() || !core::IsObjectId(item.get<std::string>())) {
      return Invalid("callingNumbers must contain only 24-character hex phone number IDs");
    }
    std::string id = absl::AsciiStrToLower(item.get<std::string>());
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  }
  return ids;
}

absl::StatusOr<domain::DailyWindow> ParseCallingHour(const std::string& text) {
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("start") ||
      !parsed.contains("end") || !parsed["start"].is_string() || !parsed["end"].is_string()) {
    return Invalid(R"(callingHour must be JSON {"start":"HH:MM","end":"HH:MM"})");
  }
  return domain::MakeDailyWindow("callingHour", parsed["start"].get<std::string>(),
                                 parsed["end"].get<std::string>());
}

absl::StatusOr<std::vector<int>> ParseAllowedDays(const std::string& text) {
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array() || parsed.empty()) {
    return Invalid("allowedDays must be a non-empty JSON array of days 0-6 (0 = Sunday)");
  }
  std::vector<int> days;
  for (const auto& item : parsed) {
    if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > 7) {
      return Invalid(
          "allowedDays must contain only integers 0-6 (0 = Sunday; 7 also means Sunday)");
    }
    days.push_back(static_cast<int>(item.get<int64_t>() % 7));
  }
  std::sort(days.begin(), days.end());
  days.erase(std::unique(days.begin(), days.end()), days.end());
  return days;
}

}  // namespace

std::optional<bool> ParseFormBool(std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  if (lower == "true" || lower == "1") return true;
  if (lower == "false" || lower == "0") return false;
  return std::nullopt;
}

absl::StatusOr<UploadForm> ParseUploadForm(const FormFields& fields, bool has_file) {
  const FieldSet set(fields);
  UploadForm form;
  domain::BatchSettings& s = form.settings;

  if (!has_file) return Invalid("file is required (a .csv, .xls or .xlsx spreadsheet)");

  NEXUS_ASSIGN_OR_RETURN(auto user_id, set.Get("userId"));
  if (!user_id) return Invalid("userId is required");
  if (!core::IsObjectId(*user_id)) return Invalid("Invalid User ID format");
  form.user_id = absl::AsciiStrToLower(*user_id);

  NEXUS_ASSIGN_OR_RETURN(auto name, set.Get("batchName"));
  if (!name) return Invalid("batchName is required");
  if (name->size() > 200) return Invalid("batchName must be at most 200 characters");
  s.name = *name;

  NEXUS_ASSIGN_OR_RETURN(auto type, set.Get("batchType"));
  if (!type) return Invalid("batchType is required (\"outbound\" or \"mixed\")");
  const auto batch_type = domain::ParseBatchType(*type);
  if (!batch_type) return Invalid("batchType must be \"outbound\" or \"mixed\"");
  s.type = *batch_type;

  NEXUS_ASSIGN_OR_RETURN(auto numbers, set.Get("callingNumbers"));
  if (!numbers) return Invalid("callingNumbers is required");
  NEXUS_ASSIGN_OR_RETURN(s.calling_number_ids, ParseCallingNumbers(*numbers));

  NEXUS_ASSIGN_OR_RETURN(auto enable_dnc, set.Get("enableDNC"));
  NEXUS_ASSIGN_OR_RETURN(auto dnc, ParseBoolField(enable_dnc, "enableDNC"));
  s.enable_dnc = dnc.value_or(true);

  NEXUS_ASSIGN_OR_RETURN(auto mode, set.Get("type"));
  NEXUS_ASSIGN_OR_RETURN(auto lenient, ParseBoolField(mode, "type"));
  form.lenient = lenient.value_or(false);

  NEXUS_ASSIGN_OR_RETURN(auto dry_run_text, set.Get("dryRun"));
  NEXUS_ASSIGN_OR_RETURN(auto dry_run, ParseBoolField(dry_run_text, "dryRun"));
  form.dry_run = dry_run.value_or(false);

  NEXUS_ASSIGN_OR_RETURN(auto retry_text, set.Get("retry"));
  NEXUS_ASSIGN_OR_RETURN(auto retry, ParseInteger(retry_text, "retry", 0, 10, ""));
  s.retry = static_cast<int>(retry.value_or(0));

  NEXUS_ASSIGN_OR_RETURN(auto delay_text, set.Get("delay"));
  NEXUS_ASSIGN_OR_RETURN(auto delay, ParseInteger(delay_text, "delay", 0, 604800, " seconds"));
  s.delay_seconds = delay.value_or(60);

  NEXUS_ASSIGN_OR_RETURN(auto timezone, set.Get("timezone"));
  if (timezone) {
    if (!domain::IsKnownTimeZone(*timezone)) {
      return Invalid(fmt::format(
          "timezone \"{}\" is not a known IANA time zone (e.g. America/New_York)", *timezone));
    }
    s.timezone = *timezone;
  }

  NEXUS_ASSIGN_OR_RETURN(auto calling_hour, set.Get("callingHour"));
  if (calling_hour) {
    NEXUS_ASSIGN_OR_RETURN(s.calling_hour, ParseCallingHour(*calling_hour));
  }

  NEXUS_ASSIGN_OR_RETURN(auto allowed_days, set.Get("allowedDays"));
  if (allowed_days) {
    NEXUS_ASSIGN_OR_RETURN(s.allowed_days, ParseAllowedDays(*allowed_days));
  }

  NEXUS_ASSIGN_OR_RETURN(auto country, set.Get("defaultCountry"));
  if (country) {
    const std::string region = absl::AsciiStrToUpper(*country);
    if (!domain::IsSupportedRegion(region)) {
      return Invalid("defaultCountry must be an ISO 3166 alpha-2 region code such as \"US\"");
    }
    s.default_country = region;
  }
  return form;
}

}  // namespace nexus::http
