#include "conf/config.h"

#include <cassert>

namespace corvid::conf {

std::string ConfigError::format() const {
    std::string out = file;
    if (line != 0) {
        out += ':' + std::to_string(line) + ':' + std::to_string(column);
    }
    out += ": ";
    if (!key.empty()) {
        out += key + ": ";
    }
    out += message;
    return out;
}

std::string_view toString(ListenerType type) {
    switch (type) {
        case ListenerType::C2s:
            return "c2s";
        case ListenerType::C2sDirectTls:
            return "c2s_direct_tls";
        case ListenerType::S2s:
            return "s2s";
        case ListenerType::S2sDirectTls:
            return "s2s_direct_tls";
        case ListenerType::Component:
            return "component";
    }
    return "c2s";
}

std::uint16_t defaultPort(ListenerType type) {
    switch (type) {
        case ListenerType::C2s:
            return 5222;  // RFC 6120 §14.7
        case ListenerType::C2sDirectTls:
            return 5223;  // XEP-0368 §3 (customary)
        case ListenerType::S2s:
            return 5269;  // RFC 6120 §14.7
        case ListenerType::S2sDirectTls:
            return 5270;  // XEP-0368 §3 (customary)
        case ListenerType::Component:
            return 5347;  // XEP-0114 (customary)
    }
    return 5222;
}

const ModuleConfig& Config::module(std::string_view name) const {
    const auto it = modules.find(name);
    assert(it != modules.end() && "module not declared in conf/schema.cpp");
    if (it == modules.end()) {
        static const ModuleConfig kUnknown;
        return kUnknown;
    }
    return it->second;
}

const HostConfig* Config::findHost(std::string_view domain) const {
    for (const HostConfig& h : hosts) {
        if (h.domain == domain) {
            return &h;
        }
    }
    return nullptr;
}

}  // namespace corvid::conf
