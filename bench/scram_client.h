#pragma once

#include "bench_options.h"

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <unordered_map>

namespace corvid::bench {

std::string base64Encode(std::string_view bytes);
std::expected<std::string, std::string> base64Decode(std::string_view text);

/// SaltedPassword = Hi(password, salt, i) is the one expensive step of a SCRAM login, and it is
/// the client's cost, not the server's. RFC 5802 §5.1 allows a client to cache it (real clients
/// do); one cache per event loop (no locking), optionally kept in a file between runs, keeps the
/// bench's own PBKDF2 out of the login figures of all but the first run.
class SaltedPasswordCache {
  public:
    const std::string& saltedPassword(ScramHash hash, std::string_view password,
                                      std::string_view salt, int iterations);

    /// Entries learnt in an earlier run (--scram-cache), and all entries for saving.
    void preload(const std::unordered_map<std::string, std::string>& entries);
    const std::unordered_map<std::string, std::string>& entries() const { return cache_; }

    uint64_t hits() const { return hits_; }
    uint64_t misses() const { return misses_; }
    double pbkdf2Seconds() const { return pbkdf2Seconds_; }

  private:
    std::unordered_map<std::string, std::string> cache_;
    uint64_t hits_ = 0;
    uint64_t misses_ = 0;
    double pbkdf2Seconds_ = 0;
};

/// The client side of SCRAM (RFC 5802) without channel binding (gs2 header "n,,"), for
/// SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 7677). Passwords are used as given: the bench's accounts
/// are ASCII, for which SASLprep is the identity.
class ScramClient {
  public:
    ScramClient(ScramHash hash, std::string_view user, std::string password,
                std::string clientNonce, SaltedPasswordCache& cache);

    static std::string_view mechanismName(ScramHash hash);
    /// A fresh printable nonce (base64 of 18 random bytes: no ',' can appear).
    static std::string randomNonce();

    /// client-first-message, including the gs2 header.
    std::string clientFirst() const { return "n,," + clientFirstBare_; }
    /// Takes server-first-message, returns client-final-message.
    std::expected<std::string, std::string> onServerFirst(std::string_view serverFirst);
    /// Checks the server's signature in server-final-message (mutual authentication).
    std::expected<void, std::string> onServerFinal(std::string_view serverFinal) const;

  private:
    ScramHash hash_;
    std::string password_;
    std::string clientNonce_;
    std::string clientFirstBare_;
    std::string expectedServerSignature_;
    SaltedPasswordCache& cache_;
};

/// Runs the exchanges of RFC 5802 §5 and RFC 7677 §3; returns a description of the first
/// mismatch, or nothing.
std::expected<void, std::string> scramSelfTest();

}  // namespace corvid::bench
