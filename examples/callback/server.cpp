// callback server — makes workers for its clients. A client passes a proxy to a callback object
// of its own; the worker, a Pyro object returned to the client (as a proxy), works, then calls
// the client back through that proxy to say it is done.
// Usage: callback_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "pyro/client.hpp"

namespace {

class Worker {
 public:
  Worker(int number, pyro::ProxyState callback, pyro::Daemon& daemon)
      : number_(number), callback_(std::move(callback)), daemon_(daemon) {
    std::cout << "Worker " << number_ << " created" << std::endl;
  }
  // Oneway: the client does not wait for the work.
  void work(double seconds) {
    std::cout << "Worker " << number_ << " busy..." << std::endl;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    std::cout << "Worker " << number_ << " done. Informing callback client." << std::endl;
    daemon_.unexpose(id);
    // A proxy made from what the client sent, on this thread: this thread owns it.
    pyro::Proxy callback = pyro::Proxy::from_state(callback_);
    callback.call("done", number_);
  }
  std::string id;  // set once exposed

 private:
  int number_;
  pyro::ProxyState callback_;
  pyro::Daemon& daemon_;
};

class CallbackServer {
 public:
  explicit CallbackServer(pyro::Daemon& daemon) : daemon_(daemon) {}
  // callback: the value form of the client's proxy. Returning the registered worker sends the
  // client a proxy for it (Pyro's autoproxy).
  std::shared_ptr<Worker> addworker(pyro::ProxyState callback) {
    const int number = ++count_;
    std::cout << "server: adding worker " << number << std::endl;
    auto worker = std::make_shared<Worker>(number, std::move(callback), daemon_);
    worker->id = daemon_.expose(worker, "", worker_exposure()).object();
    return worker;
  }

 private:
  static const pyro::Exposed<Worker>& worker_exposure() {
    static const auto exposed = pyro::Exposed<Worker>("Worker").oneway("work", &Worker::work);
    return exposed;
  }
  pyro::Daemon& daemon_;
  std::atomic<int> count_ = 0;
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
  // work() is oneway: nobody would hear of a failed callback unless we print it here.
  daemon.set_oneway_error_handler([](const pyro::ExceptionInfo& error) {
    std::cout << "oneway call failed: " << error.class_name << ": " << error.message() << std::endl;
  });
  const auto exposed = pyro::Exposed<CallbackServer>("CallbackServer")
                           .method("addworker", &CallbackServer::addworker, {"callback"});
  const pyro::Uri uri =
      daemon.expose(std::make_shared<CallbackServer>(daemon), "example.callback", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
