#include "xml/parser_heap.h"

#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "xml/stream_parser.h"

using corvid::xml::ParserHeap;

namespace {

bool aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

void fill(void* p, std::size_t n, char c) {
    std::memset(p, c, n);
}

bool filledWith(const void* p, std::size_t n, char c) {
    const auto* b = static_cast<const char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
        if (b[i] != c) {
            return false;
        }
    }
    return true;
}

/// Pages of [p, p + n) the kernel has resident (mincore).
std::size_t residentPages(const void* p, std::size_t n) {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto start = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
    const std::size_t pages = (reinterpret_cast<std::uintptr_t>(p) + n - start + page - 1) / page;
    std::vector<unsigned char> v(pages);
    REQUIRE(::mincore(reinterpret_cast<void*>(start), pages * page, v.data()) == 0);
    std::size_t resident = 0;
    for (unsigned char b : v) {
        resident += b & 1;
    }
    return resident;
}

}  // namespace

TEST_CASE("the parser heap hands out aligned blocks and reuses freed ones", "[xml][parser-heap]") {
    const auto before = ParserHeap::stats();
    void* a = ParserHeap::allocate(100);
    void* b = ParserHeap::allocate(100);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(aligned16(a));
    CHECK(aligned16(b));
    CHECK(a != b);
    fill(a, 100, 'a');
    fill(b, 100, 'b');
    CHECK(ParserHeap::stats().liveBlocks == before.liveBlocks + 2);

    ParserHeap::release(b);
    void* c = ParserHeap::allocate(110);  // same size class: the block just freed
    CHECK(c == b);
    CHECK(filledWith(a, 100, 'a'));
    ParserHeap::release(c);
    ParserHeap::release(a);
    ParserHeap::release(nullptr);  // like free(nullptr)
    CHECK(ParserHeap::stats().liveBlocks == before.liveBlocks);
}

TEST_CASE("reallocating a parser heap block keeps its bytes", "[xml][parser-heap]") {
    void* p = ParserHeap::allocate(40);
    fill(p, 40, 'x');

    SECTION("within its size class it stays where it is") {
        void* q = ParserHeap::reallocate(p, 44);
        CHECK(q == p);
        CHECK(filledWith(q, 40, 'x'));
        ParserHeap::release(q);
    }
    SECTION("beyond its class it moves") {
        void* q = ParserHeap::reallocate(p, 1000);
        REQUIRE(q != nullptr);
        CHECK(q != p);
        CHECK(aligned16(q));
        CHECK(filledWith(q, 40, 'x'));
        ParserHeap::release(q);
    }
    SECTION("beyond the largest class it goes to malloc, and back when it shrinks") {
        const auto live = ParserHeap::stats().liveBlocks;
        void* q = ParserHeap::reallocate(p, 100'000);
        REQUIRE(q != nullptr);
        CHECK(ParserHeap::stats().liveBlocks == live - 1);  // the slab block was given back
        CHECK(filledWith(q, 40, 'x'));
        fill(q, 100'000, 'y');
        void* r = ParserHeap::reallocate(q, 200'000);  // a malloc'd block grows with realloc
        REQUIRE(r != nullptr);
        CHECK(filledWith(r, 100'000, 'y'));
        ParserHeap::release(r);
    }
    SECTION("from nothing, like malloc") {
        void* q = ParserHeap::reallocate(nullptr, 24);
        REQUIRE(q != nullptr);
        fill(q, 24, 'z');
        ParserHeap::release(q);
        ParserHeap::release(p);
    }
}

TEST_CASE("slabs left empty give their pages back, all but a few", "[xml][parser-heap]") {
    // Enough 2 KiB blocks for many slabs, all touched.
    constexpr std::size_t kBlock = 2000;
    const std::size_t perSlab = ParserHeap::kSlabBytes / 2048;
    const std::size_t count = perSlab * (ParserHeap::kKeptEmptySlabs + 8);
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < count; ++i) {
        void* p = ParserHeap::allocate(kBlock);
        REQUIRE(p != nullptr);
        fill(p, kBlock, 'p');
        blocks.push_back(p);
    }
    const auto full = ParserHeap::stats();
    for (void* p : blocks) {
        CHECK_FALSE(ParserHeap::inReleasedSlab(p));
    }
    // One block per slab stays: no slab is empty, nothing is given back.
    std::vector<void*> kept;
    for (std::size_t i = 0; i < count; ++i) {
        if (i % perSlab == 0) {
            kept.push_back(blocks[i]);
        } else {
            ParserHeap::release(blocks[i]);
        }
    }
    CHECK(ParserHeap::stats().emptyReleased == full.emptyReleased);
    for (void* p : kept) {
        CHECK_FALSE(ParserHeap::inReleasedSlab(p));
        CHECK(filledWith(p, kBlock, 'p'));
    }
    for (void* p : kept) {
        ParserHeap::release(p);
    }
    // Empty slabs keep their pages until trim(): they may be needed again at once.
    for (void* p : kept) {
        CHECK_FALSE(ParserHeap::inReleasedSlab(p));
    }
    ParserHeap::trim();
    const auto after = ParserHeap::stats();
    CHECK(after.emptyResident <= ParserHeap::kKeptEmptySlabs);
    CHECK(after.emptyReleased >= full.emptyReleased + 8);
    // The pages of released slabs are no longer resident.
    std::size_t released = 0;
    for (void* p : kept) {
        if (ParserHeap::inReleasedSlab(p)) {
            ++released;
            CHECK(residentPages(p, kBlock) == 0);
        }
    }
    CHECK(released >= 8);
    // A released slab serves again: its pages come back, zero-filled, as they are touched.
    std::vector<void*> again;
    for (std::size_t i = 0; i < count; ++i) {
        void* p = ParserHeap::allocate(kBlock);
        fill(p, kBlock, 'q');
        again.push_back(p);
    }
    CHECK(ParserHeap::stats().slabs == after.slabs);  // no new slab was cut
    for (void* p : again) {
        CHECK(filledWith(p, kBlock, 'q'));
        ParserHeap::release(p);
    }
}

namespace {

struct CountingHandler : corvid::xml::StreamHandler {
    std::size_t elements = 0;
    std::size_t errors = 0;
    void onStreamStart(corvid::xml::StreamHeader&&) override {}
    void onElement(corvid::xml::Element&&) override { ++elements; }
    void onStreamEnd() override {}
    void onParseError(const corvid::xml::ParseError&) override { ++errors; }
};

const std::string kHeader =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.org'>";

std::string stanza(std::size_t i) {
    return "<message to='u" + std::to_string(i % 7) + "@example.org' id='" + std::to_string(i) +
           "'><body>" + std::string(i % 3000, 'b') +
           "</body><x xmlns='urn:x:" + std::to_string(i % 5) + "' a='1'/></message>";
}

}  // namespace

TEST_CASE("parsers keep their memory in the parser heap and give it all back",
          "[xml][parser-heap]") {
    const auto before = ParserHeap::stats();
    CountingHandler h;
    {
        corvid::xml::StreamParser p(h);
        REQUIRE(p.feed(kHeader));
        CHECK(ParserHeap::stats().liveBlocks > before.liveBlocks);
        // Fed in pieces, so that expat buffers partial tokens and grows its buffer now and then.
        std::size_t steady = 0;
        for (std::size_t i = 0; i < 9000; ++i) {
            const std::string s = stanza(i);
            REQUIRE(p.feed(std::string_view(s).substr(0, s.size() / 3)));
            REQUIRE(p.feed(std::string_view(s).substr(s.size() / 3)));
            if (i == 2999) {
                steady = ParserHeap::stats().liveBlocks;
            }
        }
        CHECK(ParserHeap::stats().liveBlocks == steady);  // no block lost along the way
        CHECK(h.elements == 9000);
        REQUIRE(p.releaseIdle());
        CHECK(ParserHeap::stats().liveBlocks == before.liveBlocks);
        REQUIRE(p.feed(stanza(1)));
        CHECK(h.elements == 9001);
    }
    CHECK(ParserHeap::stats().liveBlocks == before.liveBlocks);
    CHECK(h.errors == 0);
}

TEST_CASE("the parsers of many idle streams leave empty slabs behind", "[xml][parser-heap]") {
    // What the server does after a storm of logins: many parsers, then all released.
    CountingHandler h;
    std::vector<std::unique_ptr<corvid::xml::StreamParser>> parsers;
    for (int i = 0; i < 400; ++i) {
        parsers.push_back(std::make_unique<corvid::xml::StreamParser>(h));
        REQUIRE(parsers.back()->feed(kHeader));
        REQUIRE(parsers.back()->feed(stanza(static_cast<std::size_t>(i))));
    }
    const auto busy = ParserHeap::stats();
    for (auto& p : parsers) {
        REQUIRE(p->releaseIdle());
    }
    ParserHeap::trim();
    const auto idle = ParserHeap::stats();
    // Every slab the parsers filled is empty again; all but a few gave their pages back.
    CHECK(idle.emptyResident + idle.emptyReleased == idle.slabs);
    CHECK(idle.emptyResident <= ParserHeap::kKeptEmptySlabs);
    CHECK(idle.emptyReleased > busy.emptyReleased);
    // And they serve the same streams again.
    for (auto& p : parsers) {
        REQUIRE(p->feed(stanza(7)));
    }
    CHECK(h.elements == 800);
    CHECK(h.errors == 0);
}
