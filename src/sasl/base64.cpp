#include "sasl/base64.h"

#include <array>
#include <cstdint>

namespace corvid::sasl {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> makeDecodeTable() {
    std::array<std::uint8_t, 256> table{};
    for (auto& v : table) {
        v = kInvalid;
    }
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
        table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return table;
}

constexpr std::array<std::uint8_t, 256> kDecodeTable = makeDecodeTable();

}  // namespace

std::string encodeBase64(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                                std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
        out.push_back(kAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kAlphabet[(v >> 12) & 0x3F]);
        out.push_back(kAlphabet[(v >> 6) & 0x3F]);
        out.push_back(kAlphabet[v & 0x3F]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
        out.push_back(kAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kAlphabet[(v >> 12) & 0x3F]);
        out.append("==");
    } else if (rest == 2) {
        const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8);
        out.push_back(kAlphabet[(v >> 18) & 0x3F]);
        out.push_back(kAlphabet[(v >> 12) & 0x3F]);
        out.push_back(kAlphabet[(v >> 6) & 0x3F]);
        out.push_back('=');
    }
    return out;
}

std::optional<std::string> decodeBase64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        // Padding may only appear at the end of the last group: "xx==" or "xxx=".
        std::size_t pad = 0;
        if (last && text[i + 3] == '=') {
            pad = text[i + 2] == '=' ? 2 : 1;
        }
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            std::uint8_t d = 0;
            if (k < 4 - pad) {
                d = kDecodeTable[static_cast<unsigned char>(text[i + k])];
                if (d == kInvalid) {
                    return std::nullopt;
                }
            }
            v = (v << 6) | d;
        }
        out.push_back(static_cast<char>((v >> 16) & 0xFF));
        if (pad == 2) {
            if ((v & 0xFFFF) != 0) {  // non-zero unused bits: a non-canonical encoding
                return std::nullopt;
            }
        } else {
            out.push_back(static_cast<char>((v >> 8) & 0xFF));
            if (pad == 1) {
                if ((v & 0xFF) != 0) {
                    return std::nullopt;
                }
            } else {
                out.push_back(static_cast<char>(v & 0xFF));
            }
        }
    }
    return out;
}

std::string encodeSaslData(std::string_view bytes) {
    return bytes.empty() ? std::string("=") : encodeBase64(bytes);
}

std::optional<std::string> decodeSaslData(std::string_view text) {
    if (text == "=") {
        return std::string();
    }
    return decodeBase64(text);
}

}  // namespace corvid::sasl
