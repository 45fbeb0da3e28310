#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "net/tls_context.h"
#include "support/test_identity.h"
#include "util/c_handles.h"

using corvid::net::TlsContexts;
using corvid::net::TlsOptions;
using corvid::test::TestIdentity;

namespace {

/// A client and a corvid server-side SSL joined by a BIO pair, handshake done.
struct Connection {
    corvid::util::SslCtxPtr clientCtx;
    corvid::util::SslPtr client;
    corvid::util::SslPtr server;
};

Connection handshake(const TlsContexts& tls, int maxVersion, bool clientOffersEms) {
    Connection c;
    c.clientCtx.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_max_proto_version(c.clientCtx.get(), maxVersion);
    if (!clientOffersEms) {
        SSL_CTX_set_options(c.clientCtx.get(), SSL_OP_NO_EXTENDED_MASTER_SECRET);
    }
    c.client.reset(SSL_new(c.clientCtx.get()));
    c.server.reset(tls.newServerSsl());
    BIO* clientBio = nullptr;
    BIO* serverBio = nullptr;
    REQUIRE(BIO_new_bio_pair(&clientBio, 0, &serverBio, 0) == 1);
    SSL_set_bio(c.client.get(), clientBio, clientBio);
    SSL_set_bio(c.server.get(), serverBio, serverBio);
    SSL_set_connect_state(c.client.get());
    SSL_set_accept_state(c.server.get());
    bool clientDone = false;
    bool serverDone = false;
    for (int round = 0; round < 20 && !(clientDone && serverDone); ++round) {
        clientDone = clientDone || SSL_do_handshake(c.client.get()) == 1;
        serverDone = serverDone || SSL_do_handshake(c.server.get()) == 1;
    }
    REQUIRE(clientDone);
    REQUIRE(serverDone);
    return c;
}

std::string clientFinished(SSL* client) {
    unsigned char buf[EVP_MAX_MD_SIZE];
    const std::size_t len = SSL_get_finished(client, buf, sizeof(buf));
    return std::string(reinterpret_cast<char*>(buf), len);
}

}  // namespace

TEST_CASE("channel-binding data: each type only where it is defined and safe", "[net][tls]") {
    TestIdentity identity;
    TlsOptions options;
    options.identities.push_back({"localhost", identity.certFile(), identity.keyFile()});
    auto tls = TlsContexts::create(options);
    REQUIRE(tls.has_value());

    SECTION("TLS 1.3: tls-exporter, no tls-unique (RFC 9266 §3)") {
        Connection c = handshake(**tls, TLS1_3_VERSION, true);
        REQUIRE(SSL_version(c.server.get()) == TLS1_3_VERSION);
        CHECK(TlsContexts::tlsExporter(c.server.get()).size() == 32);
        CHECK(TlsContexts::tlsUnique(c.server.get()).empty());
        CHECK_FALSE(TlsContexts::tlsServerEndPoint(c.server.get()).empty());
    }
    SECTION("TLS 1.2 with extended master secret: tls-unique is the client's Finished") {
        Connection c = handshake(**tls, TLS1_2_VERSION, true);
        REQUIRE(SSL_version(c.server.get()) == TLS1_2_VERSION);
        REQUIRE(SSL_get_extms_support(c.server.get()) == 1);
        const std::string unique = TlsContexts::tlsUnique(c.server.get());
        CHECK_FALSE(unique.empty());
        CHECK(unique == clientFinished(c.client.get()));
        CHECK(TlsContexts::tlsExporter(c.server.get()).empty());
        CHECK_FALSE(TlsContexts::tlsServerEndPoint(c.server.get()).empty());
    }
    SECTION("TLS 1.2 without extended master secret: no tls-unique (triple handshake)") {
        Connection c = handshake(**tls, TLS1_2_VERSION, false);
        REQUIRE(SSL_version(c.server.get()) == TLS1_2_VERSION);
        REQUIRE(SSL_get_extms_support(c.server.get()) == 0);
        CHECK(TlsContexts::tlsUnique(c.server.get()).empty());
        CHECK(TlsContexts::tlsExporter(c.server.get()).empty());
        // Still something for -PLUS: the certificate hash does not depend on the handshake.
        CHECK_FALSE(TlsContexts::tlsServerEndPoint(c.server.get()).empty());
    }
}
