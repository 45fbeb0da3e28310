// The bound client session over a fake transport: what it checks and stamps on the way in, and
// how it leaves and rejoins transports (what XEP-0198 resumption will use).

#include "c2s/client_session.h"

#include <event2/event.h>

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "stanza/ns.h"
#include "util/c_handles.h"

using namespace corvid;
using c2s::ClientSession;
using router::SessionEvent;
using stanza::Jid;
using stanza::StreamCondition;

namespace {

struct FakeTransport final : c2s::Transport {
    void send(const xml::Element& element) override { sent.push_back(element); }
    void closeWithError(StreamCondition condition, std::string_view text) override {
        closedWith = condition;
        closeText = std::string(text);
    }
    std::size_t outputPending() const override { return 0; }
    std::size_t outputLimit() const override { return 1 << 20; }
    const std::string& peerAddress() const override { return address; }
    void sessionLeft() override { ++left; }

    std::string address = "192.0.2.1";
    std::vector<xml::Element> sent;
    std::optional<StreamCondition> closedWith;
    std::string closeText;
    int left = 0;
};

struct World final : c2s::SessionHost {
    util::EventBasePtr loop{event_base_new()};
    router::Router routerInstance;
    std::vector<router::SessionId> ended;
    std::vector<std::pair<SessionEvent, router::SessionId>> events;
    std::vector<router::HookHandle> hooks;

    World() {
        routerInstance.addLocalDomain("example.org");
        for (SessionEvent e : {SessionEvent::Bound, SessionEvent::Detached, SessionEvent::Resumed,
                               SessionEvent::Unavailable, SessionEvent::Closed}) {
            hooks.push_back(routerInstance.hooks().onSession(
                e, [this, e](router::LocalSession& s) { events.emplace_back(e, s.id()); }));
        }
    }
    event_base* base() override { return loop.get(); }
    router::Router& router() override { return routerInstance; }
    void sessionEnded(router::SessionId id) override { ended.push_back(id); }

    std::unique_ptr<ClientSession> bind(FakeTransport& t,
                                        std::string_view jid = "alice@example.org/phone") {
        auto s = std::make_unique<ClientSession>(*this, 7, *Jid::parse(jid), t);
        routerInstance.sessions().add(*s);
        s->announce();
        return s;
    }
    int count(SessionEvent e) const {
        return static_cast<int>(
            std::count_if(events.begin(), events.end(), [e](auto& p) { return p.first == e; }));
    }
};

xml::Element stanzaFrom(std::string name, std::string_view from, std::string_view to) {
    xml::Element e(std::move(name), std::string(stanza::ns::kClient));
    if (!from.empty()) {
        e.setAttr("from", std::string(from));
    }
    if (!to.empty()) {
        e.setAttr("to", std::string(to));
    }
    return e;
}

std::string conditionOf(const xml::Element& e) {
    const xml::Element* error = e.findChild("error");
    const xml::Element* cond = error ? error->findChildNs(stanza::ns::kStanzas) : nullptr;
    return cond ? cond->name() : "";
}

}  // namespace

TEST_CASE("the session stamps its full JID on what the client sends", "[c2s]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    FakeTransport tb;
    auto bob = std::make_unique<ClientSession>(w, 8, *Jid::parse("bob@example.org/pc"), tb);
    w.routerInstance.sessions().add(*bob);

    xml::Element m = stanzaFrom("message", "", "bob@example.org/pc");
    m.addTextChild("body", "hi");
    alice->fromClient(std::move(m));
    REQUIRE(tb.sent.size() == 1);
    CHECK(tb.sent[0].attr("from") == "alice@example.org/phone");

    SECTION("its bare JID as 'from' is accepted and made full") {
        xml::Element again = stanzaFrom("message", "alice@example.org", "bob@example.org/pc");
        alice->fromClient(std::move(again));
        REQUIRE(tb.sent.size() == 2);
        CHECK(tb.sent[1].attr("from") == "alice@example.org/phone");
    }
    SECTION("anybody else's JID ends the session with <invalid-from/>") {
        alice->fromClient(stanzaFrom("message", "bob@example.org/pc", "bob@example.org/pc"));
        CHECK(tb.sent.size() == 1);
        CHECK(t.closedWith == StreamCondition::InvalidFrom);
        CHECK(alice->ended());
        CHECK(w.ended == std::vector<router::SessionId>{7});
        CHECK(w.routerInstance.sessions().find(*Jid::parse("alice@example.org/phone")) == nullptr);
    }
    bob->end();
}

TEST_CASE("iq rules of RFC 6120 §8.2.3 are answered with bad-request", "[c2s]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    xml::Element noId = stanzaFrom("iq", "", "example.org");
    noId.setAttr("type", "get");
    noId.addChild("ping", "urn:xmpp:ping");
    alice->fromClient(std::move(noId));
    xml::Element twoPayloads = stanzaFrom("iq", "", "example.org");
    twoPayloads.setAttr("type", "get");
    twoPayloads.setAttr("id", "2");
    twoPayloads.addChild("a", "urn:x");
    twoPayloads.addChild("b", "urn:x");
    alice->fromClient(std::move(twoPayloads));
    REQUIRE(t.sent.size() == 2);
    CHECK(conditionOf(t.sent[0]) == "bad-request");
    CHECK(conditionOf(t.sent[1]) == "bad-request");
    CHECK_FALSE(alice->ended());
}

TEST_CASE("nonzas go to their handler; an unknown one ends the stream", "[c2s]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    int handled = 0;
    auto handle = w.routerInstance.hooks().addNonza(
        "urn:xmpp:sm:3", "r", [&](router::LocalSession& s, const xml::Element&) {
            CHECK(s.id() == 7);
            ++handled;
        });
    alice->fromClient(xml::Element("r", "urn:xmpp:sm:3"));
    CHECK(handled == 1);
    CHECK_FALSE(t.closedWith);
    alice->fromClient(xml::Element("bogus", "urn:example"));
    CHECK(t.closedWith == StreamCondition::UnsupportedStanzaType);
    CHECK(alice->ended());
}

TEST_CASE("without stream management the session ends with its transport", "[c2s]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    alice->available = true;
    alice->transportGone();
    CHECK(alice->ended());
    CHECK(w.count(SessionEvent::Detached) == 0);
    CHECK(w.count(SessionEvent::Unavailable) == 1);
    CHECK(w.count(SessionEvent::Closed) == 1);
    CHECK(t.left == 1);
}

TEST_CASE("a kept session detaches, stays routable, and resumes on another transport", "[c2s]") {
    World w;
    FakeTransport first;
    auto alice = w.bind(first);
    alice->setKeepWhenDetached(true);
    alice->transportGone();
    CHECK_FALSE(alice->ended());
    CHECK_FALSE(alice->attached());
    CHECK(first.left == 1);
    CHECK(w.count(SessionEvent::Detached) == 1);
    const Jid full = *Jid::parse("alice@example.org/phone");
    CHECK(w.routerInstance.sessions().find(full) == alice.get());

    // Nothing keeps stanzas yet (no delivery filter): counted, not sent anywhere.
    alice->deliver(stanzaFrom("message", "bob@example.org/pc", full.full()));
    CHECK(alice->droppedWhileDetached() == 1);
    CHECK(first.sent.empty());

    FakeTransport second;
    FakeTransport third;
    alice->attach(second);
    CHECK(w.count(SessionEvent::Resumed) == 1);
    alice->deliver(stanzaFrom("message", "bob@example.org/pc", full.full()));
    CHECK(second.sent.size() == 1);
    CHECK(first.sent.empty());

    SECTION("attaching to a third transport leaves the second") {
        alice->attach(third);
        CHECK(second.left == 1);
        CHECK(alice->transport() == &third);
    }
    SECTION("ending it leaves its transport and tells everybody once") {
        alice->end();
        alice->end();
        CHECK(second.left == 1);
        CHECK(w.count(SessionEvent::Closed) == 1);
        CHECK(w.ended.size() == 1);
    }
    alice->end();  // before the transports it may point to go out of scope
}

TEST_CASE("an available session's end routes unavailable presence on its behalf", "[c2s]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    FakeTransport t2;
    auto other = std::make_unique<ClientSession>(w, 9, *Jid::parse("alice@example.org/pc"), t2);
    w.routerInstance.sessions().add(*other);
    other->available = true;
    alice->available = true;
    alice->end();
    // RFC 6121 §4.5.3: the account's other available resource hears it.
    REQUIRE(t2.sent.size() == 1);
    CHECK(t2.sent[0].name() == "presence");
    CHECK(t2.sent[0].attr("type") == "unavailable");
    CHECK(t2.sent[0].attr("from") == "alice@example.org/phone");
    other->end();
}
