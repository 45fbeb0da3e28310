#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace corvid::conf {

class OptionTable;

/// One module option as loaded: the schema has already checked its type, bounds and format.
using OptionValue = std::variant<bool, std::int64_t, std::string, std::vector<std::string>,
                                 std::vector<OptionTable>>;

/// The options of one module (or of one element of an array of tables inside it), with the
/// schema's defaults applied. Getters are for options the schema declares with that type and a
/// default; asking for anything else is a programming error (assert), and in release builds
/// returns an empty value. Options without a default are read with the find* getters.
class OptionTable {
  public:
    bool has(std::string_view name) const { return values_.find(name) != values_.end(); }

    bool getBool(std::string_view name) const;
    std::int64_t getInt(std::string_view name) const;
    const std::string& getString(std::string_view name) const;
    const std::vector<std::string>& getStringArray(std::string_view name) const;
    const std::vector<OptionTable>& getTables(std::string_view name) const;

    /// nullopt / nullptr when the option is not set (or has another type).
    std::optional<bool> findBool(std::string_view name) const;
    std::optional<std::int64_t> findInt(std::string_view name) const;
    const std::string* findString(std::string_view name) const;

    void set(std::string name, OptionValue value) { values_[std::move(name)] = std::move(value); }
    const std::map<std::string, OptionValue, std::less<>>& values() const { return values_; }

    bool operator==(const OptionTable&) const = default;

  private:
    template <class T>
    const T* find(std::string_view name) const;

    std::map<std::string, OptionValue, std::less<>> values_;
};

}  // namespace corvid::conf
