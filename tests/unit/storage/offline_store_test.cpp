#include "storage/offline_store.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "pg_test_support.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

OfflineDraft draft(std::string_view user, std::string_view xml,
                   std::vector<std::string> sender = {}) {
    return OfflineDraft{"example.org", std::string(user), std::string(xml), std::move(sender)};
}

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore accounts{db};
    OfflineStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    void createAccount(std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount("example.org", user, ScramCredentials{}, std::move(done));
        }));
    }
    std::expected<std::vector<OfflineStoreOutcome>, StoreError> storeAll(
        std::vector<OfflineDraft> drafts, std::int64_t max = 100) {
        return await<std::vector<OfflineStoreOutcome>>(
            base.get(), [&](auto done) { store.store(std::move(drafts), max, std::move(done)); });
    }
    std::expected<OfflineStoreOutcome, StoreError> store1(std::string_view user,
                                                          std::string_view xml,
                                                          std::int64_t max = 100,
                                                          std::vector<std::string> sender = {}) {
        auto r = storeAll({draft(user, xml, std::move(sender))}, max);
        if (!r) {
            return std::unexpected(r.error());
        }
        REQUIRE(r->size() == 1);
        return r->front();
    }
    std::expected<OfflineBatch, StoreError> take(std::string_view user, int limit = 100,
                                                 std::int64_t maxBytes = 1 << 20) {
        return await<OfflineBatch>(base.get(), [&](auto done) {
            store.take("example.org", user, limit, maxBytes, std::move(done));
        });
    }
    std::int64_t count(std::string_view user) {
        auto n = await<std::int64_t>(
            base.get(), [&](auto done) { store.count("example.org", user, std::move(done)); });
        REQUIRE(n);
        return *n;
    }
};

std::vector<std::string> stanzas(const OfflineBatch& b) {
    std::vector<std::string> out;
    for (const auto& m : b.messages) {
        out.push_back(m.stanza);
    }
    return out;
}

}  // namespace

TEST_CASE("offline: store, quota, unknown account", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    CHECK(f.store1("nobody", "<message/>") == OfflineStoreOutcome::NoAccount);
    CHECK(f.store1("juliet", "<m1/>", 2) == OfflineStoreOutcome::Stored);
    CHECK(f.store1("juliet", "<m2/>", 2) == OfflineStoreOutcome::Stored);
    CHECK(f.store1("juliet", "<m3/>", 2) == OfflineStoreOutcome::QuotaExceeded);
    CHECK(f.count("juliet") == 2);
    CHECK(f.count("nobody") == 0);
}

TEST_CASE("offline: concurrent stores respect the quota", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    // Both connections of the pool at once: the account row lock serialises the checks.
    int stored = 0;
    int refused = 0;
    int pending = 20;
    for (int i = 0; i < 20; ++i) {
        f.store.store({draft("juliet", "<m/>")}, 5,
                      [&](std::expected<std::vector<OfflineStoreOutcome>, StoreError> r) {
                          REQUIRE(r);
                          REQUIRE(r->size() == 1);
                          (r->front() == OfflineStoreOutcome::Stored ? stored : refused)++;
                          --pending;
                      });
    }
    REQUIRE(waitFor(
        f.base.get(), [&] { return pending == 0; }, 10s));
    CHECK(stored == 5);
    CHECK(refused == 15);
    CHECK(f.count("juliet") == 5);
}

TEST_CASE("offline: take in order, in chunks; restore keeps the order", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    f.createAccount("romeo");
    for (int i = 1; i <= 5; ++i) {
        REQUIRE(f.store1("juliet", "<m" + std::to_string(i) + "/>") == OfflineStoreOutcome::Stored);
    }
    REQUIRE(f.store1("romeo", "<r/>") == OfflineStoreOutcome::Stored);

    auto first = f.take("juliet", 2);
    REQUIRE(first);
    CHECK(stanzas(*first) == std::vector<std::string>{"<m1/>", "<m2/>"});
    CHECK(first->accountId > 0);
    CHECK(f.count("juliet") == 3);

    // The session went away: put them back; they come out first again.
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.store.restore(first->accountId, first->messages, std::move(done));
    }));
    CHECK(f.count("juliet") == 5);
    auto all = f.take("juliet");
    REQUIRE(all);
    CHECK(stanzas(*all) == std::vector<std::string>{"<m1/>", "<m2/>", "<m3/>", "<m4/>", "<m5/>"});
    CHECK(f.count("juliet") == 0);
    auto none = f.take("juliet");
    REQUIRE(none);
    CHECK(none->messages.empty());
    CHECK(none->accountId == 0);
    CHECK(f.count("romeo") == 1);

    // New messages after a restore still sort after the restored ones.
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.store.restore(all->accountId, {all->messages[4]}, std::move(done));
    }));
    REQUIRE(f.store1("juliet", "<m6/>") == OfflineStoreOutcome::Stored);
    CHECK(stanzas(*f.take("juliet")) == std::vector<std::string>{"<m5/>", "<m6/>"});

    // Empty restore is fine.
    REQUIRE(await<void>(f.base.get(),
                        [&](auto done) { f.store.restore(all->accountId, {}, std::move(done)); }));
}

TEST_CASE("offline: messages go with the account", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    REQUIRE(f.store1("juliet", "<m/>") == OfflineStoreOutcome::Stored);
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.accounts.deleteAccount("example.org", "juliet", std::move(done));
    }));
    auto n = runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM offline_messages"});
    CHECK(n.int64(0, 0) == 0);
}

TEST_CASE("offline: nothing is stored from a blocked sender", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    auto r = runQuery(f.base.get(), f.db,
                      Statement{"",
                                "INSERT INTO blocklist_items (account_id, jid)"
                                " SELECT id, 'tybalt@example.net' FROM accounts"});
    REQUIRE(r.ok());
    const std::vector<std::string> tybalt = {"tybalt@example.net/sword", "tybalt@example.net",
                                             "example.net/sword", "example.net"};
    const std::vector<std::string> romeo = {"romeo@example.net/orchard", "romeo@example.net",
                                            "example.net/orchard", "example.net"};
    CHECK(f.store1("juliet", "<t/>", 100, tybalt) == OfflineStoreOutcome::Blocked);
    CHECK(f.store1("juliet", "<r/>", 100, romeo) == OfflineStoreOutcome::Stored);
    CHECK(f.store1("nobody", "<t/>", 100, tybalt) == OfflineStoreOutcome::NoAccount);
    CHECK(f.count("juliet") == 1);
}

TEST_CASE("offline: one batch for several accounts, in order, each with its outcome",
          "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    f.createAccount("romeo");
    REQUIRE(f.store1("juliet", "<old/>", 3) == OfflineStoreOutcome::Stored);
    auto r = runQuery(f.base.get(), f.db,
                      Statement{"",
                                "INSERT INTO blocklist_items (account_id, jid)"
                                " SELECT id, 'tybalt@example.net' FROM accounts"
                                " WHERE username = 'romeo'"});
    REQUIRE(r.ok());
    const std::vector<std::string> tybalt = {"tybalt@example.net/sword", "tybalt@example.net",
                                             "example.net/sword", "example.net"};
    const std::vector<std::string> benvolio = {"benvolio@example.net", "example.net"};
    // juliet holds one already and may hold three: two more fit, the third of the batch not.
    auto out =
        f.storeAll({draft("juliet", "<j1/>"), draft("romeo", "<r1/>"), draft("nobody", "<n1/>"),
                    draft("juliet", "<j2/>"), draft("romeo", "<t/>", tybalt),
                    draft("juliet", "<j3/>"), draft("romeo", "<r2/>", benvolio)},
                   3);
    REQUIRE(out);
    CHECK(*out == std::vector<OfflineStoreOutcome>{
                      OfflineStoreOutcome::Stored, OfflineStoreOutcome::Stored,
                      OfflineStoreOutcome::NoAccount, OfflineStoreOutcome::Stored,
                      OfflineStoreOutcome::Blocked, OfflineStoreOutcome::QuotaExceeded,
                      OfflineStoreOutcome::Stored});
    CHECK(stanzas(*f.take("juliet")) == std::vector<std::string>{"<old/>", "<j1/>", "<j2/>"});
    CHECK(stanzas(*f.take("romeo")) == std::vector<std::string>{"<r1/>", "<r2/>"});
    auto n = runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM offline_messages"});
    CHECK(n.int64(0, 0) == 0);
}

TEST_CASE("offline: a batch of 1000 keeps its order", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    std::vector<OfflineDraft> drafts;
    std::vector<std::string> expected;
    for (int i = 0; i < 1000; ++i) {
        // Characters the array literal must escape, and some it need not.
        std::string xml = "<m n='" + std::to_string(i) + "'>\"{},\\ " + std::to_string(i) + "</m>";
        expected.push_back(xml);
        drafts.push_back(draft("juliet", xml));
    }
    auto out = f.storeAll(std::move(drafts), 1000);
    REQUIRE(out);
    CHECK(out->size() == 1000);
    CHECK(std::all_of(out->begin(), out->end(),
                      [](auto o) { return o == OfflineStoreOutcome::Stored; }));
    std::vector<std::string> got;
    while (true) {
        auto batch = f.take("juliet", 300);
        REQUIRE(batch);
        if (batch->messages.empty()) {
            break;
        }
        for (auto& s : stanzas(*batch)) {
            got.push_back(s);
        }
    }
    CHECK(got == expected);
}

TEST_CASE("offline: concurrent batches respect the quota", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    f.createAccount("romeo");
    // On both connections at once, each batch naming both accounts (locked in the same order).
    int stored = 0;
    int pending = 10;
    for (int i = 0; i < 10; ++i) {
        f.store.store({draft("romeo", "<r/>"), draft("juliet", "<j/>"), draft("juliet", "<j/>")}, 7,
                      [&](std::expected<std::vector<OfflineStoreOutcome>, StoreError> r) {
                          REQUIRE(r);
                          for (auto o : *r) {
                              stored += o == OfflineStoreOutcome::Stored;
                          }
                          --pending;
                      });
    }
    REQUIRE(waitFor(
        f.base.get(), [&] { return pending == 0; }, 10s));
    CHECK(stored == 14);
    CHECK(f.count("juliet") == 7);
    CHECK(f.count("romeo") == 7);
}

TEST_CASE("offline: take is bounded by bytes too, and always takes the first", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    for (int i = 0; i < 5; ++i) {
        REQUIRE(f.store1("juliet", "<m" + std::to_string(i) + ">" + std::string(100, 'x') + "</m" +
                                       std::to_string(i) + ">") == OfflineStoreOutcome::Stored);
    }
    // Each is 110 bytes: 250 bytes allow two; 10 bytes still take one.
    auto two = f.take("juliet", 100, 250);
    REQUIRE(two);
    REQUIRE(two->messages.size() == 2);
    CHECK(two->messages[0].stanza.starts_with("<m0>"));
    CHECK(two->messages[1].stanza.starts_with("<m1>"));
    auto one = f.take("juliet", 100, 10);
    REQUIRE(one);
    REQUIRE(one->messages.size() == 1);
    CHECK(one->messages[0].stanza.starts_with("<m2>"));
    CHECK(f.count("juliet") == 2);
}
