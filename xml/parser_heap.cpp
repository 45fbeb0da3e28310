#include "xml/parser_heap.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CORVID_POISON(addr, size) ASAN_POISON_MEMORY_REGION((addr), (size))
#define CORVID_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#else
#define CORVID_POISON(addr, size) ((void)(addr), (void)(size))
#define CORVID_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

namespace corvid::xml {

namespace {

/// Block sizes: steps of 16 bytes up to 128, then 4 classes per power of two up to 512 and 8 up
/// to 16 KiB, so that little of a block is slack (expat's common requests are 520 and about
/// 1,040 bytes: 576 and 1,152 here).
constexpr std::array<std::uint32_t, ParserHeap::kClasses> kClassBytes = [] {
    std::array<std::uint32_t, ParserHeap::kClasses> classes{};
    std::size_t i = 0;
    std::uint32_t size = 0;
    while (i < classes.size()) {
        const std::uint32_t power = std::bit_floor(std::max<std::uint32_t>(size, 1));
        const std::uint32_t step = size < 128 ? 16 : size < 512 ? power / 4 : power / 8;
        size += step;
        classes[i++] = size;
    }
    return classes;
}();
static_assert(kClassBytes.back() == 16384, "the largest class is 16 KiB");

/// The smallest class that holds `bytes`, or kClassBytes.size() when none does.
std::size_t classOf(std::size_t bytes) {
    return static_cast<std::size_t>(
        std::lower_bound(kClassBytes.begin(), kClassBytes.end(), std::max<std::size_t>(bytes, 1)) -
        kClassBytes.begin());
}

#ifdef MADV_POPULATE_WRITE
constexpr int kMadvPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kMadvPopulateWrite = 23;  // Linux 5.14; older glibc headers lack the name
#endif

/// A free block holds the next free block of its slab (poisoned in between under ASan).
void* loadNext(void* block) {
    CORVID_UNPOISON(block, sizeof(void*));
    void* next = nullptr;
    std::memcpy(&next, block, sizeof(next));
    CORVID_POISON(block, sizeof(void*));
    return next;
}

void storeNext(void* block, void* next) {
    CORVID_UNPOISON(block, sizeof(void*));
    std::memcpy(block, &next, sizeof(next));
    CORVID_POISON(block, sizeof(void*));
}

}  // namespace

ParserHeap& ParserHeap::local() {
    thread_local ParserHeap heap;
    return heap;
}

ParserHeap::~ParserHeap() {
    // Only at thread exit: every parser of this thread is gone by then (or leaks its blocks).
    if (base_ != nullptr) {
        CORVID_UNPOISON(base_, slabs_.size() * kSlabBytes);
        ::munmap(base_, kReservedBytes);
    }
}

bool ParserHeap::owns(const void* block) const {
    const auto* p = static_cast<const char*>(block);
    return base_ != nullptr && p >= base_ && p < base_ + slabs_.size() * kSlabBytes;
}

std::uint32_t ParserHeap::slabOf(const void* block) const {
    return static_cast<std::uint32_t>((static_cast<const char*>(block) - base_) / kSlabBytes);
}

char* ParserHeap::slabStart(std::uint32_t slab) const {
    return base_ + static_cast<std::size_t>(slab) * kSlabBytes;
}

void ParserHeap::link(std::uint32_t s) {
    Slab& slab = slabs_[s];
    slab.prev = kNone;
    slab.next = partial_[slab.cls];
    if (slab.next != kNone) {
        slabs_[slab.next].prev = s;
    }
    partial_[slab.cls] = s;
    slab.listed = true;
}

void ParserHeap::unlink(std::uint32_t s) {
    Slab& slab = slabs_[s];
    if (slab.prev != kNone) {
        slabs_[slab.prev].next = slab.next;
    } else {
        partial_[slab.cls] = slab.next;
    }
    if (slab.next != kNone) {
        slabs_[slab.next].prev = slab.prev;
    }
    slab.prev = slab.next = kNone;
    slab.listed = false;
}

std::uint32_t ParserHeap::newSlab(std::size_t cls) {
    std::uint32_t s = kNone;
    if (!emptyResident_.empty()) {
        s = emptyResident_.back();
        emptyResident_.pop_back();
    } else if (!emptyReleased_.empty()) {
        s = emptyReleased_.back();
        emptyReleased_.pop_back();
        populate(s);
    } else {
        if (base_ == nullptr && !reserveFailed_) {
            void* p = ::mmap(nullptr, kReservedBytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (p == MAP_FAILED) {
                reserveFailed_ = true;
            } else {
                base_ = static_cast<char*>(p);
                partial_.fill(kNone);
            }
        }
        if (base_ == nullptr || (slabs_.size() + 1) * kSlabBytes > kReservedBytes) {
            return kNone;
        }
        s = static_cast<std::uint32_t>(slabs_.size());
        slabs_.emplace_back();
        CORVID_POISON(slabStart(s), kSlabBytes);
        populate(s);
    }
    Slab& slab = slabs_[s];
    slab.cls = static_cast<std::uint32_t>(cls);
    slab.live = 0;
    slab.untouched = static_cast<std::uint32_t>(kSlabBytes / kClassBytes[cls]);
    slab.freeList = nullptr;
    slab.released = false;
    link(s);
    return s;
}

void ParserHeap::populate(std::uint32_t s) {
    // A slab about to be used gets all its pages in one system call rather than one page fault
    // each: on the project's VM a fault costs ~18 us and MADV_POPULATE_WRITE ~1.3 us a page, and
    // after an idle period thousands of parsers come back at once (10,000 connections: ~30,000
    // pages). Older kernels (before 5.14) refuse the advice: pages then come with faults.
    if (!populateRefused_ && ::madvise(slabStart(s), kSlabBytes, kMadvPopulateWrite) != 0) {
        populateRefused_ = true;
    }
}

void* ParserHeap::take(std::size_t cls) {
    std::uint32_t s = base_ != nullptr ? partial_[cls] : kNone;
    if (s == kNone) {
        s = newSlab(cls);
        if (s == kNone) {
            return nullptr;
        }
    }
    Slab& slab = slabs_[s];
    void* block = slab.freeList;
    if (block != nullptr) {
        slab.freeList = loadNext(block);
    } else {
        const std::uint32_t capacity = static_cast<std::uint32_t>(kSlabBytes / kClassBytes[cls]);
        block =
            slabStart(s) + static_cast<std::size_t>(capacity - slab.untouched) * kClassBytes[cls];
        --slab.untouched;
    }
    ++slab.live;
    ++liveBlocks_;
    if (slab.freeList == nullptr && slab.untouched == 0) {
        unlink(s);  // full
    }
    return block;
}

void ParserHeap::give(void* block) {
    const std::uint32_t s = slabOf(block);
    Slab& slab = slabs_[s];
    CORVID_POISON(block, kClassBytes[slab.cls]);
    storeNext(block, slab.freeList);
    slab.freeList = block;
    --slab.live;
    --liveBlocks_;
    if (slab.live == 0) {
        if (slab.listed) {
            unlink(s);
        }
        becameEmpty(s);
    } else if (!slab.listed) {
        link(s);
    }
}

void ParserHeap::becameEmpty(std::uint32_t s) {
    // Kept until the next trim(): a slab that empties and fills again under steady traffic
    // must not give its pages back and fault them in again each time.
    slabs_[s].freeList = nullptr;
    emptyResident_.push_back(s);
}

void ParserHeap::trim() {
    ParserHeap& heap = local();
    auto& empty = heap.emptyResident_;
    if (empty.size() <= kKeptEmptySlabs) {
        return;
    }
    // The oldest empty slabs go (the newest are the most likely to be reused).
    const auto released =
        empty.begin() + static_cast<std::ptrdiff_t>(empty.size() - kKeptEmptySlabs);
    for (auto it = empty.begin(); it != released; ++it) {
        // MADV_DONTNEED: the pages go now and read back as zeros (MADV_FREE would leave them
        // counted in the RSS until the system runs short).
        ::madvise(heap.slabStart(*it), kSlabBytes, MADV_DONTNEED);
        heap.slabs_[*it].released = true;
        heap.emptyReleased_.push_back(*it);
    }
    empty.erase(empty.begin(), released);
}

void* ParserHeap::allocate(std::size_t size) {
    const std::size_t cls = classOf(size);
    void* block = cls < kClassBytes.size() ? local().take(cls) : nullptr;
    if (block == nullptr) {
        return std::malloc(size);
    }
    CORVID_UNPOISON(block, size);
    return block;
}

void* ParserHeap::reallocate(void* block, std::size_t size) {
    if (block == nullptr) {
        return allocate(size);
    }
    ParserHeap& heap = local();
    if (!heap.owns(block)) {
        return std::realloc(block, size);
    }
    const std::size_t have = kClassBytes[heap.slabs_[heap.slabOf(block)].cls];
    if (size <= have && classOf(size) + 2 >= classOf(have)) {
        // Still fits, and not much smaller: only the accessible part changes.
        CORVID_POISON(block, have);
        CORVID_UNPOISON(block, size);
        return block;
    }
    void* moved = allocate(size);
    if (moved == nullptr) {
        return nullptr;  // realloc semantics: the old block stays valid
    }
    // Copies the block's bytes that may be in use, without reading poisoned ones.
    CORVID_UNPOISON(block, have);
    std::memcpy(moved, block, std::min(have, size));
    heap.give(block);
    return moved;
}

void ParserHeap::release(void* block) {
    if (block == nullptr) {
        return;
    }
    ParserHeap& heap = local();
    if (heap.owns(block)) {
        heap.give(block);
    } else {
        std::free(block);
    }
}

ParserHeap::Stats ParserHeap::stats() {
    const ParserHeap& heap = local();
    return Stats{heap.slabs_.size(), heap.emptyResident_.size(), heap.emptyReleased_.size(),
                 heap.liveBlocks_};
}

bool ParserHeap::inReleasedSlab(const void* block) {
    const ParserHeap& heap = local();
    return heap.owns(block) && heap.slabs_[heap.slabOf(block)].released;
}

}  // namespace corvid::xml
