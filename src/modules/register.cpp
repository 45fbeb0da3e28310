#include "modules/register.h"

#include <chrono>
#include <unordered_map>

#include "sasl/scram_keys.h"
#include "stanza/jid.h"
#include "stanza/ns.h"
#include "storage/account_store.h"
#include "util/log.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;
using router::IqTarget;
using stanza::Jid;
using stanza::StanzaCondition;
using Clock = std::chrono::steady_clock;

/// Rate-limit entries kept before the expired ones are swept out.
constexpr std::size_t kSweepAbove = 4096;

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

class RegisterModule final : public Module {
  public:
    explicit RegisterModule(ModuleContext& context)
        : router_(context.router),
          accounts_(context.database),
          iterations_(context.config.auth.scramIterations),
          minInterval_(context.config.module("register").options.getInt("min_interval_s")) {
        router::Hooks& hooks = router_.hooks();
        if (context.config.module("register").enabled) {
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
            hooks_.push_back(hooks.addIq(
                target, std::string(ns::kRegister), "query",
                [this, target](const xml::Element& iq, const Jid& from, const Jid& to,
                               router::LocalSession*) { authenticated(target, iq, from, to); }));
        }
        // XEP-0077 §8: tells connected clients that the password can be changed in-band.
        hooks_.push_back(hooks.addFeature(IqTarget::Host, std::string(ns::kRegister)));
    }

    std::string_view name() const override { return "register"; }

  private:
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
        // Taken now, so that requests in flight together count too; given back on failure.
        sweep(now);
        lastRegistration_[ip] = now;

        const std::string user = *username;
        const std::string host(domain);
        accounts_.createAccount(
            host, user, credentialsFor(*password, iterations_),
            // Modules outlive every database callback: the server destroys the database (which
            // drops pending callbacks) before any loop turn that could run one late.
            [this, shell = withoutPayload(iq), reply = std::move(reply), ip, now, previous, user,
             host](std::expected<void, storage::StoreError> r) {
                if (r) {
                    log::info("registered {}@{} from {}", user, host, ip);
                    reply(preAuthResult(shell));
                    return;
                }
                giveBack(ip, now, previous);
                if (r.error().kind == storage::StoreErrorKind::AlreadyExists) {
                    reply(preAuthError(shell, StanzaCondition::Conflict,
                                       "the username is already taken"));
                } else {
                    log::warn("registering {}@{}: {}", user, host, r.error().message);
                    reply(preAuthError(shell, StanzaCondition::InternalServerError,
                                       "the account database is unavailable; try later"));
                }
            });
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

    void authenticated(IqTarget target, const xml::Element& iq, const Jid& from, const Jid& to) {
        const xml::Element shell = withoutPayload(iq);
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
            remove(shell, from, to);
            return;
        }
        changePassword(shell, *query, from, to);
    }

    void remove(const xml::Element& shell, const Jid& from, const Jid& to) {
        const Jid account = from.bare();
        router::Router& router = router_;  // outlives the database's callbacks
        accounts_.deleteAccount(
            account.domain(), account.local(),
            [&router, shell, from, to, account](std::expected<void, storage::StoreError> r) {
                if (!r) {
                    if (r.error().kind == storage::StoreErrorKind::NotFound) {
                        router.bounce(shell, StanzaCondition::RegistrationRequired);
                    } else {
                        log::warn("removing {}: {}", account.full(), r.error().message);
                        router.bounce(shell, StanzaCondition::InternalServerError);
                    }
                    return;
                }
                log::info("{} removed their account", account.full());
                // The result first, then XEP-0077 §3.2: a <not-authorized/> stream error ends
                // every session of the account. A copy: terminating unregisters the sessions.
                replyResult(router, shell, from, to);
                const std::vector<router::LocalSession*> sessions =
                    router.sessions().resources(account);
                for (router::LocalSession* session : sessions) {
                    session->terminate(stanza::StreamCondition::NotAuthorized,
                                       "the account has been removed");
                }
            });
    }

    void changePassword(const xml::Element& shell, const xml::Element& query, const Jid& from,
                        const Jid& to) {
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
        router::Router& router = router_;
        accounts_.setCredentials(
            account.domain(), account.local(), credentialsFor(*password, iterations_),
            [&router, shell, from, to, account](std::expected<void, storage::StoreError> r) {
                if (!r) {
                    if (r.error().kind == storage::StoreErrorKind::NotFound) {
                        router.bounce(shell, StanzaCondition::RegistrationRequired);
                    } else {
                        log::warn("changing the password of {}: {}", account.full(),
                                  r.error().message);
                        router.bounce(shell, StanzaCondition::InternalServerError);
                    }
                    return;
                }
                log::info("{} changed their password", account.full());
                replyResult(router, shell, from, to);
            });
    }

    router::Router& router_;
    storage::AccountStore accounts_;
    int iterations_;
    std::int64_t minInterval_;
    /// When each IP address last registered an account (or is registering one now).
    std::unordered_map<std::string, Clock::time_point> lastRegistration_;
};

}  // namespace

ModulePtr makeRegisterModule(ModuleContext& context) {
    return std::make_unique<RegisterModule>(context);
}

}  // namespace corvid::modules
