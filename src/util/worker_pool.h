#pragma once

#include <event2/event.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "util/c_handles.h"

namespace corvid::util {

/// A few threads for CPU-heavy work (PBKDF2 for SASL PLAIN, password changes, registration) so
/// that the event loop never waits on it. A job runs `work` on a worker thread, then `done` on
/// the loop's thread. Jobs share nothing with the loop while they run: they own their inputs.
///
/// At most `capacity` jobs are pending at once (waiting for a thread, running, or finished with
/// their `done` not yet called): a client that asks for more work than that is told so instead
/// of growing a queue. post() and cancel() are called from the loop's thread only.
class WorkerPool {
  public:
    using JobId = std::uint64_t;

    WorkerPool(event_base* base, unsigned threads, std::size_t capacity);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// `work` runs on a worker; `done` then runs on the loop. Both are moved into the pool, and
    /// destroyed on the loop's thread. Returns the job's id, or std::nullopt (and runs neither)
    /// when `capacity` jobs are pending already.
    [[nodiscard]] std::optional<JobId> post(std::move_only_function<void()> work,
                                            std::move_only_function<void()> done);

    /// Forgets a pending job: its `done` is never called. A job still waiting is removed before
    /// its `work` runs; a running one finishes its `work` (its captures are destroyed after
    /// that, on the loop). Returns false if the job was not pending (its `done` ran already, or
    /// it was cancelled before).
    bool cancel(JobId id);

    /// Jobs posted and neither done nor cancelled (a cancelled running job counts until its
    /// `work` has returned).
    std::size_t pending() const { return pending_; }

  private:
    struct Job {
        JobId id = 0;
        std::move_only_function<void()> work;
        std::move_only_function<void()> done;
        bool cancelled = false;
    };
    struct Running {
        JobId id;
        bool cancelled;
    };
    void workerMain();
    void deliverCompleted();
    static void onCompleted(evutil_socket_t fd, short, void* arg);

    const std::size_t capacity_;
    // Loop thread only.
    JobId nextId_ = 1;
    std::size_t pending_ = 0;
    // Shared with the workers, under mutex_.
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;         // waiting for a thread
    std::vector<Running> running_;  // at most one per thread
    std::deque<Job> completed_;     // work done, `done` not yet called
    bool stopping_ = false;
    int eventFd_ = -1;  // a worker writes to it to wake the loop
    EventPtr completedEvent_;
    std::vector<std::thread> threads_;
};

}  // namespace corvid::util
