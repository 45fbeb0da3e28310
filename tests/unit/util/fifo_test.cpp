#include "util/fifo.h"

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>

using corvid::util::Fifo;

TEST_CASE("Fifo keeps first-in first-out order across interleaved pushes and pops", "[util]") {
    Fifo<std::string> q;
    CHECK(q.empty());
    int next = 0;
    int expected = 0;
    // Irregular pattern so that the consumed prefix is dropped at many different points.
    for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < round % 7; ++i) {
            q.push_back(std::to_string(next++));
        }
        for (int i = 0; i < round % 5 && !q.empty(); ++i) {
            REQUIRE(q.front() == std::to_string(expected));
            REQUIRE(q.take_front() == std::to_string(expected));
            ++expected;
        }
        REQUIRE(q.size() == static_cast<std::size_t>(next - expected));
    }
    while (!q.empty()) {
        REQUIRE(q.take_front() == std::to_string(expected++));
    }
    CHECK(expected == next);
}

TEST_CASE("Fifo holds move-only elements", "[util]") {
    Fifo<std::move_only_function<int()>> q;
    auto value = std::make_unique<int>(7);
    q.push_back([v = std::move(value)] { return *v; });
    q.emplace_back([] { return 8; });
    CHECK(q.take_front()() == 7);
    CHECK(q.take_front()() == 8);
    CHECK(q.empty());
}

TEST_CASE("Fifo gives its memory back when empty and when moved from", "[util]") {
    Fifo<std::string> q;
    q.push_back("a");
    q.push_back("b");
    Fifo<std::string> moved = std::move(q);
    CHECK(q.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    CHECK(moved.size() == 2);
    moved.pop_front();
    moved.pop_front();
    CHECK(moved.empty());
    moved.push_back("c");
    CHECK(moved.front() == "c");
    moved.clear();
    CHECK(moved.empty());
    CHECK(moved.size() == 0);
}
