#include "xml/parser_arena.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "xml/stream_parser.h"

using corvid::xml::ParserArena;

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

}  // namespace

TEST_CASE("a parser arena serves the allocations of its scope and reuses freed blocks",
          "[xml][arena]") {
    ParserArena arena;
    REQUIRE(arena.mapped());
    ParserArena::Scope scope(&arena);

    void* a = ParserArena::allocate(100);
    REQUIRE(a != nullptr);
    CHECK(aligned16(a));
    const std::size_t used = arena.bytesUsed();
    CHECK(used >= 100);
    fill(a, 100, 'a');

    void* b = ParserArena::allocate(100);
    CHECK(aligned16(b));
    CHECK(arena.bytesUsed() > used);
    ParserArena::release(b);
    const std::size_t afterTwo = arena.bytesUsed();
    // The same size again takes the freed block, not new space.
    void* c = ParserArena::allocate(90);
    CHECK(c == b);
    CHECK(arena.bytesUsed() == afterTwo);
    CHECK(filledWith(a, 100, 'a'));
    ParserArena::release(c);
    ParserArena::release(a);
}

TEST_CASE("reallocating an arena block keeps its bytes, in place or moved", "[xml][arena]") {
    ParserArena arena;
    ParserArena::Scope scope(&arena);
    void* p = ParserArena::allocate(40);
    fill(p, 40, 'x');

    SECTION("within its size class it stays where it is") {
        void* q = ParserArena::reallocate(p, 44);
        CHECK(q == p);
        CHECK(filledWith(q, 40, 'x'));
        ParserArena::release(q);
    }
    SECTION("beyond its class it moves and the old block is free again") {
        void* q = ParserArena::reallocate(p, 1000);
        REQUIRE(q != nullptr);
        CHECK(q != p);
        CHECK(aligned16(q));
        CHECK(filledWith(q, 40, 'x'));
        void* r = ParserArena::allocate(40);
        CHECK(r == p);
        ParserArena::release(r);
        ParserArena::release(q);
    }
    SECTION("beyond the largest class it goes to malloc, and back into a block when it shrinks") {
        const std::size_t used = arena.bytesUsed();
        void* q = ParserArena::reallocate(p, 100'000);
        REQUIRE(q != nullptr);
        CHECK(arena.bytesUsed() == used);  // malloc'd, the arena did not grow
        CHECK(filledWith(q, 40, 'x'));
        fill(q, 100'000, 'y');
        void* r = ParserArena::reallocate(q, 200'000);  // a malloc'd block grows with realloc
        REQUIRE(r != nullptr);
        CHECK(filledWith(r, 100'000, 'y'));
        ParserArena::release(r);
    }
    SECTION("a block grows in its owner's arena even when another one is current") {
        ParserArena other;
        ParserArena::Scope inner(&other);
        void* q = ParserArena::reallocate(p, 2000);
        CHECK(other.bytesUsed() == 0);
        CHECK(filledWith(q, 40, 'x'));
        ParserArena::release(q);
    }
}

TEST_CASE("without a current arena, or once it is full, allocations come from malloc",
          "[xml][arena]") {
    SECTION("no scope") {
        void* p = ParserArena::allocate(64);
        REQUIRE(p != nullptr);
        CHECK(aligned16(p));
        fill(p, 64, 'm');
        void* q = ParserArena::reallocate(p, 5000);
        CHECK(filledWith(q, 64, 'm'));
        ParserArena::release(q);
        ParserArena::release(nullptr);  // like free(nullptr)
    }
    SECTION("scopes nest and restore the previous arena") {
        ParserArena outer;
        ParserArena inner;
        ParserArena::Scope a(&outer);
        {
            ParserArena::Scope b(&inner);
            ParserArena::release(ParserArena::allocate(10));
            CHECK(inner.bytesUsed() > 0);
            CHECK(outer.bytesUsed() == 0);
        }
        ParserArena::release(ParserArena::allocate(10));
        CHECK(outer.bytesUsed() > 0);
    }
    SECTION("a full arena") {
        ParserArena arena;
        ParserArena::Scope scope(&arena);
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < ParserArena::kReservedBytes / 8000 + 4; ++i) {
            void* p = ParserArena::allocate(8000);
            REQUIRE(p != nullptr);
            fill(p, 8000, static_cast<char>('a' + i % 26));
            blocks.push_back(p);
        }
        CHECK(arena.bytesUsed() <= ParserArena::kReservedBytes);
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            CHECK(filledWith(blocks[i], 8000, static_cast<char>('a' + i % 26)));
            ParserArena::release(blocks[i]);
        }
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

}  // namespace

TEST_CASE("a long stream reaches a steady state in its parser's arena", "[xml][arena]") {
    CountingHandler h;
    corvid::xml::StreamParser p(h);
    REQUIRE(
        p.feed("<stream:stream xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams' to='example.org'>"));
    auto stanza = [](std::size_t i) {
        return "<message to='u" + std::to_string(i % 7) + "@example.org' id='" + std::to_string(i) +
               "'><body>" + std::string(i % 3000, 'b') +
               "</body><x xmlns='urn:x:" + std::to_string(i % 5) + "' a='1'/></message>";
    };
    // Fed in pieces, so expat buffers partial tokens and grows its buffer now and then.
    auto feedSplit = [&](const std::string& s) {
        const std::size_t cut = s.size() / 3;
        REQUIRE(p.feed(std::string_view(s).substr(0, cut)));
        REQUIRE(p.feed(std::string_view(s).substr(cut)));
    };
    for (std::size_t i = 0; i < 3000; ++i) {
        feedSplit(stanza(i));
    }
    const std::size_t steady = p.arenaBytesUsed();
    CHECK(steady > 0);
    for (std::size_t i = 0; i < 6000; ++i) {
        feedSplit(stanza(i));
    }
    CHECK(p.arenaBytesUsed() == steady);
    CHECK(h.elements == 9000);
    CHECK(h.errors == 0);
    // A released parser gives its arena back; the resumed one starts a fresh arena.
    REQUIRE(p.releaseIdle());
    CHECK(p.arenaBytesUsed() == 0);
    feedSplit(stanza(1));
    CHECK(p.arenaBytesUsed() > 0);
    CHECK(p.arenaBytesUsed() <= steady);
    CHECK(h.elements == 9001);
}
