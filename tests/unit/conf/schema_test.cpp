// The schema table is the single source of truth: these tests hold the example file and the
// reference docs to it.

#include "conf/schema.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "conf/config.h"
#include "conf_test_support.h"

using namespace corvid::conf;

namespace {

std::filesystem::path repoRoot() {
    // Not derived from __FILE__: with ccache's base_dir that is relative to the build directory.
    return std::filesystem::path(CORVID_SOURCE_DIR);
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path);
    INFO(path.string());
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

bool isKeyChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/// "[name]" / "[[name]]" -> the schema path of that table ("name" / "name[]"), else "".
std::string headerPath(std::string_view line) {
    if (line.starts_with("[[") && line.ends_with("]]")) {
        return std::string(line.substr(2, line.size() - 4)) + "[]";
    }
    if (line.starts_with("[") && line.ends_with("]")) {
        return std::string(line.substr(1, line.size() - 2));
    }
    return {};
}

/// "name = value" -> {name, value}; empty name when the line is not a bare-key assignment.
std::pair<std::string, std::string> assignment(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && isKeyChar(line[i])) {
        ++i;
    }
    const std::string_view rest = trim(line.substr(i));
    if (i == 0 || !rest.starts_with("=")) {
        return {};
    }
    return {std::string(line.substr(0, i)), std::string(trim(rest.substr(1)))};
}

/// What the example file says about one key.
struct ExampleKey {
    std::vector<std::string> commentedValues;  ///< from "# key = value" lines
    bool setForReal = false;                   ///< an uncommented "key = value" line
};

/// Reads the example the way an admin would after uncommenting every setting: "# key = value"
/// and "# [table]" lines count, prose comments do not. Also returns the uncommented text.
std::map<std::string, ExampleKey> scanExample(const std::string& text, std::string& uncommented,
                                              std::set<std::string>& tables) {
    std::map<std::string, ExampleKey> keys;
    std::string section;
    std::istringstream in(text);
    std::string raw;
    while (std::getline(in, raw)) {
        std::string_view line = trim(raw);
        bool commented = false;
        if (line.starts_with("#")) {
            commented = true;
            line = trim(line.substr(1));
        }
        if (const std::string header = headerPath(line); !header.empty()) {
            section = header;
            tables.insert(header);
            uncommented += std::string(line) + "\n";
            continue;
        }
        auto [name, value] = assignment(line);
        if (name.empty()) {
            uncommented += commented ? "\n" : raw + "\n";
            continue;
        }
        ExampleKey& key = keys[section.empty() ? name : section + "." + name];
        if (commented) {
            key.commentedValues.push_back(value);
        } else {
            key.setForReal = true;
        }
        uncommented += std::string(line) + "\n";
    }
    return keys;
}

}  // namespace

TEST_CASE("the schema table is consistent", "[conf]") {
    std::set<std::string_view> paths;
    for (const KeyInfo& row : schema()) {
        INFO(row.path);
        CHECK(paths.insert(row.path).second);
        CHECK_FALSE(row.doc.empty());
        // A row's parent is declared before it.
        if (!row.parent().empty()) {
            std::string_view parent = row.parent();
            const bool element = parent.ends_with("[]");
            if (element) {
                parent.remove_suffix(2);
            }
            CHECK(paths.contains(parent));
            const KeyInfo* p = findKey(parent);
            REQUIRE(p != nullptr);
            CHECK(p->type == (element ? ValueType::TableArray : ValueType::Table));
        }
        if (row.required) {
            CHECK(row.defaultValue.empty());
        }
        if (row.type == ValueType::Int) {
            CHECK(row.min <= row.max);
        }
        if (!row.allowed.empty()) {
            CHECK((row.type == ValueType::String || row.type == ValueType::StringArray));
        }
    }
    CHECK(findKey("limits.max_depth") != nullptr);
    CHECK(findKey("limits.nope") == nullptr);
    CHECK(findKey("limits.max_depth")->name() == "max_depth");
    CHECK(findKey("hosts[].domain")->parent() == "hosts[]");
    // Every module has its switch, built or not.
    const auto modules = childrenOf("modules");
    const auto built = moduleNames();
    CHECK(modules.size() == 20);
    CHECK(built.size() == 17);
    for (const KeyInfo* row : modules) {
        const std::string_view m = row->name();
        INFO(m);
        const KeyInfo* enabled = findKey("modules." + std::string(m) + ".enabled");
        REQUIRE(enabled != nullptr);
        CHECK(enabled->type == ValueType::Bool);
        CHECK(enabled->defaultValue == (m == "register" || m == "upload" ? "false" : "true"));
        CHECK(isBuilt(row->path) == (std::find(built.begin(), built.end(), m) != built.end()));
    }
}

TEST_CASE("what is not built yet names schema rows", "[conf]") {
    for (const NotYetBuilt& entry : notYetBuilt()) {
        INFO(entry.path);
        const KeyInfo* row = findKey(entry.path);
        REQUIRE(row != nullptr);
        if (entry.value.empty()) {
            CHECK_FALSE(isBuilt(entry.path));
        } else {
            // Only the value is missing, not the key.
            CHECK(isBuilt(entry.path));
            CHECK_FALSE(isBuiltValue(entry.path, entry.value));
            CHECK(std::find(row->allowed.begin(), row->allowed.end(), entry.value) !=
                  row->allowed.end());
        }
    }
    // A section covers its keys and the keys of its arrays of tables, not its neighbours.
    CHECK_FALSE(isBuilt("modules.carbons.enabled"));
    CHECK(isBuilt("modules.mam.max_results"));
    CHECK(isBuilt("modules.extdisco.services[].host"));
    CHECK(isBuilt("components[].secret"));
    CHECK(isBuilt("modules.pep.max_items"));
    CHECK(isBuilt("modules"));
    CHECK(isBuilt("hosts[].domain"));
    CHECK(isBuiltValue("listeners[].type", "c2s"));
}

TEST_CASE("the example file loads as shipped", "[conf]") {
    const auto path = repoRoot() / "conf" / "corvid.example.toml";
    auto result = loadConfigFile(path.string());
    if (!result) {
        for (const ConfigError& e : result.error()) {
            UNSCOPED_INFO(e.format());
        }
    }
    REQUIRE(result.has_value());
    CHECK(result->hosts.size() == 1);
    CHECK(result->listeners.size() == 3);
}

TEST_CASE("the example file lists every key with its default", "[conf]") {
    const std::string text = readFile(repoRoot() / "conf" / "corvid.example.toml");
    std::string uncommented;
    std::set<std::string> tables;
    const auto keys = scanExample(text, uncommented, tables);

    // With every "# key = value" line uncommented it is still a valid configuration.
    {
        auto result = loadConfigString(uncommented, "uncommented example");
        if (!result) {
            for (const ConfigError& e : result.error()) {
                UNSCOPED_INFO(e.format());
            }
        }
        REQUIRE(result.has_value());
    }

    // It shows nothing that is not built, so that uncommenting a line never breaks the file.
    for (const auto& [path, key] : keys) {
        INFO(path);
        CHECK(isBuilt(path));
    }
    for (const std::string& table : tables) {
        INFO(table);
        CHECK(isBuilt(table));
    }
    for (const NotYetBuilt& entry : notYetBuilt()) {
        if (!entry.value.empty()) {
            CHECK_THAT(text, !Catch::Contains("\"" + std::string(entry.value) + "\""));
        }
    }

    for (const KeyInfo& row : schema()) {
        INFO(row.path);
        if (!isBuilt(row.path)) {
            continue;
        }
        const auto it = keys.find(std::string(row.path));
        if (row.type == ValueType::Table) {
            // Shown by its header or by one of its keys.
            bool shown = tables.contains(std::string(row.path));
            for (const auto& [path, key] : keys) {
                shown = shown || path.starts_with(std::string(row.path) + ".");
            }
            CHECK(shown);
            continue;
        }
        if (row.type == ValueType::TableArray || row.type == ValueType::StringMap) {
            CHECK((tables.contains(std::string(row.path) +
                                   (row.type == ValueType::TableArray ? "[]" : "")) ||
                   it != keys.end()));
            continue;
        }
        REQUIRE(it != keys.end());
        const ExampleKey& key = it->second;
        const std::string_view array = row.path.substr(0, row.path.find("[]"));
        if (row.required && (array == row.path || findKey(array)->required)) {
            // Required keys are set to demo values.
            CHECK(key.setForReal);
        }
        // Commented lines show the default, except inside arrays of tables where they are
        // examples of entries.
        if (!row.defaultValue.empty() && row.path.find("[]") == std::string_view::npos) {
            REQUIRE_FALSE(key.commentedValues.empty());
            for (const std::string& v : key.commentedValues) {
                CHECK(v == row.defaultValue);
            }
        }
    }
}

TEST_CASE("the configuration reference documents every key and default", "[conf]") {
    const std::string docs = readFile(repoRoot() / "docs" / "configuration.md");
    // The reference proper ends where the list of what is not built yet begins.
    const std::size_t notYet = docs.find("## Not yet available");
    REQUIRE(notYet != std::string::npos);
    std::map<std::string, std::string> rows;  // "`path`" -> its table row
    std::istringstream in(docs.substr(0, notYet));
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("| `")) {
            const std::size_t end = line.find('`', 3);
            rows.emplace(line.substr(3, end - 3), line);
        }
    }
    for (const KeyInfo& row : schema()) {
        INFO(row.path);
        if (!isBuilt(row.path)) {
            continue;
        }
        if (row.type == ValueType::Table) {
            if (row.parent().empty()) {
                CHECK(docs.find("`[" + std::string(row.path)) != std::string::npos);
            }
            continue;
        }
        const auto it = rows.find(std::string(row.path));
        REQUIRE(it != rows.end());
        if (!row.defaultValue.empty()) {
            CHECK_THAT(it->second, Catch::Contains("| `" + std::string(row.defaultValue) + "` |"));
        }
        if (row.required) {
            CHECK_THAT(it->second, Catch::Contains("**required**"));
        }
        if (row.type == ValueType::Int) {
            CHECK_THAT(it->second,
                       Catch::Contains(std::to_string(row.min) + " to " + std::to_string(row.max)));
        }
        for (std::string_view allowed : row.allowed) {
            if (!isBuiltValue(row.path, allowed)) {
                CHECK_THAT(it->second, !Catch::Contains("\"" + std::string(allowed) + "\""));
                continue;
            }
            CHECK_THAT(it->second, Catch::Contains("`\"" + std::string(allowed) + "\"`") ||
                                       Catch::Contains("\"" + std::string(allowed) + "\""));
        }
    }
    // And documents nothing the schema does not know or this version does not have.
    for (const auto& [path, rowText] : rows) {
        INFO(path);
        CHECK(findKey(path) != nullptr);
        CHECK(isBuilt(path));
    }
    // What is not built yet is listed as such.
    const std::string notYetText = docs.substr(notYet, docs.find("\n## ", notYet + 1) - notYet);
    for (const NotYetBuilt& entry : notYetBuilt()) {
        INFO(entry.path);
        std::string shown(entry.path);
        if (shown.ends_with("[]")) {
            shown.resize(shown.size() - 2);
        }
        CHECK_THAT(notYetText, Catch::Contains(shown));
        if (!entry.value.empty()) {
            CHECK_THAT(notYetText, Catch::Contains("\"" + std::string(entry.value) + "\""));
        }
    }
}

TEST_CASE("setting every key to its documented default changes nothing", "[conf]") {
    // Build a file that spells out every defaulted key outside arrays of tables.
    std::map<std::string, std::string> sections;
    for (const KeyInfo& row : schema()) {
        if (!row.isLeaf() || row.defaultValue.empty() || !isBuilt(row.path) ||
            row.path.find("[]") != std::string_view::npos) {
            continue;
        }
        sections[std::string(row.parent())] +=
            std::string(row.name()) + " = " + std::string(row.defaultValue) + "\n";
    }
    sections["database"] += "dsn = \"dbname=corvid\"\n";
    sections["tls"] += "certificate = \"/etc/corvid/cert.pem\"\nkey = \"/etc/corvid/key.pem\"\n";
    std::string text;
    for (const auto& [section, body] : sections) {
        text += "[" + section + "]\n" + body;
    }
    text += "[[hosts]]\ndomain = \"example.org\"\n";
    const Config spelled = corvid::conf::test::load(text);
    const Config implicit = corvid::conf::test::load(corvid::conf::test::kMinimal);
    CHECK(spelled.server.logLevel == implicit.server.logLevel);
    CHECK(spelled.database.connections == implicit.database.connections);
    CHECK(spelled.limits.maxStanzaBytes == implicit.limits.maxStanzaBytes);
    CHECK(spelled.auth.mechanisms == implicit.auth.mechanisms);
    CHECK(spelled.s2s.idleTimeout == implicit.s2s.idleTimeout);
    for (const auto& [name, module] : implicit.modules) {
        INFO(name);
        CHECK(spelled.module(name).enabled == module.enabled);
        CHECK(spelled.module(name).options == module.options);
    }
}
