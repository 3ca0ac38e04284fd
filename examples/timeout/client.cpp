// timeout client — calls a slow method with and without timeouts: per proxy (set_timeout, Pyro's
// _pyroTimeout) and for every proxy made with a Config (COMMTIMEOUT); then tries a frozen daemon,
// and finally sees a daemon's own COMMTIMEOUT close an idle connection.
// Usage: timeout_client <uri> <frozen uri> <impatient uri>   (as timeout_server prints them)
#include "pyro/client.hpp"

#include <chrono>
#include <functional>
#include <iomanip>
#include <iostream>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

// Runs f, prints how it ended and how long it took, and checks the duration.
bool timed(const std::string& what, double expected, const std::function<void()>& f) {
  std::cout << what << std::endl;
  const Clock::time_point start = Clock::now();
  try {
    f();
  } catch (const pyro::TimeoutError& e) {
    std::cout << "  TimeoutError! As expected: " << e.what() << std::endl;
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "  took " << std::fixed << std::setprecision(1) << took << " s" << std::endl;
  return took > expected - 0.1 && took < expected + 0.4;  // a busy machine may be late
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: timeout_client <uri> <frozen uri> <impatient uri>\n";
    return 2;
  }
  bool ok = true;
  try {
    pyro::Config config = pyro::Config::global();
    config.commtimeout = 0;  // no timeout for proxies made with this config
    pyro::Proxy obj(argv[1], config);
    obj.bind();
    ok &= timed("No timeout is configured. Calling delay(1).", 1.0, [&] {
      std::cout << "  result: " << obj.call<std::string>("delay", 1) << std::endl;
    });

    obj.set_timeout(0.5);  // for this proxy only
    ok &= timed("Timeout set to 0.5 seconds. Calling delay(1).", 0.5, [&] {
      obj.call("delay", 1);
      std::cout << "  !? should have raised TimeoutError !?" << std::endl;
    });

    config.commtimeout = 0.5;  // every proxy made with this config from now on
    pyro::Proxy obj2(argv[1], config);
    ok &= timed("COMMTIMEOUT is set to 0.5. Calling delay(1).", 0.5, [&] {
      obj2.call("delay", 1);
      std::cout << "  !? should have raised TimeoutError !?" << std::endl;
    });

    obj2.set_timeout(0);  // override again for this proxy
    ok &= timed("No timeout is configured. Calling delay(1.5).", 1.5, [&] {
      std::cout << "  result: " << obj2.call<std::string>("delay", 1.5) << std::endl;
    });

    pyro::Proxy frozen(argv[2], config);
    ok &= timed("Timeout set to 0.5 seconds. Connecting to the frozen daemon.", 0.5, [&] {
      frozen.call("delay", 5);
      std::cout << "  !? should have raised TimeoutError !?" << std::endl;
    });

    config.commtimeout = 0;
    pyro::Proxy impatient(argv[3], config);
    impatient.bind();
    std::cout << "Idling 1.5 s on a connection to a daemon with a COMMTIMEOUT of 1 s." << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    try {
      impatient.call("delay", 0);
      std::cout << "  the connection was still there" << std::endl;
    } catch (const pyro::ConnectionClosedError& e) {
      std::cout << "  ConnectionClosedError: " << e.what() << std::endl;
    }
    std::cout << "  calling again: " << impatient.call<std::string>("delay", 0) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "timeout client failed: " << e.what() << "\n";
    return 1;
  }
  std::cout << (ok ? "all durations as expected" : "some durations were off") << std::endl;
  return ok ? 0 : 1;
}
