#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "sasl/mechanism.h"

namespace corvid::sasl {

/// PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, checked against the stored SCRAM keys
/// by deriving keys from the prepared password with the stored salt and iteration count
/// (SCRAM-SHA-256's if present, else SHA-1's) and comparing StoredKey in constant time.
///
///     message     -> NeedCredentials(authcid, authzid), or MalformedRequest
///     credentials -> Success (no additional data) or NotAuthorized
///
/// provideCredentials() runs PBKDF2 (Hi) with the stored iteration count: it is the expensive
/// step, and the one to move off the event loop. Unknown users cost the same (invented salt and
/// fakeIterations). Only to be offered over TLS (mechanismsToOffer() sees to it).
class PlainMechanism final : public Mechanism {
  public:
    explicit PlainMechanism(const MechanismOptions& options);
    ~PlainMechanism() override;

    std::string_view name() const override { return "PLAIN"; }
    Step start(std::optional<std::string_view> initialResponse) override;
    Step respond(std::string_view response) override;
    Step provideCredentials(std::optional<Credentials> credentials) override;

  private:
    enum class State { Initial, AwaitMessage, AwaitCredentials, Done };

    Step onMessage(std::string_view message);
    Step fail(Failure failure, std::string reason);
    void forgetPassword();

    std::function<std::optional<std::string>(std::string_view)> prepPassword_;
    MechanismOptions unknownUser_;  ///< the parts unknownUserKeys() needs

    State state_ = State::Initial;
    std::string authcid_;
    std::string authzid_;
    std::string password_;  ///< prepared; wiped as soon as it has been checked
};

}  // namespace corvid::sasl
