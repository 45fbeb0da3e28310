#pragma once

#include <cstdint>
#include <string>

namespace corvid::conf {

/// One problem found while loading a configuration file. Bad startup config is fatal, so the
/// loader reports every problem it can find at once, each pointing at its place in the file.
struct ConfigError {
    std::string file;          ///< the source name given to the loader (usually the path)
    std::uint32_t line = 0;    ///< 1-based; 0 when the problem has no place (file unreadable)
    std::uint32_t column = 0;  ///< 1-based; 0 when line is 0
    std::string key;           ///< concrete dotted key ("hosts[1].domain"); empty for syntax errors
    std::string message;

    /// "FILE:LINE:COL: KEY: message", leaving out the parts that are empty.
    std::string format() const;

    bool operator==(const ConfigError&) const = default;
};

}  // namespace corvid::conf
