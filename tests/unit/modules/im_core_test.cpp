#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "modules/blocking.h"
#include "modules/offline_codec.h"
#include "router/router.h"
#include "stanza/delay.h"
#include "stanza/ns.h"
#include "xml/serializer.h"

using namespace corvid;
using stanza::Jid;

namespace {

Jid makeJid(std::string_view s) {
    return *Jid::parse(s);
}

struct FakeSession final : router::LocalSession {
    FakeSession(router::SessionId sid, std::string_view j) : id_(sid), jid_(makeJid(j)) {}
    router::SessionId id() const override { return id_; }
    const Jid& jid() const override { return jid_; }
    const std::string& peerAddress() const override { return address_; }
    void deliver(const xml::Element& stanza) override { received.push_back(stanza); }
    void terminate(stanza::StreamCondition, std::string_view) override {}
    router::SessionId id_;
    Jid jid_;
    std::string address_ = "127.0.0.1";
    std::vector<xml::Element> received;
};

}  // namespace

TEST_CASE("stored stanzas: encode and decode keep the stanza", "[modules]") {
    xml::Element m("message", std::string(stanza::ns::kClient));
    m.setAttr("from", "romeo@example.net/orchard");
    m.setAttr("to", "juliet@example.com");
    m.setAttr("type", "chat");
    m.setAttr("lang", "en", xml::kXmlNs);
    m.addTextChild("body", "Wherefore art thou? <&> '\"");
    m.addChild("active", stanza::ns::kChatStates);
    m.addChild(stanza::delayElement("example.com", std::chrono::system_clock::now()));

    const std::string text = modules::encodeStoredStanza(m);
    auto back = modules::decodeStoredStanza(text);
    REQUIRE(back);
    CHECK(xml::toString(*back) == xml::toString(m));
    CHECK(back->childText("body") == "Wherefore art thou? <&> '\"");
    CHECK(back->attr("lang", xml::kXmlNs) == "en");

    CHECK(!modules::decodeStoredStanza(""));
    CHECK(!modules::decodeStoredStanza("<message xmlns='jabber:client'>"));
    CHECK(!modules::decodeStoredStanza("<!DOCTYPE x><message/>"));
    CHECK(!modules::decodeStoredStanza("not xml"));
}

TEST_CASE("XEP-0082 timestamps for delay stamps", "[modules]") {
    using namespace std::chrono;
    const auto t = system_clock::time_point(milliseconds(1700000000123LL));
    CHECK(stanza::xmppTimestamp(t) == "2023-11-14T22:13:20.123Z");
    CHECK(stanza::xmppTimestamp(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
    auto delay = stanza::delayElement("example.com", t);
    CHECK(delay.is("delay", stanza::ns::kDelay));
    CHECK(delay.attr("from") == "example.com");
    CHECK(delay.attr("stamp") == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("blocklist entries match like XEP-0016 items", "[modules]") {
    using modules::blockEntryMatches;
    const Jid full = makeJid("romeo@example.net/orchard");
    CHECK(blockEntryMatches(makeJid("romeo@example.net/orchard"), full));
    CHECK(blockEntryMatches(makeJid("romeo@example.net"), full));
    CHECK(blockEntryMatches(makeJid("example.net/orchard"), full));
    CHECK(blockEntryMatches(makeJid("example.net"), full));
    CHECK(!blockEntryMatches(makeJid("romeo@example.net/balcony"), full));
    CHECK(!blockEntryMatches(makeJid("example.net/balcony"), full));
    CHECK(!blockEntryMatches(makeJid("juliet@example.net"), full));
    CHECK(!blockEntryMatches(makeJid("example.com"), full));
    CHECK(!blockEntryMatches(makeJid("sub.example.net"), full));
    // A bare JID is matched by bare and domain entries only.
    const Jid bare = makeJid("romeo@example.net");
    CHECK(blockEntryMatches(makeJid("romeo@example.net"), bare));
    CHECK(blockEntryMatches(makeJid("example.net"), bare));
    CHECK(!blockEntryMatches(makeJid("romeo@example.net/orchard"), bare));
    // The domain itself.
    CHECK(blockEntryMatches(makeJid("example.net"), makeJid("example.net")));
}

TEST_CASE("router: ToLocalAccount sees every stanza for a local account first", "[modules]") {
    router::Router r;
    r.addLocalDomain("example.org");
    FakeSession alice(1, "alice@example.org/a");
    FakeSession bob(2, "bob@example.org/b");
    r.sessions().add(alice);
    r.sessions().add(bob);
    for (FakeSession* s : {&alice, &bob}) {
        xml::Element presence("presence", std::string(stanza::ns::kClient));
        presence.setAttr("from", s->jid().full());
        r.route(std::move(presence), s);  // available
    }
    alice.received.clear();
    bob.received.clear();
    std::vector<std::string> seen;
    bool drop = false;
    auto hook = r.hooks().add(router::Event::ToLocalAccount, 100, [&](router::StanzaContext& c) {
        seen.push_back(c.to.full());
        return drop ? router::HookResult::Handled : router::HookResult::Pass;
    });
    auto message = [](std::string_view to) {
        xml::Element m("message", std::string(stanza::ns::kClient));
        m.setAttr("from", "alice@example.org/a");
        m.setAttr("to", std::string(to));
        m.setAttr("type", "chat");
        m.addTextChild("body", "hi");
        return m;
    };
    r.route(message("bob@example.org"), &alice);
    r.route(message("bob@example.org/b"), &alice);
    r.route(message("bob@example.org/gone"), &alice);  // falls back to the bare JID: seen once
    CHECK(seen ==
          std::vector<std::string>{"bob@example.org", "bob@example.org/b", "bob@example.org/gone"});
    CHECK(bob.received.size() == 3);
    drop = true;
    r.route(message("bob@example.org"), &alice);
    CHECK(bob.received.size() == 3);
    drop = false;
    // Not for the server itself.
    xml::Element iq("iq", std::string(stanza::ns::kClient));
    iq.setAttr("from", "alice@example.org/a");
    iq.setAttr("to", "example.org");
    iq.setAttr("type", "get");
    iq.setAttr("id", "p");
    iq.addChild("ping", stanza::ns::kPing);
    r.route(std::move(iq), &alice);
    // Only the error for alice (no ping handler here) went through it, not the iq itself.
    REQUIRE(seen.size() == 5);
    CHECK(seen.back() == "alice@example.org/a");
    REQUIRE(alice.received.size() == 1);
    CHECK(alice.received[0].attr("type") == "error");
    r.sessions().remove(alice);
    r.sessions().remove(bob);
}
