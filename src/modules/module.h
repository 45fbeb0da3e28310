#pragma once

#include <event2/event.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "conf/config.h"
#include "router/router.h"
#include "util/worker_pool.h"

namespace corvid::storage {
class Database;
}

namespace corvid::modules {

/// The server-wide facts a module may need besides its own section: a short, explicit list (a
/// module never sees the whole conf::Config). A module that needs another one adds it here.
struct ServerFacts {
    std::size_t maxDirectedPresences = 256;  ///< limits.max_directed_presences (presence)
    int scramIterations = 4096;              ///< auth.scram_iterations (register)
};

/// The facts of this configuration.
ServerFacts serverFacts(const conf::Config& config);

/// What every module of one server may use: the loop, the router (with its hooks), the database
/// its stores run on and the worker threads (for CPU-heavy work such as PBKDF2, which must never
/// run on the loop). One per server, outliving its modules. A module never touches sockets or
/// session internals.
struct ModuleServices {
    event_base* base;
    router::Router& router;
    storage::Database& database;
    util::WorkerPool& workers;
    ServerFacts facts;
};

/// An interface a module offers to others (BlockingPolicy, RosterService ...): a C++ type,
/// named for messages by its `kInterfaceName`. Modules find one another by type, never by name.
struct Interface {
    std::type_index type;
    std::string_view name;

    template <class I>
    static Interface of() {
        return {std::type_index(typeid(I)), I::kInterfaceName};
    }
    bool operator==(const Interface& other) const { return type == other.type; }
};

class InterfaceTable;
struct ModuleSpec;

/// What a module is given while it is built: the server's services, its own config section
/// (`[modules.<section>]`), the server-wide facts and the interfaces its spec declared. Valid
/// during construction only: a module copies what it keeps (the references it holds, such as
/// `router` or an interface, outlive it).
class ModuleContext {
  public:
    ModuleContext(ModuleServices& services, const conf::ModuleConfig& section,
                  const ModuleSpec& spec, InterfaceTable& interfaces)
        : base(services.base),
          router(services.router),
          database(services.database),
          workers(services.workers),
          config(section),
          server(services.facts),
          spec_(spec),
          interfaces_(interfaces) {}

    event_base* const base;
    router::Router& router;
    storage::Database& database;
    util::WorkerPool& workers;
    const conf::ModuleConfig& config;  ///< its switch and options, defaults applied
    const ServerFacts& server;

    /// An interface the spec declares as required (Need::required<I>()): the registry builds
    /// the module only when an enabled module provides it.
    template <class I>
    I& require() const {
        return *static_cast<I*>(lookUp(Interface::of<I>(), true));
    }
    /// An interface the spec declares as optional (Need::optional<I>()): nullptr when no
    /// enabled module provides it.
    template <class I>
    I* find() const {
        return static_cast<I*>(lookUp(Interface::of<I>(), false));
    }
    /// Offers `impl` (usually the module itself) as interface I, which the spec declares in
    /// `provides`, to the modules built after this one.
    template <class I>
    void provide(I& impl) {
        offer(Interface::of<I>(), static_cast<void*>(&impl));
    }

  private:
    void* lookUp(const Interface& interface, bool required) const;
    void offer(const Interface& interface, void* impl);

    const ModuleSpec& spec_;
    InterfaceTable& interfaces_;
};

/// A loaded feature. It keeps the HookHandles it registered; destroying it unhooks everything.
/// Modules are built by the registry (modules/module_registry.h) in dependency order and
/// destroyed in the reverse order, so the interfaces a module uses outlive it.
class Module {
  public:
    virtual ~Module() = default;

  protected:
    std::vector<router::HookHandle> hooks_;
};

using ModulePtr = std::unique_ptr<Module>;

/// Replies to an iq with an empty result (or with `payload` inside).
void replyResult(router::Router& router, const xml::Element& iq, const stanza::Jid& from,
                 const stanza::Jid& to, std::optional<xml::Element> payload = std::nullopt);

}  // namespace corvid::modules
