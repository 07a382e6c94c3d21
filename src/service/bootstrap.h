// File: service/bootstrap.h
//
// What the CLI does outside the HTTP API: `nexus init` (an organization, its admin and a token,
// optionally a demo agent and phone number, all in one transaction) and `nexus token create`
// (a new token for an existing user). Plaintext secrets are returned once and never stored.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "domain/agent.h"
#include "domain/credential.h"
#include "domain/organization.h"
#include "domain/phone_number.h"
#include "domain/user.h"
#include "store/store.h"

namespace nexus::service {

struct InitOptions {
  std::string organization_name = "Default";
  bool demo = false;  // also create a demo agent (en-US; variables name*, account_id) + number
  // The organization's legal calling window; nullopt switches it off (the `make run` demo, so
  // that the simulator can be tried at any hour).
  std::optional<domain::DailyWindow> legal_window = domain::kDefaultLegalWindow;
};

struct InitResult {
  domain::Organization organization;
  domain::User admin;
  std::string token;  // plaintext, shown once
  std::string token_id;
  std::optional<domain::Agent> agent;
  std::optional<domain::PhoneNumber> phone_number;
};

// InvalidArgument naming "--org" for a bad name; store errors otherwise. Nothing is stored on
// failure.
absl::StatusOr<InitResult> InitWorkspace(store::Store& store, const core::Clock& clock,
                                         const InitOptions& options);

struct NewToken {
  std::string token;  // plaintext, shown once
  std::string token_id;
  std::string user_id;
};

// InvalidArgument naming "--user" for a malformed ID; NotFound for an unknown user.
absl::StatusOr<NewToken> CreateTokenForUser(store::Store& store, const core::Clock& clock,
                                            std::string_view user_id);

}  // namespace nexus::service
