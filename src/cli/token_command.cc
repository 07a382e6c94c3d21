#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "service/bootstrap.h"
#include "store/store.h"

namespace nexus::cli {

int RunTokenCreate(const TokenCreateArgs& args) {
  auto store = store::OpenStore(args.db);
  if (!store.ok()) {
    std::cerr << "nexus token create: " << store.status().message() << "\n";
    return 1;
  }
  auto token = service::CreateTokenForUser(**store, core::RealClock::Real(), args.user);
  if (!token.ok()) {
    std::cerr << "nexus token create: " << token.status().message() << "\n";
    return 1;
  }
  if (args.json) {
    std::cout << nlohmann::json{{"token", token->token},
                                {"tokenId", token->token_id},
                                {"userId", token->user_id}}
                     .dump()
              << std::endl;
  } else {
    std::cout << "token:   " << token->token << "\n"
              << "tokenId: " << token->token_id << "\n"
              << "userId:  " << token->user_id << std::endl;
  }
  return 0;
}

}  // namespace nexus::cli
