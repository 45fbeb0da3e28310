#include "storage/pep_store.h"

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
    PepStore store{db};

    Fixture() {
        REQUIRE(startSync(base.get(), db));
        for (auto user : {"juliet", "romeo", "nurse"}) {
            REQUIRE(await<void>(base.get(), [&](auto done) {
                accounts.createAccount("example.org", user, ScramCredentials{}, std::move(done));
            }));
        }
    }

    PepPublishResult publish(std::string_view user, std::string_view node, std::string_view id,
                             std::string_view payload, PepPublishOptions options = {},
                             int maxNodes = 10) {
        auto r = await<PepPublishResult>(base.get(), [&](auto done) {
            store.publish("example.org", user, node,
                          PepItem{std::string(id), std::string(payload),
                                  std::string(user) + "@example.org/balcony"},
                          options, 1, maxNodes, std::move(done));
        });
        REQUIRE(r);
        return *r;
    }
    PepNodeView items(std::string_view user, std::string_view node,
                      std::string_view viewer = "nobody@example.org",
                      std::vector<std::string> ids = {}, std::optional<int> max = {}) {
        auto r = await<PepNodeView>(base.get(), [&](auto done) {
            store.items("example.org", user, node, viewer, std::move(ids), max, std::move(done));
        });
        REQUIRE(r);
        return *r;
    }
    std::vector<std::string> ids(const PepNodeView& v) {
        std::vector<std::string> out;
        for (const auto& i : v.items) {
            out.push_back(i.id);
        }
        return out;
    }
    void roster(std::string_view owner, std::string_view contact, std::string_view sub) {
        exec("INSERT INTO roster_items (account_id, jid, subscription) SELECT id, '" +
             std::string(contact) + "', '" + std::string(sub) +
             "' FROM accounts WHERE username = '" + std::string(owner) + "'");
    }
    void exec(const std::string& sql) {
        REQUIRE(runQuery(base.get(), db, Statement{"", sql}).ok());
    }
};

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("pep: publish auto-creates, replaces and keeps max_items", "[pg][storage]") {
    Fixture f;
    auto r = f.publish("juliet", "urn:xmpp:avatar:metadata", "a1", "<metadata/>");
    CHECK(r.status == PepPublishStatus::Published);
    CHECK(r.created);
    CHECK(r.config == PepNodeConfig{});  // presence, 1 item, persistent
    CHECK(f.items("juliet", "urn:xmpp:avatar:metadata").exists);
    CHECK(!f.items("juliet", "other").exists);
    CHECK(!f.items("romeo", "urn:xmpp:avatar:metadata").exists);

    // max_items 1 (the default): the newer item replaces the older one.
    r = f.publish("juliet", "urn:xmpp:avatar:metadata", "a2", "<metadata>2</metadata>");
    CHECK(!r.created);
    auto v = f.items("juliet", "urn:xmpp:avatar:metadata");
    CHECK(f.ids(v) == Strings{"a2"});
    CHECK(v.items[0].payload == "<metadata>2</metadata>");
    CHECK(v.items[0].publisher == "juliet@example.org/balcony");

    // A node created with max_items 3 keeps the 3 newest; republishing an id moves it first.
    PepPublishOptions three;
    three.maxItems = 3;
    for (auto id : {"1", "2", "3", "4"}) {
        f.publish("juliet", "bookmarks", id, std::string("<b>") + id + "</b>", three);
    }
    CHECK(f.ids(f.items("juliet", "bookmarks")) == Strings{"4", "3", "2"});
    f.publish("juliet", "bookmarks", "2", "<b>2'</b>", three);
    CHECK(f.ids(f.items("juliet", "bookmarks")) == Strings{"2", "4", "3"});
    f.publish("juliet", "bookmarks", "5", "<b>5</b>", three);
    CHECK(f.ids(f.items("juliet", "bookmarks")) == Strings{"5", "2", "4"});

    // items: by id, and the newest N.
    CHECK(f.ids(f.items("juliet", "bookmarks", "x@y", {"4", "nope"})) == Strings{"4"});
    CHECK(f.ids(f.items("juliet", "bookmarks", "x@y", {}, 2)) == Strings{"5", "2"});
    CHECK(f.ids(f.items("juliet", "bookmarks", "x@y", {"nope"})).empty());
}

TEST_CASE("pep: publish options are preconditions", "[pg][storage]") {
    Fixture f;
    PepPublishOptions open;
    open.accessModel = "open";
    auto r = f.publish("juliet", "eu.siacs.conversations.axolotl.devicelist", "current", "<list/>",
                       open);
    CHECK(r.created);
    CHECK(r.config.accessModel == "open");
    CHECK(
        f.publish("juliet", "eu.siacs.conversations.axolotl.devicelist", "current", "<list/>", open)
            .status == PepPublishStatus::Published);
    // No options: always fine.
    CHECK(f.publish("juliet", "eu.siacs.conversations.axolotl.devicelist", "current", "<list/>")
              .status == PepPublishStatus::Published);

    PepPublishOptions other;
    other.accessModel = "whitelist";
    r = f.publish("juliet", "eu.siacs.conversations.axolotl.devicelist", "current",
                  "<list>changed</list>", other);
    CHECK(r.status == PepPublishStatus::PreconditionNotMet);
    CHECK(r.config.accessModel == "open");
    PepPublishOptions five;
    five.maxItems = 5;
    CHECK(f.publish("juliet", "eu.siacs.conversations.axolotl.devicelist", "current", "<x/>", five)
              .status == PepPublishStatus::PreconditionNotMet);
    // Nothing was stored by the refused publishes.
    CHECK(f.items("juliet", "eu.siacs.conversations.axolotl.devicelist").items[0].payload ==
          "<list/>");
}

TEST_CASE("pep: node limit, create, configure, delete, retract", "[pg][storage]") {
    Fixture f;
    CHECK(f.publish("juliet", "n1", "i", "<x/>", {}, 2).status == PepPublishStatus::Published);
    CHECK(f.publish("juliet", "n2", "i", "<x/>", {}, 2).status == PepPublishStatus::Published);
    CHECK(f.publish("juliet", "n3", "i", "<x/>", {}, 2).status == PepPublishStatus::TooManyNodes);
    // Publishing to an existing node is fine at the limit.
    CHECK(f.publish("juliet", "n2", "j", "<x/>", {}, 2).status == PepPublishStatus::Published);
    CHECK(f.publish("nobody", "n1", "i", "<x/>").status == PepPublishStatus::NoAccount);

    auto create = [&](std::string_view user, std::string_view node, PepNodeConfig c, int max) {
        auto r = await<PepCreateStatus>(f.base.get(), [&](auto done) {
            f.store.create("example.org", user, node, c, max, std::move(done));
        });
        REQUIRE(r);
        return *r;
    };
    PepNodeConfig wl;
    wl.accessModel = "whitelist";
    wl.maxItems = 10;
    CHECK(create("juliet", "n1", wl, 10) == PepCreateStatus::Exists);
    CHECK(create("juliet", "n3", wl, 2) == PepCreateStatus::TooManyNodes);
    CHECK(create("juliet", "n3", wl, 10) == PepCreateStatus::Created);
    CHECK(create("nobody", "n3", wl, 10) == PepCreateStatus::NoAccount);
    CHECK(f.items("juliet", "n3").config == wl);

    for (auto id : {"a", "b", "c", "d"}) {
        f.publish("juliet", "n3", id, "<x/>");
    }
    auto configure = [&](std::string_view node, PepNodeConfig c) {
        auto r = await<bool>(f.base.get(), [&](auto done) {
            f.store.configure("example.org", "juliet", node, c, std::move(done));
        });
        REQUIRE(r);
        return *r;
    };
    PepNodeConfig two = wl;
    two.maxItems = 2;
    two.accessModel = "open";
    CHECK(configure("n3", two));
    CHECK(!configure("missing", two));
    auto v = f.items("juliet", "n3");
    CHECK(v.config == two);
    CHECK(f.ids(v) == Strings{"d", "c"});  // trimmed to the new max_items

    auto retract = [&](std::string_view node, std::string_view id) {
        auto r = await<PepRemoveResult>(f.base.get(), [&](auto done) {
            f.store.retract("example.org", "juliet", node, id, std::move(done));
        });
        REQUIRE(r);
        return *r;
    };
    f.roster("juliet", "romeo@example.org", "both");
    f.roster("juliet", "tybalt@example.org", "to");
    auto rr = retract("n3", "d");
    CHECK(rr.status == PepRemoveStatus::Removed);
    CHECK(rr.config.accessModel == "open");
    CHECK(rr.contacts == Strings{"romeo@example.org"});
    CHECK(retract("n3", "d").status == PepRemoveStatus::NoItem);
    CHECK(retract("missing", "d").status == PepRemoveStatus::NoNode);
    CHECK(f.ids(f.items("juliet", "n3")) == Strings{"c"});

    auto purge = [&](std::string_view node) {
        auto r = await<PepRemoveResult>(f.base.get(), [&](auto done) {
            f.store.purge("example.org", "juliet", node, std::move(done));
        });
        REQUIRE(r);
        return *r;
    };
    CHECK(purge("missing").status == PepRemoveStatus::NoNode);
    f.publish("juliet", "n1", "k", "<x/>");
    auto pr = purge("n1");
    CHECK(pr.status == PepRemoveStatus::Removed);
    CHECK(pr.contacts == Strings{"romeo@example.org"});
    auto purged = f.items("juliet", "n1");
    CHECK(purged.exists);  // the node stays, empty
    CHECK(purged.items.empty());
    f.publish("juliet", "n1", "i", "<x/>");  // as before, for the counts below

    auto nodes = await<std::pair<std::vector<PepNodeInfo>, bool>>(f.base.get(), [&](auto done) {
        f.store.nodes("example.org", "juliet", "romeo@example.org", std::move(done));
    });
    REQUIRE(nodes);
    REQUIRE(nodes->first.size() == 3);
    CHECK(nodes->first[0].node == "n1");
    CHECK(nodes->first[2].config == two);
    CHECK(nodes->second);

    auto del = await<PepRemoveResult>(f.base.get(), [&](auto done) {
        f.store.remove("example.org", "juliet", "n3", std::move(done));
    });
    REQUIRE(del);
    CHECK(del->status == PepRemoveStatus::Removed);
    CHECK(del->contacts == Strings{"romeo@example.org"});
    CHECK(!f.items("juliet", "n3").exists);
    auto items = runQuery(f.base.get(), f.db, Statement{"", "SELECT count(*) FROM pep_items"});
    CHECK(items.int64(0, 0) == 2);  // n1 and n2's; n3's went with it
}

TEST_CASE("pep: who may see, and the last items on presence", "[pg][storage]") {
    Fixture f;
    PepPublishOptions open;
    open.accessModel = "open";
    PepPublishOptions wl;
    wl.accessModel = "whitelist";
    f.publish("juliet", "urn:xmpp:avatar:metadata", "a", "<m/>");  // presence
    f.publish("juliet", "devicelist", "current", "<list/>", open);
    f.publish("juliet", "urn:xmpp:bookmarks:1", "room@muc", "<conference/>", wl);
    f.publish("romeo", "urn:xmpp:avatar:metadata", "r", "<m>romeo</m>");
    f.roster("juliet", "romeo@example.org", "from");
    f.roster("juliet", "nurse@example.org", "to");

    CHECK(f.items("juliet", "urn:xmpp:avatar:metadata", "romeo@example.org").subscribed);
    CHECK(!f.items("juliet", "urn:xmpp:avatar:metadata", "nurse@example.org").subscribed);

    auto last = [&](std::string_view viewer, Strings nodes,
                    std::optional<std::pair<std::string, std::string>> owner = {}) {
        auto r = await<std::vector<PepLastItem>>(f.base.get(), [&](auto done) {
            f.store.lastItemsFor(viewer, nodes, owner, std::move(done));
        });
        REQUIRE(r);
        Strings out;
        for (const auto& l : *r) {
            out.push_back(l.owner + " " + l.node + " " + l.item.id);
        }
        return out;
    };
    const Strings all{"urn:xmpp:avatar:metadata", "devicelist", "urn:xmpp:bookmarks:1"};
    // romeo is subscribed to juliet: her presence and open nodes, and his own.
    CHECK(last("romeo@example.org", all) ==
          Strings{"juliet@example.org devicelist current",
                  "juliet@example.org urn:xmpp:avatar:metadata a",
                  "romeo@example.org urn:xmpp:avatar:metadata r"});
    // Not from an owner that blocks the viewer (bare JID or domain).
    f.exec(
        "INSERT INTO blocklist_items (account_id, jid) SELECT id, 'romeo@example.org'"
        " FROM accounts WHERE username = 'juliet'");
    CHECK(last("romeo@example.org", all) ==
          Strings{"romeo@example.org urn:xmpp:avatar:metadata r"});
    f.exec("UPDATE blocklist_items SET jid = 'example.org'");
    CHECK(last("romeo@example.org", all).size() == 1);
    f.exec("DELETE FROM blocklist_items");
    // Only the nodes asked for (+notify).
    CHECK(last("romeo@example.org", {"devicelist"}) ==
          Strings{"juliet@example.org devicelist current"});
    // juliet sees her own nodes, whitelist included.
    CHECK(last("juliet@example.org", all).size() == 3);
    // The nurse has no subscription from juliet; strangers and remote JIDs neither.
    CHECK(last("nurse@example.org", all).empty());
    CHECK(last("mercutio@remote.example", all).empty());
    f.roster("juliet", "mercutio@remote.example", "both");
    CHECK(last("mercutio@remote.example", all,
               std::pair<std::string, std::string>{"example.org", "juliet"})
              .size() == 2);
    CHECK(last("mercutio@remote.example", all,
               std::pair<std::string, std::string>{"example.org", "romeo"})
              .empty());
}
