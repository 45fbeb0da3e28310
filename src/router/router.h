#pragma once

#include <set>
#include <string>
#include <string_view>

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

    void addLocalDomain(std::string domain) { localDomains_.insert(std::move(domain)); }
    bool isLocalDomain(std::string_view domain) const {
        return localDomains_.find(domain) != localDomains_.end();
    }
    const std::set<std::string, std::less<>>& localDomains() const { return localDomains_; }

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

    std::set<std::string, std::less<>> localDomains_;
    SessionRegistry sessions_;
    Hooks hooks_;
    Stats stats_;
};

}  // namespace corvid::router
