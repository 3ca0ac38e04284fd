// pyro-ns — Pyro's name server launcher (python -m Pyro5.nameserver, pyro5-ns) on the C++
// NameServerDaemon: same options, same console output. -k/--key sets protocol 48's HMAC key,
// as Pyro4's pyro4-ns does.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <pthread.h>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "pyro/naming.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Pyro name server command line launcher."};
  std::optional<std::string> host, unixsocket, bchost, nathost, key;
  std::optional<int> port, bcport, natport;
  std::string storage = "memory";
  bool nobc = false;
  app.add_option("-n,--host", host, "hostname to bind server on");
  app.add_option("-p,--port", port, "port to bind server on (0=random)");
  app.add_option("-u,--unixsocket", unixsocket, "Unix domain socket name to bind server on");
  app.add_option("-s,--storage", storage, "Storage system to use (memory, sql:file)");
  app.add_option("--bchost", bchost, "hostname to bind broadcast server on (default is \"\")");
  app.add_option("--bcport", bcport, "port to bind broadcast server on (0=random)");
  app.add_option("--nathost", nathost, "external hostname in case of NAT");
  app.add_option("--natport", natport, "external port in case of NAT");
  app.add_flag("-x,--nobc", nobc, "don't start a broadcast server");
  app.add_option("-k,--key", key, "the HMAC key to use for protocol 48 (deprecated)");
  CLI11_PARSE(app, argc, argv);

  // Ctrl-C and SIGTERM end the request loop normally ("NS shut down."), from a thread that waits
  // for them: the daemon's threads inherit the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    pyro::Config config = pyro::Config::global();
    if (key) {
      std::cerr << "Warning: using -k to supply HMAC key on the command line is a security problem "
                   "and is deprecated since Pyro 4.72. See the documentation for an alternative."
                << std::endl;
      if (std::getenv("PYRO_HMAC_KEY") != nullptr) {
        std::cerr << "error: don't use -k and PYRO_HMAC_KEY at the same time" << std::endl;
        return 1;
      }
      config.hmac_key = *key;
    }
    pyro::NameServerOptions options;
    options.host = host;
    options.port = port;
    options.unixsocket = unixsocket;
    options.storage = storage;
    options.bchost = bchost;
    options.bcport = bcport;
    options.nathost = nathost;
    options.natport = natport;
    options.broadcast = !nobc;
    // PYRO_SERVERTYPE, when set, picks the server type; else the name server's own default
    if (std::getenv("PYRO_SERVERTYPE") != nullptr) options.servertype.reset();
    pyro::NameServerDaemon ns(options, config);
    if (!nobc && !ns.broadcast_skipped().empty() && !unixsocket) {
      std::cout << "Not starting broadcast server for " << ns.broadcast_skipped() << "."
                << std::endl;
    }
    if (ns.broadcast() != nullptr) {
      std::cout << "Broadcast server running on " << ns.broadcast()->location() << std::endl;
    }
    const std::size_t existing = ns.nameserver().count();
    if (existing > 1) {
      std::cout << "Persistent store contains " << existing << " existing registrations."
                << std::endl;
    }
    const pyro::Uri internal = ns.uri();
    const std::string hostip =
        unixsocket ? std::string("Unix domain socket") : ns.daemon().bound_address();
    std::cout << "NS running on " << ns.daemon().location() << " (" << hostip << ")" << std::endl;
    if (ns.daemon().nat_location()) {
      std::cout << "internal URI = " << internal.str() << std::endl;
      std::cout << "external URI = " << ns.external_uri().str() << std::endl;
    } else {
      std::cout << "URI = " << internal.str() << std::endl;
    }
    std::thread([&ns, stop_signals] {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      ns.daemon().shutdown();
    }).detach();
    ns.request_loop();
    ns.shutdown();
    std::cout << "NS shut down." << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "pyro-ns: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
