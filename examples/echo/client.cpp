// echo client — calls the echo server (pyro-echoserver, or Python Pyro's) from C++: plain calls
// with rich values, a remote exception, a remote iterator, a property, a oneway call.
// Usage: echo_client <uri>   (e.g. PYRO:test.echoserver@localhost:9999)
#include "pyro/client.hpp"

#include <iostream>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: echo_client <uri of test.echoserver>\n";
    return 2;
  }
  try {
    pyro::Proxy echo{argv[1]};
    std::cout << "C++ client: echo(\"hello\") -> " << echo.call<std::string>("echo", "hello")
              << "\n";
    const std::map<std::string, std::vector<double>> readings{{"north", {19.5, 21.0}},
                                                              {"south", {22.25}}};
    const auto back = echo.call<std::map<std::string, std::vector<double>>>("echo", readings);
    std::cout << "C++ client: a map went there and back: " << pyro::to_value(back).repr() << "\n";
    std::cout << "C++ client: echo(2**70) -> "
              << echo.call("echo", pyro::Value::int_from_text("1180591620717411303424")).repr()
              << "\n";
    try {
      echo.call("error_with_text");
    } catch (const pyro::RemoteError& e) {
      std::cout << "C++ client: error_with_text() raised " << e.class_name() << ": " << e.what()
                << "\n";
    }
    std::cout << "C++ client: generator() streams:";
    for (const pyro::Value& item : echo.stream("generator"))
      std::cout << " " << item.as_str();
    std::cout << "\n";
    std::cout << "C++ client: verbose = " << (echo.get<bool>("verbose") ? "True" : "False") << "\n";
    echo.call("oneway_echo", "fire and forget");  // declared oneway: no reply is awaited
    std::cout << "C++ client: oneway_echo sent\n";
  } catch (const std::exception& e) {
    std::cerr << "C++ client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
