#include "util/worker_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace corvid::util {

WorkerPool::WorkerPool(event_base* base, unsigned threads) {
    eventFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (eventFd_ < 0) {
        std::abort();  // no eventfd: the environment is broken, nothing sensible to do
    }
    completedEvent_.reset(
        event_new(base, eventFd_, EV_READ | EV_PERSIST, &WorkerPool::onCompleted, this));
    event_add(completedEvent_.get(), nullptr);
    for (unsigned i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { workerMain(); });
    }
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        t.join();
    }
    completedEvent_.reset();
    ::close(eventFd_);
}

void WorkerPool::post(std::move_only_function<void()> work, std::move_only_function<void()> done) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(Job{std::move(work), std::move(done)});
    }
    wake_.notify_one();
}

void WorkerPool::workerMain() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                return;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        job.work();
        {
            std::lock_guard lock(mutex_);
            completed_.push_back(std::move(job));
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(eventFd_, &one, sizeof(one));
    }
}

void WorkerPool::onCompleted(evutil_socket_t fd, short, void* arg) {
    auto* self = static_cast<WorkerPool*>(arg);
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof(count));
    std::deque<Job> done;
    {
        std::lock_guard lock(self->mutex_);
        done.swap(self->completed_);
    }
    for (auto& job : done) {
        job.done();
    }
}

}  // namespace corvid::util
