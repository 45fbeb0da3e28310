#include "conf/value_checks.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include "stanza/jid.h"

namespace corvid::conf::detail {

namespace {

char asciiLower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::expected<std::string, std::string> normaliseIpAddress(std::string_view address) {
    const std::string text(address);
    std::array<unsigned char, sizeof(in6_addr)> buf{};
    std::array<char, INET6_ADDRSTRLEN> out{};
    if (inet_pton(AF_INET, text.c_str(), buf.data()) == 1) {
        inet_ntop(AF_INET, buf.data(), out.data(), out.size());
        return std::string(out.data());
    }
    if (inet_pton(AF_INET6, text.c_str(), buf.data()) == 1) {
        inet_ntop(AF_INET6, buf.data(), out.data(), out.size());
        return std::string(out.data());
    }
    if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
        return std::unexpected("write IPv6 addresses without brackets");
    }
    return std::unexpected("not an IPv4 or IPv6 address (host names are not resolved here)");
}

std::expected<std::string, std::string> normaliseDomain(std::string_view domain) {
    // RFC 7622 §3.2, with the same preparation the server applies to addresses on the wire, so
    // that a configured domain compares equal to the one clients and peers send.
    auto prepared = stanza::prepDomainpart(domain);
    if (!prepared) {
        return std::unexpected(std::move(prepared.error().reason));
    }
    return std::move(*prepared);
}

std::expected<std::string, std::string> normaliseBareJid(std::string_view jid) {
    auto parsed = stanza::Jid::parse(jid);
    if (!parsed) {
        return std::unexpected(std::move(parsed.error().reason));
    }
    if (parsed->hasResource()) {
        return std::unexpected("must be a bare JID (no /resource)");
    }
    if (!parsed->hasLocal()) {
        return std::unexpected("must be a bare JID of an account (localpart@domain)");
    }
    return parsed->full();
}

std::expected<HostPort, std::string> parseHostPort(std::string_view value,
                                                   std::uint16_t defaultPort) {
    HostPort out{{}, defaultPort};
    std::string_view port;
    bool hasPort = false;
    if (!value.empty() && value.front() == '[') {
        const std::size_t close = value.find(']');
        if (close == std::string_view::npos) {
            return std::unexpected("unterminated '[' in address");
        }
        const std::string_view rest = value.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return std::unexpected("expected ':port' after ']'");
        }
        hasPort = !rest.empty();
        port = hasPort ? rest.substr(1) : rest;
        out.host = std::string(value.substr(1, close - 1));
        std::array<unsigned char, sizeof(in6_addr)> buf{};
        if (inet_pton(AF_INET6, out.host.c_str(), buf.data()) != 1) {
            return std::unexpected("invalid IPv6 address in brackets");
        }
    } else {
        std::string_view host = value;
        const std::size_t colon = value.find(':');
        if (colon != std::string_view::npos) {
            if (value.find(':', colon + 1) != std::string_view::npos) {
                return std::unexpected("write IPv6 addresses in brackets: \"[::1]:5269\"");
            }
            host = value.substr(0, colon);
            port = value.substr(colon + 1);
            hasPort = true;
        }
        // A host name is prepared like a domainpart; dotted IPv4 addresses pass too.
        auto checked = normaliseDomain(host);
        if (!checked) {
            return std::unexpected(checked.error());
        }
        out.host = std::move(*checked);
    }
    if (hasPort) {
        unsigned int n = 0;
        const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
        if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || n == 0 ||
            n > 65535) {
            return std::unexpected("port must be a number from 1 to 65535");
        }
        out.port = static_cast<std::uint16_t>(n);
    }
    return out;
}

std::expected<std::string, std::string> checkFormat(StringFormat format, std::string_view value) {
    switch (format) {
        case StringFormat::Any:
            return std::string(value);
        case StringFormat::NonEmpty:
            if (value.empty()) {
                return std::unexpected("must not be empty");
            }
            return std::string(value);
        case StringFormat::Domain:
            return normaliseDomain(value);
        case StringFormat::BareJid:
            return normaliseBareJid(value);
        case StringFormat::IpAddress:
            return normaliseIpAddress(value);
        case StringFormat::HostPort: {
            auto hp = parseHostPort(value, 5269);
            if (!hp) {
                return std::unexpected(hp.error());
            }
            return std::string(value);
        }
        case StringFormat::Url: {
            const bool https = value.starts_with("https://");
            const bool http = value.starts_with("http://");
            if (!https && !http) {
                return std::unexpected("must be an http:// or https:// URL");
            }
            const std::string_view rest = value.substr(https ? 8 : 7);
            if (rest.empty() || rest.front() == '/') {
                return std::unexpected("URL has no host");
            }
            if (std::any_of(value.begin(), value.end(),
                            [](char c) { return static_cast<unsigned char>(c) <= 0x20; })) {
                return std::unexpected("URL contains spaces or control characters");
            }
            return std::string(value);
        }
    }
    return std::string(value);
}

std::size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1);
    std::vector<std::size_t> cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t subst = asciiLower(a[i - 1]) == asciiLower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + subst});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace corvid::conf::detail
