#include "net/address_range.h"

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace corvid::net {

namespace {

template <std::size_t N>
struct Range {
    std::array<std::uint8_t, N> prefix;
    int bits;
    std::string_view name;
};

template <std::size_t N>
bool inRange(const std::uint8_t* address, const Range<N>& range) {
    const int whole = range.bits / 8;
    if (std::memcmp(address, range.prefix.data(), static_cast<std::size_t>(whole)) != 0) {
        return false;
    }
    const int rest = range.bits % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (address[whole] & mask) == (range.prefix[static_cast<std::size_t>(whole)] & mask);
}

// IANA IPv4 Special-Purpose Address Registry (RFC 6890) and multicast (RFC 5771).
constexpr Range<4> kIpv4[] = {
    {{0, 0, 0, 0}, 8, "\"this network\" (0.0.0.0/8)"},
    {{10, 0, 0, 0}, 8, "private (10.0.0.0/8)"},
    {{100, 64, 0, 0}, 10, "shared address space (100.64.0.0/10)"},
    {{127, 0, 0, 0}, 8, "loopback (127.0.0.0/8)"},
    {{169, 254, 0, 0}, 16, "link-local (169.254.0.0/16)"},
    {{172, 16, 0, 0}, 12, "private (172.16.0.0/12)"},
    {{192, 0, 0, 0}, 24, "IETF protocol assignments (192.0.0.0/24)"},
    {{192, 0, 2, 0}, 24, "documentation (192.0.2.0/24)"},
    {{192, 168, 0, 0}, 16, "private (192.168.0.0/16)"},
    {{198, 18, 0, 0}, 15, "benchmarking (198.18.0.0/15)"},
    {{198, 51, 100, 0}, 24, "documentation (198.51.100.0/24)"},
    {{203, 0, 113, 0}, 24, "documentation (203.0.113.0/24)"},
    {{224, 0, 0, 0}, 4, "multicast (224.0.0.0/4)"},
    {{240, 0, 0, 0}, 4, "reserved (240.0.0.0/4)"},
};

// IANA IPv6 Special-Purpose Address Registry (RFC 6890), multicast (RFC 4291 §2.7), site-local
// (RFC 3879). Forms that embed an IPv4 address are handled before this table.
constexpr Range<16> kIpv6[] = {
    {{}, 128, "unspecified (::/128)"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback (::1/128)"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "local-use NAT64 (64:ff9b:1::/48)"},
    {{0x01, 0x00}, 64, "discard-only (100::/64)"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation (2001:db8::/32)"},
    {{0xfc}, 7, "unique local (fc00::/7)"},
    {{0xfe, 0x80}, 10, "link-local (fe80::/10)"},
    {{0xfe, 0xc0}, 10, "site-local (fec0::/10)"},
    {{0xff}, 8, "multicast (ff00::/8)"},
};

constexpr Range<16> kIpv4Mapped = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, {}};
constexpr Range<16> kIpv4Compatible = {{}, 96, {}};
constexpr Range<16> kNat64 = {{0x00, 0x64, 0xff, 0x9b}, 96, {}};
constexpr Range<16> kSixToFour = {{0x20, 0x02}, 16, {}};

std::string_view ipv4Range(const std::uint8_t* address) {
    for (const auto& range : kIpv4) {
        if (inRange(address, range)) {
            return range.name;
        }
    }
    return {};
}

std::string_view ipv6Range(const std::uint8_t* address) {
    for (const auto& range : kIpv6) {
        if (range.bits == 128 && inRange(address, range)) {
            return range.name;  // :: and ::1 before the IPv4-compatible ::/96
        }
    }
    if (inRange(address, kIpv4Mapped) || inRange(address, kNat64)) {
        return ipv4Range(address + 12);
    }
    if (inRange(address, kIpv4Compatible)) {
        // RFC 4291 §2.5.5.1: deprecated; what it carries decides, as a stack may still map it.
        const std::string_view embedded = ipv4Range(address + 12);
        return embedded.empty() ? "IPv4-compatible (::/96, deprecated)" : embedded;
    }
    if (inRange(address, kSixToFour)) {
        return ipv4Range(address + 2);  // RFC 3056 §2: 2002:V4ADDR::/48
    }
    for (const auto& range : kIpv6) {
        if (inRange(address, range)) {
            return range.name;
        }
    }
    return {};
}

}  // namespace

std::string_view nonPublicRange(const SocketAddress& address) {
    if (address.storage.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
        return ipv4Range(reinterpret_cast<const std::uint8_t*>(&in->sin_addr));
    }
    if (address.storage.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
        return ipv6Range(in6->sin6_addr.s6_addr);
    }
    return "not an IP address";
}

}  // namespace corvid::net
