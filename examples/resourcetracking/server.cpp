// resourcetracking server — a service that allocates (fictional) resources for its clients and
// tracks them per client connection (current_context().track_resource). A client that goes away
// without freeing them does not leak them: when its connection closes, the daemon calls close()
// on each of its tracked resources.
// Usage: resourcetracking_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

class Service;

// A resource that must be freed again: the daemon calls close() for a client that did not.
class NamedResource : public pyro::Resource {
 public:
  NamedResource(std::string name, Service& owner) : name(std::move(name)), owner_(owner) {}
  void close() noexcept override;
  const std::string name;

 private:
  Service& owner_;
};

// One instance for every client (InstanceMode::single): it must be thread-safe.
class Service {
 public:
  void allocate(const std::string& name) {
    auto resource = std::make_shared<NamedResource>(name, *this);
    {
      std::lock_guard lock(mutex_);
      resources_.push_back(resource);
    }
    pyro::CallContext& context = pyro::current_context();
    context.track_resource(resource);
    std::cout << "service: allocated resource " << name << " for client " << context.client_address
              << std::endl;
  }
  void free(const std::string& name) {
    for (const std::shared_ptr<NamedResource>& r : take(name)) {
      r->close();
      pyro::current_context().untrack_resource(r);
    }
  }
  std::vector<std::string> list() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    for (const auto& r : resources_)
      names.push_back(r->name);
    return names;
  }
  // Forgets a resource (called by its close()).
  void discard(const NamedResource* resource) {
    std::lock_guard lock(mutex_);
    std::erase_if(resources_, [&](const auto& r) { return r.get() == resource; });
  }

 private:
  std::vector<std::shared_ptr<NamedResource>> take(const std::string& name) {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<NamedResource>> taken;
    for (const auto& r : resources_)
      if (r->name == name) taken.push_back(r);
    return taken;
  }

  std::mutex mutex_;
  std::vector<std::shared_ptr<NamedResource>> resources_;
};

void NamedResource::close() noexcept {
  std::cout << "Resource: closing " << name << std::endl;
  owner_.discard(this);
}

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  pyro::Daemon daemon(options);
  // Pyro's clientDisconnect: not needed for the freeing (the daemon closes tracked resources
  // right after this hook), used here to show what the client left behind.
  daemon.set_client_disconnect_hook([](pyro::Session& session) {
    std::vector<std::string> names;
    {
      pyro::ResourceTracker& tracker = session.resources();
      std::lock_guard lock(tracker.mutex);
      for (const auto& r : tracker.resources)
        if (const auto* named = dynamic_cast<const NamedResource*>(r.get()))
          names.push_back(named->name);
    }
    std::cout << "client disconnects: " << session.peer_address() << std::endl;
    std::cout << "    resources: [";
    for (std::size_t i = 0; i < names.size(); ++i)
      std::cout << (i ? ", " : "") << "'" << names[i] << "'";
    std::cout << "]" << std::endl;
  });
  const auto exposed = pyro::Exposed<Service>("Service")
                           .method("allocate", &Service::allocate, {"name"})
                           .method("free", &Service::free, {"name"})
                           .method("list", &Service::list);
  const pyro::Uri uri = daemon.expose(std::make_shared<Service>(), "service", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
