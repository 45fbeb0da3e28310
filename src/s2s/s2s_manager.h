#pragma once

#include <event2/event.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/dns_resolver.h"
#include "router/router.h"
#include "s2s/certificate_verifier.h"
#include "s2s/s2s_settings.h"
#include "stream/xmpp_stream.h"
#include "util/c_handles.h"

namespace corvid::net {
class TlsContexts;
}

namespace corvid::s2s {

class IncomingSession;
class OutgoingSession;

/// (local domain, remote domain): one outgoing route each.
using RouteKey = std::pair<std::string, std::string>;

/// Federation (RFC 6120 server-to-server): owns every incoming s2s stream and one outgoing route
/// per (local, remote) domain pair. Stanzas for a remote domain (Event::ToRemote) are queued on
/// the route while it is set up (DNS, TCP, TLS, authentication), bounded by limits.s2s_queue_max,
/// and bounced with remote-server-not-found or remote-server-timeout if it fails. Routes are
/// reused and closed when idle. Stanzas from authenticated peers enter router.route(stanza,
/// nullptr).
///
/// Sessions never destroy themselves: they report to the manager, which moves them to a
/// graveyard emptied from the loop. Asynchronous callbacks capture ids and look sessions up.
class S2sManager {
  public:
    /// Makes the resolver and the certificate verifier (loads the CA bundles: startup only).
    static std::expected<std::unique_ptr<S2sManager>, std::string> create(
        event_base* base, router::Router& router, const net::TlsContexts& tls, S2sSettings settings,
        std::string caFile, std::string dialbackSecret);
    ~S2sManager();
    S2sManager(const S2sManager&) = delete;
    S2sManager& operator=(const S2sManager&) = delete;

    /// The Event::ToRemote handler: sends or queues the stanza, or bounces it.
    router::HookResult routeOut(router::StanzaContext& context);
    /// A connection accepted on an s2s listener.
    void accept(evutil_socket_t fd, std::string ip, bool directTls);
    /// Replaces the dialback secret (the one kept in the database, once it is known).
    void setDialbackSecret(std::string secret) { dialbackSecret_ = std::move(secret); }
    /// Closes every stream (system-shutdown); `whenEmpty` runs once all are gone.
    void shutdown(std::function<void()> whenEmpty);
    std::size_t incomingCount() const { return incoming_.size(); }
    std::size_t routeCount() const { return routes_.size(); }
    bool empty() const { return incoming_.empty() && routes_.empty() && closingRoutes_.empty(); }

    // --- for the sessions ---
    event_base* base() const { return base_; }
    router::Router& router() { return router_; }
    const S2sSettings& settings() const { return settings_; }
    const CertificateVerifier& verifier() const { return *verifier_; }
    net::DnsResolver& resolver() { return *resolver_; }
    const std::string& dialbackSecret() const { return dialbackSecret_; }
    /// A domain we answer for over s2s: a host or a domain service (MUC, upload, component).
    bool isLocalDomain(std::string_view domain) const { return router_.servesDomain(domain); }
    /// A server-side SSL for an accepted s2s connection: it asks the peer for its certificate
    /// (checked by the verifier, not by OpenSSL).
    SSL* newIncomingSsl() const;
    /// A client-side SSL towards `remote`: SNI and (direct TLS) ALPN "xmpp-server"
    /// (XEP-0368), and the certificate of `local`, for SASL EXTERNAL.
    SSL* newOutgoingSsl(std::string_view local, std::string_view remote, bool directTls) const;
    /// Whether we have a certificate to present for `local`.
    bool haveCertificate(std::string_view local) const;

    /// Keeps a stream alive until the loop comes back (never destroyed inside its callbacks).
    void retire(std::unique_ptr<stream::XmppStream> stream);
    void incomingClosed(std::uint64_t id);
    void outgoingClosed(const RouteKey& key, std::uint64_t id);
    IncomingSession* findIncoming(std::uint64_t id);
    OutgoingSession* findOutgoing(const RouteKey& key, std::uint64_t id);

    /// Dialback without a valid certificate (XEP-0220 §2.3): ask the authoritative server of
    /// `remote` whether `key` is valid for the incoming stream `streamId`; the answer goes to
    /// IncomingSession::dialbackAnswered().
    void verifyKey(std::uint64_t incoming, const std::string& local, const std::string& remote,
                   const std::string& streamId, const std::string& key);

  private:
    S2sManager(event_base* base, router::Router& router, const net::TlsContexts& tls,
               S2sSettings settings, std::string dialbackSecret);
    /// The route for the pair, made (and started) if needed; nullptr if it failed at once.
    OutgoingSession* routeFor(const std::string& local, const std::string& remote);
    void scheduleReap();
    void checkEmpty();

    event_base* base_;
    router::Router& router_;
    const net::TlsContexts& tls_;
    S2sSettings settings_;
    std::string dialbackSecret_;
    std::unique_ptr<net::DnsResolver> resolver_;
    std::unique_ptr<CertificateVerifier> verifier_;
    std::unordered_map<std::uint64_t, std::unique_ptr<IncomingSession>> incoming_;
    std::map<RouteKey, std::unique_ptr<OutgoingSession>> routes_;
    /// Routes closing their stream while a newer route for the same pair took over, by id.
    std::map<std::uint64_t, std::unique_ptr<OutgoingSession>> closingRoutes_;
    std::unordered_map<std::string, std::size_t> connectionsPerIp_;
    std::unordered_map<std::uint64_t, std::string> incomingIp_;
    std::vector<std::unique_ptr<IncomingSession>> deadIncoming_;
    std::vector<std::unique_ptr<OutgoingSession>> deadOutgoing_;
    std::vector<std::unique_ptr<stream::XmppStream>> deadStreams_;
    util::EventPtr reaper_;
    std::uint64_t nextId_ = 1;
    bool stopping_ = false;
    std::function<void()> whenEmpty_;
};

}  // namespace corvid::s2s
