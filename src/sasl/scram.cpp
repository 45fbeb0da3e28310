#include "sasl/scram.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "sasl/base64.h"
#include "sasl/utf8.h"

namespace corvid::sasl {

namespace {

constexpr std::string_view kTlsExporter = "tls-exporter";
constexpr std::string_view kTlsServerEndPoint = "tls-server-end-point";
constexpr std::string_view kTlsUnique = "tls-unique";

std::vector<std::string_view> splitCommas(std::string_view s) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = s.find(',', start);
        if (comma == std::string_view::npos) {
            parts.push_back(s.substr(start));
            return parts;
        }
        parts.push_back(s.substr(start, comma - start));
        start = comma + 1;
    }
}

bool isAlpha(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

// printable = %x21-2B / %x2D-7E (RFC 5802 §7): visible ASCII except ",".
bool isPrintable(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(),
                                     [](char c) { return c >= 0x21 && c <= 0x7E && c != ','; });
}

// cb-name = 1*(ALPHA / DIGIT / "." / "-") (RFC 5802 §7, RFC 5056 §7).
bool isCbName(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return isAlpha(c) || isDigit(c) || c == '.' || c == '-';
    });
}

// value = 1*value-char; value-char = UTF8-char except NUL and "," (RFC 5802 §7). The caller has
// split on "," already.
bool isValue(std::string_view s) {
    return !s.empty() && s.find('\0') == std::string_view::npos && isValidUtf8(s);
}

// attr-val = ALPHA "=" value: the shape of an optional extension, which is ignored (§5.1).
bool isAttrVal(std::string_view s) {
    return s.size() >= 2 && isAlpha(s[0]) && s[1] == '=' && isValue(s.substr(2));
}

// saslname = 1*(value-safe-char / "=2C" / "=3D") (RFC 5802 §5.1, §7). Any other "=" sequence
// MUST make the server fail the exchange.
std::optional<std::string> decodeSaslname(std::string_view s) {
    if (s.empty() || s.find('\0') != std::string_view::npos) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '=') {
            out.push_back(s[i]);
            continue;
        }
        const std::string_view esc = s.substr(i + 1, 2);
        if (esc == "2C") {
            out.push_back(',');
        } else if (esc == "3D") {
            out.push_back('=');
        } else {
            return std::nullopt;
        }
        i += 2;
    }
    if (!isValidUtf8(out)) {
        return std::nullopt;
    }
    return out;
}

std::string xorBytes(std::string_view a, std::string_view b) {
    std::string out(a.size(), '\0');
    for (std::size_t i = 0; i < a.size(); ++i) {
        out[i] = static_cast<char>(a[i] ^ b[i]);
    }
    return out;
}

bool validKeys(const ScramKeys& k, Hash hash) {
    return k.hash == hash && k.iterations >= 1 && k.storedKey.size() == digestSize(hash) &&
           k.serverKey.size() == digestSize(hash);
}

}  // namespace

std::string downgradeProtectionHash(Hash hash, std::vector<std::string> mechanisms,
                                    std::vector<std::string> channelBindingTypes) {
    // XEP-0474 §6.1: "i;octet" collation (RFC 4790 §9.3), which std::string's ordering is
    // (char_traits<char> compares as unsigned char).
    std::sort(mechanisms.begin(), mechanisms.end());
    std::sort(channelBindingTypes.begin(), channelBindingTypes.end());
    std::string s;
    for (std::size_t i = 0; i < mechanisms.size(); ++i) {
        if (i > 0) {
            s.push_back('\x1E');
        }
        s += mechanisms[i];
    }
    if (!channelBindingTypes.empty()) {
        s.push_back('\x1F');
        for (std::size_t i = 0; i < channelBindingTypes.size(); ++i) {
            if (i > 0) {
                s.push_back('\x1E');
            }
            s += channelBindingTypes[i];
        }
    }
    return encodeBase64(digest(hash, s));
}

ScramMechanism::ScramMechanism(Hash hash, bool plus, const MechanismOptions& options)
    : hash_(hash),
      plus_(plus),
      name_("SCRAM-" + std::string(toString(hash)) + (plus ? "-PLUS" : "")),
      bindings_(options.bindings),
      testServerNonce_(options.testServerNonce) {
    unknownUser_.fakeSaltSecret = options.fakeSaltSecret;
    unknownUser_.fakeIterations = options.fakeIterations;
    unknownUser_.prepUsername = options.prepUsername;
    plusOffered_ = std::any_of(options.offered.begin(), options.offered.end(),
                               [](const std::string& m) { return m.ends_with("-PLUS"); });
    if (options.downgradeProtection && !options.offered.empty()) {
        ssdpHash_ = downgradeProtectionHash(hash, options.offered, options.offeredChannelBindings);
    }
}

Step ScramMechanism::fail(Failure failure, std::string reason) {
    state_ = State::Done;
    OPENSSL_cleanse(keys_.storedKey.data(), keys_.storedKey.size());
    OPENSSL_cleanse(keys_.serverKey.data(), keys_.serverKey.size());
    return Step::fail(failure, std::move(reason));
}

Step ScramMechanism::start(std::optional<std::string_view> initialResponse) {
    if (state_ != State::Initial) {
        return fail(Failure::MalformedRequest, "start() called twice");
    }
    if (!initialResponse) {
        // SCRAM is client-first: without an initial response, ask for it with an empty
        // challenge (RFC 6120 §6.4.2, RFC 4422 §5).
        state_ = State::AwaitClientFirst;
        return Step::challenge({});
    }
    return onClientFirst(*initialResponse);
}

Step ScramMechanism::respond(std::string_view response) {
    switch (state_) {
        case State::AwaitClientFirst:
            return onClientFirst(response);
        case State::AwaitClientFinal:
            return onClientFinal(response);
        case State::Initial:
        case State::AwaitCredentials:
        case State::Done:
            break;
    }
    return fail(Failure::MalformedRequest, "response out of turn");
}

Step ScramMechanism::onClientFirst(std::string_view message) {
    // client-first-message = gs2-header client-first-message-bare
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","   (RFC 5802 §7; no GS2 "F" flag, which
    // RFC 5801 §4 only defines for GSS-API mechanisms)
    std::size_t pos = 0;
    char flag = 0;
    std::string_view cbName;
    if (message.starts_with("p=")) {
        const std::size_t comma = message.find(',', 2);
        if (comma == std::string_view::npos) {
            return fail(Failure::MalformedRequest, "truncated gs2-header");
        }
        cbName = message.substr(2, comma - 2);
        if (!isCbName(cbName)) {
            return fail(Failure::MalformedRequest, "bad cb-name");
        }
        flag = 'p';
        pos = comma + 1;
    } else if (message.starts_with("n,") || message.starts_with("y,")) {
        flag = message[0];
        pos = 2;
    } else {
        return fail(Failure::MalformedRequest, "bad gs2-cbind-flag");
    }

    const std::size_t authzEnd = message.find(',', pos);
    if (authzEnd == std::string_view::npos) {
        return fail(Failure::MalformedRequest, "truncated gs2-header");
    }
    const std::string_view authzField = message.substr(pos, authzEnd - pos);
    std::string authzid;
    if (!authzField.empty()) {
        if (!authzField.starts_with("a=")) {
            return fail(Failure::MalformedRequest, "bad authzid");
        }
        auto decoded = decodeSaslname(authzField.substr(2));
        if (!decoded) {
            return fail(Failure::MalformedRequest, "invalid-username-encoding");
        }
        authzid = std::move(*decoded);
    }
    const std::string_view gs2Header = message.substr(0, authzEnd + 1);
    const std::string_view bare = message.substr(authzEnd + 1);

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    const auto attrs = splitCommas(bare);
    if (attrs[0].starts_with("m=")) {
        // §5.1: a mandatory extension we do not know MUST fail the exchange.
        return fail(Failure::MalformedRequest, "extensions-not-supported");
    }
    if (attrs.size() < 2 || !attrs[0].starts_with("n=") || !attrs[1].starts_with("r=")) {
        return fail(Failure::MalformedRequest, "client-first-message needs n= then r=");
    }
    auto username = decodeSaslname(attrs[0].substr(2));
    if (!username) {
        return fail(Failure::MalformedRequest, "invalid-username-encoding");
    }
    const std::string_view clientNonce = attrs[1].substr(2);
    if (!isPrintable(clientNonce)) {
        return fail(Failure::MalformedRequest, "bad client nonce");
    }
    for (std::size_t i = 2; i < attrs.size(); ++i) {
        if (!isAttrVal(attrs[i])) {
            return fail(Failure::MalformedRequest, "bad extension");
        }
    }

    // Channel-binding policy (RFC 5802 §6).
    std::string_view cbData;
    if (plus_) {
        if (flag != 'p') {
            return fail(Failure::MalformedRequest, "-PLUS requires channel binding (p=)");
        }
        if (cbName == kTlsExporter) {
            cbData = bindings_.tlsExporter;
        } else if (cbName == kTlsServerEndPoint) {
            cbData = bindings_.tlsServerEndPoint;
        } else if (cbName == kTlsUnique) {
            cbData = bindings_.tlsUnique;
        }
        if (cbData.empty()) {
            return fail(Failure::MalformedRequest, "unsupported-channel-binding-type");
        }
    } else if (flag == 'p') {
        return fail(Failure::MalformedRequest, "channel binding requested without -PLUS");
    } else if (flag == 'y' && plusOffered_) {
        // The client supports channel binding but believes we do not, although we offered a
        // -PLUS variant: someone removed it on the way.
        return fail(Failure::NotAuthorized, "server-does-support-channel-binding");
    }

    std::string cbindInput(gs2Header);
    cbindInput.append(cbData);
    expectedBinding_ = encodeBase64(cbindInput);
    clientFirstBare_ = std::string(bare);
    clientNonce_ = std::string(clientNonce);
    pendingUsername_ = std::move(*username);
    pendingAuthzid_ = std::move(authzid);
    state_ = State::AwaitCredentials;
    return Step::needCredentials(pendingUsername_, pendingAuthzid_);
}

Step ScramMechanism::provideCredentials(std::optional<Credentials> credentials) {
    if (state_ != State::AwaitCredentials) {
        return fail(Failure::MalformedRequest, "credentials out of turn");
    }
    const std::optional<ScramKeys>* stored = nullptr;
    if (credentials) {
        stored = hash_ == Hash::Sha1 ? &credentials->sha1 : &credentials->sha256;
    }
    if (stored != nullptr && stored->has_value()) {
        if (!validKeys(**stored, hash_)) {
            return fail(Failure::TemporaryAuthFailure, "stored SCRAM keys are unusable");
        }
        keys_ = **stored;
        knownUser_ = true;
    } else {
        // No such user, or no keys for this hash: go on with invented keys and fail at the end,
        // exactly as for a wrong password.
        keys_ = unknownUserKeys(hash_, pendingUsername_, unknownUser_);
        knownUser_ = false;
    }

    const std::string serverNonce =
        testServerNonce_.empty() ? encodeBase64(randomBytes(kServerNonceBytes)) : testServerNonce_;
    nonce_ = clientNonce_ + serverNonce;

    char iterations[16];
    const auto conv = std::to_chars(iterations, iterations + sizeof iterations, keys_.iterations);
    // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
    //                        ["," extensions]
    serverFirst_ = "r=" + nonce_ + ",s=" + encodeBase64(keys_.salt) +
                   ",i=" + std::string(iterations, conv.ptr);
    if (!ssdpHash_.empty()) {
        serverFirst_ += ",h=" + ssdpHash_;  // XEP-0474 §6.1
    }
    state_ = State::AwaitClientFinal;
    return Step::challenge(serverFirst_);
}

Step ScramMechanism::onClientFinal(std::string_view message) {
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const auto attrs = splitCommas(message);
    if (attrs.size() < 3 || !attrs[0].starts_with("c=") || !attrs[1].starts_with("r=") ||
        !attrs.back().starts_with("p=")) {
        return fail(Failure::MalformedRequest, "client-final-message needs c=, r=, ..., p=");
    }
    for (std::size_t i = 2; i + 1 < attrs.size(); ++i) {
        if (!isAttrVal(attrs[i]) || attrs[i].starts_with("p=")) {
            return fail(Failure::MalformedRequest, "bad extension");
        }
    }
    const std::string_view binding = attrs[0].substr(2);
    if (!decodeBase64(binding)) {
        return fail(Failure::MalformedRequest, "invalid-encoding");
    }
    const std::string_view nonce = attrs[1].substr(2);
    const auto proof = decodeBase64(attrs.back().substr(2));
    if (!proof || proof->size() != digestSize(hash_)) {
        return fail(Failure::MalformedRequest, "bad proof encoding");
    }

    // §5.1: c= carries the gs2-header again (and the channel-binding data for -PLUS); it must
    // match what the client sent first and what this end of the TLS channel sees.
    if (!constantTimeEqual(binding, expectedBinding_)) {
        return fail(Failure::NotAuthorized, "channel-bindings-dont-match");
    }
    // §5.1: the nonce MUST be the one sent in server-first (which starts with the client's).
    if (!constantTimeEqual(nonce, nonce_)) {
        return fail(Failure::NotAuthorized, "nonce mismatch");
    }

    // AuthMessage = client-first-message-bare "," server-first-message ","
    //               client-final-message-without-proof   (§3)
    const std::string_view withoutProof =
        message.substr(0, message.size() - attrs.back().size() - 1);
    std::string authMessage = clientFirstBare_;
    authMessage += ',';
    authMessage += serverFirst_;
    authMessage += ',';
    authMessage += withoutProof;

    const std::string clientSignature = hmac(hash_, keys_.storedKey, authMessage);
    std::string clientKey = xorBytes(*proof, clientSignature);
    const bool proofOk = constantTimeEqual(digest(hash_, clientKey), keys_.storedKey);
    OPENSSL_cleanse(clientKey.data(), clientKey.size());
    if (!proofOk || !knownUser_) {
        return fail(Failure::NotAuthorized, "invalid-proof");
    }

    const std::string serverSignature = hmac(hash_, keys_.serverKey, authMessage);
    OPENSSL_cleanse(keys_.storedKey.data(), keys_.storedKey.size());
    OPENSSL_cleanse(keys_.serverKey.data(), keys_.serverKey.size());
    state_ = State::Done;
    return succeed("v=" + encodeBase64(serverSignature), std::move(pendingUsername_),
                   std::move(pendingAuthzid_));
}

}  // namespace corvid::sasl
