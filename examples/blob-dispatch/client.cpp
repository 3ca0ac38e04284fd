// blob-dispatch client — sends a CustomData for each topic given, wrapped in a SerializedBlob
// whose info is the topic: the dispatcher routes it by that info alone.
// Usage: blob_dispatch_client <dispatcher uri> <topic>...
// To talk to a Pyro4 dispatcher, run it with PYROCPP_PROTOCOL_VERSION=48.
#include "pyro/client.hpp"

#include <chrono>
#include <ctime>
#include <iostream>
#include <string>

#include "custom_data.hpp"

namespace {

// The local time as ISO text, like Python's datetime.now().isoformat(timespec="seconds").
std::string now_iso() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&t, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &local);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: blob_dispatch_client <dispatcher uri> <topic>...\n";
    return 2;
  }
  try {
    pyro::Proxy dispatcher{argv[1]};
    for (int i = 2; i < argc; ++i) {
      const std::string topic = argv[i];
      const blobdispatch::CustomData data{42, "hello world", now_iso()};
      // The blob is the call's only argument; its data is serialized once, here.
      dispatcher.call("process_blob",
                      pyro::SerializedBlob(pyro::Value(topic), pyro::to_value(data)));
      std::cout << "sent data on topic " << topic << ": processed" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "blob client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
