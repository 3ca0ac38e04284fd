// handshake client — connects with a secret code as its handshake data and prints the
// daemon's answer, or the reason it was refused.
// Usage: handshake_client <uri> <secret code>   (give a wrong code to see the refusal)
#include "pyro/client.hpp"

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: handshake_client <uri> <secret code>\n";
    return 2;
  }
  pyro::Proxy proxy{argv[1]};
  proxy.set_handshake(pyro::Value(argv[2]));
  // Called with the daemon's handshake answer when it accepts the connection.
  proxy.set_handshake_validator([](const pyro::Value& response) {
    std::cout << "proxy received handshake response data: " << response.repr() << std::endl;
  });
  try {
    std::cout << "connecting with secret code '" << argv[2] << "'..." << std::endl;
    proxy.bind();
    proxy.call("ping");
    std::cout << "connection ok!" << std::endl;
  } catch (const pyro::CommunicationError& e) {
    // The expected outcome of a wrong code, so not a failure of this program.
    std::cout << "connection refused: " << e.what() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "handshake client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
