// unixdomainsock server — a daemon listening on a Unix domain socket instead of TCP. Its URIs
// name the socket file ("PYRO:example.unixsock@./u:example_unix.sock"); clients use them like any
// other URI. Ctrl-C (or SIGTERM) stops it and removes the socket file. With --abstract, the
// socket is in Linux's abstract namespace instead (no file; its name starts with a 0 byte, which
// the printed URI shows as \x00).
// Usage: unixdomainsock_server [--abstract] [socket path, default example_unix.sock]
#include "pyro/server.hpp"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

namespace {

struct Thingy {
  std::string message(const std::string& text) {
    std::cout << "message received: " << text << std::endl;
    return "Roger!";
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool abstract = false;
  std::string path = "example_unix.sock";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--abstract") {
      abstract = true;
    } else {
      path = argv[i];
    }
  }
  if (abstract) {
    path.insert(0, 1, '\0');
  } else {
    std::filesystem::remove(path);  // left over from an earlier run that was killed
  }

  // The daemon's threads inherit this mask, so the signals wait for sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  pyro::DaemonOptions options;
  options.unixsocket = path;
  pyro::Daemon daemon(options);
  const auto exposed = pyro::Exposed<Thingy>("Thingy").method("message", &Thingy::message);
  const pyro::Uri uri = daemon.expose(std::make_shared<Thingy>(), "example.unixsock", exposed);
  std::string text = uri.str();
  if (abstract) text.replace(text.find('\0'), 1, "\\x00");
  std::cout << "uri: " << text << std::endl;
  daemon.start();

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cout << "stopping" << std::endl;
  daemon.shutdown();
  return 0;  // the daemon's destructor removes the socket file
}
