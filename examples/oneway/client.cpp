// oneway client — starts slow work on the server with oneway calls, which return at once, and
// polls until the work is done. Usage: oneway_client <uri of example.oneway>
#include "pyro/client.hpp"

#include <chrono>
#include <iomanip>
#include <iostream>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: oneway_client <uri of example.oneway>\n";
    return 2;
  }
  std::cout << std::fixed;
  try {
    pyro::Proxy server{argv[1]};
    server.bind();  // connect first, so that the timing below is of the calls only
    std::cout << "starting the server's work with a oneway call" << std::endl;
    const Clock::time_point start = Clock::now();
    server.call("oneway_start", 3);  // declared oneway: returns without waiting
    std::cout << "doing some more calls in between" << std::endl;
    for (int i = 0; i < 4; ++i)
      server.call("nothing");
    std::cout << "oneway_start(3) and 4 calls of nothing() took " << std::setprecision(3)
              << seconds_since(start) << " s" << std::endl;

    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::cout << "\nasking the server whether it is done, until it is" << std::endl;
    int attempts = 0;
    while (true) {
      ++attempts;
      std::cout << "server done? " << std::flush;
      if (server.call<bool>("ready")) break;
      std::cout << "no, trying again" << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::cout << "yes! after " << attempts << " attempts and " << std::setprecision(1)
              << seconds_since(start) << " s" << std::endl;
    std::cout << "the result: " << server.call<std::string>("result") << std::endl;

    std::cout << "\ncalling oneway_work: the server keeps working after this client exits"
              << std::endl;
    server.call("oneway_work");
  } catch (const std::exception& e) {
    std::cerr << "oneway client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
