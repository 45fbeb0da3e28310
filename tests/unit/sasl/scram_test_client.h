#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sasl/base64.h"
#include "sasl/crypto.h"
#include "sasl/mechanism.h"
#include "sasl/scram_keys.h"

namespace corvid::sasl::test {

/// The attributes of a SCRAM message ("r=..,s=..") by name; later duplicates are ignored.
inline std::map<char, std::string> parseAttributes(std::string_view message) {
    std::map<char, std::string> out;
    std::size_t start = 0;
    while (start <= message.size()) {
        std::size_t comma = message.find(',', start);
        if (comma == std::string_view::npos) {
            comma = message.size();
        }
        const std::string_view part = message.substr(start, comma - start);
        if (part.size() >= 2 && part[1] == '=') {
            out.emplace(part[0], std::string(part.substr(2)));
        }
        start = comma + 1;
    }
    return out;
}

/// A minimal SCRAM client (RFC 5802 §3, §5), independent of the server code but for the HMAC and
/// hash primitives (which the RFC test vectors pin down).
struct ScramClient {
    Hash hash = Hash::Sha256;
    std::string gs2Header = "n,,";
    std::string username = "user";  ///< already escaped (=2C, =3D)
    std::string password = "pencil";
    std::string clientNonce = "fyko+d2lbbFgONRv9qkxdawL";
    std::string cbData;  ///< channel-binding data for p=

    std::string serverSignature;  ///< expected v=, known after finalMessage()

    std::string bare() const { return "n=" + username + ",r=" + clientNonce; }
    std::string firstMessage() const { return gs2Header + bare(); }

    /// The c= value an honest client sends.
    std::string channelBinding() const { return encodeBase64(gs2Header + cbData); }

    /// Appends a correct proof to any client-final-message-without-proof, so that a test can
    /// change one field and still send a valid proof over what it changed.
    std::string prove(std::string_view serverFirst, const std::string& withoutProof) {
        const auto attrs = parseAttributes(serverFirst);
        const std::string salt = decodeBase64(attrs.at('s')).value();
        const int iterations = std::stoi(attrs.at('i'));
        const std::string salted = hi(hash, password, salt, iterations);
        const std::string clientKey = hmac(hash, salted, "Client Key");
        const std::string storedKey = digest(hash, clientKey);
        const std::string authMessage =
            bare() + "," + std::string(serverFirst) + "," + withoutProof;
        const std::string signature = hmac(hash, storedKey, authMessage);
        std::string proof(clientKey.size(), '\0');
        for (std::size_t i = 0; i < proof.size(); ++i) {
            proof[i] = static_cast<char>(clientKey[i] ^ signature[i]);
        }
        serverSignature = hmac(hash, hmac(hash, salted, "Server Key"), authMessage);
        return withoutProof + ",p=" + encodeBase64(proof);
    }

    /// The honest client-final-message for this server-first-message.
    std::string finalMessage(std::string_view serverFirst) {
        const auto attrs = parseAttributes(serverFirst);
        return prove(serverFirst, "c=" + channelBinding() + ",r=" + attrs.at('r'));
    }

    bool verifyServerFinal(std::string_view serverFinal) const {
        return serverFinal == "v=" + encodeBase64(serverSignature);
    }
};

/// Keys for "pencil" with fixed salts, for both hashes (derived once: PBKDF2 is slow under ASan).
inline const Credentials& pencilCredentials() {
    static const Credentials kCredentials = [] {
        Credentials c;
        c.sha1 = deriveScramKeys(Hash::Sha1, "pencil", "0123456789abcdef", 4096);
        c.sha256 = deriveScramKeys(Hash::Sha256, "pencil", "fedcba9876543210", 4096);
        return c;
    }();
    return kCredentials;
}

}  // namespace corvid::sasl::test
