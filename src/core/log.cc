#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/json_escape.h"
#include "core/time_format.h"

namespace nexus::core {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

spdlog::logger& Logger() {
  static spdlog::logger* logger = [] {
    auto* l = new spdlog::logger("nexus", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_min_level = static_cast<int>(level); }

Log::Log(LogLevel level, std::string_view message)
    : enabled_(static_cast<int>(level) >= g_min_level.load()), level_(level) {
  if (!enabled_) return;
  line_.reserve(256);
  // Wall-clock time is right here: a log line records when it was written.
  line_ += "{\"ts\":";
  AppendJsonString(line_, FormatIsoMillis(absl::Now()));
  line_ += ",\"level\":\"";
  line_ += LevelName(level);
  line_ += "\",\"msg\":";
  AppendJsonString(line_, message);
}

Log::~Log() {
  if (!enabled_) return;
  line_ += '}';
  Logger().log(level_ == LogLevel::kError  ? spdlog::level::err
               : level_ == LogLevel::kWarn ? spdlog::level::warn
                                           : spdlog::level::info,
               line_);
}

void Log::Key(std::string_view key) {
  line_ += ',';
  AppendJsonString(line_, key);
  line_ += ':';
}

Log& Log::Str(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  Key(key);
  AppendJsonString(line_, value);
  return *this;
}

Log& Log::Int(std::string_view key, int64_t value) {
  if (!enabled_) return *this;
  Key(key);
  absl::StrAppend(&line_, value);
  return *this;
}

Log& Log::Num(std::string_view key, double value) {
  if (!enabled_) return *this;
  Key(key);
  if (std::isfinite(value)) {
    absl::StrAppend(&line_, value);
  } else {
    line_ += "null";
  }
  return *this;
}

Log& Log::Bool(std::string_view key, bool value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += value ? "true" : "false";
  return *this;
}

}  // namespace nexus::core
