#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "modules/module.h"
#include "storage/roster_store.h"
#include "util/fifo.h"

namespace corvid::modules {

/// The roster of one account as the IM core holds it while working on it.
struct RosterState {
    /// The account: the key of the module's entry that holds this state (one copy per account).
    const stanza::Jid& bare;
    std::int64_t accountId = 0;
    std::int64_t version = 0;
    /// Every row by contact bare JID: roster items and pending-only requests (inRoster false).
    std::map<std::string, storage::RosterItem, std::less<>> items;
    std::size_t inRoster = 0;  ///< items a client sees

    const storage::RosterItem* find(std::string_view jid) const {
        auto it = items.find(jid);
        return it == items.end() ? nullptr : &it->second;
    }
    /// The 'ver' attribute (XEP-0237): the account id keeps versions of a deleted and re-created
    /// account apart.
    std::string versionString() const {
        return std::to_string(accountId) + "-" + std::to_string(version);
    }
};

/// True when the contact receives the user's presence (subscription from or both).
inline bool hasFrom(storage::Subscription s) {
    return s == storage::Subscription::From || s == storage::Subscription::Both;
}
/// True when the user receives the contact's presence (subscription to or both).
inline bool hasTo(storage::Subscription s) {
    return s == storage::Subscription::To || s == storage::Subscription::Both;
}

/// Sends an error reply to `original` unless it is an error itself (RFC 6120 §8.3.1), like
/// Router::bounce but with an explicit error type and an application condition when given.
void replyError(router::Router& router, const xml::Element& original,
                stanza::StanzaCondition condition, std::string_view text = {},
                std::optional<stanza::ErrorType> type = std::nullopt,
                const xml::Element* appCondition = nullptr);

/// RFC 6121 §2: rosters in PostgreSQL, roster get/set/remove, pushes to interested resources,
/// versioning (XEP-0237), a size limit (modules.roster.max_items).
///
/// Every change to an account's roster, and everything that reads it to decide (the presence
/// module's subscription state machine, broadcasts, probes), runs as an operation of that
/// account: operations of one account run one at a time, in order, each once the roster is
/// loaded, and the next starts when the previous one's Ticket is released (after its database
/// write has been confirmed). Rosters of accounts with bound sessions stay in memory; others are
/// loaded for an operation and forgotten afterwards.
class RosterModule final : public Module {
  public:
    static constexpr std::string_view kInterfaceName = "the roster service (RFC 6121)";

    enum class Status {
        Ok,
        NoAccount,    ///< no such account (the roster pointer is null)
        Unavailable,  ///< the database failed (the roster pointer is null)
    };

    /// Held by a running operation; releasing it (or destroying it) lets the account's next
    /// operation run. Safe to destroy after the module is gone.
    class Ticket {
      public:
        Ticket() = default;
        Ticket(Ticket&& other) noexcept { *this = std::move(other); }
        Ticket& operator=(Ticket&& other) noexcept;
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        ~Ticket() { release(); }
        void release();

      private:
        friend class RosterModule;
        Ticket(std::weak_ptr<int> alive, RosterModule* module, void* account)
            : alive_(std::move(alive)), module_(module), account_(account) {}
        std::weak_ptr<int> alive_;
        RosterModule* module_ = nullptr;
        void* account_ = nullptr;
    };

    using Op = std::move_only_function<void(RosterState* roster, Status status, Ticket ticket)>;
    using Saved = std::move_only_function<void(bool ok)>;

    explicit RosterModule(ModuleContext& context);
    ~RosterModule() override;

    /// Queues an operation on the account's roster (see the class comment).
    void withRoster(const stanza::Jid& bare, Op op);
    /// Whether work a peer asks for (roster iqs, presence and subscriptions from clients and
    /// contacts) may be queued for the account: false while kMaxQueuedOps operations wait, so
    /// that a client or a remote server pipelining faster than the database writes cannot grow
    /// the queue without bound; the caller answers with resource-constraint instead. What the
    /// server itself must do (a closing session's unavailable broadcast, blocking changes) is
    /// queued without asking.
    bool hasRoom(const stanza::Jid& bare) const;
    static constexpr std::size_t kMaxQueuedOps = 64;

    /// Inside an operation: writes `item` (insert or replace by JID), then updates `roster` and,
    /// when a client can see the change, bumps the version and pushes the item to the account's
    /// interested resources. done(false) when the database failed: nothing changed.
    void saveItem(RosterState& roster, storage::RosterItem item, Saved done);
    /// Inside an operation: deletes the row of `jid` (a roster push of subscription='remove'
    /// when it was in the roster).
    void removeItem(RosterState& roster, std::string jid, Saved done);

    /// The roster of an account with sessions, when it is loaded and no operation is changing it
    /// right now; nullptr otherwise. For quick read-only answers (local presence probes).
    const RosterState* cached(const stanza::Jid& bare) const;

    /// modules.roster.max_items.
    std::size_t maxItems() const { return maxItems_; }

    /// Whether the session asked for the roster, and so gets roster pushes and subscription
    /// state changes (RFC 6121 §2.1.6: an interested resource).
    bool interested(const router::LocalSession& session) const {
        const bool* asked = session.findSlot(interestedKey_);
        return asked != nullptr && *asked;
    }

    /// <item/> as in roster results and pushes (RFC 6121 §2.1.2).
    static xml::Element itemElement(const storage::RosterItem& item);

    router::Router& router() { return router_; }

  private:
    // One per account with sessions (and while operations wait or run). Kept small: an account
    // with nothing queued holds no heap memory besides its map node and its roster.
    struct Account {
        enum class Load : std::uint8_t { Loading, Loaded, Missing, Failed };
        const stanza::Jid& bare() const { return *key; }

        const stanza::Jid* key = nullptr;  // the key of its node in accounts_ (stable)
        Load load = Load::Loading;
        bool running = false;  // an operation holds the Ticket
        bool pumping = false;  // pump() is on the stack for this account
        std::optional<RosterState> roster;
        util::Fifo<Op> queue;
    };

    void startLoad(Account& account);
    void pump(Account& account);
    void finish(Account& account);
    void maybeForget(Account& account);
    void push(const RosterState& roster, const xml::Element& item);

    void handleIq(const xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to,
                  router::LocalSession* origin);
    void handleGet(const xml::Element& iq, const stanza::Jid& user, router::SessionId session);
    void handleSet(const xml::Element& iq, const stanza::Jid& user);

    router::Router& router_;
    storage::RosterStore store_;
    std::size_t maxItems_;
    /// Set in the sessions that asked for the roster (interested()).
    router::SlotKey<bool> interestedKey_;
    // Node-based: an Account stays where it is while the map grows (Tickets point to it).
    std::unordered_map<stanza::Jid, Account> accounts_;
    // Tickets (and callbacks holding them) can outlive the module when the Database drops its
    // pending callbacks later: they hold a weak_ptr to this token to tell. Shared for that only.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace corvid::modules
