#include "s2s/cert_identity.h"

#include <idn2.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace corvid::s2s {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::string stripDot(std::string s) {
    if (!s.empty() && s.back() == '.') {
        s.pop_back();
    }
    return s;
}

bool isAscii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
}

// The bytes of an ASN1 string, or "" if it contains a NUL (a classic certificate forgery).
std::string asn1Text(const ASN1_STRING* s) {
    if (s == nullptr) {
        return {};
    }
    std::string out(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (out.find('\0') != std::string::npos) {
        return {};
    }
    return out;
}

std::size_t countLabels(std::string_view s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '.')) + 1;
}

struct GeneralNamesDeleter {
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

}  // namespace

std::string toAsciiDomain(std::string_view domain) {
    std::string d = stripDot(std::string(domain));
    if (isAscii(d)) {
        return lower(d);
    }
    char* out = nullptr;
    if (idn2_to_ascii_8z(d.c_str(), &out, IDN2_NONTRANSITIONAL) != IDN2_OK || out == nullptr) {
        return {};
    }
    std::string result = lower(out);
    idn2_free(out);
    return result;
}

CertIdentities extractIdentities(X509* cert) {
    CertIdentities ids;
    if (cert == nullptr) {
        return ids;
    }
    std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
            if (name->type == GEN_DNS) {
                std::string text = asn1Text(name->d.dNSName);
                if (!text.empty()) {
                    ids.dnsIds.push_back(stripDot(lower(text)));
                }
            } else if (name->type == GEN_OTHERNAME) {
                const OTHERNAME* other = name->d.otherName;
                const int nid = OBJ_obj2nid(other->type_id);
                if (nid == NID_XmppAddr && other->value->type == V_ASN1_UTF8STRING) {
                    std::string text = asn1Text(other->value->value.utf8string);
                    if (!text.empty()) {
                        ids.xmppAddrs.push_back(std::move(text));
                    }
                } else if (nid == NID_SRVName && other->value->type == V_ASN1_IA5STRING) {
                    std::string text = asn1Text(other->value->value.ia5string);
                    if (!text.empty()) {
                        ids.srvIds.push_back(stripDot(lower(text)));
                    }
                }
            }
        }
    }
    X509_NAME* subject = X509_get_subject_name(cert);
    for (int pos = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); pos >= 0;
         pos = X509_NAME_get_index_by_NID(subject, NID_commonName, pos)) {
        const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, pos));
        unsigned char* utf8 = nullptr;
        const int len = ASN1_STRING_to_UTF8(&utf8, data);
        if (len > 0) {
            std::string text(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
            if (text.find('\0') == std::string::npos) {
                ids.commonNames.push_back(stripDot(lower(text)));
            }
        }
        OPENSSL_free(utf8);
    }
    return ids;
}

bool dnsIdMatches(std::string_view pattern, std::string_view domain) {
    const std::string p = stripDot(lower(pattern));
    const std::string d = stripDot(lower(domain));
    if (p.empty() || d.empty()) {
        return false;
    }
    if (p.find('*') == std::string::npos) {
        return p == d;
    }
    // RFC 6125 §6.4.3 (and the CA/Browser Forum rules): only "*" as the whole left-most label.
    if (p.size() < 3 || p[0] != '*' || p[1] != '.' || p.find('*', 1) != std::string::npos) {
        return false;
    }
    const std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
    // At least two labels after the wildcard: "*.com" would cover a whole TLD.
    if (countLabels(suffix.substr(1)) < 2) {
        return false;
    }
    // RFC 6125 §7.2: no wildcard next to an internationalised label.
    if (d.rfind("xn--", 0) == 0) {
        return false;
    }
    if (d.size() <= suffix.size() ||
        d.compare(d.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return false;
    }
    const std::string_view first = std::string_view(d).substr(0, d.size() - suffix.size());
    return !first.empty() && first.find('.') == std::string_view::npos;
}

bool identitiesMatch(const CertIdentities& ids, std::string_view domain) {
    const std::string ascii = toAsciiDomain(domain);
    if (ascii.empty()) {
        return false;
    }
    for (const auto& dns : ids.dnsIds) {
        if (dnsIdMatches(dns, ascii)) {
            return true;
        }
    }
    for (const auto& srv : ids.srvIds) {
        // RFC 4985: "_service.name"; no wildcards in SRV-IDs (RFC 6125 §6.4.3 covers DNS-IDs).
        for (std::string_view service : {"_xmpp-server.", "_xmpps-server."}) {
            if (srv.size() > service.size() && srv.compare(0, service.size(), service) == 0 &&
                toAsciiDomain(srv.substr(service.size())) == ascii) {
                return true;
            }
        }
    }
    for (const auto& addr : ids.xmppAddrs) {
        // An xmppAddr is a JID in UTF-8; a server is identified by a domain-only one.
        if (toAsciiDomain(addr) == ascii) {
            return true;
        }
    }
    if (ids.dnsIds.empty() && ids.srvIds.empty() && ids.xmppAddrs.empty()) {
        for (const auto& cn : ids.commonNames) {
            if (dnsIdMatches(cn, ascii)) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace corvid::s2s
