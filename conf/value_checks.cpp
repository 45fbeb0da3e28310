#include "conf/value_checks.h"

#include <arpa/inet.h>

#include <netinet/in.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

namespace corvid::conf::detail {

namespace {

constexpr std::size_t kMaxPartBytes = 1023;  // RFC 7622 §3.2, §3.3
constexpr std::size_t kMaxLabelBytes = 63;   // RFC 1035 §2.3.4

char asciiLower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool isAsciiAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool isValidUtf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size()) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        static constexpr std::array<std::uint32_t, 5> kMinForLen = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

/// A DNS-style host name: dot-separated labels of letters, digits and inner hyphens; labels
/// holding non-ASCII (internationalised) bytes are accepted as they are.
std::expected<std::string, std::string> checkHostName(std::string_view name) {
    if (name.empty()) {
        return std::unexpected("empty domain");
    }
    if (name.size() > kMaxPartBytes) {
        return std::unexpected("domain longer than 1023 bytes");
    }
    if (!isValidUtf8(name)) {
        return std::unexpected("domain is not valid UTF-8");
    }
    std::string out;
    out.reserve(name.size());
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = name.find('.', start);
        const std::string_view label = name.substr(
            start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty()) {
            return std::unexpected("empty label in domain");
        }
        if (label.size() > kMaxLabelBytes) {
            return std::unexpected("domain label longer than 63 bytes");
        }
        if (label.front() == '-' || label.back() == '-') {
            return std::unexpected("domain label starts or ends with '-'");
        }
        for (char c : label) {
            if (static_cast<unsigned char>(c) >= 0x80) {
                // TODO: PRECIS/IDNA2008 mapping of non-ASCII labels belongs to stanza::Jid
                // (RFC 7622 §3.2); until that is wired in they are kept as written.
                out += c;
            } else if (isAsciiAlnum(c) || c == '-') {
                out += asciiLower(c);
            } else {
                return std::unexpected(std::string("character '") + c +
                                       "' not allowed in a domain");
            }
        }
        if (dot == std::string_view::npos) {
            break;
        }
        out += '.';
        start = dot + 1;
    }
    return out;
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
    // RFC 7622 §3.2: a trailing label separator is not part of the domain.
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    if (!domain.empty() && domain.front() == '[') {
        // RFC 7622 §3.2: IP-literal per RFC 3986 §3.2.2.
        if (domain.back() != ']') {
            return std::unexpected("unterminated IPv6 literal");
        }
        const std::string inner(domain.substr(1, domain.size() - 2));
        std::array<unsigned char, sizeof(in6_addr)> buf{};
        std::array<char, INET6_ADDRSTRLEN> out{};
        if (inet_pton(AF_INET6, inner.c_str(), buf.data()) != 1) {
            return std::unexpected("invalid IPv6 literal");
        }
        inet_ntop(AF_INET6, buf.data(), out.data(), out.size());
        return "[" + std::string(out.data()) + "]";
    }
    return checkHostName(domain);
}

std::expected<std::string, std::string> normaliseBareJid(std::string_view jid) {
    if (jid.find('/') != std::string_view::npos) {
        return std::unexpected("must be a bare JID (no /resource)");
    }
    const std::size_t at = jid.find('@');
    if (at == std::string_view::npos) {
        return std::unexpected("must be a bare JID of an account (localpart@domain)");
    }
    const std::string_view local = jid.substr(0, at);
    if (local.empty()) {
        return std::unexpected("empty localpart");
    }
    if (local.size() > kMaxPartBytes) {
        return std::unexpected("localpart longer than 1023 bytes");
    }
    if (!isValidUtf8(local)) {
        return std::unexpected("localpart is not valid UTF-8");
    }
    std::string out;
    for (char c : local) {
        // RFC 7622 §3.3.1: these are disallowed in a localpart; spaces and controls are not
        // allowed by the UsernameCaseMapped profile.
        if (std::string_view("\"&'/:<>@").find(c) != std::string_view::npos ||
            static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
            return std::unexpected(std::string("character '") + c + "' not allowed in a localpart");
        }
        // TODO: full PRECIS case mapping of non-ASCII localparts is stanza::Jid's job.
        out += asciiLower(c);
    }
    auto domain = normaliseDomain(jid.substr(at + 1));
    if (!domain) {
        return std::unexpected(domain.error());
    }
    return out + "@" + *domain;
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
        // Dotted IPv4 addresses pass as host names too.
        auto checked = checkHostName(host);
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
