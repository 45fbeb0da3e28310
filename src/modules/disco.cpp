#include "modules/disco.h"

#include <event2/event.h>

#include <algorithm>
#include <cassert>
#include <tuple>

#include "modules/module_registry.h"
#include "sasl/base64.h"
#include "sasl/crypto.h"
#include "stanza/ns.h"
#include "util/c_handles.h"

namespace corvid::modules {

namespace ns = stanza::ns;
using router::IqTarget;
using stanza::Jid;
using stanza::StanzaCondition;

std::string capsVer(std::vector<DiscoIdentity> identities, std::vector<std::string> features) {
    auto key = [](const DiscoIdentity& i) { return std::tie(i.category, i.type, i.lang, i.name); };
    std::sort(identities.begin(), identities.end(),
              [&](const DiscoIdentity& a, const DiscoIdentity& b) { return key(a) < key(b); });
    identities.erase(std::unique(identities.begin(), identities.end(),
                                 [&](const DiscoIdentity& a, const DiscoIdentity& b) {
                                     return key(a) == key(b);
                                 }),
                     identities.end());
    // XEP-0115 §5.1: "i;octet" collation, which is what std::string's operator< does.
    std::sort(features.begin(), features.end());
    features.erase(std::unique(features.begin(), features.end()), features.end());
    std::string s;
    for (const auto& i : identities) {
        s.append(i.category).append("/").append(i.type).append("/").append(i.lang).append("/");
        s.append(i.name).append("<");
    }
    for (const auto& f : features) {
        s.append(f).append("<");
    }
    return sasl::encodeBase64(sasl::digest(sasl::Hash::Sha1, s));
}

namespace {

constexpr std::string_view kServerName = "corvid";
constexpr std::string_view kPepFeaturePrefix = "http://jabber.org/protocol/pubsub";

/// XEP-0030 Service Discovery for the server and for its accounts' bare JIDs, and the server's
/// XEP-0115 capabilities as a post-authentication stream feature.
class DiscoModule final : public Module, public AccountDiscoItems {
  public:
    explicit DiscoModule(ModuleContext& context) : router_(context.router) {
        context.provide<AccountDiscoItems>(*this);
        router::Hooks& hooks = router_.hooks();
        for (IqTarget target : {IqTarget::Host, IqTarget::Account}) {
            hooks_.push_back(hooks.addFeature(target, std::string(ns::kDiscoInfo)));
            hooks_.push_back(hooks.addFeature(target, std::string(ns::kDiscoItems)));
        }
        hooks_.push_back(hooks.addIq(IqTarget::Host, std::string(ns::kDiscoInfo), "query",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            router::LocalSession*) { hostInfo(iq, from, to); }));
        hooks_.push_back(hooks.addIq(IqTarget::Host, std::string(ns::kDiscoItems), "query",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            router::LocalSession*) { items(iq, from, to); }));
        hooks_.push_back(hooks.addIq(IqTarget::Account, std::string(ns::kDiscoInfo), "query",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            router::LocalSession*) { accountInfo(iq, from, to); }));
        hooks_.push_back(hooks.addIq(IqTarget::Account, std::string(ns::kDiscoItems), "query",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            router::LocalSession* origin) {
                                         if (accountItems_) {
                                             accountItems_(iq, from, to, origin);
                                         } else {
                                             items(iq, from, to);
                                         }
                                     }));

        // The modules loaded after this one add their features too, and the caps hash must cover
        // them all: it is computed on the loop's first turn, once every module is in, before any
        // client can have seen the stream features.
        capsTimer_.reset(event_new(
            context.base, -1, 0,
            [](evutil_socket_t, short, void* arg) {
                static_cast<DiscoModule*>(arg)->refreshCaps();
            },
            this));
        timeval now{0, 0};
        event_add(capsTimer_.get(), &now);
    }

    router::HookHandle listAccountItems(router::IqHandler handler) override {
        assert(!accountItems_ && "one lister of account items");
        accountItems_ = std::move(handler);
        return router::HookHandle([this] { accountItems_ = nullptr; });
    }

  private:
    std::vector<DiscoIdentity> hostIdentities() const {
        return {{"server", "im", "", std::string(kServerName)}};
    }

    std::vector<std::string> hostFeatures() const {
        return router_.hooks().features(IqTarget::Host);
    }

    /// Recomputes the caps hash from what is registered now and re-advertises it if it changed
    /// (a module loaded or unloaded since): the stream feature and the node that disco#info
    /// answers always agree.
    const std::string& refreshCaps() {
        std::string ver = capsVer(hostIdentities(), hostFeatures());
        if (ver != capsVer_) {
            capsVer_ = std::move(ver);
            // XEP-0115 §6.3: a server may announce its own capabilities as a stream feature.
            xml::Element c("c", std::string(ns::kCaps));
            c.setAttr("hash", "sha-1");
            c.setAttr("node", std::string(kCapsNode));
            c.setAttr("ver", capsVer_);
            capsFeature_ = router_.hooks().addStreamFeature(std::move(c));
        }
        return capsVer_;
    }

    static xml::Element infoQuery(std::string_view node, const std::vector<DiscoIdentity>& ids,
                                  const std::vector<std::string>& features) {
        xml::Element query("query", std::string(ns::kDiscoInfo));
        if (!node.empty()) {
            query.setAttr("node", std::string(node));
        }
        for (const auto& i : ids) {
            xml::Element& identity = query.addChild("identity");
            identity.setAttr("category", i.category);
            identity.setAttr("type", i.type);
            if (!i.lang.empty()) {
                identity.setAttr("lang", i.lang, xml::kXmlNs);
            }
            if (!i.name.empty()) {
                identity.setAttr("name", i.name);
            }
        }
        for (const auto& f : features) {
            query.addChild("feature").setAttr("var", f);
        }
        return query;
    }

    void hostInfo(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (iq.attr("type") != "get") {
            router_.bounce(iq, StanzaCondition::NotAllowed, "disco#info is get only");
            return;
        }
        const std::string_view node = iq.firstChildElement()->attr("node");
        const std::string& ver = refreshCaps();
        // XEP-0115 §6.2: the caps node answers exactly like the entity itself; other nodes are
        // unknown (XEP-0030 §3.2).
        if (!node.empty() && node != std::string(kCapsNode) + "#" + ver) {
            router_.bounce(iq, StanzaCondition::ItemNotFound, "no such node");
            return;
        }
        replyResult(router_, iq, from, to, infoQuery(node, hostIdentities(), hostFeatures()));
    }

    /// disco#info on an account's bare JID (XEP-0030 §3; the server answers for the account,
    /// RFC 6120 §10.5.3.1). Answered to anyone and identically whether the account exists or
    /// not, so that it reveals nothing and costs no database lookup: the identity
    /// account/registered, pubsub/pep once a PEP module registered account features, and the
    /// features modules registered for accounts.
    void accountInfo(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (iq.attr("type") != "get") {
            router_.bounce(iq, StanzaCondition::NotAllowed, "disco#info is get only");
            return;
        }
        if (!iq.firstChildElement()->attr("node").empty()) {
            router_.bounce(iq, StanzaCondition::ItemNotFound, "no such node");
            return;
        }
        std::vector<std::string> features = router_.hooks().features(IqTarget::Account);
        std::vector<DiscoIdentity> ids{{"account", "registered", "", ""}};
        const bool pep = std::any_of(features.begin(), features.end(), [](const std::string& f) {
            return f.starts_with(kPepFeaturePrefix);
        });
        if (pep) {
            ids.push_back({"pubsub", "pep", "", ""});  // XEP-0163 §6.1
        }
        replyResult(router_, iq, from, to, infoQuery({}, ids, features));
    }

    /// disco#items. Of a host: the services under it (components, MUC and upload domains
    /// whose domain is a subdomain of the host, XEP-0030 §4), whether their component is
    /// connected at the moment or not. Of an account without a lister (AccountDiscoItems):
    /// nothing. Nodes are unknown.
    void items(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (iq.attr("type") != "get") {
            router_.bounce(iq, StanzaCondition::NotAllowed, "disco#items is get only");
            return;
        }
        if (!iq.firstChildElement()->attr("node").empty()) {
            router_.bounce(iq, StanzaCondition::ItemNotFound, "no such node");
            return;
        }
        xml::Element query("query", std::string(ns::kDiscoItems));
        if (to.local().empty()) {
            const std::string suffix = "." + std::string(to.domain());
            for (const std::string& domain : router_.serviceDomains()) {
                if (domain.ends_with(suffix)) {
                    query.addChild("item").setAttr("jid", domain);
                }
            }
        }
        replyResult(router_, iq, from, to, std::move(query));
    }

    router::Router& router_;
    router::IqHandler accountItems_;
    util::EventPtr capsTimer_;
    std::string capsVer_;
    router::HookHandle capsFeature_;
};

const ModuleRegistrar kRegistrar({
    .name = "disco",
    .section = "disco",
    .provides = {Interface::of<AccountDiscoItems>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<DiscoModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
