#include "sasl/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cassert>
#include <climits>
#include <cstdlib>

namespace corvid::sasl {

namespace {

const EVP_MD* evpMd(Hash hash) {
    switch (hash) {
        case Hash::Sha1:
            return EVP_sha1();
        case Hash::Sha256:
            return EVP_sha256();
    }
    std::abort();
}

const unsigned char* bytesOf(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* bytesOf(std::string& s) {
    return reinterpret_cast<unsigned char*>(s.data());
}

// OpenSSL failing to hash in memory means a broken library or no memory: nothing sensible is
// left to do on the serving path.
void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

std::string_view toString(Hash hash) {
    switch (hash) {
        case Hash::Sha1:
            return "SHA-1";
        case Hash::Sha256:
            return "SHA-256";
    }
    std::abort();
}

std::size_t digestSize(Hash hash) {
    switch (hash) {
        case Hash::Sha1:
            return 20;
        case Hash::Sha256:
            return 32;
    }
    std::abort();
}

std::string digest(Hash hash, std::string_view data) {
    std::string out(digestSize(hash), '\0');
    unsigned int len = 0;
    require(EVP_Digest(data.data(), data.size(), bytesOf(out), &len, evpMd(hash), nullptr) == 1);
    require(len == out.size());
    return out;
}

std::string hmac(Hash hash, std::string_view key, std::string_view data) {
    require(key.size() <= INT_MAX);
    std::string out(digestSize(hash), '\0');
    unsigned int len = 0;
    require(HMAC(evpMd(hash), key.data(), static_cast<int>(key.size()), bytesOf(data), data.size(),
                 bytesOf(out), &len) != nullptr);
    require(len == out.size());
    return out;
}

std::string hi(Hash hash, std::string_view password, std::string_view salt, int iterations) {
    assert(iterations >= 1);
    require(iterations >= 1 && password.size() <= INT_MAX && salt.size() <= INT_MAX);
    std::string out(digestSize(hash), '\0');
    require(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytesOf(salt),
                              static_cast<int>(salt.size()), iterations, evpMd(hash),
                              static_cast<int>(out.size()), bytesOf(out)) == 1);
    return out;
}

std::string randomBytes(std::size_t n) {
    std::string out(n, '\0');
    require(n <= INT_MAX && RAND_bytes(bytesOf(out), static_cast<int>(n)) == 1);
    return out;
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace corvid::sasl
