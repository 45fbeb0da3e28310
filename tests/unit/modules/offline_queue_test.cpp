#include "modules/offline_queue.h"

#include <catch2/catch.hpp>
#include <string>

#include "stanza/ns.h"

using namespace corvid;
using modules::OfflineQueue;
using modules::QueueAdmission;
using stanza::Jid;

namespace {

OfflineQueue::Entry entry(std::string_view user, std::size_t stanzaBytes) {
    xml::Element shell("message", std::string(stanza::ns::kClient));
    shell.setAttr("to", std::string(user));
    return OfflineQueue::Entry{
        *Jid::parse(user), std::string(stanzaBytes, 'x'), {}, std::move(shell)};
}

}  // namespace

TEST_CASE("offline queue: bounded per account, by bytes", "[modules]") {
    OfflineQueue q(10'000, 1'000'000);
    int queued = 0;
    for (int i = 0; i < 100; ++i) {
        auto e = entry("nobody@example.org", 2000);
        const QueueAdmission a = q.push(e);
        if (a != QueueAdmission::Queued) {
            CHECK(a == QueueAdmission::AccountFull);
            CHECK(e.stanza.size() == 2000);  // a refused entry is left to the caller
            continue;
        }
        ++queued;
    }
    // Refused once what waits reaches the bound: under it plus one entry.
    const std::size_t one = OfflineQueue::footprint(entry("nobody@example.org", 2000));
    CHECK(queued == static_cast<int>((10'000 + one - 1) / one));
    CHECK(q.bytes(*Jid::parse("nobody@example.org")) < 10'000 + one);
    CHECK(q.bytes() == q.bytes(*Jid::parse("nobody@example.org")));
    // Another account is not affected.
    auto other = entry("juliet@example.org", 2000);
    CHECK(q.push(other) == QueueAdmission::Queued);
}

TEST_CASE("offline queue: bounded in total, whatever the number of accounts", "[modules]") {
    OfflineQueue q(1'000'000, 50'000);
    int queued = 0;
    int refused = 0;
    for (int i = 0; i < 1000; ++i) {
        auto e = entry("absent" + std::to_string(i) + "@example.org", 2000);
        if (q.push(e) == QueueAdmission::Queued) {
            ++queued;
        } else {
            ++refused;
        }
    }
    CHECK(queued > 0);
    CHECK(refused == 1000 - queued);
    CHECK(q.bytes() < 50'000 + OfflineQueue::footprint(entry("absent0@example.org", 2000)));
    auto e = entry("juliet@example.org", 10);
    CHECK(q.push(e) == QueueAdmission::ServerFull);
}

TEST_CASE("offline queue: one stanza of any size when there is room", "[modules]") {
    OfflineQueue q(100'000, 100'000);
    auto big = entry("juliet@example.org", 1'000'000);
    CHECK(q.push(big) == QueueAdmission::Queued);
    auto next = entry("juliet@example.org", 10);
    CHECK(q.push(next) == QueueAdmission::ServerFull);
}

TEST_CASE("offline queue: taken entries count until released, in order", "[modules]") {
    OfflineQueue q(30'000, 1'000'000);
    for (int i = 0; i < 10; ++i) {
        auto e = entry("juliet@example.org", 2000);
        e.stanza[0] = static_cast<char>('0' + i);
        REQUIRE(q.push(e) == QueueAdmission::Queued);
    }
    const std::size_t one = OfflineQueue::footprint(entry("juliet@example.org", 2000));
    // By count, and by bytes (but always at least one).
    auto first = q.take(3, 1'000'000);
    REQUIRE(first.size() == 3);
    auto second = q.take(100, one * 2);
    REQUIRE(second.size() == 2);
    auto third = q.take(100, 1);
    REQUIRE(third.size() == 1);
    CHECK(first[0].stanza[0] == '0');
    CHECK(second[0].stanza[0] == '3');
    CHECK(third[0].stanza[0] == '5');
    CHECK(q.bytes() == 10 * one);
    CHECK_FALSE(q.empty());

    // Still counted while the database has them: the account's bound holds.
    for (int i = 0; i < 20; ++i) {
        auto e = entry("juliet@example.org", 2000);
        q.push(e);
    }
    CHECK(q.bytes(*Jid::parse("juliet@example.org")) < 30'000 + one);

    for (const auto& e : first) {
        q.release(e);
    }
    for (const auto& e : second) {
        q.release(e);
    }
    for (const auto& e : third) {
        q.release(e);
    }
    for (auto& e : q.take(100, 1'000'000)) {
        q.release(e);
    }
    CHECK(q.empty());
    CHECK(q.bytes() == 0);
    CHECK(q.bytes(*Jid::parse("juliet@example.org")) == 0);
}
