#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "router/hooks.h"
#include "router/session_registry.h"
#include "stanza/errors.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::router {

/// Delivers stanzas by the rules of RFC 6120 §10 and RFC 6121 §8 (the page "Routing" in
/// docs/architecture.md is the short version). Features hook in through Hooks; sessions are seen
/// only through LocalSession.
class Router {
  public:
    Router() = default;
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    /// Hosts: domains whose accounts live here (c2s logins, rosters, offline storage).
    void addLocalDomain(std::string domain) { localDomains_.insert(std::move(domain)); }
    bool isLocalDomain(std::string_view domain) const {
        return localDomains_.find(domain) != localDomains_.end();
    }
    const std::set<std::string, std::less<>>& localDomains() const { return localDomains_; }

    /// A domain service (MUC, HTTP upload, a component, a pubsub service) takes every stanza
    /// addressed to its domain or to an entity there (room@conference.example.org/nick), after
    /// the OutboundFromLocal filters. `from` has been stamped or verified by the stream it came
    /// in on. The service answers through route() like any other sender.
    using DomainHandler = std::function<void(xml::Element&& stanza, const stanza::Jid& from,
                                             const stanza::Jid& to, LocalSession* origin)>;
    /// Registers `handler` for `domain` (not a host, not taken yet) until the handle goes.
    [[nodiscard]] HookHandle addDomainService(std::string domain, DomainHandler handler);
    bool isServiceDomain(std::string_view domain) const {
        return services_.find(domain) != services_.end();
    }
    /// The service domains, sorted (for disco#items of the hosts).
    std::vector<std::string> serviceDomains() const;
    /// A host or a service domain: what this server answers for, also over s2s.
    bool servesDomain(std::string_view domain) const {
        return isLocalDomain(domain) || isServiceDomain(domain);
    }

    SessionRegistry& sessions() { return sessions_; }
    Hooks& hooks() { return hooks_; }

    /// Routes a stanza whose 'from' has been stamped or verified by the stream it came in on.
    /// `origin` is the local session that sent it, or nullptr.
    void route(xml::Element&& stanza, LocalSession* origin = nullptr);

    /// Answers `original` with a stanza error, unless it is an error itself (RFC 6120 §8.3.1:
    /// errors are never answered with errors).
    void bounce(const xml::Element& original, stanza::StanzaCondition condition,
                std::string_view text = {});

    /// Routes a message/presence that was addressed to a bare JID as if it had just arrived
    /// (used by the default rules and by modules, e.g. after a hook declined it).
    void deliverToBare(xml::Element& stanza, const stanza::Jid& from, const stanza::Jid& to,
                       LocalSession* origin);

    /// Sends an iq get/set from the server (or on behalf of an account) and calls `done` with the
    /// result or error, or with nullptr when no answer came within `timeout` (see expireIqs).
    /// The answer must come from the JID the request was sent to.
    using IqCallback = std::function<void(const xml::Element* response)>;
    void sendIq(xml::Element&& iq, IqCallback done,
                std::chrono::seconds timeout = std::chrono::seconds(30));
    /// Fails the requests whose time is up; the server calls this every few seconds.
    void expireIqs(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
    std::size_t pendingIqs() const { return pendingIqs_.size(); }

    /// Counters for tests and the admin tool.
    struct Stats {
        std::uint64_t routed = 0;
        std::uint64_t delivered = 0;
        std::uint64_t bounced = 0;
    };
    const Stats& stats() const { return stats_; }

  private:
    void routeToHost(xml::Element& stanza, const stanza::Jid& from, const stanza::Jid& to,
                     LocalSession* origin);
    void routeToFull(xml::Element& stanza, const stanza::Jid& from, const stanza::Jid& to,
                     LocalSession* origin);
    void handleIq(IqTarget target, xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to,
                  LocalSession* origin);
    void broadcastPresence(xml::Element& presence, const stanza::Jid& from, LocalSession* origin);
    void deliver(LocalSession& session, const xml::Element& stanza);

    bool resolvePendingIq(const xml::Element& iq, const stanza::Jid& from);

    struct PendingIq {
        std::string to;  // the JID the request went to: only it may answer
        IqCallback done;
        std::chrono::steady_clock::time_point deadline;
    };
    std::unordered_map<std::string, PendingIq> pendingIqs_;
    std::uint64_t nextIqId_ = 1;
    std::set<std::string, std::less<>> localDomains_;
    std::map<std::string, DomainHandler, std::less<>> services_;
    SessionRegistry sessions_;
    Hooks hooks_;
    Stats stats_;
};

}  // namespace corvid::router
