// future.cpp — FutureResult and the thread side of Future (Pyro4's futures module).
#include "pyro/future.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace pyro {

// =============================================================================================
// FutureResult
// =============================================================================================

struct FutureResult::State {
  std::mutex mutex;
  std::condition_variable ready_cv;
  bool ready = false;                    // guarded by mutex
  Value value;                           // guarded by mutex
  std::exception_ptr error;              // guarded by mutex
  std::vector<detail::ChainStep> chain;  // guarded by mutex
  detail::ErrorHandler on_error;         // guarded by mutex

  // Runs steps over value; the first one that throws makes its exception the result.
  void run_steps(std::vector<detail::ChainStep>& steps) {
    for (auto& step : steps) {
      try {
        value = step(std::move(value));
      } catch (...) {
        error = std::current_exception();
        value = Value();
        break;
      }
    }
    steps.clear();
  }
  void report_error() {
    if (!error || !on_error) return;
    try {
      on_error(error);
    } catch (...) {
      // an error handler's own failure has nowhere to go
    }
  }
  void finish(std::unique_lock<std::mutex>& lock) {
    report_error();
    ready = true;
    lock.unlock();
    ready_cv.notify_all();
  }
};

FutureResult::FutureResult() : state_(std::make_shared<State>()) {}

bool FutureResult::wait(std::optional<double> timeout) const {
  std::unique_lock lock(state_->mutex);
  if (!timeout) {
    state_->ready_cv.wait(lock, [&] { return state_->ready; });
    return true;
  }
  return state_->ready_cv.wait_for(lock, std::chrono::duration<double>(std::max(0.0, *timeout)),
                                   [&] { return state_->ready; });
}

bool FutureResult::ready() const {
  std::lock_guard lock(state_->mutex);
  return state_->ready;
}

Value FutureResult::value() const {
  std::unique_lock lock(state_->mutex);
  state_->ready_cv.wait(lock, [&] { return state_->ready; });
  if (state_->error) std::rethrow_exception(state_->error);
  return state_->value;
}

void FutureResult::set_value(Value v) {
  std::unique_lock lock(state_->mutex);
  if (state_->ready) return;
  state_->value = std::move(v);
  state_->run_steps(state_->chain);
  state_->finish(lock);
}

void FutureResult::set_exception(std::exception_ptr e) {
  std::unique_lock lock(state_->mutex);
  if (state_->ready) return;
  state_->error = std::move(e);
  state_->chain.clear();
  state_->finish(lock);
}

void FutureResult::add_step(detail::ChainStep step) {
  std::lock_guard lock(state_->mutex);
  if (!state_->ready) {
    state_->chain.push_back(std::move(step));
    return;
  }
  if (state_->error) return;  // a failed result stays failed
  std::vector<detail::ChainStep> now;
  now.push_back(std::move(step));
  state_->run_steps(now);
  state_->report_error();
}

void FutureResult::set_error_handler(detail::ErrorHandler handler) {
  std::lock_guard lock(state_->mutex);
  state_->on_error = std::move(handler);
}

// =============================================================================================
// Future
// =============================================================================================

namespace detail {

struct FutureCore::State {
  using Clock = std::chrono::steady_clock;
  std::mutex mutex;
  std::condition_variable wake;
  bool called = false;   // operator() happened
  bool started = false;  // the callable runs or ran (Pyro4's "completed")
  bool cancelled = false;
  double pending_delay = 0;  // before the call: the delay it will start with
  Clock::time_point start_at;
  std::vector<ChainStep> chain;
  ErrorHandler on_error;
};

FutureCore::FutureCore() : state_(std::make_shared<State>()) {}

FutureResult FutureCore::start(std::function<Value()> call) {
  std::unique_lock lock(state_->mutex);
  if (state_->called) throw RuntimeError("the future has already been evaluated");
  if (state_->cancelled) throw RuntimeError("the future has been cancelled");
  state_->called = true;
  state_->start_at =
      State::Clock::now() + std::chrono::duration_cast<State::Clock::duration>(
                                std::chrono::duration<double>(state_->pending_delay));
  FutureResult result;
  std::thread([state = state_, call = std::move(call), result]() mutable {
    std::unique_lock lock(state->mutex);
    while (!state->cancelled && State::Clock::now() < state->start_at)
      state->wake.wait_until(lock, state->start_at);
    state->started = true;
    if (state->cancelled) {
      lock.unlock();
      result.set_exception(std::make_exception_ptr(RuntimeError("future has been cancelled")));
      return;
    }
    std::vector<ChainStep> chain = std::move(state->chain);
    ErrorHandler on_error = std::move(state->on_error);
    lock.unlock();
    try {
      Value value = call();
      for (auto& step : chain)
        value = step(std::move(value));
      result.set_value(std::move(value));
    } catch (...) {
      std::exception_ptr error = std::current_exception();
      if (on_error) {
        try {
          on_error(error);
        } catch (...) {
        }
      }
      result.set_exception(error);
    }
  }).detach();
  return result;
}

bool FutureCore::delay(double seconds) {
  std::lock_guard lock(state_->mutex);
  if (state_->started) return false;
  if (!state_->called) {
    state_->pending_delay = seconds;
  } else {
    state_->start_at = State::Clock::now() + std::chrono::duration_cast<State::Clock::duration>(
                                                 std::chrono::duration<double>(seconds));
    state_->wake.notify_all();
  }
  return true;
}

bool FutureCore::cancel() {
  std::lock_guard lock(state_->mutex);
  if (state_->started) return false;
  state_->cancelled = true;
  state_->wake.notify_all();
  return true;
}

void FutureCore::add_step(ChainStep step) {
  std::lock_guard lock(state_->mutex);
  if (state_->called) throw RuntimeError("the future has already been evaluated");
  state_->chain.push_back(std::move(step));
}

void FutureCore::set_error_handler(ErrorHandler handler) {
  std::lock_guard lock(state_->mutex);
  state_->on_error = std::move(handler);
}

}  // namespace detail
}  // namespace pyro
