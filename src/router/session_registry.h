#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stanza/errors.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::router {

using SessionId = std::uint64_t;

/// What the router sees of a connected, bound client resource. Sessions register through this
/// interface; the router never knows a concrete session class.
class LocalSession {
  public:
    virtual SessionId id() const = 0;
    /// The bound full JID.
    virtual const stanza::Jid& jid() const = 0;
    /// The IP address the client connects from (for limits per address); empty while it has no
    /// connection (a session detached for resumption).
    virtual const std::string& peerAddress() const = 0;
    /// Writes a stanza to the client.
    virtual void deliver(const xml::Element& stanza) = 0;
    /// Ends the session with a stream error (e.g. <conflict/> when a new session takes the
    /// resource). Takes effect from the event loop.
    virtual void terminate(stanza::StreamCondition condition, std::string_view text) = 0;
    /// Bytes written but not yet sent to the client, and how many may wait before the connection
    /// is dropped: for senders of many stanzas that pace themselves (offline delivery).
    virtual std::size_t outputPending() const { return 0; }
    virtual std::size_t outputLimit() const { return std::numeric_limits<std::size_t>::max(); }

    /// Presence state kept by the router and the presence module (RFC 6121 §4).
    int priority = 0;
    bool available = false;   ///< initial presence sent, not yet unavailable
    bool interested = false;  ///< requested the roster (RFC 6121 §2.1.6)
    std::optional<xml::Element> lastPresence;

  protected:
    ~LocalSession() = default;
};

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
