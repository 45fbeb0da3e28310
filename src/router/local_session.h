#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "router/session_slots.h"
#include "stanza/errors.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::router {

class Router;

using SessionId = std::uint64_t;

/// Only the router can make one: what the router alone may call takes it as a parameter.
class RouterKey {
    friend class Router;
    RouterKey() = default;
};

/// What the delivery rules know of a session's presence (RFC 6121 §4.7.2.3, §8.5.2). The router
/// sets it from the presence the session broadcasts (Router::route, presence without 'to');
/// everyone else reads it (LocalSession::availability()).
struct Availability {
    bool available = false;    ///< initial presence sent, not yet unavailable
    std::int8_t priority = 0;  ///< of the last available presence
    /// Takes messages to the bare JID (RFC 6121 §8.5.2.1): available, priority not negative.
    bool deliverable() const { return available && priority >= 0; }
};

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

    /// Available or not, and with which priority.
    const Availability& availability() const { return availability_; }
    /// The router's, from the presence the session broadcasts.
    void setAvailability(const Availability& availability, RouterKey) {
        availability_ = availability;
    }

    /// A module's state for this session (see SlotKey): made value-initialised when first asked
    /// for, destroyed with the session.
    template <typename T>
    T& slot(SlotKey<T> key) {
        return slots_.get(key);
    }
    /// The state if the session holds it, else nullptr (nothing is made).
    template <typename T>
    T* findSlot(SlotKey<T> key) {
        return slots_.find(key);
    }
    template <typename T>
    const T* findSlot(SlotKey<T> key) const {
        return slots_.find(key);
    }
    template <typename T>
    void clearSlot(SlotKey<T> key) {
        slots_.erase(key);
    }

  protected:
    LocalSession() = default;
    LocalSession(const LocalSession&) = delete;
    LocalSession& operator=(const LocalSession&) = delete;
    ~LocalSession() = default;

  private:
    Availability availability_;
    SessionSlots slots_;
};

}  // namespace corvid::router
