#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config_error.h"
#include "conf/option_table.h"

namespace corvid::conf {

// The typed model of corvid.toml. Every field mirrors one key of conf/schema.cpp (see
// docs/configuration.md); names are the TOML keys in camelCase, durations are std::chrono types
// without the unit suffix. A Config returned by the loader is complete and valid: defaults are
// applied, domains and JIDs are normalised, cross-key rules hold.

enum class LogLevel { Trace, Debug, Info, Warn, Error };

/// What binding a resource that is already in use does (RFC 6120 §7.7.2.2).
enum class ResourceConflict { Replace, Reject, Rename };

enum class TlsVersion { Tls12, Tls13 };

enum class ListenerType { C2s, C2sDirectTls, S2s, S2sDirectTls, Component, Http, Https };

/// The configuration spelling of the listener type ("c2s_direct_tls").
std::string_view toString(ListenerType type);
/// The port a listener of this type uses when none is configured.
std::uint16_t defaultPort(ListenerType type);

struct ServerConfig {
    LogLevel logLevel = LogLevel::Info;
    std::optional<std::string> pidFile;  ///< never set while server.pid_file is not built
    ResourceConflict bindResourceConflict = ResourceConflict::Replace;
};

struct DatabaseConfig {
    std::string dsn;  ///< libpq conninfo string or URI
    int connections = 2;
    std::chrono::milliseconds statementTimeout{5000};  ///< 0 = no limit
    std::chrono::milliseconds connectTimeout{5000};
    std::chrono::milliseconds reconnectMaxBackoff{30000};
};

struct TlsConfig {
    std::optional<std::string> certificate;  ///< default for hosts without their own
    std::optional<std::string> key;
    TlsVersion minVersion = TlsVersion::Tls12;
    std::optional<std::string> ciphers;       ///< OpenSSL cipher list (TLS 1.2)
    std::optional<std::string> ciphersuites;  ///< OpenSSL ciphersuites (TLS 1.3)
};

struct HostConfig {
    std::string domain;  ///< normalised domainpart
    /// The host's own certificate and key, or else [tls]'s; both set or both unset. Unset only
    /// when the configuration runs without TLS (auth.allow_plaintext, no direct-TLS listener,
    /// s2s disabled).
    std::optional<std::string> certificate;
    std::optional<std::string> key;
    std::vector<std::string> admins;  ///< normalised bare JIDs; empty while not built
};

struct ListenerConfig {
    ListenerType type = ListenerType::C2s;
    std::string address = "0.0.0.0";  ///< an IPv4 or IPv6 literal
    std::uint16_t port = 5222;
};

struct LimitsConfig {
    std::size_t maxStanzaBytes = 262144;
    std::size_t maxStanzaBytesPreauth = 16384;
    std::size_t maxDepth = 32;
    std::size_t maxAttributes = 64;
    std::chrono::seconds streamHeaderTimeout{10};
    std::chrono::seconds authTimeout{30};
    std::chrono::seconds idleTimeout{900};  ///< 0 = never
    std::size_t maxConnectionsPerIp = 64;
    std::size_t outputBufferBytes = 1048576;
    std::size_t s2sMaxStanzaBytes = 524288;
    std::size_t s2sQueueMax = 1000;
    std::size_t workerQueueMax = 1024;
    std::size_t maxDirectedPresences = 256;  ///< per session (RFC 6121 §4.6)
};

/// The HTTP(S) listeners' bounds ([http]).
struct HttpConfig {
    std::size_t maxHeaderBytes = 8192;
    std::size_t maxBodyBytes = 1048576;
    std::chrono::seconds headerTimeout{10};
    std::chrono::seconds idleTimeout{60};
    std::size_t maxConnectionsPerIp = 32;
    bool websocket = true;  ///< /xmpp-websocket (RFC 7395)
    std::vector<std::string> websocketOrigins = {"*"};
    bool trustLoopbackProxy = true;
    std::optional<std::string> publicUrl;  ///< for host-meta (XEP-0156); unset: from Host
};

struct AuthConfig {
    /// SASL mechanism names in order of preference.
    std::vector<std::string> mechanisms = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                                           "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"};
    bool allowPlaintext = false;
    int scramIterations = 4096;
    int maxFailuresPerIp = 5;
    int maxFailuresPerAccount = 10;
    std::chrono::seconds failureWindow{300};
};

struct StaticRoute {
    std::string host;  ///< host name or IP literal (without brackets)
    std::uint16_t port = 5269;

    bool operator==(const StaticRoute&) const = default;
};

struct S2sConfig {
    bool enabled = true;
    bool requireValidCertificate = true;
    bool dialback = true;
    bool dialbackWithoutCertificate = false;
    std::optional<std::string> dialbackSecret;  ///< unset: generate a random one at start
    std::chrono::seconds idleTimeout{600};      ///< 0 = never
    std::chrono::seconds connectTimeout{30};
    std::optional<std::string> caFile;
    std::map<std::string, StaticRoute, std::less<>> routes;  ///< normalised domain -> route
    bool allowPrivateAddresses = false;  ///< connect where DNS gives a non-public address
};

struct ComponentConfig {
    std::string domain;  ///< normalised domainpart
    std::string secret;
};

/// A module's switch and options. New modules only add schema rows; they read their options
/// with the OptionTable getters (`config.module("offline").options.getInt("max_messages")`).
struct ModuleConfig {
    std::string name;
    bool enabled = false;
    OptionTable options;  ///< every option except `enabled`, defaults applied
};

struct Config {
    std::string sourceName;  ///< where it was loaded from, for log messages
    ServerConfig server;
    DatabaseConfig database;
    TlsConfig tls;
    std::vector<HostConfig> hosts;
    std::vector<ListenerConfig> listeners;
    LimitsConfig limits;
    HttpConfig http;
    AuthConfig auth;
    S2sConfig s2s;
    std::vector<ComponentConfig> components;  ///< empty while [[components]] is not built
    /// Every module this version has (moduleNames()), configured or not.
    std::map<std::string, ModuleConfig, std::less<>> modules;

    /// The named module. Asking for a module the schema does not know is a programming error
    /// (assert); release builds get a disabled module with no options.
    const ModuleConfig& module(std::string_view name) const;
    /// The host with this (normalised) domain, or nullptr.
    const HostConfig* findHost(std::string_view domain) const;
};

/// Reads and validates a configuration file. Blocks (startup only). On failure returns every
/// problem found, in file order.
std::expected<Config, std::vector<ConfigError>> loadConfigFile(const std::string& path);

/// A warning when users other than the owner may read or write the configuration file at
/// `path` (it holds the database DSN and may hold secrets such as s2s.dialback_secret): says who
/// may do what and the mode. nullopt when only its owner can, or when it cannot be examined
/// (loading it reports that).
std::optional<std::string> permissionWarning(const std::string& path);

/// Validates configuration text; sourceName is used in errors ("corvid.toml").
std::expected<Config, std::vector<ConfigError>> loadConfigString(std::string_view text,
                                                                 std::string_view sourceName);

}  // namespace corvid::conf
