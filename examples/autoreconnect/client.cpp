// autoreconnect client — keeps calling a server that may be stopped and restarted. When the
// connection is lost it says so and calls reconnect(), which retries until the server is back
// (Pyro's _pyroReconnect). With --auto it does not call reconnect(): the proxy connects again by
// itself at the next call, and MAX_RETRIES (set_max_retries) re-sends a call whose connection
// turns out to be dead.
// Usage: autoreconnect_client <uri> [--calls N (default: forever)] [--auto]
#include "pyro/client.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: autoreconnect_client <uri> [--calls N] [--auto]\n";
    return 2;
  }
  long calls = -1;
  bool automatic = false;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--calls" && i + 1 < argc) calls = std::atol(argv[++i]);
    if (flag == "--auto") automatic = true;
  }
  std::cout << "Autoreconnect using PYRO uri." << std::endl;
  try {
    pyro::Proxy obj(argv[1]);
    if (automatic) obj.set_max_retries(2);
    for (long done = 0; calls < 0 || done < calls;) {
      std::cout << "call..." << std::endl;
      try {
        obj.call("method", 42);
        ++done;
        std::cout << "sleeping 0.5 second" << std::endl;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      } catch (const pyro::CommunicationError& e) {  // mostly ConnectionClosedError
        std::cout << "connection lost: " << e.python_name() << ": " << e.what() << std::endl;
        if (automatic) {  // the next call connects again
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          continue;
        }
        std::cout << "REBINDING... (restart the server now)" << std::endl;
        obj.reconnect();  // tries every 2 seconds until it works
        std::cout << "reconnected" << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "autoreconnect client failed: " << e.what() << "\n";
    return 1;
  }
  std::cout << "done." << std::endl;
  return 0;
}
