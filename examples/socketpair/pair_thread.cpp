// socketpair, threads — a daemon and a proxy talking over the two ends of a socketpair(): no
// listening socket, no address. The daemon serves on a background thread of this program.
// Usage: socketpair_thread
#include <iostream>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "pyro/client.hpp"
#include "pyro/server.hpp"

namespace {

struct Echo {
  std::string echo(const std::string& message) {
    std::cout << "server got message: " << message << std::endl;
    return "thank you";
  }
};

}  // namespace

int main() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    std::cerr << "socketpair failed\n";
    return 1;
  }
  try {
    {
      // The daemon serves one end; the sockets stay ours, we close them at the end.
      pyro::DaemonOptions options;
      options.connected_socket = fds[0];
      pyro::Daemon daemon(options);
      daemon.expose(std::make_shared<Echo>(), "echo",
                    pyro::Exposed<Echo>("Echo").method("echo", &Echo::echo));
      std::cout << "(Pyro daemon running on " << daemon.location() << ")\n" << std::endl;
      daemon.start();

      // Proxies on the other end: no handshake, just calls. Two in a row share the socket.
      for (const std::string prefix : {"hello", "hello2"}) {
        pyro::Proxy p = pyro::Proxy::on_connected_socket(fds[1], "echo");
        for (const std::string& message : {prefix + "!", prefix + " again!"}) {
          const auto reply = p.call<std::string>("echo", message);
          std::cout << "client got reply: " << reply << std::endl;
        }
      }
    }  // the proxies, then the daemon, go away here
    std::cout << "\nThe end." << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "socketpair example failed: " << e.what() << "\n";
    return 1;
  }
  ::close(fds[0]);
  ::close(fds[1]);
  return 0;
}
