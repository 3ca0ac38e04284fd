// handshake server — a daemon that checks the handshake data of every new connection (Pyro's
// Daemon.validateHandshake) and lets in only clients that send the secret code. Not a security
// mechanism: the code travels in the clear.
// Usage: handshake_server [--host HOST] [--port PORT] [--secret CODE]
#include "pyro/server.hpp"

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  std::string secret = "pancakes";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
    if (flag == "--secret") secret = argv[i + 1];
  }
  pyro::Daemon daemon(options);
  daemon.set_handshake_validator([&secret](const pyro::HandshakeInfo& h) -> pyro::Value {
    std::ostringstream out;
    out << "handshake request from " << h.session.peer_address() << ", data: " << h.data.repr()
        << "\n";
    const bool ok = h.data == pyro::Value(secret);
    out << (ok ? "secret code okay, connection accepted" : "secret code wrong, connection refused")
        << "\n";
    std::cout << out.str() << std::flush;
    // Throwing refuses the connection; the client gets the exception's text as the reason.
    if (!ok) throw pyro::ValueError("wrong secret code, connection refused");
    return pyro::Value::list({"how", "are", "you", "doing"});  // the proxy gets this back
  });
  daemon.set_client_disconnect_hook([](pyro::Session& session) {
    std::cout << "client disconnected: " << session.peer_address() << std::endl;
  });
  // No objects of our own: clients talk to the daemon's own object, Pyro.Daemon.
  std::cout << "uri: " << daemon.uri_for("Pyro.Daemon").str() << std::endl;
  std::cout << "secret code: " << secret << std::endl;
  daemon.request_loop();
}
