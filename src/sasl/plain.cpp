#include "sasl/plain.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "sasl/utf8.h"

namespace corvid::sasl {

PlainMechanism::PlainMechanism(const MechanismOptions& options)
    : prepPassword_(options.prepPassword) {
    unknownUser_.fakeSaltSecret = options.fakeSaltSecret;
    unknownUser_.fakeIterations = options.fakeIterations;
    unknownUser_.prepUsername = options.prepUsername;
}

PlainMechanism::~PlainMechanism() {
    forgetPassword();
}

void PlainMechanism::forgetPassword() {
    OPENSSL_cleanse(password_.data(), password_.size());
    password_.clear();
}

Step PlainMechanism::fail(Failure failure, std::string reason) {
    state_ = State::Done;
    forgetPassword();
    return Step::fail(failure, std::move(reason));
}

Step PlainMechanism::start(std::optional<std::string_view> initialResponse) {
    if (state_ != State::Initial) {
        return fail(Failure::MalformedRequest, "start() called twice");
    }
    if (!initialResponse) {
        // RFC 4616 §2: the client sends its message after an empty challenge.
        state_ = State::AwaitMessage;
        return Step::challenge({});
    }
    return onMessage(*initialResponse);
}

Step PlainMechanism::respond(std::string_view response) {
    if (state_ != State::AwaitMessage) {
        return fail(Failure::MalformedRequest, "response out of turn");
    }
    return onMessage(response);
}

Step PlainMechanism::onMessage(std::string_view message) {
    // message = [authzid] UTF8NUL authcid UTF8NUL passwd; authcid and passwd are 1*SAFE, SAFE
    // being any UTF-8 character but NUL (RFC 4616 §2).
    const std::size_t nul1 = message.find('\0');
    const std::size_t nul2 = nul1 == std::string_view::npos ? nul1 : message.find('\0', nul1 + 1);
    if (nul2 == std::string_view::npos || message.find('\0', nul2 + 1) != std::string_view::npos) {
        return fail(Failure::MalformedRequest, "PLAIN message needs exactly two NULs");
    }
    const std::string_view authzid = message.substr(0, nul1);
    const std::string_view authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
    const std::string_view password = message.substr(nul2 + 1);
    if (authcid.empty() || password.empty()) {
        return fail(Failure::MalformedRequest, "empty authcid or password");
    }
    if (!isValidUtf8(authzid) || !isValidUtf8(authcid) || !isValidUtf8(password)) {
        return fail(Failure::MalformedRequest, "PLAIN message is not UTF-8");
    }
    if (!prepPassword_) {
        return fail(Failure::TemporaryAuthFailure, "no password preparation configured");
    }
    // Stored keys were made from the OpaqueString form (RFC 8265 §4.2); a password that has none
    // cannot be anybody's.
    auto prepped = prepPassword_(password);
    if (!prepped || prepped->empty()) {
        return fail(Failure::NotAuthorized, "password is not a valid OpaqueString");
    }
    password_ = std::move(*prepped);
    authcid_ = std::string(authcid);
    authzid_ = std::string(authzid);
    state_ = State::AwaitCredentials;
    return Step::needCredentials(authcid_, authzid_);
}

Step PlainMechanism::provideCredentials(std::optional<Credentials> credentials) {
    if (state_ != State::AwaitCredentials) {
        return fail(Failure::MalformedRequest, "credentials out of turn");
    }
    const ScramKeys* stored = nullptr;
    if (credentials && credentials->sha256) {
        stored = &*credentials->sha256;
    } else if (credentials && credentials->sha1) {
        stored = &*credentials->sha1;
    }
    if (stored != nullptr &&
        (stored->iterations < 1 || stored->storedKey.size() != digestSize(stored->hash))) {
        return fail(Failure::TemporaryAuthFailure, "stored SCRAM keys are unusable");
    }
    // An unknown user costs the same PBKDF2 run as a known one and fails the same way.
    const ScramKeys fake =
        stored != nullptr ? ScramKeys{} : unknownUserKeys(Hash::Sha256, authcid_, unknownUser_);
    const ScramKeys& against = stored != nullptr ? *stored : fake;
    const ScramKeys derived =
        deriveScramKeys(against.hash, password_, against.salt, against.iterations);
    forgetPassword();
    const bool match = constantTimeEqual(derived.storedKey, against.storedKey);
    if (!match || stored == nullptr) {
        return fail(Failure::NotAuthorized, "invalid password");
    }
    state_ = State::Done;
    return succeed({}, std::move(authcid_), std::move(authzid_));
}

}  // namespace corvid::sasl
