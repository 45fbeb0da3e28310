#include "conf/config.h"

#include <sys/stat.h>

#include <cassert>
#include <cstdio>

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
        case ListenerType::Http:
            return "http";
        case ListenerType::Https:
            return "https";
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
        case ListenerType::Http:
            return 5280;  // customary for XMPP servers' HTTP (Prosody, ejabberd)
        case ListenerType::Https:
            return 5443;
    }
    return 5222;
}

namespace {

std::string whom(bool group, bool others) {
    return group && others ? "group and others" : group ? "group" : "others";
}

}  // namespace

std::optional<std::string> permissionWarning(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    const mode_t mode = st.st_mode;
    const bool groupRead = (mode & S_IRGRP) != 0, othersRead = (mode & S_IROTH) != 0;
    const bool groupWrite = (mode & S_IWGRP) != 0, othersWrite = (mode & S_IWOTH) != 0;
    const bool read = groupRead || othersRead, write = groupWrite || othersWrite;
    if (!read && !write) {
        return std::nullopt;
    }
    std::string exposure;
    if (read && write && groupRead == groupWrite && othersRead == othersWrite) {
        exposure = "readable and writable by " + whom(groupRead, othersRead);
    } else {
        if (read) {
            exposure = "readable by " + whom(groupRead, othersRead);
        }
        if (write) {
            exposure += (read ? ", writable by " : "writable by ") + whom(groupWrite, othersWrite);
        }
    }
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", static_cast<unsigned>(mode & 07777));
    return path + " is " + exposure + " (mode " + octal +
           "), but it holds the database DSN and may hold secrets: make it mode 600, owned by the "
           "user corvid runs as";
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
