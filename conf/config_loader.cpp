// Loads corvid.toml in three steps:
//  1. toml++ parses the text (a syntax error stops here: toml++ reports only the first one);
//  2. the document is walked against the schema table (conf/schema.cpp): unknown keys, keys and
//     values of features not built yet (notYetBuilt()), wrong types, bounds, allowed values,
//     string formats and missing required keys are reported, valid strings are normalised in
//     place, and defaults are inserted for absent keys;
//  3. the typed Config is built, checking the rules that span several keys (unique domains and
//     listeners, certificate/key pairs, ...).
// Every error is collected; the Config is returned only when there are none.

#include <toml++/toml.h>
#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_set>

#include "conf/config.h"
#include "conf/schema.h"
#include "conf/value_checks.h"

namespace corvid::conf {

namespace {

struct Location {
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

Location locationOf(const toml::source_region& region) {
    return {region.begin.line, region.begin.column};
}

/// Where a node came from; nodes inserted as defaults have no source, so they point at `fallback`
/// (the table that received them).
Location locationOf(const toml::node& node, Location fallback) {
    const Location here = locationOf(node.source());
    return here.line != 0 ? here : fallback;
}

std::string joinPath(std::string_view prefix, std::string_view name) {
    if (prefix.empty()) {
        return std::string(name);
    }
    std::string out(prefix);
    out += '.';
    out += name;
    return out;
}

/// A key written so that it reads back as one TOML key: bare when possible, else quoted.
std::string tomlKey(std::string_view key) {
    const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
    if (bare) {
        return std::string(key);
    }
    std::string out = "\"";
    for (char c : key) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

std::string_view withArticle(toml::node_type type) {
    switch (type) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::string withArticle(ValueType type) {
    const std::string_view name = typeName(type);
    const bool vowel = name.front() == 'a' || name.front() == 'i';
    return (vowel ? "an " : "a ") + std::string(name);
}

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

std::string oneOf(const std::vector<std::string_view>& allowed) {
    std::string out;
    for (std::size_t i = 0; i < allowed.size(); ++i) {
        out += i == 0 ? "" : ", ";
        out += quoted(allowed[i]);
    }
    return out;
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
    const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    std::optional<std::string_view> best;
    std::size_t bestDistance = limit + 1;
    for (std::string_view c : candidates) {
        const std::size_t d = detail::editDistance(word, c);
        if (d < bestDistance) {
            best = c;
            bestDistance = d;
        }
    }
    return best;
}

std::uint16_t toPort(std::int64_t v) {
    return static_cast<std::uint16_t>(v);
}

class Loader {
  public:
    explicit Loader(std::string_view sourceName) : file_(sourceName) {}

    std::expected<Config, std::vector<ConfigError>> load(std::string_view text) {
        toml::table root;
        try {
            root = toml::parse(text, std::string_view(file_));
        } catch (const toml::parse_error& e) {
            error(locationOf(e.source()), "", "TOML syntax error: " + std::string(e.description()));
            return std::unexpected(std::move(errors_));
        }
        walkTable(root, "", "", kRootLocation);
        Config config = build(root);
        if (!errors_.empty()) {
            std::stable_sort(errors_.begin(), errors_.end(),
                             [](const ConfigError& a, const ConfigError& b) {
                                 return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                             });
            return std::unexpected(std::move(errors_));
        }
        return config;
    }

  private:
    static constexpr Location kRootLocation{1, 1};
    static constexpr std::string_view kNotAvailable =
        "not available in this version (see \"Not yet available\" in docs/configuration.md)";

    void error(Location at, std::string key, std::string message) {
        errors_.push_back(ConfigError{.file = file_,
                                      .line = at.line,
                                      .column = at.column,
                                      .key = std::move(key),
                                      .message = std::move(message)});
    }

    void invalid(const toml::node& node, Location at, std::string key, std::string message) {
        invalid_.insert(&node);
        error(at, std::move(key), std::move(message));
    }

    // ---------------------------------------------------------------- step 2: the schema walk

    /// Checks every key of `table` (the section `schemaPath`, written as `concrete` in errors)
    /// and fills in the defaults of the keys it lacks.
    void walkTable(toml::table& table, std::string_view schemaPath, const std::string& concrete,
                   Location tableLocation) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            // A quoted key such as "limits.max_depth" is one key with a dot in its name, not
            // the schema path it looks like.
            const KeyInfo* row = name.find_first_of(".[]") == std::string::npos
                                     ? findKey(joinPath(schemaPath, name))
                                     : nullptr;
            const Location keyLocation = locationOf(key.source()).line != 0
                                             ? locationOf(key.source())
                                             : locationOf(node, tableLocation);
            if (row == nullptr) {
                unknownKey(schemaPath, concrete, name, keyLocation);
                invalid_.insert(&node);
                continue;
            }
            if (!isBuilt(row->path)) {
                // Reported once, at the key; whatever it holds is not looked at.
                invalid(node, keyLocation, joinPath(concrete, tomlKey(name)),
                        std::string(kNotAvailable));
                continue;
            }
            checkValue(*row, node, joinPath(concrete, tomlKey(name)), keyLocation);
        }
        for (const KeyInfo* row : childrenOf(schemaPath)) {
            if (table.contains(row->name()) || !isBuilt(row->path)) {
                continue;
            }
            const std::string key = joinPath(concrete, row->name());
            if (row->required) {
                if (row->type == ValueType::TableArray) {
                    error(tableLocation, key,
                          "missing: at least one [[" + std::string(row->path) + "]] is required");
                } else {
                    error(tableLocation, key, "missing required key");
                }
            } else if (row->type == ValueType::Table) {
                auto [it, inserted] = table.insert(row->name(), toml::table{});
                walkTable(*it->second.as_table(), row->path, key, tableLocation);
            } else if (!row->defaultValue.empty()) {
                insertDefault(table, *row);
            }
        }
    }

    /// Inserts the schema default of `row` into `table`. Defaults are TOML literals in the
    /// schema so that docs, example file and loader share one spelling.
    static void insertDefault(toml::table& table, const KeyInfo& row) {
        toml::table holder;
        try {
            holder = toml::parse("v = " + std::string(row.defaultValue));
        } catch (const toml::parse_error&) {
            assert(false && "schema default is not a TOML literal");
            return;
        }
        holder.get("v")->visit([&](auto& node) { table.insert(row.name(), std::move(node)); });
    }

    void unknownKey(std::string_view schemaPath, const std::string& concrete,
                    const std::string& name, Location at) {
        // Suggestions name only keys that would work.
        std::vector<std::string_view> siblings;
        for (const KeyInfo* row : childrenOf(schemaPath)) {
            if (isBuilt(row->path)) {
                siblings.push_back(row->name());
            }
        }
        const bool isModule = schemaPath == "modules";
        std::string message = isModule ? "unknown module" : "unknown key";
        if (auto near = closest(name, siblings)) {
            message += " (did you mean " + joinPath(concrete, *near) + "?)";
        } else if (!isModule) {
            // Maybe the right key in the wrong section.
            for (const KeyInfo& row : schema()) {
                if (row.isLeaf() && row.name() == name && row.parent() != schemaPath &&
                    isBuilt(row.path)) {
                    message += " (did you mean " + std::string(row.path) + "?)";
                    break;
                }
            }
        }
        if (isModule) {
            std::vector<std::string_view> known = moduleNames();
            message += "; known modules: ";
            for (std::size_t i = 0; i < known.size(); ++i) {
                message += (i == 0 ? "" : ", ") + std::string(known[i]);
            }
        }
        error(at, joinPath(concrete, tomlKey(name)), std::move(message));
    }

    bool typeMatches(const KeyInfo& row, const toml::node& node) {
        switch (row.type) {
            case ValueType::Bool:
                return node.is_boolean();
            case ValueType::Int:
                return node.is_integer();
            case ValueType::String:
                return node.is_string();
            case ValueType::StringArray:
                return node.is_array();
            case ValueType::StringMap:
            case ValueType::Table:
                return node.is_table();
            case ValueType::TableArray:
                // An empty array is an empty array of tables.
                return node.is_array() && (node.as_array()->empty() || node.is_array_of_tables());
        }
        return false;
    }

    void checkValue(const KeyInfo& row, toml::node& node, const std::string& key, Location at) {
        if (!typeMatches(row, node)) {
            std::string message = "expected " + withArticle(row.type);
            if (row.type == ValueType::TableArray) {
                message += " ([[" + std::string(row.path) + "]])";
            }
            message += ", got " + std::string(withArticle(node.type()));
            invalid(node, at, key, std::move(message));
            return;
        }
        switch (row.type) {
            case ValueType::Bool:
                return;
            case ValueType::Int: {
                const std::int64_t v = node.as_integer()->get();
                if (v < row.min || v > row.max) {
                    invalid(node, at, key,
                            "must be between " + std::to_string(row.min) + " and " +
                                std::to_string(row.max) + ", got " + std::to_string(v));
                }
                return;
            }
            case ValueType::String:
                if (!checkString(row, *node.as_string(), key, at)) {
                    invalid_.insert(&node);
                }
                return;
            case ValueType::StringArray:
                checkStringArray(row, *node.as_array(), key, at);
                return;
            case ValueType::StringMap:
                checkStringMap(row, *node.as_table(), key, at);
                return;
            case ValueType::Table:
                walkTable(*node.as_table(), row.path, key, locationOf(node, at));
                return;
            case ValueType::TableArray: {
                toml::array& array = *node.as_array();
                checkCount(row, array.size(), node, key, at);
                const std::string elementPath = std::string(row.path) + "[]";
                for (std::size_t i = 0; i < array.size(); ++i) {
                    walkTable(*array[i].as_table(), elementPath,
                              key + "[" + std::to_string(i) + "]", locationOf(array[i], at));
                }
                return;
            }
        }
    }

    /// Checks one string against the row's allowed values, length and format; stores the
    /// normalised form in place.
    bool checkString(const KeyInfo& row, toml::value<std::string>& value, const std::string& key,
                     Location at) {
        const std::string& s = value.get();
        if (!row.allowed.empty()) {
            std::vector<std::string_view> built;
            std::copy_if(row.allowed.begin(), row.allowed.end(), std::back_inserter(built),
                         [&](std::string_view v) { return isBuiltValue(row.path, v); });
            if (std::find(row.allowed.begin(), row.allowed.end(), s) != row.allowed.end() &&
                !isBuiltValue(row.path, s)) {
                error(at, key, quoted(s) + " is " + std::string(kNotAvailable));
                return false;
            }
            if (std::find(built.begin(), built.end(), s) == built.end()) {
                std::string message = "must be one of " + oneOf(built) + ", got " + quoted(s);
                if (auto near = closest(s, built)) {
                    message += " (did you mean " + quoted(*near) + "?)";
                }
                error(at, key, std::move(message));
                return false;
            }
        }
        const auto length = static_cast<std::int64_t>(s.size());
        if (length < row.min) {
            error(at, key, "must be at least " + std::to_string(row.min) + " bytes long");
            return false;
        }
        if (row.max != 0 && length > row.max) {
            error(at, key, "must be at most " + std::to_string(row.max) + " bytes long");
            return false;
        }
        auto normalised = detail::checkFormat(row.format, s);
        if (!normalised) {
            error(at, key, normalised.error() + ", got " + quoted(s));
            return false;
        }
        value.get() = std::move(*normalised);
        return true;
    }

    void checkCount(const KeyInfo& row, std::size_t count, const toml::node& node,
                    const std::string& key, Location at) {
        const auto n = static_cast<std::int64_t>(count);
        if (n < row.min) {
            invalid(node, at, key,
                    row.min == 1 ? "must not be empty"
                                 : "must have at least " + std::to_string(row.min) + " entries");
        } else if (row.max != 0 && n > row.max) {
            invalid(node, at, key, "must have at most " + std::to_string(row.max) + " entries");
        }
    }

    void checkStringArray(const KeyInfo& row, toml::array& array, const std::string& key,
                          Location at) {
        checkCount(row, array.size(), array, key, at);
        std::set<std::string, std::less<>> seen;
        for (std::size_t i = 0; i < array.size(); ++i) {
            toml::node& element = array[i];
            const std::string elementKey = key + "[" + std::to_string(i) + "]";
            const Location elementAt = locationOf(element, at);
            if (!element.is_string()) {
                invalid(array, elementAt, elementKey,
                        "expected a string, got " + std::string(withArticle(element.type())));
                continue;
            }
            if (!checkString(row, *element.as_string(), elementKey, elementAt)) {
                invalid_.insert(&array);
                continue;
            }
            if (!seen.insert(element.as_string()->get()).second) {
                invalid(array, elementAt, elementKey,
                        "duplicate value " + quoted(element.as_string()->get()));
            }
        }
    }

    void checkStringMap(const KeyInfo& row, toml::table& map, const std::string& key, Location at) {
        checkCount(row, map.size(), map, key, at);
        // toml::table iterates in key order; duplicates are reported on the later entry in
        // the file.
        std::vector<std::pair<const toml::key*, toml::node*>> entries;
        for (auto&& [k, node] : map) {
            entries.emplace_back(&k, &node);
        }
        std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
            const Location la = locationOf(a.first->source());
            const Location lb = locationOf(b.first->source());
            return std::tie(la.line, la.column) < std::tie(lb.line, lb.column);
        });
        std::set<std::string, std::less<>> seen;
        for (auto [keyPtr, nodePtr] : entries) {
            const toml::key& k = *keyPtr;
            toml::node& node = *nodePtr;
            const std::string entryKey = key + "." + tomlKey(k.str());
            const Location entryAt = locationOf(k.source()).line != 0 ? locationOf(k.source()) : at;
            auto normalisedKey = detail::checkFormat(row.keyFormat, k.str());
            if (!normalisedKey) {
                invalid(map, entryAt, entryKey,
                        "invalid key: " + normalisedKey.error() + ", got " + quoted(k.str()));
            } else if (!seen.insert(*normalisedKey).second) {
                invalid(map, entryAt, entryKey, "duplicate key " + quoted(*normalisedKey));
            }
            if (!node.is_string()) {
                std::string message =
                    "expected a string, got " + std::string(withArticle(node.type()));
                if (node.is_table()) {
                    // `example.org = "..."` is a dotted key: it makes nested tables.
                    message += " (put keys that contain dots in quotes: \"example.org\" = ...)";
                }
                invalid(map, entryAt, entryKey, std::move(message));
                continue;
            }
            if (!checkString(row, *node.as_string(), entryKey, entryAt)) {
                invalid_.insert(&map);
            }
        }
    }

    // ------------------------------------------------------------ step 3: the typed model

    /// The node at `name` in `table` if it is present and passed step 2.
    const toml::node* get(const toml::table& table, std::string_view name) const {
        const toml::node* node = table.get(name);
        return node != nullptr && !invalid_.contains(node) ? node : nullptr;
    }

    template <class T>
    std::optional<T> value(const toml::table& table, std::string_view name) const {
        const toml::node* node = get(table, name);
        return node != nullptr ? node->value<T>() : std::nullopt;
    }

    template <class T>
    T valueOr(const toml::table& table, std::string_view name, T fallback) const {
        return value<T>(table, name).value_or(std::move(fallback));
    }

    std::vector<std::string> strings(const toml::table& table, std::string_view name) const {
        std::vector<std::string> out;
        if (const toml::node* node = get(table, name); node != nullptr && node->is_array()) {
            for (const toml::node& e : *node->as_array()) {
                if (auto s = e.value<std::string>()) {
                    out.push_back(std::move(*s));
                }
            }
        }
        return out;
    }

    /// The section `name` of `root`; an empty table if it failed step 2.
    const toml::table& section(const toml::table& root, std::string_view name) const {
        static const toml::table kEmpty;
        const toml::node* node = get(root, name);
        return node != nullptr && node->is_table() ? *node->as_table() : kEmpty;
    }

    /// Where the key `name` of `table` is written (errors point at keys, as TOML editors show
    /// them); `fallback` when it is absent or was inserted as a default.
    static Location where(const toml::table& table, std::string_view name, Location fallback) {
        const auto it = table.find(name);
        if (it == table.end()) {
            return fallback;
        }
        const Location key = locationOf(it->first.source());
        return key.line != 0 ? key : locationOf(it->second, fallback);
    }

    /// Elements of an array of tables that passed step 2.
    std::vector<const toml::table*> tables(const toml::table& table, std::string_view name) const {
        std::vector<const toml::table*> out;
        if (const toml::node* node = get(table, name); node != nullptr && node->is_array()) {
            for (const toml::node& e : *node->as_array()) {
                out.push_back(e.as_table());
            }
        }
        return out;
    }

    Config build(const toml::table& root) {
        Config config;
        config.sourceName = file_;
        buildServer(section(root, "server"), config.server);
        buildDatabase(section(root, "database"), config.database);
        buildTls(section(root, "tls"), locationOf(section(root, "tls"), kRootLocation), config.tls);
        buildLimits(section(root, "limits"), config.limits);
        buildHttp(section(root, "http"), config.http);
        buildAuth(section(root, "auth"), config.auth);
        buildS2s(section(root, "s2s"), config.s2s);
        buildHosts(root, config);
        buildComponents(root, config);
        buildListeners(root, config);
        buildModules(section(root, "modules"), config);
        checkRoutes(section(root, "s2s"));
        checkCertificates(root, config);
        return config;
    }

    void buildServer(const toml::table& t, ServerConfig& out) {
        static const std::map<std::string, LogLevel, std::less<>> kLevels = {
            {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
            {"warn", LogLevel::Warn},   {"error", LogLevel::Error},
        };
        static const std::map<std::string, ResourceConflict, std::less<>> kConflict = {
            {"replace", ResourceConflict::Replace},
            {"reject", ResourceConflict::Reject},
            {"rename", ResourceConflict::Rename},
        };
        if (auto level = value<std::string>(t, "log_level")) {
            out.logLevel = kLevels.at(*level);
        }
        out.pidFile = value<std::string>(t, "pid_file");
        if (auto c = value<std::string>(t, "bind_resource_conflict")) {
            out.bindResourceConflict = kConflict.at(*c);
        }
    }

    void buildDatabase(const toml::table& t, DatabaseConfig& out) {
        out.dsn = valueOr<std::string>(t, "dsn", "");
        out.connections = static_cast<int>(valueOr<std::int64_t>(t, "connections", 2));
        out.statementTimeout =
            std::chrono::milliseconds(valueOr<std::int64_t>(t, "statement_timeout_ms", 5000));
        out.connectTimeout =
            std::chrono::milliseconds(valueOr<std::int64_t>(t, "connect_timeout_ms", 5000));
        out.reconnectMaxBackoff =
            std::chrono::milliseconds(valueOr<std::int64_t>(t, "reconnect_max_backoff_ms", 30000));
    }

    /// A certificate and its key come as a pair; reports the one missing.
    void checkPair(const toml::table& t, const std::string& prefix, Location tableAt,
                   const std::optional<std::string>& certificate,
                   const std::optional<std::string>& key) {
        if (certificate.has_value() && !key.has_value() && t.get("key") == nullptr) {
            error(where(t, "certificate", tableAt), joinPath(prefix, "key"),
                  "missing: " + joinPath(prefix, "certificate") + " is set, so a key is required");
        } else if (key.has_value() && !certificate.has_value() && t.get("certificate") == nullptr) {
            error(where(t, "key", tableAt), joinPath(prefix, "certificate"),
                  "missing: " + joinPath(prefix, "key") + " is set, so a certificate is required");
        }
    }

    void buildTls(const toml::table& t, Location at, TlsConfig& out) {
        out.certificate = value<std::string>(t, "certificate");
        out.key = value<std::string>(t, "key");
        checkPair(t, "tls", at, out.certificate, out.key);
        if (auto v = value<std::string>(t, "min_version")) {
            out.minVersion = *v == "1.3" ? TlsVersion::Tls13 : TlsVersion::Tls12;
        }
        out.ciphers = value<std::string>(t, "ciphers");
        out.ciphersuites = value<std::string>(t, "ciphersuites");
    }

    void buildHttp(const toml::table& t, HttpConfig& out) {
        auto size = [&](std::string_view name, std::size_t fallback) {
            return static_cast<std::size_t>(
                valueOr<std::int64_t>(t, name, static_cast<std::int64_t>(fallback)));
        };
        out.maxHeaderBytes = size("max_header_bytes", out.maxHeaderBytes);
        out.maxBodyBytes = size("max_body_bytes", out.maxBodyBytes);
        out.headerTimeout = std::chrono::seconds(valueOr<std::int64_t>(t, "header_timeout_s", 10));
        out.idleTimeout = std::chrono::seconds(valueOr<std::int64_t>(t, "idle_timeout_s", 60));
        out.maxConnectionsPerIp = size("max_connections_per_ip", out.maxConnectionsPerIp);
        out.websocket = valueOr<bool>(t, "websocket", true);
        if (get(t, "websocket_origins") != nullptr) {
            out.websocketOrigins = strings(t, "websocket_origins");
            for (const std::string& origin : out.websocketOrigins) {
                if (!isOrigin(origin)) {
                    error(where(t, "websocket_origins", locationOf(t, kRootLocation)),
                          "http.websocket_origins",
                          "'" + origin +
                              "' is not an origin: \"*\" or scheme://host[:port], no path");
                }
            }
        }
        out.trustLoopbackProxy = valueOr<bool>(t, "trust_loopback_proxy", true);
        out.publicUrl = value<std::string>(t, "public_url");
    }

    /// An origin as browsers send it (RFC 6454 §6.1): "https://host" or "https://host:port".
    static bool isOrigin(std::string_view s) {
        if (s == "*") {
            return true;
        }
        const auto scheme = s.find("://");
        if (scheme == std::string_view::npos || scheme == 0) {
            return false;
        }
        const std::string_view rest = s.substr(scheme + 3);
        return !rest.empty() && rest.find_first_of("/?# ") == std::string_view::npos;
    }

    void buildLimits(const toml::table& t, LimitsConfig& out) {
        auto size = [&](std::string_view name, std::size_t fallback) {
            return static_cast<std::size_t>(
                valueOr<std::int64_t>(t, name, static_cast<std::int64_t>(fallback)));
        };
        auto seconds = [&](std::string_view name, std::chrono::seconds fallback) {
            return std::chrono::seconds(valueOr<std::int64_t>(t, name, fallback.count()));
        };
        out.maxStanzaBytes = size("max_stanza_bytes", out.maxStanzaBytes);
        out.maxStanzaBytesPreauth = size("max_stanza_bytes_preauth", out.maxStanzaBytesPreauth);
        out.maxDepth = size("max_depth", out.maxDepth);
        out.maxAttributes = size("max_attributes", out.maxAttributes);
        out.streamHeaderTimeout = seconds("stream_header_timeout_s", out.streamHeaderTimeout);
        out.authTimeout = seconds("auth_timeout_s", out.authTimeout);
        out.idleTimeout = seconds("idle_timeout_s", out.idleTimeout);
        out.maxConnectionsPerIp = size("max_connections_per_ip", out.maxConnectionsPerIp);
        out.outputBufferBytes = size("output_buffer_bytes", out.outputBufferBytes);
        out.s2sMaxStanzaBytes = size("s2s_max_stanza_bytes", out.s2sMaxStanzaBytes);
        out.s2sQueueMax = size("s2s_queue_max", out.s2sQueueMax);
        out.workerQueueMax = size("worker_queue_max", out.workerQueueMax);
        out.maxDirectedPresences = size("max_directed_presences", out.maxDirectedPresences);
        if (get(t, "max_stanza_bytes_preauth") != nullptr &&
            get(t, "max_stanza_bytes") != nullptr &&
            out.maxStanzaBytesPreauth > out.maxStanzaBytes) {
            const Location at = where(t, "max_stanza_bytes_preauth",
                                      where(t, "max_stanza_bytes", locationOf(t, kRootLocation)));
            error(at, "limits.max_stanza_bytes_preauth",
                  "must not exceed limits.max_stanza_bytes (" + std::to_string(out.maxStanzaBytes) +
                      ")");
        }
    }

    void buildAuth(const toml::table& t, AuthConfig& out) {
        if (get(t, "mechanisms") != nullptr) {
            out.mechanisms = strings(t, "mechanisms");
        }
        out.allowPlaintext = valueOr<bool>(t, "allow_plaintext", false);
        out.scramIterations = static_cast<int>(valueOr<std::int64_t>(t, "scram_iterations", 4096));
        out.maxFailuresPerIp = static_cast<int>(valueOr<std::int64_t>(t, "max_failures_per_ip", 5));
        out.maxFailuresPerAccount =
            static_cast<int>(valueOr<std::int64_t>(t, "max_failures_per_account", 10));
        out.failureWindow = std::chrono::seconds(valueOr<std::int64_t>(t, "failure_window_s", 300));
    }

    void buildS2s(const toml::table& t, S2sConfig& out) {
        out.enabled = valueOr<bool>(t, "enabled", true);
        out.requireValidCertificate = valueOr<bool>(t, "require_valid_certificate", true);
        out.dialback = valueOr<bool>(t, "dialback", true);
        out.dialbackWithoutCertificate = valueOr<bool>(t, "dialback_without_certificate", false);
        out.dialbackSecret = value<std::string>(t, "dialback_secret");
        out.idleTimeout = std::chrono::seconds(valueOr<std::int64_t>(t, "idle_timeout_s", 600));
        out.connectTimeout =
            std::chrono::seconds(valueOr<std::int64_t>(t, "connect_timeout_s", 30));
        out.caFile = value<std::string>(t, "ca_file");
        out.allowPrivateAddresses = valueOr<bool>(t, "allow_private_addresses", false);
        if (out.dialbackWithoutCertificate && !out.dialback &&
            get(t, "dialback_without_certificate") != nullptr && get(t, "dialback") != nullptr) {
            error(where(t, "dialback_without_certificate", locationOf(t, kRootLocation)),
                  "s2s.dialback_without_certificate", "requires s2s.dialback = true");
        }
        if (const toml::node* routes = get(t, "routes"); routes != nullptr && routes->is_table()) {
            for (auto&& [k, node] : *routes->as_table()) {
                auto domain = detail::normaliseDomain(k.str());
                auto target = detail::parseHostPort(node.value_or<std::string>(""), 5269);
                if (domain && target) {
                    out.routes[*domain] = StaticRoute{std::move(target->host), target->port};
                }
            }
        }
    }

    /// Remembers where each served domain is defined, to report duplicates across hosts,
    /// components and module services.
    bool claimDomain(const std::string& domain, const std::string& key, Location at) {
        const auto [it, inserted] = domains_.emplace(domain, std::make_pair(key, at));
        if (!inserted) {
            error(at, key,
                  quoted(domain) + " is already used by " + it->second.first + " (line " +
                      std::to_string(it->second.second.line) + ")");
        }
        return inserted;
    }

    void buildHosts(const toml::table& root, Config& config) {
        const auto elements = tables(root, "hosts");
        for (std::size_t i = 0; i < elements.size(); ++i) {
            const toml::table& t = *elements[i];
            const std::string prefix = "hosts[" + std::to_string(i) + "]";
            const Location at = locationOf(t, kRootLocation);
            HostConfig host;
            if (auto domain = value<std::string>(t, "domain")) {
                host.domain = std::move(*domain);
                claimDomain(host.domain, prefix + ".domain", where(t, "domain", at));
            }
            host.certificate = value<std::string>(t, "certificate");
            host.key = value<std::string>(t, "key");
            checkPair(t, prefix, at, host.certificate, host.key);
            if (!host.certificate && !host.key) {
                host.certificate = config.tls.certificate;
                host.key = config.tls.key;
            }
            host.admins = strings(t, "admins");
            config.hosts.push_back(std::move(host));
        }
    }

    void buildComponents(const toml::table& root, Config& config) {
        const auto elements = tables(root, "components");
        for (std::size_t i = 0; i < elements.size(); ++i) {
            const toml::table& t = *elements[i];
            const std::string prefix = "components[" + std::to_string(i) + "]";
            ComponentConfig component;
            if (auto domain = value<std::string>(t, "domain")) {
                component.domain = std::move(*domain);
                claimDomain(component.domain, prefix + ".domain",
                            where(t, "domain", locationOf(t, kRootLocation)));
            }
            component.secret = valueOr<std::string>(t, "secret", "");
            config.components.push_back(std::move(component));
        }
    }

    void buildListeners(const toml::table& root, Config& config) {
        static const std::map<std::string, ListenerType, std::less<>> kTypes = {
            {"c2s", ListenerType::C2s},
            {"c2s_direct_tls", ListenerType::C2sDirectTls},
            {"s2s", ListenerType::S2s},
            {"s2s_direct_tls", ListenerType::S2sDirectTls},
            {"component", ListenerType::Component},
            {"http", ListenerType::Http},
            {"https", ListenerType::Https},
        };
        if (root.get("listeners") == nullptr) {
            // The documented default set (schema row "listeners").
            config.listeners.push_back({ListenerType::C2s, "0.0.0.0", 5222});
            config.listeners.push_back({ListenerType::C2sDirectTls, "0.0.0.0", 5223});
            if (config.s2s.enabled) {
                config.listeners.push_back({ListenerType::S2s, "0.0.0.0", 5269});
            }
            if (!config.components.empty()) {
                // Components connect without encryption (XEP-0114): loopback only by default.
                config.listeners.push_back({ListenerType::Component, "127.0.0.1", 5347});
            }
            return;
        }
        // address:port -> (key, line) of the first listener on it.
        std::map<std::string, std::pair<std::string, Location>> bound;
        const auto elements = tables(root, "listeners");
        for (std::size_t i = 0; i < elements.size(); ++i) {
            const toml::table& t = *elements[i];
            const std::string prefix = "listeners[" + std::to_string(i) + "]";
            const Location at = locationOf(t, kRootLocation);
            const auto typeName = value<std::string>(t, "type");
            const auto address = value<std::string>(t, "address");
            const toml::node* portNode = t.get("port");
            if (!typeName || !address || (portNode != nullptr && get(t, "port") == nullptr)) {
                continue;  // already reported
            }
            ListenerConfig listener;
            listener.type = kTypes.at(*typeName);
            listener.address = *address;
            listener.port = portNode != nullptr ? toPort(*portNode->value<std::int64_t>())
                                                : defaultPort(listener.type);
            const bool isS2s =
                listener.type == ListenerType::S2s || listener.type == ListenerType::S2sDirectTls;
            if (isS2s && !config.s2s.enabled) {
                error(where(t, "type", at), prefix + ".type",
                      "an s2s listener needs s2s.enabled = true");
            }
            if (listener.type == ListenerType::Component && config.components.empty() &&
                !hasInvalidComponents(root)) {
                error(where(t, "type", at), prefix + ".type",
                      "a component listener needs at least one [[components]] entry");
            }
            const std::string endpoint =
                (listener.address.find(':') != std::string::npos ? "[" + listener.address + "]"
                                                                 : listener.address) +
                ":" + std::to_string(listener.port);
            const auto [it, inserted] = bound.emplace(endpoint, std::make_pair(prefix, at));
            if (!inserted) {
                error(where(t, "port", at), prefix,
                      "duplicate listener on " + endpoint + " (also " + it->second.first +
                          ", line " + std::to_string(it->second.second.line) + ")");
            }
            hasHttpListener_ = hasHttpListener_ || listener.type == ListenerType::Http ||
                               listener.type == ListenerType::Https;
            config.listeners.push_back(std::move(listener));
        }
        const bool componentListener =
            std::any_of(config.listeners.begin(), config.listeners.end(),
                        [](const ListenerConfig& l) { return l.type == ListenerType::Component; });
        if (!config.components.empty() && !componentListener) {
            const auto components = tables(root, "components");
            error(locationOf(*components.front(), kRootLocation), "components",
                  "no listener of type \"component\" accepts these components");
        }
    }

    /// Whether [[components]] was given but rejected as a whole (then that error suffices).
    bool hasInvalidComponents(const toml::table& root) const {
        return root.get("components") != nullptr && get(root, "components") == nullptr;
    }

    /// Converts a module's table (or an element of an array of tables inside it) to options.
    OptionTable toOptions(const toml::table& t, std::string_view schemaPath) const {
        OptionTable options;
        for (auto&& [k, node] : t) {
            const KeyInfo* row = findKey(joinPath(schemaPath, k.str()));
            if (row == nullptr || invalid_.contains(&node) || k.str() == "enabled") {
                continue;
            }
            std::string name(k.str());
            switch (row->type) {
                case ValueType::Bool:
                    options.set(std::move(name), node.value_or(false));
                    break;
                case ValueType::Int:
                    options.set(std::move(name), node.value_or<std::int64_t>(0));
                    break;
                case ValueType::String:
                    options.set(std::move(name), node.value_or<std::string>(""));
                    break;
                case ValueType::StringArray:
                    options.set(std::move(name), strings(t, k.str()));
                    break;
                case ValueType::TableArray: {
                    std::vector<OptionTable> elements;
                    const std::string elementPath = std::string(row->path) + "[]";
                    for (const toml::node& e : *node.as_array()) {
                        elements.push_back(toOptions(*e.as_table(), elementPath));
                    }
                    options.set(std::move(name), std::move(elements));
                    break;
                }
                case ValueType::StringMap:
                case ValueType::Table:
                    // No module declares these yet; add a conversion with the first that does.
                    assert(false && "unsupported module option type");
                    break;
            }
        }
        return options;
    }

    void buildModules(const toml::table& t, Config& config) {
        for (std::string_view name : moduleNames()) {
            const KeyInfo* row = findKey(joinPath("modules", name));
            ModuleConfig module;
            module.name = std::string(name);
            const toml::node* node = get(t, name);
            if (node != nullptr && node->is_table()) {
                const toml::table& mt = *node->as_table();
                module.enabled = valueOr<bool>(mt, "enabled", false);
                module.options = toOptions(mt, row->path);
                checkModule(mt, module, config);
            }
            config.modules.emplace(module.name, std::move(module));
        }
    }

    /// Rules within one module that the schema rows cannot express.
    void checkModule(const toml::table& t, const ModuleConfig& module, const Config& config) {
        const std::string prefix = "modules." + module.name;
        const Location at = locationOf(t, kRootLocation);
        if (module.enabled) {
            if (const std::string* domain = module.options.findString("domain")) {
                claimDomain(*domain, prefix + ".domain", where(t, "domain", at));
            } else if (module.name == "muc") {
                // The default: a chat service at conference.<host> for each host (a duplicate
                // host has been reported already).
                std::set<std::string> hosts;
                for (const HostConfig& host : config.hosts) {
                    if (hosts.insert(host.domain).second) {
                        claimDomain("conference." + host.domain,
                                    prefix + ".domain (by default conference." + host.domain + ")",
                                    at);
                    }
                }
            }
        }
        if (module.name == "upload" && module.enabled) {
            const std::string* base = module.options.findString("url_base");
            if (base == nullptr) {
                error(at, prefix + ".url_base",
                      "missing: the upload service needs the public URL of its HTTP listener");
            } else if (!base->ends_with("/upload/")) {
                error(where(t, "url_base", at), prefix + ".url_base",
                      "must end in /upload/, the path corvid's HTTP listener serves files on");
            }
            if (!hasHttpListener_) {
                error(where(t, "enabled", at), prefix + ".enabled",
                      "the upload service needs a listener of type http or https");
            }
        }
        if (module.name == "extdisco") {
            const auto services = tables(t, "services");
            for (std::size_t i = 0; i < services.size(); ++i) {
                const toml::table& s = *services[i];
                const std::string key = prefix + ".services[" + std::to_string(i) + "]";
                const bool username = s.get("username") != nullptr;
                const bool password = s.get("password") != nullptr;
                if (s.get("secret") != nullptr && (username || password)) {
                    error(where(s, "secret", at), key + ".secret",
                          "set either secret (credentials made per user) or username and "
                          "password (the same for everyone), not both");
                } else if (password && !username) {
                    error(where(s, "password", at), key + ".password",
                          "a password needs a username");
                }
            }
        }
    }

    void checkRoutes(const toml::table& t) {
        const toml::node* routes = get(t, "routes");
        if (routes == nullptr || !routes->is_table()) {
            return;
        }
        for (auto&& [k, node] : *routes->as_table()) {
            auto domain = detail::normaliseDomain(k.str());
            if (domain && domains_.contains(*domain)) {
                error(locationOf(k.source()), "s2s.routes." + tomlKey(k.str()),
                      quoted(*domain) + " is served here; a static route would never be used");
            }
        }
    }

    /// Every host needs a certificate unless the configuration runs entirely without TLS.
    void checkCertificates(const toml::table& root, const Config& config) {
        const bool directTls =
            std::any_of(config.listeners.begin(), config.listeners.end(), [](const auto& l) {
                return l.type == ListenerType::C2sDirectTls ||
                       l.type == ListenerType::S2sDirectTls || l.type == ListenerType::Https;
            });
        std::string why;
        if (!config.auth.allowPlaintext) {
            why = "clients must use TLS (auth.allow_plaintext = false)";
        } else if (config.s2s.enabled) {
            why = "s2s.enabled = true";
        } else if (directTls) {
            why = "a direct TLS or https listener is configured";
        } else {
            return;
        }
        const auto elements = tables(root, "hosts");
        for (std::size_t i = 0; i < config.hosts.size() && i < elements.size(); ++i) {
            const toml::table& t = *elements[i];
            const HostConfig& host = config.hosts[i];
            if (!host.certificate && !host.key && t.get("certificate") == nullptr &&
                t.get("key") == nullptr && !hasInvalidTls(root)) {
                error(locationOf(t, kRootLocation), "hosts[" + std::to_string(i) + "].certificate",
                      "no certificate for " + quoted(host.domain) +
                          ": set certificate and key here or in [tls]; TLS is needed because " +
                          why);
            }
        }
    }

    /// Whether [tls] certificate or key was given but rejected (then that error suffices).
    bool hasInvalidTls(const toml::table& root) const {
        const toml::node* tls = root.get("tls");
        if (tls == nullptr || !tls->is_table()) {
            return tls != nullptr;
        }
        const toml::table& t = *tls->as_table();
        return (t.get("certificate") != nullptr && get(t, "certificate") == nullptr) ||
               (t.get("key") != nullptr && get(t, "key") == nullptr);
    }

    std::string file_;
    std::vector<ConfigError> errors_;
    /// Nodes that failed step 2; step 3 treats them as absent.
    std::unordered_set<const toml::node*> invalid_;
    /// Served domain -> (key, place) of its first definition.
    std::map<std::string, std::pair<std::string, Location>, std::less<>> domains_;
    bool hasHttpListener_ = false;  // an http or https listener is configured
};

}  // namespace

std::expected<Config, std::vector<ConfigError>> loadConfigString(std::string_view text,
                                                                 std::string_view sourceName) {
    Loader loader(sourceName);
    return loader.load(text);
}

std::expected<Config, std::vector<ConfigError>> loadConfigFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return std::unexpected(std::vector<ConfigError>{ConfigError{
            .file = path, .message = "cannot read: " + std::string(std::strerror(err))}});
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return std::unexpected(
            std::vector<ConfigError>{ConfigError{.file = path, .message = "read error"}});
    }
    return loadConfigString(text.str(), path);
}

}  // namespace corvid::conf
