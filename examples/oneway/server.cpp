// oneway server — an object with slow oneway methods (Pyro's @oneway): the daemon runs them on
// its own threads, so it keeps answering the same client while they work.
// Usage: oneway_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

namespace {

class Worker {
 public:
  // Oneway: the client does not wait for this to finish.
  void oneway_start(int duration) {
    std::cout << "start request received, working for " << duration << " s" << std::endl;
    busy_ = true;
    for (int left = duration; left > 0; --left) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::cout << "  " << left - 1 << " s left" << std::endl;
    }
    std::cout << "work is done!" << std::endl;
    busy_ = false;
  }
  bool ready() {
    std::cout << "ready status requested (" << (busy_ ? "False" : "True") << ")" << std::endl;
    return !busy_;
  }
  std::string result() { return "The result :)"; }
  void nothing() { std::cout << "nothing got called, doing nothing" << std::endl; }
  // Oneway too: it goes on working after the client has gone.
  void oneway_work() {
    for (int i = 1; i <= 3; ++i) {
      std::cout << "work work.. " << i << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::cout << "work's done!" << std::endl;
  }

 private:
  std::atomic<bool> busy_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  pyro::Daemon daemon(options);
  const auto exposed = pyro::Exposed<Worker>("Worker")
                           .oneway("oneway_start", &Worker::oneway_start, {"duration"})
                           .method("ready", &Worker::ready)
                           .method("result", &Worker::result)
                           .method("nothing", &Worker::nothing)
                           .oneway("oneway_work", &Worker::oneway_work);
  const pyro::Uri uri = daemon.expose(std::make_shared<Worker>(), "example.oneway", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
