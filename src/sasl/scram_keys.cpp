#include "sasl/scram_keys.h"

#include <openssl/crypto.h>

#include <cassert>

namespace corvid::sasl {

ScramKeys deriveScramKeys(Hash hash, std::string_view preppedPassword, std::string_view salt,
                          int iterations) {
    std::string salted = hi(hash, preppedPassword, salt, iterations);
    ScramKeys keys;
    keys.hash = hash;
    keys.salt = std::string(salt);
    keys.iterations = iterations;
    keys.storedKey = digest(hash, hmac(hash, salted, "Client Key"));
    keys.serverKey = hmac(hash, salted, "Server Key");
    // SaltedPassword is as good as the password for logging in: do not leave it in freed memory.
    OPENSSL_cleanse(salted.data(), salted.size());
    return keys;
}

ScramKeys fakeScramKeys(Hash hash, std::string_view secret, std::string_view username,
                        int iterations) {
    // Made once, never changed: not mutable global state in the sense of the style guide.
    static const std::string kProcessSecret = randomBytes(32);
    const std::string_view key = secret.empty() ? std::string_view(kProcessSecret) : secret;

    std::string input(toString(hash));
    input.push_back('\0');  // keeps ("SHA-1", "x") apart from any other split of the same bytes
    input.append(username);
    auto labelled = [&input](std::string_view label) {
        std::string s(label);
        s.push_back('\0');
        return s + input;
    };
    ScramKeys keys;
    keys.hash = hash;
    keys.salt = hmac(Hash::Sha256, key, labelled("salt")).substr(0, kSaltBytes);
    keys.iterations = iterations;
    keys.storedKey = hmac(hash, key, labelled("stored-key"));
    keys.serverKey = hmac(hash, key, labelled("server-key"));
    return keys;
}

Credentials makeCredentials(std::string_view preppedPassword, int iterations) {
    assert(iterations >= kMinIterations);
    Credentials c;
    c.sha1 = deriveScramKeys(Hash::Sha1, preppedPassword, randomBytes(kSaltBytes), iterations);
    c.sha256 = deriveScramKeys(Hash::Sha256, preppedPassword, randomBytes(kSaltBytes), iterations);
    return c;
}

}  // namespace corvid::sasl
