#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "conf/schema.h"

// Checks of single string values, used by the loader for StringFormat. Internal to conf/.
namespace corvid::conf::detail {

/// Checks `value` against `format`; returns the normalised value or why it is not acceptable.
std::expected<std::string, std::string> checkFormat(StringFormat format, std::string_view value);

/// A domainpart normalised per RFC 7622 §3.2, or why it is not one.
std::expected<std::string, std::string> normaliseDomain(std::string_view domain);

/// A bare JID (localpart@domainpart, RFC 7622 §3) normalised, or why it is not one.
std::expected<std::string, std::string> normaliseBareJid(std::string_view jid);

/// Whether `address` is an IPv4 or IPv6 literal; returns it in canonical text form.
std::expected<std::string, std::string> normaliseIpAddress(std::string_view address);

struct HostPort {
    std::string host;
    std::uint16_t port = 0;
};

/// Splits "host:port", "[v6]:port" or "host" (port = defaultPort).
std::expected<HostPort, std::string> parseHostPort(std::string_view value,
                                                   std::uint16_t defaultPort);

/// Levenshtein distance, ASCII case-insensitive; for did-you-mean suggestions.
std::size_t editDistance(std::string_view a, std::string_view b);

}  // namespace corvid::conf::detail
