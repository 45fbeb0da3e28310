#include "modules/extdisco.h"

#include "modules/module_registry.h"
#include "modules/time.h"
#include "sasl/base64.h"
#include "sasl/crypto.h"
#include "stanza/ns.h"

namespace corvid::modules {

namespace ns = stanza::ns;
using stanza::Jid;
using stanza::StanzaCondition;

TurnCredentials turnCredentials(std::string_view secret, std::int64_t expiry,
                                std::string_view user) {
    TurnCredentials c;
    c.username = std::to_string(expiry);
    if (!user.empty()) {
        c.username += ':';
        c.username += user;
    }
    c.password = sasl::encodeBase64(sasl::hmac(sasl::Hash::Sha1, secret, c.username));
    return c;
}

std::vector<ExternalService> externalServices(const conf::OptionTable& options) {
    std::vector<ExternalService> out;
    for (const conf::OptionTable& t : options.getTables("services")) {
        ExternalService s;
        s.type = *t.findString("type");
        s.host = *t.findString("host");
        const bool tls = s.type == "stuns" || s.type == "turns";
        s.port = static_cast<std::uint16_t>(t.findInt("port").value_or(tls ? 5349 : 3478));
        auto text = [&t](std::string_view name) {
            const std::string* v = t.findString(name);
            return v != nullptr ? *v : std::string();
        };
        s.transport = text("transport");
        s.username = text("username");
        s.password = text("password");
        s.secret = text("secret");
        out.push_back(std::move(s));
    }
    return out;
}

xml::Element serviceElement(const ExternalService& service, std::string_view user,
                            std::chrono::system_clock::time_point now,
                            std::chrono::seconds lifetime) {
    xml::Element e("service", std::string(ns::kExternalServices));
    e.setAttr("type", service.type);
    e.setAttr("host", service.host);
    e.setAttr("port", std::to_string(service.port));
    if (!service.transport.empty()) {
        e.setAttr("transport", service.transport);
    }
    if (!service.secret.empty()) {
        const std::time_t expiry = std::chrono::system_clock::to_time_t(now + lifetime);
        TurnCredentials c = turnCredentials(service.secret, expiry, user);
        e.setAttr("username", std::move(c.username));
        e.setAttr("password", std::move(c.password));
        e.setAttr("expires", utcStamp(expiry));
        e.setAttr("restricted", "1");
    } else if (!service.username.empty()) {
        e.setAttr("username", service.username);
        if (!service.password.empty()) {
            e.setAttr("password", service.password);
        }
        e.setAttr("restricted", "1");
    }
    return e;
}

namespace {

/// XEP-0215 v1.0 (urn:xmpp:extdisco:2) on the hosts' domains: the configured STUN and TURN
/// services, to the hosts' own users only.
class ExtdiscoModule final : public Module {
  public:
    ExtdiscoModule(ModuleContext& context, std::vector<ExternalService> services)
        : router_(context.router),
          services_(std::move(services)),
          lifetime_(context.config.options.getInt("credential_lifetime_s")) {
        router::Hooks& hooks = router_.hooks();
        for (std::string name : {"services", "credentials"}) {
            hooks_.push_back(
                hooks.addIq(router::IqTarget::Host, std::string(ns::kExternalServices), name,
                            [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                   router::LocalSession*) { answer(iq, from, to); }));
        }
        hooks_.push_back(
            hooks.addFeature(router::IqTarget::Host, std::string(ns::kExternalServices)));
    }

  private:
    void answer(const xml::Element& iq, const Jid& from, const Jid& to) {
        const xml::Element& request = *iq.firstChildElement();
        if (iq.attr("type") != "get") {
            router_.bounce(iq, StanzaCondition::BadRequest,
                           "external service discovery is get only");
            return;
        }
        // The services, and their credentials above all, are for this server's users.
        if (from.local().empty() || !router_.isLocalDomain(from.domain())) {
            router_.bounce(iq, StanzaCondition::Forbidden,
                           "these services are for the users of this server");
            return;
        }
        const std::string user = from.bare().full();
        const auto now = std::chrono::system_clock::now();
        xml::Element reply(request.name(), std::string(ns::kExternalServices));
        if (request.name() == "services") {
            // XEP-0215 §3.1: all services, or those of one type.
            const std::string_view type = request.attr("type");
            for (const ExternalService& s : services_) {
                if (type.empty() || s.type == type) {
                    reply.addChild(serviceElement(s, user, now, lifetime_));
                }
            }
        } else {
            // XEP-0215 §3.3: fresh credentials for the service named by host and type (and
            // port, if given).
            const xml::Element* wanted = request.findChild("service");
            const ExternalService* match = wanted != nullptr ? find(*wanted) : nullptr;
            if (match == nullptr) {
                router_.bounce(iq, StanzaCondition::ItemNotFound,
                               wanted == nullptr
                                   ? "name the service: <service host='...' type='...'/>"
                                   : "no such service here");
                return;
            }
            reply.addChild(serviceElement(*match, user, now, lifetime_));
        }
        replyResult(router_, iq, from, to, std::move(reply));
    }

    const ExternalService* find(const xml::Element& wanted) const {
        const std::string_view host = wanted.attr("host");
        const std::string_view type = wanted.attr("type");
        const std::string_view port = wanted.attr("port");
        for (const ExternalService& s : services_) {
            if (s.host == host && s.type == type &&
                (port.empty() || port == std::to_string(s.port))) {
                return &s;
            }
        }
        return nullptr;
    }

    router::Router& router_;
    std::vector<ExternalService> services_;
    std::chrono::seconds lifetime_;
};

const ModuleRegistrar kRegistrar({
    .name = "extdisco",
    .section = "extdisco",
    .make = [](ModuleContext& c) -> ModulePtr {
        auto services = externalServices(c.config.options);
        if (services.empty()) {
            return nullptr;  // nothing to announce: no handler, no feature
        }
        return std::make_unique<ExtdiscoModule>(c, std::move(services));
    },
});

}  // namespace

}  // namespace corvid::modules
