#pragma once

#include <openssl/ssl.h>

#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/c_handles.h"

namespace corvid::net {

/// Certificate and key files of one virtual host.
struct TlsIdentity {
    std::string domain;
    std::string certificateFile;
    std::string keyFile;
};

struct TlsOptions {
    std::vector<TlsIdentity> identities;  ///< the first one is the default for clients without SNI
    std::string minVersion = "1.2";       ///< "1.2" or "1.3"
    std::string ciphers;                  ///< TLS 1.2 cipher list; empty: OpenSSL's default
    std::string ciphersuites;             ///< TLS 1.3 suites; empty: OpenSSL's default
    std::string caFile;                   ///< extra CAs to verify peers (s2s); empty: system store
};

/// The server's TLS contexts: one SSL_CTX per virtual host, chosen by SNI (RFC 6066) when a
/// client names the host; renegotiation and compression off; buffers released when idle.
class TlsContexts {
  public:
    /// Loads every certificate; an error names the host and file. Heap-allocated because the SNI
    /// callback keeps a pointer to it.
    static std::expected<std::unique_ptr<TlsContexts>, std::string> create(
        const TlsOptions& options);

    TlsContexts(const TlsContexts&) = delete;
    TlsContexts& operator=(const TlsContexts&) = delete;

    /// The context a new server-side connection starts with (the first identity's).
    SSL_CTX* serverDefault() const { return contexts_.front().get(); }
    /// The context of `domain`, or nullptr.
    SSL_CTX* forDomain(std::string_view domain) const;
    /// A context for outgoing connections (s2s): verifies peers against the system store.
    SSL_CTX* client() const { return client_.get(); }

    /// A new server-side SSL for an accepted connection.
    SSL* newServerSsl() const;

    /// Channel-binding data of an established server-side connection; empty where the type is
    /// not available. tls-exporter (RFC 9266): TLS 1.3 only.
    static std::string tlsExporter(SSL* ssl);
    /// tls-server-end-point (RFC 5929 §4): the hash of our certificate.
    static std::string tlsServerEndPoint(SSL* ssl);
    /// tls-unique (RFC 5929 §3): TLS 1.2 with extended master secret only (RFC 9266 §3).
    static std::string tlsUnique(SSL* ssl);

  private:
    TlsContexts() = default;

    std::vector<util::SslCtxPtr> contexts_;
    std::map<std::string, SSL_CTX*, std::less<>> byDomain_;
    util::SslCtxPtr client_;
};

}  // namespace corvid::net
