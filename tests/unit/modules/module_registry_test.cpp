#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "conf/schema.h"
#include "modules/module_registry.h"
#include "router/router.h"
#include "storage/database.h"
#include "util/c_handles.h"
#include "util/worker_pool.h"

using namespace corvid;
using namespace corvid::modules;

namespace {

// Two interfaces and four small modules that provide or use them. They write what happens to
// them into `events`, so the tests see the order of construction and destruction.
std::vector<std::string> events;

class Greeter {
  public:
    static constexpr std::string_view kInterfaceName = "the greeter";
    virtual std::string greet() const = 0;

  protected:
    ~Greeter() = default;
};

class Counter {
  public:
    static constexpr std::string_view kInterfaceName = "the counter";
    virtual int count() const = 0;

  protected:
    ~Counter() = default;
};

class GreeterModule final : public Module, public Greeter {
  public:
    explicit GreeterModule(ModuleContext& context) {
        context.provide<Greeter>(*this);
        events.push_back("greeter built");
    }
    ~GreeterModule() override { events.push_back("greeter gone"); }
    std::string greet() const override { return "hello"; }
};

class PoliteModule final : public Module {
  public:
    explicit PoliteModule(ModuleContext& context) : greeter_(context.require<Greeter>()) {
        events.push_back("polite built: " + greeter_.greet());
    }
    ~PoliteModule() override { events.push_back("polite gone: " + greeter_.greet()); }

  private:
    Greeter& greeter_;
};

class CounterModule final : public Module, public Counter {
  public:
    explicit CounterModule(ModuleContext& context) {
        context.provide<Counter>(*this);
        events.push_back("counter built");
    }
    int count() const override { return 42; }
};

class CuriousModule final : public Module {
  public:
    explicit CuriousModule(ModuleContext& context) {
        const Counter* counter = context.find<Counter>();
        events.push_back(counter ? "curious built: " + std::to_string(counter->count())
                                 : "curious built: no counter");
    }
};

ModuleSpec greeterSpec() {
    return {
        .name = "greeter",
        .section = "a",
        .provides = {Interface::of<Greeter>()},
        .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<GreeterModule>(c); }};
}
ModuleSpec politeSpec() {
    return {
        .name = "polite",
        .section = "b",
        .needs = {Need::required<Greeter>()},
        .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<PoliteModule>(c); }};
}
ModuleSpec counterSpec() {
    return {
        .name = "counter",
        .section = "c",
        .provides = {Interface::of<Counter>()},
        .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<CounterModule>(c); }};
}
ModuleSpec curiousSpec() {
    return {
        .name = "curious",
        .section = "d",
        .needs = {Need::optional<Counter>()},
        .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<CuriousModule>(c); }};
}

/// A configuration with these sections, each enabled or not.
conf::Config configWith(std::initializer_list<std::pair<const char*, bool>> sections) {
    conf::Config config;
    for (const auto& [name, enabled] : sections) {
        config.modules[name] = conf::ModuleConfig{name, enabled, {}};
    }
    return config;
}

/// What a module needs from the server, without a network: the database is never started.
struct Services {
    util::EventBasePtr base{event_base_new()};
    router::Router router;
    storage::Database database{base.get(), storage::DbConfig{}};
    util::WorkerPool workers{base.get(), 1, 4};
    ModuleServices services{base.get(), router, database, workers, ServerFacts{}};
};

std::vector<std::string_view> names(const std::vector<const ModuleSpec*>& plan) {
    std::vector<std::string_view> out;
    for (const ModuleSpec* spec : plan) {
        out.push_back(spec->name);
    }
    return out;
}

}  // namespace

TEST_CASE("registry: a module loads after the modules it needs, and goes before them",
          "[modules][registry]") {
    events.clear();
    Services s;
    // Listed before its provider: the order of the list does not matter.
    const std::vector<ModuleSpec> specs{politeSpec(), greeterSpec()};
    auto loaded = loadModules(specs, s.services, configWith({{"a", true}, {"b", true}}));
    REQUIRE(loaded);
    CHECK(loaded->names() == std::vector<std::string_view>{"greeter", "polite"});
    CHECK(events == std::vector<std::string>{"greeter built", "polite built: hello"});
    loaded->clear();
    // The user of an interface is destroyed while its provider still exists.
    CHECK(events == std::vector<std::string>{"greeter built", "polite built: hello",
                                             "polite gone: hello", "greeter gone"});
}

TEST_CASE("registry: order by dependencies, ties by name", "[modules][registry]") {
    const std::vector<ModuleSpec> specs{curiousSpec(), politeSpec(), counterSpec(), greeterSpec()};
    auto plan =
        planModules(specs, configWith({{"a", true}, {"b", true}, {"c", true}, {"d", true}}));
    REQUIRE(plan);
    CHECK(names(*plan) == std::vector<std::string_view>{"counter", "curious", "greeter", "polite"});
}

TEST_CASE("registry: a required interface without an enabled provider is an error",
          "[modules][registry]") {
    events.clear();
    Services s;
    SECTION("its provider is disabled") {
        const std::vector<ModuleSpec> specs{politeSpec(), greeterSpec()};
        auto loaded = loadModules(specs, s.services, configWith({{"a", false}, {"b", true}}));
        REQUIRE_FALSE(loaded);
        CHECK(loaded.error() ==
              "module 'polite' (enabled by [modules.b]) needs the greeter, which module 'greeter' "
              "provides: enable it ([modules.a] enabled = true) or disable 'polite'");
    }
    SECTION("no module of the build provides it") {
        const std::vector<ModuleSpec> specs{politeSpec()};
        auto loaded = loadModules(specs, s.services, configWith({{"b", true}}));
        REQUIRE_FALSE(loaded);
        CHECK(loaded.error() ==
              "module 'polite' (enabled by [modules.b]) needs the greeter, "
              "which no module of this build provides");
    }
    CHECK(events.empty());  // nothing was built
    SECTION("a disabled module needs nothing") {
        const std::vector<ModuleSpec> specs{politeSpec(), greeterSpec()};
        auto plan = planModules(specs, configWith({{"a", false}, {"b", false}}));
        REQUIRE(plan);
        CHECK(plan->empty());
    }
}

TEST_CASE("registry: an optional interface is null without an enabled provider",
          "[modules][registry]") {
    events.clear();
    Services s;
    const std::vector<ModuleSpec> specs{curiousSpec(), counterSpec()};
    {
        auto loaded = loadModules(specs, s.services, configWith({{"c", false}, {"d", true}}));
        REQUIRE(loaded);
        CHECK(loaded->names() == std::vector<std::string_view>{"curious"});
    }
    {
        auto loaded = loadModules(specs, s.services, configWith({{"c", true}, {"d", true}}));
        REQUIRE(loaded);
        CHECK(loaded->names() == std::vector<std::string_view>{"counter", "curious"});
    }
    CHECK(events == std::vector<std::string>{"curious built: no counter", "counter built",
                                             "curious built: 42"});
}

TEST_CASE("registry: two providers of one interface, cycles and unknown sections are errors",
          "[modules][registry]") {
    SECTION("two providers") {
        ModuleSpec other = greeterSpec();
        other.name = "other-greeter";
        other.section = "b";
        const std::vector<ModuleSpec> specs{greeterSpec(), other};
        auto plan = planModules(specs, configWith({{"a", true}, {"b", true}}));
        REQUIRE_FALSE(plan);
        CHECK(plan.error() ==
              "modules 'greeter' and 'other-greeter' both provide the greeter; enable only one");
    }
    SECTION("a cycle") {
        ModuleSpec greeter = greeterSpec();
        greeter.needs = {Need::optional<Counter>()};
        ModuleSpec counter = counterSpec();
        counter.needs = {Need::required<Greeter>()};
        const std::vector<ModuleSpec> specs{greeter, counter};
        auto plan = planModules(specs, configWith({{"a", true}, {"c", true}}));
        REQUIRE_FALSE(plan);
        CHECK(
            plan.error() ==
            "modules depend on one another in a cycle: 'counter' needs 'greeter' needs 'counter'");
    }
    SECTION("a section the schema does not have") {
        const std::vector<ModuleSpec> specs{greeterSpec()};
        auto plan = planModules(specs, configWith({{"b", true}}));
        REQUIRE_FALSE(plan);
        CHECK(plan.error() == "module 'greeter': no [modules.a] in the configuration schema");
    }
}

TEST_CASE("registry: every module of the schema is built and registers itself",
          "[modules][registry]") {
    const std::vector<ModuleSpec>& specs = registeredModules();
    std::set<std::string_view> sections;
    std::set<std::string_view> specNames;
    for (const ModuleSpec& spec : specs) {
        sections.insert(spec.section);
        CHECK(specNames.insert(spec.name).second);  // names are unique
        CHECK(spec.make != nullptr);
    }
    const std::vector<std::string_view> schemaModules = conf::moduleNames();
    // Stream management is part of the c2s core (it counts what crosses the transport and keeps
    // the session when the transport goes); the server reads [modules.sm] into C2sSettings.
    const std::set<std::string_view> readByTheCore = {"sm"};
    for (std::string_view name : schemaModules) {
        INFO("[modules." << name << "] has no module that registers for it");
        CHECK((sections.contains(name) || readByTheCore.contains(name)));
    }
    for (std::string_view section : sections) {
        INFO("a module registers for [modules." << section << "], which the schema lacks");
        CHECK(std::find(schemaModules.begin(), schemaModules.end(), section) !=
              schemaModules.end());
    }
    // The IM core and the features the integration tests use (a linker that dropped a module's
    // registration would show here first).
    for (std::string_view name :
         {"roster", "presence", "offline", "blocking", "disco", "pep", "ping", "register"}) {
        CHECK(specNames.contains(name));
    }
}

TEST_CASE("registry: the built modules load with the defaults, providers first",
          "[modules][registry]") {
    auto config = conf::loadConfigString(
        "[database]\ndsn = \"dbname=corvid\"\n[tls]\ncertificate = \"/c.pem\"\nkey = \"/k.pem\"\n"
        "[[hosts]]\ndomain = \"example.org\"\n",
        "corvid.toml");
    REQUIRE(config);
    Services s;
    s.services.facts = serverFacts(*config);
    auto loaded = loadModules(registeredModules(), s.services, *config);
    REQUIRE(loaded);
    const std::vector<std::string_view>& order = loaded->names();
    auto position = [&](std::string_view name) {
        return std::find(order.begin(), order.end(), name) - order.begin();
    };
    // Every module the defaults enable is there (register is off by default but always loaded),
    // except extdisco, which has no services to announce by default and so builds nothing.
    for (const ModuleSpec& spec : registeredModules()) {
        const bool enabled = spec.alwaysLoaded || config->module(spec.section).enabled;
        INFO(spec.name);
        CHECK((position(spec.name) < std::ssize(order)) == (enabled && spec.name != "extdisco"));
    }
    CHECK(position("upload") == std::ssize(order));  // off by default
    for (const ModuleSpec& spec : registeredModules()) {
        for (const Need& need : spec.needs) {
            for (const ModuleSpec& provider : registeredModules()) {
                if (std::find(provider.provides.begin(), provider.provides.end(), need.interface) !=
                    provider.provides.end()) {
                    INFO(spec.name << " needs " << need.interface.name << " of " << provider.name);
                    CHECK(position(provider.name) < position(spec.name));
                }
            }
        }
    }
}

TEST_CASE("registry: without the roster, presence is not loaded and the rest is",
          "[modules][registry]") {
    auto config = conf::loadConfigString(
        "[database]\ndsn = \"dbname=corvid\"\n[tls]\ncertificate = \"/c.pem\"\nkey = \"/k.pem\"\n"
        "[[hosts]]\ndomain = \"example.org\"\n"
        "[modules.roster]\nenabled = false\n[modules.blocking]\nenabled = false\n"
        "[modules.disco]\nenabled = false\n",
        "corvid.toml");
    REQUIRE(config);
    Services s;
    auto loaded = loadModules(registeredModules(), s.services, *config);
    REQUIRE(loaded);
    const auto& order = loaded->names();
    CHECK(std::find(order.begin(), order.end(), "presence") == order.end());
    CHECK(std::find(order.begin(), order.end(), "roster") == order.end());
    CHECK(std::find(order.begin(), order.end(), "pep") != order.end());
    CHECK(std::find(order.begin(), order.end(), "offline") != order.end());
}
