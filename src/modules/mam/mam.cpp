#include <event2/event.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "modules/mam/archive_query.h"
#include "modules/mam/archive_rules.h"
#include "modules/mam/archive_writer.h"
#include "modules/module_registry.h"
#include "modules/offline_codec.h"
#include "modules/roster.h"
#include "stanza/ns.h"
#include "storage/archive_store.h"
#include "util/c_handles.h"
#include "util/log.h"

namespace corvid::modules {

using router::HookResult;
using router::IqTarget;
using router::LocalSession;
using router::SessionId;
using router::StanzaContext;
using stanza::Jid;
using stanza::StanzaCondition;
using storage::ArchiveDecision;
using storage::ArchivePolicy;
using storage::ArchivePrefs;
namespace ns = stanza::ns;

namespace {

constexpr std::string_view kFulltext = "urn:xmpp:fulltext:0";  // XEP-0431
// After every other filter (blocking drops first) and observer: what is archived is what passes.
constexpr int kArchivePriority = -1000;
// Queries of one account waiting for the database; more get resource-constraint.
constexpr int kMaxQueriesPerAccount = 8;
// Preferences the server could not load yet are asked for again this often. Until the database
// is up (the modules start before it) a try fails at once without a round trip; until they are
// loaded, messages are archived by the database's reading of the preferences, without ids.
constexpr auto kPrefsRetry = std::chrono::milliseconds(20);
// Expiry runs soon after the start, then this often, deleting this many messages per
// statement; after a failure (the database is down) it tries again sooner.
constexpr auto kExpiryInterval = std::chrono::hours(1);
constexpr auto kFirstExpiry = std::chrono::seconds(5);
constexpr auto kExpiryRetry = std::chrono::minutes(1);
constexpr int kExpiryBatch = 10000;
// Most JIDs in each preferences list (XEP-0313 sets no bound; they are held in memory).
constexpr std::size_t kMaxPrefsJids = 1000;

timeval toTimeval(std::chrono::milliseconds d) {
    return timeval{static_cast<decltype(timeval::tv_sec)>(d.count() / 1000),
                   static_cast<decltype(timeval::tv_usec)>((d.count() % 1000) * 1000)};
}

std::int64_t nowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool listed(const std::vector<std::string>& list, const Jid& jid) {
    const std::string bare = jid.bare().full();
    return std::find(list.begin(), list.end(), bare) != list.end() ||
           (jid.hasResource() && std::find(list.begin(), list.end(), jid.full()) != list.end());
}

xml::Element prefsElement(const ArchivePrefs& prefs) {
    xml::Element out("prefs", std::string(ns::kMam));
    out.setAttr("default", storage::toString(prefs.defaultPolicy));
    xml::Element& always = out.addChild("always", ns::kMam);
    for (const std::string& jid : prefs.always) {
        always.addTextChild("jid", jid);
    }
    xml::Element& never = out.addChild("never", ns::kMam);
    for (const std::string& jid : prefs.never) {
        never.addTextChild("jid", jid);
    }
    return out;
}

/// XEP-0313 message archive management for user archives, in PostgreSQL (storage/archive_store).
///
/// Both sides of every archivable one-to-one message (mam/archive_rules.h) go into the archives
/// of the local accounts that send or receive it, as the preferences (XEP-0313 §6, default
/// modules.mam.default_policy) allow. The archive UID is chosen when the message passes, so the
/// copy delivered to the recipient (or stored offline for it) carries its XEP-0359
/// <stanza-id by='user@host'/> at once; the write itself is batched (mam/archive_writer.h).
/// A <stanza-id/> claiming to be by the recipient's archive that a sender put in is removed.
///
/// Queries (with, start, end, before-id, after-id, ids, XEP-0431 full text, RSM paging,
/// flip-page), the query form, preferences and archive metadata are answered to the account's
/// own resources. modules.mam.retention_days deletes old messages in batches, off the loop.
///
/// The roster module, when enabled, tells the 'roster' policy who is in the roster of an account
/// with sessions; for the others the database decides, and the delivered copy has no stanza-id.
class MamModule final : public Module {
  public:
    explicit MamModule(ModuleContext& context)
        : base_(context.base),
          router_(context.router),
          roster_(context.find<RosterModule>()),
          store_(context.database),
          defaultPolicy_(
              storage::parseArchivePolicy(context.config.options.getString("default_policy"))
                  .value_or(ArchivePolicy::Always)),
          maxPage_(static_cast<int>(context.config.options.getInt("max_results"))),
          retentionDays_(context.config.options.getInt("retention_days")),
          writer_(store_,
                  static_cast<std::size_t>(context.config.options.getInt("max_pending_bytes")),
                  defaultPolicy_) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.add(router::Event::OutboundFromLocal, kArchivePriority,
                                   [this](StanzaContext& c) { return onOutbound(c); }));
        hooks_.push_back(hooks.add(router::Event::ToLocalAccount, kArchivePriority,
                                   [this](StanzaContext& c) { return onInbound(c); }));
        for (const char* name : {"query", "prefs", "metadata"}) {
            hooks_.push_back(
                hooks.addIq(IqTarget::Account, std::string(ns::kMam), name,
                            [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                   LocalSession* origin) { handleIq(iq, from, to, origin); }));
        }
        // XEP-0313 §8: the archive is the account; XEP-0359 §4 and XEP-0431 §2 likewise.
        for (std::string_view feature : {ns::kMam, ns::kMamExtended, ns::kStanzaId, kFulltext}) {
            hooks_.push_back(hooks.addFeature(IqTarget::Account, std::string(feature)));
        }
        prefsTimer_.reset(evtimer_new(
            base_,
            [](evutil_socket_t, short, void* arg) { static_cast<MamModule*>(arg)->loadPrefs(); },
            this));
        loadPrefs();
        if (retentionDays_ > 0) {
            expiryTimer_.reset(evtimer_new(
                base_,
                [](evutil_socket_t, short, void* arg) { static_cast<MamModule*>(arg)->expire(); },
                this));
            timeval first = toTimeval(kFirstExpiry);
            evtimer_add(expiryTimer_.get(), &first);
        }
    }

  private:
    /// Strictly increasing microseconds: the archive UID (storage/schema/011_archive.sql).
    std::int64_t nextId() {
        lastId_ = std::max(nowMicros(), lastId_ + 1);
        return lastId_;
    }

    // --- preferences ---

    /// Every account's preferences, held in memory so that deciding costs no round trip. The
    /// database is not up yet when the modules are made: try again until it answers.
    void loadPrefs() {
// GCC 12 reports a false -Wmaybe-uninitialized inside std::expected<std::vector<...>> moved
// through std::move_only_function here (as it does in Catch2, see tests/CMakeLists.txt).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
        store_.loadAllPrefs([this](auto r) { prefsRead(r); });
#pragma GCC diagnostic pop
    }

    void prefsRead(
        std::expected<std::vector<storage::StoredArchivePrefs>, storage::StoreError>& r) {
        if (!r) {
            timeval retry = toTimeval(kPrefsRetry);
            evtimer_add(prefsTimer_.get(), &retry);
            return;
        }
        for (storage::StoredArchivePrefs& p : *r) {
            auto jid = Jid::make(p.username, p.domain, {});
            // Set meanwhile by the account itself: its newer choice stays.
            if (jid && prefs_.find(*jid) == prefs_.end()) {
                prefs_.emplace(std::move(*jid), std::move(p.prefs));
            }
        }
        prefsLoaded_ = true;
        log::info("mam: archiving preferences of {} account(s) loaded", r->size());
    }

    /// XEP-0313 §6: how a message between `owner` and `with` is archived; nullopt: it is not.
    std::optional<ArchiveDecision> decide(const Jid& owner, const Jid& with) const {
        if (!prefsLoaded_) {
            return ArchiveDecision::ByPrefs;
        }
        auto it = prefs_.find(owner);
        const ArchivePrefs* prefs = it == prefs_.end() ? nullptr : &it->second;
        if (prefs != nullptr && listed(prefs->always, with)) {
            return ArchiveDecision::Archive;
        }
        if (prefs != nullptr && listed(prefs->never, with)) {
            return std::nullopt;
        }
        switch (prefs != nullptr ? prefs->defaultPolicy : defaultPolicy_) {
            case ArchivePolicy::Always:
                return ArchiveDecision::Archive;
            case ArchivePolicy::Never:
                return std::nullopt;
            case ArchivePolicy::Roster:
                break;
        }
        const RosterState* roster = roster_ != nullptr ? roster_->cached(owner) : nullptr;
        if (roster == nullptr) {
            return ArchiveDecision::IfInRoster;
        }
        const storage::RosterItem* item = roster->find(with.bare().full());
        if (item != nullptr && item->inRoster) {
            return ArchiveDecision::Archive;
        }
        return std::nullopt;
    }

    // --- archiving ---

    HookResult onOutbound(StanzaContext& ctx) {
        if (ctx.stanza.name() != "message" || !router_.isLocalDomain(ctx.from.domain())) {
            return HookResult::Pass;
        }
        const Jid owner = ctx.from.bare();
        // A message to the account itself is archived once, on its way in.
        if (ctx.to.bare() == owner || !mam::archivable(ctx.stanza)) {
            return HookResult::Pass;
        }
        archive(owner, ctx.to, /*outgoing=*/true, ctx.stanza, /*stamp=*/false);
        return HookResult::Pass;
    }

    HookResult onInbound(StanzaContext& ctx) {
        if (ctx.stanza.name() != "message") {
            return HookResult::Pass;
        }
        const Jid owner = ctx.to.bare();
        mam::stripStanzaIds(ctx.stanza, owner.full());
        if (mam::archivable(ctx.stanza)) {
            archive(owner, ctx.from, /*outgoing=*/false, ctx.stanza, /*stamp=*/true);
        }
        return HookResult::Pass;
    }

    void archive(const Jid& owner, const Jid& with, bool outgoing, xml::Element& message,
                 bool stamp) {
        auto decision = decide(owner, with);
        if (!decision) {
            return;
        }
        if (!writer_.hasRoom()) {
            // Delivery goes on; the archive misses this one, and the copy says nothing of it.
            if (!warnedFull_) {
                log::warn("mam: the archive write queue is full; messages are not archived");
                warnedFull_ = true;
            }
            return;
        }
        warnedFull_ = false;
        storage::ArchiveDraft draft;
        draft.domain = std::string(owner.domain());
        draft.username = std::string(owner.local());
        draft.id = nextId();
        draft.withJid = with.bare().full();
        draft.withResource = std::string(with.resource());
        draft.outgoing = outgoing;
        draft.stanza = encodeStoredStanza(message);
        draft.body = mam::bodyText(message);
        draft.decision = *decision;
        // Only a decided message gets its id: the others may not be archived at all.
        if (stamp && *decision == ArchiveDecision::Archive) {
            mam::stampStanzaId(message, owner.full(), mam::formatId(draft.id));
        }
        writer_.push(std::move(draft));
    }

    // --- iqs ---

    void handleIq(const xml::Element& iq, const Jid& from, const Jid& to, LocalSession* origin) {
        const xml::Element* payload = iq.firstChildElement();
        // XEP-0313 §4: a user archive answers its owner only.
        if (origin == nullptr || from.bare() != to.bare()) {
            replyError(router_, iq, StanzaCondition::Forbidden,
                       "only the account itself may use its archive");
            return;
        }
        const bool get = iq.attr("type") == "get";
        const std::string& what = payload->name();
        if (what == "query") {
            if (get) {
                replyResult(router_, iq, from, to.bare(), mam::queryForm(true));
            } else {
                query(iq, *payload, from, to.bare(), origin->id());
            }
        } else if (what == "prefs") {
            if (get) {
                auto it = prefs_.find(to.bare());
                replyResult(
                    router_, iq, from, to.bare(),
                    prefsElement(it != prefs_.end() ? it->second
                                                    : ArchivePrefs{defaultPolicy_, {}, {}}));
            } else {
                setPrefs(iq, *payload, from, to.bare());
            }
        } else if (get) {
            metadata(iq, from, to.bare());
        } else {
            replyError(router_, iq, StanzaCondition::BadRequest, "metadata is read with an iq get");
        }
    }

    void query(const xml::Element& iq, const xml::Element& payload, const Jid& from,
               const Jid& owner, SessionId session) {
        auto parsed = mam::parseQuery(payload, maxPage_, true);
        if (!parsed) {
            replyError(router_, iq, parsed.error().condition, parsed.error().text);
            return;
        }
        int& running = queries_[owner];
        if (running >= kMaxQueriesPerAccount) {
            replyError(router_, iq, StanzaCondition::ResourceConstraint,
                       "too many archive queries are running; try again later",
                       stanza::ErrorType::Wait);
            return;
        }
        ++running;
        // What was archived before the query came is written before it runs.
        writer_.afterWrites([this, iq = iq, from, owner, session,
                             q = std::move(*parsed)]() mutable {
            storage::ArchivePageRequest request = std::move(q.request);
            store_.query(
                owner.domain(), owner.local(), std::move(request),
                [this, iq = std::move(iq), from, owner, session, q = std::move(q)](auto r) mutable {
                    queryDone(iq, from, owner, session, q, std::move(r));
                });
        });
    }

    void queryDone(const xml::Element& iq, const Jid& from, const Jid& owner, SessionId session,
                   const mam::ArchiveQuery& q,
                   std::expected<storage::ArchivePage, storage::StoreError> r) {
        auto it = queries_.find(owner);
        if (--it->second == 0) {
            queries_.erase(it);
        }
        // The session that asked may be gone, or replaced by another one with its resource.
        LocalSession* target = router_.sessions().findById(session);
        if (target == nullptr || target->jid() != from) {
            return;
        }
        if (!r) {
            replyError(router_, iq, StanzaCondition::InternalServerError,
                       "the archive cannot be read now; try again later", stanza::ErrorType::Wait);
            return;
        }
        if (r->unknownId) {
            replyError(router_, iq, StanzaCondition::ItemNotFound,
                       "a message id of the query is not in the archive");
            return;
        }
        auto send = [&](const storage::ArchivedMessage& m) {
            auto message = decodeStoredStanza(m.stanza);
            if (!message) {
                log::warn("mam: skipping unreadable archived message {} of {}", m.id, owner.full());
                return;
            }
            target->deliver(mam::resultMessage(owner, from, q.queryId, m.id, std::move(*message)));
        };
        if (q.flip) {
            std::for_each(r->messages.rbegin(), r->messages.rend(), send);
        } else {
            std::for_each(r->messages.begin(), r->messages.end(), send);
        }
        replyResult(router_, iq, from, owner, mam::finElement(*r));
    }

    void setPrefs(const xml::Element& iq, const xml::Element& payload, const Jid& from,
                  const Jid& owner) {
        ArchivePrefs prefs;
        auto policy = storage::parseArchivePolicy(payload.attr("default"));
        if (!policy) {
            replyError(router_, iq, StanzaCondition::BadRequest,
                       "default must be always, never or roster");
            return;
        }
        prefs.defaultPolicy = *policy;
        for (auto [list, name] : {std::pair{&prefs.always, "always"}, {&prefs.never, "never"}}) {
            const xml::Element* e = payload.findChild(name, ns::kMam);
            if (e == nullptr) {
                continue;
            }
            for (const xml::Element* j : e->childElements()) {
                if (!j->is("jid", ns::kMam)) {
                    continue;
                }
                auto jid = Jid::parse(j->text());
                if (!jid) {
                    replyError(router_, iq, StanzaCondition::JidMalformed,
                               "'" + j->text() + "' in <" + name + "/> is not a valid JID");
                    return;
                }
                if (std::find(list->begin(), list->end(), jid->full()) == list->end()) {
                    list->push_back(jid->full());
                }
            }
            if (list->size() > kMaxPrefsJids) {
                replyError(router_, iq, StanzaCondition::PolicyViolation,
                           "at most " + std::to_string(kMaxPrefsJids) + " JIDs in <" + name + "/>");
                return;
            }
        }
        store_.setPrefs(owner.domain(), owner.local(), prefs,
                        [this, iq = iq, from, owner, prefs](auto r) mutable {
                            if (!r) {
                                replyError(router_, iq, StanzaCondition::InternalServerError,
                                           "the preferences could not be saved; try again later",
                                           stanza::ErrorType::Wait);
                                return;
                            }
                            prefs_[owner] = prefs;
                            replyResult(router_, iq, from, owner, prefsElement(prefs));
                        });
    }

    void metadata(const xml::Element& iq, const Jid& from, const Jid& owner) {
        writer_.afterWrites([this, iq = iq, from, owner]() mutable {
            store_.bounds(
                owner.domain(), owner.local(), [this, iq = std::move(iq), from, owner](auto r) {
                    if (!r) {
                        replyError(router_, iq, StanzaCondition::InternalServerError,
                                   "the archive cannot be read now; try again later",
                                   stanza::ErrorType::Wait);
                        return;
                    }
                    xml::Element meta("metadata", std::string(ns::kMam));
                    if (r->first && r->last) {
                        for (auto [name, id] :
                             {std::pair{"start", *r->first}, std::pair{"end", *r->last}}) {
                            xml::Element& e = meta.addChild(name, ns::kMam);
                            e.setAttr("id", mam::formatId(id));
                            e.setAttr("timestamp", mam::formatDateTime(id));
                        }
                    }
                    replyResult(router_, iq, from, owner, std::move(meta));
                });
        });
    }

    // --- expiry ---

    /// modules.mam.retention_days: deletes in batches, one statement at a time, until nothing
    /// older is left; then again in an hour.
    void expire() {
        const std::int64_t cutoff = nowMicros() - retentionDays_ * 86400 * std::int64_t{1'000'000};
        store_.expire(cutoff, kExpiryBatch, [this](auto r) {
            if (r && *r == kExpiryBatch) {
                expire();
                return;
            }
            if (!r) {
                log::warn("mam: expiring old messages failed: {}", r.error().message);
            }
            timeval next = toTimeval(r ? kExpiryInterval : kExpiryRetry);
            evtimer_add(expiryTimer_.get(), &next);
        });
    }

    event_base* base_;
    router::Router& router_;
    RosterModule* roster_;
    storage::ArchiveStore store_;
    ArchivePolicy defaultPolicy_;
    int maxPage_;
    std::int64_t retentionDays_;
    mam::ArchiveWriter writer_;
    std::int64_t lastId_ = 0;
    bool warnedFull_ = false;
    bool prefsLoaded_ = false;
    std::unordered_map<Jid, ArchivePrefs> prefs_;
    std::unordered_map<Jid, int> queries_;  // accounts with queries waiting for the database
    util::EventPtr prefsTimer_;
    util::EventPtr expiryTimer_;
};

const ModuleRegistrar kRegistrar({
    .name = "mam",
    .section = "mam",
    .needs = {Need::optional<RosterModule>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<MamModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
