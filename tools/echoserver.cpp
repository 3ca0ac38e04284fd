// pyro-echoserver — Pyro's test echo server (Pyro5.utils.echoserver) on the C++ Daemon: object
// "test.echoserver" with the same methods, property and options, printing what Pyro prints.
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <limits>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "pyro/locate.hpp"
#include "pyro/naming.hpp"
#include "pyro/server.hpp"

namespace {

std::string now() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", std::localtime(&t));
  return buf;
}

class EchoServer {
 public:
  explicit EchoServer(pyro::Daemon& daemon, bool verbose) : daemon_(daemon), verbose_(verbose) {}

  pyro::Value echo(pyro::Value message) {
    if (verbose_) std::cout << now() << " - echo: " << message.repr() << std::endl;
    return message;
  }
  void error() {
    if (verbose_) std::cout << now() << " - error: generating exception" << std::endl;
    throw pyro::ValueError("this is the generated error from echoserver echo() method");
  }
  void error_with_text() {
    if (verbose_) std::cout << now() << " - error: generating exception" << std::endl;
    throw pyro::ValueError("the message of the error");
  }
  std::string oneway_echo(pyro::Value message) {
    if (verbose_) std::cout << now() << " - oneway_echo: " << message.repr() << std::endl;
    return "bogus return value";
  }
  std::string slow() {
    if (verbose_) std::cout << now() << " - slow: waiting a bit..." << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(5));
    if (verbose_) std::cout << now() << " - slow: returning result" << std::endl;
    return "Finally, an answer!";
  }
  pyro::ItemStream generator() {
    return pyro::ItemStream::from(std::vector<std::string>{"one", "two", "three"});
  }
  double nan() { return std::numeric_limits<double>::quiet_NaN(); }
  double inf() { return std::numeric_limits<double>::infinity(); }
  std::string oneway_slow() {
    if (verbose_) std::cout << now() << " - oneway_slow: waiting a bit..." << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(5));
    if (verbose_) std::cout << now() << " - oneway_slow: returning result" << std::endl;
    return "bogus return value";
  }
  std::string dunder() { return "should be allowed (dunder)"; }
  void shutdown() {
    if (verbose_) std::cout << now() << " - shutting down" << std::endl;
    daemon_.shutdown();
  }
  bool verbose = false;
  bool get_verbose() const { return verbose_; }
  void set_verbose(bool on) { verbose_ = on; }

 private:
  pyro::Daemon& daemon_;
  bool verbose_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Pyro test echo/nameserver command line launcher."};
  std::string host = "localhost";
  int port = 0;
  std::string unixsocket;
  bool naming = false, nameserver = false, verbose = false, quiet = false;
  std::string key;
  app.add_option("-H,--host", host, "hostname to bind server on (default=localhost)");
  app.add_option("-p,--port", port, "port to bind server on");
  app.add_option("-u,--unixsocket", unixsocket, "Unix domain socket name to bind server on");
  app.add_flag("-n,--naming", naming, "register with nameserver");
  app.add_flag("-N,--nameserver", nameserver, "also start a nameserver");
  app.add_flag("-v,--verbose", verbose, "verbose output");
  app.add_flag("-q,--quiet", quiet, "don't output anything");
  CLI11_PARSE(app, argc, argv);
  if (verbose) quiet = false;

  try {
    if (!quiet) std::cout << "Starting Pyro's built-in test echo server." << std::endl;
    // -N: a name server in the same process (as Pyro's start_ns with this host; NS_PORT)
    std::unique_ptr<pyro::NameServerDaemon> ns_daemon;
    if (nameserver) {
      naming = true;
      pyro::NameServerOptions ns_options;
      ns_options.host = host;
      ns_daemon = std::make_unique<pyro::NameServerDaemon>(ns_options);
      ns_daemon->start();
    }
    pyro::DaemonOptions options;
    options.host = host;
    options.port = port;
    if (!unixsocket.empty()) options.unixsocket = unixsocket;
    pyro::Daemon daemon(options);
    auto echo = std::make_shared<EchoServer>(daemon, verbose);
    const pyro::Uri uri =
        daemon.expose(echo, "test.echoserver",
                      pyro::Exposed<EchoServer>("EchoServer")
                          .method("echo", &EchoServer::echo, {"message"})
                          .method("error", &EchoServer::error)
                          .method("error_with_text", &EchoServer::error_with_text)
                          .oneway("oneway_echo", &EchoServer::oneway_echo, {"message"})
                          .method("slow", &EchoServer::slow)
                          .method("generator", &EchoServer::generator)
                          .method("nan", &EchoServer::nan)
                          .method("inf", &EchoServer::inf)
                          .oneway("oneway_slow", &EchoServer::oneway_slow)
                          .method("__dunder__", &EchoServer::dunder)
                          .method("shutdown", &EchoServer::shutdown)
                          .property("verbose", &EchoServer::get_verbose, &EchoServer::set_verbose)
                          .unexposed("_private"));
    if (naming) {
      std::string ns_host;
      int ns_port = 0;
      if (ns_daemon) {
        ns_host = ns_daemon->uri().host().value_or("");
        ns_port = static_cast<int>(ns_daemon->uri().port().value_or(0));
      }
      pyro::NameServerProxy ns = pyro::locate_ns(ns_host, ns_port);
      ns.register_name("test.echoserver", uri);
      if (verbose) {
        std::cout << "using name server at " << ns.uri().str() << std::endl;
        if (ns_daemon) {
          if (ns_daemon->broadcast() != nullptr) {
            std::cout << "broadcast server running at " << ns_daemon->broadcast()->location()
                      << std::endl;
          } else {
            std::cout << "not using a broadcast server" << std::endl;
          }
        }
      }
    } else if (verbose) {
      std::cout << "not using a name server." << std::endl;
    }
    if (!quiet) {
      std::cout << "object name: test.echoserver" << std::endl;
      std::cout << "echo uri: " << uri.str() << std::endl;
      std::cout << "echoserver running." << std::endl;
    }
    daemon.request_loop();
  } catch (const std::exception& e) {
    std::cerr << "pyro-echoserver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
