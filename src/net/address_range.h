#pragma once

#include <string_view>

#include "net/dns_resolver.h"

namespace corvid::net {

/// The special-purpose range (RFC 6890 and its IPv4 / IPv6 registries) that `address` falls in,
/// as "loopback (127.0.0.0/8)" and the like, or "" for a public unicast address: the check that
/// keeps DNS from pointing outgoing federation at this host or its private networks (server-side
/// request forgery). Covers the unspecified, loopback, private (RFC 1918), shared (RFC 6598),
/// link-local, documentation, benchmarking, unique-local (fc00::/7), site-local, multicast and
/// reserved ranges; IPv6 forms that carry an IPv4 address (IPv4-mapped and -compatible, NAT64
/// 64:ff9b::/96, 6to4 2002::/16) are judged by that address.
std::string_view nonPublicRange(const SocketAddress& address);

}  // namespace corvid::net
