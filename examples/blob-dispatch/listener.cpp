// blob-dispatch listener — serves one listener object, registers it with the dispatcher for a
// topic (passing a proxy to itself), and decodes the blobs it gets: only here does the data
// become a CustomData again.
// Usage: blob_dispatch_listener <dispatcher uri> <topic> [--host HOST] [--port PORT]
// To register with a Pyro4 dispatcher, run it with PYROCPP_PROTOCOL_VERSION=48.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "custom_data.hpp"
#include "pyro/client.hpp"
#include "pyro/server.hpp"

namespace {

class Listener {
 public:
  Listener(std::string topic, const pyro::ClassRegistry& registry)
      : topic_(std::move(topic)), registry_(registry) {}

  void process_blob(const pyro::SerializedBlob& blob) {
    if (blob.info() != pyro::Value(topic_))
      std::cout << "unexpected topic " << blob.info().repr() << std::endl;
    // The one place the payload is decoded; the registry knows blobdispatch.CustomData.
    const pyro::Value value = blob.deserialized(&registry_);
    const auto data = pyro::from_value<blobdispatch::CustomData>(value);
    const pyro::Value* class_name = value.find("__class__");
    std::cout << "received custom data on topic " << topic_ << " (class "
              << (class_name != nullptr ? class_name->repr() : "?") << "):\n"
              << "    a=" << data.a << ", b=" << data.b << ", c=" << data.c << std::endl;
  }

 private:
  std::string topic_;
  const pyro::ClassRegistry& registry_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: blob_dispatch_listener <dispatcher uri> <topic> [--host HOST] [--port "
                 "PORT]\n";
    return 2;
  }
  const std::string dispatcher_uri = argv[1];
  const std::string topic = argv[2];
  pyro::DaemonOptions options;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  try {
    pyro::ClassRegistry registry;
    registry.register_dict_to_class<blobdispatch::CustomData>();  // Pyro's register_dict_to_class

    pyro::Daemon daemon(options);
    const auto exposed = pyro::Exposed<Listener>("Listener")
                             .method("process_blob", &Listener::process_blob, {"blob"});
    const pyro::Uri uri = daemon.expose(std::make_shared<Listener>(topic, registry), "", exposed);
    std::cout << "uri: " << uri.str() << std::endl;

    // What Python's dispatcher.register(topic, self) sends: a proxy for this listener.
    pyro::ProxyState self;
    self.uri = uri;
    self.methods = {"process_blob"};
    pyro::Proxy dispatcher{dispatcher_uri};
    dispatcher.call("register", topic, self);
    dispatcher.release();
    std::cout << "listener for topic " << topic << " waiting for data" << std::endl;
    daemon.request_loop();
  } catch (const std::exception& e) {
    std::cerr << "listener failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
