#pragma once

#include <cassert>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace corvid::util {

/// A first-in first-out queue that holds no heap memory while it is empty and costs one pointer,
/// for the small queues kept per account or per session (pending operations, stanzas waiting
/// for a load). libstdc++'s std::deque allocates a 512-byte block and its map as soon as it is
/// constructed, even when nothing is ever queued: with one idle queue per logged-in user that
/// was the largest part of their per-session state. Here the buffer is made on the first push
/// and freed whenever the queue drains.
///
/// Elements live in a vector; popping advances a head index and the consumed prefix is dropped
/// once it is at least half the buffer, so push and pop are amortised O(1).
template <typename T>
class Fifo {
  public:
    bool empty() const { return buffer_ == nullptr; }
    std::size_t size() const { return buffer_ ? buffer_->items.size() - buffer_->head : 0; }

    T& front() {
        assert(!empty());
        return buffer_->items[buffer_->head];
    }

    void push_back(T&& value) { emplace_back(std::move(value)); }
    void push_back(const T& value) { emplace_back(value); }
    template <typename... Args>
    T& emplace_back(Args&&... args) {
        if (!buffer_) {
            buffer_ = std::make_unique<Buffer>();
        }
        return buffer_->items.emplace_back(std::forward<Args>(args)...);
    }

    /// Removes and returns the oldest element.
    T take_front() {
        T value = std::move(front());
        pop_front();
        return value;
    }

    void pop_front() {
        assert(!empty());
        Buffer& b = *buffer_;
        ++b.head;
        if (b.head == b.items.size()) {
            buffer_.reset();
        } else if (b.head * 2 >= b.items.size()) {
            b.items.erase(b.items.begin(), b.items.begin() + static_cast<std::ptrdiff_t>(b.head));
            b.head = 0;
        }
    }

    /// Empties the queue and gives its memory back.
    void clear() { buffer_.reset(); }

  private:
    struct Buffer {
        std::vector<T> items;
        std::size_t head = 0;  // items[0, head) have been taken (moved from)
    };
    std::unique_ptr<Buffer> buffer_;  // null exactly when the queue is empty
};

}  // namespace corvid::util
