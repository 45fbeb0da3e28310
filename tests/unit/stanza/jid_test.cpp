#include "stanza/jid.h"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_set>

using namespace corvid::stanza;

namespace {

Jid mustParse(std::string_view s) {
    auto j = Jid::parse(s);
    INFO("input: " << s << " error: " << (j ? "" : j.error().reason));
    REQUIRE(j.has_value());
    return *j;
}

JidError mustFail(std::string_view s) {
    auto j = Jid::parse(s);
    INFO("input: " << s << " parsed as: " << (j ? j->full() : ""));
    REQUIRE_FALSE(j.has_value());
    return j.error();
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

}  // namespace

TEST_CASE("RFC 7622 §3.5.1 examples of valid JIDs", "[stanza]") {
    struct Case {
        const char* in;
        const char* local;
        const char* domain;
        const char* resource;
    };
    const Case cases[] = {
        {"juliet@example.com", "juliet", "example.com", ""},
        {"juliet@example.com/foo", "juliet", "example.com", "foo"},
        {"juliet@example.com/foo bar", "juliet", "example.com", "foo bar"},
        {"juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar"},
        {"foo\\20bar@example.com", "foo\\20bar", "example.com", ""},
        {"fussball@example.com", "fussball", "example.com", ""},
        {"fu\xC3\x9F"
         "ball@example.com",
         "fu\xC3\x9F"
         "ball",
         "example.com", ""},
        {"\xCF\x80@example.com", "\xCF\x80", "example.com", ""},
        {"\xCE\xA3@example.com/foo", "\xCF\x83", "example.com", "foo"},  // Σ maps to σ
        {"\xCF\x83@example.com/foo", "\xCF\x83", "example.com", "foo"},
        {"\xCF\x82@example.com/foo", "\xCF\x82", "example.com", "foo"},  // final sigma stays
        {"king@example.com/\xE2\x99\x9A", "king", "example.com", "\xE2\x99\x9A"},
        {"example.com", "", "example.com", ""},
        {"example.com/foobar", "", "example.com", "foobar"},
        {"a.example.com/b@example.net", "", "a.example.com", "b@example.net"},
    };
    for (const auto& c : cases) {
        Jid j = mustParse(c.in);
        CHECK(j.local() == c.local);
        CHECK(j.domain() == c.domain);
        CHECK(j.resource() == c.resource);
        CHECK(j.hasLocal() == (std::string_view(c.local) != ""));
        CHECK(j.hasResource() == (std::string_view(c.resource) != ""));
    }
    // fußball and fussball are different localparts; σ and ς too.
    CHECK(mustParse("fussball@example.com") != mustParse("fu\xC3\x9F"
                                                         "ball@example.com"));
    CHECK(mustParse("\xCF\x83@example.com") != mustParse("\xCF\x82@example.com"));
}

TEST_CASE("RFC 7622 §3.5.2 examples of invalid JIDs", "[stanza]") {
    CHECK(mustFail("\"juliet\"@example.com").part == JidPart::Local);
    CHECK(mustFail("foo bar@example.com").code == JidErrorCode::DisallowedChar);
    CHECK(mustFail("@example.com/").code == JidErrorCode::Empty);
    // U+2163 ROMAN NUMERAL FOUR lower-cases to U+2173, a compatibility character (ID_DIS).
    auto henri = mustFail("henri\xE2\x85\xA3@example.com");
    CHECK(henri.part == JidPart::Local);
    CHECK(henri.code == JidErrorCode::DisallowedChar);
    // U+265A BLACK CHESS KING is a symbol: fine in a resourcepart, not in a localpart.
    CHECK(mustFail("\xE2\x99\x9A@example.com").code == JidErrorCode::DisallowedChar);
    auto noDomain = mustFail("juliet@");
    CHECK(noDomain.part == JidPart::Domain);
    CHECK(noDomain.code == JidErrorCode::Empty);
    auto noDomain2 = mustFail("/foobar");
    CHECK(noDomain2.part == JidPart::Domain);
    CHECK(noDomain2.code == JidErrorCode::Empty);
}

TEST_CASE("empty parts are errors when their separator is present", "[stanza]") {
    CHECK(mustFail("").part == JidPart::Whole);
    auto at = mustFail("@example.com");
    CHECK(at.part == JidPart::Local);
    CHECK(at.code == JidErrorCode::Empty);
    CHECK(at.reason.find("localpart") != std::string::npos);
    auto slash = mustFail("example.com/");
    CHECK(slash.part == JidPart::Resource);
    CHECK(slash.code == JidErrorCode::Empty);
    CHECK(slash.reason.find("resourcepart") != std::string::npos);
    CHECK(mustFail("juliet@example.com/").part == JidPart::Resource);
    CHECK(mustFail("@").part == JidPart::Local);
    CHECK(mustFail("/").part == JidPart::Domain);
    CHECK(mustFail("a@/b").part == JidPart::Domain);
    CHECK(mustFail(".").part == JidPart::Domain);
    // Only the first '@' before the first '/' separates the localpart.
    CHECK(mustFail("a@b@example.com").part == JidPart::Domain);
    CHECK(mustParse("a@example.com/x/y@z").resource() == "x/y@z");
}

TEST_CASE("localpart and domainpart are case-insensitive, resourcepart is not", "[stanza]") {
    CHECK(mustParse("Juliet@Example.COM") == mustParse("juliet@example.com"));
    CHECK(mustParse("Juliet@Example.COM").full() == "juliet@example.com");
    CHECK(mustParse("juliet@example.com/Balcony").resource() == "Balcony");
    CHECK(mustParse("juliet@example.com/Balcony") != mustParse("juliet@example.com/balcony"));
    // Non-ASCII: Ü, Greek capitals, U+212A KELVIN SIGN, U+0130 (İ -> i + combining dot above).
    CHECK(mustParse("\xC3\x9C@example.com").local() == "\xC3\xBC");
    CHECK(mustParse("\xCE\xA3\xCE\x91\xCE\xA3@example.com").local() ==
          "\xCF\x83\xCE\xB1\xCF\x82");  // ΣΑΣ -> σας (final sigma in context)
    CHECK(mustParse("\xE2\x84\xAA@example.com").local() == "k");
    CHECK(mustParse("\xC4\xB0@example.com").local() == "i\xCC\x87");
    CHECK(mustParse("juliet@M\xC3\x9CNCHEN.DE").domain() == "m\xC3\xBCnchen.de");
}

TEST_CASE("fullwidth and halfwidth characters", "[stanza]") {
    // Localpart and domainpart map them to their decompositions; the resourcepart keeps them.
    Jid j = mustParse(
        "\xEF\xBC\xAA\xEF\xBC\xB5\xEF\xBC\xAC\xEF\xBC\xA9\xEF\xBC\xA5\xEF\xBC\xB4"  // ＪＵＬＩＥＴ
        "@\xEF\xBD\x85xample.com/\xEF\xBC\xA1\xEF\xBC\xA2");  // ｅxample.com/ＡＢ
    CHECK(j.local() == "juliet");
    CHECK(j.domain() == "example.com");
    CHECK(j.resource() == "\xEF\xBC\xA1\xEF\xBC\xA2");
    // Halfwidth katakana ﾃｽﾄ maps to テスト.
    CHECK(mustParse("\xEF\xBE\x83\xEF\xBD\xBD\xEF\xBE\x84@example.com").local() ==
          "\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88");
    // A fullwidth '@' inside a localpart is a forbidden '@' once width-mapped.
    auto at = Jid::make(
        "a\xEF\xBC\xA0"
        "b",
        "example.com");
    REQUIRE_FALSE(at);
    CHECK(at.error().part == JidPart::Local);
    CHECK(at.error().code == JidErrorCode::DisallowedChar);
}

TEST_CASE("NFC normalisation", "[stanza]") {
    // e + U+0301 COMBINING ACUTE ACCENT composes to é in every part.
    Jid j = mustParse("caf\x65\xCC\x81@caf\x65\xCC\x81.example/caf\x65\xCC\x81");
    CHECK(j.local() == "caf\xC3\xA9");
    CHECK(j.domain() == "caf\xC3\xA9.example");
    CHECK(j.resource() == "caf\xC3\xA9");
    CHECK(j == mustParse("caf\xC3\xA9@caf\xC3\xA9.example/caf\xC3\xA9"));
}

TEST_CASE("bidi rule applies to localparts only", "[stanza]") {
    CHECK(mustParse("\xD7\x90\xD7\x91@example.com").local() == "\xD7\x90\xD7\x91");  // אב
    CHECK(mustParse("\xD7\x90"
                    "1@example.com")
              .local() ==
          "\xD7\x90"
          "1");  // RTL ending in EN
    auto ltrFirst = mustFail("a\xD7\x90@example.com");
    CHECK(ltrFirst.code == JidErrorCode::BidiRule);
    CHECK(ltrFirst.part == JidPart::Local);
    CHECK(mustFail("\xD7\x90"
                   "a@example.com")
              .code == JidErrorCode::BidiRule);
    // RTL string containing both EN (1) and AN (U+0661): rule 4.
    CHECK(mustFail("\xD8\xA8"
                   "1\xD9\xA1\xD8\xA8@example.com")
              .code == JidErrorCode::BidiRule);
    // OpaqueString has no directionality rule.
    CHECK(mustParse("juliet@example.com/a\xD7\x90").resource() == "a\xD7\x90");
    // Domain labels follow RFC 5893 through IDNA2008.
    CHECK(mustFail("juliet@a\xD7\x90.example").code == JidErrorCode::BidiRule);
    CHECK(mustParse("juliet@\xD7\x90.example").domain() == "\xD7\x90.example");
}

TEST_CASE("contextual rules (RFC 5892 Appendix A)", "[stanza]") {
    CHECK(mustParse("l\xC2\xB7l@example.com").local() == "l\xC2\xB7l");  // Catalan l·l
    CHECK(mustFail("a\xC2\xB7"
                   "b@example.com")
              .code == JidErrorCode::ContextRule);
    // ZWJ after a virama (क्‍) is allowed, elsewhere not.
    CHECK(mustParse("\xE0\xA4\x95\xE0\xA5\x8D\xE2\x80\x8D@example.com").hasLocal());
    CHECK(mustFail("a\xE2\x80\x8D"
                   "b@example.com")
              .code == JidErrorCode::ContextRule);
    // ZWNJ between two dual-joining Arabic letters (ب‌ب) is allowed; between Latin letters not.
    CHECK(mustParse("\xD8\xA8\xE2\x80\x8C\xD8\xA8@example.com").hasLocal());
    CHECK(mustFail("a\xE2\x80\x8C"
                   "b@example.com")
              .code == JidErrorCode::ContextRule);
    // Katakana middle dot needs a kana or Han character somewhere in the string.
    CHECK(mustParse("\xE3\x82\xA2\xE3\x83\xBB\xE3\x82\xA2@example.com").hasLocal());
    CHECK(mustFail("a\xE3\x83\xBB"
                   "b@example.com")
              .code == JidErrorCode::ContextRule);
    // Greek keraia must be followed by a Greek letter.
    CHECK(mustParse("\xCD\xB5\xCE\xB1@example.com").hasLocal());
    CHECK(mustFail("\xCD\xB5"
                   "a@example.com")
              .code == JidErrorCode::ContextRule);
}

TEST_CASE("1023-byte limits per part", "[stanza]") {
    const std::string a1023 = repeat("a", 1023);
    const std::string a1024 = repeat("a", 1024);
    CHECK(mustParse(a1023 + "@example.com").local().size() == 1023);
    auto local = mustFail(a1024 + "@example.com");
    CHECK(local.code == JidErrorCode::TooLong);
    CHECK(local.part == JidPart::Local);
    CHECK(mustParse("example.com/" + a1023).resource().size() == 1023);
    auto res = mustFail("example.com/" + a1024);
    CHECK(res.code == JidErrorCode::TooLong);
    CHECK(res.part == JidPart::Resource);
    // Non-ASCII: 511 × é (2 bytes) + 'a' is 1023 bytes; 512 × é is 1024.
    CHECK(mustParse(repeat("\xC3\xA9", 511) + "a@example.com").local().size() == 1023);
    CHECK(mustFail(repeat("\xC3\xA9", 512) + "@example.com").code == JidErrorCode::TooLong);
    CHECK(mustFail("example.com/" + repeat("\xC3\xA9", 512)).code == JidErrorCode::TooLong);
    // The limit applies after preparation: 1023 fullwidth letters (3069 bytes) map to 1023.
    CHECK(mustParse(repeat("\xEF\xBC\xA1", 1023) + "@example.com").local() == a1023);
    CHECK(mustFail(repeat("\xEF\xBC\xA1", 1024) + "@example.com").code == JidErrorCode::TooLong);
    // Huge input is refused without trouble.
    CHECK(mustFail(repeat("\xC3\xA9", 100000) + "@example.com").code == JidErrorCode::TooLong);
    // DNS limits for the domainpart: 63 bytes per label, 253 in all.
    const std::string l63 = repeat("a", 63);
    CHECK(mustParse("x@" + l63 + ".example").domain().size() == 71);
    CHECK_FALSE(Jid::parse("x@" + l63 + "a.example"));
    const std::string d253 = l63 + "." + l63 + "." + l63 + "." + repeat("b", 61);
    REQUIRE(d253.size() == 253);
    CHECK(mustParse(d253).domain() == d253);
    CHECK(mustParse(d253 + ".").domain() == d253);
    CHECK(mustFail(d253 + "b").code == JidErrorCode::TooLong);
}

TEST_CASE("a final dot in the domainpart is removed", "[stanza]") {
    CHECK(mustParse("juliet@example.com.") == mustParse("juliet@example.com"));
    CHECK(mustParse("example.com./res").domain() == "example.com");
    CHECK(mustParse("juliet@example.com\xE3\x80\x82").domain() == "example.com");  // U+3002
    CHECK(mustParse("juliet@example\xE3\x80\x82"
                    "com")
              .domain() == "example.com");
    CHECK_FALSE(Jid::parse("juliet@example.com.."));
    CHECK_FALSE(Jid::parse("juliet@.example.com"));
    CHECK_FALSE(Jid::parse("juliet@example..com"));
}

TEST_CASE("IP literals in the domainpart", "[stanza]") {
    CHECK(mustParse("juliet@[::1]").domain() == "[::1]");
    CHECK(mustParse("juliet@[0:0:0:0:0:0:0:1]/r").domain() == "[::1]");
    CHECK(mustParse("[2001:DB8::1]") == mustParse("[2001:db8:0::1]"));
    CHECK(mustParse("[2001:DB8::1]").full() == "[2001:db8::1]");
    CHECK(mustParse("[::ffff:192.0.2.1]").domain() == "[::ffff:192.0.2.1]");
    CHECK(mustParse("juliet@192.0.2.1/r").domain() == "192.0.2.1");
    CHECK(mustFail("juliet@[::1").code == JidErrorCode::InvalidIpLiteral);
    CHECK(mustFail("juliet@[example.com]").code == JidErrorCode::InvalidIpLiteral);
    CHECK(mustFail("juliet@[192.0.2.1]").code == JidErrorCode::InvalidIpLiteral);
    CHECK(mustFail("juliet@[fe80::1%eth0]").code == JidErrorCode::InvalidIpLiteral);
    CHECK_FALSE(Jid::parse("juliet@::1"));
}

TEST_CASE("internationalized domain names", "[stanza]") {
    // A-labels become U-labels (RFC 7622 §3.2.1), whatever their case.
    CHECK(mustParse("juliet@xn--mnchen-3ya.de").domain() == "m\xC3\xBCnchen.de");
    CHECK(mustParse("juliet@XN--MNCHEN-3YA.DE").domain() == "m\xC3\xBCnchen.de");
    CHECK(mustParse("juliet@xn--mnchen-3ya.de") == mustParse("juliet@M\xC3\x9CNCHEN.de"));
    CHECK(mustParse("fa\xC3\x9F.de").domain() == "fa\xC3\x9F.de");            // IDNA2008 keeps ß
    CHECK(mustParse("\xE2\x84\xA6.example").domain() == "\xCF\x89.example");  // Ω sign -> ω
    // Invalid names: not LDH, hyphen placement, bad A-labels, symbols, ZWNJ out of context.
    CHECK(mustFail("a_b.example").code == JidErrorCode::DisallowedChar);
    CHECK(mustFail("a b.example").code == JidErrorCode::DisallowedChar);
    CHECK(mustFail("-ab.example").code == JidErrorCode::InvalidDomain);
    CHECK(mustFail("ab-.example").code == JidErrorCode::InvalidDomain);
    CHECK(mustFail("ab--c.example").code == JidErrorCode::InvalidDomain);
    CHECK(mustFail("xn--abc-.example").part == JidPart::Domain);
    CHECK(mustFail("xn--zz.example").part == JidPart::Domain);
    CHECK(mustFail("\xE2\x99\x9A.example").code == JidErrorCode::DisallowedChar);
    CHECK(mustFail("a\xE2\x80\x8C"
                   "b.example")
              .code == JidErrorCode::ContextRule);
    CHECK(mustFail("a\xEF\xBC\xA0"
                   "b.example")
              .part == JidPart::Domain);  // fullwidth @
    CHECK(mustFail("exa\x01mple.com").part == JidPart::Domain);
    CHECK(mustFail(std::string("exa\0mple.com", 12)).part == JidPart::Domain);
}

TEST_CASE("invalid UTF-8 is rejected in every part", "[stanza]") {
    const char* bad[] = {"\xC3", "\xC0\xAF",     "\xED\xA0\x80", "\xF4\x90\x80\x80",
                         "\xFF", "\xE0\x80\xAF", "\x80",         "a\xC3("};
    for (const char* b : bad) {
        INFO("bad sequence index");
        auto l = mustFail(std::string(b) + "@example.com");
        CHECK(l.code == JidErrorCode::InvalidUtf8);
        CHECK(l.part == JidPart::Local);
        auto d = mustFail(std::string("a@ex") + b + ".com");
        CHECK(d.code == JidErrorCode::InvalidUtf8);
        CHECK(d.part == JidPart::Domain);
        auto r = mustFail(std::string("a@example.com/") + b);
        CHECK(r.code == JidErrorCode::InvalidUtf8);
        CHECK(r.part == JidPart::Resource);
        CHECK(prepOpaqueString(b).error().code == JidErrorCode::InvalidUtf8);
    }
}

TEST_CASE("Jid::make, bare, withResource and the predicates", "[stanza]") {
    auto j = Jid::make("Juliet", "Example.com", "Balcony");
    REQUIRE(j);
    CHECK(j->full() == "juliet@example.com/Balcony");
    CHECK(*j == mustParse("juliet@example.com/Balcony"));
    CHECK_FALSE(j->isBare());
    CHECK(j->hasResource());
    CHECK_FALSE(j->isDomain());

    Jid bare = j->bare();
    CHECK(bare.full() == "juliet@example.com");
    CHECK(bare.isBare());
    CHECK_FALSE(bare.hasResource());
    CHECK(bare.resource().empty());
    CHECK(bare.local() == "juliet");

    Jid dom = j->domainJid();
    CHECK(dom.full() == "example.com");
    CHECK(dom.isDomain());
    CHECK(dom.isBare());
    CHECK(dom.local().empty());

    auto other = bare.withResource("Orchard");
    REQUIRE(other);
    CHECK(other->full() == "juliet@example.com/Orchard");
    auto replaced = j->withResource("\xEF\xBC\xA1 x");
    REQUIRE(replaced);
    CHECK(replaced->resource() == "\xEF\xBC\xA1 x");
    CHECK_FALSE(j->withResource(""));
    CHECK_FALSE(j->withResource("\x07"));

    auto domainOnly = Jid::make("", "example.com");
    REQUIRE(domainOnly);
    CHECK(domainOnly->isDomain());
    auto domainRes = Jid::make("", "example.com", "r");
    REQUIRE(domainRes);
    CHECK(domainRes->full() == "example.com/r");
    CHECK_FALSE(domainRes->hasLocal());
    CHECK(domainRes->bare().isDomain());
    CHECK_FALSE(Jid::make("juliet", ""));
    CHECK_FALSE(Jid::make("a@b", "example.com"));
    CHECK(Jid::make("a", "example.com", "b@c/d")->resource() == "b@c/d");
}

TEST_CASE("no half-valid Jid can be built", "[stanza]") {
    // Only parse() and make() (which validate) create Jids; copies stay valid.
    STATIC_REQUIRE_FALSE(std::is_default_constructible_v<Jid>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<Jid, std::string_view>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<Jid, std::string>);
    STATIC_REQUIRE_FALSE(
        std::is_constructible_v<Jid, std::string_view, std::string_view, std::string_view>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Jid>);
    STATIC_REQUIRE(std::is_copy_constructible_v<Jid>);
}

TEST_CASE("Jid equality, ordering and hashing follow the canonical form", "[stanza]") {
    std::unordered_set<Jid> set;
    set.insert(mustParse("Juliet@Example.COM"));
    set.insert(mustParse("juliet@example.com"));
    set.insert(mustParse("juliet@example.com."));
    set.insert(mustParse("\xEF\xBD\x8Auliet@example.com"));  // fullwidth ｊ
    CHECK(set.size() == 1);
    set.insert(mustParse("juliet@example.com/r"));
    CHECK(set.size() == 2);
    CHECK(std::hash<Jid>{}(mustParse("Juliet@Example.COM")) ==
          std::hash<Jid>{}(mustParse("juliet@example.com")));

    std::set<Jid> ordered{mustParse("b@example.com"), mustParse("a@example.com"),
                          mustParse("A@example.com")};
    CHECK(ordered.size() == 2);
    CHECK(ordered.begin()->full() == "a@example.com");
    CHECK(std::is_lt(mustParse("a@example.com") <=> mustParse("b@example.com")));
    CHECK(std::is_eq(mustParse("a@example.com") <=> mustParse("A@EXAMPLE.com")));

    std::map<Jid, int> m;
    m.emplace(mustParse("x@example.com"), 1);
    CHECK(m.count(mustParse("X@Example.com")) == 1);
}

TEST_CASE("error reasons name the part and the problem", "[stanza]") {
    auto e = mustFail("foo bar@example.com");
    CHECK(e.reason.find("localpart") != std::string::npos);
    CHECK(e.reason.find("U+0020") != std::string::npos);
    auto d = mustFail("juliet@a_b.example");
    CHECK(d.reason.find("domainpart") != std::string::npos);
    auto r = mustFail("juliet@example.com/a\x07");
    CHECK(r.reason.find("resourcepart") != std::string::npos);
    CHECK(r.reason.find("U+0007") != std::string::npos);
    CHECK(toString(JidErrorCode::BidiRule) == "bidi-rule");
    CHECK(toString(JidPart::Domain) == "domainpart");
}

TEST_CASE("prepOpaqueString (RFC 8265 §4.2)", "[stanza]") {
    CHECK(*prepOpaqueString("correct horse battery staple") == "correct horse battery staple");
    CHECK(*prepOpaqueString("Correct Horse Battery Staple") == "Correct Horse Battery Staple");
    CHECK(*prepOpaqueString("\xCF\x80\xC3\x9F\xC3\xA5") == "\xCF\x80\xC3\x9F\xC3\xA5");  // πßå
    CHECK(*prepOpaqueString("Jack of \xE2\x99\xA6s") == "Jack of \xE2\x99\xA6s");
    // Non-ASCII spaces become U+0020: OGHAM SPACE MARK, NO-BREAK SPACE, IDEOGRAPHIC SPACE.
    CHECK(*prepOpaqueString("foo\xE1\x9A\x80"
                            "bar") == "foo bar");
    CHECK(*prepOpaqueString("a\xC2\xA0"
                            "b\xE3\x80\x80"
                            "c") == "a b c");
    // No width or case mapping; NFC.
    CHECK(*prepOpaqueString("\xEF\xBC\xA1"
                            "A") ==
          "\xEF\xBC\xA1"
          "A");
    CHECK(*prepOpaqueString("\x65\xCC\x81") == "\xC3\xA9");
    CHECK(*prepOpaqueString("\xEF\xAC\x81") == "\xEF\xAC\x81");  // ﬁ ligature: FREE_PVAL
    // Controls, unassigned code points and emptiness are errors.
    CHECK(prepOpaqueString("my cat is a \x09"
                           "by")
              .error()
              .code == JidErrorCode::DisallowedChar);
    CHECK(prepOpaqueString("\x07").error().code == JidErrorCode::DisallowedChar);
    CHECK(prepOpaqueString("\x7F").error().code == JidErrorCode::DisallowedChar);
    CHECK(prepOpaqueString("a\xCD\xB8").error().code == JidErrorCode::DisallowedChar);  // U+0378
    CHECK(prepOpaqueString("").error().code == JidErrorCode::Empty);
    CHECK(prepOpaqueString("").error().part == JidPart::Whole);
    // Unlike a resourcepart, a password is not limited to 1023 bytes.
    CHECK(prepOpaqueString(repeat("p", 2000))->size() == 2000);
}

TEST_CASE("UsernameCaseMapped examples (RFC 8265 §3.5)", "[stanza]") {
    CHECK(*prepLocalpart("juliet") == "juliet");
    CHECK(*prepLocalpart("fussball") == "fussball");
    CHECK(*prepLocalpart("fu\xC3\x9F"
                         "ball") ==
          "fu\xC3\x9F"
          "ball");
    CHECK(*prepLocalpart("\xCF\x80") == "\xCF\x80");
    CHECK(*prepLocalpart("\xCE\xA3") == "\xCF\x83");
    CHECK(*prepLocalpart("\xCF\x82") == "\xCF\x82");
    CHECK_FALSE(prepLocalpart("foo bar"));
    CHECK_FALSE(prepLocalpart(""));
    CHECK_FALSE(prepLocalpart("henri\xE2\x85\xA3"));
    CHECK_FALSE(prepLocalpart("\xE2\x99\x9A"));
    CHECK_FALSE(prepLocalpart("\xEF\xAC\x81"));  // ﬁ: HasCompat, ID_DIS
    CHECK_FALSE(
        prepLocalpart("a\xC2\xAD"
                      "b"));                     // SOFT HYPHEN: default ignorable
    CHECK_FALSE(prepLocalpart("\xEE\x80\x80"));  // private use
    for (const char* forbidden : {"\"", "&", "'", "/", ":", "<", ">", "@"}) {
        auto r = prepLocalpart(std::string("a") + forbidden + "b");
        REQUIRE_FALSE(r);
        CHECK(r.error().code == JidErrorCode::DisallowedChar);
    }
    CHECK(*prepLocalpart("!#$%()*+,-.;=?[\\]^_`{|}~") == "!#$%()*+,-.;=?[\\]^_`{|}~");
}

// ---- properties ----

namespace {

// The code points of the sweep: every one below U+3400 (scripts, symbols, compatibility blocks,
// the contextual ones), then a stride through the rest of the BMP and the supplementary planes.
std::vector<char32_t> sweepCodePoints() {
    std::vector<char32_t> cps;
    for (char32_t cp = 0; cp < 0x3400; ++cp) {
        cps.push_back(cp);
    }
    for (char32_t cp = 0x3400; cp < 0x10000; cp += 7) {
        cps.push_back(cp);
    }
    for (char32_t cp = 0xFF00; cp < 0xFFF0; ++cp) {  // all of the fullwidth/halfwidth block
        cps.push_back(cp);
    }
    for (char32_t cp = 0x10000; cp <= 0x10FFFF; cp += 97) {
        cps.push_back(cp);
    }
    return cps;
}

std::string utf8(char32_t cp) {
    std::string out;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return out;
}

template <typename Prep>
void checkIdempotent(Prep prep, const std::string& in, std::size_t& accepted,
                     std::vector<std::string>& failures) {
    auto once = prep(in);
    if (!once) {
        return;
    }
    ++accepted;
    auto twice = prep(*once);
    if (!twice || *twice != *once) {
        failures.push_back(in);
    }
}

}  // namespace

TEST_CASE("prep is idempotent over a sweep of code points", "[stanza]") {
    std::size_t acceptedLocal = 0;
    std::size_t acceptedResource = 0;
    std::size_t acceptedDomain = 0;
    std::vector<std::string> failures;
    for (char32_t cp : sweepCodePoints()) {
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            continue;
        }
        const std::string c = utf8(cp);
        for (const std::string& s : {c, "A" + c, c + "\xCC\x81", "\xEF\xBC\xA1" + c + "Z"}) {
            checkIdempotent(prepLocalpart, s, acceptedLocal, failures);
            checkIdempotent(prepResourcepart, s, acceptedResource, failures);
            checkIdempotent(prepOpaqueString, s, acceptedResource, failures);
        }
        checkIdempotent(prepDomainpart, "x" + c + ".example", acceptedDomain, failures);
    }
    INFO("first failure: " << (failures.empty() ? std::string() : failures.front()));
    CHECK(failures.empty());
    // The sweep really exercised the accepting paths.
    CHECK(acceptedLocal > 20000);
    CHECK(acceptedResource > 40000);
    CHECK(acceptedDomain > 5000);
}

TEST_CASE("a JID's text parses back to the same JID", "[stanza]") {
    const char* inputs[] = {
        "Juliet@Example.COM/Balcony",
        "\xCE\xA3\xCE\x91\xCE\xA3@xn--mnchen-3ya.de/\xE2\x99\x9A",
        "example.com./a/b@c",
        "\xEF\xBC\xAA@[2001:DB8::1]/x",
        "caf\x65\xCC\x81@caf\x65\xCC\x81.example/caf\x65\xCC\x81 \xC2\xA0x",
    };
    for (const char* in : inputs) {
        Jid j = mustParse(in);
        Jid again = mustParse(j.full());
        CHECK(again == j);
        CHECK(again.full() == j.full());
        CHECK(prepLocalpart(j.local()).value_or("") == j.local());
    }
}

// ---- the ASCII fast paths give exactly what the general paths give ----

namespace {

template <typename Fast, typename Slow>
void compareFastSlow(Fast fast, Slow slow, const std::string& in, std::size_t& okCount) {
    auto f = fast(in);
    auto s = slow(in);
    INFO("input: '" << in << "'");
    REQUIRE(f.has_value() == s.has_value());
    if (f) {
        ++okCount;
        REQUIRE(*f == *s);
    } else {
        REQUIRE(f.error().code == s.error().code);
        REQUIRE(f.error().part == s.error().part);
    }
}

}  // namespace

TEST_CASE("ASCII fast paths agree with the general paths", "[stanza]") {
    std::size_t ok = 0;
    // Every string of one and two ASCII characters.
    for (int a = 0; a < 128; ++a) {
        std::string one(1, static_cast<char>(a));
        compareFastSlow(prepLocalpart, detail::prepLocalpartSlow, one, ok);
        compareFastSlow(prepResourcepart, detail::prepResourcepartSlow, one, ok);
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, one, ok);
        for (int b = 0; b < 128; ++b) {
            std::string two{static_cast<char>(a), static_cast<char>(b)};
            compareFastSlow(prepLocalpart, detail::prepLocalpartSlow, two, ok);
            compareFastSlow(prepResourcepart, detail::prepResourcepartSlow, two, ok);
            compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, two, ok);
        }
    }
    CHECK(ok > 20000);

    // Random longer strings, biased towards the characters that matter for each part.
    std::mt19937 rng(7622);
    const std::string domainAlphabet = "abcXYZ0189-.-.._[]:xn";
    const std::string textAlphabet = "aZ09 @/\"&'<>:.-_~\\\x7F\x01\t";
    auto randomString = [&](const std::string& alphabet, std::size_t maxLen) {
        std::uniform_int_distribution<std::size_t> len(0, maxLen);
        std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
        std::string s(len(rng), ' ');
        for (char& c : s) {
            c = alphabet[pick(rng)];
        }
        return s;
    };
    ok = 0;
    for (int i = 0; i < 20000; ++i) {
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow,
                        randomString(domainAlphabet, 24), ok);
        compareFastSlow(prepLocalpart, detail::prepLocalpartSlow, randomString(textAlphabet, 12),
                        ok);
        compareFastSlow(prepResourcepart, detail::prepResourcepartSlow,
                        randomString(textAlphabet, 12), ok);
    }
    CHECK(ok > 5000);

    // Length edges: labels of 62..65 bytes, names of 251..256 bytes, parts of 1022..1025 bytes.
    ok = 0;
    for (std::size_t n = 1020; n <= 1026; ++n) {
        compareFastSlow(prepLocalpart, detail::prepLocalpartSlow, repeat("Ab", n).substr(0, n), ok);
        compareFastSlow(prepResourcepart, detail::prepResourcepartSlow,
                        repeat("a ", n).substr(0, n), ok);
    }
    for (std::size_t n = 60; n <= 66; ++n) {
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, repeat("a", n) + ".com", ok);
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, "x." + repeat("B", n) + ".",
                        ok);
    }
    for (std::size_t n = 248; n <= 258; ++n) {
        std::string name;
        while (name.size() < n) {
            name += name.size() % 10 == 9 ? '.' : 'q';
        }
        if (name.back() == '.') {
            name.back() = 'q';
        }
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, name, ok);
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, name + ".", ok);
    }
    CHECK(ok > 20);
    // A-labels, IP literals and trailing dots.
    for (const char* s : {"xn--mnchen-3ya.de", "XN--MNCHEN-3YA.DE.", "192.0.2.1", "192.0.2.1.",
                          "01.2.3.4", "[::1]", "ab--cd.example", "a-b.c-d", "1.2.3", "-"}) {
        compareFastSlow(prepDomainpart, detail::prepDomainpartSlow, s, ok);
    }
}
