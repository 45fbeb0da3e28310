#pragma once

// A throw-away TLS identity for unit tests (no network, no files left behind).

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace corvid::test {

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Deleter {
    void operator()(X509* p) const { X509_free(p); }
};
struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

/// A self-signed P-256 certificate for "localhost" in a fresh directory, removed at the end.
class TestIdentity {
  public:
    TestIdentity() {
        dir_ = std::filesystem::temp_directory_path() /
               ("corvid-tls-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        std::unique_ptr<EVP_PKEY, PkeyDeleter> key(EVP_EC_gen("P-256"));
        REQUIRE(key);
        std::unique_ptr<X509, X509Deleter> cert(X509_new());
        ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
        X509_set_pubkey(cert.get(), key.get());
        X509_NAME* name = X509_get_subject_name(cert.get());
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(cert.get(), name);
        REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
        std::unique_ptr<std::FILE, FileCloser> c(std::fopen(certFile().c_str(), "w"));
        std::unique_ptr<std::FILE, FileCloser> k(std::fopen(keyFile().c_str(), "w"));
        REQUIRE((c && k));
        REQUIRE(PEM_write_X509(c.get(), cert.get()) == 1);
        REQUIRE(PEM_write_PrivateKey(k.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
                1);
    }
    ~TestIdentity() { std::filesystem::remove_all(dir_); }

    std::string certFile() const { return (dir_ / "cert.pem").string(); }
    std::string keyFile() const { return (dir_ / "key.pem").string(); }

  private:
    std::filesystem::path dir_;
};

}  // namespace corvid::test
