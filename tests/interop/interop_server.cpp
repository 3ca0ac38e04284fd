// interop_server — the interop service (support/interop_service.hpp) served for live Python
// proxies (tests/interop/test_pyro4_to_cpp.py) on 127.0.0.1, a free port.
// Usage: interop_server [--kind service|guarded] [--key HMAC_KEY]
// Prints one "<object id> <uri>" line per exposed object, then "running.", and serves until
// killed. The Config is Pyro's defaults (no PYRO_* variables), so a run does not depend on the
// environment; --key sets protocol 48's HMAC key as pyro-ns -k does.
#include <iostream>
#include <string>

#include "pyro/server.hpp"
#include "support/interop_service.hpp"

int main(int argc, char** argv) {
  pyro::testing::InteropKind kind = pyro::testing::InteropKind::service;
  pyro::Config config = pyro::Config::defaults();
  config.host = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--kind" && has_value) {
      const std::string value = argv[++i];
      if (value == "service") {
        kind = pyro::testing::InteropKind::service;
      } else if (value == "guarded") {
        kind = pyro::testing::InteropKind::guarded;
      } else {
        std::cerr << "interop_server: unknown kind " << value << std::endl;
        return 2;
      }
    } else if (arg == "--key" && has_value) {
      config.hmac_key = argv[++i];
    } else {
      std::cerr << "usage: interop_server [--kind service|guarded] [--key HMAC_KEY]" << std::endl;
      return 2;
    }
  }
  try {
    pyro::Daemon daemon(pyro::DaemonOptions{}, config);
    pyro::testing::expose_interop_service(daemon, kind);
    for (const char* id : {"example.service", "example.sub"})
      std::cout << id << " " << daemon.uri_for(id).str() << "\n";
    std::cout << "running." << std::endl;
    daemon.request_loop();
  } catch (const std::exception& e) {
    std::cerr << "interop_server: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
