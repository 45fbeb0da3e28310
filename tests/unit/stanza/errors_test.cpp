#include "stanza/errors.h"

#include <catch2/catch.hpp>

#include <set>

#include "stanza/ns.h"
#include "stanza/stanza.h"
#include "stanza_test_support.h"
#include "xml/serializer.h"

using namespace corvid;
using namespace corvid::stanza;
using corvid::stanza::test::parseStanza;

TEST_CASE("stanza conditions: names both ways and default types", "[stanza]") {
    CHECK(kAllStanzaConditions.size() == 22);  // RFC 6120 §8.3.3.1 - §8.3.3.22
    std::set<std::string_view> names;
    for (StanzaCondition c : kAllStanzaConditions) {
        std::string_view name = toString(c);
        names.insert(name);
        REQUIRE(stanzaConditionFromString(name) == c);
    }
    CHECK(names.size() == 22);
    CHECK(toString(StanzaCondition::FeatureNotImplemented) == "feature-not-implemented");
    CHECK(toString(StanzaCondition::RemoteServerNotFound) == "remote-server-not-found");
    CHECK(stanzaConditionFromString("item-not-found") == StanzaCondition::ItemNotFound);
    CHECK_FALSE(stanzaConditionFromString("Item-Not-Found"));
    CHECK_FALSE(stanzaConditionFromString("invalid-from"));  // a stream condition
    CHECK_FALSE(stanzaConditionFromString(""));

    CHECK(defaultErrorType(StanzaCondition::BadRequest) == ErrorType::Modify);
    CHECK(defaultErrorType(StanzaCondition::Conflict) == ErrorType::Cancel);
    CHECK(defaultErrorType(StanzaCondition::Forbidden) == ErrorType::Auth);
    CHECK(defaultErrorType(StanzaCondition::JidMalformed) == ErrorType::Modify);
    CHECK(defaultErrorType(StanzaCondition::NotAuthorized) == ErrorType::Auth);
    CHECK(defaultErrorType(StanzaCondition::RecipientUnavailable) == ErrorType::Wait);
    CHECK(defaultErrorType(StanzaCondition::Redirect) == ErrorType::Modify);
    CHECK(defaultErrorType(StanzaCondition::RegistrationRequired) == ErrorType::Auth);
    CHECK(defaultErrorType(StanzaCondition::RemoteServerTimeout) == ErrorType::Wait);
    CHECK(defaultErrorType(StanzaCondition::ResourceConstraint) == ErrorType::Wait);
    CHECK(defaultErrorType(StanzaCondition::ServiceUnavailable) == ErrorType::Cancel);
    CHECK(defaultErrorType(StanzaCondition::SubscriptionRequired) == ErrorType::Auth);
    CHECK(defaultErrorType(StanzaCondition::UnexpectedRequest) == ErrorType::Wait);

    for (ErrorType t : {ErrorType::Auth, ErrorType::Cancel, ErrorType::Continue, ErrorType::Modify,
                        ErrorType::Wait}) {
        CHECK(errorTypeFromString(toString(t)) == t);
    }
    CHECK(toString(ErrorType::Continue) == "continue");
    CHECK_FALSE(errorTypeFromString("fatal"));
}

TEST_CASE("stream conditions: names both ways", "[stanza]") {
    CHECK(kAllStreamConditions.size() == 25);  // RFC 6120 §4.9.3.1 - §4.9.3.25
    std::set<std::string_view> names;
    for (StreamCondition c : kAllStreamConditions) {
        names.insert(toString(c));
        REQUIRE(streamConditionFromString(toString(c)) == c);
    }
    CHECK(names.size() == 25);
    CHECK(toString(StreamCondition::NotWellFormed) == "not-well-formed");
    CHECK(toString(StreamCondition::SeeOtherHost) == "see-other-host");
    CHECK(toString(StreamCondition::UnsupportedStanzaType) == "unsupported-stanza-type");
    CHECK_FALSE(streamConditionFromString("invalid-id"));  // RFC 3920 only
}

TEST_CASE("makeStanzaError builds the RFC 6120 §8.3.1 reply", "[stanza]") {
    auto iq = parseStanza(
        "<iq from='romeo@example.net/orchard' to='juliet@example.com' id='v1' type='get' "
        "xml:lang='en'><query xmlns='jabber:iq:version'/></iq>");
    xml::Element reply =
        makeStanzaError(iq, StanzaCondition::ServiceUnavailable, "No such service");
    CHECK(reply.is("iq", ns::kClient));
    CHECK(reply.attr("to") == "romeo@example.net/orchard");
    CHECK(reply.attr("from") == "juliet@example.com");
    CHECK(reply.attr("id") == "v1");
    CHECK(reply.attr("type") == "error");
    CHECK(reply.attr("lang", xml::kXmlNs) == "en");
    CHECK(isErrorStanza(reply));
    CHECK_FALSE(isErrorStanza(iq));

    auto children = reply.childElements();
    REQUIRE(children.size() == 2);
    CHECK(children[0]->is("query", ns::kVersion));
    const xml::Element* error = children[1];
    CHECK(error->is("error", ns::kClient));
    CHECK(error->attr("type") == "cancel");
    REQUIRE(error->childElements().size() == 2);
    CHECK(error->childElements()[0]->is("service-unavailable", ns::kStanzas));
    const xml::Element* text = error->findChild("text", ns::kStanzas);
    REQUIRE(text != nullptr);
    CHECK(text->text() == "No such service");
    CHECK(text->attr("lang", xml::kXmlNs) == "en");

    CHECK(xml::toString(reply, {.defaultNs = ns::kClient}) ==
          "<iq to='romeo@example.net/orchard' from='juliet@example.com' id='v1' "
          "xml:lang='en' type='error'><query xmlns='jabber:iq:version'/>"
          "<error type='cancel'><service-unavailable "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>No such service</text>"
          "</error></iq>");

    // The reply reads back as the same error.
    auto info = parseStanzaError(reply);
    REQUIRE(info);
    CHECK(info->type == ErrorType::Cancel);
    CHECK(info->condition == StanzaCondition::ServiceUnavailable);
    CHECK(info->text == "No such service");
    CHECK(IqView(reply).isValid());
}

TEST_CASE("every condition has a default text, used when the caller gives none", "[stanza]") {
    auto iq = parseStanza(
        "<iq from='a@example.com/r' to='example.com' id='1' type='get'>"
        "<query xmlns='urn:x'/></iq>");
    std::set<std::string_view> texts;
    for (StanzaCondition c : kAllStanzaConditions) {
        INFO(toString(c));
        CHECK_FALSE(defaultText(c).empty());
        texts.insert(defaultText(c));
        auto info = parseStanzaError(makeStanzaError(iq, c));
        REQUIRE(info);
        CHECK(info->text == defaultText(c));
        CHECK(parseStanzaError(makeStanzaError(iq, c, "specific"))->text == "specific");
    }
    CHECK(texts.size() == kAllStanzaConditions.size());  // each says something of its own
    for (StreamCondition c : kAllStreamConditions) {
        INFO(toString(c));
        CHECK_FALSE(defaultText(c).empty());
        CHECK(makeStreamError(c).childText("text", ns::kStreamErrors) == defaultText(c));
        CHECK(makeStreamError(c, "specific").childText("text", ns::kStreamErrors) == "specific");
    }
}

TEST_CASE("makeStanzaError without from/to, without text, in other namespaces", "[stanza]") {
    auto m = parseStanza("<message to='x@example.com'><body>hi</body></message>", ns::kServer);
    xml::Element reply = makeStanzaError(m, StanzaCondition::RecipientUnavailable);
    CHECK(reply.is("message", ns::kServer));
    CHECK_FALSE(reply.hasAttr("to"));  // the original had no 'from'
    CHECK(reply.attr("from") == "x@example.com");
    CHECK_FALSE(reply.hasAttr("id"));
    CHECK(reply.childText("body") == "hi");
    const xml::Element* error = reply.findChild("error", ns::kServer);
    REQUIRE(error != nullptr);
    CHECK(error->attr("type") == "wait");
    // No text given: the condition's default, so that a user reads words, not a condition name.
    const xml::Element* text = error->findChild("text", ns::kStanzas);
    REQUIRE(text != nullptr);
    CHECK(text->text() == defaultText(StanzaCondition::RecipientUnavailable));
    CHECK(text->attr("lang", xml::kXmlNs) == "en");
    CHECK(MessageView(reply).type() == MessageType::Error);
    CHECK(PresenceView(
              makeStanzaError(parseStanza("<presence to='a@b'/>"), StanzaCondition::Forbidden))
              .type() == PresenceType::Error);
}

TEST_CASE("makeStanzaError options", "[stanza]") {
    auto iq = parseStanza(
        "<iq from='a@example.com/r' to='room@muc.example.com' id='j' type='set'>"
        "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>");
    xml::Element app("blocked", std::string(ns::kBlockingErrors));
    StanzaErrorOptions options;
    options.type = ErrorType::Modify;
    options.by = "muc.example.com";
    options.uri = "xmpp:room2@muc.example.com";
    options.lang = "";
    options.appCondition = &app;
    options.includeOriginal = false;
    xml::Element reply = makeStanzaError(iq, StanzaCondition::Gone, "moved", options);
    auto children = reply.childElements();
    REQUIRE(children.size() == 1);  // no original payload
    const xml::Element* error = children[0];
    CHECK(error->attr("type") == "modify");
    CHECK(error->attr("by") == "muc.example.com");
    CHECK(error->childText("gone", ns::kStanzas) == "xmpp:room2@muc.example.com");
    const xml::Element* text = error->findChild("text", ns::kStanzas);
    REQUIRE(text != nullptr);
    CHECK_FALSE(text->hasAttr("lang", xml::kXmlNs));
    CHECK(error->findChild("blocked", ns::kBlockingErrors) != nullptr);
    auto info = parseStanzaError(reply);
    REQUIRE(info);
    CHECK(info->condition == StanzaCondition::Gone);  // the app condition does not confuse it
    CHECK(info->type == ErrorType::Modify);

    // A URI is only written for gone and redirect.
    StanzaErrorOptions uriOnly;
    uriOnly.uri = "xmpp:elsewhere";
    xml::Element other = makeStanzaError(iq, StanzaCondition::Forbidden, {}, uriOnly);
    CHECK(other.findChild("error")->childText("forbidden", ns::kStanzas).empty());
}

TEST_CASE("isErrorStanza and parseStanzaError", "[stanza]") {
    CHECK(isErrorStanza(parseStanza("<message type='error'/>")));
    CHECK(isErrorStanza(parseStanza("<presence type='error'/>")));
    CHECK(isErrorStanza(parseStanza("<iq type='error' id='1'/>")));
    CHECK_FALSE(isErrorStanza(parseStanza("<iq type='result' id='1'/>")));
    CHECK_FALSE(isErrorStanza(parseStanza("<message/>")));
    CHECK_FALSE(isErrorStanza(parseStanza("<a xmlns='urn:x' type='error'/>")));

    CHECK_FALSE(parseStanzaError(parseStanza("<message type='error'/>")));
    CHECK_FALSE(parseStanzaError(parseStanza("<message type='error'><error/></message>")));
    auto unknown = parseStanzaError(parseStanza(
        "<message type='error'><error type='wait'><x xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></message>"));
    REQUIRE(unknown);
    CHECK(unknown->type == ErrorType::Wait);
    CHECK(unknown->condition == StanzaCondition::UndefinedCondition);
}

TEST_CASE("makeStreamError", "[stanza]") {
    xml::Element e = makeStreamError(StreamCondition::NotWellFormed);
    CHECK(e.is("error", ns::kStreams));
    REQUIRE(e.childElements().size() == 2);
    CHECK(e.childElements()[0]->is("not-well-formed", ns::kStreamErrors));
    CHECK(xml::toString(e, {.defaultNs = ns::kClient, .streamPrefix = true}) ==
          "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>the XML is not "
          "well-formed</text></stream:error>");
    CHECK(parseStreamError(e) == StreamCondition::NotWellFormed);

    xml::Element t = makeStreamError(StreamCondition::PolicyViolation, "stanza too large");
    const xml::Element* text = t.findChild("text", ns::kStreamErrors);
    REQUIRE(text != nullptr);
    CHECK(text->text() == "stanza too large");
    CHECK(text->attr("lang", xml::kXmlNs) == "en");
    CHECK(parseStreamError(t) == StreamCondition::PolicyViolation);

    xml::Element s = makeSeeOtherHostError("[2001:db8::1]:5222");
    CHECK(s.childText("see-other-host", ns::kStreamErrors) == "[2001:db8::1]:5222");
    CHECK(parseStreamError(s) == StreamCondition::SeeOtherHost);

    for (StreamCondition c : kAllStreamConditions) {
        CHECK(parseStreamError(makeStreamError(c, "x")) == c);
    }
    CHECK_FALSE(parseStreamError(xml::Element("error", std::string(ns::kClient))));
    CHECK(parseStreamError(xml::Element("error", std::string(ns::kStreams))) ==
          StreamCondition::UndefinedCondition);
}
