#include "util/worker_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace corvid::util {

WorkerPool::WorkerPool(event_base* base, unsigned threads, std::size_t capacity)
    : capacity_(capacity) {
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

std::optional<WorkerPool::JobId> WorkerPool::post(std::move_only_function<void()> work,
                                                  std::move_only_function<void()> done) {
    if (pending_ >= capacity_) {
        return std::nullopt;
    }
    const JobId id = nextId_++;
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(Job{id, std::move(work), std::move(done)});
    }
    ++pending_;
    wake_.notify_one();
    return id;
}

bool WorkerPool::cancel(JobId id) {
    std::optional<Job> removed;  // destroyed after the lock is released: captures may do anything
    {
        std::lock_guard lock(mutex_);
        auto isJob = [id](const Job& job) { return job.id == id; };
        if (auto it = std::ranges::find_if(queue_, isJob); it != queue_.end()) {
            removed = std::move(*it);
            queue_.erase(it);
        } else if (auto r = std::ranges::find(running_, id, &Running::id); r != running_.end()) {
            if (r->cancelled) {
                return false;
            }
            r->cancelled = true;  // the worker hands it back without its done (deliverCompleted)
            return true;
        } else if (auto c = std::ranges::find_if(completed_, isJob); c != completed_.end()) {
            if (c->cancelled) {
                return false;  // cancelled while it ran
            }
            removed = std::move(*c);
            completed_.erase(c);
        } else {
            return false;
        }
    }
    --pending_;
    return true;
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
            running_.push_back(Running{job.id, false});
        }
        job.work();
        {
            std::lock_guard lock(mutex_);
            auto it = std::ranges::find(running_, job.id, &Running::id);
            job.cancelled = it->cancelled;
            running_.erase(it);
            completed_.push_back(std::move(job));
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(eventFd_, &one, sizeof(one));
    }
}

void WorkerPool::deliverCompleted() {
    // Only the jobs finished by now: a done that posts work which finishes at once must not keep
    // the loop here.
    std::size_t budget = 0;
    {
        std::lock_guard lock(mutex_);
        budget = completed_.size();
    }
    // One at a time, so that a done which cancels another finished job is obeyed.
    for (; budget > 0; --budget) {
        Job job;
        {
            std::lock_guard lock(mutex_);
            if (completed_.empty()) {
                return;  // the rest were cancelled by an earlier done
            }
            job = std::move(completed_.front());
            completed_.pop_front();
        }
        --pending_;  // before done: it may post the next job in this one's place
        if (!job.cancelled) {
            job.done();
        }
    }
}

void WorkerPool::onCompleted(evutil_socket_t fd, short, void* arg) {
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof(count));
    static_cast<WorkerPool*>(arg)->deliverCompleted();
}

}  // namespace corvid::util
