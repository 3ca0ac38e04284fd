// generator.hpp — a minimal C++20 coroutine generator (std::generator is C++23): what a
// server method can return to stream items lazily (see ItemStream in server.hpp). Relies on
// the standard library only.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace pyro {

// A coroutine producing Ts with co_yield, resumed one item at a time by next().
// Resource type: move-only; destroying it destroys the coroutine frame (and what it holds).
// Thread safety: one thread at a time.
template <class T>
class Generator {
 public:
  struct promise_type {
    std::optional<T> current;
    std::exception_ptr error;

    Generator get_return_object() {
      return Generator(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    template <class U>
    requires std::is_convertible_v<U, T> std::suspend_always yield_value(U&& value) {
      current.emplace(std::forward<U>(value));
      return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  Generator(Generator&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  ~Generator() {
    if (handle_) handle_.destroy();
  }

  // Runs the coroutine to its next co_yield: the item, or nullopt when it has finished. An
  // exception escaping the coroutine is thrown here (once; then the generator is finished).
  std::optional<T> next() {
    if (!handle_ || handle_.done()) return std::nullopt;
    promise_type& p = handle_.promise();
    p.current.reset();
    handle_.resume();
    if (p.error) std::rethrow_exception(std::exchange(p.error, nullptr));
    if (handle_.done()) return std::nullopt;
    return std::move(p.current);
  }

 private:
  explicit Generator(std::coroutine_handle<promise_type> h) : handle_(h) {}
  std::coroutine_handle<promise_type> handle_;
};

}  // namespace pyro
