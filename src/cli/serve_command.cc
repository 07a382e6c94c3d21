#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/api.h"
#include "http/server.h"
#include "service/auth_service.h"
#include "service/workspace_service.h"
#include "store/store.h"

namespace nexus::cli {
namespace {

core::LogLevel ParseLevel(const std::string& name) {
  if (name == "debug") return core::LogLevel::kDebug;
  if (name == "warn") return core::LogLevel::kWarn;
  if (name == "error") return core::LogLevel::kError;
  return core::LogLevel::kInfo;
}

// Blocks SIGTERM and SIGINT in this thread (and so in every thread started after it), so that
// WaitForStopSignal can take them synchronously instead of in an async signal handler.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int WaitForStopSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal;
}

}  // namespace

int RunServe(const ServeArgs& args) {
  const sigset_t stop_signals = BlockStopSignals();
  core::SetLogLevel(ParseLevel(args.log_level));

  auto store = store::OpenStore(args.db);
  if (!store.ok()) {
    std::cerr << "nexus serve: " << store.status().message() << "\n";
    return 1;
  }
  core::Metrics metrics;
  const core::Clock& clock = core::RealClock::Real();
  service::AuthService auth(**store);
  service::WorkspaceService workspace(**store, clock);
  http::ApiOptions api_options;
  api_options.json_body_limit = args.json_body_limit;
  store::Store& db = **store;
  const http::Api api({[&db] { return db.Ping(); }, &auth, &workspace, &metrics}, api_options);

  http::ServerOptions options;
  options.host = args.host;
  options.port = static_cast<uint16_t>(args.port);
  options.worker_threads = args.workers;
  options.io_threads = args.io_threads;
  options.header_timeout = absl::Seconds(args.header_timeout_seconds);
  options.keep_alive_timeout = absl::Seconds(args.keep_alive_seconds);
  options.shutdown_grace = absl::Seconds(args.shutdown_grace_seconds);
  options.min_body_bytes_per_second = args.min_body_rate;
  options.max_connections = args.max_connections;
  http::Server server(
      options, [&api](http::Request& head) { return api.Prepare(head); }, &metrics);
  auto port = server.Start();
  if (!port.ok()) {
    std::cerr << "nexus serve: " << port.status().message() << "\n";
    return 1;
  }
  // Tests and scripts read this line to learn the port (it matters with --port 0).
  std::cout << "nexus listening on http://" << args.host << ":" << *port << std::endl;

  const int signal = WaitForStopSignal(stop_signals);
  core::Log(core::LogLevel::kInfo, "shutting down").Int("signal", signal);
  server.Shutdown();
  core::Log(core::LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace nexus::cli
