// future.hpp — results that arrive later: FutureResult (what Proxy::async_call and
// BatchProxy::run_async return) and Future, which runs any callable on its own thread (Pyro4's
// Pyro4.futures). Relies on value.hpp and convert.hpp only; the client layer uses it.
//
//   pyro::Future slow([](int a, int b) { return a + b; });   // Future<lambda type>
//   slow.then([](const pyro::Value& sum) { return sum.as_int() * 10; }).delay(0.5);
//   pyro::FutureResult r = slow(3, 4);      // returns at once
//   r.value();                               // 70, after half a second
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyro/convert.hpp"
#include "pyro/errors.hpp"
#include "pyro/value.hpp"

namespace pyro {

// Python's RuntimeError, which Pyro4's futures raise ("future has been cancelled").
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// A then() callable as the chain keeps it: the previous value in, the next value out.
using ChainStep = std::function<Value(Value)>;
using ErrorHandler = std::function<void(std::exception_ptr)>;

template <class F, class... A>
ChainStep make_chain_step(F f, A... extra) {
  return [f = std::move(f), ... extra = std::move(extra)](Value previous) mutable -> Value {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, Value, A&...>>) {
      std::invoke(f, std::move(previous), extra...);
      return Value();
    } else {
      return to_value(std::invoke(f, std::move(previous), extra...));
    }
  };
}

// Accepts handler(std::exception_ptr) and handler(const std::exception&).
template <class F>
ErrorHandler make_error_handler(F f) {
  if constexpr (std::is_invocable_v<F&, std::exception_ptr>) {
    return [f = std::move(f)](std::exception_ptr e) mutable { f(e); };
  } else {
    return [f = std::move(f)](std::exception_ptr e) mutable {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        f(x);
      } catch (...) {
      }
    };
  }
}
}  // namespace detail

// The value of a call that is still running, or done (Pyro4's FutureResult). A handle: copies
// share one result. Thread safety: thread-safe.
class FutureResult {
 public:
  FutureResult();

  // Waits until the value is there, at most timeout seconds (nullopt: without limit). Returns
  // whether it is there.
  bool wait(std::optional<double> timeout = std::nullopt) const;
  bool ready() const;
  // The value (waiting for it); throws the exception of the call or of a then() step.
  Value value() const;
  template <class R>
  R value_as() const {
    return from_value<R>(value());
  }

  // Adds f to the chain: once the value arrives, f(value, extra...) replaces it (and the next
  // step gets that). When the value is already there, f runs now. A step that throws makes its
  // exception the result. Returns *this for chaining.
  template <class F, class... A>
  FutureResult& then(F f, A... extra) {
    add_step(detail::make_chain_step(std::move(f), std::move(extra)...));
    return *this;
  }
  // handler(std::exception_ptr) or handler(const std::exception&) is called when the result
  // turns out to be an exception (otherwise exceptions wait silently for value()).
  template <class F>
  FutureResult& iferror(F handler) {
    set_error_handler(detail::make_error_handler(std::move(handler)));
    return *this;
  }

  // The producing side: each result is set once (later sets are ignored).
  void set_value(Value v);
  void set_exception(std::exception_ptr e);

 private:
  struct State;
  void add_step(detail::ChainStep step);
  void set_error_handler(detail::ErrorHandler handler);
  std::shared_ptr<State> state_;
};

namespace detail {
// The non-template part of Future: the delay, the cancellation, the chain, the thread.
class FutureCore {
 public:
  FutureCore();
  FutureResult start(std::function<Value()> call);
  bool delay(double seconds);
  bool cancel();
  void add_step(ChainStep step);
  void set_error_handler(ErrorHandler handler);

 private:
  struct State;
  std::shared_ptr<State> state_;
};
}  // namespace detail

// Runs a callable on its own thread when called, returning a FutureResult at once (Pyro4's
// Future). Until the call starts it may be delayed or cancelled. A handle: copies share one
// future, which is called once. Thread safety: thread-safe.
template <class F>
class Future {
 public:
  explicit Future(F callable) : callable_(std::make_shared<F>(std::move(callable))) {}

  // Starts the call with these arguments (copied to its thread). Throws RuntimeError when the
  // future was already called ("the future has already been evaluated") or cancelled ("the
  // future has been cancelled").
  template <class... A>
  FutureResult operator()(A... args) {
    return core_.start([c = callable_, ... args = std::move(args)]() mutable -> Value {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, A&...>>) {
        std::invoke(*c, args...);
        return Value();
      } else {
        return to_value(std::invoke(*c, args...));
      }
    });
  }

  // Postpones the call: it starts `seconds` from now. False once it has started.
  bool delay(double seconds) { return core_.delay(seconds); }
  // Cancels the call if it has not started (its result becomes RuntimeError("future has been
  // cancelled")). False once it has started.
  bool cancel() { return core_.cancel(); }

  // Steps run on the future's thread after the callable, each getting the previous value.
  template <class G, class... A>
  Future& then(G g, A... extra) {
    core_.add_step(detail::make_chain_step(std::move(g), std::move(extra)...));
    return *this;
  }
  // Called (on the future's thread) with the exception of the callable or of a step.
  template <class H>
  Future& iferror(H handler) {
    core_.set_error_handler(detail::make_error_handler(std::move(handler)));
    return *this;
  }

 private:
  std::shared_ptr<F> callable_;
  detail::FutureCore core_;
};

}  // namespace pyro
