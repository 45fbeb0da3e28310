#include "s2s/certificate_verifier.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdlib>

#include "s2s/cert_identity.h"

namespace corvid::s2s {

namespace {

struct StoreCtxDeleter {
    void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};

std::string opensslError() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    char buf[256] = "unknown error";
    if (code != 0) {
        ERR_error_string_n(code, buf, sizeof(buf));
    }
    return buf;
}

}  // namespace

std::string_view toString(CertStatus status) {
    switch (status) {
        case CertStatus::Valid:
            return "valid";
        case CertStatus::None:
            return "no certificate";
        case CertStatus::Untrusted:
            return "untrusted";
        case CertStatus::NameMismatch:
            return "name mismatch";
    }
    return "?";
}

std::expected<std::unique_ptr<CertificateVerifier>, std::string> CertificateVerifier::create(
    const std::string& caFile) {
    std::unique_ptr<CertificateVerifier> self(new CertificateVerifier());
    self->store_ = X509_STORE_new();
    if (self->store_ == nullptr) {
        return std::unexpected(opensslError());
    }
    // The system bundle as one file, read now: a hashed directory would be read lazily, from
    // the event loop, on every verification.
    const char* systemFile = std::getenv(X509_get_default_cert_file_env());  // SSL_CERT_FILE
    if (systemFile == nullptr || *systemFile == '\0') {
        systemFile = X509_get_default_cert_file();
    }
    if (systemFile != nullptr && ::access(systemFile, R_OK) == 0) {
        if (X509_STORE_load_file(self->store_, systemFile) != 1) {
            return std::unexpected(std::string("cannot load the system CA bundle ") + systemFile +
                                   ": " + opensslError());
        }
    }
    if (!caFile.empty() && X509_STORE_load_file(self->store_, caFile.c_str()) != 1) {
        return std::unexpected("cannot load s2s.ca_file " + caFile + ": " + opensslError());
    }
    ERR_clear_error();
    return self;
}

CertificateVerifier::~CertificateVerifier() {
    X509_STORE_free(store_);
}

CertCheck CertificateVerifier::checkChain(SSL* ssl) const {
    if (ssl == nullptr) {
        return {CertStatus::None, "no TLS"};
    }
    X509* leaf = SSL_get0_peer_certificate(ssl);
    if (leaf == nullptr) {
        return {CertStatus::None, "the peer sent no certificate"};
    }
    std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
    // The peer's chain as sent (a client's excludes the leaf, a server's includes it): used
    // only as untrusted intermediates.
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store_, leaf, chain) != 1) {
        return {CertStatus::Untrusted, opensslError()};
    }
    // Both directions check a server identity: the peer is an XMPP server either way.
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx.get()) != 1) {
        const int err = X509_STORE_CTX_get_error(ctx.get());
        ERR_clear_error();
        return {CertStatus::Untrusted, X509_verify_cert_error_string(err)};
    }
    return {CertStatus::Valid, {}};
}

CertCheck CertificateVerifier::check(SSL* ssl, std::string_view domain) const {
    CertCheck chain = checkChain(ssl);
    if (!chain.valid()) {
        return chain;
    }
    if (!identitiesMatch(extractIdentities(SSL_get0_peer_certificate(ssl)), domain)) {
        return {CertStatus::NameMismatch, "the certificate is not for " + std::string(domain)};
    }
    return chain;
}

}  // namespace corvid::s2s
