#pragma once

#include <event2/event.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "util/c_handles.h"

namespace corvid::util {

/// A few threads for CPU-heavy work (PBKDF2 for SASL PLAIN, registration) so that the event loop
/// never waits on it. A job runs `work` on a worker thread, then `done` on the loop's thread.
/// Jobs share nothing with the loop while they run: they own their inputs.
class WorkerPool {
  public:
    WorkerPool(event_base* base, unsigned threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// `work` runs on a worker; `done` then runs on the loop. Both are moved into the pool.
    void post(std::move_only_function<void()> work, std::move_only_function<void()> done);

  private:
    struct Job {
        std::move_only_function<void()> work;
        std::move_only_function<void()> done;
    };
    void workerMain();
    static void onCompleted(evutil_socket_t fd, short, void* arg);

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;
    std::deque<Job> completed_;
    bool stopping_ = false;
    int eventFd_ = -1;  // a worker writes to it to wake the loop
    EventPtr completedEvent_;
    std::vector<std::thread> threads_;
};

}  // namespace corvid::util
