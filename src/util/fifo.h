#pragma once

#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

namespace corvid::util {

/// A first-in first-out queue that holds no heap memory while it is empty, for the small queues
/// kept per account or per session (pending operations, stanzas waiting for a load). libstdc++'s
/// std::deque allocates a 512-byte block and its map as soon as it is constructed, even when
/// nothing is ever queued: with one idle queue per logged-in user that was the largest part of
/// their per-session state. Here the buffer is released whenever the queue drains, so an idle
/// queue costs only its own 32 bytes.
///
/// Elements live in a vector; popping advances a head index and the consumed prefix is dropped
/// once it is at least half the buffer, so push and pop are amortised O(1).
template <typename T>
class Fifo {
  public:
    Fifo() = default;
    Fifo(Fifo&& other) noexcept
        : items_(std::move(other.items_)), head_(std::exchange(other.head_, 0)) {
        other.items_.clear();
    }
    Fifo& operator=(Fifo&& other) noexcept {
        if (this != &other) {
            items_ = std::move(other.items_);
            head_ = std::exchange(other.head_, 0);
            other.items_.clear();
        }
        return *this;
    }
    Fifo(const Fifo&) = delete;
    Fifo& operator=(const Fifo&) = delete;

    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }

    T& front() {
        assert(!empty());
        return items_[head_];
    }

    void push_back(T&& value) { items_.push_back(std::move(value)); }
    void push_back(const T& value) { items_.push_back(value); }
    template <typename... Args>
    T& emplace_back(Args&&... args) {
        return items_.emplace_back(std::forward<Args>(args)...);
    }

    /// Removes and returns the oldest element.
    T take_front() {
        assert(!empty());
        T value = std::move(items_[head_]);
        pop_front();
        return value;
    }

    void pop_front() {
        assert(!empty());
        ++head_;
        if (head_ == items_.size()) {
            clear();
        } else if (head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

    /// Empties the queue and gives its buffer back.
    void clear() {
        std::vector<T>().swap(items_);
        head_ = 0;
    }

  private:
    std::vector<T> items_;
    std::size_t head_ = 0;  // items_[0, head_) have been taken (moved from)
};

}  // namespace corvid::util
