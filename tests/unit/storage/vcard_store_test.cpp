#include "storage/vcard_store.h"

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
    VcardStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    void addAccount(std::string_view domain, std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount(domain, user, ScramCredentials{}, std::move(done));
        }));
    }
    std::expected<std::optional<std::string>, StoreError> get(std::string_view domain,
                                                              std::string_view user) {
        return await<std::optional<std::string>>(
            base.get(), [&](auto done) { store.get(domain, user, std::move(done)); });
    }
    std::expected<void, StoreError> set(std::string_view domain, std::string_view user,
                                        std::string_view xml) {
        return await<void>(base.get(),
                           [&](auto done) { store.set(domain, user, xml, std::move(done)); });
    }
};

}  // namespace

TEST_CASE("vcards: set, replace, get, per account", "[pg][storage]") {
    Fixture f;
    f.addAccount("example.org", "juliet");
    f.addAccount("example.org", "romeo");

    auto none = f.get("example.org", "juliet");
    REQUIRE(none);
    CHECK(!none->has_value());

    const std::string first = "<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>";
    REQUIRE(f.set("example.org", "juliet", first));
    CHECK(f.get("example.org", "juliet")->value() == first);
    CHECK(!f.get("example.org", "romeo")->has_value());

    // A set replaces the whole vCard (XEP-0054 §3.2: no partial updates).
    const std::string second = "<vCard xmlns='vcard-temp'><NICKNAME>J &amp; R</NICKNAME></vCard>";
    REQUIRE(f.set("example.org", "juliet", second));
    CHECK(f.get("example.org", "juliet")->value() == second);

    // Non-ASCII text survives as it is.
    const std::string unicode = "<vCard xmlns='vcard-temp'><FN>Юлия 💌</FN></vCard>";
    REQUIRE(f.set("example.org", "romeo", unicode));
    CHECK(f.get("example.org", "romeo")->value() == unicode);
    CHECK(f.get("example.org", "juliet")->value() == second);
}

TEST_CASE("vcards: unknown accounts and removal", "[pg][storage]") {
    Fixture f;
    auto missing = f.set("example.org", "nobody", "<vCard xmlns='vcard-temp'/>");
    REQUIRE(!missing);
    CHECK(missing.error().kind == StoreErrorKind::NotFound);
    // Unknown account and no vCard look the same.
    auto got = f.get("example.org", "nobody");
    REQUIRE(got);
    CHECK(!got->has_value());

    f.addAccount("example.org", "nurse");
    REQUIRE(f.set("example.org", "nurse", "<vCard xmlns='vcard-temp'/>"));
    // Same username on another domain is another account.
    CHECK(!f.get("example.net", "nurse")->has_value());
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.accounts.deleteAccount("example.org", "nurse", std::move(done));
    }));
    // ON DELETE CASCADE: the vCard went with the account.
    auto rows = runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM vcards"});
    REQUIRE(rows.ok());
    CHECK(rows.int64(0, 0) == 0);
}

TEST_CASE("vcards: the database away gives Unavailable", "[pg][storage]") {
    Fixture f;
    f.addAccount("example.org", "juliet");
    f.db.stop();
    auto got = f.get("example.org", "juliet");
    REQUIRE(!got);
    CHECK(got.error().kind == StoreErrorKind::Unavailable);
    auto set = f.set("example.org", "juliet", "<vCard xmlns='vcard-temp'/>");
    REQUIRE(!set);
    CHECK(set.error().kind == StoreErrorKind::Unavailable);
}
