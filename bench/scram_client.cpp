#include "scram_client.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace corvid::bench {
namespace {

const EVP_MD* digestOf(ScramHash hash) {
    return hash == ScramHash::Sha1 ? EVP_sha1() : EVP_sha256();
}

std::string hmac(ScramHash hash, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(digestOf(hash), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string digest(ScramHash hash, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, digestOf(hash), nullptr);
    return std::string(reinterpret_cast<char*>(out), len);
}

// RFC 5802 §5.1: '=' and ',' in a username are sent as "=3D" and "=2C".
std::string escapeSaslName(std::string_view user) {
    std::string out;
    for (char c : user) {
        if (c == '=') {
            out += "=3D";
        } else if (c == ',') {
            out += "=2C";
        } else {
            out += c;
        }
    }
    return out;
}

// Splits "a=1,b=2" into (key, value) pairs; attribute keys are single letters.
std::vector<std::pair<char, std::string_view>> parseAttributes(std::string_view msg) {
    std::vector<std::pair<char, std::string_view>> out;
    while (!msg.empty()) {
        auto comma = msg.find(',');
        std::string_view part = msg.substr(0, comma);
        if (part.size() >= 2 && part[1] == '=') {
            out.emplace_back(part[0], part.substr(2));
        } else {
            out.emplace_back('\0', part);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        msg.remove_prefix(comma + 1);
    }
    return out;
}

}  // namespace

std::string base64Encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::expected<std::string, std::string> base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::unexpected(std::string("base64 length is not a multiple of 4"));
    }
    std::string out(3 * text.size() / 4, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    if (n < 0) {
        return std::unexpected(std::string("invalid base64"));
    }
    // EVP_DecodeBlock counts the padding as zero bytes.
    size_t len = static_cast<size_t>(n);
    for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) {
        --len;
    }
    out.resize(len);
    return out;
}

const std::string& SaltedPasswordCache::saltedPassword(ScramHash hash, std::string_view password,
                                                       std::string_view salt, int iterations) {
    std::string key;
    key.reserve(password.size() + salt.size() + 16);
    key += hash == ScramHash::Sha1 ? '1' : '2';
    key += std::to_string(iterations);
    key += '\0';
    key += salt;
    key += '\0';
    key += password;
    auto it = cache_.find(key);
    if (it != cache_.end()) {
        ++hits_;
        return it->second;
    }
    ++misses_;
    auto start = std::chrono::steady_clock::now();
    std::string out(static_cast<size_t>(EVP_MD_get_size(digestOf(hash))), '\0');
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), iterations, digestOf(hash),
                      static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
    pbkdf2Seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return cache_.emplace(std::move(key), std::move(out)).first->second;
}

void SaltedPasswordCache::preload(const std::unordered_map<std::string, std::string>& entries) {
    cache_.insert(entries.begin(), entries.end());
}

ScramClient::ScramClient(ScramHash hash, std::string_view user, std::string password,
                         std::string clientNonce, SaltedPasswordCache& cache)
    : hash_(hash),
      password_(std::move(password)),
      clientNonce_(std::move(clientNonce)),
      clientFirstBare_("n=" + escapeSaslName(user) + ",r=" + clientNonce_),
      cache_(cache) {}

std::string_view ScramClient::mechanismName(ScramHash hash) {
    return hash == ScramHash::Sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

std::string ScramClient::randomNonce() {
    unsigned char raw[18];
    RAND_bytes(raw, sizeof raw);
    return base64Encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
}

std::expected<std::string, std::string> ScramClient::onServerFirst(std::string_view serverFirst) {
    std::string_view nonce;
    std::string_view saltB64;
    int iterations = 0;
    for (auto [key, value] : parseAttributes(serverFirst)) {
        switch (key) {
            case 'm':
                // RFC 5802 §5.1: a mandatory extension we do not know means we must fail.
                return std::unexpected(std::string("server-first has a mandatory extension"));
            case 'r':
                nonce = value;
                break;
            case 's':
                saltB64 = value;
                break;
            case 'i':
                iterations = std::atoi(std::string(value).c_str());
                break;
            default:
                break;
        }
    }
    if (nonce.size() <= clientNonce_.size() ||
        nonce.substr(0, clientNonce_.size()) != clientNonce_) {
        return std::unexpected(std::string("server nonce does not extend the client nonce"));
    }
    if (iterations < 1) {
        return std::unexpected(std::string("server-first has no valid iteration count"));
    }
    auto salt = base64Decode(saltB64);
    if (!salt || salt->empty()) {
        return std::unexpected(std::string("server-first has no valid salt"));
    }
    const std::string& saltedPassword = cache_.saltedPassword(hash_, password_, *salt, iterations);
    std::string clientKey = hmac(hash_, saltedPassword, "Client Key");
    std::string storedKey = digest(hash_, clientKey);
    std::string withoutProof = "c=biws,r=" + std::string(nonce);  // biws = base64("n,,")
    std::string authMessage =
        clientFirstBare_ + "," + std::string(serverFirst) + "," + withoutProof;
    std::string clientSignature = hmac(hash_, storedKey, authMessage);
    std::string proof = clientKey;
    for (size_t i = 0; i < proof.size(); ++i) {
        proof[i] = static_cast<char>(proof[i] ^ clientSignature[i]);
    }
    std::string serverKey = hmac(hash_, saltedPassword, "Server Key");
    expectedServerSignature_ = hmac(hash_, serverKey, authMessage);
    return withoutProof + ",p=" + base64Encode(proof);
}

std::expected<void, std::string> ScramClient::onServerFinal(std::string_view serverFinal) const {
    for (auto [key, value] : parseAttributes(serverFinal)) {
        if (key == 'e') {
            return std::unexpected("server-final error: " + std::string(value));
        }
        if (key == 'v') {
            auto signature = base64Decode(value);
            if (!signature || *signature != expectedServerSignature_) {
                return std::unexpected(std::string("server signature does not verify"));
            }
            return {};
        }
    }
    return std::unexpected(std::string("server-final has no verifier"));
}

std::expected<void, std::string> scramSelfTest() {
    struct Vector {
        ScramHash hash;
        const char* nonce;
        const char* clientFirst;
        const char* serverFirst;
        const char* clientFinal;
        const char* serverFinal;
    };
    // RFC 5802 §5 and RFC 7677 §3 (user "user", password "pencil").
    const Vector vectors[] = {
        {ScramHash::Sha1, "fyko+d2lbbFgONRv9qkxdawL", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
         "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
         "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
         "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
        {ScramHash::Sha256, "rOprNGfwEbeRWgbNEkqO", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
         "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
         "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
    };
    for (const auto& v : vectors) {
        SaltedPasswordCache cache;
        ScramClient client(v.hash, "user", "pencil", v.nonce, cache);
        std::string name(ScramClient::mechanismName(v.hash));
        if (client.clientFirst() != v.clientFirst) {
            return std::unexpected(name + ": client-first " + client.clientFirst());
        }
        auto clientFinal = client.onServerFirst(v.serverFirst);
        if (!clientFinal || *clientFinal != v.clientFinal) {
            return std::unexpected(name + ": client-final " +
                                   (clientFinal ? *clientFinal : clientFinal.error()));
        }
        if (auto ok = client.onServerFinal(v.serverFinal); !ok) {
            return std::unexpected(name + ": " + ok.error());
        }
        if (client.onServerFinal("v=AAAA")) {
            return std::unexpected(name + ": accepted a wrong server signature");
        }
    }
    if (base64Encode("ab") != "YWI=" || base64Decode("YWI=").value_or("") != "ab" ||
        base64Decode("YQ==").value_or("") != "a" || base64Decode("").value_or("x") != "") {
        return std::unexpected(std::string("base64 round trip"));
    }
    return {};
}

}  // namespace corvid::bench
