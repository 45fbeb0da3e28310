#include "sasl/mechanism.h"

#include <algorithm>
#include <utility>

#include "sasl/external.h"
#include "sasl/plain.h"
#include "sasl/scram.h"

namespace corvid::sasl {

std::string_view toString(Failure failure) {
    switch (failure) {
        case Failure::Aborted:
            return "aborted";
        case Failure::AccountDisabled:
            return "account-disabled";
        case Failure::CredentialsExpired:
            return "credentials-expired";
        case Failure::EncryptionRequired:
            return "encryption-required";
        case Failure::IncorrectEncoding:
            return "incorrect-encoding";
        case Failure::InvalidAuthzid:
            return "invalid-authzid";
        case Failure::InvalidMechanism:
            return "invalid-mechanism";
        case Failure::MalformedRequest:
            return "malformed-request";
        case Failure::MechanismTooWeak:
            return "mechanism-too-weak";
        case Failure::NotAuthorized:
            return "not-authorized";
        case Failure::TemporaryAuthFailure:
            return "temporary-auth-failure";
    }
    return "not-authorized";
}

Step Step::challenge(std::string data) {
    Step s;
    s.kind = Kind::Challenge;
    s.data = std::move(data);
    return s;
}

Step Step::needCredentials(std::string username, std::string authzid) {
    Step s;
    s.kind = Kind::NeedCredentials;
    s.username = std::move(username);
    s.authzid = std::move(authzid);
    return s;
}

Step Step::success(std::string data, std::string username, std::string authzid) {
    Step s;
    s.kind = Kind::Success;
    s.data = std::move(data);
    s.username = std::move(username);
    s.authzid = std::move(authzid);
    return s;
}

Step Step::fail(Failure failure, std::string reason) {
    Step s;
    s.kind = Kind::Failure;
    s.failure = failure;
    s.data = std::move(reason);
    return s;
}

Step Mechanism::provideCredentials(std::optional<Credentials> /*credentials*/) {
    return Step::fail(Failure::MalformedRequest, "this mechanism takes no credentials");
}

Step Mechanism::succeed(std::string data, std::string username, std::string authzid) {
    username_ = std::move(username);
    authzid_ = std::move(authzid);
    return Step::success(std::move(data), username_, authzid_);
}

ScramKeys unknownUserKeys(Hash hash, std::string_view username, const MechanismOptions& options) {
    std::optional<std::string> prepped;
    if (options.prepUsername) {
        prepped = options.prepUsername(username);
    }
    return fakeScramKeys(hash, options.fakeSaltSecret, prepped ? *prepped : username,
                         std::max(options.fakeIterations, 1));
}

const std::vector<std::string>& supportedMechanisms() {
    static const std::vector<std::string> kNames = {
        "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-1",        "PLAIN",         "EXTERNAL",
    };
    return kNames;
}

MechanismPtr makeMechanism(std::string_view name, const MechanismOptions& options) {
    if (!options.offered.empty() &&
        std::find(options.offered.begin(), options.offered.end(), name) == options.offered.end()) {
        return nullptr;
    }
    const bool plus = name.ends_with("-PLUS");
    if (plus && !options.bindings.any()) {
        return nullptr;
    }
    if (name == "SCRAM-SHA-256" || name == "SCRAM-SHA-256-PLUS") {
        return std::make_unique<ScramMechanism>(Hash::Sha256, plus, options);
    }
    if (name == "SCRAM-SHA-1" || name == "SCRAM-SHA-1-PLUS") {
        return std::make_unique<ScramMechanism>(Hash::Sha1, plus, options);
    }
    if (name == "PLAIN") {
        return std::make_unique<PlainMechanism>(options);
    }
    if (name == "EXTERNAL") {
        return std::make_unique<ExternalMechanism>();
    }
    return nullptr;
}

std::vector<std::string> mechanismsToOffer(const std::vector<std::string>& configured,
                                           bool tlsActive, const ChannelBindings& bindings) {
    const auto& known = supportedMechanisms();
    std::vector<std::string> out;
    for (const auto& name : configured) {
        if (std::find(known.begin(), known.end(), name) == known.end() ||
            std::find(out.begin(), out.end(), name) != out.end()) {
            continue;
        }
        if (name.ends_with("-PLUS") && !(tlsActive && bindings.any())) {
            continue;
        }
        // RFC 6120 §13.8.3: no cleartext passwords on an unencrypted stream. EXTERNAL has
        // nothing to rest on without TLS.
        if ((name == "PLAIN" || name == "EXTERNAL") && !tlsActive) {
            continue;
        }
        out.push_back(name);
    }
    return out;
}

std::vector<std::string> channelBindingTypes(const ChannelBindings& bindings) {
    std::vector<std::string> out;
    if (!bindings.tlsExporter.empty()) {
        out.emplace_back("tls-exporter");
    }
    if (!bindings.tlsServerEndPoint.empty()) {
        out.emplace_back("tls-server-end-point");
    }
    if (!bindings.tlsUnique.empty()) {
        out.emplace_back("tls-unique");
    }
    return out;
}

}  // namespace corvid::sasl
