#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace corvid::net {

namespace {

std::string lastOpensslError() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown OpenSSL error";
    }
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    return buf;
}

// ALPN for direct TLS (XEP-0368 §4): accept "xmpp-client" / "xmpp-server" when offered; a client
// that offers none of them still gets through (no ALPN selected).
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
    static const unsigned char kProtocols[] = "\x0bxmpp-client\x0bxmpp-server";
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kProtocols, sizeof(kProtocols) - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

// SNI: switch to the named host's context; unknown names keep the default certificate.
int selectServerName(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const TlsContexts*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name != nullptr) {
        std::string lower(name);
        for (char& c : lower) {
            c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        if (SSL_CTX* ctx = self->forDomain(lower)) {
            SSL_set_SSL_CTX(ssl, ctx);
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

std::expected<void, std::string> applyCommon(SSL_CTX* ctx, const TlsOptions& options) {
    const int minVersion = options.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx, minVersion);
    // Renegotiation off, no TLS compression (CRIME), fresh ECDH keys.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
    // Idle sessions give their 16 KiB+ record buffers back: most XMPP connections are idle.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, options.ciphers.c_str()) != 1) {
        return std::unexpected("tls.ciphers: " + lastOpensslError());
    }
    if (!options.ciphersuites.empty() &&
        SSL_CTX_set_ciphersuites(ctx, options.ciphersuites.c_str()) != 1) {
        return std::unexpected("tls.ciphersuites: " + lastOpensslError());
    }
    return {};
}

}  // namespace

std::expected<std::unique_ptr<TlsContexts>, std::string> TlsContexts::create(
    const TlsOptions& options) {
    if (options.identities.empty()) {
        return std::unexpected("no TLS certificate configured");
    }
    std::unique_ptr<TlsContexts> holder(new TlsContexts());
    TlsContexts& result = *holder;
    for (const auto& id : options.identities) {
        util::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
        if (!ctx) {
            return std::unexpected(lastOpensslError());
        }
        if (auto ok = applyCommon(ctx.get(), options); !ok) {
            return std::unexpected(ok.error());
        }
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), id.certificateFile.c_str()) != 1) {
            return std::unexpected(id.domain + ": cannot load certificate " + id.certificateFile +
                                   ": " + lastOpensslError());
        }
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), id.keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
            return std::unexpected(id.domain + ": cannot load key " + id.keyFile + ": " +
                                   lastOpensslError());
        }
        if (SSL_CTX_check_private_key(ctx.get()) != 1) {
            return std::unexpected(id.domain + ": key does not match certificate " +
                                   id.certificateFile);
        }
        SSL_CTX_set_alpn_select_cb(ctx.get(), &selectAlpn, nullptr);
        SSL_CTX_set_tlsext_servername_callback(ctx.get(), &selectServerName);
        SSL_CTX_set_tlsext_servername_arg(ctx.get(), &result);
        // Peers may present certificates (s2s SASL EXTERNAL); verification is done by the caller.
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
        SSL_CTX_set_session_id_context(ctx.get(), reinterpret_cast<const unsigned char*>("corvid"),
                                       6);
        result.byDomain_.emplace(id.domain, ctx.get());
        result.contexts_.push_back(std::move(ctx));
    }

    result.client_.reset(SSL_CTX_new(TLS_client_method()));
    if (!result.client_) {
        return std::unexpected(lastOpensslError());
    }
    if (auto ok = applyCommon(result.client_.get(), options); !ok) {
        return std::unexpected(ok.error());
    }
    if (!options.caFile.empty()) {
        if (SSL_CTX_load_verify_locations(result.client_.get(), options.caFile.c_str(), nullptr) !=
            1) {
            return std::unexpected("cannot load CA file " + options.caFile + ": " +
                                   lastOpensslError());
        }
    }
    SSL_CTX_set_default_verify_paths(result.client_.get());
    return holder;
}

SSL_CTX* TlsContexts::forDomain(std::string_view domain) const {
    auto it = byDomain_.find(domain);
    return it == byDomain_.end() ? nullptr : it->second;
}

SSL* TlsContexts::newServerSsl() const {
    return SSL_new(serverDefault());
}

std::string TlsContexts::tlsExporter(SSL* ssl) {
    // RFC 9266 §2: 32 bytes, label "EXPORTER-Channel-Binding", no context. RFC 9266 §3 also
    // allows it on TLS 1.2 with extended master secret; we offer it on TLS 1.3 only.
    if (SSL_version(ssl) < TLS1_3_VERSION) {
        return {};
    }
    static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
    std::string out(32, '\0');
    if (SSL_export_keying_material(ssl, reinterpret_cast<unsigned char*>(out.data()), out.size(),
                                   kLabel, sizeof(kLabel) - 1, nullptr, 0, 0) != 1) {
        return {};
    }
    return out;
}

std::string TlsContexts::tlsServerEndPoint(SSL* ssl) {
    // RFC 5929 §4.1: hash of our certificate, with its signature's hash (SHA-256 for MD5/SHA-1).
    X509* cert = SSL_get_certificate(ssl);
    if (cert == nullptr) {
        return {};
    }
    int mdNid = NID_undef;
    if (X509_get_signature_info(cert, &mdNid, nullptr, nullptr, nullptr) != 1) {
        mdNid = NID_undef;
    }
    const EVP_MD* md = nullptr;
    if (mdNid == NID_md5 || mdNid == NID_sha1 || mdNid == NID_undef) {
        md = EVP_sha256();
    } else {
        md = EVP_get_digestbynid(mdNid);
    }
    if (md == nullptr) {
        md = EVP_sha256();
    }
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, md, buf, &len) != 1) {
        return {};
    }
    return std::string(reinterpret_cast<char*>(buf), len);
}

std::string TlsContexts::tlsUnique(SSL* ssl) {
    // RFC 9266 §3: tls-unique is undefined on TLS 1.3, and on TLS 1.2 without extended master
    // secret (RFC 7627) two connections can be made to share it (the triple-handshake attack).
    if (SSL_version(ssl) != TLS1_2_VERSION || SSL_get_extms_support(ssl) != 1) {
        return {};
    }
    // RFC 5929 §3.1: the first Finished message of the handshake. For a new session that is the
    // client's, for a resumed one the server's.
    unsigned char buf[EVP_MAX_MD_SIZE];
    std::size_t len = SSL_session_reused(ssl) ? SSL_get_finished(ssl, buf, sizeof(buf))
                                              : SSL_get_peer_finished(ssl, buf, sizeof(buf));
    return std::string(reinterpret_cast<char*>(buf), len);
}

}  // namespace corvid::net
