#include "xml/stream_parser.h"

#include <catch2/catch.hpp>

#include "xml/serializer.h"
#include "xml_test_support.h"

using namespace corvid::xml;
using corvid::xml::test::Collector;

namespace {

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

}  // namespace

TEST_CASE("stream header, stanzas and stream end are reported", "[xml]") {
    Collector c;
    StreamParser p(c);
    REQUIRE(p.feed(kHeader + "<message to='a@b' type='chat'><body>hi &amp; bye</body></message>"
                             " <presence/></stream:stream>"));
    REQUIRE(c.headers.size() == 1);
    CHECK(c.headers[0].defaultNs == "jabber:client");
    CHECK(c.headers[0].attr("to") == "localhost");
    CHECK(c.headers[0].attr("version") == "1.0");
    REQUIRE(c.elements.size() == 2);
    const Element& m = c.elements[0];
    CHECK(m.is("message", "jabber:client"));
    CHECK(m.attr("to") == "a@b");
    CHECK(m.childText("body") == "hi & bye");
    CHECK(c.elements[1].is("presence", "jabber:client"));
    CHECK(c.ended);
    CHECK(c.errors.empty());
}

TEST_CASE("a stream split at every byte offset parses the same", "[xml]") {
    const std::string input =
        kHeader +
        "<message to='a@b' xml:lang='en'><body>caf\xC3\xA9 &lt;&#x1F600;&gt;</body>"
        "<x xmlns='urn:example' a='1' b=\"2\"><y/>text<![CDATA[<raw>]]></x></message>"
        "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>";
    Collector whole;
    StreamParser pw(whole);
    REQUIRE(pw.feed(input));
    REQUIRE(whole.elements.size() == 2);
    CHECK(whole.elements[0].attr("lang", kXmlNs) == "en");
    CHECK(whole.elements[0].childText("body") == "caf\xC3\xA9 <\xF0\x9F\x98\x80>");

    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        Collector c;
        StreamParser p(c);
        REQUIRE(p.feed(std::string_view(input).substr(0, cut)));
        REQUIRE(p.feed(std::string_view(input).substr(cut)));
        REQUIRE(c.elements == whole.elements);
    }
    Collector bytewise;
    StreamParser pb(bytewise);
    for (char ch : input) {
        REQUIRE(pb.feed(std::string_view(&ch, 1)));
    }
    CHECK(bytewise.elements == whole.elements);
}

TEST_CASE("restricted XML is refused with a specific error", "[xml]") {
    struct Case {
        std::string input;
        ParseErrorKind kind;
    };
    const std::string hdr =
        "<stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams'>";
    auto [input, kind] = GENERATE_COPY(values<Case>({
        {"<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY a 'b'>]>" + hdr,
         ParseErrorKind::RestrictedXml},
        {hdr + "<!-- comment --><presence/>", ParseErrorKind::RestrictedXml},
        {hdr + "<?php evil ?>", ParseErrorKind::RestrictedXml},
        {hdr + "<message><body>&xxe;</body></message>", ParseErrorKind::RestrictedXml},
        {"<?xml version='1.0' encoding='ISO-8859-1'?>" + hdr, ParseErrorKind::UnsupportedEncoding},
        {hdr + "<message><body>\xC0\xAF</body></message>", ParseErrorKind::NotWellFormed},
        {hdr + "<message><body>\xEF\xBF\xBE</body></message>", ParseErrorKind::NotWellFormed},
        {hdr + "<message><body>\x01</body></message>", ParseErrorKind::NotWellFormed},
        {hdr + "<message><body>&#1;</body></message>", ParseErrorKind::NotWellFormed},
        {hdr + "<message><body>\xED\xA0\x80</body></message>", ParseErrorKind::NotWellFormed},
        {hdr + "<message></iq>", ParseErrorKind::NotWellFormed},
        {hdr + "hello", ParseErrorKind::NotWellFormed},
        {"<stream xmlns='jabber:client'>", ParseErrorKind::InvalidNamespace},
    }));
    Collector c;
    StreamParser p(c);
    CHECK_FALSE(p.feed(input));
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].kind == kind);
    CHECK(c.elements.empty());
    CHECK_FALSE(p.feed("<presence/>"));  // a failed stream stays failed
    CHECK(c.errors.size() == 1);
}

TEST_CASE("limits are enforced while parsing", "[xml]") {
    StreamLimits limits;
    limits.maxStanzaBytes = 1000;
    limits.maxDepth = 5;
    limits.maxAttributes = 3;

    SECTION("a stanza just under the byte limit passes, one over it fails") {
        Collector c;
        StreamParser p(c, limits);
        REQUIRE(p.feed(kHeader));
        const std::string small = "<message><body>" + std::string(900, 'a') + "</body></message>";
        REQUIRE(p.feed(small));
        REQUIRE(p.feed(small));  // the limit is per stanza, not per stream
        CHECK(c.elements.size() == 2);
        const std::string big = "<message><body>" + std::string(1000, 'a') + "</body></message>";
        CHECK_FALSE(p.feed(big));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
    }
    SECTION("depth") {
        Collector c;
        StreamParser p(c, limits);
        CHECK(p.feed(kHeader + "<a><b><c><d><e/></d></c></b></a>"));
        CHECK_FALSE(p.feed("<a><b><c><d><e><f/></e></d></c></b></a>"));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::TooDeep);
    }
    SECTION("attributes") {
        Collector c;
        StreamParser p(c, limits);
        CHECK(p.feed(kHeader + "<a x='1' y='2' z='3'/>"));
        CHECK_FALSE(p.feed("<a w='0' x='1' y='2' z='3'/>"));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::TooManyAttributes);
    }
}

TEST_CASE("restart discards bytes buffered before it", "[xml]") {
    // A handler that restarts the stream when it sees <starttls/>, as a session does.
    struct Restarter : Collector {
        StreamParser* parser = nullptr;
        void onElement(Element&& e) override {
            bool restart = e.name() == "starttls";
            Collector::onElement(std::move(e));
            if (restart) {
                parser->restart();
            }
        }
    } c;
    StreamParser p(c);
    c.parser = &p;
    // The injected <message> in the same chunk as <starttls/> must never be reported.
    REQUIRE(p.feed(kHeader +
                   "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message><body>injected"
                   "</body></message>"));
    REQUIRE(c.elements.size() == 1);
    CHECK_FALSE(p.streamOpen());
    REQUIRE(p.feed(kHeader + "<presence/>"));
    REQUIRE(c.headers.size() == 2);
    REQUIRE(c.elements.size() == 2);
    CHECK(c.elements[1].name() == "presence");
}

TEST_CASE("a smuggled stanza in a body stays text", "[xml]") {
    Collector c;
    StreamParser p(c);
    REQUIRE(p.feed(kHeader +
                   "<message to='bob@localhost'><body>&lt;/body&gt;&lt;/message&gt;&lt;message "
                   "from='admin@localhost'&gt;</body></message>"));
    REQUIRE(c.elements.size() == 1);
    const Element& m = c.elements[0];
    CHECK(m.childText("body") == "</body></message><message from='admin@localhost'>");
    const std::string out = toString(m, {"jabber:client", true});
    CHECK(out.find("<message from") == std::string::npos);
    CHECK(out ==
          "<message to='bob@localhost'><body>&lt;/body&gt;&lt;/message&gt;&lt;message "
          "from='admin@localhost'&gt;</body></message>");
}

TEST_CASE("control characters that XML cannot carry are never written", "[xml]") {
    // Text that did not come from the parser (a database, a config file) may hold them.
    Element e("message", "jabber:client");
    e.setAttr("id", std::string("a\x01"
                                "b\x1f"
                                "c\td"));
    e.addTextChild("body", std::string("x\x02y\nz\x0b"));
    const std::string out = toString(e, {"jabber:client", true});
    CHECK(out == "<message id='abc&#9;d'><body>xy\nz</body></message>");
    Collector c;
    StreamParser p(c);
    REQUIRE(p.feed(kHeader + out));
    REQUIRE(c.elements.size() == 1);
    CHECK(c.elements[0].childText("body") == "xy\nz");
}

TEST_CASE("a complete stanza is reported as soon as its last byte arrives", "[xml]") {
    // Regression: expat's reparse deferral (Debian's 2.5.0+deb12u2 and later) held it back.
    Collector c;
    StreamParser p(c);
    REQUIRE(p.feed(kHeader));
    const std::string big = "<message><body>" + std::string(20000, 'x') + "</body></message>";
    REQUIRE(p.feed(big.substr(0, big.size() - 1)));
    CHECK(c.elements.empty());
    REQUIRE(p.feed(big.substr(big.size() - 1)));
    CHECK(c.elements.size() == 1);
}

TEST_CASE("releasing an idle parser between stanzas changes nothing", "[xml]") {
    // The root declares the stream prefix, a default namespace and an extra prefix (as s2s
    // does with xmlns:db); stanzas after a release still resolve all three.
    const std::string header =
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
        "xmlns:db='jabber:server:dialback' to='a.example' version='1.0'>";
    const std::vector<std::string> stanzas = {
        "<db:result from='b.example' to='a.example'>key</db:result>",
        "<message to='x@a.example'><body>one</body></message>",
        " ",
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
        "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
    };
    Collector reference;
    StreamParser ref(reference);
    REQUIRE(ref.feed(header));
    for (const auto& s : stanzas) {
        REQUIRE(ref.feed(s));
    }

    Collector c;
    StreamParser p(c);
    CHECK_FALSE(p.releaseIdle());  // no stream yet
    REQUIRE(p.feed(header));
    for (const auto& s : stanzas) {
        REQUIRE(p.releaseIdle());
        CHECK(p.released());
        CHECK(p.streamOpen());
        // Split each stanza so that the parser is also resumed in the middle of one.
        REQUIRE(p.feed(std::string_view(s).substr(0, s.size() / 2)));
        if (s.size() > 1) {
            CHECK_FALSE(p.releaseIdle());  // a stanza is half received: keep everything
        }
        REQUIRE(p.feed(std::string_view(s).substr(s.size() / 2)));
    }
    CHECK(c.headers.size() == 1);
    CHECK(c.elements == reference.elements);
    REQUIRE(c.elements.size() == 4);
    CHECK(c.elements[0].is("result", "jabber:server:dialback"));
    CHECK(c.elements[2].is("features", "http://etherx.jabber.org/streams"));

    SECTION("limits still count from the stanza start after a resume") {
        StreamLimits small;
        small.maxStanzaBytes = 100;
        p.setLimits(small);
        REQUIRE(p.releaseIdle());
        CHECK_FALSE(p.feed("<message><body>" + std::string(200, 'a') + "</body></message>"));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
    }
    SECTION("the stream end is still seen") {
        REQUIRE(p.releaseIdle());
        REQUIRE(p.feed("</stream:stream>"));
        CHECK(c.ended);
    }
}
