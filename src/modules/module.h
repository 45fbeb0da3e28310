#pragma once

#include <event2/event.h>

#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "router/router.h"
#include "util/worker_pool.h"

namespace corvid::storage {
class Database;
}

namespace corvid::modules {

/// What a module may use: the router (with its hooks), the stores, the worker threads (for
/// CPU-heavy work such as PBKDF2, which must never run on the loop) and the config. A module
/// never touches sockets or session internals.
struct ModuleContext {
    event_base* base;
    router::Router& router;
    storage::Database& database;
    util::WorkerPool& workers;
    const conf::Config& config;
};

/// A loaded feature. It keeps the HookHandles it registered; destroying it unhooks everything.
class Module {
  public:
    virtual ~Module() = default;
    virtual std::string_view name() const = 0;

  protected:
    std::vector<router::HookHandle> hooks_;
};

using ModulePtr = std::unique_ptr<Module>;

/// Builds the modules the config enables, in dependency order.
std::vector<ModulePtr> loadModules(ModuleContext& context);

/// Replies to an iq with an empty result (or with `payload` inside).
void replyResult(router::Router& router, const xml::Element& iq, const stanza::Jid& from,
                 const stanza::Jid& to, std::optional<xml::Element> payload = std::nullopt);

}  // namespace corvid::modules
