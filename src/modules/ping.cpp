#include "modules/ping.h"

#include "stanza/ns.h"

namespace corvid::modules {

namespace {

class PingModule final : public Module {
  public:
    explicit PingModule(ModuleContext& context) {
        router::Router& router = context.router;
        hooks_.push_back(router.hooks().addIq(
            router::IqTarget::Host, std::string(stanza::ns::kPing), "ping",
            [&router](const xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to,
                      router::LocalSession*) { replyResult(router, iq, from, to); }));
        hooks_.push_back(
            router.hooks().addFeature(router::IqTarget::Host, std::string(stanza::ns::kPing)));
    }
    std::string_view name() const override { return "ping"; }
};

}  // namespace

ModulePtr makePingModule(ModuleContext& context) {
    return std::make_unique<PingModule>(context);
}

}  // namespace corvid::modules
