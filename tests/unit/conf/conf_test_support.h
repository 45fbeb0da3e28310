#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace corvid::conf::test {

/// The smallest valid configuration: the required keys and a certificate for the host.
inline const std::string kMinimal =
    "[database]\n"
    "dsn = \"dbname=corvid\"\n"
    "[tls]\n"
    "certificate = \"/etc/corvid/cert.pem\"\n"
    "key = \"/etc/corvid/key.pem\"\n"
    "[[hosts]]\n"
    "domain = \"example.org\"\n";

/// Loads text that must be valid.
inline Config load(std::string_view text) {
    auto result = loadConfigString(text, "corvid.toml");
    if (!result) {
        for (const ConfigError& e : result.error()) {
            UNSCOPED_INFO(e.format());
        }
    }
    REQUIRE(result.has_value());
    return std::move(*result);
}

/// Loads text that must be rejected; returns the errors.
inline std::vector<ConfigError> errorsOf(std::string_view text) {
    auto result = loadConfigString(text, "corvid.toml");
    REQUIRE_FALSE(result.has_value());
    return result.error();
}

/// The one error about `key`; fails the test if there is not exactly one.
inline ConfigError errorFor(const std::vector<ConfigError>& errors, std::string_view key) {
    std::vector<ConfigError> found;
    for (const ConfigError& e : errors) {
        if (e.key == key) {
            found.push_back(e);
        }
    }
    for (const ConfigError& e : errors) {
        UNSCOPED_INFO(e.format());
    }
    REQUIRE(found.size() == 1);
    return found.front();
}

}  // namespace corvid::conf::test
