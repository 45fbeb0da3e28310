#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/scram_keys.h"

namespace corvid::sasl {

/// SASL failure conditions (RFC 6120 §6.5). toString() gives the element name.
enum class Failure {
    Aborted,
    AccountDisabled,
    CredentialsExpired,
    EncryptionRequired,
    IncorrectEncoding,
    InvalidAuthzid,
    InvalidMechanism,
    MalformedRequest,
    MechanismTooWeak,
    NotAuthorized,
    TemporaryAuthFailure,
};

/// "aborted", "account-disabled", ... "temporary-auth-failure".
std::string_view toString(Failure failure);

/// Channel-binding data of the TLS connection; an empty string means the type is unavailable.
/// Filled by the network layer.
struct ChannelBindings {
    /// RFC 9266: SSL_export_keying_material(label "EXPORTER-Channel-Binding", no context, 32
    /// bytes). Leave empty unless the connection is TLS 1.3 (or TLS 1.2 with extended master
    /// secret, RFC 9266 §3).
    std::string tlsExporter;
    /// RFC 5929 §4: hash of the server's certificate.
    std::string tlsServerEndPoint;
    /// RFC 5929 §3: the first Finished message of the handshake. Only for TLS 1.2 and below, and
    /// only with extended master secret (RFC 7627), as RFC 9266 §4 and §3 require; leave it empty
    /// otherwise.
    std::string tlsUnique;

    bool any() const {
        return !tlsExporter.empty() || !tlsServerEndPoint.empty() || !tlsUnique.empty();
    }
};

/// What a mechanism asks of its caller after each input.
struct Step {
    enum class Kind {
        /// Send <challenge/> with `data`, then feed the client's <response/> to respond().
        Challenge,
        /// Look up the credentials of `username` (the authcid as sent, unescaped, not yet
        /// normalised) and pass them to provideCredentials(); nullopt if there is no such user.
        NeedCredentials,
        /// The client proved its identity as `username`; send <success/> with `data` as
        /// additional data (RFC 6120 §6.3.10; empty means none). The caller still decides whether
        /// `username` may act as `authzid` (RFC 6120 §6.3.8) and may yet fail with
        /// InvalidAuthzid. For EXTERNAL, nothing has been checked: see ExternalMechanism.
        Success,
        /// Send <failure/> with `failure`. `data` is a short reason for logs (the RFC 5802 §7
        /// server-error-value where one exists), not meant for the client.
        Failure,
    };

    Kind kind = Kind::Failure;
    std::string data;
    Failure failure = Failure::NotAuthorized;  ///< meaningful for Kind::Failure only
    std::string username;                      ///< NeedCredentials and Success
    std::string authzid;                       ///< NeedCredentials and Success; empty if none

    static Step challenge(std::string data);
    static Step needCredentials(std::string username, std::string authzid);
    static Step success(std::string data, std::string username, std::string authzid);
    static Step fail(Failure failure, std::string reason);
};

/// One server-side authentication exchange: a pure state machine over the bytes the client sent
/// (base64 already removed). Call start() once, then respond() after every Challenge and
/// provideCredentials() after NeedCredentials, until Success or Failure. A call out of turn
/// returns Failure MalformedRequest; after Success or Failure every call returns Failure.
class Mechanism {
  public:
    virtual ~Mechanism() = default;
    Mechanism(const Mechanism&) = delete;
    Mechanism& operator=(const Mechanism&) = delete;

    /// The registered mechanism name ("SCRAM-SHA-256-PLUS", "PLAIN", ...).
    virtual std::string_view name() const = 0;

    /// Begins with the <auth/> element's initial response: nullopt if it had none, "" for "=".
    virtual Step start(std::optional<std::string_view> initialResponse) = 0;

    /// The decoded content of a <response/>.
    virtual Step respond(std::string_view response) = 0;

    /// The answer to NeedCredentials; nullopt when the user does not exist. The exchange goes on
    /// the same way in both cases, so that the client cannot tell them apart.
    virtual Step provideCredentials(std::optional<Credentials> credentials);

    /// The authenticated identity (authcid, unescaped, as sent) after Success; "" before.
    const std::string& username() const { return username_; }
    /// The requested authorization identity after Success; "" if none was given.
    const std::string& authzid() const { return authzid_; }

  protected:
    Mechanism() = default;
    /// Records the identity and returns the Success step.
    Step succeed(std::string data, std::string username, std::string authzid);

  private:
    std::string username_;
    std::string authzid_;
};

using MechanismPtr = std::unique_ptr<Mechanism>;

/// What the caller knows of the connection and of its configuration.
struct MechanismOptions {
    /// Channel-binding data of this connection (empty when not TLS).
    ChannelBindings bindings;
    /// The mechanism names advertised in <mechanisms/> on this stream, as sent. Needed to refuse
    /// the "y" flag while a -PLUS variant is offered (RFC 5802 §6) and for XEP-0474. When not
    /// empty, makeMechanism() also refuses names that are not in it.
    std::vector<std::string> offered;
    /// The channel-binding types advertised with <sasl-channel-binding/> (XEP-0440), as sent;
    /// empty if that feature was not sent. Only used for XEP-0474.
    std::vector<std::string> offeredChannelBindings;
    /// Send the XEP-0474 "h" attribute in the SCRAM server-first-message (when `offered` is
    /// known). Clients that do not know the attribute ignore it (RFC 5802 §5.1).
    bool downgradeProtection = true;
    /// Key for the invented salts of unknown users: HMAC(fakeSaltSecret, username). It must be
    /// secret and stay the same across restarts and cluster nodes, or a repeated query shows
    /// which users are invented. If empty, a random per-process key is used.
    std::string fakeSaltSecret;
    /// PRECIS UsernameCaseMapped (RFC 8265 §3.3), or whatever the account store is keyed by.
    /// Unknown users' invented salts are keyed by its result, so that "Alice" and "alice" get the
    /// same salt, as they would if the account existed. Unset, or nullopt: the name as sent.
    std::function<std::optional<std::string>(std::string_view)> prepUsername;
    /// The iteration count invented for unknown users: the one new accounts get.
    int fakeIterations = kMinIterations;
    /// PRECIS OpaqueString preparation (RFC 8265 §4.2), for PLAIN; nullopt if the password is not
    /// a valid OpaqueString. PLAIN fails with TemporaryAuthFailure without it.
    std::function<std::optional<std::string>(std::string_view)> prepPassword;
    /// Tests only: the server nonce part to use instead of a random one (RFC test vectors).
    std::string testServerNonce;
};

/// fakeScramKeys() for a user who does not exist, keyed by options.prepUsername(username).
ScramKeys unknownUserKeys(Hash hash, std::string_view username, const MechanismOptions& options);

/// The names makeMechanism() knows, strongest first.
const std::vector<std::string>& supportedMechanisms();

/// A fresh exchange for the mechanism the client chose, or nullptr (<invalid-mechanism/>, RFC
/// 6120 §6.5.5) if the name is unknown, was not offered (when options.offered is set), or is a
/// -PLUS variant while no channel binding is available.
MechanismPtr makeMechanism(std::string_view name, const MechanismOptions& options);

/// Which of the configured mechanisms to advertise, in configured order without duplicates:
/// unknown names are dropped, PLAIN and EXTERNAL only over TLS (RFC 6120 §13.8.3), -PLUS
/// variants only with TLS and some channel-binding data.
std::vector<std::string> mechanismsToOffer(const std::vector<std::string>& configured,
                                           bool tlsActive, const ChannelBindings& bindings);

/// The channel-binding types to advertise with <sasl-channel-binding/> (XEP-0440), preferred
/// first: "tls-exporter", "tls-server-end-point", "tls-unique", each only if its data is
/// available.
std::vector<std::string> channelBindingTypes(const ChannelBindings& bindings);

}  // namespace corvid::sasl
