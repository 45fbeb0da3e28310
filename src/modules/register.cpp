#include <algorithm>
#include <chrono>
#include <deque>
#include <unordered_map>

#include "modules/module_registry.h"
#include "sasl/scram_keys.h"
#include "stanza/jid.h"
#include "stanza/ns.h"
#include "storage/account_store.h"
#include "util/log.h"
#include "util/worker_pool.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;
using router::IqTarget;
using stanza::Jid;
using stanza::StanzaCondition;
using Clock = std::chrono::steady_clock;

/// Rate-limit entries kept before the expired ones are swept out.
constexpr std::size_t kSweepAbove = 4096;
/// Password changes and removals of one account in progress at once; more are refused.
constexpr std::size_t kMaxInProgressPerAccount = 2;
/// Registrations and password changes in progress at once from one IP address: each costs a
/// PBKDF2 of `auth.scram_iterations` rounds per hash on a worker thread.
constexpr std::size_t kMaxHashingPerIp = 4;

/// The iq without its payload: XEP-0077 §3.3 asks not to echo requests that carry a password.
xml::Element withoutPayload(const xml::Element& iq) {
    xml::Element shell(iq.name(), iq.nsHandle());
    shell.attributes() = iq.attributes();
    return shell;
}

storage::StoredScram toStored(const sasl::ScramKeys& k) {
    storage::StoredScram s;
    s.salt = k.salt;
    s.iterations = k.iterations;
    s.storedKey = k.storedKey;
    s.serverKey = k.serverKey;
    return s;
}

/// SCRAM keys for a prepared password (RFC 5802 §3); the password itself is never stored.
storage::ScramCredentials credentialsFor(std::string_view preppedPassword, int iterations) {
    sasl::Credentials keys = sasl::makeCredentials(preppedPassword, iterations);
    storage::ScramCredentials stored;
    stored.sha1 = toStored(*keys.sha1);
    stored.sha256 = toStored(*keys.sha256);
    return stored;
}

/// The username of a registration request, prepared (RFC 7622 §3.3), or why not.
std::expected<std::string, std::string> prepUsername(std::string_view username) {
    if (username.empty()) {
        return std::unexpected("a username is required");
    }
    auto prepped = stanza::prepLocalpart(username);
    if (!prepped) {
        return std::unexpected("the username is not acceptable: " + prepped.error().reason);
    }
    return std::move(*prepped);
}

/// The password of a request, prepared with OpaqueString (RFC 8265 §4.2), or why not.
std::expected<std::string, std::string> prepPassword(std::string_view password) {
    // XEP-0077 §3.1, §3.3: an empty password is never accepted.
    if (password.empty()) {
        return std::unexpected("a password is required");
    }
    auto prepped = stanza::prepOpaqueString(password);
    if (!prepped) {
        return std::unexpected("the password is not acceptable: " + prepped.error().reason);
    }
    return std::move(*prepped);
}

/// XEP-0077 In-Band Registration.
///
/// - Registration of new accounts before authentication, only when `modules.register.enabled`
///   (off by default), at most one per `min_interval_s` from one IP address.
/// - Password change (§3.3) and account removal (§3.2) by the authenticated account itself are
///   always available, whatever `enabled` says; removal ends every session of the account with a
///   <not-authorized/> stream error.
///
/// Registrations and password changes derive SCRAM keys (PBKDF2, `auth.scram_iterations` rounds
/// for SHA-1 and for SHA-256) on the server's worker thread, never on the event loop. What a
/// client can make it compute is bounded: at most 4 registrations and password changes in
/// progress from one IP address, 2 changes or removals in progress for one account, and the
/// worker queue's `limits.worker_queue_max` in all; past a bound the request gets a
/// <resource-constraint/> error with a <text/>. An account's changes and removal reach the
/// database one at a time, in the order they were asked for, so the last password asked for is
/// the one that stays; whatever was asked after a successful removal gets
/// <registration-required/>. A registration or change whose client goes away meanwhile is still
/// carried out (nobody is answered).
class RegisterModule final : public Module {
  public:
    explicit RegisterModule(ModuleContext& context)
        : router_(context.router),
          workers_(context.workers),
          accounts_(context.database),
          iterations_(context.server.scramIterations),
          minInterval_(context.config.options.getInt("min_interval_s")) {
        router::Hooks& hooks = router_.hooks();
        if (context.config.enabled) {
            // Also makes the c2s layer offer the iq-register stream feature (XEP-0077 §8).
            hooks_.push_back(hooks.addPreAuthIq(
                std::string(ns::kRegister),
                [this](const xml::Element& iq, std::string_view domain, std::string_view peerIp,
                       std::function<void(xml::Element)> reply) {
                    preAuth(iq, domain, peerIp, std::move(reply));
                }));
        }
        // XEP-0077 §3.3: the password change is addressed to the server, the removal (§3.2) to
        // no one (the account); both are accepted both ways.
        for (IqTarget target : {IqTarget::Host, IqTarget::Account}) {
            hooks_.push_back(
                hooks.addIq(target, std::string(ns::kRegister), "query",
                            [this, target](const xml::Element& iq, const Jid& from, const Jid& to,
                                           router::LocalSession* origin) {
                                authenticated(target, iq, from, to, origin);
                            }));
        }
        // XEP-0077 §8: tells connected clients that the password can be changed in-band.
        hooks_.push_back(hooks.addFeature(IqTarget::Host, std::string(ns::kRegister)));
    }

    ~RegisterModule() override {
        // No derivation may call back into a module that is gone.
        for (const auto& [id, registration] : registrations_) {
            if (registration.job) {
                workers_.cancel(*registration.job);
            }
        }
        for (const auto& [account, queue] : accountOps_) {
            for (const AccountOp& op : queue.ops) {
                if (op.job) {
                    workers_.cancel(*op.job);
                }
            }
        }
    }

  private:
    using JobId = util::WorkerPool::JobId;

    /// A registration between its request and the database's answer.
    struct Registration {
        xml::Element shell;  // the request without its password
        std::function<void(xml::Element)> reply;
        std::string ip;
        std::string user;
        std::string host;
        Clock::time_point taken;  // its entry in lastRegistration_
        std::optional<Clock::time_point> previous;
        std::optional<JobId> job;  // while its keys are being derived
    };

    /// A password change or an account removal between its request and the database's answer.
    struct AccountOp {
        std::uint64_t id = 0;
        bool remove = false;  // else a password change
        xml::Element shell;   // the request without its password
        Jid from;
        Jid to;
        std::string ip;                                 // counted in hashingPerIp_ (changes only)
        std::optional<JobId> job;                       // while its keys are being derived
        std::optional<storage::ScramCredentials> keys;  // derived, waiting for their turn
    };
    /// One account's changes, written to the database one at a time in the order they were
    /// asked for, so that the last password asked for is the one that stays, whichever
    /// derivation finishes first.
    struct AccountQueue {
        std::deque<AccountOp> ops;  // the front one is the next (or the current) write
        bool writing = false;
    };

    /// Derives the SCRAM keys of a prepared password on a worker; `done` gets them on the loop.
    /// std::nullopt (and no call) when the workers have too much to do already.
    std::optional<JobId> deriveKeys(std::string preppedPassword,
                                    std::move_only_function<void(storage::ScramCredentials)> done) {
        // The result lives with `done`, which the pool keeps until `work` has returned.
        auto keys = std::make_unique<storage::ScramCredentials>();
        storage::ScramCredentials* slot = keys.get();
        return workers_.post(
            [slot, password = std::move(preppedPassword), iterations = iterations_] {
                *slot = credentialsFor(password, iterations);
            },
            [keys = std::move(keys), done = std::move(done)]() mutable { done(std::move(*keys)); });
    }

    std::size_t hashingFrom(const std::string& ip) const {
        auto it = hashingPerIp_.find(ip);
        return it == hashingPerIp_.end() ? 0 : it->second;
    }

    void releaseIp(const std::string& ip) {
        auto it = hashingPerIp_.find(ip);
        if (it != hashingPerIp_.end() && --it->second == 0) {
            hashingPerIp_.erase(it);
        }
    }

    // --- before authentication: new accounts (XEP-0077 §3.1) ---

    static xml::Element preAuthResult(const xml::Element& iq) {
        xml::Element result("iq", std::string(ns::kClient));
        result.setAttr("type", "result");
        result.setAttr("id", std::string(iq.attr("id")));
        return result;
    }

    static xml::Element preAuthError(const xml::Element& iq, StanzaCondition condition,
                                     std::string_view text = {}) {
        stanza::StanzaErrorOptions options;
        options.includeOriginal = false;
        return stanza::makeStanzaError(iq, condition, text, options);
    }

    void preAuth(const xml::Element& iq, std::string_view domain, std::string_view peerIp,
                 std::function<void(xml::Element)> reply) {
        const std::string_view type = iq.attr("type");
        const xml::Element* query = iq.firstChildElement();
        if (type == "get") {
            xml::Element result = preAuthResult(iq);
            xml::Element& form = result.addChild("query", ns::kRegister);
            form.addTextChild("instructions",
                              "Choose a username and password for use with this service.");
            form.addChild("username");
            form.addChild("password");
            reply(std::move(result));
            return;
        }
        if (type != "set" || query == nullptr) {
            return;  // results and errors are not for us
        }
        if (query->findChild("remove") != nullptr) {
            // XEP-0077 §3.2: removing needs an authenticated account.
            reply(preAuthError(iq, StanzaCondition::UnexpectedRequest, "authenticate first"));
            return;
        }
        auto username = prepUsername(query->childText("username"));
        if (!username) {
            reply(preAuthError(iq, StanzaCondition::NotAcceptable, username.error()));
            return;
        }
        auto password = prepPassword(query->childText("password"));
        if (!password) {
            reply(preAuthError(iq, StanzaCondition::NotAcceptable, password.error()));
            return;
        }
        const std::string ip(peerIp);
        const Clock::time_point now = Clock::now();
        std::optional<Clock::time_point> previous;
        if (auto it = lastRegistration_.find(ip); it != lastRegistration_.end()) {
            if (now - it->second < minInterval()) {
                reply(preAuthError(iq, StanzaCondition::ResourceConstraint,
                                   "too many registrations from your address; try later"));
                return;
            }
            previous = it->second;
        }
        if (hashingFrom(ip) >= kMaxHashingPerIp) {
            reply(preAuthError(iq, StanzaCondition::ResourceConstraint,
                               "too many registrations in progress from your address; wait for "
                               "their answers"));
            return;
        }
        const std::uint64_t id = nextId_++;
        auto job = deriveKeys(std::move(*password), [this, id](storage::ScramCredentials keys) {
            storeRegistration(id, std::move(keys));
        });
        if (!job) {
            reply(preAuthError(iq, StanzaCondition::ResourceConstraint,
                               "the server is busy; try again later"));
            return;
        }
        // Taken now, so that requests in flight together count too; given back on failure.
        sweep(now);
        lastRegistration_[ip] = now;
        ++hashingPerIp_[ip];
        registrations_.emplace(
            id, Registration{withoutPayload(iq), std::move(reply), ip, std::move(*username),
                             std::string(domain), now, previous, *job});
    }

    /// The keys are ready. A client that went away meanwhile gets its account all the same (and
    /// no answer): the request was accepted, and a registration is never half done.
    void storeRegistration(std::uint64_t id, storage::ScramCredentials keys) {
        auto it = registrations_.find(id);
        if (it == registrations_.end()) {
            return;
        }
        Registration& registration = it->second;
        registration.job.reset();
        // Modules outlive every database callback: the server destroys the database (which
        // drops pending callbacks) before any loop turn that could run one late.
        accounts_.createAccount(
            registration.host, registration.user, keys,
            [this, id](std::expected<void, storage::StoreError> r) { registered(id, r); });
    }

    void registered(std::uint64_t id, const std::expected<void, storage::StoreError>& r) {
        auto node = registrations_.extract(id);
        if (node.empty()) {
            return;
        }
        Registration& registration = node.mapped();
        releaseIp(registration.ip);
        const std::string account = registration.user + "@" + registration.host;
        if (r) {
            log::info("registered {} from {}", account, registration.ip);
            registration.reply(preAuthResult(registration.shell));
            return;
        }
        giveBack(registration.ip, registration.taken, registration.previous);
        if (r.error().kind == storage::StoreErrorKind::AlreadyExists) {
            registration.reply(preAuthError(registration.shell, StanzaCondition::Conflict,
                                            "the username is already taken"));
        } else {
            log::warn("registering {}: {}", account, r.error().message);
            registration.reply(preAuthError(registration.shell,
                                            StanzaCondition::InternalServerError,
                                            "the account database is unavailable; try later"));
        }
    }

    Clock::duration minInterval() const { return std::chrono::seconds(minInterval_); }

    void giveBack(const std::string& ip, Clock::time_point taken,
                  std::optional<Clock::time_point> previous) {
        auto it = lastRegistration_.find(ip);
        if (it == lastRegistration_.end() || it->second != taken) {
            return;  // a later registration from there holds the slot now
        }
        if (previous) {
            it->second = *previous;
        } else {
            lastRegistration_.erase(it);
        }
    }

    void sweep(Clock::time_point now) {
        if (lastRegistration_.size() < kSweepAbove) {
            return;
        }
        std::erase_if(lastRegistration_,
                      [&](const auto& entry) { return now - entry.second >= minInterval(); });
    }

    // --- after authentication: the account itself (XEP-0077 §3.2, §3.3) ---

    void authenticated(IqTarget target, const xml::Element& iq, const Jid& from, const Jid& to,
                       router::LocalSession* origin) {
        xml::Element shell = withoutPayload(iq);
        // Only a local account may manage itself, through its own server: not a remote entity,
        // and not another account.
        if (!from.hasLocal() || !router_.isLocalDomain(from.domain())) {
            router_.bounce(shell, StanzaCondition::NotAllowed);
            return;
        }
        const Jid account = from.bare();
        const bool own = target == IqTarget::Account ? to == account : to.domain() == from.domain();
        if (!own) {
            router_.bounce(shell, StanzaCondition::Forbidden);
            return;
        }
        // The session that sent it, for the limits per address (a stanza held on the way, by
        // the blocking module say, comes without its origin).
        const router::LocalSession* sender = origin ? origin : router_.sessions().find(from);
        if (sender == nullptr) {
            return;  // the client went away meanwhile: nobody to answer, nothing to do
        }
        const xml::Element* query = iq.firstChildElement();
        if (iq.attr("type") == "get") {
            // XEP-0077 §3.1: an entity already registered gets <registered/> and what is on file.
            xml::Element result("query", std::string(ns::kRegister));
            result.addChild("registered");
            result.addTextChild("username", account.local());
            replyResult(router_, iq, from, to, std::move(result));
            return;
        }
        if (query->findChild("remove") != nullptr) {
            if (query->childElements().size() != 1) {
                router_.bounce(shell, StanzaCondition::BadRequest,
                               "<remove/> must be the only child");
                return;
            }
            if (!roomFor(shell, account)) {
                return;
            }
            enqueue(AccountOp{.id = nextId_++,
                              .remove = true,
                              .shell = std::move(shell),
                              .from = from,
                              .to = to});
            return;
        }
        changePassword(std::move(shell), *query, from, to, sender->peerAddress());
    }

    /// Whether the account may have one more change in progress; answers the request if not.
    bool roomFor(const xml::Element& shell, const Jid& account) {
        auto it = accountOps_.find(account.full());
        if (it != accountOps_.end() && it->second.ops.size() >= kMaxInProgressPerAccount) {
            router_.bounce(shell, StanzaCondition::ResourceConstraint,
                           "too many changes to this account in progress; wait for their answers");
            return false;
        }
        return true;
    }

    void changePassword(xml::Element shell, const xml::Element& query, const Jid& from,
                        const Jid& to, const std::string& ip) {
        const Jid account = from.bare();
        auto username = prepUsername(query.childText("username"));
        if (!username) {
            // XEP-0077 §3.3: the request must name the account.
            router_.bounce(shell, StanzaCondition::BadRequest, username.error());
            return;
        }
        if (*username != account.local()) {
            router_.bounce(shell, StanzaCondition::Forbidden, "that is not your username");
            return;
        }
        auto password = prepPassword(query.childText("password"));
        if (!password) {
            // XEP-0077 §3.3: an empty password keeps the current one (bad-request: incomplete).
            router_.bounce(shell,
                           query.childText("password").empty() ? StanzaCondition::BadRequest
                                                               : StanzaCondition::NotAcceptable,
                           password.error());
            return;
        }
        if (!roomFor(shell, account)) {
            return;
        }
        if (hashingFrom(ip) >= kMaxHashingPerIp) {
            router_.bounce(shell, StanzaCondition::ResourceConstraint,
                           "too many password changes in progress from your address; wait for "
                           "their answers");
            return;
        }
        const std::uint64_t id = nextId_++;
        auto job = deriveKeys(std::move(*password),
                              [this, key = account.full(), id](storage::ScramCredentials keys) {
                                  keysDerived(key, id, std::move(keys));
                              });
        if (!job) {
            router_.bounce(shell, StanzaCondition::ResourceConstraint,
                           "the server is busy; try again later");
            return;
        }
        ++hashingPerIp_[ip];
        enqueue(AccountOp{.id = id,
                          .remove = false,
                          .shell = std::move(shell),
                          .from = from,
                          .to = to,
                          .ip = ip,
                          .job = *job});
    }

    void enqueue(AccountOp op) {
        const std::string key = op.from.bare().full();
        accountOps_[key].ops.push_back(std::move(op));
        writeNext(key);
    }

    AccountOp* findOp(const std::string& key, std::uint64_t id) {
        auto it = accountOps_.find(key);
        if (it == accountOps_.end()) {
            return nullptr;
        }
        auto op = std::ranges::find(it->second.ops, id, &AccountOp::id);
        return op == it->second.ops.end() ? nullptr : &*op;
    }

    void keysDerived(const std::string& key, std::uint64_t id, storage::ScramCredentials keys) {
        AccountOp* op = findOp(key, id);
        if (op == nullptr) {
            return;  // dropped with its account (removal cancels the derivations behind it)
        }
        op->job.reset();
        op->keys = std::move(keys);
        writeNext(key);
    }

    /// Sends the account's next change to the database once the one before it is answered and
    /// its keys (for a password change) are there.
    void writeNext(const std::string& key) {
        auto it = accountOps_.find(key);
        if (it == accountOps_.end()) {
            return;
        }
        AccountQueue& queue = it->second;
        if (queue.ops.empty()) {
            accountOps_.erase(it);
            return;
        }
        AccountOp& op = queue.ops.front();
        if (queue.writing || (!op.remove && !op.keys)) {
            return;
        }
        queue.writing = true;
        const Jid account = op.from.bare();
        // Modules outlive every database callback (see storeRegistration).
        if (op.remove) {
            accounts_.deleteAccount(
                account.domain(), account.local(),
                [this, key](std::expected<void, storage::StoreError> r) { removed(key, r); });
        } else {
            accounts_.setCredentials(account.domain(), account.local(), *op.keys,
                                     [this, key](std::expected<void, storage::StoreError> r) {
                                         passwordWritten(key, r);
                                     });
            op.keys.reset();
        }
    }

    /// The front change of the account's queue, answered by the database.
    AccountOp takeFront(const std::string& key) {
        AccountQueue& queue = accountOps_.at(key);
        AccountOp op = std::move(queue.ops.front());
        queue.ops.pop_front();
        queue.writing = false;
        return op;
    }

    void passwordWritten(const std::string& key,
                         const std::expected<void, storage::StoreError>& r) {
        AccountOp op = takeFront(key);
        releaseIp(op.ip);
        if (r) {
            log::info("{} changed their password", op.from.bare().full());
            replyResult(router_, op.shell, op.from, op.to);
        } else if (r.error().kind == storage::StoreErrorKind::NotFound) {
            router_.bounce(op.shell, StanzaCondition::RegistrationRequired);
        } else {
            log::warn("changing the password of {}: {}", op.from.bare().full(), r.error().message);
            router_.bounce(op.shell, StanzaCondition::InternalServerError);
        }
        writeNext(key);
    }

    void removed(const std::string& key, const std::expected<void, storage::StoreError>& r) {
        AccountOp op = takeFront(key);
        if (!r) {
            if (r.error().kind == storage::StoreErrorKind::NotFound) {
                router_.bounce(op.shell, StanzaCondition::RegistrationRequired);
            } else {
                log::warn("removing {}: {}", op.from.bare().full(), r.error().message);
                router_.bounce(op.shell, StanzaCondition::InternalServerError);
            }
            writeNext(key);
            return;
        }
        log::info("{} removed their account", op.from.bare().full());
        // The result first, then what was asked after the removal, which is void now (and must
        // not reach an account of the same name registered meanwhile), then XEP-0077 §3.2: a
        // <not-authorized/> stream error ends every session of the account.
        replyResult(router_, op.shell, op.from, op.to);
        auto queue = accountOps_.extract(key);
        for (AccountOp& later : queue.mapped().ops) {
            if (later.job) {
                workers_.cancel(*later.job);
            }
            if (!later.remove) {
                releaseIp(later.ip);
            }
            router_.bounce(later.shell, StanzaCondition::RegistrationRequired,
                           "the account has been removed");
        }
        // A copy: terminating unregisters the sessions.
        const std::vector<router::LocalSession*> sessions =
            router_.sessions().resources(op.from.bare());
        for (router::LocalSession* session : sessions) {
            session->terminate(stanza::StreamCondition::NotAuthorized,
                               "the account has been removed");
        }
    }

    router::Router& router_;
    util::WorkerPool& workers_;
    storage::AccountStore accounts_;
    int iterations_;
    std::int64_t minInterval_;
    std::uint64_t nextId_ = 1;
    /// When each IP address last registered an account (or is registering one now).
    std::unordered_map<std::string, Clock::time_point> lastRegistration_;
    /// Registrations and password changes in progress per IP address (no entry: none).
    std::unordered_map<std::string, std::size_t> hashingPerIp_;
    std::unordered_map<std::uint64_t, Registration> registrations_;
    /// Password changes and removals in progress, per account (bare JID; no entry: none).
    std::unordered_map<std::string, AccountQueue> accountOps_;
};

const ModuleRegistrar kRegistrar({
    .name = "register",
    .section = "register",
    .alwaysLoaded = true,
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<RegisterModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
