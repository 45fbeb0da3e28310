#include "conf/value_checks.h"

#include <catch2/catch.hpp>

using namespace corvid::conf;
using namespace corvid::conf::detail;

TEST_CASE("domains are checked and normalised", "[conf]") {
    CHECK(normaliseDomain("Example.ORG") == "example.org");
    // RFC 7622 §3.2: a trailing dot is stripped.
    CHECK(normaliseDomain("example.org.") == "example.org");
    CHECK(normaliseDomain("localhost") == "localhost");
    // RFC 7622 §3.2.1: A-labels become U-labels; upper case is mapped (RFC 5895).
    CHECK(normaliseDomain("xn--caf-dma.example") == "caf\xC3\xA9.example");
    CHECK(normaliseDomain("CAF\xC3\x89.Example") == "caf\xC3\xA9.example");
    CHECK(normaliseDomain("192.0.2.1") == "192.0.2.1");
    CHECK(normaliseDomain("[2001:DB8::1]") == "[2001:db8::1]");
    CHECK(normaliseDomain("caf\xC3\xA9.example") == "caf\xC3\xA9.example");

    CHECK_FALSE(normaliseDomain("").has_value());
    CHECK_FALSE(normaliseDomain(".").has_value());
    CHECK_FALSE(normaliseDomain("a..b").has_value());
    CHECK_FALSE(normaliseDomain("-a.example").has_value());
    CHECK_FALSE(normaliseDomain("a-.example").has_value());
    CHECK_FALSE(normaliseDomain("a b").has_value());
    CHECK_FALSE(normaliseDomain("user@example.org").has_value());
    CHECK_FALSE(normaliseDomain("example.org/res").has_value());
    CHECK_FALSE(normaliseDomain("[not-v6]").has_value());
    CHECK_FALSE(normaliseDomain("[::1").has_value());
    CHECK_FALSE(normaliseDomain(std::string(64, 'a') + ".example").has_value());
    CHECK(normaliseDomain(std::string(63, 'a') + ".example").has_value());
    CHECK_FALSE(normaliseDomain("bad\xC3").has_value());           // truncated UTF-8
    CHECK_FALSE(normaliseDomain("\xC0\xAF.example").has_value());  // overlong
}

TEST_CASE("bare JIDs are checked and normalised", "[conf]") {
    CHECK(normaliseBareJid("Admin@Example.org") == "admin@example.org");
    CHECK(normaliseBareJid("a.b-c@example.org.") == "a.b-c@example.org");
    CHECK(normaliseBareJid("nobody").error() ==
          "must be a bare JID of an account (localpart@domain)");
    CHECK(normaliseBareJid("a@example.org/res").error() == "must be a bare JID (no /resource)");
    CHECK_FALSE(normaliseBareJid("@example.org").has_value());
    CHECK_FALSE(normaliseBareJid("a b@example.org").has_value());
    CHECK_FALSE(normaliseBareJid("a'b@example.org").has_value());
    CHECK_FALSE(normaliseBareJid("a@b@example.org").has_value());
    CHECK_FALSE(normaliseBareJid("a@").has_value());
}

TEST_CASE("listener addresses are IP literals in canonical form", "[conf]") {
    CHECK(normaliseIpAddress("0.0.0.0") == "0.0.0.0");
    CHECK(normaliseIpAddress("::") == "::");
    CHECK(normaliseIpAddress("0:0::0") == "::");
    CHECK(normaliseIpAddress("2001:DB8:0::1") == "2001:db8::1");
    CHECK(normaliseIpAddress("[::1]").error() == "write IPv6 addresses without brackets");
    CHECK_FALSE(normaliseIpAddress("localhost").has_value());
    CHECK_FALSE(normaliseIpAddress("256.0.0.1").has_value());
    CHECK_FALSE(normaliseIpAddress("").has_value());
}

TEST_CASE("static route targets", "[conf]") {
    auto hp = parseHostPort("Relay.Example.net:5270", 5269);
    REQUIRE(hp.has_value());
    CHECK(hp->host == "relay.example.net");
    CHECK(hp->port == 5270);
    hp = parseHostPort("relay.example.net", 5269);
    REQUIRE(hp.has_value());
    CHECK(hp->port == 5269);
    hp = parseHostPort("[2001:db8::1]:1", 5269);
    REQUIRE(hp.has_value());
    CHECK(hp->host == "2001:db8::1");
    CHECK(hp->port == 1);
    hp = parseHostPort("[::1]", 5269);
    REQUIRE(hp.has_value());
    CHECK(hp->port == 5269);
    hp = parseHostPort("192.0.2.7:5269", 1);
    REQUIRE(hp.has_value());
    CHECK(hp->host == "192.0.2.7");

    CHECK_FALSE(parseHostPort("h:0", 5269).has_value());
    CHECK_FALSE(parseHostPort("h:65536", 5269).has_value());
    CHECK_FALSE(parseHostPort("h:", 5269).has_value());
    CHECK_FALSE(parseHostPort("h:52x", 5269).has_value());
    CHECK_FALSE(parseHostPort("::1:5269", 5269).has_value());
    CHECK_FALSE(parseHostPort("[::1]5269", 5269).has_value());
    CHECK_FALSE(parseHostPort("[::1:5269", 5269).has_value());
    CHECK_FALSE(parseHostPort("", 5269).has_value());
}

TEST_CASE("string formats", "[conf]") {
    CHECK(checkFormat(StringFormat::Any, "") == "");
    CHECK_FALSE(checkFormat(StringFormat::NonEmpty, "").has_value());
    CHECK(checkFormat(StringFormat::Url, "https://upload.example/") == "https://upload.example/");
    CHECK(checkFormat(StringFormat::Url, "http://h:8080/x").has_value());
    CHECK_FALSE(checkFormat(StringFormat::Url, "ftp://h/").has_value());
    CHECK_FALSE(checkFormat(StringFormat::Url, "https://").has_value());
    CHECK_FALSE(checkFormat(StringFormat::Url, "https:///path").has_value());
    CHECK_FALSE(checkFormat(StringFormat::Url, "https://a b/").has_value());
    CHECK(checkFormat(StringFormat::HostPort, "h:1") == "h:1");
}

TEST_CASE("edit distance for suggestions", "[conf]") {
    CHECK(editDistance("", "") == 0);
    CHECK(editDistance("abc", "") == 3);
    CHECK(editDistance("max_stanza_byte", "max_stanza_bytes") == 1);
    CHECK(editDistance("Log_Level", "log_level") == 0);
    CHECK(editDistance("kitten", "sitting") == 3);
    CHECK(editDistance("port", "prot") == 2);
}
