#pragma once

#include <event2/event.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/router.h"
#include "util/c_handles.h"
#include "xml/stream_parser.h"

namespace corvid::component {

class ComponentSession;

/// The limits of component streams (from [limits]).
struct ComponentSettings {
    /// Until the handshake succeeded.
    xml::StreamLimits preAuthLimits{16 * 1024, 16, 32};
    /// Afterwards: a component carries the traffic of many users, like a peer server.
    xml::StreamLimits limits{512 * 1024, 32, 64};
    std::size_t maxOutputBytes = 1024 * 1024;
    int streamHeaderTimeoutSeconds = 10;
    /// The handshake must have succeeded this long after connecting.
    int authTimeoutSeconds = 30;
    std::size_t maxConnectionsPerIp = 64;
};

/// A configured component ([[components]]).
struct ComponentDefinition {
    std::string domain;  ///< normalised domainpart
    std::string secret;
};

/// External components (XEP-0114): every configured domain is a domain service of the router
/// from the start, whether its component is connected or not. While it is, stanzas to the
/// domain (or to a JID at it) go to its stream; while it is not, they are answered with
/// <service-unavailable/>. One connection serves a domain at a time: a newer connection that
/// completes the handshake replaces the older one, which is closed with <conflict/> (a component
/// restarting after its connection died silently is not locked out until that one times out).
///
/// Sessions never destroy themselves: they report to the manager, which moves them to a
/// graveyard emptied from the loop.
class ComponentManager {
  public:
    ComponentManager(event_base* base, router::Router& router, ComponentSettings settings,
                     const std::vector<ComponentDefinition>& components);
    ~ComponentManager();
    ComponentManager(const ComponentManager&) = delete;
    ComponentManager& operator=(const ComponentManager&) = delete;

    /// A connection accepted on a component listener. Refused (closed) past
    /// limits.max_connections_per_ip and while shutting down.
    void accept(evutil_socket_t fd, std::string ip);
    /// Closes every stream with <system-shutdown/>; `whenEmpty` runs once all are gone.
    void shutdown(std::function<void()> whenEmpty);
    bool empty() const { return sessions_.empty(); }
    /// Whether a component serves `domain` now.
    bool connected(std::string_view domain) const;

    // --- for the sessions ---
    event_base* base() const { return base_; }
    router::Router& router() { return router_; }
    const ComponentSettings& settings() const { return settings_; }
    /// The secret of a configured component domain, or nullptr.
    const std::string* secretFor(std::string_view domain) const;
    /// The session completed the handshake for its domain: it serves the domain from now on.
    void authenticated(ComponentSession& session);
    void sessionClosed(std::uint64_t id);

  private:
    struct Domain {
        std::string secret;
        std::uint64_t session = 0;  ///< the connected session, 0 if none
        router::HookHandle service;
    };

    void deliver(const std::string& domain, xml::Element&& stanza);
    ComponentSession* find(std::uint64_t id);
    void scheduleReap();

    event_base* base_;
    router::Router& router_;
    ComponentSettings settings_;
    std::map<std::string, Domain, std::less<>> domains_;
    std::unordered_map<std::uint64_t, std::unique_ptr<ComponentSession>> sessions_;
    std::unordered_map<std::uint64_t, std::string> sessionIp_;
    std::unordered_map<std::string, std::size_t> connectionsPerIp_;
    std::vector<std::unique_ptr<ComponentSession>> dead_;
    util::EventPtr reaper_;
    std::uint64_t nextId_ = 1;
    bool stopping_ = false;
    std::function<void()> whenEmpty_;
};

}  // namespace corvid::component
