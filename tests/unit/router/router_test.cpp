#include "router/router.h"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "stanza/ns.h"

using namespace corvid;
using corvid::router::HookResult;
using corvid::router::Router;
using corvid::stanza::Jid;

namespace {

/// A session that records what it is given.
struct FakeSession final : router::LocalSession {
    FakeSession(router::SessionId sid, std::string_view jid) : id_(sid), jid_(*Jid::parse(jid)) {}
    router::SessionId id() const override { return id_; }
    const Jid& jid() const override { return jid_; }
    const std::string& peerAddress() const override { return address_; }
    void deliver(const xml::Element& stanza) override { received.push_back(stanza); }
    void terminate(stanza::StreamCondition, std::string_view) override { terminated = true; }

    router::SessionId id_;
    Jid jid_;
    std::string address_ = "127.0.0.1";
    std::vector<xml::Element> received;
    bool terminated = false;
};

xml::Element stanzaOf(std::string name, std::string_view from, std::string_view to,
                      std::string_view type = {}) {
    xml::Element e(std::move(name), std::string(stanza::ns::kClient));
    e.setAttr("from", std::string(from));
    if (!to.empty()) {
        e.setAttr("to", std::string(to));
    }
    if (!type.empty()) {
        e.setAttr("type", std::string(type));
    }
    e.setAttr("id", "x1");
    return e;
}

xml::Element message(std::string_view from, std::string_view to, std::string_view type = "chat") {
    xml::Element m = stanzaOf("message", from, to, type);
    m.addTextChild("body", "hello");
    return m;
}

std::string errorCondition(const xml::Element& e) {
    const xml::Element* error = e.findChild("error");
    if (error == nullptr) {
        return "";
    }
    const xml::Element* cond = error->findChildNs(stanza::ns::kStanzas);
    return cond ? cond->name() : "";
}

struct World {
    Router router;
    std::vector<std::unique_ptr<FakeSession>> sessions;
    World() { router.addLocalDomain("example.org"); }
    /// A bound session; available (it sent its initial presence, with `priority`) unless told.
    FakeSession& connect(std::string_view jid, int priority = 0, bool available = true) {
        auto s = std::make_unique<FakeSession>(sessions.size() + 1, jid);
        router.sessions().add(*s);
        sessions.push_back(std::move(s));
        FakeSession& session = *sessions.back();
        if (available) {
            xml::Element presence = stanzaOf("presence", jid, "");
            presence.addTextChild("priority", std::to_string(priority));
            router.route(std::move(presence), &session);
            for (auto& other : sessions) {
                other->received.clear();  // the reflected presence
            }
        }
        return session;
    }
};

}  // namespace

TEST_CASE("a message to a full JID reaches that resource only", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/phone");
    auto& bob1 = w.connect("bob@example.org/laptop");
    auto& bob2 = w.connect("bob@example.org/phone");
    w.router.route(message("alice@example.org/phone", "bob@example.org/phone"), &alice);
    CHECK(bob1.received.empty());
    REQUIRE(bob2.received.size() == 1);
    CHECK(bob2.received[0].childText("body") == "hello");
}

TEST_CASE("a chat message to a bare JID goes to the highest non-negative priority", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    auto& low = w.connect("bob@example.org/low", 1);
    auto& high1 = w.connect("bob@example.org/high1", 5);
    auto& high2 = w.connect("bob@example.org/high2", 5);
    auto& negative = w.connect("bob@example.org/neg", -1);
    w.router.route(message("alice@example.org/a", "bob@example.org"), &alice);
    CHECK(low.received.empty());
    CHECK(negative.received.empty());
    CHECK(high1.received.size() == 1);
    CHECK(high2.received.size() == 1);

    SECTION("headline goes to every non-negative resource") {
        w.router.route(message("alice@example.org/a", "bob@example.org", "headline"), &alice);
        CHECK(low.received.size() == 1);
        CHECK(high1.received.size() == 2);
        CHECK(negative.received.empty());
    }
    SECTION("call signalling (XEP-0353) goes to every non-negative resource") {
        for (std::string_view type : {"chat", "normal", ""}) {
            xml::Element propose =
                stanzaOf("message", "alice@example.org/a", "bob@example.org", type);
            propose.addChild("propose", stanza::ns::kJingleMessage).setAttr("id", "call");
            w.router.route(std::move(propose), &alice);
        }
        CHECK(low.received.size() == 3);
        CHECK(high1.received.size() == 4);
        CHECK(high2.received.size() == 4);
        CHECK(negative.received.empty());
        CHECK(low.received.back().findChild("propose", stanza::ns::kJingleMessage) != nullptr);
    }
}

TEST_CASE("unknown resource: chat falls back to the bare JID, iq gets an error", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    auto& bob = w.connect("bob@example.org/laptop");
    w.router.route(message("alice@example.org/a", "bob@example.org/gone"), &alice);
    CHECK(bob.received.size() == 1);

    xml::Element iq = stanzaOf("iq", "alice@example.org/a", "bob@example.org/gone", "get");
    iq.addChild("query", "jabber:iq:version");
    w.router.route(std::move(iq), &alice);
    REQUIRE(alice.received.size() == 1);
    CHECK(alice.received[0].attr("type") == "error");
    CHECK(errorCondition(alice.received[0]) == "service-unavailable");

    SECTION("headline to an unknown resource is dropped silently") {
        w.router.route(message("alice@example.org/a", "bob@example.org/gone", "headline"), &alice);
        CHECK(bob.received.size() == 1);
        CHECK(alice.received.size() == 1);
    }
}

TEST_CASE("an iq with no handler gets service-unavailable; errors are never answered", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    xml::Element iq = stanzaOf("iq", "alice@example.org/a", "example.org", "get");
    iq.addChild("query", "urn:example:unknown");
    w.router.route(std::move(iq), &alice);
    REQUIRE(alice.received.size() == 1);
    CHECK(errorCondition(alice.received[0]) == "service-unavailable");
    CHECK(alice.received[0].attr("from") == "example.org");

    xml::Element err = stanzaOf("iq", "alice@example.org/a", "example.org", "error");
    w.router.route(std::move(err), &alice);
    xml::Element errMsg = message("alice@example.org/a", "nobody@example.org", "error");
    w.router.route(std::move(errMsg), &alice);
    CHECK(alice.received.size() == 1);
}

TEST_CASE("iq handlers are found by payload namespace and target", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    int calls = 0;
    auto handle = w.router.hooks().addIq(
        router::IqTarget::Host, "urn:xmpp:ping", "ping",
        [&](const xml::Element&, const Jid& from, const Jid& to, router::LocalSession* origin) {
            ++calls;
            CHECK(from.full() == "alice@example.org/a");
            CHECK(to.full() == "example.org");
            CHECK(origin == &alice);
        });
    xml::Element iq = stanzaOf("iq", "alice@example.org/a", "example.org", "get");
    iq.addChild("ping", "urn:xmpp:ping");
    w.router.route(xml::Element(iq), &alice);
    CHECK(calls == 1);
    handle.reset();  // unhooked: the next ping is unsupported
    w.router.route(std::move(iq), &alice);
    CHECK(calls == 1);
    REQUIRE(alice.received.size() == 1);
    CHECK(errorCondition(alice.received[0]) == "service-unavailable");
}

TEST_CASE("messages for an account with no resources go to the offline hook", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    w.connect("bob@example.org/away", -1);  // negative priority: never gets bare-JID messages
    SECTION("without a handler the sender learns service-unavailable") {
        w.router.route(message("alice@example.org/a", "bob@example.org"), &alice);
        REQUIRE(alice.received.size() == 1);
        CHECK(errorCondition(alice.received[0]) == "service-unavailable");
    }
    SECTION("a handler can take it") {
        int stored = 0;
        auto h =
            w.router.hooks().add(router::Event::MessageOffline, 0, [&](router::StanzaContext&) {
                ++stored;
                return HookResult::Handled;
            });
        w.router.route(message("alice@example.org/a", "bob@example.org"), &alice);
        CHECK(stored == 1);
        CHECK(alice.received.empty());
    }
}

TEST_CASE("remote domains without s2s bounce with remote-server-not-found", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    w.router.route(message("alice@example.org/a", "carol@elsewhere.example"), &alice);
    REQUIRE(alice.received.size() == 1);
    CHECK(errorCondition(alice.received[0]) == "remote-server-not-found");
}

TEST_CASE("a malformed 'to' is answered with jid-malformed", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    w.router.route(message("alice@example.org/a", "bad@@example.org"), &alice);
    REQUIRE(alice.received.size() == 1);
    CHECK(errorCondition(alice.received[0]) == "jid-malformed");
}

TEST_CASE("hooks run by priority and the first Handled stops the chain", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    auto& bob = w.connect("bob@example.org/b");
    std::vector<int> order;
    auto low = w.router.hooks().add(router::Event::MessageToBare, 1, [&](router::StanzaContext&) {
        order.push_back(1);
        return HookResult::Pass;
    });
    auto high = w.router.hooks().add(router::Event::MessageToBare, 10, [&](router::StanzaContext&) {
        order.push_back(10);
        return HookResult::Pass;
    });
    w.router.route(message("alice@example.org/a", "bob@example.org"), &alice);
    CHECK(order == std::vector<int>{10, 1});
    CHECK(bob.received.size() == 1);
    auto stop = w.router.hooks().add(router::Event::MessageToBare, 5, [&](router::StanzaContext&) {
        order.push_back(5);
        return HookResult::Handled;
    });
    w.router.route(message("alice@example.org/a", "bob@example.org"), &alice);
    CHECK(order == std::vector<int>{10, 1, 10, 5});
    CHECK(bob.received.size() == 1);
}

TEST_CASE("presence without 'to' updates priority and reaches the account's resources",
          "[router]") {
    World w;
    auto& a1 = w.connect("alice@example.org/one", 0, false);
    auto& a2 = w.connect("alice@example.org/two", 0, true);
    xml::Element p = stanzaOf("presence", "alice@example.org/one", "");
    p.addTextChild("priority", "7");
    w.router.route(std::move(p), &a1);
    CHECK(a1.availability().available);
    CHECK(a1.availability().priority == 7);
    CHECK(a1.received.size() == 1);
    CHECK(a2.received.size() == 1);
}

TEST_CASE("the registry finds an account's other resources after the first one leaves",
          "[router]") {
    // The registry's key for an account views the JID of one of its sessions; that session
    // leaving first must not leave the key dangling.
    router::SessionRegistry registry;
    auto first = std::make_unique<FakeSession>(1, "alice@example.org/one");
    auto second = std::make_unique<FakeSession>(2, "alice@example.org/two");
    FakeSession third(3, "alice@example.org/three");
    registry.add(*first);
    registry.add(*second);
    registry.add(third);
    const Jid bare = *Jid::parse("alice@example.org");
    CHECK(registry.resources(bare).size() == 3);
    registry.remove(*first);
    first.reset();  // its JID's memory is gone
    CHECK(registry.resources(bare) == std::vector<router::LocalSession*>{second.get(), &third});
    CHECK(registry.find(*Jid::parse("alice@example.org/two")) == second.get());
    CHECK(registry.find(*Jid::parse("alice@example.org/one")) == nullptr);
    registry.remove(*second);
    second.reset();
    CHECK(registry.resources(bare) == std::vector<router::LocalSession*>{&third});
    CHECK(registry.find(*Jid::parse("alice@example.org/three")) == &third);
    // A full JID names no account.
    CHECK(registry.resources(*Jid::parse("alice@example.org/three")).empty());
    registry.remove(third);
    CHECK(registry.resources(bare).empty());
    CHECK(registry.size() == 0);
}

TEST_CASE("a domain service takes every stanza to its domain and the entities there", "[router]") {
    World w;
    auto& alice = w.connect("alice@example.org/a");
    std::vector<std::pair<std::string, std::string>> seen;  // (to, from) as the service saw them
    router::LocalSession* seenOrigin = nullptr;
    {
        router::HookHandle handle = w.router.addDomainService(
            "conference.example.org", [&](xml::Element&& stanza, const Jid& from, const Jid& to,
                                          router::LocalSession* origin) {
                CHECK(stanza.attr("to") == to.full());
                seen.emplace_back(to.full(), from.full());
                seenOrigin = origin;
            });
        CHECK(w.router.servesDomain("conference.example.org"));
        CHECK_FALSE(w.router.isLocalDomain("conference.example.org"));
        CHECK(w.router.serviceDomains() == std::vector<std::string>{"conference.example.org"});
        w.router.route(
            stanzaOf("presence", "alice@example.org/a", "room@conference.example.org/Alice"),
            &alice);
        w.router.route(message("alice@example.org/a", "room@conference.example.org", "groupchat"),
                       &alice);
        w.router.route(stanzaOf("iq", "alice@example.org/a", "conference.example.org", "get"),
                       &alice);
        REQUIRE(seen.size() == 3);
        CHECK(seen[0].first == "room@conference.example.org/Alice");
        CHECK(seen[0].second == "alice@example.org/a");
        CHECK(seen[2].first == "conference.example.org");
        CHECK(seenOrigin == &alice);
        CHECK(alice.received.empty());
    }
    // Once the service is gone the domain is remote again: nobody takes it here.
    CHECK_FALSE(w.router.servesDomain("conference.example.org"));
    w.router.route(message("alice@example.org/a", "room@conference.example.org", "groupchat"),
                   &alice);
    REQUIRE(alice.received.size() == 1);
    CHECK(errorCondition(alice.received[0]) == "remote-server-not-found");
    CHECK(seen.size() == 3);
}
