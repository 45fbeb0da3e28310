#include <event2/event.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <vector>

#include "modules/blocking.h"
#include "modules/module_registry.h"
#include "modules/offline_codec.h"
#include "modules/offline_queue.h"
#include "modules/roster.h"  // replyError
#include "stanza/delay.h"
#include "stanza/ns.h"
#include "storage/offline_store.h"
#include "util/c_handles.h"
#include "util/log.h"

namespace corvid::modules {

using router::HookResult;
using router::LocalSession;
using router::SessionId;
using router::StanzaContext;
using stanza::Jid;
using stanza::StanzaCondition;
namespace ns = stanza::ns;

namespace {

// Messages taken out per statement while delivering, and their bytes at most (also at most a
// quarter of the client's output buffer): bounds the memory of one delivery and its output.
constexpr int kTakeBatch = 100;
constexpr std::size_t kTakeBytes = 256 * 1024;
// How often a delivery waiting for its client to read looks again.
constexpr timeval kDrainPoll{0, 10'000};
// Messages written per statement: bounds one statement's size and time.
constexpr std::size_t kStoreBatch = 1000;
constexpr std::size_t kStoreBatchBytes = 1024 * 1024;

/// XEP-0160 §3 and XEP-0334: what is worth keeping. Chat states alone are not (XEP-0085 §5.5),
/// nor what the sender marked no-store; a body or any other payload is.
bool worthStoring(const xml::Element& message) {
    if (message.findChild("no-store", ns::kHints) != nullptr ||
        message.findChild("no-permanent-store", ns::kHints) != nullptr) {
        return message.findChild("store", ns::kHints) != nullptr;
    }
    for (const xml::Element* child : message.childElements()) {
        const std::string& childNs = child->ns();
        if (child->is("thread", ns::kClient) || childNs == ns::kChatStates ||
            childNs == ns::kHints) {
            continue;
        }
        return true;
    }
    return false;
}

/// XEP-0160 offline messages in PostgreSQL: chat and normal messages with content for an
/// account with no available resource are stored with a XEP-0203 <delay/>; they are written,
/// oldest first, to the next resource that becomes available with a non-negative priority.
///
/// Messages wait in memory for PostgreSQL, bounded by bytes per account and in total
/// (modules.offline.max_pending_bytes_per_account, max_pending_bytes): past a bound they are
/// bounced at once with resource-constraint (wait). They are written in batches, one statement
/// in flight for all accounts, which also tells whether each account exists. The sender hears
/// nothing once a message is stored; otherwise it gets service-unavailable when the account
/// does not exist (RFC 6121 §8.5.1), resource-constraint when modules.offline.max_messages is
/// reached, internal-server-error (wait) when the database fails, and nothing when the
/// recipient blocks it (XEP-0191).
class OfflineModule final : public Module {
  public:
    explicit OfflineModule(ModuleContext& context)
        : router_(context.router),
          store_(context.database),
          drainTimer_(event_new(context.base, -1, 0, &OfflineModule::onDrainTimer, this)),
          maxMessages_(context.config.options.getInt("max_messages")),
          blocking_(context.find<BlockingModule>() != nullptr),
          queue_(optionBytes(context, "max_pending_bytes_per_account"),
                 optionBytes(context, "max_pending_bytes")) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.add(router::Event::MessageOffline, 50,
                                   [this](StanzaContext& c) { return onOffline(c); }));
        // The router has updated the sender's availability by then; it says what it was before.
        hooks_.push_back(hooks.add(router::Event::PresenceBroadcast, 100,
                                   [this](StanzaContext& c) { return onPresence(c); }));
        hooks_.push_back(hooks.addFeature(router::IqTarget::Host, std::string(ns::kMsgOffline)));
    }

  private:
    static std::size_t optionBytes(ModuleContext& context, std::string_view name) {
        return static_cast<std::size_t>(context.config.options.getInt(name));
    }

    /// The blocking module filters only accounts it holds in memory (those with sessions); for
    /// the others the blocklist is checked by the INSERT itself (XEP-0191 §3.5).
    std::vector<std::string> blockedIf(const Jid& sender) const {
        if (!blocking_) {
            return {};
        }
        std::vector<std::string> forms{sender.full(), sender.bare().full(),
                                       std::string(sender.domain())};
        if (sender.hasResource()) {
            forms.push_back(std::string(sender.domain()) + "/" + std::string(sender.resource()));
        }
        return forms;
    }

    /// The message without its children: all an error reply needs (RFC 6120 §8.3.1 does not
    /// ask for the payload), at a fraction of the memory.
    static xml::Element shellOf(const xml::Element& message) {
        xml::Element shell(message.name(), message.ns());
        shell.attributes() = message.attributes();
        return shell;
    }

    struct Delivery {
        SessionId target = 0;
        bool again = false;    // another resource became available meanwhile: take once more
        bool waiting = false;  // for the target's output to drain (see takeNext)
    };

    HookResult onOffline(StanzaContext& ctx) {
        const xml::Element& message = ctx.stanza;
        if (!worthStoring(message)) {
            return HookResult::Handled;  // dropped, as RFC 6121 §8.5.2.2.1 allows
        }
        xml::Element kept = message;
        const Jid user = ctx.to.bare();
        kept.addChild(stanza::delayElement(user.domain(), std::chrono::system_clock::now()));
        OfflineQueue::Entry entry{user, encodeStoredStanza(kept), blockedIf(ctx.from),
                                  shellOf(message)};
        switch (queue_.push(entry)) {
            case QueueAdmission::Queued:
                break;
            case QueueAdmission::AccountFull:
                replyError(router_, entry.shell, StanzaCondition::ResourceConstraint,
                           "too many messages for this account are waiting to be stored; try "
                           "again later",
                           stanza::ErrorType::Wait);
                return HookResult::Handled;
            case QueueAdmission::ServerFull:
                replyError(router_, entry.shell, StanzaCondition::ResourceConstraint,
                           "too many offline messages are waiting to be stored; try again later",
                           stanza::ErrorType::Wait);
                return HookResult::Handled;
        }
        if (!writing_) {
            writeNext();
        }
        return HookResult::Handled;
    }

    /// One batch in flight at a time, for every account: the ids (the delivery order) follow
    /// the order the messages came in, and a flood costs the database one statement per round
    /// trip however many accounts it names. What arrives meanwhile goes into the next batch.
    void writeNext() {
        std::vector<OfflineQueue::Entry> batch = queue_.take(kStoreBatch, kStoreBatchBytes);
        writing_ = !batch.empty();
        if (batch.empty()) {
            return;
        }
        std::vector<storage::OfflineDraft> drafts;
        drafts.reserve(batch.size());
        for (OfflineQueue::Entry& e : batch) {
            drafts.push_back(storage::OfflineDraft{std::string(e.user.domain()),
                                                   std::string(e.user.local()), std::move(e.stanza),
                                                   std::move(e.blockedIf)});
        }
        // The sender hears about it only when it is refused: the message is not taken for
        // delivered before PostgreSQL has confirmed the INSERT.
        store_.store(
            std::move(drafts), maxMessages_,
            [this, batch = std::move(batch)](
                std::expected<std::vector<storage::OfflineStoreOutcome>, storage::StoreError>
                    r) mutable { written(std::move(batch), std::move(r)); });
    }

    void written(std::vector<OfflineQueue::Entry> batch,
                 std::expected<std::vector<storage::OfflineStoreOutcome>, storage::StoreError> r) {
        if (!r) {
            log::warn("offline: cannot store {} message(s): {}", batch.size(), r.error().message);
        }
        std::vector<Jid> stored;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const OfflineQueue::Entry& e = batch[i];
            queue_.release(e);
            if (!r) {
                replyError(router_, e.shell, StanzaCondition::InternalServerError,
                           "the message could not be stored; try again later",
                           stanza::ErrorType::Wait);
                continue;
            }
            switch ((*r)[i]) {
                case storage::OfflineStoreOutcome::Stored:
                    if (stored.empty() || stored.back() != e.user) {
                        stored.push_back(e.user);
                    }
                    break;
                case storage::OfflineStoreOutcome::NoAccount:
                    // RFC 6121 §8.5.1: a message for an account that does not exist.
                    replyError(router_, e.shell, StanzaCondition::ServiceUnavailable,
                               "no such user");
                    break;
                case storage::OfflineStoreOutcome::Blocked:
                    break;  // XEP-0191 §3.5: dropped without a word
                case storage::OfflineStoreOutcome::QuotaExceeded:
                    replyError(router_, e.shell, StanzaCondition::ResourceConstraint,
                               "the recipient's offline storage is full", stanza::ErrorType::Wait);
                    break;
            }
        }
        writeNext();
        for (const Jid& user : stored) {
            storedWhileAvailable(user);
        }
    }

    /// A store that was on its way while the user came online may have missed that delivery.
    void storedWhileAvailable(const Jid& user) {
        auto targets = router_.sessions().highestPriority(user);
        if (!targets.empty()) {
            deliver(user, targets.front()->id());
        }
    }

    HookResult onPresence(StanzaContext& ctx) {
        LocalSession& session = *ctx.origin;
        if (!ctx.stanza.attr("type").empty()) {
            return HookResult::Pass;
        }
        // XEP-0160 §3: delivered when a resource becomes available with non-negative priority.
        if (!ctx.previous.deliverable() && session.availability().deliverable()) {
            deliver(ctx.from.bare(), session.id());
        }
        return HookResult::Pass;
    }

    /// One delivery per account at a time (take, write out or put back, take again ...), so that
    /// the messages keep their order and a put-back batch is in the table again before the next
    /// take looks.
    void deliver(const Jid& user, SessionId target) {
        auto [it, fresh] = deliveries_.try_emplace(user);
        it->second.target = target;
        if (!fresh) {
            it->second.again = true;
            return;
        }
        takeNext(user);
    }

    /// The resource the messages go to: the one that became available, or else the best one.
    LocalSession* targetOf(const Jid& user, const Delivery& d) const {
        LocalSession* session = router_.sessions().findById(d.target);
        if (session != nullptr && session->availability().deliverable()) {
            return session;
        }
        auto targets = router_.sessions().highestPriority(user);
        return targets.empty() ? nullptr : targets.front();
    }

    void takeNext(const Jid& user) {
        Delivery& d = deliveries_.at(user);
        d.again = false;
        // Paced by the client's reading: the next batch is taken once what was written has
        // (nearly) gone out, and it is small enough for the output buffer, whose overflow would
        // drop the connection and the messages just taken with it.
        std::size_t budget = kTakeBytes;
        LocalSession* session = targetOf(user, d);
        if (session != nullptr) {
            budget = std::min(session->outputLimit() / 4, kTakeBytes);
            if (session->outputPending() > budget) {
                d.waiting = true;
                if (!event_pending(drainTimer_.get(), EV_TIMEOUT, nullptr)) {
                    event_add(drainTimer_.get(), &kDrainPoll);
                }
                return;
            }
        }
        store_.take(user.domain(), user.local(), kTakeBatch, static_cast<std::int64_t>(budget),
                    [this, user](std::expected<storage::OfflineBatch, storage::StoreError> r) {
                        onTaken(user, std::move(r));
                    });
    }

    static void onDrainTimer(evutil_socket_t, short, void* arg) {
        auto& self = *static_cast<OfflineModule*>(arg);
        std::vector<Jid> ready;
        for (auto& [user, d] : self.deliveries_) {
            if (d.waiting) {
                d.waiting = false;
                ready.push_back(user);
            }
        }
        for (const Jid& user : ready) {
            if (self.deliveries_.contains(user)) {
                self.takeNext(user);
            }
        }
    }

    void onTaken(const Jid& user, std::expected<storage::OfflineBatch, storage::StoreError> r) {
        Delivery& d = deliveries_[user];
        if (!r) {
            log::warn("offline: cannot read the messages of {}: {}", user.full(),
                      r.error().message);
            deliveries_.erase(user);
            return;
        }
        // Deleted from the table by now: written to the client right here, or put back.
        LocalSession* session = targetOf(user, d);
        if (session == nullptr) {
            restore(user, std::move(*r));
            return;
        }
        const bool more = !r->messages.empty();
        for (const auto& m : r->messages) {
            auto stanza = decodeStoredStanza(m.stanza);
            if (!stanza) {
                log::warn("offline: dropping an unreadable stored message {} of {}", m.id,
                          user.full());
                continue;
            }
            session->deliver(*stanza);
        }
        finishStep(user, more);
    }

    /// The delivery goes on while there is more, or a resource became available meanwhile.
    void finishStep(const Jid& user, bool more) {
        auto it = deliveries_.find(user);
        if (more || it->second.again) {
            takeNext(user);
            return;
        }
        deliveries_.erase(it);
    }

    void restore(const Jid& user, storage::OfflineBatch batch) {
        if (batch.messages.empty()) {
            finishStep(user, false);
            return;
        }
        const std::size_t n = batch.messages.size();
        store_.restore(batch.accountId, std::move(batch.messages),
                       [this, user, n](std::expected<void, storage::StoreError> r) {
                           if (!r) {
                               log::error("offline: {} message(s) of {} lost: {}", n, user.full(),
                                          r.error().message);
                           }
                           finishStep(user, false);
                       });
    }

    router::Router& router_;
    storage::OfflineStore store_;
    util::EventPtr drainTimer_;  // runs while deliveries wait for their client to read
    std::int64_t maxMessages_;
    bool blocking_;
    OfflineQueue queue_;
    bool writing_ = false;                          // a batch is on its way to the database
    std::unordered_map<Jid, Delivery> deliveries_;  // accounts with a delivery under way
};

const ModuleRegistrar kRegistrar({
    .name = "offline",
    .section = "offline",
    // Only to know whether blocklists apply: the INSERT checks them in the database.
    .needs = {Need::optional<BlockingModule>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<OfflineModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
