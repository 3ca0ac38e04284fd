// batchedcalls server — a few small arithmetic methods to call many times, normally or batched.
// Usage: batchedcalls_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

namespace {

struct Thingy {
  long long multiply(long long a, long long b) { return a * b; }
  long long add(long long a, long long b) { return a + b; }
  // Python's a // b: rounds towards minus infinity, and raises ZeroDivisionError for b == 0.
  long long divide(long long a, long long b) {
    if (b == 0) {
      throw pyro::RemoteError(pyro::ExceptionInfo{
          "builtins.ZeroDivisionError", {pyro::Value("integer division or modulo by zero")}, {}});
    }
    const long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }
  double delay(double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    return seconds;
  }
  int printmessage(const std::string& message) {
    std::cout << message << std::endl;
    return 0;
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
  const auto exposed = pyro::Exposed<Thingy>("Thingy")
                           .method("multiply", &Thingy::multiply)
                           .method("add", &Thingy::add)
                           .method("divide", &Thingy::divide)
                           .method("delay", &Thingy::delay)
                           .method("printmessage", &Thingy::printmessage);
  const pyro::Uri uri = daemon.expose(std::make_shared<Thingy>(), "example.batched", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
