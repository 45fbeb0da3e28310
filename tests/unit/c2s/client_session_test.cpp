// The bound client session over a fake transport: what it checks and stamps on the way in, and
// how it leaves and rejoins transports (what XEP-0198 resumption will use).

#include "c2s/client_session.h"

#include <event2/event.h>

#include <catch2/catch.hpp>

#include <memory>
#include <set>
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
    const c2s::SmSettings& smSettings() override { return sm; }
    bool stopping() const override { return false; }
    void resumable(const std::string& id, router::SessionId) override { resumeIds.insert(id); }
    void notResumable(const std::string& id) override { resumeIds.erase(id); }
    void sessionEnded(router::SessionId id) override { ended.push_back(id); }

    c2s::SmSettings sm{true, 60, 10};
    std::set<std::string> resumeIds;

    std::unique_ptr<ClientSession> bind(FakeTransport& t,
                                        std::string_view jid = "alice@example.org/phone") {
        auto s = std::make_unique<ClientSession>(*this, 7, *Jid::parse(jid), t);
        routerInstance.sessions().add(*s);
        s->announce();
        return s;
    }
    /// The session sends its initial presence (the router then counts it available).
    void makeAvailable(ClientSession& s, FakeTransport& t) {
        xml::Element presence("presence", std::string(stanza::ns::kClient));
        presence.setAttr("from", s.jid().full());
        routerInstance.route(std::move(presence), &s);
        REQUIRE(s.availability().available);
        t.sent.clear();  // the presence reflected to the session itself
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
        "urn:xmpp:csi:0", "active", [&](router::LocalSession& s, const xml::Element&) {
            CHECK(s.id() == 7);
            ++handled;
        });
    alice->fromClient(xml::Element("active", "urn:xmpp:csi:0"));
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
    w.makeAvailable(*alice, t);
    alice->transportGone();
    CHECK(alice->ended());
    CHECK(w.count(SessionEvent::Detached) == 0);
    CHECK(w.count(SessionEvent::Unavailable) == 1);
    CHECK(w.count(SessionEvent::Closed) == 1);
    CHECK(t.left == 1);
}

xml::Element smNonza(std::string name, std::string_view h = {}) {
    xml::Element e(std::move(name), std::string(c2s::kSmNs));
    if (!h.empty()) {
        e.setAttr("h", std::string(h));
    }
    return e;
}

xml::Element enableWithResume() {
    xml::Element e = smNonza("enable");
    e.setAttr("resume", "true");
    return e;
}

xml::Element chat(std::string_view to, std::string_view body) {
    xml::Element m = stanzaFrom("message", "bob@example.org/pc", to);
    m.setAttr("type", "chat");
    m.addTextChild("body", std::string(body));
    return m;
}

TEST_CASE("stream management counts both ways and answers <r/>", "[c2s][sm]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    alice->fromClient(enableWithResume());
    REQUIRE(t.sent.size() == 1);
    CHECK(t.sent[0].name() == "enabled");
    CHECK(t.sent[0].attr("resume") == "true");
    CHECK(t.sent[0].attr("id").size() >= 16);
    CHECK(w.resumeIds.count(std::string(t.sent[0].attr("id"))) == 1);

    // Two stanzas in, one of them refused (an iq without id): both count (XEP-0198 §4).
    alice->fromClient(stanzaFrom("presence", "", ""));
    xml::Element bad = stanzaFrom("iq", "", "example.org");
    bad.setAttr("type", "get");
    alice->fromClient(std::move(bad));
    alice->fromClient(smNonza("r"));
    const xml::Element& a = t.sent.back();
    CHECK(a.name() == "a");
    CHECK(a.attr("h") == "2");

    // What the session sent so far (the reflected presence, the iq error) is unacknowledged too.
    const std::size_t before = alice->smUnacked();
    CHECK(before == 2);
    alice->deliver(chat("alice@example.org/phone", "one"));
    alice->deliver(chat("alice@example.org/phone", "two"));
    CHECK(alice->smUnacked() == 4);
    alice->fromClient(smNonza("a", "3"));
    CHECK(alice->smUnacked() == 1);
    SECTION("acknowledging what was never sent is an error") {
        alice->fromClient(smNonza("a", "5"));  // 4 were sent
        CHECK(t.closedWith == StreamCondition::UndefinedCondition);
        CHECK(alice->ended());
    }
    SECTION("an h that is not a number is an error") {
        alice->fromClient(smNonza("a", "x1"));
        CHECK(t.closedWith == StreamCondition::InvalidXml);
    }
    alice->end();
}

TEST_CASE("h wraps around at 2^32", "[c2s][sm]") {
    c2s::SmQueue q;
    q.startAt(4294967294u);
    xml::Element m("message", std::string(stanza::ns::kClient));
    for (int i = 0; i < 4; ++i) {
        q.sent(m, {});
    }
    CHECK(q.outbound() == 2u);  // 4294967294 + 4, modulo 2^32
    CHECK(q.acknowledge(0u));   // two acknowledged, across the wrap
    CHECK(q.size() == 2);
    CHECK_FALSE(q.acknowledge(3u));  // one more than was sent
    CHECK(q.acknowledge(2u));
    CHECK(q.size() == 0);
}

TEST_CASE("a resumable session detaches, keeps what it is sent, and resumes elsewhere",
          "[c2s][sm]") {
    World w;
    FakeTransport first;
    auto alice = w.bind(first);
    alice->fromClient(enableWithResume());
    alice->deliver(chat("alice@example.org/phone", "before"));
    alice->fromClient(smNonza("a", "1"));
    alice->transportGone();
    CHECK_FALSE(alice->ended());
    CHECK_FALSE(alice->attached());
    CHECK(first.left == 1);
    CHECK(w.count(SessionEvent::Detached) == 1);
    CHECK(w.count(SessionEvent::Unavailable) == 0);  // presence stays until the timeout
    const Jid full = *Jid::parse("alice@example.org/phone");
    CHECK(w.routerInstance.sessions().find(full) == alice.get());

    alice->deliver(chat(full.full(), "while away"));
    CHECK(alice->smUnacked() == 1);
    CHECK(alice->droppedWhileDetached() == 0);

    FakeTransport second;
    FakeTransport third;
    SECTION("resuming with the client's h sends again what it did not get") {
        REQUIRE(alice->resume(second, 1));
        alice->resendUnacked();
        CHECK(w.count(SessionEvent::Resumed) == 1);
        REQUIRE(second.sent.size() >= 1);
        CHECK(second.sent[0].childText("body") == "while away");
        CHECK(first.sent.size() == 2);  // <enabled/> and "before": nothing new on the old one
    }
    SECTION("an h beyond what was sent refuses the resumption") {
        CHECK_FALSE(alice->resume(second, 7));
        CHECK_FALSE(alice->attached());
    }
    SECTION("resuming again moves the session and closes the older transport") {
        REQUIRE(alice->resume(second, 1));
        REQUIRE(alice->resume(third, 1));
        CHECK(second.closedWith == StreamCondition::Conflict);
        CHECK(alice->transport() == &third);
    }
    alice->end();
}

TEST_CASE("unacknowledged messages go where the account's messages go when the session ends",
          "[c2s][sm]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    FakeTransport t2;
    auto other = std::make_unique<ClientSession>(w, 9, *Jid::parse("alice@example.org/pc"), t2);
    w.routerInstance.sessions().add(*other);
    w.makeAvailable(*other, t2);
    alice->fromClient(enableWithResume());
    alice->deliver(chat("alice@example.org/phone", "lost?"));
    xml::Element presence = stanzaFrom("presence", "bob@example.org/pc", "alice@example.org/phone");
    alice->deliver(presence);
    alice->end();
    // RFC 6121 §8.5.3.2.1: a chat message for a resource that is gone goes to the bare JID.
    REQUIRE(t2.sent.size() == 1);
    CHECK(t2.sent[0].childText("body") == "lost?");
    CHECK(t2.sent[0].findChild("delay", stanza::ns::kDelay) != nullptr);
    other->end();
}

TEST_CASE("a client that does not acknowledge is closed past max_unacked", "[c2s][sm]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    alice->fromClient(enableWithResume());
    for (int i = 0; i <= 10; ++i) {
        alice->deliver(chat("alice@example.org/phone", "flood"));
    }
    CHECK(t.closedWith == StreamCondition::PolicyViolation);
    CHECK(alice->ended());
}

TEST_CASE("a clean end of the stream is not resumable", "[c2s][sm]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    alice->fromClient(enableWithResume());
    alice->clientClosedStream();
    alice->transportGone();
    CHECK(alice->ended());
    CHECK(w.resumeIds.empty());
}

TEST_CASE("an available session's end routes unavailable presence on its behalf", "[c2s]") {
    World w;
    FakeTransport t;
    auto alice = w.bind(t);
    FakeTransport t2;
    auto other = std::make_unique<ClientSession>(w, 9, *Jid::parse("alice@example.org/pc"), t2);
    w.routerInstance.sessions().add(*other);
    w.makeAvailable(*other, t2);
    w.makeAvailable(*alice, t);
    t2.sent.clear();  // alice's initial presence
    alice->end();
    // RFC 6121 §4.5.3: the account's other available resource hears it.
    REQUIRE(t2.sent.size() == 1);
    CHECK(t2.sent[0].name() == "presence");
    CHECK(t2.sent[0].attr("type") == "unavailable");
    CHECK(t2.sent[0].attr("from") == "alice@example.org/phone");
    other->end();
}
