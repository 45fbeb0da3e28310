#include "s2s/dialback.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace corvid::s2s {

namespace {

std::string toHex(const unsigned char* data, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += kDigits[data[i] >> 4];
        out += kDigits[data[i] & 0x0f];
    }
    return out;
}

}  // namespace

std::string dialbackKey(std::string_view secret, std::string_view receiving,
                        std::string_view originating, std::string_view streamId) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
    // XEP-0185 §3: the hashed secret is used in its hexadecimal form as the HMAC key.
    const std::string hexKey = toHex(digest, sizeof(digest));
    std::string text;
    text.reserve(receiving.size() + originating.size() + streamId.size() + 2);
    text.append(receiving).append(" ").append(originating).append(" ").append(streamId);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int macLen = 0;
    HMAC(EVP_sha256(), hexKey.data(), static_cast<int>(hexKey.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &macLen);
    OPENSSL_cleanse(digest, sizeof(digest));
    return toHex(mac, macLen);
}

bool keysEqual(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace corvid::s2s
