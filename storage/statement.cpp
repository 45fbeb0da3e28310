#include "storage/statement.h"

#include <charconv>

namespace corvid::storage {

Param intParam(std::int64_t value) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec;  // 24 bytes always hold an int64
    return std::string(buf, end);
}

Param byteaParam(std::string_view value) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 + value.size() * 2);
    out += "\\x";
    for (char c : value) {
        auto b = static_cast<unsigned char>(c);
        out += kHex[b >> 4];
        out += kHex[b & 0x0f];
    }
    return out;
}

}  // namespace corvid::storage
