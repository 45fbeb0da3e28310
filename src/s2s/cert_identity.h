#pragma once

#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

namespace corvid::s2s {

/// The identities a certificate presents for an XMPP server (RFC 6125 §6, RFC 6120 §13.7.1.2,
/// XEP-0178), each lower-cased ASCII (A-labels as they appear in the certificate).
struct CertIdentities {
    std::vector<std::string> dnsIds;       ///< subjectAltName dNSName (may hold "*.example.com")
    std::vector<std::string> xmppAddrs;    ///< subjectAltName otherName id-on-xmppAddr (RFC 6120)
    std::vector<std::string> srvIds;       ///< subjectAltName otherName SRVName (RFC 4985)
    std::vector<std::string> commonNames;  ///< subject CN (used only without the three above)
};

/// Reads the identities of `cert`.
CertIdentities extractIdentities(X509* cert);

/// RFC 6125 §6.4: does the DNS-ID `pattern` (from a certificate) name `domain` (lower-case
/// A-labels, no trailing dot)? Case-insensitive. A wildcard is accepted only as the complete
/// left-most label ("*.example.com"), matches exactly one label, and never matches a name with
/// fewer labels; "*.com", "f*.example.com", "*.*.example.com" and internationalised labels
/// next to a wildcard never match.
bool dnsIdMatches(std::string_view pattern, std::string_view domain);

/// Whether the certificate's identities name the XMPP server `domain`: a DNS-ID, an xmppAddr
/// (exact, no wildcards), an SRV-ID for "_xmpp-server" / "_xmpps-server"; the CN only when the
/// certificate has none of those (RFC 6125 §6.4.4).
bool identitiesMatch(const CertIdentities& ids, std::string_view domain);

/// The A-label form of a (prepared) domain, lower-cased, without trailing dot; "" if it cannot
/// be converted.
std::string toAsciiDomain(std::string_view domain);

}  // namespace corvid::s2s
