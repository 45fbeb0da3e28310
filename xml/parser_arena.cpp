#include "xml/parser_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CORVID_POISON(addr, size) ASAN_POISON_MEMORY_REGION((addr), (size))
#define CORVID_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#else
#define CORVID_POISON(addr, size) ((void)(addr), (void)(size))
#define CORVID_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

namespace corvid::xml {

/// In front of every block, arena or malloc: who owns it and how big it is.
struct ParserArena::Header {
    ParserArena* owner;  // nullptr: the block came from malloc
    union {
        Header* next;  // while on a free list
        struct {
            std::uint32_t cls;   // size class (arena blocks)
            std::uint32_t size;  // bytes asked for
        } live;
    };
};

namespace {

constexpr std::size_t kHeaderBytes = 16;

/// Block sizes, header included: two classes per power of two, so at most a third is slack.
constexpr std::array<std::uint32_t, 19> kClassBytes = {32,   48,   64,   96,    128,  192,  256,
                                                       384,  512,  768,  1024,  1536, 2048, 3072,
                                                       4096, 6144, 8192, 12288, 16384};

/// The smallest class that holds `bytes`, or kClassBytes.size() when none does.
std::size_t classOf(std::size_t bytes) {
    return static_cast<std::size_t>(
        std::lower_bound(kClassBytes.begin(), kClassBytes.end(), bytes) - kClassBytes.begin());
}

thread_local ParserArena* tCurrent = nullptr;

}  // namespace

ParserArena::ParserArena() {
    void* p = ::mmap(nullptr, kReservedBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        base_ = static_cast<char*>(p);
        CORVID_POISON(base_, kReservedBytes);
    }
}

ParserArena::~ParserArena() {
    if (tCurrent == this) {
        tCurrent = nullptr;
    }
    if (base_ != nullptr) {
        // The shadow must not outlive the mapping: whatever is mapped here next is not ours.
        CORVID_UNPOISON(base_, kReservedBytes);
        ::munmap(base_, kReservedBytes);
    }
}

ParserArena::Scope::Scope(ParserArena* arena) : previous_(tCurrent) {
    tCurrent = arena;
}

ParserArena::Scope::~Scope() {
    tCurrent = previous_;
}

ParserArena::Header* ParserArena::take(std::size_t size) {
    static_assert(sizeof(Header) == kHeaderBytes, "blocks stay 16-byte aligned");
    const std::size_t cls = classOf(size + kHeaderBytes);
    if (base_ == nullptr || cls == kClassBytes.size()) {
        return nullptr;
    }
    Header* h = free_[cls];
    if (h != nullptr) {
        free_[cls] = h->next;
    } else {
        if (used_ + kClassBytes[cls] > kReservedBytes) {
            return nullptr;
        }
        h = reinterpret_cast<Header*>(base_ + used_);
        used_ += kClassBytes[cls];
        CORVID_UNPOISON(h, kHeaderBytes);
    }
    h->owner = this;
    h->live.cls = static_cast<std::uint32_t>(cls);
    h->live.size = static_cast<std::uint32_t>(size);
    CORVID_UNPOISON(h + 1, size);
    return h;
}

void ParserArena::give(Header* h) {
    CORVID_POISON(h + 1, kClassBytes[h->live.cls] - kHeaderBytes);
    const std::uint32_t cls = h->live.cls;
    h->next = free_[cls];
    free_[cls] = h;
}

void* ParserArena::allocate(std::size_t size) {
    if (size > std::numeric_limits<std::uint32_t>::max() - kHeaderBytes) {
        return nullptr;
    }
    Header* h = tCurrent != nullptr ? tCurrent->take(size) : nullptr;
    if (h == nullptr) {
        h = static_cast<Header*>(std::malloc(size + kHeaderBytes));
        if (h == nullptr) {
            return nullptr;
        }
        h->owner = nullptr;
        h->live.cls = 0;
        h->live.size = static_cast<std::uint32_t>(size);
    }
    return h + 1;
}

void* ParserArena::reallocate(void* block, std::size_t size) {
    if (block == nullptr) {
        return allocate(size);
    }
    if (size > std::numeric_limits<std::uint32_t>::max() - kHeaderBytes) {
        return nullptr;
    }
    Header* h = static_cast<Header*>(block) - 1;
    ParserArena* owner = h->owner;
    if (owner == nullptr) {
        auto* grown = static_cast<Header*>(std::realloc(h, size + kHeaderBytes));
        if (grown == nullptr) {
            return nullptr;
        }
        grown->live.size = static_cast<std::uint32_t>(size);
        return grown + 1;
    }
    if (size + kHeaderBytes <= kClassBytes[h->live.cls]) {
        // Still fits its block: only the accessible part changes.
        CORVID_POISON(h + 1, kClassBytes[h->live.cls] - kHeaderBytes);
        CORVID_UNPOISON(h + 1, size);
        h->live.size = static_cast<std::uint32_t>(size);
        return block;
    }
    // Grows into the owner's arena (or malloc), whichever arena is current.
    void* moved = nullptr;
    {
        Scope scope(owner);
        moved = allocate(size);
    }
    if (moved == nullptr) {
        return nullptr;  // realloc semantics: the old block stays valid
    }
    std::memcpy(moved, block, std::min<std::size_t>(h->live.size, size));
    owner->give(h);
    return moved;
}

void ParserArena::release(void* block) {
    if (block == nullptr) {
        return;
    }
    Header* h = static_cast<Header*>(block) - 1;
    if (h->owner == nullptr) {
        std::free(h);
    } else {
        h->owner->give(h);
    }
}

}  // namespace corvid::xml
