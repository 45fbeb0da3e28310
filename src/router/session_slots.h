#pragma once

#include <cstdint>
#include <memory>

namespace corvid::router {

/// Names one kind of per-session state, typed by what it holds. A module gets its keys from
/// Hooks::declareSlot<T>() once, when it is built, and reads and writes the state of a session
/// with LocalSession::slot(key) (style.md §7.8: typed slots, no fields anyone writes, no maps
/// keyed by session id).
template <typename T>
class SlotKey {
  public:
    /// Names no slot; must be replaced by a declared key before use.
    SlotKey() = default;

  private:
    friend class Hooks;
    friend class SessionSlots;
    static constexpr std::uint32_t kNone = ~std::uint32_t{0};
    explicit SlotKey(std::uint32_t index) : index_(index) {}
    std::uint32_t index_ = kNone;
};

/// The slots of one session: one node per slot in use, made when the slot is first written and
/// destroyed with the session (or by erase()). A session that holds none costs one pointer, and
/// a session holds a handful at most, so a list is the smallest and quickest store.
class SessionSlots {
  public:
    /// The state under `key`, value-initialised when it was not there.
    template <typename T>
    T& get(SlotKey<T> key) {
        if (T* existing = find(key)) {
            return *existing;
        }
        auto node = std::make_unique<Node<T>>();
        node->index = key.index_;
        node->next = std::move(head_);
        T& value = node->value;
        head_ = std::move(node);
        return value;
    }
    /// The state under `key`, or nullptr when the session holds none.
    template <typename T>
    T* find(SlotKey<T> key) {
        NodeBase* node = findNode(key.index_);
        return node == nullptr ? nullptr : &static_cast<Node<T>*>(node)->value;
    }
    template <typename T>
    const T* find(SlotKey<T> key) const {
        const NodeBase* node = findNode(key.index_);
        return node == nullptr ? nullptr : &static_cast<const Node<T>*>(node)->value;
    }
    /// Destroys the state under `key`, if any.
    template <typename T>
    void erase(SlotKey<T> key) {
        for (std::unique_ptr<NodeBase>* link = &head_; *link; link = &(*link)->next) {
            if ((*link)->index == key.index_) {
                *link = std::move((*link)->next);
                return;
            }
        }
    }

  private:
    struct NodeBase {
        virtual ~NodeBase() = default;
        std::unique_ptr<NodeBase> next;
        std::uint32_t index = 0;
    };
    template <typename T>
    struct Node final : NodeBase {
        T value{};
    };

    NodeBase* findNode(std::uint32_t index) const {
        for (NodeBase* node = head_.get(); node != nullptr; node = node->next.get()) {
            if (node->index == index) {
                return node;
            }
        }
        return nullptr;
    }

    std::unique_ptr<NodeBase> head_;
};

}  // namespace corvid::router
