// blob-dispatch dispatcher — forwards blobs to the listeners of their topic without decoding
// them (Pyro's SerializedBlob): it knows nothing of the data's class, and the payload goes on
// byte for byte as the client serialized it.
// Usage: blob_dispatch_dispatcher [--host HOST] [--port PORT]
// Listeners may be Pyro4 programs: a proxy registered in Pyro4's form is called with protocol 48.
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pyro/client.hpp"
#include "pyro/server.hpp"

namespace {

// One registered listener. A proxy is used by one thread at a time, and each process_blob call
// may run on a different pool thread: the mutex takes turns, claim_ownership() hands it over.
struct Listener {
  // from_state: a listener registered by a Pyro4 program gets a protocol 48 proxy.
  explicit Listener(const pyro::ProxyState& state) : proxy(pyro::Proxy::from_state(state)) {}
  std::mutex mutex;
  pyro::Proxy proxy;
};

class Dispatcher {
 public:
  void register_(const std::string& topic, const pyro::ProxyState& listener) {
    std::cout << "new listener for topic " << topic << " registered: " << listener.uri.str()
              << std::endl;
    const std::lock_guard<std::mutex> lock(mutex_);
    listeners_[topic].push_back(std::make_shared<Listener>(listener));
  }

  void process_blob(const pyro::SerializedBlob& blob) {
    const std::string topic = blob.info().is_str() ? std::string(blob.info().as_str()) : "";
    std::vector<std::shared_ptr<Listener>> targets;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (auto it = listeners_.find(topic); it != listeners_.end()) targets = it->second;
    }
    std::cout << "dispatching blob with info " << blob.info().repr() << " ("
              << blob.payload().size() << " payload bytes, " << blob.serializer().name() << ") to "
              << targets.size() << " listener(s)" << std::endl;
    for (const std::shared_ptr<Listener>& listener : targets) {
      const std::lock_guard<std::mutex> lock(listener->mutex);
      listener->proxy.claim_ownership();
      try {
        listener->proxy.call("process_blob", blob);  // the payload goes on unchanged
      } catch (const pyro::CommunicationError& e) {
        std::cout << "listener " << listener->proxy.uri().str()
                  << " unreachable, dropped: " << e.what() << std::endl;
        drop(topic, listener);
      }
    }
  }

 private:
  void drop(const std::string& topic, const std::shared_ptr<Listener>& listener) {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::erase(listeners_[topic], listener);
  }

  std::mutex mutex_;
  std::map<std::string, std::vector<std::shared_ptr<Listener>>> listeners_;  // guarded by mutex_
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
  const auto exposed = pyro::Exposed<Dispatcher>("Dispatcher")
                           .method("register", &Dispatcher::register_, {"topic", "listener"})
                           .method("process_blob", &Dispatcher::process_blob, {"blob"});
  // One dispatcher for everybody (Pyro's @behavior(instance_mode="single")).
  const pyro::Uri uri = daemon.expose_class<Dispatcher>(
      [] { return std::make_shared<Dispatcher>(); }, "example.blobdispatcher", exposed,
      pyro::InstanceMode::single);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
