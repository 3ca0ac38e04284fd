// instancemode server — one class registered three times, with each instance mode (Pyro's
// @behavior(instance_mode=...)): single (one instance for everybody), session (one per client
// connection) and percall (a new one for every call). Instances are numbered per registration.
// Usage: instancemode_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <atomic>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

namespace {

class Instance {
 public:
  Instance(std::string kind, int number) : kind_(std::move(kind)), number_(number) {}
  // Returns the number of the instance that answered.
  int msg(const std::string& message) {
    std::cout << "[#" << number_ << "] " << kind_ << ".msg: " << message << std::endl;
    return number_;
  }

 private:
  std::string kind_;
  int number_;
};

// Makes numbered instances; runs in the thread of the call that needs one, so it can see who
// that call came from.
std::function<std::shared_ptr<Instance>()> factory(std::string kind) {
  auto created = std::make_shared<std::atomic<int>>(0);
  return [kind, created] {
    const int number = ++*created;
    std::cout << "created " << kind << " #" << number << " for client "
              << pyro::current_context().client_address << std::endl;
    return std::make_shared<Instance>(kind, number);
  };
}

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  pyro::Daemon daemon(options);
  const auto exposed = pyro::Exposed<Instance>("Instance").method("msg", &Instance::msg);
  const pyro::Uri percall = daemon.expose_class(factory("PercallInstance"), "instance.percall",
                                                exposed, pyro::InstanceMode::percall);
  const pyro::Uri session = daemon.expose_class(factory("SessionInstance"), "instance.session",
                                                exposed, pyro::InstanceMode::session);
  const pyro::Uri single = daemon.expose_class(factory("SingleInstance"), "instance.single",
                                               exposed, pyro::InstanceMode::single);
  std::cout << "uri percall: " << percall.str() << "\n"
            << "uri session: " << session.str() << "\n"
            << "uri single: " << single.str() << std::endl;
  daemon.request_loop();
}
