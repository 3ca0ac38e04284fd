// resourcetracking client — allocates two resources on the server, then frees them again; or,
// with --vanish, exits without freeing them, as a client that crashes would: the server closes
// them when it sees the connection go.
// Usage: resourcetracking_client <uri> [--vanish]
#include "pyro/client.hpp"

#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

std::string random_name() {
  static std::mt19937 generator{std::random_device{}()};
  const char* digits = "0123456789abcdef";
  std::string name;
  for (int i = 0; i < 4; ++i)
    name += digits[generator() % 16];
  return name;
}

void print_list(const std::string& what, pyro::Proxy& proxy) {
  std::cout << what << ": [";
  const auto names = proxy.call<std::vector<std::string>>("list");
  for (std::size_t i = 0; i < names.size(); ++i)
    std::cout << (i ? ", " : "") << "'" << names[i] << "'";
  std::cout << "]" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: resourcetracking_client <uri> [--vanish]\n";
    return 2;
  }
  const bool vanish = argc > 2 && std::string(argv[2]) == "--vanish";
  try {
    pyro::Proxy proxy(argv[1]);
    print_list("currently allocated resources", proxy);
    const std::string name1 = random_name(), name2 = random_name();
    std::cout << "allocating resource... " << name1 << std::endl;
    proxy.call("allocate", name1);
    std::cout << "allocating resource... " << name2 << std::endl;
    proxy.call("allocate", name2);
    if (vanish) {
      // No free(), no release, no destructors: the connection just drops.
      std::cout << "vanishing without freeing the resources" << std::endl;
      std::_Exit(0);
    }
    std::cout << "free resources normally..." << std::endl;
    proxy.call("free", name1);
    proxy.call("free", name2);
    print_list("allocated resources", proxy);
  } catch (const std::exception& e) {
    std::cerr << "resourcetracking client failed: " << e.what() << "\n";
    return 1;
  }
  std::cout << "done." << std::endl;
  return 0;
}
