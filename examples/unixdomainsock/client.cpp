// unixdomainsock client — an ordinary proxy: the URI alone says the daemon is on a Unix socket.
// Usage: unixdomainsock_client <uri>   (e.g. PYRO:example.unixsock@./u:example_unix.sock; a \x00
// in it stands for the 0 byte that starts the name of an abstract socket)
#include "pyro/client.hpp"

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: unixdomainsock_client <uri of example.unixsock>\n";
    return 2;
  }
  try {
    std::string uri = argv[1];
    if (const auto zero = uri.find("\\x00"); zero != std::string::npos) {
      uri.replace(zero, 4, 1, '\0');
      std::cout << "(the uri names an abstract socket)" << std::endl;
    }
    pyro::Proxy proxy{std::string_view(uri)};
    std::cout << "response was: " << proxy.call<std::string>("message", "Hello there!")
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "unixdomainsock client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
