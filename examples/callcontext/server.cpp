// callcontext server — a method that looks at its call context (Pyro's current_context): who
// called, the message's sequence number, flags and serializer, the correlation id and the
// client's annotations. It answers with an annotation of its own, and the daemon adds one to
// every reply (Pyro's Daemon.annotations()).
// Usage: callcontext_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace {

struct EchoServer {
  std::string echo(const std::string& message) {
    pyro::CallContext& ctx = pyro::current_context();
    std::ostringstream out;  // one write, so that concurrent calls do not interleave
    out << "\ngot message: " << message << "\n"
        << "  thread: " << std::this_thread::get_id() << "\n"
        << "  context.client_address: " << ctx.client_address << "\n"
        << "  context.seq: " << ctx.seq << "\n"
        << "  context.flags: " << ctx.flags << "\n"
        << "  context.serializer_id: " << ctx.serializer_id << "\n"
        << "  context.protocol: " << ctx.protocol << "\n"
        << "  context.correlation_id: "
        << (ctx.correlation_id ? pyro::correlation_id_text(*ctx.correlation_id) : "None") << "\n";
    if (const std::string* custom = ctx.annotations.find("XYZZ")) {
      out << "  custom annotation 'XYZZ': " << *custom << "\n";
      // Travels back with this reply only.
      ctx.response_annotations.set("ECHO", "the server got your XYZZ: " + *custom);
    }
    std::cout << out.str() << std::flush;
    return message;
  }
  // Oneway: the same, but the client gets no reply and so no annotations.
  void oneway(const std::string& message) { echo(message); }
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
  daemon.set_annotations_hook([] {
    return pyro::Annotations{{"DDAA", "custom response annotation set by the daemon"}};
  });
  const auto exposed = pyro::Exposed<EchoServer>("EchoServer")
                           .method("echo", &EchoServer::echo)
                           .oneway("oneway", &EchoServer::oneway);
  const pyro::Uri uri = daemon.expose(std::make_shared<EchoServer>(), "example.context", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
