#include "stanza/jid.h"

#include <arpa/inet.h>
#include <idn2.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "stanza/precis.h"

namespace corvid::stanza {

namespace {

// Input beyond this many bytes is rejected before any Unicode processing (a guard against huge
// attribute values). PRECIS mapping shrinks a string at most threefold (a fullwidth letter or
// U+212A KELVIN SIGN, 3 bytes, maps to 1 byte), so nothing this long can prepare to 1023 bytes.
constexpr std::size_t kMaxRawPartBytes = 4 * kMaxJidPartBytes;

// DNS limits, counted on the A-label form: RFC 1035 §2.3.4 and RFC 5890 §2.3.2.1.
constexpr std::size_t kMaxLabelBytes = 63;
constexpr std::size_t kMaxDomainNameBytes = 253;

std::string_view partName(JidPart part) {
    switch (part) {
        case JidPart::Whole:
            return "string";
        case JidPart::Local:
            return "localpart";
        case JidPart::Domain:
            return "domainpart";
        case JidPart::Resource:
            return "resourcepart";
    }
    return "?";
}

std::unexpected<JidError> fail(JidErrorCode code, JidPart part, std::string_view what) {
    std::string reason(partName(part));
    reason += ' ';
    reason += what;
    return std::unexpected(JidError{code, part, std::move(reason)});
}

std::string codePointName(char32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
}

std::unexpected<JidError> fromPrecis(const precis::Failure& f, JidPart part,
                                     std::string_view profile) {
    switch (f.code) {
        case precis::FailureCode::InvalidUtf8:
            return fail(JidErrorCode::InvalidUtf8, part, "is not valid UTF-8");
        case precis::FailureCode::Empty:
            return fail(JidErrorCode::Empty, part, "is empty");
        case precis::FailureCode::Disallowed:
            return fail(JidErrorCode::DisallowedChar, part,
                        "contains " + codePointName(f.codePoint) + ", which the " +
                            std::string(profile) + " profile does not allow");
        case precis::FailureCode::ContextRule:
            return fail(JidErrorCode::ContextRule, part,
                        "contains " + codePointName(f.codePoint) +
                            " outside the context that RFC 5892 Appendix A requires");
        case precis::FailureCode::BidiRule:
            return fail(JidErrorCode::BidiRule, part,
                        "mixes text directions against the Bidi Rule (RFC 5893 §2)");
        case precis::FailureCode::Unstable:
            return fail(JidErrorCode::Unstable, part,
                        "does not reach a stable form under the PRECIS rules (RFC 8264 §7)");
    }
    return fail(JidErrorCode::DisallowedChar, part, "is invalid");
}

std::unexpected<JidError> tooLong(JidPart part) {
    return fail(JidErrorCode::TooLong, part, "is longer than 1023 bytes");
}

bool isAscii(std::string_view s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return false;
        }
    }
    return true;
}

char asciiLower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 7622 §3.3.1: characters the localpart may not contain even though the
// UsernameCaseMapped profile allows them.
bool isXmppForbiddenInLocal(char c) {
    switch (c) {
        case '"':
        case '&':
        case '\'':
        case '/':
        case ':':
        case '<':
        case '>':
        case '@':
            return true;
        default:
            return false;
    }
}

// ---- localpart ----

// Pure ASCII: width mapping and NFC change nothing, toLowerCase() is the ASCII lower-casing,
// no code point is right-to-left, and IdentifierClass allows exactly U+0021..U+007E (ASCII7;
// space is ID_DIS, controls DISALLOWED). Only the accepting case is handled here; anything else
// goes the general way, which also words the error.
bool appendLocalFast(std::string_view in, std::string& out) {
    if (in.empty() || in.size() > kMaxJidPartBytes) {
        return false;
    }
    for (char c : in) {
        if (c < 0x21 || c > 0x7E || isXmppForbiddenInLocal(c)) {
            return false;
        }
    }
    const std::size_t start = out.size();
    out.append(in);
    for (std::size_t i = start; i < out.size(); ++i) {
        out[i] = asciiLower(out[i]);
    }
    return true;
}

std::expected<std::string, JidError> localSlow(std::string_view in) {
    if (in.size() > kMaxRawPartBytes) {
        return tooLong(JidPart::Local);
    }
    auto r = precis::enforceUsernameCaseMapped(in);
    if (!r) {
        return fromPrecis(r.error(), JidPart::Local, "UsernameCaseMapped");
    }
    for (char c : *r) {
        if (isXmppForbiddenInLocal(c)) {
            return fail(JidErrorCode::DisallowedChar, JidPart::Local,
                        std::string("contains '") + c + "', which RFC 7622 §3.3.1 forbids");
        }
    }
    if (r->size() > kMaxJidPartBytes) {
        return tooLong(JidPart::Local);
    }
    return std::move(*r);
}

std::expected<void, JidError> appendLocal(std::string_view in, std::string& out) {
    if (appendLocalFast(in, out)) {
        return {};
    }
    auto r = localSlow(in);
    if (!r) {
        return std::unexpected(std::move(r.error()));
    }
    out += *r;
    return {};
}

// ---- resourcepart ----

// Pure ASCII: the additional mapping only touches non-ASCII spaces, NFC changes nothing, and
// FreeformClass allows U+0020..U+007E (space is FREE_PVAL) but no control.
bool appendResourceFast(std::string_view in, std::string& out) {
    if (in.empty() || in.size() > kMaxJidPartBytes) {
        return false;
    }
    for (char c : in) {
        if (c < 0x20 || c > 0x7E) {
            return false;
        }
    }
    out.append(in);
    return true;
}

std::expected<std::string, JidError> opaqueSlow(std::string_view in, JidPart part) {
    if (in.size() > kMaxRawPartBytes) {
        return tooLong(part);
    }
    auto r = precis::enforceOpaqueString(in);
    if (!r) {
        return fromPrecis(r.error(), part, "OpaqueString");
    }
    if (part != JidPart::Whole && r->size() > kMaxJidPartBytes) {
        return tooLong(part);
    }
    return std::move(*r);
}

std::expected<void, JidError> appendResource(std::string_view in, std::string& out) {
    if (appendResourceFast(in, out)) {
        return {};
    }
    auto r = opaqueSlow(in, JidPart::Resource);
    if (!r) {
        return std::unexpected(std::move(r.error()));
    }
    out += *r;
    return {};
}

// ---- domainpart ----

bool isLdhChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// The label shapes both paths reject for ASCII labels (RFC 5891 §4.2.3.1, RFC 5890 §2.3.1):
// empty, too long, a hyphen at either end. Hyphens in positions 3 and 4 mark an R-LDH label,
// which is only allowed as an A-label ("xn--"), reported through `rldh`.
bool ldhLabelShapeOk(std::string_view label, bool& rldh) {
    rldh = label.size() >= 4 && label[2] == '-' && label[3] == '-';
    return !label.empty() && label.size() <= kMaxLabelBytes && label.front() != '-' &&
           label.back() != '-';
}

// Pure LDH input without A-labels: lower-case it, strip one final dot (RFC 7622 §3.2), check
// the label shapes and the total length. A-labels, IP literals and all errors go the general way.
bool appendDomainFast(std::string_view in, std::string& out) {
    if (!in.empty() && in.back() == '.') {
        in.remove_suffix(1);
    }
    if (in.empty() || in.size() > kMaxDomainNameBytes) {
        return false;
    }
    std::size_t labelStart = 0;
    for (std::size_t i = 0; i <= in.size(); ++i) {
        if (i == in.size() || in[i] == '.') {
            bool rldh = false;
            if (!ldhLabelShapeOk(in.substr(labelStart, i - labelStart), rldh) || rldh) {
                return false;
            }
            labelStart = i + 1;
        } else if (!isLdhChar(in[i])) {
            return false;
        }
    }
    const std::size_t start = out.size();
    out.append(in);
    for (std::size_t i = start; i < out.size(); ++i) {
        out[i] = asciiLower(out[i]);
    }
    return true;
}

struct Idn2Free {
    void operator()(void* p) const { idn2_free(p); }
};

std::unexpected<JidError> fromIdn2(int rc) {
    std::string what =
        std::string("is not a valid internationalized domain name (") + idn2_strerror(rc) + ")";
    switch (rc) {
        case IDN2_TOO_BIG_DOMAIN:
        case IDN2_TOO_BIG_LABEL:
            return fail(JidErrorCode::TooLong, JidPart::Domain, what);
        case IDN2_BIDI:
            return fail(JidErrorCode::BidiRule, JidPart::Domain, what);
        case IDN2_CONTEXTJ:
        case IDN2_CONTEXTJ_NO_RULE:
        case IDN2_CONTEXTO:
        case IDN2_CONTEXTO_NO_RULE:
            return fail(JidErrorCode::ContextRule, JidPart::Domain, what);
        case IDN2_DISALLOWED:
        case IDN2_UNASSIGNED:
            return fail(JidErrorCode::DisallowedChar, JidPart::Domain, what);
        default:
            return fail(JidErrorCode::InvalidDomain, JidPart::Domain, what);
    }
}

// Strict IDNA2008 lookup (RFC 5891 §5; no UTS #46 processing): U-labels / NR-LDH labels /
// A-labels in, A-labels out. `name` must be NUL-free.
std::expected<std::string, JidError> toAlabels(const std::string& name) {
    uint8_t* raw = nullptr;
    int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(name.c_str()), &raw, IDN2_NO_TR46);
    std::unique_ptr<uint8_t, Idn2Free> owned(raw);
    if (rc != IDN2_OK) {
        return fromIdn2(rc);
    }
    return std::string(reinterpret_cast<const char*>(raw));
}

std::expected<std::string, JidError> ipv6Literal(std::string_view in) {
    // RFC 7622 §3.2: an IPv6 address in brackets (RFC 3986 IP-literal, without IPvFuture).
    std::string inner(in.substr(1, in.size() >= 2 ? in.size() - 2 : 0));
    in6_addr addr{};
    if (in.size() < 2 || in.back() != ']' || inner.find('\0') != std::string::npos ||
        inet_pton(AF_INET6, inner.c_str(), &addr) != 1) {
        return fail(JidErrorCode::InvalidIpLiteral, JidPart::Domain,
                    "is a bracketed IP literal that is not an IPv6 address");
    }
    // Canonical text (RFC 5952: lower-case hex, longest zero run compressed) so that equal
    // addresses give equal JIDs.
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]";
}

bool isIpv4(const std::string& s) {
    in_addr addr{};
    return s.find('\0') == std::string::npos && inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

std::expected<std::string, JidError> domainSlow(std::string_view in) {
    if (in.size() > kMaxRawPartBytes) {
        return tooLong(JidPart::Domain);
    }
    std::optional<std::u32string> decoded = precis::decodeUtf8(in);
    if (!decoded) {
        return fail(JidErrorCode::InvalidUtf8, JidPart::Domain, "is not valid UTF-8");
    }
    // RFC 7622 §3.2: one final label separator is removed before any other canonicalisation.
    // U+3002, U+FF0E and U+FF61 separate labels too (RFC 5895 §2 step 4).
    for (char32_t& cp : *decoded) {
        if (cp == 0x3002 || cp == 0xFF0E || cp == 0xFF61) {
            cp = U'.';
        }
    }
    if (!decoded->empty() && decoded->back() == U'.') {
        decoded->pop_back();
    }
    if (decoded->empty()) {
        return fail(JidErrorCode::Empty, JidPart::Domain, "is empty");
    }
    if (decoded->front() == U'[') {
        return ipv6Literal(precis::encodeUtf8(*decoded));
    }
    // RFC 5895 mappings (RFC 7622 §3.2.2): width mapping, lower case, NFC. These are done here
    // rather than by libidn2's UTS #46 mode, which silently deletes some disallowed ASCII
    // (it turns "a_b" into "ab").
    std::string name = precis::encodeUtf8(precis::mapWidthLowerNfc(*decoded));
    if (name.find('\0') != std::string::npos) {
        return fail(JidErrorCode::DisallowedChar, JidPart::Domain, "contains U+0000");
    }
    if (isIpv4(name)) {
        return name;
    }
    std::size_t labelStart = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i < name.size() && name[i] != '.') {
            continue;
        }
        std::string_view label = std::string_view(name).substr(labelStart, i - labelStart);
        labelStart = i + 1;
        if (label.empty()) {
            return fail(JidErrorCode::InvalidDomain, JidPart::Domain, "has an empty label");
        }
        if (!isAscii(label)) {
            continue;  // a U-label: libidn2 checks it below
        }
        for (char c : label) {
            if (!isLdhChar(c)) {
                return fail(JidErrorCode::DisallowedChar, JidPart::Domain,
                            std::string("contains '") + c +
                                "': ASCII labels are letters, digits and hyphens (RFC 5890 "
                                "§2.3.1)");
            }
        }
        bool rldh = false;
        if (!ldhLabelShapeOk(label, rldh)) {
            return fail(JidErrorCode::InvalidDomain, JidPart::Domain,
                        "has a label that is too long or starts or ends with '-'");
        }
        if (rldh && !label.starts_with("xn--")) {
            return fail(JidErrorCode::InvalidDomain, JidPart::Domain,
                        "has a label with '--' in positions 3 and 4 that is not an A-label");
        }
    }
    auto ace = toAlabels(name);
    if (!ace) {
        return std::unexpected(std::move(ace.error()));
    }
    if (ace->size() > kMaxDomainNameBytes) {
        return tooLong(JidPart::Domain);
    }
    if (ace->find("xn--") == std::string::npos) {
        return name;  // no A-labels: the mapped input is already the canonical form
    }
    // RFC 7622 §3.2.1: A-labels become U-labels. The decoded labels must themselves be valid
    // IDNA2008 (lower case, NFC, ...), checked by a round trip back to the same A-labels.
    char* rawUnicode = nullptr;
    int rc = idn2_to_unicode_8z8z(ace->c_str(), &rawUnicode, 0);
    std::unique_ptr<char, Idn2Free> owned(rawUnicode);
    if (rc != IDN2_OK) {
        return fromIdn2(rc);
    }
    std::string unicode(rawUnicode);
    auto again = toAlabels(unicode);
    if (!again || *again != *ace) {
        return fail(JidErrorCode::InvalidDomain, JidPart::Domain,
                    "contains an A-label that does not decode to a valid U-label");
    }
    if (unicode.size() > kMaxJidPartBytes) {
        return tooLong(JidPart::Domain);
    }
    return unicode;
}

std::expected<void, JidError> appendDomain(std::string_view in, std::string& out) {
    if (appendDomainFast(in, out)) {
        return {};
    }
    auto r = domainSlow(in);
    if (!r) {
        return std::unexpected(std::move(r.error()));
    }
    out += *r;
    return {};
}

template <typename Append>
std::expected<std::string, JidError> prepWith(std::string_view in, Append append) {
    std::string out;
    auto r = append(in, out);
    if (!r) {
        return std::unexpected(std::move(r.error()));
    }
    return out;
}

}  // namespace

std::expected<std::string, JidError> prepLocalpart(std::string_view local) {
    return prepWith(local, appendLocal);
}

std::expected<std::string, JidError> prepResourcepart(std::string_view resource) {
    return prepWith(resource, appendResource);
}

std::expected<std::string, JidError> prepDomainpart(std::string_view domain) {
    return prepWith(domain, appendDomain);
}

std::expected<std::string, JidError> prepOpaqueString(std::string_view s) {
    std::string out;
    if (appendResourceFast(s, out)) {
        return out;  // same profile as the resourcepart, without the 1023-byte JID limit
    }
    return opaqueSlow(s, JidPart::Whole);
}

namespace detail {

std::expected<std::string, JidError> prepLocalpartSlow(std::string_view local) {
    return localSlow(local);
}

std::expected<std::string, JidError> prepResourcepartSlow(std::string_view resource) {
    return opaqueSlow(resource, JidPart::Resource);
}

std::expected<std::string, JidError> prepDomainpartSlow(std::string_view domain) {
    return domainSlow(domain);
}

}  // namespace detail

// ---- Jid ----

Jid::Jid(std::string_view local, std::string_view domain, std::string_view resource)
    : localLen_(static_cast<std::uint16_t>(local.size())),
      domainLen_(static_cast<std::uint16_t>(domain.size())) {
    full_.reserve(local.size() + domain.size() + resource.size() + 2);
    if (!local.empty()) {
        full_ += local;
        full_ += '@';
    }
    full_ += domain;
    if (!resource.empty()) {
        full_ += '/';
        full_ += resource;
    }
}

namespace {

// Builds the canonical text part by part straight into `full`, so that a pure-ASCII JID costs
// one allocation at most. The separators are only '@' and '/' themselves (RFC 7622 §3.1).
std::expected<void, JidError> buildFull(std::optional<std::string_view> local,
                                        std::string_view domain,
                                        std::optional<std::string_view> resource, std::string& full,
                                        std::size_t& localLen, std::size_t& domainLen) {
    if (local) {
        if (local->empty()) {
            return fail(JidErrorCode::Empty, JidPart::Local, "is empty (nothing before '@')");
        }
        auto r = appendLocal(*local, full);
        if (!r) {
            return r;
        }
        localLen = full.size();
        full += '@';
    }
    if (domain.empty()) {
        return fail(JidErrorCode::Empty, JidPart::Domain, "is empty");
    }
    const std::size_t domainStart = full.size();
    auto r = appendDomain(domain, full);
    if (!r) {
        return r;
    }
    domainLen = full.size() - domainStart;
    if (resource) {
        if (resource->empty()) {
            return fail(JidErrorCode::Empty, JidPart::Resource, "is empty (nothing after '/')");
        }
        full += '/';
        return appendResource(*resource, full);
    }
    return {};
}

}  // namespace

std::expected<Jid, JidError> Jid::parse(std::string_view text) {
    if (text.empty()) {
        return std::unexpected(JidError{JidErrorCode::Empty, JidPart::Whole, "JID is empty"});
    }
    std::optional<std::string_view> local;
    std::optional<std::string_view> resource;
    std::string_view head = text;
    if (std::size_t slash = text.find('/'); slash != std::string_view::npos) {
        head = text.substr(0, slash);
        resource = text.substr(slash + 1);
    }
    std::string_view domain = head;
    if (std::size_t at = head.find('@'); at != std::string_view::npos) {
        local = head.substr(0, at);
        domain = head.substr(at + 1);
    }
    Jid jid;
    jid.full_.reserve(text.size());
    std::size_t localLen = 0;
    std::size_t domainLen = 0;
    if (auto r = buildFull(local, domain, resource, jid.full_, localLen, domainLen); !r) {
        return std::unexpected(std::move(r.error()));
    }
    jid.localLen_ = static_cast<std::uint16_t>(localLen);
    jid.domainLen_ = static_cast<std::uint16_t>(domainLen);
    return jid;
}

std::expected<Jid, JidError> Jid::make(std::string_view local, std::string_view domain,
                                       std::string_view resource) {
    Jid jid;
    std::size_t localLen = 0;
    std::size_t domainLen = 0;
    auto r = buildFull(local.empty() ? std::nullopt : std::optional(local), domain,
                       resource.empty() ? std::nullopt : std::optional(resource), jid.full_,
                       localLen, domainLen);
    if (!r) {
        return std::unexpected(std::move(r.error()));
    }
    jid.localLen_ = static_cast<std::uint16_t>(localLen);
    jid.domainLen_ = static_cast<std::uint16_t>(domainLen);
    return jid;
}

Jid Jid::bare() const {
    return Jid(local(), domain(), {});
}

Jid Jid::domainJid() const {
    return Jid({}, domain(), {});
}

std::expected<Jid, JidError> Jid::withResource(std::string_view resource) const {
    if (resource.empty()) {
        return fail(JidErrorCode::Empty, JidPart::Resource, "is empty");
    }
    Jid jid = bare();
    jid.full_ += '/';
    if (auto r = appendResource(resource, jid.full_); !r) {
        return std::unexpected(std::move(r.error()));
    }
    return jid;
}

std::string_view toString(JidErrorCode code) {
    switch (code) {
        case JidErrorCode::Empty:
            return "empty";
        case JidErrorCode::TooLong:
            return "too-long";
        case JidErrorCode::InvalidUtf8:
            return "invalid-utf8";
        case JidErrorCode::DisallowedChar:
            return "disallowed-char";
        case JidErrorCode::ContextRule:
            return "context-rule";
        case JidErrorCode::BidiRule:
            return "bidi-rule";
        case JidErrorCode::Unstable:
            return "unstable";
        case JidErrorCode::InvalidDomain:
            return "invalid-domain";
        case JidErrorCode::InvalidIpLiteral:
            return "invalid-ip-literal";
    }
    return "?";
}

std::string_view toString(JidPart part) {
    return partName(part);
}

}  // namespace corvid::stanza
