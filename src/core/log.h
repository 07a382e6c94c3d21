// File: core/log.h
//
// Structured logs: one JSON object per line on stderr, written through spdlog so lines from
// different threads never interleave. Usage:
//   core::Log(core::LogLevel::kInfo, "request").Str("method", "GET").Int("status", 200);
// The line is written when the temporary is destroyed. Never log secrets (tokens, API keys,
// webhook secrets): callers log IDs instead. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nexus::core {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Sets the minimum level written (default kInfo). Call once at start-up.
void SetLogLevel(LogLevel level);

class Log {
 public:
  Log(LogLevel level, std::string_view message);
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  Log& Str(std::string_view key, std::string_view value);
  Log& Int(std::string_view key, int64_t value);
  Log& Num(std::string_view key, double value);
  Log& Bool(std::string_view key, bool value);

 private:
  void Key(std::string_view key);
  bool enabled_;
  LogLevel level_;
  std::string line_;
};

}  // namespace nexus::core
