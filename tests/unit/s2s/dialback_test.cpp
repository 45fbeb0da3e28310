#include <catch2/catch.hpp>

#include "s2s/dialback.h"
#include "s2s/protocol.h"

using corvid::s2s::dialbackKey;
using corvid::s2s::keysEqual;

TEST_CASE("dialback key: the example of XEP-0185 §4", "[s2s]") {
    // Receiving server xmpp.example.com, originating example.org, secret s3cr3tf0rd14lb4ck,
    // stream id D60000229F.
    CHECK(dialbackKey("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F") ==
          "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
}

TEST_CASE("dialback key: every input changes the key", "[s2s]") {
    const std::string base = dialbackKey("secret-secret-secret", "a.example", "b.example", "id1");
    CHECK(base.size() == 64);
    CHECK(base.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(dialbackKey("secret-secret-secreT", "a.example", "b.example", "id1") != base);
    CHECK(dialbackKey("secret-secret-secret", "b.example", "a.example", "id1") != base);
    CHECK(dialbackKey("secret-secret-secret", "a.example", "b.example", "id2") != base);
    // The separator keeps "a.exam" + "ple b.example" apart from "a.example" + "b.example".
    CHECK(dialbackKey("secret-secret-secret", "a.exam", "ple b.example", "id1") !=
          dialbackKey("secret-secret-secret", "a.example", "b.examplex", "id1"));
    CHECK(dialbackKey("secret-secret-secret", "a.example", "b.example", "id1") == base);
}

TEST_CASE("dialback key comparison", "[s2s]") {
    CHECK(keysEqual("abc", "abc"));
    CHECK_FALSE(keysEqual("abc", "abd"));
    CHECK_FALSE(keysEqual("abc", "ab"));
    CHECK_FALSE(keysEqual("", "a"));
    CHECK(keysEqual("", ""));
}

TEST_CASE("dialback elements are written with the db: prefix", "[s2s]") {
    using namespace corvid;
    // COMPAT: ejabberd matches <db:result/> by its prefixed name.
    CHECK(s2s::serializeDialback(s2s::makeDialbackResult("a.example", "b.example", {}, "k3y")) ==
          "<db:result from='a.example' to='b.example'>k3y</db:result>");
    CHECK(
        s2s::serializeDialback(s2s::makeDialbackVerify("a.example", "b.example", "i'd", "valid")) ==
        "<db:verify from='a.example' to='b.example' id='i&apos;d' type='valid'/>");
    const xml::Element request = s2s::makeDialbackResult("evil.example", "b.example", {}, "k");
    CHECK(s2s::serializeDialback(
              s2s::makeDialbackError(request, stanza::StanzaCondition::NotAuthorized)) ==
          "<db:result from='b.example' to='evil.example' type='error'><error type='auth'>"
          "<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>you are not authorized to "
          "do this</text></error></db:result>");
}

TEST_CASE("stanzas from a server stream enter the router in jabber:client", "[s2s]") {
    using namespace corvid;
    xml::Element message("message", "jabber:server");
    message.addTextChild("body", "hi");
    message.addChild("x", "jabber:x:data").addChild("field");
    s2s::toClientNamespace(message);
    CHECK(message.ns() == "jabber:client");
    CHECK(message.findChild("body", "jabber:client") != nullptr);
    const xml::Element* x = message.findChild("x", "jabber:x:data");
    REQUIRE(x != nullptr);
    CHECK(x->findChild("field", "jabber:x:data") != nullptr);  // payloads keep their namespace
}
