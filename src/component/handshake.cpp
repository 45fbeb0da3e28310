#include "component/handshake.h"

#include "sasl/crypto.h"

namespace corvid::component {

namespace {

std::string toHex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

std::string_view trim(std::string_view s) {
    const auto begin = s.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) {
        return {};
    }
    return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

}  // namespace

std::string handshakeDigest(std::string_view streamId, std::string_view secret) {
    std::string input(streamId);
    input += secret;
    return toHex(sasl::digest(sasl::Hash::Sha1, input));
}

bool handshakeMatches(std::string_view streamId, std::string_view secret,
                      std::string_view received) {
    std::string lower(trim(received));
    for (char& c : lower) {
        if (c >= 'A' && c <= 'F') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return sasl::constantTimeEqual(handshakeDigest(streamId, secret), lower);
}

std::string newStreamId() {
    return toHex(sasl::randomBytes(16));
}

}  // namespace corvid::component
