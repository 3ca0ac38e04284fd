// callback server 2 — calls two methods of a client's callback object, both of which throw. The
// exceptions come back here and are printed; the client's second method is declared as a
// callback (Exposed::callback, Pyro's @callback), so the client logs its exception too.
// Usage: callback_server2 [--host HOST] [--port PORT]
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "pyro/client.hpp"
#include "pyro/server.hpp"

namespace {

void print_error(const std::exception& e) {
  std::cout << "got an exception from the callback:" << std::endl;
  if (const auto* remote = dynamic_cast<const pyro::RemoteError*>(&e)) {
    std::cout << remote->class_name() << ": " << e.what() << std::endl;
    for (const std::string& line : remote->remote_traceback())
      std::cout << "  | " << line << (line.ends_with('\n') ? "" : "\n");
  } else {
    std::cout << e.what() << std::endl;
  }
}

struct CallbackServer {
  // Oneway: the client gets on with serving its daemon while this runs.
  void do_callback(const pyro::ProxyState& callback_state) {
    pyro::Proxy callback = pyro::Proxy::from_state(callback_state);
    for (const char* method : {"call1", "call2"}) {
      std::cout << "\nserver: doing " << method << " to client" << std::endl;
      try {
        callback.call(method);
      } catch (const std::exception& e) {
        print_error(e);
      }
    }
    std::cout << "server: callbacks done." << std::endl;
  }
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
  const auto exposed = pyro::Exposed<CallbackServer>("CallbackServer")
                           .oneway("doCallback", &CallbackServer::do_callback, {"callback"});
  const pyro::Uri uri =
      daemon.expose(std::make_shared<CallbackServer>(), "example.callback2", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
