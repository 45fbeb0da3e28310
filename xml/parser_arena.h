#pragma once

#include <array>
#include <cstddef>

namespace corvid::xml {

/// The memory of one expat parser, in pages of its own.
///
/// Every connection's parser used to live in the common heap, between the blocks of longer-lived
/// state (TLS sessions, rosters) allocated during the same login. When the parsers of idle
/// connections were freed (StreamParser::releaseIdle), they left holes smaller than a page
/// between those blocks, which malloc cannot give back to the system: measured after a storm of
/// 1,000 logins, ~10 KiB of every connection's 31 KiB of RSS. An arena is one private mapping,
/// unmapped whole when its parser goes, so a released parser leaves nothing behind.
///
/// Inside the mapping, blocks are cut in a few size classes, with a free list per class (expat
/// frees and reallocates as it goes, e.g. when its input buffer grows). A request the mapping
/// cannot hold (larger than its biggest class, or once it is full) falls back to malloc. Under
/// AddressSanitizer, every byte outside a live block is poisoned.
///
/// expat's memory functions take no context: allocations go to the arena made current by a
/// Scope (per thread); reallocation and freeing find the owner in the block's header.
class ParserArena {
  public:
    /// Bytes of address space reserved per arena; pages count only once touched.
    static constexpr std::size_t kReservedBytes = 128 * 1024;

    ParserArena();
    ~ParserArena();
    ParserArena(const ParserArena&) = delete;
    ParserArena& operator=(const ParserArena&) = delete;

    /// Makes `arena` receive the allocations of this thread until the scope ends (nullptr:
    /// plain malloc). Scopes nest.
    class Scope {
      public:
        explicit Scope(ParserArena* arena);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

      private:
        ParserArena* previous_;
    };

    /// malloc/realloc/free with the semantics expat expects (XML_Memory_Handling_Suite).
    static void* allocate(std::size_t size);
    static void* reallocate(void* block, std::size_t size);
    static void release(void* block);

    /// Whether the mapping exists (when mmap fails, everything goes to malloc).
    bool mapped() const { return base_ != nullptr; }
    /// Bytes of the mapping handed out so far (free-listed blocks included).
    std::size_t bytesUsed() const { return used_; }

  private:
    struct Header;
    static constexpr std::size_t kClasses = 19;

    Header* take(std::size_t size);
    void give(Header* header);

    char* base_ = nullptr;
    std::size_t used_ = 0;
    std::array<Header*, kClasses> free_{};
};

}  // namespace corvid::xml
