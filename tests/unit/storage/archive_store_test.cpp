#include "storage/archive_store.h"

#include <catch2/catch.hpp>

#include "pg_test_support.h"
#include "storage/roster_store.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

struct Fixture {
    EventBasePtr base = newEventBase();
    ScratchDatabase scratch{base.get()};
    Database db{base.get(), testConfig(scratch.dsn(), 2)};
    AccountStore accounts{db};
    ArchiveStore store{db};

    Fixture() { REQUIRE(startSync(base.get(), db)); }

    void createAccount(std::string_view user) {
        REQUIRE(await<void>(base.get(), [&](auto done) {
            accounts.createAccount("example.org", user, ScramCredentials{}, std::move(done));
        }));
    }
    std::vector<bool> storeAll(std::vector<ArchiveDraft> drafts,
                               ArchivePolicy policy = ArchivePolicy::Always) {
        auto r = await<std::vector<bool>>(base.get(), [&](auto done) {
            store.store(std::move(drafts), policy, std::move(done));
        });
        REQUIRE(r);
        return *r;
    }
    ArchivePage page(ArchivePageRequest request, std::string_view user = "juliet") {
        auto r = await<ArchivePage>(base.get(), [&](auto done) {
            store.query("example.org", user, std::move(request), std::move(done));
        });
        REQUIRE(r);
        return *r;
    }
    void sql(std::string text) { REQUIRE(runQuery(base.get(), db, Statement{"", text}).ok()); }
};

ArchiveDraft draft(std::string_view user, std::int64_t id, std::string_view with,
                   std::string body = "hello",
                   ArchiveDecision decision = ArchiveDecision::Archive) {
    ArchiveDraft d;
    d.domain = "example.org";
    d.username = std::string(user);
    d.id = id;
    d.withJid = std::string(with);
    d.withResource = "r";
    d.outgoing = id % 2 == 0;
    d.stanza = "<message><body>" + body + "</body></message>";
    d.body = std::move(body);
    d.decision = decision;
    return d;
}

std::vector<std::int64_t> ids(const ArchivePage& p) {
    std::vector<std::int64_t> out;
    for (const auto& m : p.messages) {
        out.push_back(m.id);
    }
    return out;
}

}  // namespace

TEST_CASE("archive: store, unknown accounts, pages both ways", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    std::vector<ArchiveDraft> drafts;
    for (std::int64_t id = 1; id <= 10; ++id) {
        drafts.push_back(draft("juliet", id * 100, id <= 5 ? "romeo@example.org" : "nurse@x"));
    }
    drafts.push_back(draft("nobody", 5000, "romeo@example.org"));
    auto stored = f.storeAll(std::move(drafts));
    CHECK(stored ==
          std::vector<bool>{true, true, true, true, true, true, true, true, true, true, false});
    // An id already used (a clock set back across a restart) is refused, not the whole batch.
    stored = f.storeAll(
        {draft("juliet", 100, "romeo@example.org"), draft("juliet", 1001, "romeo@example.org")});
    CHECK(stored == std::vector<bool>{false, true});
    f.sql("DELETE FROM archive_messages WHERE id = 1001");

    ArchivePageRequest r;
    r.max = 4;
    auto p = f.page(r);
    CHECK(ids(p) == std::vector<std::int64_t>{100, 200, 300, 400});
    CHECK_FALSE(p.complete);
    CHECK(p.messages[0].stanza == "<message><body>hello</body></message>");
    CHECK(p.messages[1].outgoing);
    r.fromEnd = true;
    p = f.page(r);
    CHECK(ids(p) == std::vector<std::int64_t>{700, 800, 900, 1000});
    r.filter.maxId = 399;
    p = f.page(r);
    CHECK(ids(p) == std::vector<std::int64_t>{100, 200, 300});
    CHECK(p.complete);
    r = {};
    r.max = 10;
    r.filter.withJid = "nurse@x";
    r.filter.minId = 801;
    CHECK(ids(f.page(r)) == std::vector<std::int64_t>{900, 1000});
    r.filter.withResource = "other";
    CHECK(f.page(r).messages.empty());
    r = {};
    r.max = 10;
    r.filter.ids = {300, 900};
    r.mustExist = {300, 900};
    CHECK(ids(f.page(r)) == std::vector<std::int64_t>{300, 900});
    r.mustExist.push_back(301);
    CHECK(f.page(r).unknownId);
    // Another account's archive is empty, whatever the ids.
    r = {};
    CHECK(f.page(r, "romeo").messages.empty());
    r.mustExist = {100};
    CHECK(f.page(r, "romeo").unknownId);

    auto b = await<ArchiveBounds>(
        f.base.get(), [&](auto done) { f.store.bounds("example.org", "juliet", std::move(done)); });
    REQUIRE(b);
    CHECK(b->first == 100);
    CHECK(b->last == 1000);
}

TEST_CASE("archive: full text, decisions by roster and preferences", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    f.sql(
        "INSERT INTO roster_items (account_id, jid) SELECT id, 'romeo@example.org' FROM accounts");
    auto stored = f.storeAll({
        draft("juliet", 1, "romeo@example.org", "Wherefore art thou", ArchiveDecision::IfInRoster),
        draft("juliet", 2, "tybalt@example.org", "draw", ArchiveDecision::IfInRoster),
        draft("juliet", 3, "tybalt@example.org", "peace ART", ArchiveDecision::ByPrefs),
    });
    CHECK(stored == std::vector<bool>{true, false, true});

    ArchivePageRequest r;
    r.filter.fulltext = "art";
    CHECK(ids(f.page(r)) == std::vector<std::int64_t>{1, 3});
    r.filter.fulltext = "\"thou wherefore\"";  // websearch phrase: order matters
    CHECK(f.page(r).messages.empty());

    ArchivePrefs prefs{ArchivePolicy::Roster, {"tybalt@example.org"}, {"romeo@example.org"}};
    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.store.setPrefs("example.org", "juliet", prefs, std::move(done));
    }));
    auto missing = await<void>(f.base.get(), [&](auto done) {
        f.store.setPrefs("example.org", "nobody", prefs, std::move(done));
    });
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == StoreErrorKind::NotFound);
    auto all = await<std::vector<StoredArchivePrefs>>(
        f.base.get(), [&](auto done) { f.store.loadAllPrefs(std::move(done)); });
    REQUIRE(all);
    REQUIRE(all->size() == 1);
    CHECK(all->front().prefs == prefs);

    // never beats the roster, always beats the default; the server default applies to no one
    // here (juliet has preferences).
    stored = f.storeAll(
        {
            draft("juliet", 10, "romeo@example.org", "x", ArchiveDecision::ByPrefs),
            draft("juliet", 11, "tybalt@example.org", "x", ArchiveDecision::ByPrefs),
            draft("juliet", 12, "paris@example.org", "x", ArchiveDecision::ByPrefs),
        },
        ArchivePolicy::Always);
    CHECK(stored == std::vector<bool>{false, true, false});
}

TEST_CASE("archive: expiry in batches, and the account takes its archive along", "[pg][storage]") {
    Fixture f;
    f.createAccount("juliet");
    std::vector<ArchiveDraft> drafts;
    for (std::int64_t id = 1; id <= 25; ++id) {
        drafts.push_back(draft("juliet", id, "romeo@example.org"));
    }
    f.storeAll(std::move(drafts));
    auto n = await<std::int64_t>(f.base.get(),
                                 [&](auto done) { f.store.expire(21, 10, std::move(done)); });
    CHECK(n == 10);
    n = await<std::int64_t>(f.base.get(),
                            [&](auto done) { f.store.expire(21, 10, std::move(done)); });
    CHECK(n == 10);
    n = await<std::int64_t>(f.base.get(),
                            [&](auto done) { f.store.expire(21, 10, std::move(done)); });
    CHECK(n == 0);
    ArchivePageRequest r;
    CHECK(ids(f.page(r)) == std::vector<std::int64_t>{21, 22, 23, 24, 25});

    REQUIRE(await<void>(f.base.get(), [&](auto done) {
        f.accounts.deleteAccount("example.org", "juliet", std::move(done));
    }));
    auto count =
        runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM archive_messages"});
    CHECK(count.int64(0, 0) == 0);
}
