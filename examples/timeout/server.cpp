// timeout server — a slow method on three daemons: one that serves without timeouts, one that is
// never started (a frozen server: it accepts connections but never answers), and one with a
// COMMTIMEOUT of its own, which closes connections that stay idle longer than that.
// Usage: timeout_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace {

struct TimeoutServer {
  std::string delay(double seconds) {
    std::cout << "sleeping " << seconds << std::endl;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    std::cout << "done." << std::endl;
    std::ostringstream text;
    text << "slept " << seconds << " seconds";
    return text.str();
  }
};

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  const auto exposed =
      pyro::Exposed<TimeoutServer>("TimeoutServer").method("delay", &TimeoutServer::delay);

  const auto object = std::make_shared<TimeoutServer>();  // thread-safe: it has no state

  pyro::Config patient = pyro::Config::global();
  patient.commtimeout = 0;  // this daemon waits for its clients as long as they like
  pyro::Daemon daemon(options, patient);
  const pyro::Uri uri = daemon.expose(object, "example.timeout", exposed);
  std::cout << "uri: " << uri.str() << std::endl;

  // Bound and listening, but never started: connecting works, nothing ever answers.
  pyro::DaemonOptions other_options = options;
  other_options.port = 0;
  pyro::Daemon frozen(other_options, patient);
  const pyro::Uri frozen_uri = frozen.expose(object, "example.timeout.frozendaemon", exposed);
  std::cout << "frozen uri: " << frozen_uri.str() << std::endl;

  // A daemon-side COMMTIMEOUT: a client idle for more than a second loses its connection.
  pyro::Config impatient_config = patient;
  impatient_config.commtimeout = 1.0;
  pyro::Daemon impatient(other_options, impatient_config);
  const pyro::Uri impatient_uri = impatient.expose(object, "example.timeout.impatient", exposed);
  std::cout << "impatient uri: " << impatient_uri.str() << std::endl;
  impatient.start();

  std::cout << "Server ready." << std::endl;
  daemon.request_loop();
}
