// callcontext client — sends a correlation id and a custom annotation with its calls through
// its thread's call context, and prints the annotations the reply brought back.
// Usage: callcontext_client <uri of example.context>
#include "pyro/client.hpp"

#include <iostream>

namespace {

void print_response_annotations() {
  std::cout << "annotations in the response:" << std::endl;
  for (const auto& [id, value] : pyro::current_context().response_annotations)
    std::cout << "  " << id << " -> " << value << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: callcontext_client <uri of example.context>\n";
    return 2;
  }
  try {
    // Every call this thread makes carries the correlation id, until it is reset.
    pyro::CallContext& ctx = pyro::current_context();
    ctx.correlation_id = pyro::new_correlation_id();
    std::cout << "correlation id set to: " << pyro::correlation_id_text(*ctx.correlation_id)
              << std::endl;

    pyro::Proxy proxy{argv[1]};
    proxy.bind();
    std::cout << "connected from " << proxy.local_address() << std::endl;

    std::cout << "\nnormal call" << std::endl;
    ctx.annotations.set("XYZZ", "custom annotation from client (1)");
    std::cout << "echo returned: " << proxy.call<std::string>("echo", "hi there") << std::endl;
    print_response_annotations();

    std::cout << "\noneway call" << std::endl;
    ctx.annotations.set("XYZZ", "custom annotation from client (2)");
    proxy.call("oneway", "hi there ONEWAY");
    print_response_annotations();
    std::cout << "(none: a oneway call gets no reply)" << std::endl;

    std::cout << "\nsee the server's output for what it saw" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "callcontext client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
