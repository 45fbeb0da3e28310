#include "storage/last_store.h"

#include <catch2/catch.hpp>

#include "pg_test_support.h"
#include "storage/account_store.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore accounts{db};
    LastStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    void addAccount(std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount("example.org", user, ScramCredentials{}, std::move(done));
        }));
    }
    std::expected<void, StoreError> logout(std::string_view user, std::string_view status) {
        return await<void>(base.get(), [&](auto done) {
            store.setLogout("example.org", user, status, std::move(done));
        });
    }
    std::optional<LastActivity> get(std::string_view user) {
        auto r = await<std::optional<LastActivity>>(
            base.get(), [&](auto done) { store.get("example.org", user, std::move(done)); });
        REQUIRE(r);
        return *r;
    }
    void exec(const char* sql) { REQUIRE(runQuery(base.get(), db, Statement{"", sql}).ok()); }
};

}  // namespace

TEST_CASE("last activity: logout time and status", "[pg][storage]") {
    Fixture f;
    f.addAccount("juliet");
    f.addAccount("romeo");
    CHECK(!f.get("juliet"));

    REQUIRE(f.logout("juliet", "Heading Home"));
    auto last = f.get("juliet");
    REQUIRE(last);
    CHECK(last->seconds >= 0);
    CHECK(last->seconds <= 2);
    CHECK(last->status == "Heading Home");
    CHECK(!f.get("romeo"));

    // The seconds are counted by the database's clock.
    f.exec("UPDATE last_activity SET logout_at = now() - interval '903 seconds'");
    last = f.get("juliet");
    REQUIRE(last);
    CHECK(last->seconds == 903);

    // A later logout replaces the earlier one, status included.
    REQUIRE(f.logout("juliet", ""));
    last = f.get("juliet");
    REQUIRE(last);
    CHECK(last->seconds <= 2);
    CHECK(last->status.empty());

    // A clock step backwards never gives negative seconds.
    f.exec("UPDATE last_activity SET logout_at = now() + interval '1 hour'");
    CHECK(f.get("juliet")->seconds == 0);
}

TEST_CASE("last activity: unknown and removed accounts", "[pg][storage]") {
    Fixture f;
    auto missing = f.logout("nobody", "gone");
    REQUIRE(!missing);
    CHECK(missing.error().kind == StoreErrorKind::NotFound);
    CHECK(!f.get("nobody"));

    f.addAccount("juliet");
    REQUIRE(f.logout("juliet", "bye"));
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.accounts.deleteAccount("example.org", "juliet", std::move(done));
    }));
    auto rows = runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM last_activity"});
    REQUIRE(rows.ok());
    CHECK(rows.int64(0, 0) == 0);
}

TEST_CASE("last activity: what a viewer may see", "[pg][storage]") {
    Fixture f;
    f.addAccount("juliet");
    f.addAccount("romeo");
    auto view = [&](std::string_view user, std::string_view viewer) {
        auto r = await<LastActivityView>(f.base.get(), [&](auto done) {
            f.store.getFor("example.org", user, viewer, std::move(done));
        });
        REQUIRE(r);
        return *r;
    };
    auto roster = [&](std::string_view contact, std::string_view subscription) {
        f.exec(("INSERT INTO roster_items (account_id, jid, subscription) SELECT id, '" +
                std::string(contact) + "', '" + std::string(subscription) +
                "' FROM accounts WHERE username = 'juliet'")
                   .c_str());
    };
    roster("romeo@example.org", "from");
    roster("nurse@example.org", "both");
    roster("tybalt@example.org", "to");
    roster("paris@example.org", "none");

    // Allowed (from/both), nothing recorded yet.
    auto v = view("juliet", "romeo@example.org");
    CHECK(v.allowed);
    CHECK(!v.last);
    REQUIRE(f.logout("juliet", "Heading Home"));
    v = view("juliet", "nurse@example.org");
    CHECK(v.allowed);
    REQUIRE(v.last);
    CHECK(v.last->status == "Heading Home");
    CHECK(v.last->seconds <= 2);

    // Not allowed: subscription to/none, not in the roster, or no such account (alike).
    for (auto viewer : {"tybalt@example.org", "paris@example.org", "mercutio@example.org"}) {
        v = view("juliet", viewer);
        CHECK(!v.allowed);
        CHECK(!v.last);
    }
    v = view("nobody", "romeo@example.org");
    CHECK(!v.allowed);
    // Subscriptions are per account: romeo's roster says nothing about juliet's viewers.
    CHECK(!view("romeo", "nurse@example.org").allowed);
}
