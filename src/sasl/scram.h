#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/mechanism.h"

namespace corvid::sasl {

/// Length of the random part of the server nonce before base64 (RFC 5802 §5.1 wants it fresh and
/// unpredictable; 24 bytes give 32 printable characters).
inline constexpr std::size_t kServerNonceBytes = 24;

/// The XEP-0474 (SASL SCRAM Downgrade Protection, 0.5) hash: the advertised mechanisms sorted
/// by octet and joined with 0x1E, then, if channel-binding types were advertised (XEP-0440),
/// 0x1F and those types sorted and joined with 0x1E; hashed with the mechanism's hash; base64.
std::string downgradeProtectionHash(Hash hash, std::vector<std::string> mechanisms,
                                    std::vector<std::string> channelBindingTypes);

/// SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802, RFC 7677) and their -PLUS variants with the
/// "tls-exporter" (RFC 9266), "tls-server-end-point" and "tls-unique" (RFC 5929) channel
/// bindings (each only when ChannelBindings has its data).
///
///     client-first  -> NeedCredentials(username, authzid)
///     credentials   -> Challenge(server-first-message)
///     client-final  -> Success("v=" ServerSignature) or Failure
///
/// Messages that break the RFC 5802 §7 grammar fail with MalformedRequest, as do a -PLUS exchange
/// without "p=", "p=" on a plain variant (§6), a channel-binding type that is unknown or has no
/// data here, and a mandatory extension "m=" (§5.1). NotAuthorized is the answer for a wrong
/// proof, an unknown user (after the same exchange), a nonce that differs from the one sent, a
/// "c=" that is not exactly base64(gs2-header + channel-binding data), and the "y" flag while a
/// -PLUS variant is offered (§6: a sign of a downgrade attack).
class ScramMechanism final : public Mechanism {
  public:
    ScramMechanism(Hash hash, bool plus, const MechanismOptions& options);

    std::string_view name() const override { return name_; }
    Step start(std::optional<std::string_view> initialResponse) override;
    Step respond(std::string_view response) override;
    Step provideCredentials(std::optional<Credentials> credentials) override;

  private:
    enum class State { Initial, AwaitClientFirst, AwaitCredentials, AwaitClientFinal, Done };

    Step onClientFirst(std::string_view message);
    Step onClientFinal(std::string_view message);
    Step fail(Failure failure, std::string reason);

    Hash hash_;
    bool plus_;
    std::string name_;
    ChannelBindings bindings_;
    bool plusOffered_ = false;
    std::string ssdpHash_;          ///< the XEP-0474 "h" value, empty if not sent
    MechanismOptions unknownUser_;  ///< the parts unknownUserKeys() needs
    std::string testServerNonce_;

    State state_ = State::Initial;
    std::string pendingUsername_;  ///< from client-first, unescaped
    std::string pendingAuthzid_;   ///< from client-first, unescaped
    std::string clientFirstBare_;  ///< client-first-message-bare, for AuthMessage
    std::string clientNonce_;
    std::string expectedBinding_;  ///< the exact "c=" value we expect
    ScramKeys keys_;               ///< real or invented (knownUser_ == false)
    bool knownUser_ = false;
    std::string nonce_;  ///< client nonce + server nonce
    std::string serverFirst_;
};

}  // namespace corvid::sasl
