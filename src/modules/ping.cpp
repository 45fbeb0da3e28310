#include "modules/module_registry.h"
#include "stanza/ns.h"

namespace corvid::modules {

namespace {

/// XEP-0199 XMPP Ping: the server answers pings addressed to it.
class PingModule final : public Module {
  public:
    explicit PingModule(ModuleContext& context) {
        router::Router& router = context.router;
        hooks_.push_back(router.hooks().addIq(
            router::IqTarget::Host, std::string(stanza::ns::kPing), "ping",
            [&router](const xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to,
                      router::LocalSession*) { replyResult(router, iq, from, to); }));
        // A ping to one's own bare JID is answered by the server for the account (RFC 6120
        // §10.5.3.1); to another account's, service-unavailable whether it exists or not.
        hooks_.push_back(router.hooks().addIq(
            router::IqTarget::Account, std::string(stanza::ns::kPing), "ping",
            [&router](const xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to,
                      router::LocalSession*) {
                if (from.bare() == to) {
                    replyResult(router, iq, from, to);
                } else {
                    router.bounce(iq, stanza::StanzaCondition::ServiceUnavailable);
                }
            }));
        hooks_.push_back(
            router.hooks().addFeature(router::IqTarget::Host, std::string(stanza::ns::kPing)));
    }
};

const ModuleRegistrar kRegistrar({
    .name = "ping",
    .section = "ping",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<PingModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
