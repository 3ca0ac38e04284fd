// callback client 2 — offers the server two callback methods that both throw. call1 is an
// ordinary method: its exception only goes back to the server. call2 is declared with
// Exposed::callback (Pyro's @callback): its exception also goes to this program's log, which is
// switched on here (warnings to standard error) to show it.
// Usage: callback_client2 <uri of example.callback2> [--host HOST (of its own daemon)]
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "pyro/client.hpp"
#include "pyro/server.hpp"

namespace {

class CallbackHandler {
 public:
  int call1() {
    arrived("callback 1 received from server!");
    std::cout << "going to crash - you won't see the exception here, only on the server"
              << std::endl;
    return crash();
  }
  int call2() {
    arrived("callback 2 received from server!");
    std::cout << "going to crash - but you will see the exception logged here too" << std::endl;
    return crash();
  }
  bool wait_for(int count, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return calls_ >= count; });
  }

 private:
  static int crash() { throw std::domain_error("division by zero"); }
  void arrived(const std::string& what) {
    std::lock_guard lock(mutex_);
    std::cout << "\n" << what << std::endl;
    ++calls_;
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  int calls_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: callback_client2 <uri of example.callback2> [--host HOST]\n";
    return 2;
  }
  // Pyro's loggers are silent unless told otherwise: warnings to standard error, before the
  // configuration is first read.
  ::setenv("PYRO_LOGLEVEL", "WARNING", 1);
  ::setenv("PYRO_LOGFILE", "{stderr}", 1);
  pyro::DaemonOptions options;
  if (argc > 3 && std::string(argv[2]) == "--host") options.host = argv[3];
  try {
    pyro::Daemon daemon(options);
    auto handler = std::make_shared<CallbackHandler>();
    const auto exposed = pyro::Exposed<CallbackHandler>("CallbackHandler")
                             .method("call1", &CallbackHandler::call1)
                             .callback("call2", &CallbackHandler::call2);
    const pyro::Uri callback_uri = daemon.expose(handler, "", exposed);
    daemon.start();

    pyro::Proxy server(argv[1]);
    server.call("doCallback", pyro::Proxy(callback_uri).state());  // oneway: returns at once
    std::cout << "waiting for callbacks to arrive..." << std::endl;
    if (!handler->wait_for(2, std::chrono::seconds(20))) {
      std::cerr << "the callbacks did not arrive\n";
      return 1;
    }
    daemon.shutdown();  // lets the second callback finish (and log) first
  } catch (const std::exception& e) {
    std::cerr << "callback client2 failed: " << e.what() << "\n";
    return 1;
  }
  std::cout << "done." << std::endl;
  return 0;
}
