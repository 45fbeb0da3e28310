#include "modules/module_registry.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <set>
#include <unordered_map>

namespace corvid::modules {

/// The interfaces offered so far while modules load.
class InterfaceTable {
  public:
    void* find(const Interface& interface) const {
        auto it = impls_.find(interface.type);
        return it == impls_.end() ? nullptr : it->second;
    }
    void offer(const Interface& interface, void* impl) { impls_[interface.type] = impl; }

  private:
    std::unordered_map<std::type_index, void*> impls_;
};

namespace {

std::vector<ModuleSpec>& registry() {
    static std::vector<ModuleSpec> specs;
    return specs;
}

[[maybe_unused]] bool declares(const std::vector<Need>& needs, const Interface& interface,
                               bool required) {
    return std::any_of(needs.begin(), needs.end(), [&](const Need& n) {
        return n.interface == interface && n.isRequired == required;
    });
}

bool provides(const ModuleSpec& spec, const Interface& interface) {
    return std::find(spec.provides.begin(), spec.provides.end(), interface) != spec.provides.end();
}

std::string quoted(std::string_view name) {
    return "'" + std::string(name) + "'";
}

}  // namespace

ServerFacts serverFacts(const conf::Config& config) {
    ServerFacts facts;
    facts.maxDirectedPresences = config.limits.maxDirectedPresences;
    facts.scramIterations = config.auth.scramIterations;
    return facts;
}

void* ModuleContext::lookUp(const Interface& interface, [[maybe_unused]] bool required) const {
    // A module asks only for what its spec declares: that is what orders the loading.
    assert(declares(spec_.needs, interface, required) && "interface not declared in the spec");
    void* impl = interfaces_.find(interface);
    assert((impl != nullptr || !required) && "planModules let a required interface go missing");
    return impl;
}

void ModuleContext::offer(const Interface& interface, void* impl) {
    assert(provides(spec_, interface) && "interface not declared in the spec's provides");
    interfaces_.offer(interface, impl);
}

ModuleRegistrar::ModuleRegistrar(ModuleSpec spec) {
    registry().push_back(std::move(spec));
}

const std::vector<ModuleSpec>& registeredModules() {
    return registry();
}

std::expected<std::vector<const ModuleSpec*>, std::string> planModules(
    const std::vector<ModuleSpec>& specs, const conf::Config& config) {
    std::vector<const ModuleSpec*> enabled;
    for (const ModuleSpec& spec : specs) {
        auto section = config.modules.find(spec.section);
        if (section == config.modules.end()) {
            return std::unexpected("module " + quoted(spec.name) + ": no [modules." +
                                   std::string(spec.section) + "] in the configuration schema");
        }
        if (spec.alwaysLoaded || section->second.enabled) {
            enabled.push_back(&spec);
        }
    }
    std::sort(enabled.begin(), enabled.end(),
              [](const ModuleSpec* a, const ModuleSpec* b) { return a->name < b->name; });

    // Who provides each interface among the enabled modules.
    std::map<std::type_index, const ModuleSpec*> providers;
    for (const ModuleSpec* spec : enabled) {
        for (const Interface& interface : spec->provides) {
            auto [it, fresh] = providers.emplace(interface.type, spec);
            if (!fresh) {
                return std::unexpected("modules " + quoted(it->second->name) + " and " +
                                       quoted(spec->name) + " both provide " +
                                       std::string(interface.name) + "; enable only one");
            }
        }
    }

    // Each enabled module depends on the providers of what it needs.
    std::map<const ModuleSpec*, std::set<const ModuleSpec*>> dependsOn;
    for (const ModuleSpec* spec : enabled) {
        auto& deps = dependsOn[spec];
        for (const Need& need : spec->needs) {
            auto it = providers.find(need.interface.type);
            if (it != providers.end()) {
                if (it->second != spec) {
                    deps.insert(it->second);
                }
                continue;
            }
            if (!need.isRequired) {
                continue;
            }
            std::string error = "module " + quoted(spec->name) + " (enabled by [modules." +
                                std::string(spec->section) + "]) needs " +
                                std::string(need.interface.name) + ", which ";
            auto candidate = std::find_if(specs.begin(), specs.end(), [&](const ModuleSpec& s) {
                return provides(s, need.interface);
            });
            if (candidate == specs.end()) {
                error += "no module of this build provides";
            } else {
                error += "module " + quoted(candidate->name) + " provides: enable it ([modules." +
                         std::string(candidate->section) + "] enabled = true) or disable " +
                         quoted(spec->name);
            }
            return std::unexpected(error);
        }
    }

    // Depth-first topological order; `enabled` is sorted by name, so ties go by name.
    std::vector<const ModuleSpec*> order;
    std::map<const ModuleSpec*, int> state;  // 1: on the current path, 2: placed
    std::vector<const ModuleSpec*> path;
    std::string cycle;
    auto visit = [&](auto& self, const ModuleSpec* spec) -> bool {
        if (state[spec] == 2) {
            return true;
        }
        if (state[spec] == 1) {
            auto from = std::find(path.begin(), path.end(), spec);
            for (auto it = from; it != path.end(); ++it) {
                cycle += quoted((*it)->name) + " needs ";
            }
            cycle += quoted(spec->name);
            return false;
        }
        state[spec] = 1;
        path.push_back(spec);
        for (const ModuleSpec* dep : dependsOn[spec]) {
            if (!self(self, dep)) {
                return false;
            }
        }
        path.pop_back();
        state[spec] = 2;
        order.push_back(spec);
        return true;
    };
    for (const ModuleSpec* spec : enabled) {
        if (!visit(visit, spec)) {
            return std::unexpected("modules depend on one another in a cycle: " + cycle);
        }
    }
    return order;
}

ModuleSet& ModuleSet::operator=(ModuleSet&& other) noexcept {
    if (this != &other) {
        clear();
        modules_ = std::move(other.modules_);
        names_ = std::move(other.names_);
    }
    return *this;
}

void ModuleSet::clear() {
    while (!modules_.empty()) {
        modules_.pop_back();
    }
    names_.clear();
}

std::expected<ModuleSet, std::string> loadModules(const std::vector<ModuleSpec>& specs,
                                                  ModuleServices& services,
                                                  const conf::Config& config) {
    auto plan = planModules(specs, config);
    if (!plan) {
        return std::unexpected(plan.error());
    }
    ModuleSet set;
    InterfaceTable interfaces;
    for (const ModuleSpec* spec : *plan) {
        ModuleContext context(services, config.modules.find(spec->section)->second, *spec,
                              interfaces);
        ModulePtr module = spec->make(context);
        if (module != nullptr) {
            set.modules_.push_back(std::move(module));
            set.names_.push_back(spec->name);
        }
        for (const Interface& interface : spec->provides) {
            if (interfaces.find(interface) == nullptr) {
                return std::unexpected("module " + quoted(spec->name) + " declares " +
                                       std::string(interface.name) + " but did not provide it");
            }
        }
    }
    return set;
}

}  // namespace corvid::modules
