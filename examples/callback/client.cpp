// callback client — runs a daemon of its own for a callback object, gives the server a proxy to
// it, starts a few workers there, and waits until each of them has called back.
// Usage: callback_client <uri of example.callback> [--host HOST (of its own daemon)]
#include "pyro/client.hpp"

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "pyro/server.hpp"

namespace {

constexpr int num_workers = 5;

// Called from the daemon's threads.
class CallbackHandler {
 public:
  void done(int number) {
    std::lock_guard lock(mutex_);
    std::cout << "callback: worker " << number << " reports work is done!" << std::endl;
    ++work_done_;
    changed_.notify_all();
  }
  // Waits (bounded) until `count` workers have reported.
  bool wait_for(int count, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return work_done_ >= count; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int work_done_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: callback_client <uri of example.callback> [--host HOST]\n";
    return 2;
  }
  pyro::DaemonOptions options;
  if (argc > 3 && std::string(argv[2]) == "--host") options.host = argv[3];
  try {
    pyro::Daemon daemon(options);
    auto handler = std::make_shared<CallbackHandler>();
    const pyro::Uri callback_uri =
        daemon.expose(handler, "",
                      pyro::Exposed<CallbackHandler>("CallbackHandler")
                          .method("done", &CallbackHandler::done, {"number"}));
    daemon.start();  // serves the callbacks on background threads

    std::cout << "creating a bunch of workers" << std::endl;
    std::mt19937 random{std::random_device{}()};
    {
      pyro::Proxy server(argv[1]);
      const pyro::Proxy callback(callback_uri);  // travels as its value form, ProxyState
      for (int i = 0; i < num_workers; ++i) {
        // The server returns a proxy for a worker object of its own.
        const auto worker_state = server.call<pyro::ProxyState>("addworker", callback.state());
        pyro::Proxy worker = pyro::Proxy::from_state(worker_state);
        worker.call("work", 0.2 + 0.2 * static_cast<double>(random() % 5));  // oneway
      }
    }
    std::cout << "waiting for all work complete..." << std::endl;
    if (!handler->wait_for(num_workers, std::chrono::seconds(30))) {
      std::cerr << "not all workers called back\n";
      return 1;
    }
    daemon.shutdown();
  } catch (const std::exception& e) {
    std::cerr << "callback client failed: " << e.what() << "\n";
    return 1;
  }
  std::cout << "done!" << std::endl;
  return 0;
}
