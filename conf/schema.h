#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace corvid::conf {

/// The TOML shape a key must have.
enum class ValueType {
    Bool,
    Int,
    String,
    StringArray,  ///< an array of strings
    StringMap,    ///< a table of string -> string (keys checked with KeyInfo::keyFormat)
    Table,        ///< a section whose keys are listed by further rows
    TableArray,   ///< an array of tables ([[name]]); element keys are rows under "name[]."
};

/// Extra checks on a string (or on every string of an array or map). Values that pass are
/// stored normalised (Domain and BareJid are case-folded per RFC 7622).
enum class StringFormat {
    Any,
    NonEmpty,
    Domain,     ///< a domainpart (RFC 7622 §3.2)
    BareJid,    ///< localpart@domainpart, no resource (RFC 7622 §3.1)
    IpAddress,  ///< an IPv4 or IPv6 literal, no host names (nothing may block on DNS)
    HostPort,   ///< "host:port", "[v6]:port" or "host" (port defaults to 5269)
    Url,        ///< an http:// or https:// URL
};

/// One row of the configuration schema: every key the loader accepts has exactly one row, and the
/// loader, the validation, the docs and the example file are all checked against this table.
struct KeyInfo {
    /// Dotted path from the root. Keys inside an array of tables use "[]": "hosts[].domain".
    std::string_view path;
    ValueType type = ValueType::String;
    /// The default as a TOML value literal ("32", "\"info\"", "[\"PLAIN\"]"); empty when the key
    /// has no default (required, optional, or computed as `doc` explains).
    std::string_view defaultValue;
    bool required = false;
    /// Int: allowed range of the value. String: length range in bytes. Arrays and maps: range of
    /// the element count. max == 0 means no upper bound for strings, arrays and maps.
    std::int64_t min = 0;
    std::int64_t max = 0;
    /// String and StringArray: when not empty, the only values accepted.
    std::vector<std::string_view> allowed;
    StringFormat format = StringFormat::Any;
    /// StringMap: the check applied to each key.
    StringFormat keyFormat = StringFormat::Any;
    /// One line for docs and errors.
    std::string_view doc;

    /// The last component of the path ("domain" for "hosts[].domain").
    std::string_view name() const;
    /// The path of the enclosing table ("hosts[]" for "hosts[].domain", "" for top-level rows).
    std::string_view parent() const;
    /// Whether this row describes a value rather than a section.
    bool isLeaf() const { return type != ValueType::Table && type != ValueType::TableArray; }
};

/// Every configuration key, sections before their keys, in the order the docs present them.
/// Some describe features this version does not have yet (see notYetBuilt()).
const std::vector<KeyInfo>& schema();

/// A key, or one value of a string key, that the schema describes but this version does not
/// implement. Using it is an error ("not available in this version") rather than a setting that
/// silently does nothing, and the docs list it under "not yet" instead of documenting it.
struct NotYetBuilt {
    /// A schema path; a section or array of tables covers every key inside it.
    std::string_view path;
    /// Empty: the key itself. Otherwise only this value of the string key `path`.
    std::string_view value;
};

/// The features the schema describes but this version lacks. The change that builds one deletes
/// its line here (conf/schema.cpp) and documents its keys.
const std::vector<NotYetBuilt>& notYetBuilt();

/// False when the key at `path`, or a section containing it, is listed in notYetBuilt().
bool isBuilt(std::string_view path);

/// False when this value of the string key `path` is listed in notYetBuilt().
bool isBuiltValue(std::string_view path, std::string_view value);

/// The row with exactly this schema path, or nullptr.
const KeyInfo* findKey(std::string_view path);

/// The rows directly inside the section `parent` ("" for the root, "hosts[]" for [[hosts]]),
/// built or not.
std::vector<const KeyInfo*> childrenOf(std::string_view parent);

/// Names of the modules this version has (the built tables under [modules]).
std::vector<std::string_view> moduleNames();

/// A short name for the type, as used in messages and docs ("integer", "array of strings" ...).
std::string_view typeName(ValueType type);

}  // namespace corvid::conf
