#include "storage/roster_store.h"

#include <catch2/catch.hpp>

#include "pg_test_support.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore accounts{db};
    RosterStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    std::int64_t createAccount(std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount("example.org", user, ScramCredentials{}, std::move(done));
        }));
        auto roster = load(user);
        REQUIRE(roster);
        REQUIRE(roster->has_value());
        return (*roster)->accountId;
    }
    std::expected<std::optional<Roster>, StoreError> load(std::string_view user) {
        return await<std::optional<Roster>>(
            base.get(), [&](auto done) { store.load("example.org", user, std::move(done)); });
    }
    std::expected<std::int64_t, StoreError> put(std::int64_t id, const RosterItem& item,
                                                bool bump = true) {
        return await<std::int64_t>(base.get(),
                                   [&](auto done) { store.put(id, item, bump, std::move(done)); });
    }
    std::expected<std::int64_t, StoreError> remove(std::int64_t id, std::string_view jid,
                                                   bool bump = true) {
        return await<std::int64_t>(
            base.get(), [&](auto done) { store.remove(id, jid, bump, std::move(done)); });
    }
};

RosterItem item(std::string jid) {
    RosterItem i;
    i.jid = std::move(jid);
    return i;
}

}  // namespace

TEST_CASE("text arrays: encode and decode", "[storage]") {
    std::vector<std::string> values = {"Friends", "", "a,b", "q\"uo\\te", "{x}", "NULL", " sp "};
    CHECK(encodeTextArray({}) == "{}");
    CHECK(encodeTextArray({"a"}) == "{\"a\"}");
    CHECK(decodeTextArray(encodeTextArray(values)) == values);
    // PostgreSQL's own output quotes only where needed.
    CHECK(decodeTextArray("{}") == std::vector<std::string>{});
    CHECK(decodeTextArray("{Friends,\"Best Friends\",\"\"}") ==
          std::vector<std::string>{"Friends", "Best Friends", ""});
    CHECK(decodeTextArray("{\"a\\\\b\",\"c\\\"d\"}") == std::vector<std::string>{"a\\b", "c\"d"});
    CHECK(!decodeTextArray(""));
    CHECK(!decodeTextArray("{a,NULL}"));
    CHECK(!decodeTextArray("{\"open}"));
    CHECK(!decodeTextArray("{a,,b}"));
    CHECK(!decodeTextArray("{{a},{b}}"));
}

TEST_CASE("roster: unknown account, empty roster", "[pg][storage]") {
    Fixture f;
    auto none = f.load("nobody");
    REQUIRE(none);
    CHECK(!none->has_value());

    const auto id = f.createAccount("juliet");
    CHECK(id > 0);
    auto empty = f.load("juliet");
    REQUIRE(empty);
    REQUIRE(empty->has_value());
    CHECK((*empty)->items.empty());
    CHECK((*empty)->version == 0);
}

TEST_CASE("roster: put, replace, remove, versions", "[pg][storage]") {
    Fixture f;
    const auto id = f.createAccount("juliet");
    const auto other = f.createAccount("romeo");

    RosterItem nurse = item("nurse@example.org");
    nurse.name = "Nurse";
    nurse.groups = {"Servants", "Friends, \"old\" ones"};
    nurse.subscription = Subscription::Both;
    REQUIRE(f.put(id, nurse) == 1);

    RosterItem romeo = item("romeo@example.net");
    romeo.askOut = true;
    romeo.approved = true;
    REQUIRE(f.put(id, romeo) == 2);

    // A pending-only row, written without bumping the version (clients cannot see it).
    RosterItem pending = item("benvolio@example.net");
    pending.inRoster = false;
    pending.pendingIn = true;
    pending.pendingStanza = "<presence xmlns='jabber:client' type='subscribe'/>";
    REQUIRE(f.put(id, pending, false) == 2);

    auto roster = f.load("juliet");
    REQUIRE(roster);
    REQUIRE(roster->has_value());
    CHECK((*roster)->accountId == id);
    CHECK((*roster)->version == 2);
    REQUIRE((*roster)->items.size() == 3);
    // Byte order of the JID.
    CHECK((*roster)->items[0] == pending);
    CHECK((*roster)->items[1] == nurse);
    CHECK((*roster)->items[2] == romeo);

    // Replacing keeps one row per JID; a name can go back to none.
    nurse.name.reset();
    nurse.groups.clear();
    nurse.subscription = Subscription::From;
    REQUIRE(f.put(id, nurse) == 3);
    // pending_stanza is only kept while pending_in holds.
    pending.pendingIn = false;
    REQUIRE(f.put(id, pending, false) == 3);
    roster = f.load("juliet");
    REQUIRE((*roster)->items.size() == 3);
    CHECK((*roster)->items[1] == nurse);
    CHECK((*roster)->items[0].pendingStanza.empty());

    REQUIRE(f.remove(id, "romeo@example.net") == 4);
    REQUIRE(f.remove(id, "nobody@example.net", false) == 4);
    roster = f.load("juliet");
    CHECK((*roster)->items.size() == 2);
    CHECK((*roster)->version == 4);

    // Other accounts are untouched; deleting the account takes its roster along.
    auto romeos = f.load("romeo");
    CHECK((*romeos)->items.empty());
    CHECK(other != id);
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.accounts.deleteAccount("example.org", "juliet", std::move(done));
    }));
    auto count = runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM roster_items"});
    CHECK(count.int64(0, 0) == 0);
    auto gone = f.put(id, nurse);
    REQUIRE(!gone);  // foreign key
}
