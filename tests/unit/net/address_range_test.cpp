#include <catch2/catch.hpp>

#include <string>

#include "net/address_range.h"

using corvid::net::nonPublicRange;
using corvid::net::SocketAddress;

namespace {

std::string rangeOf(const std::string& ip) {
    auto address = SocketAddress::fromLiteral(ip, 5269);
    REQUIRE(address.has_value());
    return std::string(nonPublicRange(*address));
}

}  // namespace

TEST_CASE("special-purpose IPv4 ranges are not public", "[net][ssrf]") {
    CHECK(rangeOf("127.0.0.1") == "loopback (127.0.0.0/8)");
    CHECK(rangeOf("127.255.255.254") == "loopback (127.0.0.0/8)");
    CHECK(rangeOf("10.1.2.3") == "private (10.0.0.0/8)");
    CHECK(rangeOf("172.16.0.1") == "private (172.16.0.0/12)");
    CHECK(rangeOf("172.31.255.255") == "private (172.16.0.0/12)");
    CHECK(rangeOf("192.168.1.1") == "private (192.168.0.0/16)");
    CHECK(rangeOf("100.64.0.1") == "shared address space (100.64.0.0/10)");
    CHECK(rangeOf("100.127.255.255") == "shared address space (100.64.0.0/10)");
    CHECK(rangeOf("169.254.169.254") == "link-local (169.254.0.0/16)");
    CHECK(rangeOf("0.0.0.0") == "\"this network\" (0.0.0.0/8)");
    CHECK(rangeOf("224.0.0.251") == "multicast (224.0.0.0/4)");
    CHECK(rangeOf("239.255.255.255") == "multicast (224.0.0.0/4)");
    CHECK(rangeOf("255.255.255.255") == "reserved (240.0.0.0/4)");
    CHECK(rangeOf("198.19.0.1") == "benchmarking (198.18.0.0/15)");
    CHECK(rangeOf("192.0.2.7") == "documentation (192.0.2.0/24)");
}

TEST_CASE("public IPv4 addresses, including the neighbours of private ranges", "[net][ssrf]") {
    for (const char* ip :
         {"8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0",
          "192.167.255.255", "192.169.0.0", "100.63.255.255", "100.128.0.0", "169.253.255.255",
          "126.255.255.255", "128.0.0.0", "223.255.255.255", "198.20.0.0"}) {
        INFO(ip);
        CHECK(rangeOf(ip).empty());
    }
}

TEST_CASE("special-purpose IPv6 ranges are not public", "[net][ssrf]") {
    CHECK(rangeOf("::1") == "loopback (::1/128)");
    CHECK(rangeOf("::") == "unspecified (::/128)");
    CHECK(rangeOf("fc00::1") == "unique local (fc00::/7)");
    CHECK(rangeOf("fdff:ffff::1") == "unique local (fc00::/7)");
    CHECK(rangeOf("fe80::1") == "link-local (fe80::/10)");
    CHECK(rangeOf("febf::1") == "link-local (fe80::/10)");
    CHECK(rangeOf("fec0::1") == "site-local (fec0::/10)");
    CHECK(rangeOf("ff02::1") == "multicast (ff00::/8)");
    CHECK(rangeOf("2001:db8::5") == "documentation (2001:db8::/32)");
    CHECK(rangeOf("100::1") == "discard-only (100::/64)");
    CHECK(rangeOf("64:ff9b:1::1") == "local-use NAT64 (64:ff9b:1::/48)");
}

TEST_CASE("IPv6 forms of an IPv4 address are judged by that address", "[net][ssrf]") {
    CHECK(rangeOf("::ffff:127.0.0.1") == "loopback (127.0.0.0/8)");
    CHECK(rangeOf("::ffff:10.0.0.1") == "private (10.0.0.0/8)");
    CHECK(rangeOf("::ffff:169.254.169.254") == "link-local (169.254.0.0/16)");
    CHECK(rangeOf("::127.0.0.1") == "loopback (127.0.0.0/8)");
    CHECK(rangeOf("::8.8.8.8") == "IPv4-compatible (::/96, deprecated)");
    CHECK(rangeOf("64:ff9b::192.168.0.1") == "private (192.168.0.0/16)");
    CHECK(rangeOf("2002:7f00:1::1") == "loopback (127.0.0.0/8)");
    CHECK(rangeOf("2002:c0a8:101::") == "private (192.168.0.0/16)");
    CHECK(rangeOf("::ffff:8.8.8.8").empty());
    CHECK(rangeOf("64:ff9b::8.8.8.8").empty());
    CHECK(rangeOf("2002:808:808::1").empty());
}

TEST_CASE("public IPv6 addresses", "[net][ssrf]") {
    for (const char* ip :
         {"2001:4860:4860::8888", "2a00:1450::1", "fbff::1", "fe00::1", "2001:db9::1"}) {
        INFO(ip);
        CHECK(rangeOf(ip).empty());
    }
}
