#include "conf/option_table.h"

#include <cassert>

namespace corvid::conf {

template <class T>
const T* OptionTable::find(std::string_view name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? nullptr : std::get_if<T>(&it->second);
}

namespace {

// What a getter returns in release builds when it is misused: asking for an undeclared option
// is a bug in a module, and a neutral value keeps the server up while the assert catches it in
// debug builds.
template <class T>
const T& fallback() {
    static const T value{};
    return value;
}

template <class T>
const T& require(const T* value) {
    assert(value != nullptr && "module option not declared in the schema with this type");
    return value != nullptr ? *value : fallback<T>();
}

}  // namespace

bool OptionTable::getBool(std::string_view name) const {
    return require(find<bool>(name));
}

std::int64_t OptionTable::getInt(std::string_view name) const {
    return require(find<std::int64_t>(name));
}

const std::string& OptionTable::getString(std::string_view name) const {
    return require(find<std::string>(name));
}

const std::vector<std::string>& OptionTable::getStringArray(std::string_view name) const {
    return require(find<std::vector<std::string>>(name));
}

const std::vector<OptionTable>& OptionTable::getTables(std::string_view name) const {
    return require(find<std::vector<OptionTable>>(name));
}

std::optional<bool> OptionTable::findBool(std::string_view name) const {
    const bool* v = find<bool>(name);
    return v != nullptr ? std::optional<bool>(*v) : std::nullopt;
}

std::optional<std::int64_t> OptionTable::findInt(std::string_view name) const {
    const std::int64_t* v = find<std::int64_t>(name);
    return v != nullptr ? std::optional<std::int64_t>(*v) : std::nullopt;
}

const std::string* OptionTable::findString(std::string_view name) const {
    return find<std::string>(name);
}

}  // namespace corvid::conf
