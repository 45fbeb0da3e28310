#include "storage/account_store.h"

#include <catch2/catch.hpp>

#include "pg_test_support.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

/// Runs one store call to completion.
Bytes bytes(std::initializer_list<int> values) {
    Bytes b;
    for (int v : values) {
        b.push_back(static_cast<char>(v));
    }
    return b;
}

ScramCredentials sampleCredentials(int seed) {
    ScramCredentials c;
    c.sha1 = StoredScram{bytes({seed, 1, 2, 0}), 4096, Bytes(20, static_cast<char>(seed)),
                         Bytes(20, '\xee')};
    c.sha256 = StoredScram{bytes({seed, 0xff, 0x00, 0x5c}), 10000,
                           Bytes(32, static_cast<char>(seed + 1)), Bytes(32, '\0')};
    return c;
}

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    std::expected<void, StoreError> create(std::string_view domain, std::string_view user,
                                           const ScramCredentials& c) {
        return await<void>(
            base.get(), [&](auto done) { store.createAccount(domain, user, c, std::move(done)); });
    }
    std::expected<std::optional<ScramCredentials>, StoreError> get(std::string_view domain,
                                                                   std::string_view user) {
        return await<std::optional<ScramCredentials>>(
            base.get(), [&](auto done) { store.getCredentials(domain, user, std::move(done)); });
    }
    std::expected<void, StoreError> remove(std::string_view domain, std::string_view user) {
        return await<void>(base.get(),
                           [&](auto done) { store.deleteAccount(domain, user, std::move(done)); });
    }
    std::expected<bool, StoreError> exists(std::string_view domain, std::string_view user) {
        return await<bool>(base.get(),
                           [&](auto done) { store.accountExists(domain, user, std::move(done)); });
    }
    std::expected<std::vector<std::string>, StoreError> list(std::string_view domain) {
        return await<std::vector<std::string>>(
            base.get(), [&](auto done) { store.listAccounts(domain, std::move(done)); });
    }
    std::int64_t count(const char* sql) {
        auto r = runQuery(base.get(), db, Statement{"", sql});
        REQUIRE(r.ok());
        return r.int64(0, 0).value_or(-1);
    }
};

}  // namespace

TEST_CASE("accounts: create, get, duplicate, delete", "[pg][storage]") {
    Fixture f;
    auto creds = sampleCredentials(7);

    REQUIRE(f.create("example.org", "juliet", creds));
    auto got = f.get("example.org", "juliet");
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(**got == creds);
    CHECK(f.exists("example.org", "juliet") == true);

    // Same name on another domain is another account; the same pair is a duplicate.
    REQUIRE(f.create("example.net", "juliet", sampleCredentials(8)));
    auto dup = f.create("example.org", "juliet", sampleCredentials(9));
    REQUIRE(!dup);
    CHECK(dup.error().kind == StoreErrorKind::AlreadyExists);
    CHECK(**f.get("example.org", "juliet") == creds);  // untouched
    CHECK(**f.get("example.net", "juliet") == sampleCredentials(8));

    // Unknown users: nullopt, false, NotFound.
    auto none = f.get("example.org", "romeo");
    REQUIRE(none);
    CHECK(!none->has_value());
    CHECK(f.exists("example.org", "romeo") == false);
    auto missing = f.remove("example.org", "romeo");
    REQUIRE(!missing);
    CHECK(missing.error().kind == StoreErrorKind::NotFound);

    REQUIRE(f.remove("example.org", "juliet"));
    CHECK(f.exists("example.org", "juliet") == false);
    CHECK(!f.get("example.org", "juliet")->has_value());
    CHECK(f.remove("example.org", "juliet").error().kind == StoreErrorKind::NotFound);
    CHECK(f.exists("example.net", "juliet") == true);
    // The credentials went with the account (ON DELETE CASCADE); the other account's stayed.
    CHECK(f.count("SELECT count(*) FROM account_scram") == 2);

    // The name can be registered again.
    REQUIRE(f.create("example.org", "juliet", sampleCredentials(3)));
    CHECK(**f.get("example.org", "juliet") == sampleCredentials(3));
}

TEST_CASE("accounts: partial credentials and setCredentials", "[pg][storage]") {
    Fixture f;
    ScramCredentials onlySha256;
    onlySha256.sha256 = sampleCredentials(1).sha256;
    REQUIRE(f.create("example.org", "nurse", onlySha256));
    CHECK(**f.get("example.org", "nurse") == onlySha256);

    REQUIRE(f.create("example.org", "ghost", ScramCredentials{}));
    auto ghost = f.get("example.org", "ghost");
    REQUIRE(ghost);
    REQUIRE(ghost->has_value());  // exists, without credentials
    CHECK(!(*ghost)->sha1);
    CHECK(!(*ghost)->sha256);

    auto replaced = sampleCredentials(42);
    auto set = await<void>(f.base.get(), [&](auto done) {
        f.store.setCredentials("example.org", "nurse", replaced, std::move(done));
    });
    REQUIRE(set);
    CHECK(**f.get("example.org", "nurse") == replaced);

    ScramCredentials sha1Only;
    sha1Only.sha1 = sampleCredentials(5).sha1;
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.store.setCredentials("example.org", "nurse", sha1Only, std::move(done));
    }));
    CHECK(**f.get("example.org", "nurse") == sha1Only);

    auto nobody = await<void>(f.base.get(), [&](auto done) {
        f.store.setCredentials("example.org", "nobody", replaced, std::move(done));
    });
    REQUIRE(!nobody);
    CHECK(nobody.error().kind == StoreErrorKind::NotFound);
    CHECK(f.count("SELECT count(*) FROM account_scram") == 1);
}

TEST_CASE("accounts: list per domain, sorted", "[pg][storage]") {
    Fixture f;
    for (const char* user : {"mercutio", "benvolio", "tybalt", "Zed", "\xC3\xA9mile"}) {
        REQUIRE(f.create("verona.example", user, sampleCredentials(1)));
    }
    REQUIRE(f.create("mantua.example", "balthasar", sampleCredentials(1)));

    auto verona = f.list("verona.example");
    REQUIRE(verona);
    // Byte order: upper case before lower case, UTF-8 after ASCII.
    CHECK(*verona ==
          std::vector<std::string>{"Zed", "benvolio", "mercutio", "tybalt", "\xC3\xA9mile"});
    CHECK(*f.list("mantua.example") == std::vector<std::string>{"balthasar"});
    CHECK(f.list("nowhere.example")->empty());
}

TEST_CASE("accounts: a stopped database answers Unavailable", "[pg][storage]") {
    Fixture f;
    f.db.stop();
    auto r = f.create("example.org", "late", sampleCredentials(1));
    REQUIRE(!r);
    CHECK(r.error().kind == StoreErrorKind::Unavailable);
    auto g = f.get("example.org", "late");
    REQUIRE(!g);
    CHECK(g.error().kind == StoreErrorKind::Unavailable);
}
