#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/clock.h"
#include "domain/daily_window.h"
#include "service/bootstrap.h"
#include "store/store.h"

namespace nexus::cli {

int RunInit(const InitArgs& args) {
  auto store = store::OpenStore(args.db);
  if (!store.ok()) {
    std::cerr << "nexus init: " << store.status().message() << "\n";
    return 1;
  }
  service::InitOptions options;
  options.organization_name = args.org;
  options.demo = args.demo;
  if (args.legal_window == "off") {
    options.legal_window = std::nullopt;
  } else {
    const size_t dash = args.legal_window.find('-');
    auto window = domain::MakeDailyWindow(
        "--legal-window", std::string_view(args.legal_window).substr(0, dash),
        dash == std::string::npos ? "" : std::string_view(args.legal_window).substr(dash + 1));
    if (!window.ok()) {
      std::cerr << "nexus init: --legal-window must be HH:MM-HH:MM or off\n";
      return 1;
    }
    options.legal_window = *window;
  }
  auto result = service::InitWorkspace(**store, core::RealClock::Real(), options);
  if (!result.ok()) {
    std::cerr << "nexus init: " << result.status().message() << "\n";
    return 1;
  }
  if (args.json) {
    nlohmann::json out = {{"organizationId", result->organization.id},
                          {"userId", result->admin.id},
                          {"token", result->token},
                          {"tokenId", result->token_id}};
    if (result->agent) out["agentId"] = result->agent->id;
    if (result->phone_number) out["phoneNumberId"] = result->phone_number->id;
    std::cout << out.dump() << std::endl;
    return 0;
  }
  std::cout << "Created organization \"" << result->organization.name << "\"\n"
            << "  organizationId: " << result->organization.id << "\n"
            << "  userId:         " << result->admin.id << " (" << result->admin.email
            << ", admin)\n"
            << "  token:          " << result->token << "\n";
  if (result->agent) {
    std::cout << "  agentId:        " << result->agent->id << " (\"" << result->agent->name
              << "\", en-US; variables: name (required), account_id)\n";
  }
  if (result->phone_number) {
    std::cout << "  phoneNumberId:  " << result->phone_number->id << " ("
              << result->phone_number->e164 << ")\n";
  }
  std::cout << "The token is shown only once; `nexus token create --user " << result->admin.id
            << "` issues another." << std::endl;
  return 0;
}

}  // namespace nexus::cli
