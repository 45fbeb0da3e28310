#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "router/local_session.h"
#include "router/session_slots.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::router {

/// Points in a stanza's path where features hook in (doc: docs/architecture.md, "Routing").
enum class Event {
    MessageToBare,      ///< message to a local account's bare JID (before delivery)
    MessageToFull,      ///< message to a connected full JID (before delivery)
    MessageOffline,     ///< message for an account with no resource to take it
    PresenceToBare,     ///< presence to a local account's bare JID
    PresenceToFull,     ///< presence to a connected full JID
    PresenceBroadcast,  ///< presence without 'to' from a local session, once the router has
                        ///< updated the session's availability (StanzaContext::previous)
    MessageToHost,      ///< message to a local domain itself
    PresenceToHost,     ///< presence to a local domain itself
    OutboundFromLocal,  ///< any stanza a local session sends, before routing (filters)
    ToRemote,           ///< stanza for a domain we do not serve (s2s)
    ToLocalAccount,     ///< any stanza to a local account (bare or full JID), before the
                        ///< delivery rules (filters: XEP-0191 blocking)
    Count_
};

enum class HookResult { Pass, Handled };

/// What a stanza hook sees. `stanza` may be modified by a handler that returns Pass.
struct StanzaContext {
    xml::Element& stanza;
    const stanza::Jid& from;
    const stanza::Jid&
        to;  ///< where the stanza is going (the account's bare JID if 'to' was absent)
    LocalSession* origin;  ///< the local session that sent it, or nullptr (s2s, server)
    /// PresenceBroadcast: the sender's availability before this presence (origin's is the new
    /// one). An available presence with `previous.available` false is the initial presence.
    Availability previous{};
};

using StanzaHandler = std::function<HookResult(StanzaContext&)>;

/// An iq get/set addressed to the server (IqTarget::Host) or handled on behalf of an account
/// (IqTarget::Account, RFC 6120 §10.5.3.1: iq to a bare JID or with no 'to').
enum class IqTarget { Host, Account };
using IqHandler = std::function<void(const xml::Element& iq, const stanza::Jid& from,
                                     const stanza::Jid& to, LocalSession* origin)>;

/// Session lifecycle events.
enum class SessionEvent {
    Bound,        ///< resource bound, session routable
    Detached,     ///< left its transport, still bound and routable (stream management)
    Resumed,      ///< attached to a new transport after Detached
    Unavailable,  ///< about to be removed (sent unavailable or disconnected)
    Closed,       ///< removed from the registry
};
using SessionHandler = std::function<void(LocalSession&)>;

/// Removes its registration when destroyed (style.md §7.8).
class HookHandle {
  public:
    HookHandle() = default;
    explicit HookHandle(std::function<void()> remove) : remove_(std::move(remove)) {}
    HookHandle(HookHandle&& other) noexcept : remove_(std::exchange(other.remove_, nullptr)) {}
    HookHandle& operator=(HookHandle&& other) noexcept {
        if (this != &other) {
            reset();
            remove_ = std::exchange(other.remove_, nullptr);
        }
        return *this;
    }
    HookHandle(const HookHandle&) = delete;
    HookHandle& operator=(const HookHandle&) = delete;
    ~HookHandle() { reset(); }
    void reset() {
        if (remove_) {
            std::exchange(remove_, nullptr)();
        }
    }

  private:
    std::function<void()> remove_;
};

/// The event bus. Stanza handlers run in descending priority; the first that returns Handled
/// stops the chain. Iq handlers are keyed by the payload's namespace (and element name).
class Hooks {
  public:
    [[nodiscard]] HookHandle add(Event event, int priority, StanzaHandler handler);
    HookResult fire(Event event, StanzaContext& context) const;

    [[nodiscard]] HookHandle addIq(IqTarget target, std::string ns, std::string name,
                                   IqHandler handler);
    /// The handler for this payload, or nullptr.
    const IqHandler* findIq(IqTarget target, std::string_view ns, std::string_view name) const;

    [[nodiscard]] HookHandle onSession(SessionEvent event, SessionHandler handler);

    /// A bound session's top-level elements that are not stanzas (XEP-0198 <r/>, <a/>;
    /// XEP-0352 <active/>), by namespace and name. Without a handler the stream is closed with
    /// <unsupported-stanza-type/>.
    using NonzaHandler = std::function<void(LocalSession& session, const xml::Element& nonza)>;
    [[nodiscard]] HookHandle addNonza(std::string ns, std::string name, NonzaHandler handler);
    const NonzaHandler* findNonza(std::string_view ns, std::string_view name) const;
    void fireSession(SessionEvent event, LocalSession& session) const;

    /// Stream features offered to clients after authentication (roster versioning, stream
    /// management ...).
    [[nodiscard]] HookHandle addStreamFeature(xml::Element feature);
    std::vector<xml::Element> streamFeatures() const;

    /// Iqs a client may send before authenticating (XEP-0077 in-band registration), by payload
    /// namespace. `reply` writes the answer to that client.
    using PreAuthIqHandler =
        std::function<void(const xml::Element& iq, std::string_view domain, std::string_view peerIp,
                           std::function<void(xml::Element)> reply)>;
    [[nodiscard]] HookHandle addPreAuthIq(std::string ns, PreAuthIqHandler handler);
    const PreAuthIqHandler* findPreAuthIq(std::string_view ns) const;

    /// A new kind of per-session state (LocalSession::slot()); a module declares its slots once,
    /// when it is built.
    template <typename T>
    SlotKey<T> declareSlot() {
        return SlotKey<T>(nextSlot_++);
    }

    /// Server features advertised by disco#info (XEP-0030), derived from what is enabled.
    [[nodiscard]] HookHandle addFeature(IqTarget target, std::string feature);
    std::vector<std::string> features(IqTarget target) const;

  private:
    struct Entry {
        std::uint64_t id;
        int priority;
        StanzaHandler handler;
    };
    struct IqKey {
        IqTarget target;
        std::string ns;
        std::string name;
        auto operator<=>(const IqKey&) const = default;
    };
    std::uint64_t nextId_ = 1;
    std::uint32_t nextSlot_ = 0;
    std::vector<Entry> stanzaHandlers_[static_cast<int>(Event::Count_)];
    std::map<IqKey, IqHandler> iqHandlers_;
    std::vector<std::pair<std::uint64_t, std::pair<SessionEvent, SessionHandler>>> sessionHandlers_;
    std::vector<std::pair<std::uint64_t, std::pair<IqTarget, std::string>>> features_;
    std::vector<std::pair<std::uint64_t, xml::Element>> streamFeatures_;
    std::map<std::string, PreAuthIqHandler, std::less<>> preAuthIqs_;
    std::map<std::pair<std::string, std::string>, NonzaHandler, std::less<>> nonzas_;
};

}  // namespace corvid::router
