#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "router/router.h"
#include "stanza/ns.h"

using namespace corvid;
using corvid::router::Availability;
using corvid::router::HookResult;
using corvid::router::Router;
using corvid::router::SlotKey;
using corvid::stanza::Jid;

namespace {

struct Session final : router::LocalSession {
    Session(router::SessionId sid, std::string_view jid) : id_(sid), jid_(*Jid::parse(jid)) {}
    router::SessionId id() const override { return id_; }
    const Jid& jid() const override { return jid_; }
    const std::string& peerAddress() const override { return address_; }
    void deliver(const xml::Element& stanza) override { received.push_back(stanza); }
    void terminate(stanza::StreamCondition, std::string_view) override {}

    router::SessionId id_;
    Jid jid_;
    std::string address_ = "192.0.2.1";
    std::vector<xml::Element> received;
};

xml::Element presence(std::string_view from, std::string_view type = {},
                      std::optional<std::string> priority = std::nullopt) {
    xml::Element p("presence", std::string(stanza::ns::kClient));
    p.setAttr("from", std::string(from));
    if (!type.empty()) {
        p.setAttr("type", std::string(type));
    }
    if (priority) {
        p.addTextChild("priority", *priority);
    }
    return p;
}

/// Counts how many of its kind are alive, to see when a slot's state is destroyed.
struct Tracked {
    Tracked() { ++alive; }
    Tracked(const Tracked&) = delete;
    ~Tracked() { --alive; }
    static inline int alive = 0;
    int value = 0;
};

}  // namespace

TEST_CASE("a slot is made value-initialised on first use and found afterwards", "[router][slots]") {
    Router router;
    const SlotKey<int> counter = router.hooks().declareSlot<int>();
    const SlotKey<std::string> note = router.hooks().declareSlot<std::string>();
    Session s(1, "alice@example.org/a");

    CHECK(s.findSlot(counter) == nullptr);
    CHECK(s.slot(counter) == 0);
    s.slot(counter) += 2;
    s.slot(note) = "away";
    REQUIRE(s.findSlot(counter) != nullptr);
    CHECK(*s.findSlot(counter) == 2);
    CHECK(*s.findSlot(note) == "away");
    const router::LocalSession& view = s;
    CHECK(*view.findSlot(note) == "away");
}

TEST_CASE("slots of different keys and sessions are independent", "[router][slots]") {
    Router router;
    const SlotKey<int> a = router.hooks().declareSlot<int>();
    const SlotKey<int> b = router.hooks().declareSlot<int>();
    Session one(1, "alice@example.org/a");
    Session two(2, "alice@example.org/b");

    one.slot(a) = 1;
    one.slot(b) = 2;
    two.slot(a) = 3;
    CHECK(*one.findSlot(a) == 1);
    CHECK(*one.findSlot(b) == 2);
    CHECK(*two.findSlot(a) == 3);
    CHECK(two.findSlot(b) == nullptr);

    one.clearSlot(a);
    CHECK(one.findSlot(a) == nullptr);
    CHECK(*one.findSlot(b) == 2);
    CHECK(*two.findSlot(a) == 3);
    one.clearSlot(a);  // clearing an absent slot is harmless
    CHECK(*one.findSlot(b) == 2);
}

TEST_CASE("a slot's state is destroyed when cleared and with its session", "[router][slots]") {
    Router router;
    const SlotKey<Tracked> first = router.hooks().declareSlot<Tracked>();
    const SlotKey<Tracked> second = router.hooks().declareSlot<Tracked>();
    REQUIRE(Tracked::alive == 0);
    {
        Session s(1, "alice@example.org/a");
        s.slot(first).value = 7;
        s.slot(second).value = 8;
        CHECK(Tracked::alive == 2);
        s.clearSlot(first);
        CHECK(Tracked::alive == 1);
        CHECK(s.findSlot(second)->value == 8);
    }
    CHECK(Tracked::alive == 0);
}

TEST_CASE("the router sets a session's availability from the presence it broadcasts",
          "[router][slots]") {
    Router router;
    router.addLocalDomain("example.org");
    Session s(1, "alice@example.org/a");
    router.sessions().add(s);
    std::vector<Availability> previous;
    std::vector<Availability> seen;
    auto hook =
        router.hooks().add(router::Event::PresenceBroadcast, 10, [&](router::StanzaContext& c) {
            previous.push_back(c.previous);
            seen.push_back(c.origin->availability());
            return HookResult::Pass;
        });

    CHECK_FALSE(s.availability().available);
    router.route(presence("alice@example.org/a", {}, "5"), &s);
    CHECK(s.availability().available);
    CHECK(s.availability().priority == 5);
    CHECK(s.availability().deliverable());

    router.route(presence("alice@example.org/a", {}, "-1"), &s);
    CHECK(s.availability().priority == -1);
    CHECK_FALSE(s.availability().deliverable());

    // RFC 6121 §4.7.2.3: not an integer from -128 to 127 counts as 0.
    router.route(presence("alice@example.org/a", {}, "300"), &s);
    CHECK(s.availability().priority == 0);
    router.route(presence("alice@example.org/a", {}, "high"), &s);
    CHECK(s.availability().priority == 0);

    router.route(presence("alice@example.org/a", "unavailable"), &s);
    CHECK_FALSE(s.availability().available);
    CHECK_FALSE(s.availability().deliverable());

    // Handlers see the new state on the session and the old one in the context.
    REQUIRE(previous.size() == 5);
    CHECK_FALSE(previous[0].available);
    CHECK(seen[0].available);
    CHECK(previous[1].priority == 5);
    CHECK(seen[1].priority == -1);
    CHECK(previous[4].available);
    CHECK_FALSE(seen[4].available);
    router.sessions().remove(s);
}
