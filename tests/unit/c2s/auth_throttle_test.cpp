#include "c2s/auth_throttle.h"

#include <catch2/catch.hpp>

using corvid::c2s::AuthThrottle;
using namespace std::chrono_literals;

namespace {
const AuthThrottle::Clock::time_point t0{};
}

TEST_CASE("an address is refused after its failures, until they age out", "[c2s]") {
    AuthThrottle t(3, 10, 300s);
    for (int i = 0; i < 3; ++i) {
        CHECK_FALSE(t.ipBlocked("10.0.0.1", t0));
        t.recordFailure("10.0.0.1", i == 0 ? "" : "alice@example.org", t0 + 1s * i);
    }
    CHECK(t.ipBlocked("10.0.0.1", t0 + 3s));
    CHECK_FALSE(t.ipBlocked("10.0.0.2", t0 + 3s));
    CHECK_FALSE(t.ipBlocked("10.0.0.1", t0 + 302s));  // the first one aged out
}

TEST_CASE("failures for an account from one address refuse only that pair", "[c2s]") {
    AuthThrottle t(1000, 4, 300s);
    for (int i = 0; i < 4; ++i) {
        CHECK_FALSE(t.pairBlocked("10.0.0.1", "alice@example.org", t0));
        t.recordFailure("10.0.0.1", "alice@example.org", t0);
    }
    CHECK(t.pairBlocked("10.0.0.1", "alice@example.org", t0));
    CHECK_FALSE(t.pairBlocked("10.0.0.2", "alice@example.org", t0));
    CHECK_FALSE(t.pairBlocked("10.0.0.1", "bob@example.org", t0));
    CHECK_FALSE(t.pairBlocked("10.0.0.1", "alice@example.org", t0 + 301s));
}

TEST_CASE("guesses spread over many addresses slow the account down but never lock it", "[c2s]") {
    AuthThrottle t(1000, 4, 300s);
    CHECK(t.accountDelay("alice@example.org", t0) == 0ms);
    for (int i = 0; i < 4; ++i) {
        t.recordFailure("10.0.0." + std::to_string(i), "alice@example.org", t0);
    }
    CHECK(t.accountDelay("alice@example.org", t0) == AuthThrottle::kAttackDelay);
    CHECK(t.accountDelay("bob@example.org", t0) == 0ms);
    // No single address reached the pair limit: the owner's own address is not refused.
    CHECK_FALSE(t.pairBlocked("192.0.2.7", "alice@example.org", t0));
    for (int i = 0; i < 4; ++i) {
        CHECK_FALSE(t.pairBlocked("10.0.0." + std::to_string(i), "alice@example.org", t0));
    }
    CHECK(t.accountDelay("alice@example.org", t0 + 301s) == 0ms);
}

TEST_CASE("an exchange abandoned before a name was known counts for the address only", "[c2s]") {
    AuthThrottle t(2, 2, 300s);
    t.recordFailure("10.0.0.1", "", t0);
    t.recordFailure("10.0.0.1", "", t0);
    CHECK(t.ipBlocked("10.0.0.1", t0));
    CHECK(t.accountDelay("", t0) == 0ms);
    CHECK_FALSE(t.pairBlocked("10.0.0.1", "", t0));
}
