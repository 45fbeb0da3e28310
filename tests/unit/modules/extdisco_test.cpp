#include "modules/extdisco.h"

#include <catch2/catch.hpp>

#include "conf/config.h"

using namespace corvid;
using namespace corvid::modules;

namespace {

// Computed independently with Python's hmac module:
//   base64.b64encode(hmac.new(b"north", b"1700000000:alice@localhost", hashlib.sha1).digest())
constexpr std::string_view kPassword = "ZpZzWpxGMEIfiWJAF3AWU309EHI=";

conf::Config load(std::string_view extdisco) {
    auto c = conf::loadConfigString(
        "[database]\ndsn = \"\"\n[tls]\ncertificate = \"/c\"\nkey = \"/k\"\n[[hosts]]\n"
        "domain = \"localhost\"\n" +
            std::string(extdisco),
        "test");
    REQUIRE(c.has_value());
    return std::move(*c);
}

}  // namespace

TEST_CASE("TURN credentials in coturn's use-auth-secret scheme", "[modules]") {
    const TurnCredentials c = turnCredentials("north", 1700000000, "alice@localhost");
    CHECK(c.username == "1700000000:alice@localhost");
    CHECK(c.password == kPassword);
    // Without a user the username is the timestamp alone.
    CHECK(turnCredentials("north", 1700000000, "").username == "1700000000");
    CHECK(turnCredentials("north", 1700000000, "").password == "CWyHi3zCeWqXBir9thl4m+iZPRY=");
    // Another secret, expiry or user: another password.
    CHECK(turnCredentials("south", 1700000000, "alice@localhost").password != kPassword);
    CHECK(turnCredentials("north", 1700000001, "alice@localhost").password != kPassword);
    CHECK(turnCredentials("north", 1700000000, "bob@localhost").password != kPassword);
}

TEST_CASE("services from the configuration, with their defaults", "[modules]") {
    const conf::Config c = load(
        "[[modules.extdisco.services]]\ntype = \"stun\"\nhost = \"stun.example.org\"\n"
        "[[modules.extdisco.services]]\ntype = \"turns\"\nhost = \"turn.example.org\"\n"
        "transport = \"tcp\"\nsecret = \"north\"\n"
        "[[modules.extdisco.services]]\ntype = \"turn\"\nhost = \"10.0.0.1\"\nport = 3479\n"
        "username = \"guest\"\npassword = \"pw\"\n");
    const auto services = externalServices(c.module("extdisco").options);
    REQUIRE(services.size() == 3);
    CHECK(services[0].type == "stun");
    CHECK(services[0].port == 3478);
    CHECK(services[0].transport.empty());
    CHECK(services[1].port == 5349);
    CHECK(services[1].transport == "tcp");
    CHECK(services[1].secret == "north");
    CHECK(services[2].port == 3479);
    CHECK(services[2].username == "guest");
    CHECK(services[2].password == "pw");
    CHECK(c.module("extdisco").options.getInt("credential_lifetime_s") == 86400);
}

TEST_CASE("a service element carries fresh or fixed credentials", "[modules]") {
    const auto now = std::chrono::system_clock::from_time_t(1700000000 - 3600);
    ExternalService turn{.type = "turn",
                         .host = "turn.example.org",
                         .port = 3478,
                         .transport = "udp",
                         .secret = "north"};
    const xml::Element e = serviceElement(turn, "alice@localhost", now, std::chrono::hours(1));
    CHECK(e.name() == "service");
    CHECK(e.ns() == "urn:xmpp:extdisco:2");
    CHECK(e.attr("type") == "turn");
    CHECK(e.attr("host") == "turn.example.org");
    CHECK(e.attr("port") == "3478");
    CHECK(e.attr("transport") == "udp");
    CHECK(e.attr("username") == "1700000000:alice@localhost");
    CHECK(e.attr("password") == kPassword);
    CHECK(e.attr("expires") == "2023-11-14T22:13:20Z");
    CHECK(e.attr("restricted") == "1");

    ExternalService stun{.type = "stun", .host = "stun.example.org", .port = 3478};
    const xml::Element s = serviceElement(stun, "alice@localhost", now, std::chrono::hours(1));
    CHECK_FALSE(s.hasAttr("username"));
    CHECK_FALSE(s.hasAttr("password"));
    CHECK_FALSE(s.hasAttr("expires"));
    CHECK_FALSE(s.hasAttr("restricted"));
    CHECK_FALSE(s.hasAttr("transport"));

    ExternalService fixed{.type = "turn", .host = "t", .username = "guest", .password = "pw"};
    const xml::Element f = serviceElement(fixed, "alice@localhost", now, std::chrono::hours(1));
    CHECK(f.attr("username") == "guest");
    CHECK(f.attr("password") == "pw");
    CHECK_FALSE(f.hasAttr("expires"));
}
