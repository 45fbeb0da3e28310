// Multi-user chat (XEP-0045): one chat service per host at conference.<host>, or one at
// [modules.muc] domain, each a domain service of the router (modules/muc/service.h).

#include <memory>
#include <vector>

#include "modules/module_registry.h"
#include "modules/muc/service.h"
#include "util/log.h"

namespace corvid::modules {

namespace {

/// The history length of a new room (muc#maxhistoryfetch), within the service's ceiling.
constexpr int kDefaultHistory = 20;

class MucModule final : public Module {
  public:
    explicit MucModule(ModuleContext& context) {
        const conf::OptionTable& options = context.config.options;
        muc::ServiceSettings base;
        base.limits.maxHistory = static_cast<int>(options.getInt("max_history"));
        base.defaults.historyLength = std::min(kDefaultHistory, base.limits.maxHistory);
        base.limits.maxUsers = static_cast<int>(options.getInt("max_occupants"));
        base.createRooms = options.getString("create_rooms") == "nobody" ? muc::CreateRooms::Nobody
                                                                         : muc::CreateRooms::Local;
        std::vector<std::string> domains;
        if (const std::string* domain = options.findString("domain")) {
            domains.push_back(*domain);
        } else {
            for (const std::string& host : context.router.localDomains()) {
                domains.push_back("conference." + host);
            }
        }
        for (auto& domain : domains) {
            muc::ServiceSettings settings = base;
            settings.domain = domain;
            auto service = std::make_unique<muc::MucService>(context.router, context.database,
                                                             std::move(settings));
            hooks_.push_back(context.router.addDomainService(
                domain, [s = service.get()](xml::Element&& stanza, const stanza::Jid& from,
                                            const stanza::Jid& to, router::LocalSession*) {
                    s->handle(std::move(stanza), from, to);
                }));
            log::info("multi-user chat at {}", domain);
            services_.push_back(std::move(service));
        }
    }

    ~MucModule() override {
        hooks_.clear();  // unregistered before the services they point to go
    }

  private:
    std::vector<std::unique_ptr<muc::MucService>> services_;
};

const ModuleRegistrar kRegistrar({
    .name = "muc",
    .section = "muc",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<MucModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
