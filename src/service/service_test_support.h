// File: service/service_test_support.h
//
// Test helper: a fresh in-memory store holding one organization made by InitWorkspace, and the
// admin Principal for it.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "core/clock.h"
#include "service/bootstrap.h"
#include "store/store.h"

namespace nexus::service {

struct TestWorkspace {
  std::unique_ptr<store::Store> store;
  core::FakeClock clock{absl::FromUnixSeconds(1'747'317'600)};  // 2025-05-15T14:00:00Z
  InitResult init;

  domain::Principal Admin() const {
    domain::Principal p;
    p.user = init.admin;
    p.credential_id = init.token_id;
    return p;
  }

  static std::unique_ptr<TestWorkspace> Make(bool demo = true) {
    auto ws = std::make_unique<TestWorkspace>();
    auto opened = store::OpenStore("sqlite://:memory:");
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) return nullptr;
    ws->store = *std::move(opened);
    auto init = InitWorkspace(*ws->store, ws->clock, {"Test Org", demo});
    EXPECT_TRUE(init.ok()) << init.status();
    if (!init.ok()) return nullptr;
    ws->init = *std::move(init);
    return ws;
  }
};

}  // namespace nexus::service
