#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sasl/crypto.h"

namespace corvid::sasl {

/// The least iteration count we create keys with (RFC 7677 §4: at least 4096).
inline constexpr int kMinIterations = 4096;

/// Length of the random salts makeCredentials() creates. The salts invented for unknown users
/// have the same length, so that a salt does not tell whether an account exists.
inline constexpr std::size_t kSaltBytes = 16;

/// What the server keeps for one account and one hash instead of the password (RFC 5802 §3):
/// StoredKey = H(ClientKey) and ServerKey, with the salt and iteration count they were made with.
struct ScramKeys {
    Hash hash = Hash::Sha256;
    std::string salt;  ///< raw bytes
    int iterations = 0;
    std::string storedKey;  ///< raw bytes, digestSize(hash) long
    std::string serverKey;  ///< raw bytes, digestSize(hash) long

    bool operator==(const ScramKeys&) const = default;
};

/// What the account store holds for one user. A missing hash is treated like a missing user by
/// the mechanisms (no account enumeration).
struct Credentials {
    std::optional<ScramKeys> sha1;
    std::optional<ScramKeys> sha256;
};

/// SaltedPassword = Hi(password, salt, i); StoredKey = H(HMAC(SaltedPassword, "Client Key"));
/// ServerKey = HMAC(SaltedPassword, "Server Key") (RFC 5802 §3). The password must already be
/// prepared (OpaqueString, RFC 8265 §4.2). Precondition: iterations >= 1.
ScramKeys deriveScramKeys(Hash hash, std::string_view preppedPassword, std::string_view salt,
                          int iterations);

/// Stable but invented keys for a user who does not exist, so that the exchange can go on
/// exactly as for a real one (RFC 5802 §5.1 suggests this against account enumeration). The salt
/// is HMAC-SHA-256(secret, hash name, username), cut to kSaltBytes: the same user always gets the
/// same salt, and it differs per hash like the independent salts of makeCredentials(). The keys
/// are derived from the secret too and match no password. An empty secret means a random key
/// made once per process.
ScramKeys fakeScramKeys(Hash hash, std::string_view secret, std::string_view username,
                        int iterations);

/// Keys for both hashes, each with its own fresh random salt of kSaltBytes, for storing a new or
/// changed password (corvidctl adduser/passwd, in-band registration). Precondition: iterations >=
/// kMinIterations.
Credentials makeCredentials(std::string_view preppedPassword, int iterations = kMinIterations);

}  // namespace corvid::sasl
