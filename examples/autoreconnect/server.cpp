// autoreconnect server — an object with a fixed object id on a fixed port, so that a client's
// PYRO: URI stays valid when the server is stopped and started again.
// Usage: autoreconnect_server [--host HOST] [--port PORT (default 7777)]
#include "pyro/server.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

namespace {

// Keeps no state that a restart would lose: that is what makes reconnecting safe.
struct TestClass {
  void method(int arg) {
    std::cout << "method called with " << arg << std::endl;
    std::cout << "you can now try to stop this server" << std::endl;
  }
};

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  options.port = 7777;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  pyro::Daemon daemon(options);
  // The same id on every start (not a generated one): the old URI finds the new object.
  const pyro::Uri uri =
      daemon.expose(std::make_shared<TestClass>(), "example.autoreconnect_fixed_objectid",
                    pyro::Exposed<TestClass>("TestClass").method("method", &TestClass::method));
  std::cout << "Server started, uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
