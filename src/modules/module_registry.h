#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "modules/module.h"

namespace corvid::modules {

/// One interface a module uses.
struct Need {
    Interface interface;
    bool isRequired = true;

    /// The module cannot work without it: enabling the module without a provider is a
    /// configuration error.
    template <class I>
    static Need required() {
        return {Interface::of<I>(), true};
    }
    /// The module uses it when an enabled module provides it (ModuleContext::find() is null
    /// otherwise).
    template <class I>
    static Need optional() {
        return {Interface::of<I>(), false};
    }
};

/// How a module describes itself to the registry.
struct ModuleSpec {
    std::string_view name;
    /// Its table, [modules.<section>] in conf/schema.cpp: the `enabled` switch and the options
    /// the module reads. Usually the module's name; two modules may share one switch (presence
    /// comes with the roster).
    std::string_view section;
    /// Loaded whatever `enabled` says; the module reads the switch itself (register: password
    /// changes always work, `enabled` opens new registrations).
    bool alwaysLoaded = false;
    std::vector<Interface> provides;
    std::vector<Need> needs;
    /// Builds the module; nullptr when its configuration leaves it nothing to do (extdisco
    /// without services), which is not an error.
    ModulePtr (*make)(ModuleContext& context) = nullptr;
};

/// Adds a module to the build's registry. One per module file, at namespace scope:
///
///     const ModuleRegistrar kRegistrar({.name = "ping", .section = "ping",
///                                       .make = [](ModuleContext& c) -> ModulePtr {...}});
///
/// Registration runs before main (the registry is a function-local static, so the order of
/// static initialisation between files does not matter). The modules target is an object
/// library so that the linker keeps these objects, which nothing refers to.
class ModuleRegistrar {
  public:
    explicit ModuleRegistrar(ModuleSpec spec);
};

/// Every module this build has, in no particular order. Filled before main, never changed
/// after: the one global of the modules, and a constant one.
const std::vector<ModuleSpec>& registeredModules();

/// The modules `config` enables, in load order: every module after the modules that provide
/// what it needs (ties by name, so the order is the same from build to build). An error names
/// the module and what is wrong: a required interface without an enabled provider (and which
/// module would provide it), two enabled providers of one interface, a dependency cycle, or a
/// section the schema does not have.
std::expected<std::vector<const ModuleSpec*>, std::string> planModules(
    const std::vector<ModuleSpec>& specs, const conf::Config& config);

/// The loaded modules. Destroys them in the reverse of the load order: a module goes before
/// the modules whose interfaces it uses.
class ModuleSet {
  public:
    ModuleSet() = default;
    ModuleSet(ModuleSet&&) noexcept = default;
    ModuleSet& operator=(ModuleSet&& other) noexcept;
    ~ModuleSet() { clear(); }

    void clear();
    /// Names in load order.
    const std::vector<std::string_view>& names() const { return names_; }

  private:
    friend std::expected<ModuleSet, std::string> loadModules(const std::vector<ModuleSpec>&,
                                                             ModuleServices&, const conf::Config&);
    std::vector<ModulePtr> modules_;
    std::vector<std::string_view> names_;
};

/// Plans (planModules) and builds the enabled modules, handing each its section, the facts and
/// the interfaces it declared.
std::expected<ModuleSet, std::string> loadModules(const std::vector<ModuleSpec>& specs,
                                                  ModuleServices& services,
                                                  const conf::Config& config);

}  // namespace corvid::modules
