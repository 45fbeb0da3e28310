#include "util/upload_grant.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace corvid::util {

std::string UploadGrant::sign(std::string_view secret) const {
    // Fields are separated by a byte none of them may hold, so that no two grants sign alike.
    std::string message = "corvid-upload-1";
    for (std::string_view field :
         {std::string_view(slot), std::string_view(filename), std::string_view(contentType)}) {
        message += '\0';
        message += field;
    }
    message += '\0';
    message += std::to_string(size);
    message += '\0';
    message += std::to_string(expires);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 15];
    }
    return out;
}

bool UploadGrant::verify(std::string_view secret, std::string_view signature) const {
    const std::string expected = sign(secret);
    return signature.size() == expected.size() &&
           CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
}

}  // namespace corvid::util
