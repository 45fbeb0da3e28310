#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <expected>
#include <memory>
#include <string>
#include <string_view>

namespace corvid::s2s {

/// What a peer's certificate proves about a domain (RFC 6120 §13.7.2, XEP-0178, RFC 6125).
enum class CertStatus {
    Valid,         ///< chain trusted and the certificate names the domain
    None,          ///< no TLS, or the peer sent no certificate
    Untrusted,     ///< the chain does not verify (unknown CA, expired, self-signed ...)
    NameMismatch,  ///< trusted, but for other names
};

std::string_view toString(CertStatus status);

struct CertCheck {
    CertStatus status = CertStatus::None;
    std::string detail;  ///< why, for logs

    bool valid() const { return status == CertStatus::Valid; }
};

/// Verifies peers' certificates with one trust store: the system's CA bundle and s2s.ca_file,
/// both loaded into memory at start (no file is read when a peer connects).
class CertificateVerifier {
  public:
    /// Loads the stores; `caFile` may be empty.
    static std::expected<std::unique_ptr<CertificateVerifier>, std::string> create(
        const std::string& caFile);
    ~CertificateVerifier();
    CertificateVerifier(const CertificateVerifier&) = delete;
    CertificateVerifier& operator=(const CertificateVerifier&) = delete;

    /// Checks the certificate the peer of `ssl` presented (in either TLS role) for `domain`.
    CertCheck check(SSL* ssl, std::string_view domain) const;
    /// Checks the chain only (the name is checked per domain with check()).
    CertCheck checkChain(SSL* ssl) const;

  private:
    CertificateVerifier() = default;
    X509_STORE* store_ = nullptr;
};

}  // namespace corvid::s2s
