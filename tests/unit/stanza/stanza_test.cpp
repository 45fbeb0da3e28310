#include "stanza/stanza.h"

#include <catch2/catch.hpp>

#include "stanza/ns.h"
#include "stanza_test_support.h"

using namespace corvid;
using namespace corvid::stanza;
using corvid::stanza::test::parseStanza;

TEST_CASE("stanza kind detection", "[stanza]") {
    for (std::string_view streamNs : {ns::kClient, ns::kServer, ns::kComponentAccept}) {
        CHECK(stanzaKind(parseStanza("<message/>", streamNs)) == StanzaKind::Message);
        CHECK(stanzaKind(parseStanza("<presence/>", streamNs)) == StanzaKind::Presence);
        CHECK(stanzaKind(parseStanza("<iq/>", streamNs)) == StanzaKind::Iq);
    }
    CHECK(stanzaKind(parseStanza("<iq xmlns='urn:example'/>")) == StanzaKind::Other);
    CHECK(stanzaKind(parseStanza("<enable xmlns='urn:xmpp:sm:3'/>")) == StanzaKind::Other);
    CHECK(stanzaKind(parseStanza("<db:result xmlns:db='jabber:server:dialback'/>", ns::kServer)) ==
          StanzaKind::Other);
    CHECK(stanzaKind(parseStanza("<messages/>")) == StanzaKind::Other);
    CHECK(stanzaKind(xml::Element("message", "")) == StanzaKind::Other);
    CHECK(StanzaView(parseStanza("<presence/>")).kind() == StanzaKind::Presence);
    CHECK(toString(StanzaKind::Iq) == "iq");
    CHECK(isStanzaNamespace(ns::kServer));
    CHECK_FALSE(isStanzaNamespace(ns::kStreams));
}

TEST_CASE("iq types", "[stanza]") {
    auto type = [](std::string_view xml) { return IqView(parseStanza(xml)).type(); };
    CHECK(type("<iq type='get'/>") == IqType::Get);
    CHECK(type("<iq type='set'/>") == IqType::Set);
    CHECK(type("<iq type='result'/>") == IqType::Result);
    CHECK(type("<iq type='error'/>") == IqType::Error);
    CHECK(type("<iq/>") == IqType::Invalid);
    CHECK(type("<iq type='GET'/>") == IqType::Invalid);
    CHECK(type("<iq type=''/>") == IqType::Invalid);
    CHECK(toString(IqType::Result) == "result");
}

TEST_CASE("message types", "[stanza]") {
    auto view = [](const xml::Element& e) { return MessageView(e); };
    auto m = parseStanza("<message/>");
    CHECK(view(m).type() == MessageType::Normal);
    CHECK(view(m).typeIsKnown());
    for (auto [text, t] :
         {std::pair{"normal", MessageType::Normal}, std::pair{"chat", MessageType::Chat},
          std::pair{"groupchat", MessageType::Groupchat},
          std::pair{"headline", MessageType::Headline}, std::pair{"error", MessageType::Error}}) {
        auto e = parseStanza("<message type='" + std::string(text) + "'/>");
        CHECK(view(e).type() == t);
        CHECK(view(e).typeIsKnown());
        CHECK(toString(t) == text);
    }
    // RFC 6121 §5.2.2: an unknown type is treated as normal, but stays detectable.
    auto odd = parseStanza("<message type='chatty'/>");
    CHECK(view(odd).type() == MessageType::Normal);
    CHECK_FALSE(view(odd).typeIsKnown());

    auto body = parseStanza("<message><thread>t</thread><body>hi &amp; bye</body></message>");
    CHECK(view(body).body() == "hi & bye");
    CHECK(view(body).hasBody());
    CHECK_FALSE(view(m).hasBody());
    CHECK(view(m).body().empty());
}

TEST_CASE("presence types, show, priority, status", "[stanza]") {
    auto view = [](const xml::Element& e) { return PresenceView(e); };
    auto p = parseStanza("<presence/>");
    CHECK(view(p).type() == PresenceType::Available);
    CHECK(view(p).show() == PresenceShow::None);
    CHECK(view(p).priority() == 0);
    for (auto [text, t] :
         {std::pair{"unavailable", PresenceType::Unavailable},
          std::pair{"subscribe", PresenceType::Subscribe},
          std::pair{"subscribed", PresenceType::Subscribed},
          std::pair{"unsubscribe", PresenceType::Unsubscribe},
          std::pair{"unsubscribed", PresenceType::Unsubscribed},
          std::pair{"probe", PresenceType::Probe}, std::pair{"error", PresenceType::Error}}) {
        auto e = parseStanza("<presence type='" + std::string(text) + "'/>");
        CHECK(view(e).type() == t);
        CHECK(toString(t) == text);
    }
    CHECK(view(parseStanza("<presence type='available'/>")).type() == PresenceType::Invalid);
    CHECK(view(parseStanza("<presence type='bogus'/>")).type() == PresenceType::Invalid);
    CHECK(view(parseStanza("<presence type=''/>")).type() == PresenceType::Invalid);

    auto full = parseStanza(
        "<presence><show>dnd</show><status>busy</status><priority> -5 </priority></presence>");
    CHECK(view(full).show() == PresenceShow::Dnd);
    CHECK(view(full).status() == "busy");
    CHECK(view(full).priority() == -5);
    auto showOf = [&](std::string_view s) {
        return view(parseStanza("<presence><show>" + std::string(s) + "</show></presence>")).show();
    };
    CHECK(showOf("away") == PresenceShow::Away);
    CHECK(showOf("chat") == PresenceShow::Chat);
    CHECK(showOf("xa") == PresenceShow::Xa);
    CHECK(showOf("online") == PresenceShow::Invalid);
    auto prio = [&](std::string_view s) {
        return view(parseStanza("<presence><priority>" + std::string(s) + "</priority></presence>"))
            .priority();
    };
    CHECK(prio("127") == 127);
    CHECK(prio("-128") == -128);
    CHECK(prio("+3") == 3);
    CHECK(prio("128") == std::nullopt);
    CHECK(prio("-129") == std::nullopt);
    CHECK(prio("1.5") == std::nullopt);
    CHECK(prio("") == std::nullopt);
    CHECK(prio("+-1") == std::nullopt);
    CHECK(prio("ten") == std::nullopt);
}

TEST_CASE("id, to and from: absent, valid, invalid", "[stanza]") {
    auto e = parseStanza("<message id='m1' to='Juliet@Example.COM/Balcony' from='@bad'/>");
    StanzaView v(e);
    CHECK(v.hasId());
    CHECK(v.id() == "m1");
    CHECK(v.rawTo() == "Juliet@Example.COM/Balcony");

    JidAttr to = v.to();
    REQUIRE(to.has_value());
    REQUIRE(to->has_value());
    CHECK((*to)->full() == "juliet@example.com/Balcony");

    JidAttr from = v.from();
    REQUIRE_FALSE(from.has_value());
    CHECK(from.error().part == JidPart::Local);
    CHECK(from.error().code == JidErrorCode::Empty);

    auto bare = parseStanza("<presence/>");
    StanzaView b(bare);
    CHECK_FALSE(b.hasId());
    CHECK_FALSE(b.hasTo());
    JidAttr none = b.to();
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());
    CHECK(b.from().has_value());
    CHECK_FALSE(b.from()->has_value());
    // Present but empty is invalid, not absent.
    auto empty = parseStanza("<iq to=''/>");
    CHECK_FALSE(StanzaView(empty).to().has_value());

    auto lang = parseStanza("<message xml:lang='de'/>");
    CHECK(StanzaView(lang).lang() == "de");
    CHECK(StanzaView(parseStanza("<message type='error'/>")).isError());
}

TEST_CASE("StanzaRef changes the addressing", "[stanza]") {
    auto e = parseStanza("<message to='a@example.com' from='spoof@example.net'/>");
    StanzaRef ref(e);
    ref.setFrom(*Jid::parse("Romeo@Example.net/Orchard"));
    CHECK(e.attr("from") == "romeo@example.net/Orchard");
    ref.setTo(*Jid::parse("juliet@example.com"));
    CHECK(ref.rawTo() == "juliet@example.com");
    ref.setId("x1");
    CHECK(ref.id() == "x1");
    ref.removeTo();
    CHECK_FALSE(e.hasAttr("to"));
    CHECK(ref.to().has_value());
    CHECK_FALSE(ref.to()->has_value());
    ref.removeFrom();
    CHECK_FALSE(ref.hasFrom());
    ref.element().addTextChild("body", "x");
    CHECK(MessageView(ref.element()).body() == "x");
}

TEST_CASE("iq validity (RFC 6120 §8.2.3)", "[stanza]") {
    auto check = [](std::string_view xml) { return IqView(parseStanza(xml)).validate(); };
    auto problem = [&](std::string_view xml) {
        auto r = check(xml);
        REQUIRE_FALSE(r.has_value());
        return r.error();
    };
    CHECK(check("<iq id='1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>"));
    CHECK(check("<iq id='1' type='set'>\n  <query xmlns='jabber:iq:roster'/>\n</iq>"));
    CHECK(check("<iq id='' type='result'/>"));
    CHECK(check("<iq id='1' type='result'><query xmlns='jabber:iq:version'/></iq>"));
    CHECK(
        check("<iq id='1' type='error'><error type='cancel'>"
              "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    CHECK(problem("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>") == IqProblem::MissingId);
    CHECK(problem("<iq id='1'><ping xmlns='urn:xmpp:ping'/></iq>") == IqProblem::MissingType);
    CHECK(problem("<iq id='1' type='fetch'><a xmlns='x'/></iq>") == IqProblem::InvalidType);
    CHECK(problem("<iq id='1' type='get'/>") == IqProblem::GetSetPayloadCount);
    CHECK(problem("<iq id='1' type='get'>text only</iq>") == IqProblem::GetSetPayloadCount);
    CHECK(problem("<iq id='1' type='set'><a xmlns='x'/><b xmlns='x'/></iq>") ==
          IqProblem::GetSetPayloadCount);
    CHECK(problem("<iq id='1' type='result'><a xmlns='x'/><b xmlns='x'/></iq>") ==
          IqProblem::ResultPayloadCount);
    CHECK(problem("<iq id='1' type='error'/>") == IqProblem::MissingError);
    // An <error/> in some other namespace is not the stanza error.
    CHECK(problem("<iq id='1' type='error'><error xmlns='urn:example'/></iq>") ==
          IqProblem::MissingError);
    CHECK_FALSE(IqView(parseStanza("<iq id='1' type='get'/>")).isValid());
    CHECK(toString(IqProblem::MissingId).find("id") != std::string_view::npos);
}

TEST_CASE("iq payload", "[stanza]") {
    auto get = parseStanza("<iq id='1' type='get'> <query xmlns='jabber:iq:roster'/></iq>");
    const xml::Element* p = IqView(get).payload();
    REQUIRE(p != nullptr);
    CHECK(p->is("query", ns::kRoster));
    CHECK(IqView(parseStanza("<iq id='1' type='result'/>")).payload() == nullptr);
    // In an error reply the original payload comes back next to <error/>.
    auto err = parseStanza(
        "<iq id='1' type='error'><error type='cancel'/><query xmlns='jabber:iq:roster'/></iq>");
    REQUIRE(IqView(err).payload() != nullptr);
    CHECK(IqView(err).payload()->name() == "query");
}
