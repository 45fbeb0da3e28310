#include "util/worker_pool.h"

#include <catch2/catch.hpp>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include "util/c_handles.h"

using corvid::util::WorkerPool;

namespace {

/// The loop the pool reports to. Each turn waits for the pool's wake-up: no clock involved.
struct Loop {
    corvid::util::EventBasePtr base{event_base_new()};

    template <typename Pred>
    void runUntil(Pred done) {
        while (!done()) {
            event_base_loop(base.get(), EVLOOP_ONCE);
        }
    }
};

/// Work that blocks its worker until the test opens the gate. Declare it after the pool: it
/// opens itself when destroyed, before the pool joins its threads.
struct Gate {
    std::promise<void> started;
    std::future<void> hasStarted = started.get_future();
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    bool open_ = false;

    std::move_only_function<void()> work() {
        return [started = &started, released = released] {
            started->set_value();
            released.wait();
        };
    }
    void waitStarted() { hasStarted.wait(); }
    void open() {
        if (!open_) {
            open_ = true;
            release.set_value();
        }
    }
    ~Gate() { open(); }
};

void noop() {}

}  // namespace

TEST_CASE("WorkerPool runs work on a worker thread and done on the loop's", "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 2, 16);
    const std::thread::id loopThread = std::this_thread::get_id();
    int done = 0;
    bool doneOnLoop = true;
    bool workOnWorker = true;
    for (int i = 0; i < 10; ++i) {
        REQUIRE(pool.post(
            [&workOnWorker, loopThread] {
                if (std::this_thread::get_id() == loopThread) {
                    workOnWorker = false;  // written only if wrong; read after the done
                }
            },
            [&] {
                doneOnLoop = doneOnLoop && std::this_thread::get_id() == loopThread;
                ++done;
            }));
    }
    loop.runUntil([&] { return done == 10; });
    CHECK(doneOnLoop);
    CHECK(workOnWorker);
    CHECK(pool.pending() == 0);
}

TEST_CASE("WorkerPool refuses jobs beyond its capacity until one is done", "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 1, 2);
    Gate gate;
    bool firstDone = false;
    bool secondDone = false;
    REQUIRE(pool.post(gate.work(), [&] { firstDone = true; }));
    REQUIRE(pool.post(noop, [&] { secondDone = true; }));
    CHECK(pool.pending() == 2);

    // Refused: neither callable runs, and the pool keeps neither.
    auto token = std::make_shared<int>(0);
    bool refusedRan = false;
    CHECK_FALSE(pool.post([token, &refusedRan] { refusedRan = true; },
                          [token, &refusedRan] { refusedRan = true; }));
    CHECK(token.use_count() == 1);
    CHECK(pool.pending() == 2);

    gate.open();
    loop.runUntil([&] { return firstDone && secondDone; });
    CHECK(pool.pending() == 0);
    bool thirdDone = false;
    REQUIRE(pool.post(noop, [&] { thirdDone = true; }));
    loop.runUntil([&] { return thirdDone; });
    CHECK_FALSE(refusedRan);
}

TEST_CASE("WorkerPool::cancel of a queued job: no work, no done, and its place is free", "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 1, 2);
    Gate gate;
    bool blockerDone = false;
    REQUIRE(pool.post(gate.work(), [&] { blockerDone = true; }));
    gate.waitStarted();
    bool queuedRan = false;
    bool queuedDone = false;
    const auto queued = pool.post([&] { queuedRan = true; }, [&] { queuedDone = true; });
    REQUIRE(queued);
    CHECK_FALSE(pool.post(noop, noop));  // full

    CHECK(pool.cancel(*queued));
    CHECK_FALSE(pool.cancel(*queued));
    CHECK(pool.pending() == 1);
    bool laterDone = false;
    REQUIRE(pool.post(noop, [&] { laterDone = true; }));

    gate.open();
    // One thread, first in first out: the cancelled job would have run before this one.
    loop.runUntil([&] { return laterDone; });
    CHECK(blockerDone);
    CHECK_FALSE(queuedRan);
    CHECK_FALSE(queuedDone);
}

TEST_CASE("WorkerPool::cancel of a running job: its work finishes, its done is never called",
          "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 1, 4);
    Gate gate;
    auto token = std::make_shared<int>(0);
    bool runningDone = false;
    const auto running = pool.post(gate.work(), [token, &runningDone] { runningDone = true; });
    REQUIRE(running);
    gate.waitStarted();

    CHECK(pool.cancel(*running));
    CHECK_FALSE(pool.cancel(*running));
    CHECK(pool.pending() == 1);     // it still holds its thread
    CHECK(token.use_count() == 2);  // and its done, until the work returns

    gate.open();
    bool laterDone = false;
    REQUIRE(pool.post(noop, [&] { laterDone = true; }));
    loop.runUntil([&] { return laterDone; });
    CHECK_FALSE(runningDone);
    CHECK(pool.pending() == 0);
    CHECK(token.use_count() == 1);  // destroyed without being called
}

TEST_CASE("WorkerPool::cancel of a job whose work is done but whose done has not run", "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 1, 4);
    Gate gate;
    bool finishedDone = false;
    const auto finished = pool.post(noop, [&] { finishedDone = true; });
    REQUIRE(finished);
    bool laterDone = false;
    REQUIRE(pool.post(gate.work(), [&] { laterDone = true; }));
    // The only worker has handed the first job back before taking the second.
    gate.waitStarted();

    CHECK(pool.cancel(*finished));
    gate.open();
    loop.runUntil([&] { return laterDone; });
    CHECK_FALSE(finishedDone);
    CHECK_FALSE(pool.cancel(*finished));
}

TEST_CASE("WorkerPool: a done that cancels another finished job is obeyed", "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 1, 4);
    Gate gate;
    std::optional<WorkerPool::JobId> second;
    bool firstDone = false;
    bool cancelled = false;
    bool secondDone = false;
    REQUIRE(pool.post(noop, [&] {
        firstDone = true;
        cancelled = pool.cancel(*second);
    }));
    second = pool.post(noop, [&] { secondDone = true; });
    REQUIRE(second);
    bool lastDone = false;
    REQUIRE(pool.post(gate.work(), [&] { lastDone = true; }));
    gate.waitStarted();  // both earlier jobs are finished and wait for the loop together
    gate.open();
    loop.runUntil([&] { return lastDone; });
    CHECK(firstDone);
    CHECK(cancelled);
    CHECK_FALSE(secondDone);
}

TEST_CASE("WorkerPool::cancel of a job that is unknown or whose done ran is false", "[util]") {
    Loop loop;
    WorkerPool pool(loop.base.get(), 1, 4);
    CHECK_FALSE(pool.cancel(12345));
    bool done = false;
    const auto id = pool.post(noop, [&] { done = true; });
    REQUIRE(id);
    loop.runUntil([&] { return done; });
    CHECK_FALSE(pool.cancel(*id));
}

TEST_CASE("A WorkerPool destroyed with jobs pending calls none of their dones", "[util]") {
    Loop loop;
    bool anyDone = false;
    {
        WorkerPool pool(loop.base.get(), 1, 4);
        Gate gate;
        REQUIRE(pool.post(gate.work(), [&] { anyDone = true; }));
        REQUIRE(pool.post(noop, [&] { anyDone = true; }));
        gate.waitStarted();
    }
    event_base_loop(loop.base.get(), EVLOOP_NONBLOCK);
    CHECK_FALSE(anyDone);
}
