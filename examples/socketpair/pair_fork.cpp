// socketpair, fork — like socketpair_thread, but the daemon runs in a child process made with
// fork(): the parent calls it through its end of the socketpair, then ends the child.
// Usage: socketpair_fork
#include <iostream>
#include <memory>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
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

// The child: serves its end of the pair until it is terminated.
int serve(int fd) {
  pyro::DaemonOptions options;
  options.connected_socket = fd;
  pyro::Daemon daemon(options);
  daemon.expose(std::make_shared<Echo>(), "echo",
                pyro::Exposed<Echo>("Echo").method("echo", &Echo::echo));
  std::cout << "Process PID=" << ::getpid() << ": Pyro daemon running on " << daemon.location()
            << std::endl;
  daemon.request_loop();
  return 0;
}

}  // namespace

int main() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    std::cerr << "socketpair failed\n";
    return 1;
  }
  // Fork before any thread exists: the child starts the daemon's threads itself.
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << "fork failed\n";
    return 1;
  }
  if (pid == 0) {
    ::close(fds[1]);
    try {
      return serve(fds[0]);
    } catch (const std::exception& e) {
      std::cerr << "daemon failed: " << e.what() << "\n";
      return 1;
    }
  }

  ::close(fds[0]);
  std::cout << "Process PID=" << ::getpid() << ": Pyro client." << std::endl;
  int status = 1;
  try {
    for (const std::string prefix : {"hello", "hello2"}) {
      pyro::Proxy p = pyro::Proxy::on_connected_socket(fds[1], "echo");
      for (const std::string& message : {prefix + "!", prefix + " again!"}) {
        const auto reply = p.call<std::string>("echo", message);
        std::cout << "client got reply: " << reply << std::endl;
      }
    }
    status = 0;
  } catch (const std::exception& e) {
    std::cerr << "client failed: " << e.what() << "\n";
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(fds[1]);
  std::cout << "\nThe end." << std::endl;
  return status;
}
