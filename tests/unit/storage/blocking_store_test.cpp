#include "storage/blocking_store.h"

#include <catch2/catch.hpp>

#include "pg_test_support.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

using List = std::vector<std::string>;

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore accounts{db};
    BlockingStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    void createAccount(std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount("example.org", user, ScramCredentials{}, std::move(done));
        }));
    }
    std::expected<std::optional<List>, StoreError> load(std::string_view user) {
        return await<std::optional<List>>(
            base.get(), [&](auto done) { store.load("example.org", user, std::move(done)); });
    }
    /// The list of an account that exists.
    List list(std::string_view user) {
        auto r = load(user);
        REQUIRE(r);
        REQUIRE(r->has_value());
        return **r;
    }
    std::expected<void, StoreError> block(std::string_view user, const List& jids) {
        return await<void>(base.get(), [&](auto done) {
            store.block("example.org", user, jids, std::move(done));
        });
    }
    std::expected<void, StoreError> unblock(std::string_view user, const List& jids) {
        return await<void>(base.get(), [&](auto done) {
            store.unblock("example.org", user, jids, std::move(done));
        });
    }
};

}  // namespace

TEST_CASE("blocking: block, unblock, unblock all", "[pg][storage]") {
    Fixture f;
    auto none = f.load("juliet");
    REQUIRE(none);
    CHECK(!none->has_value());
    auto missing = f.block("juliet", {"x@example.net"});
    REQUIRE(!missing);
    CHECK(missing.error().kind == StoreErrorKind::NotFound);

    f.createAccount("juliet");
    f.createAccount("romeo");
    CHECK(f.list("juliet") == (List{}));

    REQUIRE(f.block("juliet", {"tybalt@example.net", "example.com", "a@b.example/res"}));
    REQUIRE(f.block("juliet", {"tybalt@example.net", "paris@example.net"}));  // one repeated
    REQUIRE(f.block("romeo", {"tybalt@example.net"}));
    CHECK(f.list("juliet") ==
          (List{"a@b.example/res", "example.com", "paris@example.net", "tybalt@example.net"}));

    REQUIRE(f.unblock("juliet", {"example.com", "not-there@example.net"}));
    CHECK(f.list("juliet") == (List{"a@b.example/res", "paris@example.net", "tybalt@example.net"}));
    REQUIRE(f.unblock("juliet", {}));
    CHECK(f.list("juliet") == (List{}));
    CHECK(f.list("romeo") == (List{"tybalt@example.net"}));
}
