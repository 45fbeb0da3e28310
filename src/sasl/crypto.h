#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace corvid::sasl {

/// The hash function a SCRAM mechanism is built on (RFC 5802 SHA-1, RFC 7677 SHA-256).
enum class Hash { Sha1, Sha256 };

/// "SHA-1" or "SHA-256", as in the mechanism names.
std::string_view toString(Hash hash);

/// Output size of H() in bytes (20 or 32).
std::size_t digestSize(Hash hash);

/// H(data) (RFC 5802 §2.2).
std::string digest(Hash hash, std::string_view data);

/// HMAC(key, data) (RFC 2104, RFC 5802 §2.2).
std::string hmac(Hash hash, std::string_view key, std::string_view data);

/// Hi(password, salt, iterations) of RFC 5802 §2.2, which is PBKDF2 (RFC 8018) with HMAC and an
/// output as long as the hash. Precondition: iterations >= 1.
std::string hi(Hash hash, std::string_view password, std::string_view salt, int iterations);

/// n bytes from OpenSSL's CSPRNG (RAND_bytes). Aborts if the generator fails: carrying on with
/// predictable nonces or salts would be worse than stopping.
std::string randomBytes(std::size_t n);

/// Compares two byte strings in time that depends only on their lengths (CRYPTO_memcmp), for
/// proofs, keys and channel-binding data. Lengths are not secret.
bool constantTimeEqual(std::string_view a, std::string_view b);

}  // namespace corvid::sasl
