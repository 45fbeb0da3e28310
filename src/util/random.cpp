#include "util/random.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <vector>

namespace corvid::util {

std::string randomId(std::size_t n) {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    std::vector<unsigned char> bytes(n);
    if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
        std::abort();  // no entropy: nothing safe can go on
    }
    std::string out;
    out.reserve(n);
    for (unsigned char b : bytes) {
        out.push_back(kAlphabet[b & 31]);
    }
    return out;
}

}  // namespace corvid::util
