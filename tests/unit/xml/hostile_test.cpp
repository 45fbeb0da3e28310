// Hostile input for xml::StreamParser: what a malicious peer can send before and after
// authentication, and the property that the serializer and parser agree on every element.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "xml/serializer.h"
#include "xml/stream_parser.h"
#include "xml_test_support.h"

using namespace corvid::xml;
using corvid::xml::test::Collector;

namespace {

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::size_t kKiB = 1024;

/// Feeds `input` in pieces of `chunk` bytes (0: all at once) until the parser fails. Returns the
/// number of bytes handed over before it failed (all of them if it did not).
std::size_t feedChunks(StreamParser& p, std::string_view input, std::size_t chunk) {
    std::size_t offset = 0;
    while (offset < input.size()) {
        const std::size_t n = chunk == 0 ? input.size() : std::min(chunk, input.size() - offset);
        const bool ok = p.feed(input.substr(offset, n));
        offset += n;
        if (!ok) {
            break;
        }
    }
    return offset;
}

/// Feeds `prefix`, then `fillBytes` copies of `fill` generated 4 KiB at a time (so a 10 MB input
/// never exists whole), then `suffix`. Returns the bytes handed over before the parser failed, and
/// checks that the parser never holds more than its stanza limit.
std::size_t feedGenerated(StreamParser& p, std::string_view prefix, std::string_view fill,
                          std::size_t fillBytes, std::string_view suffix = {}) {
    std::size_t handed = prefix.size();
    if (!p.feed(prefix)) {
        return handed;
    }
    std::string piece;
    while (piece.size() < 4 * kKiB) {
        piece.append(fill);
    }
    std::size_t left = fillBytes;
    while (left > 0) {
        const std::size_t n = std::min(left, piece.size());
        const bool ok = p.feed(std::string_view(piece).substr(0, n));
        handed += n;
        left -= n;
        REQUIRE(p.pendingBytes() <= p.limits().maxStanzaBytes);
        if (!ok) {
            return handed;
        }
    }
    p.feed(suffix);
    return handed + suffix.size();
}

std::string repeat(std::string_view s, std::size_t times) {
    std::string out;
    out.reserve(s.size() * times);
    for (std::size_t i = 0; i < times; ++i) {
        out.append(s);
    }
    return out;
}

/// Checks that `input` is refused with `kind` and yields no stanza, whether it arrives in one
/// chunk, in 4 KiB chunks or byte by byte (short inputs only).
void requireRefused(const std::string& input, ParseErrorKind kind) {
    std::vector<std::size_t> chunkings = {0, 4 * kKiB};
    if (input.size() < 4 * kKiB) {
        chunkings.push_back(1);
    }
    for (std::size_t chunk : chunkings) {
        INFO("chunk size " << chunk << " (0: one chunk)");
        Collector c;
        StreamParser p(c);
        feedChunks(p, input, chunk);
        CHECK(p.failed());
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == kind);
        CHECK(c.elements.empty());
    }
}

/// Parses `header + xml` and returns what came out.
Collector parseOnce(const std::string& xml, std::string_view header = kHeader) {
    Collector c;
    StreamParser p(c);
    p.feed(std::string(header) + xml);
    return c;
}

}  // namespace

TEST_CASE("billion laughs is refused before any entity is expanded", "[xml]") {
    std::string dtd = "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY lol0 'lol'>";
    for (int i = 1; i <= 9; ++i) {
        dtd += "<!ENTITY lol" + std::to_string(i) + " '" +
               repeat("&lol" + std::to_string(i - 1) + ";", 10) + "'>";
    }
    dtd += "]>";
    const std::string tail =
        kHeader.substr(kHeader.find("<stream:")) + "<message><body>&lol9;</body></message>";
    requireRefused(dtd + tail, ParseErrorKind::RestrictedXml);

    SECTION("the same references without a DTD are undefined entities") {
        requireRefused(kHeader + "<message><body>&lol9;</body></message>",
                       ParseErrorKind::RestrictedXml);
        requireRefused(kHeader + "<message to='&lol9;'/>", ParseErrorKind::RestrictedXml);
    }
}

TEST_CASE("external entities are never resolved", "[xml]") {
    const std::string stream = kHeader.substr(kHeader.find("<stream:"));
    SECTION("general entity") {
        requireRefused(
            "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY xxe SYSTEM "
            "\"file:///etc/passwd\">]>" +
                stream + "<message><body>&xxe;</body></message>",
            ParseErrorKind::RestrictedXml);
    }
    SECTION("external DTD") {
        requireRefused("<!DOCTYPE stream:stream SYSTEM \"file:///etc/passwd\">" + stream,
                       ParseErrorKind::RestrictedXml);
    }
    SECTION("parameter entity") {
        requireRefused(
            "<!DOCTYPE stream:stream [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>" + stream,
            ParseErrorKind::RestrictedXml);
    }
    SECTION("a DOCTYPE after the stream has started is refused too") {
        Collector c = parseOnce(
            "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><message>&xxe;</message>");
        REQUIRE(c.errors.size() == 1);
        CHECK((c.errors[0].kind == ParseErrorKind::NotWellFormed ||
               c.errors[0].kind == ParseErrorKind::RestrictedXml));
        CHECK(c.elements.empty());
    }
}

TEST_CASE("a 10 MB text node is cut off at the stanza limit", "[xml]") {
    const std::size_t limit = StreamLimits{}.maxStanzaBytes;
    SECTION("in 4 KiB pieces") {
        Collector c;
        StreamParser p(c);
        const std::size_t handed =
            feedGenerated(p, kHeader + "<message><body>", "a", 10 * kMiB, "</body></message>");
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
        CHECK(c.elements.empty());
        // Refused as soon as the limit is crossed, not after reading all 10 MB.
        CHECK(handed <= kHeader.size() + limit + 4 * kKiB);
    }
    SECTION("in one chunk") {
        requireRefused(
            kHeader + "<message><body>" + std::string(10 * kMiB, 'a') + "</body></message>",
            ParseErrorKind::StanzaTooLarge);
    }
    SECTION("multi-byte characters and character references count as bytes, not characters") {
        Collector c;
        StreamParser p(c);
        feedGenerated(p, kHeader + "<message><body>", "\xE2\x82\xAC&#x20AC;", 10 * kMiB);
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
    }
}

TEST_CASE("a 10 MB attribute with no closing quote is cut off at the stanza limit", "[xml]") {
    const std::size_t limit = StreamLimits{}.maxStanzaBytes;
    SECTION("in a stanza") {
        Collector c;
        StreamParser p(c);
        const std::size_t handed = feedGenerated(p, kHeader + "<message to='", "x", 10 * kMiB);
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
        CHECK(handed <= kHeader.size() + limit + 4 * kKiB);
    }
    SECTION("in the stream header") {
        Collector c;
        StreamParser p(c);
        const std::size_t handed =
            feedGenerated(p, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='",
                          "x", 10 * kMiB);
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
        CHECK(c.headers.empty());
        CHECK(handed <= limit + 4 * kKiB);
    }
    SECTION("in one chunk") {
        requireRefused(kHeader + "<message to='" + std::string(10 * kMiB, 'x'),
                       ParseErrorKind::StanzaTooLarge);
    }
}

TEST_CASE("100,000-deep nesting is refused at the depth limit", "[xml]") {
    requireRefused(kHeader + repeat("<a>", 100000), ParseErrorKind::TooDeep);
    requireRefused(kHeader + "<message>" + repeat("<a xmlns='urn:x'>", 100000),
                   ParseErrorKind::TooDeep);

    SECTION("exactly the limit is fine") {
        const std::size_t depth = StreamLimits{}.maxDepth;
        Collector c = parseOnce(repeat("<a>", depth) + repeat("</a>", depth));
        CHECK(c.errors.empty());
        CHECK(c.elements.size() == 1);
        Collector over = parseOnce(repeat("<a>", depth + 1) + repeat("</a>", depth + 1));
        REQUIRE(over.errors.size() == 1);
        CHECK(over.errors[0].kind == ParseErrorKind::TooDeep);
    }
}

TEST_CASE("10,000 attributes are refused", "[xml]") {
    std::string attrs;
    for (int i = 0; i < 10000; ++i) {
        attrs += " a" + std::to_string(i) + "=''";
    }
    requireRefused(kHeader + "<message" + attrs + "/>", ParseErrorKind::TooManyAttributes);
    requireRefused("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'" + attrs + ">",
                   ParseErrorKind::TooManyAttributes);

    SECTION("before authentication the byte limit already stops them") {
        StreamLimits preAuth;
        preAuth.maxStanzaBytes = 16 * kKiB;
        Collector c;
        StreamParser p(c, preAuth);
        feedChunks(p, kHeader + "<message" + attrs + "/>", 0);
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
    }
    SECTION("duplicate attributes, also through two prefixes for one namespace") {
        requireRefused(kHeader + "<message to='a' to='b'/>", ParseErrorKind::NotWellFormed);
        requireRefused(kHeader + "<message xmlns:p='urn:x' xmlns:q='urn:x' p:to='a' q:to='b'/>",
                       ParseErrorKind::NotWellFormed);
    }
}

TEST_CASE("invalid UTF-8, overlong forms, surrogates, U+FFFE and C0 controls are refused",
          "[xml]") {
    const std::vector<std::string> badBytes = {
        "\xC0\xAF",          // overlong '/'
        "\xE0\x80\xAF",      // overlong '/', 3 bytes
        "\xF0\x80\x80\xAF",  // overlong '/', 4 bytes
        "\xC0\x80",          // overlong NUL
        "\xFF",
        "\xFE",
        "\xF8\x88\x80\x80\x80",  // 5-byte form
        "\x80",                  // lone continuation byte
        "\xC3(",                 // truncated sequence
        "\xE2\x82(",
        "\xF4\x90\x80\x80",          // above U+10FFFF
        "\xED\xA0\x80",              // U+D800
        "\xED\xBF\xBF",              // U+DFFF
        "\xED\xA0\xBD\xED\xB8\x80",  // a surrogate pair written as CESU-8
        "\xEF\xBF\xBE",              // U+FFFE
        "\xEF\xBF\xBF",              // U+FFFF
        std::string(1, '\0'),
        "\x01",
        "\x08",
        "\x0B",
        "\x0C",
        "\x1B",
        "\x1F",
    };
    const std::vector<std::string> badRefs = {"&#0;",     "&#x1;",      "&#x8;",         "&#xB;",
                                              "&#x1F;",   "&#xD800;",   "&#xDFFF;",      "&#xFFFE;",
                                              "&#xFFFF;", "&#x110000;", "&#99999999999;"};
    for (const auto& bad : badBytes) {
        INFO("bytes: " << Catch::Detail::stringify(bad));
        requireRefused(kHeader + "<message><body>x" + bad + "y</body></message>",
                       ParseErrorKind::NotWellFormed);
        requireRefused(kHeader + "<message to='x" + bad + "y'/>", ParseErrorKind::NotWellFormed);
        requireRefused(kHeader + "<mess" + bad + "age/>", ParseErrorKind::NotWellFormed);
        requireRefused(
            "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='" + bad + "'>",
            ParseErrorKind::NotWellFormed);
    }
    for (const auto& bad : badRefs) {
        INFO("reference: " << bad);
        requireRefused(kHeader + "<message><body>x" + bad + "y</body></message>",
                       ParseErrorKind::NotWellFormed);
        requireRefused(kHeader + "<message to='x" + bad + "y'/>", ParseErrorKind::NotWellFormed);
    }

    SECTION("the characters at the edges of the allowed ranges pass") {
        const std::string edges =
            "\t\n\xC2\x80\xC2\x85\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBD\xF0\x90\x80\x80\xF4\x8F\xBF"
            "\xBF";
        Collector c =
            parseOnce("<message><body>" + edges + "&#x9;&#xA;&#xD;&#x10FFFF;</body></message>");
        REQUIRE(c.errors.empty());
        REQUIRE(c.elements.size() == 1);
        CHECK(c.elements[0].childText("body") == edges + "\t\n\r\xF4\x8F\xBF\xBF");
    }
}

TEST_CASE("streams in an encoding other than UTF-8 are refused", "[xml]") {
    // RFC 6120 §11.6: the stream MUST be UTF-8, anything else is <unsupported-encoding/>.
    const std::string stream =
        kHeader.substr(kHeader.find("<stream:")) + "<message><body>hi</body></message>";
    auto utf16 = [](std::string_view s, bool bigEndian) {
        std::string out;
        for (char ch : s) {
            if (bigEndian) {
                out.push_back('\0');
            }
            out.push_back(ch);
            if (!bigEndian) {
                out.push_back('\0');
            }
        }
        return out;
    };
    SECTION("UTF-16LE with a byte order mark") {
        requireRefused("\xFF\xFE" + utf16(stream, false), ParseErrorKind::UnsupportedEncoding);
    }
    SECTION("UTF-16BE with a byte order mark") {
        requireRefused("\xFE\xFF" + utf16(stream, true), ParseErrorKind::UnsupportedEncoding);
    }
    SECTION("UTF-16LE without a byte order mark") {
        requireRefused(utf16(stream, false), ParseErrorKind::UnsupportedEncoding);
    }
    SECTION("UTF-16BE without a byte order mark") {
        requireRefused(utf16(stream, true), ParseErrorKind::UnsupportedEncoding);
    }
    SECTION("a declared UTF-16 encoding") {
        requireRefused("<?xml version='1.0' encoding='UTF-16'?>" + stream,
                       ParseErrorKind::UnsupportedEncoding);
    }
}

TEST_CASE("a hostile stanza split at every byte offset parses the same, and promptly", "[xml]") {
    const std::string stanza =
        "<message xmlns:p='urn:p' to=\"juliet@example.com/balcony\" p:x='&apos;&quot;&#9;' "
        "xml:lang='fr'><body>caf\xC3\xA9 &lt;/body&gt;&#x1F600;\xF0\x9F\x98\x80<![CDATA[</message>"
        "<iq>]]>]]&gt;\r\n&#13;</body><p:y xmlns=''><z/></p:y></message>";
    Collector whole = parseOnce(stanza);
    REQUIRE(whole.errors.empty());
    REQUIRE(whole.elements.size() == 1);
    CHECK(whole.elements[0].childText("body") ==
          "caf\xC3\xA9 </body>\xF0\x9F\x98\x80\xF0\x9F\x98\x80</message><iq>]]>\n\r");
    CHECK(whole.elements[0].attr("x", "urn:p") == "'\"\t");

    for (std::size_t cut = 0; cut < stanza.size(); ++cut) {
        INFO("cut at " << cut);
        Collector c;
        StreamParser p(c);
        REQUIRE(p.feed(kHeader));
        REQUIRE(p.feed(std::string_view(stanza).substr(0, cut)));
        CHECK(c.elements.empty());
        REQUIRE(p.feed(std::string_view(stanza).substr(cut)));
        REQUIRE(c.elements == whole.elements);
    }
    // A stanza must come out once its last byte is in: a server cannot wait for more input that
    // an idle client will never send. Feeding the tail byte by byte after any cut is what a slow
    // link does (and what defeats expat's reparse deferral heuristic, expat >= 2.6).
    for (std::size_t cut = 0; cut < stanza.size(); ++cut) {
        INFO("cut at " << cut << ", then byte by byte");
        Collector c;
        StreamParser p(c);
        REQUIRE(p.feed(kHeader));
        REQUIRE(p.feed(std::string_view(stanza).substr(0, cut)));
        for (std::size_t i = cut; i < stanza.size(); ++i) {
            REQUIRE(p.feed(std::string_view(stanza).substr(i, 1)));
        }
        REQUIRE(c.elements == whole.elements);
    }
}

TEST_CASE("stanza smuggling: markup inside text and attributes stays data", "[xml]") {
    const std::string smuggled = "</body></message><message from='admin@localhost'>";
    struct Case {
        std::string name;
        std::string xml;
    };
    const std::vector<Case> cases = {
        {"escaped text",
         "<message to='bob@localhost'><body>&lt;/body&gt;&lt;/message&gt;&lt;message "
         "from=&apos;admin@localhost&apos;&gt;</body></message>"},
        {"CDATA",
         "<message to='bob@localhost'><body><![CDATA[" + smuggled + "]]></body></message>"},
        {"attribute",
         "<message to=\"&lt;/body&gt;&lt;/message&gt;&lt;message from='admin@localhost'&gt;\">"
         "<body>x</body></message>"},
    };
    for (const auto& [name, xml] : cases) {
        INFO(name);
        Collector c = parseOnce(xml);
        REQUIRE(c.errors.empty());
        REQUIRE(c.elements.size() == 1);
        const Element& m = c.elements[0];
        CHECK_FALSE(m.hasAttr("from"));
        const std::string out = toString(m, {"jabber:client", true});
        CHECK(out.find("<message from") == std::string::npos);
        CHECK(out.find("</message><") == std::string::npos);
        // What we would forward parses back to the one message it was.
        Collector back = parseOnce(out);
        REQUIRE(back.errors.empty());
        REQUIRE(back.elements.size() == 1);
        CHECK(back.elements[0] == m);
        CHECK((m.childText("body") == smuggled || m.attr("to") == smuggled));
    }
}

TEST_CASE("pre-authentication and post-authentication stanza limits", "[xml]") {
    StreamLimits preAuth;
    preAuth.maxStanzaBytes = 16 * kKiB;
    StreamLimits postAuth;
    postAuth.maxStanzaBytes = 256 * kKiB;
    auto stanzaOf = [](std::size_t bytes) {
        const std::string open = "<message><body>";
        const std::string close = "</body></message>";
        return open + std::string(bytes - open.size() - close.size(), 'a') + close;
    };

    SECTION("before authentication a 17 KiB stanza is refused") {
        Collector c;
        StreamParser p(c, preAuth);
        REQUIRE(p.feed(kHeader));
        REQUIRE(p.feed(stanzaOf(15 * kKiB)));
        CHECK_FALSE(p.feed(stanzaOf(17 * kKiB)));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
        CHECK(c.elements.size() == 1);
    }
    SECTION("the stream header counts against the pre-auth limit") {
        Collector c;
        StreamParser p(c, preAuth);
        CHECK_FALSE(p.feed("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='" +
                           std::string(17 * kKiB, 'i') + "'>"));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
    }
    SECTION("after setLimits a 200 KiB stanza passes and a 300 KiB one is refused") {
        Collector c;
        StreamParser p(c, preAuth);
        REQUIRE(p.feed(kHeader));
        p.setLimits(postAuth);
        REQUIRE(p.feed(stanzaOf(200 * kKiB)));
        CHECK(c.elements.size() == 1);
        CHECK_FALSE(p.feed(stanzaOf(300 * kKiB)));
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::StanzaTooLarge);
    }
    SECTION("raising the limit from a callback applies to the rest of the same chunk") {
        struct Raiser : Collector {
            StreamParser* parser = nullptr;
            StreamLimits next;
            void onElement(Element&& e) override {
                Collector::onElement(std::move(e));
                parser->setLimits(next);
            }
        } c;
        c.next = postAuth;
        StreamParser p(c, preAuth);
        c.parser = &p;
        REQUIRE(p.feed(kHeader + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
                       stanzaOf(100 * kKiB)));
        CHECK(c.elements.size() == 2);
        CHECK(c.errors.empty());
    }
}

TEST_CASE("whitespace keepalives between stanzas", "[xml]") {
    Collector c;
    StreamLimits small;
    small.maxStanzaBytes = 1024;
    StreamParser p(c, small);
    REQUIRE(p.feed(kHeader));
    REQUIRE(p.feed(" "));
    REQUIRE(p.feed("<presence/>\n"));
    REQUIRE(p.feed("\r\n\t \n"));
    REQUIRE(p.feed("<message><body> </body></message>"));
    REQUIRE(p.feed(" "));
    CHECK(p.pendingBytes() == 0);
    // Keepalives are not a stanza: many of them do not add up to the stanza limit.
    for (int i = 0; i < 5000; ++i) {
        REQUIRE(p.feed(" \n"));
    }
    REQUIRE(p.feed(std::string(64 * kKiB, ' ')));
    REQUIRE(p.feed("<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"));
    CHECK(c.errors.empty());
    REQUIRE(c.elements.size() == 3);
    CHECK(c.elements[1].childText("body") == " ");  // whitespace inside a stanza is kept
    CHECK(c.elements[2].is("iq", "jabber:client"));

    SECTION("but text that is not whitespace is refused") {
        CHECK_FALSE(p.feed(" \xC2\xA0 "));  // U+00A0 is not XML whitespace
        REQUIRE(c.errors.size() == 1);
        CHECK(c.errors[0].kind == ParseErrorKind::NotWellFormed);
    }
}

TEST_CASE("a stream restart discards the rest of the chunk", "[xml]") {
    struct Restarter : Collector {
        StreamParser* parser = nullptr;
        std::string_view trigger;
        void onElement(Element&& e) override {
            const bool restart = e.name() == trigger;
            Collector::onElement(std::move(e));
            if (restart) {
                parser->restart();
            }
        }
    };

    SECTION("TLS bytes in the same chunk as <starttls/> are not parsed as XML") {
        Restarter c;
        c.trigger = "starttls";
        StreamParser p(c);
        c.parser = &p;
        // A ClientHello in the same read as <starttls/> must not raise a parse error: once the
        // session has restarted, those bytes belong to the TLS layer.
        REQUIRE(p.feed(kHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" +
                       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\0\0", 13)));
        CHECK(c.errors.empty());
        CHECK(c.elements.size() == 1);
        CHECK_FALSE(p.streamOpen());
        CHECK(p.pendingBytes() == 0);
        REQUIRE(p.feed(kHeader + "<presence/>"));
        CHECK(c.headers.size() == 2);
        REQUIRE(c.elements.size() == 2);
        CHECK(c.elements[1].name() == "presence");
    }
    SECTION("stanzas pipelined after SASL success are dropped, not processed") {
        Restarter c;
        c.trigger = "auth";
        StreamParser p(c);
        c.parser = &p;
        REQUIRE(p.feed(kHeader + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
                       "<iq type='set' id='x'><query xmlns='jabber:iq:roster'/></iq>" + kHeader));
        CHECK(c.elements.size() == 1);
        CHECK(c.headers.size() == 1);
        CHECK(c.errors.empty());
    }
    SECTION("restart between feeds forgets a half-received stanza") {
        Collector c;
        StreamParser p(c);
        REQUIRE(p.feed(kHeader + "<message to='a@b'><body>par"));
        p.restart();
        CHECK(p.pendingBytes() == 0);
        REQUIRE(p.feed(kHeader + "<presence/>"));
        REQUIRE(c.elements.size() == 1);
        CHECK(c.elements[0].name() == "presence");
        CHECK(c.errors.empty());
    }
}

namespace {

/// Random elements full of characters that need escaping.
class ElementGenerator {
  public:
    explicit ElementGenerator(std::uint32_t seed) : rng_(seed) {}

    Element element(int depth) {
        Element e(pick(kNames), std::string(pick(kNamespaces)));
        if (chance(4)) {
            e.setNs(randomText(12, false));
        }
        const int attrs = uniform(0, 5);
        for (int i = 0; i < attrs; ++i) {
            std::string ns = chance(3) ? std::string(pick(kNamespaces)) : std::string();
            if (chance(8)) {
                ns = std::string(kXmlNs);
                e.setAttr("lang", randomText(6, true), ns);
                continue;
            }
            e.setAttr(pick(kNames), randomText(20, true), ns);
        }
        const int children = depth > 0 ? uniform(0, 4) : 0;
        for (int i = 0; i < children; ++i) {
            if (chance(2)) {
                e.addText(randomText(30, true));
            } else {
                e.addChild(element(depth - 1));
            }
        }
        if (chance(3)) {
            e.addText(randomText(30, true));
        }
        return e;
    }

  private:
    static constexpr std::string_view kNames[] = {"message",
                                                  "body",
                                                  "x",
                                                  "a-b.c_d",
                                                  "\xC3\xA9t\xC3\xA9",
                                                  "\xE5\x90\x8D\xE5\x89\x8D",
                                                  "_u",
                                                  "A1",
                                                  "stream",
                                                  "features",
                                                  "q"};
    // No namespace may contain a space: it is the separator between namespace and name that the
    // parser asks expat for, and expat refuses it in a namespace name.
    static constexpr std::string_view kNamespaces[] = {
        "",
        "jabber:client",
        "urn:xmpp:x",
        "http://etherx.jabber.org/streams",
        "urn:a'b\"c&d<e>f",
        "http://ex.org/\xC3\xBC]]>",
    };
    static constexpr std::string_view kPieces[] = {"'",
                                                   "\"",
                                                   "&",
                                                   "<",
                                                   ">",
                                                   "\r",
                                                   "\n",
                                                   "\t",
                                                   "\r\n",
                                                   "]]>",
                                                   " ",
                                                   "a",
                                                   "Z",
                                                   "0",
                                                   "&amp;",
                                                   "\xC3\xA9",
                                                   "\xE2\x82\xAC",
                                                   "\xF0\x9F\x98\x80",
                                                   "\xC2\x85",
                                                   "\xE2\x80\xA8",
                                                   "</body>",
                                                   "<![CDATA[",
                                                   "\xEF\xBF\xBD",
                                                   "\x7F"};

    template <std::size_t N>
    std::string pick(const std::string_view (&arr)[N]) {
        return std::string(arr[static_cast<std::size_t>(uniform(0, N - 1))]);
    }
    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    bool chance(int oneIn) { return uniform(1, oneIn) == 1; }

    std::string randomText(int maxPieces, bool withSpace) {
        std::string s;
        const int n = uniform(1, maxPieces);
        for (int i = 0; i < n; ++i) {
            const std::string piece = pick(kPieces);
            if (!withSpace && piece.find_first_of(" \t\r\n") != std::string::npos) {
                continue;
            }
            s += piece;
        }
        if (s.empty()) {
            s = "urn:empty";
        }
        return s;
    }

    std::mt19937 rng_;
};

}  // namespace

TEST_CASE("property: parse(serialize(e)) == e for random elements", "[xml]") {
    ElementGenerator gen(20231125);
    std::mt19937 cuts(7);
    for (int i = 0; i < 1500; ++i) {
        const Element e = gen.element(4);
        // As a server writes it into a c2s stream, and standalone with every namespace declared.
        for (const bool inStream : {true, false}) {
            const SerializeScope scope =
                inStream ? SerializeScope{"jabber:client", true} : SerializeScope{};
            const std::string header =
                inStream ? kHeader
                         : "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
            const std::string xml = toString(e, scope);
            INFO("serialized: " << xml);
            Collector c;
            StreamParser p(c);
            REQUIRE(p.feed(header));
            const std::size_t cut = std::uniform_int_distribution<std::size_t>(0, xml.size())(cuts);
            REQUIRE(p.feed(std::string_view(xml).substr(0, cut)));
            REQUIRE(p.feed(std::string_view(xml).substr(cut)));
            REQUIRE(c.errors.empty());
            REQUIRE(c.elements.size() == 1);
            REQUIRE(c.elements[0] == e);
        }
    }
}
