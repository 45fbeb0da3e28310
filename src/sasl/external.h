#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sasl/mechanism.h"

namespace corvid::sasl {

/// EXTERNAL (RFC 4422 Appendix A): the identity comes from outside SASL, here the TLS client
/// certificate. The client only sends an authorization identity, possibly empty.
///
///     message -> Success(authzid)
///
/// Success means only that the message was well-formed: the caller MUST check the certificate
/// and the authzid against it (for s2s, XEP-0178 / RFC 6120 §13.7.2) and fail with
/// NotAuthorized or InvalidAuthzid itself. username() stays empty.
class ExternalMechanism final : public Mechanism {
  public:
    ExternalMechanism() = default;

    std::string_view name() const override { return "EXTERNAL"; }
    Step start(std::optional<std::string_view> initialResponse) override;
    Step respond(std::string_view response) override;

  private:
    enum class State { Initial, AwaitMessage, Done };

    Step onMessage(std::string_view message);

    State state_ = State::Initial;
};

}  // namespace corvid::sasl
