#include "storage/private_store.h"

#include <catch2/catch.hpp>

#include "pg_test_support.h"
#include "storage/account_store.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

PrivateItem item(std::string ns, std::string name, std::string xml) {
    return PrivateItem{std::move(ns), std::move(name), std::move(xml)};
}

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore accounts{db};
    PrivateStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    void addAccount(std::string_view domain, std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount(domain, user, ScramCredentials{}, std::move(done));
        }));
    }
    std::optional<std::string> get(std::string_view user, std::string_view ns,
                                   std::string_view name) {
        auto r = await<std::optional<std::string>>(base.get(), [&](auto done) {
            store.get("example.org", user, ns, name, std::move(done));
        });
        REQUIRE(r);
        return *r;
    }
    std::expected<PrivateSetResult, StoreError> set(std::string_view user,
                                                    std::vector<PrivateItem> items,
                                                    int maxItems = 10) {
        return await<PrivateSetResult>(base.get(), [&](auto done) {
            store.set("example.org", user, std::move(items), maxItems, std::move(done));
        });
    }
    std::int64_t count() {
        auto r = runQuery(base.get(), db, Statement{"", "SELECT count(*) FROM private_storage"});
        REQUIRE(r.ok());
        return r.int64(0, 0).value_or(-1);
    }
};

}  // namespace

TEST_CASE("private storage: keyed by namespace and element name", "[pg][storage]") {
    Fixture f;
    f.addAccount("example.org", "hamlet");
    f.addAccount("example.org", "ophelia");

    CHECK(!f.get("hamlet", "exodus:prefs", "exodus"));
    const std::string prefs =
        "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>";
    REQUIRE(f.set("hamlet", {item("exodus:prefs", "exodus", prefs)}) == PrivateSetResult::Stored);
    CHECK(f.get("hamlet", "exodus:prefs", "exodus") == prefs);
    // Another name in the same namespace, the same name in another namespace, another account:
    // all different keys.
    CHECK(!f.get("hamlet", "exodus:prefs", "other"));
    CHECK(!f.get("hamlet", "exodus:other", "exodus"));
    CHECK(!f.get("ophelia", "exodus:prefs", "exodus"));

    // Replacing keeps one row.
    const std::string again = "<exodus xmlns='exodus:prefs'/>";
    REQUIRE(f.set("hamlet", {item("exodus:prefs", "exodus", again)}) == PrivateSetResult::Stored);
    CHECK(f.get("hamlet", "exodus:prefs", "exodus") == again);
    CHECK(f.count() == 1);

    // Several elements in one set.
    REQUIRE(f.set("hamlet",
                  {item("storage:bookmarks", "storage", "<storage xmlns='storage:bookmarks'/>"),
                   item("storage:rosternotes", "storage",
                        "<storage xmlns='storage:rosternotes'/>")}) == PrivateSetResult::Stored);
    CHECK(f.count() == 3);
    CHECK(f.get("hamlet", "storage:rosternotes", "storage") ==
          "<storage xmlns='storage:rosternotes'/>");
}

TEST_CASE("private storage: limits, unknown accounts, cascade", "[pg][storage]") {
    Fixture f;
    CHECK(f.set("nobody", {item("a:b", "x", "<x xmlns='a:b'/>")}) == PrivateSetResult::NoAccount);
    CHECK(f.count() == 0);

    f.addAccount("example.org", "hamlet");
    REQUIRE(f.set("hamlet",
                  {item("ns:1", "x", "<x xmlns='ns:1'/>"), item("ns:2", "x", "<x xmlns='ns:2'/>")},
                  2) == PrivateSetResult::Stored);
    // Full: a third key is refused, and a batch holding one is refused whole.
    CHECK(f.set("hamlet", {item("ns:3", "x", "<x xmlns='ns:3'/>")}, 2) == PrivateSetResult::Full);
    CHECK(f.set("hamlet",
                {item("ns:1", "x", "<x xmlns='ns:1'>changed</x>"),
                 item("ns:3", "x", "<x xmlns='ns:3'/>")},
                2) == PrivateSetResult::Full);
    CHECK(f.get("hamlet", "ns:1", "x") == "<x xmlns='ns:1'/>");
    CHECK(!f.get("hamlet", "ns:3", "x"));
    // Replacing an existing key is always allowed.
    REQUIRE(f.set("hamlet", {item("ns:2", "x", "<x xmlns='ns:2'>new</x>")}, 2) ==
            PrivateSetResult::Stored);
    CHECK(f.get("hamlet", "ns:2", "x") == "<x xmlns='ns:2'>new</x>");
    CHECK(f.count() == 2);

    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.accounts.deleteAccount("example.org", "hamlet", std::move(done));
    }));
    CHECK(f.count() == 0);
}

TEST_CASE("private storage: the database away gives Unavailable", "[pg][storage]") {
    Fixture f;
    f.addAccount("example.org", "hamlet");
    f.db.stop();
    auto r = f.set("hamlet", {item("a:b", "x", "<x xmlns='a:b'/>")});
    REQUIRE(!r);
    CHECK(r.error().kind == StoreErrorKind::Unavailable);
}
