#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include <memory>

#include "s2s/cert_identity.h"

using corvid::s2s::CertIdentities;
using corvid::s2s::dnsIdMatches;
using corvid::s2s::extractIdentities;
using corvid::s2s::identitiesMatch;

namespace {

struct X509Deleter {
    void operator()(X509* p) const { X509_free(p); }
};
struct KeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

/// A self-signed certificate with this CN and subjectAltName (OpenSSL config syntax), or none.
X509Ptr makeCertificate(const char* commonName, const char* subjectAltName) {
    std::unique_ptr<EVP_PKEY, KeyDeleter> key(EVP_EC_gen("P-256"));
    REQUIRE(key);
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (commonName != nullptr) {
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(commonName), -1, -1, 0);
    }
    X509_set_issuer_name(cert.get(), name);
    if (subjectAltName != nullptr) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
        X509_EXTENSION* ext =
            X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, subjectAltName);
        REQUIRE(ext != nullptr);
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    return cert;
}

}  // namespace

TEST_CASE("DNS-ID: exact names, case-insensitive, trailing dot ignored", "[s2s][cert]") {
    CHECK(dnsIdMatches("example.org", "example.org"));
    CHECK(dnsIdMatches("EXAMPLE.org", "example.ORG"));
    CHECK(dnsIdMatches("example.org.", "example.org"));
    CHECK_FALSE(dnsIdMatches("example.org", "xmpp.example.org"));
    CHECK_FALSE(dnsIdMatches("xmpp.example.org", "example.org"));
    CHECK_FALSE(dnsIdMatches("example.org", "example.org.evil"));
    CHECK_FALSE(dnsIdMatches("", "example.org"));
}

TEST_CASE("DNS-ID: a wildcard only as the whole left-most label (RFC 6125 §6.4.3)", "[s2s][cert]") {
    CHECK(dnsIdMatches("*.example.org", "xmpp.example.org"));
    CHECK(dnsIdMatches("*.EXAMPLE.org", "Chat.example.org"));
    // One label only, and never the bare parent domain.
    CHECK_FALSE(dnsIdMatches("*.example.org", "example.org"));
    CHECK_FALSE(dnsIdMatches("*.example.org", "a.b.example.org"));
    CHECK_FALSE(dnsIdMatches("*.example.org", ".example.org"));
    // Not in other labels, not partial, not twice, not over a public suffix.
    CHECK_FALSE(dnsIdMatches("xmpp.*.org", "xmpp.example.org"));
    CHECK_FALSE(dnsIdMatches("example.*", "example.org"));
    CHECK_FALSE(dnsIdMatches("x*.example.org", "xmpp.example.org"));
    CHECK_FALSE(dnsIdMatches("*mpp.example.org", "xmpp.example.org"));
    CHECK_FALSE(dnsIdMatches("*.*.example.org", "a.b.example.org"));
    CHECK_FALSE(dnsIdMatches("*.org", "example.org"));
    CHECK_FALSE(dnsIdMatches("*", "example"));
    // RFC 6125 §7.2: no wildcard over an internationalised label.
    CHECK_FALSE(dnsIdMatches("*.example.org", "xn--caf-dma.example.org"));
}

TEST_CASE("identities: DNS-ID, xmppAddr and SRV-ID; CN only without them", "[s2s][cert]") {
    CertIdentities dns;
    dns.dnsIds = {"*.example.org", "example.net"};
    dns.commonNames = {"other.example"};
    CHECK(identitiesMatch(dns, "chat.example.org"));
    CHECK(identitiesMatch(dns, "example.net"));
    CHECK_FALSE(identitiesMatch(dns, "example.org"));
    CHECK_FALSE(identitiesMatch(dns, "other.example"));  // a CN next to SANs is ignored

    CertIdentities xmpp;
    xmpp.xmppAddrs = {"example.com"};
    CHECK(identitiesMatch(xmpp, "example.com"));
    CHECK(identitiesMatch(xmpp, "EXAMPLE.com"));
    CHECK_FALSE(identitiesMatch(xmpp, "sub.example.com"));
    xmpp.xmppAddrs = {"*.example.com", "user@example.com"};  // no wildcards, no user JIDs
    CHECK_FALSE(identitiesMatch(xmpp, "a.example.com"));
    CHECK_FALSE(identitiesMatch(xmpp, "example.com"));

    CertIdentities srv;
    srv.srvIds = {"_xmpp-server.example.com", "_xmpp-client.example.net"};
    CHECK(identitiesMatch(srv, "example.com"));
    CHECK_FALSE(identitiesMatch(srv, "example.net"));  // a client service proves nothing here

    CertIdentities cnOnly;
    cnOnly.commonNames = {"example.org"};
    CHECK(identitiesMatch(cnOnly, "example.org"));
    CHECK_FALSE(identitiesMatch(cnOnly, "example.com"));

    CHECK_FALSE(identitiesMatch(CertIdentities{}, "example.org"));
}

TEST_CASE("identities: internationalised domains compare as A-labels", "[s2s][cert]") {
    CertIdentities ids;
    ids.dnsIds = {"xn--caf-dma.example"};
    CHECK(identitiesMatch(ids, "café.example"));
    CHECK(identitiesMatch(ids, "xn--caf-dma.example"));
    CHECK_FALSE(identitiesMatch(ids, "cafe.example"));
}

TEST_CASE("identities read from a certificate", "[s2s][cert]") {
    auto cert = makeCertificate(
        "ignored.example",
        "DNS:Example.org, DNS:*.chat.example.org, "
        "otherName:1.3.6.1.5.5.7.8.5;UTF8:xmpp.example.net, "
        "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.example.com, IP:127.0.0.1");
    const CertIdentities ids = extractIdentities(cert.get());
    CHECK(ids.dnsIds == std::vector<std::string>{"example.org", "*.chat.example.org"});
    CHECK(ids.xmppAddrs == std::vector<std::string>{"xmpp.example.net"});
    CHECK(ids.srvIds == std::vector<std::string>{"_xmpp-server.example.com"});
    CHECK(ids.commonNames == std::vector<std::string>{"ignored.example"});
    CHECK(identitiesMatch(ids, "example.org"));
    CHECK(identitiesMatch(ids, "muc.chat.example.org"));
    CHECK(identitiesMatch(ids, "xmpp.example.net"));
    CHECK(identitiesMatch(ids, "example.com"));
    CHECK_FALSE(identitiesMatch(ids, "ignored.example"));
    CHECK_FALSE(identitiesMatch(ids, "127.0.0.1"));
}

TEST_CASE("a certificate without subjectAltName falls back to its CN", "[s2s][cert]") {
    auto cert = makeCertificate("legacy.example", nullptr);
    const CertIdentities ids = extractIdentities(cert.get());
    CHECK(ids.dnsIds.empty());
    CHECK(identitiesMatch(ids, "legacy.example"));
    CHECK_FALSE(identitiesMatch(ids, "other.example"));
}
