// instancemode client — calls each registration three times through each of a few proxies and
// prints the number of the instance that answered.
// Usage: instancemode_client <percall uri> <session uri> <single uri>
#include "pyro/client.hpp"

#include <iostream>
#include <string>

namespace {

void three_calls(const char* uri, const std::string& message) {
  pyro::Proxy proxy{uri};  // a new proxy: a new connection, so a new session
  for (int i = 0; i < 3; ++i) {
    std::cout << "  msg(\"" << message << "\") answered by instance #"
              << proxy.call<int>("msg", message) << std::endl;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: instancemode_client <percall uri> <session uri> <single uri>\n";
    return 2;
  }
  try {
    std::cout << "PERCALL: a new instance for every call" << std::endl;
    for (const char* message : {"hello1", "hello2", "hello3"})
      three_calls(argv[1], message);
    std::cout << "\nSESSION: one instance per proxy (connection)" << std::endl;
    three_calls(argv[2], "hello1");
    std::cout << "  ..new proxy.." << std::endl;
    three_calls(argv[2], "hello2");
    std::cout << "\nSINGLE: the same instance always, whatever the proxy" << std::endl;
    for (const char* message : {"hello1", "hello2", "hello3"})
      three_calls(argv[3], message);
  } catch (const std::exception& e) {
    std::cerr << "instancemode client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
