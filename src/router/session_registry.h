#pragma once

#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/local_session.h"
#include "stanza/jid.h"

namespace corvid::router {

/// Bound sessions by JID: bare JID -> resources, in bind order.
class SessionRegistry {
  public:
    void add(LocalSession& session);
    void remove(LocalSession& session);
    LocalSession* find(const stanza::Jid& full) const;
    LocalSession* findById(SessionId id) const;
    /// Every bound resource of the account (empty if none).
    const std::vector<LocalSession*>& resources(const stanza::Jid& bare) const;
    /// Available resources with non-negative priority (RFC 6121 §8.5.2.1).
    std::vector<LocalSession*> deliverable(const stanza::Jid& bare) const;
    /// The deliverable resources that share the highest priority.
    std::vector<LocalSession*> highestPriority(const stanza::Jid& bare) const;
    std::size_t size() const { return byId_.size(); }
    template <typename F>
    void forEach(F&& f) const {
        for (const auto& [id, s] : byId_) {
            f(*s);
        }
    }

  private:
    // Keyed by "local@domain" as a view into the JID of one of the sessions in the list (a bound
    // session's JID does not change until it is removed; remove() re-points the key when that
    // session leaves first). No copy of the bare JID per account.
    std::unordered_map<std::string_view, std::vector<LocalSession*>> byBare_;
    std::unordered_map<SessionId, LocalSession*> byId_;
};

}  // namespace corvid::router
