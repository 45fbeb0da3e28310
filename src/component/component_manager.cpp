#include "component/component_manager.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "component/component_session.h"
#include "stanza/errors.h"
#include "util/log.h"

namespace corvid::component {

ComponentManager::ComponentManager(event_base* base, router::Router& router,
                                   ComponentSettings settings,
                                   const std::vector<ComponentDefinition>& components)
    : base_(base), router_(router), settings_(std::move(settings)) {
    reaper_.reset(event_new(
        base_, -1, 0,
        [](evutil_socket_t, short, void* arg) {
            auto* self = static_cast<ComponentManager*>(arg);
            self->dead_.clear();
            if (self->stopping_ && self->empty() && self->whenEmpty_) {
                std::exchange(self->whenEmpty_, nullptr)();
            }
        },
        this));
    for (const ComponentDefinition& c : components) {
        Domain& d = domains_[c.domain];
        d.secret = c.secret;
        // The domain is served from the start: while its component is away, stanzas to it are
        // answered here rather than sent to another server.
        d.service = router_.addDomainService(
            c.domain, [this, domain = c.domain](xml::Element&& stanza, const stanza::Jid&,
                                                const stanza::Jid&, router::LocalSession*) {
                deliver(domain, std::move(stanza));
            });
    }
}

ComponentManager::~ComponentManager() {
    for (auto& [name, domain] : domains_) {
        domain.service.reset();
    }
    sessions_.clear();
    dead_.clear();
}

const std::string* ComponentManager::secretFor(std::string_view domain) const {
    auto it = domains_.find(domain);
    return it == domains_.end() ? nullptr : &it->second.secret;
}

bool ComponentManager::connected(std::string_view domain) const {
    auto it = domains_.find(domain);
    return it != domains_.end() && it->second.session != 0;
}

ComponentSession* ComponentManager::find(std::uint64_t id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.get();
}

void ComponentManager::deliver(const std::string& domain, xml::Element&& stanza) {
    const Domain& d = domains_.at(domain);
    if (ComponentSession* session = find(d.session); session != nullptr && session->open()) {
        session->send(stanza);
        return;
    }
    // Answers (results and errors) to a component that is gone are dropped; everything else is
    // told that the service is away (RFC 6120 §8.3.1: errors are never answered).
    const std::string_view type = stanza.attr("type");
    if (type == "result" || type == "error") {
        return;
    }
    router_.bounce(stanza, stanza::StanzaCondition::ServiceUnavailable,
                   "the service " + domain + " is not connected to this server");
}

void ComponentManager::authenticated(ComponentSession& session) {
    Domain& d = domains_.at(session.domain());
    if (d.session != 0 && d.session != session.id()) {
        if (ComponentSession* old = find(d.session)) {
            log::info("component {}: a new connection from {} replaces the one from {}",
                      session.domain(), session.peerAddress(), old->peerAddress());
            old->closeWithError(stanza::StreamCondition::Conflict,
                                "replaced by a new connection for this component");
        }
    }
    d.session = session.id();
    log::info("component {} connected from {}", session.domain(), session.peerAddress());
}

void ComponentManager::sessionClosed(std::uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
        return;
    }
    const std::string& domain = it->second->domain();
    if (auto d = domains_.find(domain); d != domains_.end() && d->second.session == id) {
        d->second.session = 0;
        log::info(
            "component {} disconnected; stanzas to it are answered with "
            "service-unavailable until it is back",
            domain);
    }
    if (auto ip = sessionIp_.find(id); ip != sessionIp_.end()) {
        auto count = connectionsPerIp_.find(ip->second);
        if (count != connectionsPerIp_.end() && --count->second == 0) {
            connectionsPerIp_.erase(count);
        }
        sessionIp_.erase(ip);
    }
    dead_.push_back(std::move(it->second));
    sessions_.erase(it);
    scheduleReap();
}

void ComponentManager::scheduleReap() {
    event_active(reaper_.get(), 0, 0);
}

void ComponentManager::accept(evutil_socket_t fd, std::string ip) {
    std::size_t& count = connectionsPerIp_[ip];
    if (stopping_ || count >= settings_.maxConnectionsPerIp) {
        log::warn("component: refusing connection from {}: {}", ip,
                  stopping_ ? "shutting down" : std::to_string(count) + " connections already");
        if (count == 0) {
            connectionsPerIp_.erase(ip);
        }
        evutil_closesocket(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++count;
    const std::uint64_t id = nextId_++;
    log::debug("component {}: connection from {}", id, ip);
    sessionIp_.emplace(id, ip);
    sessions_.emplace(id, std::make_unique<ComponentSession>(*this, id, fd, std::move(ip)));
}

void ComponentManager::shutdown(std::function<void()> whenEmpty) {
    stopping_ = true;
    whenEmpty_ = std::move(whenEmpty);
    for (auto& [id, session] : sessions_) {
        session->closeWithError(stanza::StreamCondition::SystemShutdown, "server shutdown");
    }
    scheduleReap();  // reports at once if there was nothing to close
}

}  // namespace corvid::component
