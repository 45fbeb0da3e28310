#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

namespace corvid::stanza {

/// Which part of a JID an error is about.
enum class JidPart : std::uint8_t { Whole, Local, Domain, Resource };

enum class JidErrorCode : std::uint8_t {
    Empty,             ///< the JID, or a part whose separator is present, is empty
    TooLong,           ///< a part is over 1023 bytes after preparation (RFC 7622 §3.1)
    InvalidUtf8,       ///< not well-formed UTF-8 (RFC 3629)
    DisallowedChar,    ///< a code point the part's profile (or RFC 7622 §3.3.1) forbids
    ContextRule,       ///< a CONTEXTJ / CONTEXTO code point out of context (RFC 5892 App. A)
    BidiRule,          ///< the Bidi Rule of RFC 5893 fails
    Unstable,          ///< the PRECIS rules did not settle (RFC 8264 §7)
    InvalidDomain,     ///< not a valid IDNA2008 / LDH domain name
    InvalidIpLiteral,  ///< a bracketed domainpart that is not an IPv6 address
};

/// Why a string is not a valid JID (or JID part). `reason` names the part and the problem, for
/// logs and <text/> elements.
struct JidError {
    JidErrorCode code;
    JidPart part;
    std::string reason;
};

/// Largest size of each part after preparation, in bytes (RFC 7622 §3.2, §3.3, §3.4).
inline constexpr std::size_t kMaxJidPartBytes = 1023;

/// RFC 7622 §3.3: the localpart under the PRECIS UsernameCaseMapped profile (RFC 8265 §3.3),
/// minus the characters " & ' / : < > @.
std::expected<std::string, JidError> prepLocalpart(std::string_view local);

/// RFC 7622 §3.4: the resourcepart under the PRECIS OpaqueString profile (RFC 8265 §4.2).
std::expected<std::string, JidError> prepResourcepart(std::string_view resource);

/// RFC 7622 §3.2: the domainpart. A final dot is removed; the result is either an IP literal
/// (IPv4 dotted quad, or IPv6 in brackets written in the RFC 5952 canonical form) or a domain
/// name written as lower-case U-labels in NFC, separated by '.'. U-labels (not A-labels) are the
/// canonical form because RFC 7622 §3.2.1 requires A-labels to be converted to U-labels; convert
/// back with IDNA when a DNS query is needed. Mapping (width, lower case, NFC, ideographic full
/// stops to '.') follows RFC 5895; validation is IDNA2008 (RFC 5891, via libidn2) plus the
/// NR-LDH rules for ASCII labels, at most 63 bytes per label and 253 bytes in all (as A-labels).
std::expected<std::string, JidError> prepDomainpart(std::string_view domain);

/// RFC 8265 §4.2: the OpaqueString profile on its own (for passwords, RFC 8265 §4.1). Errors are
/// reported with part Whole.
std::expected<std::string, JidError> prepOpaqueString(std::string_view s);

namespace detail {
// The general paths (ICU / libidn2) without the pure-ASCII fast paths; tests prove that the fast
// paths give exactly the same results.
std::expected<std::string, JidError> prepLocalpartSlow(std::string_view local);
std::expected<std::string, JidError> prepResourcepartSlow(std::string_view resource);
std::expected<std::string, JidError> prepDomainpartSlow(std::string_view domain);
}  // namespace detail

/// An XMPP address (RFC 7622), always valid and in canonical form: every part has been prepared
/// by the functions above, so two Jids compare equal exactly when they name the same entity.
/// There is no default constructor; use std::optional<Jid> where a JID may be absent.
class Jid {
  public:
    /// Parses "[localpart@]domainpart[/resourcepart]" (RFC 7622 §3.1): the resourcepart starts at
    /// the first '/', the localpart ends at the first '@' before it.
    static std::expected<Jid, JidError> parse(std::string_view text);
    /// Builds a JID from separate parts; an empty local or resource means "no such part".
    static std::expected<Jid, JidError> make(std::string_view local, std::string_view domain,
                                             std::string_view resource = {});

    std::string_view local() const { return std::string_view(full_).substr(0, localLen_); }
    std::string_view domain() const {
        return std::string_view(full_).substr(domainStart(), domainLen_);
    }
    std::string_view resource() const {
        std::size_t end = domainStart() + domainLen_;
        return end < full_.size() ? std::string_view(full_).substr(end + 1) : std::string_view();
    }

    bool hasLocal() const { return localLen_ != 0; }
    bool hasResource() const { return domainStart() + domainLen_ < full_.size(); }
    bool isBare() const { return !hasResource(); }
    /// A JID that is only a domainpart (a server or component).
    bool isDomain() const { return !hasLocal() && !hasResource(); }

    /// The JID without its resourcepart.
    Jid bare() const;
    /// The JID of the domain alone.
    Jid domainJid() const;
    /// This JID with its resourcepart replaced by `resource` (prepared; empty is an error).
    std::expected<Jid, JidError> withResource(std::string_view resource) const;

    /// The canonical text form, "local@domain/resource".
    const std::string& full() const { return full_; }

    bool operator==(const Jid&) const = default;
    /// Orders by canonical text (consistent with ==).
    std::strong_ordering operator<=>(const Jid& other) const { return full_ <=> other.full_; }

  private:
    // Only from prepared parts: a Jid never holds an unprepared or empty domain.
    Jid() = default;
    Jid(std::string_view local, std::string_view domain, std::string_view resource);
    std::size_t domainStart() const { return localLen_ == 0 ? 0 : localLen_ + 1u; }

    std::string full_;
    std::uint16_t localLen_ = 0;  // each part is at most 1023 bytes
    std::uint16_t domainLen_ = 0;
};

std::string_view toString(JidErrorCode code);
std::string_view toString(JidPart part);

}  // namespace corvid::stanza

template <>
struct std::hash<corvid::stanza::Jid> {
    std::size_t operator()(const corvid::stanza::Jid& jid) const noexcept {
        return std::hash<std::string>{}(jid.full());
    }
};
