#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace corvid::xml {

/// Where expat parsers allocate: slabs of their own, apart from the common heap.
///
/// A connection's parser used to live in the common heap, between the blocks of longer-lived
/// state (TLS sessions, rosters) allocated during the same login. When the parsers of idle
/// connections were freed (StreamParser::releaseIdle), they left holes smaller than a page
/// between those blocks, which malloc cannot give back to the system: measured after a storm of
/// 1,000 logins, ~10 KiB of every connection's 31 KiB of RSS. Here parser blocks share 64 KiB
/// slabs with other parser blocks only; once the parsers of idle connections are gone, whole
/// slabs are empty and trim() gives their pages back (all but a few kept for the next ones).
///
/// A slab holds blocks of one size class; a class keeps a list of the slabs that have a free
/// block. Releasing and resuming parsers under steady traffic reuses blocks without a system call
/// (page faults are slow on virtual machines: ~18 us each on the project's). Blocks larger than
/// the biggest class, or asked for once the reserved address space is full, come from malloc.
/// Under AddressSanitizer every byte outside a live block is poisoned.
///
/// One heap per thread (blocks must be freed on the thread that allocated them, which is how
/// parsers are used: each on its event loop).
class ParserHeap {
  public:
    static constexpr std::size_t kSlabBytes = 64 * 1024;
    /// Address space reserved (on first use, not committed): room for ~20,000 busy parsers.
    static constexpr std::size_t kReservedBytes = 256 * 1024 * 1024;
    /// Empty slabs trim() keeps resident for the next parsers.
    static constexpr std::size_t kKeptEmptySlabs = 4;

    /// malloc/realloc/free with the semantics expat expects (XML_Memory_Handling_Suite), on the
    /// calling thread's heap.
    static void* allocate(std::size_t size);
    static void* reallocate(void* block, std::size_t size);
    static void release(void* block);

    /// Gives the pages of this thread's empty slabs back to the system, all but
    /// kKeptEmptySlabs. Slabs only become empty when parsers go; calling this now and then (the
    /// server does after each idle sweep) rather than at once keeps a slab that empties and fills
    /// again under steady traffic from faulting its pages in each time.
    static void trim();

    struct Stats {
        std::size_t slabs = 0;          ///< slabs ever cut from the reserved space
        std::size_t emptyResident = 0;  ///< empty slabs whose pages are kept
        std::size_t emptyReleased = 0;  ///< empty slabs whose pages went back to the system
        std::size_t liveBlocks = 0;     ///< blocks handed out and not yet released
    };
    /// This thread's heap.
    static Stats stats();
    /// Whether `block` lies in a slab whose pages were given back (for tests; nullptr-safe).
    static bool inReleasedSlab(const void* block);

    ParserHeap(const ParserHeap&) = delete;
    ParserHeap& operator=(const ParserHeap&) = delete;

    static constexpr std::size_t kClasses = 56;  ///< size classes, 16 bytes to 16 KiB

  private:
    static constexpr std::uint32_t kNone = UINT32_MAX;

    struct Slab {
        std::uint32_t cls = 0;
        std::uint32_t live = 0;       // blocks handed out
        std::uint32_t untouched = 0;  // blocks never handed out yet, at the slab's end
        std::uint32_t prev = kNone;   // in its class's list of slabs with a free block
        std::uint32_t next = kNone;
        bool listed = false;    // in that list
        bool released = false;  // empty, pages given back
        void* freeList = nullptr;
    };

    ParserHeap() = default;
    ~ParserHeap();
    static ParserHeap& local();

    bool owns(const void* block) const;
    std::uint32_t slabOf(const void* block) const;
    char* slabStart(std::uint32_t slab) const;
    void* take(std::size_t cls);
    void give(void* block);
    std::uint32_t newSlab(std::size_t cls);
    void link(std::uint32_t slab);
    void unlink(std::uint32_t slab);
    void becameEmpty(std::uint32_t slab);
    void populate(std::uint32_t slab);

    char* base_ = nullptr;  // the reserved space, mapped on first use
    bool reserveFailed_ = false;
    bool populateRefused_ = false;  // the kernel has no MADV_POPULATE_WRITE
    std::vector<Slab> slabs_;
    std::array<std::uint32_t, kClasses> partial_{};  // first slab with a free block, per class
    std::vector<std::uint32_t> emptyResident_;
    std::vector<std::uint32_t> emptyReleased_;
    std::size_t liveBlocks_ = 0;
};

}  // namespace corvid::xml
