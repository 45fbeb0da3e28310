// corvid: the XMPP server daemon.
//
//   corvid --config FILE         run the server
//   corvid --check-config FILE   validate FILE; print "ok" or every error (exit 1), and warn
//                                when others than its owner may read or write it

#include <cstdio>
#include <cstring>
#include <string>

#include "conf/config.h"
#include "modules/module_registry.h"
#include "server.h"
#include "util/log.h"

namespace {

void usage(std::FILE* out) {
    std::fputs(
        "usage: corvid --config FILE        run the XMPP server\n"
        "       corvid --check-config FILE  check a configuration file and exit\n"
        "       corvid --version\n",
        out);
}

spdlog::level::level_enum toSpdlog(corvid::conf::LogLevel level) {
    using L = corvid::conf::LogLevel;
    switch (level) {
        case L::Trace:
            return spdlog::level::trace;
        case L::Debug:
            return spdlog::level::debug;
        case L::Info:
            return spdlog::level::info;
        case L::Warn:
            return spdlog::level::warn;
        case L::Error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

}  // namespace

int main(int argc, char** argv) {
    std::string configPath;
    bool checkOnly = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c" || arg == "--check-config") && i + 1 < argc) {
            checkOnly = checkOnly || arg == "--check-config";
            configPath = argv[++i];
        } else if (arg == "--version") {
            std::puts("corvid 0.1.0");
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (configPath.empty()) {
        usage(stderr);
        return 2;
    }
    auto config = corvid::conf::loadConfigFile(configPath);
    if (!config) {
        for (const auto& error : config.error()) {
            std::fprintf(stderr, "%s\n", error.format().c_str());
        }
        return 1;
    }
    // Modules that need a disabled one (and other module errors) are configuration errors too.
    if (auto plan = corvid::modules::planModules(corvid::modules::registeredModules(), *config);
        !plan) {
        std::fprintf(stderr, "%s: %s\n", configPath.c_str(), plan.error().c_str());
        return 1;
    }
    const auto exposed = corvid::conf::permissionWarning(configPath);
    if (checkOnly) {
        if (exposed) {
            std::fprintf(stderr, "warning: %s\n", exposed->c_str());
        }
        std::puts("ok");
        return 0;
    }
    spdlog::set_level(toSpdlog(config->server.logLevel));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    if (exposed) {
        corvid::log::warn("{}", *exposed);
    }
    corvid::Server server(std::move(*config));
    return server.run();
}
