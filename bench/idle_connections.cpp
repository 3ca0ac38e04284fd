// bench_idle_connections [--connections N] [--quick] — what idle connections cost a C++ daemon:
// its resident memory per connected, handshaken, idle proxy, and a new client's latency while
// they are connected. The daemon runs in a child process so that its memory is its own.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "pyro/client.hpp"
#include "pyro/server.hpp"

namespace {

struct Echo {
  pyro::Value echo(pyro::Value v) { return v; }
};

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t connections = 10000;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--connections") == 0 && i + 1 < argc)
      connections = std::stoul(argv[++i]);
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  if (quick) connections = std::min<std::size_t>(connections, 500);
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < connections + 100) connections = r.rlim_cur - 100;

  int ready[2];
  if (::pipe(ready) != 0) return 1;
  const pid_t child = ::fork();
  if (child == 0) {
    pyro::Config c = pyro::Config::defaults();
    c.host = "127.0.0.1";
    pyro::Daemon d(pyro::DaemonOptions{}, c);
    const pyro::Uri u = d.expose(std::make_shared<Echo>(), "echo",
                                 pyro::Exposed<Echo>().method("echo", &Echo::echo));
    const std::string text = u.str();
    if (::write(ready[1], text.data(), text.size()) < 0) ::_exit(1);
    ::close(ready[1]);
    d.request_loop();
    ::_exit(0);
  }
  ::close(ready[1]);
  char buf[256] = {};
  const ssize_t n = ::read(ready[0], buf, sizeof buf - 1);
  if (n <= 0) return 1;
  const pyro::Uri uri(std::string(buf, static_cast<std::size_t>(n)));
  pyro::Config c = pyro::Config::defaults();

  {
    pyro::Proxy warm(uri, c);  // the daemon's threads and first buffers exist before measuring
    warm.call("echo", 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long before = rss_kib(child);
  std::vector<pyro::Proxy> idle;
  idle.reserve(connections);
  for (std::size_t i = 0; i < connections; ++i) {
    idle.emplace_back(uri, c);
    idle.back().bind();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long after = rss_kib(child);

  // a new client's latency while they are connected
  std::vector<double> call_us, connect_us;
  pyro::Proxy fresh(uri, c);
  fresh.call("echo", 0);
  const int rounds = quick ? 200 : 2000;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fresh.call("echo", i);
    call_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  for (int i = 0; i < rounds / 4; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    pyro::Proxy p(uri, c);
    p.call("echo", i);
    p.release();
    connect_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  const double per_conn =
      static_cast<double>(after - before) * 1024.0 / static_cast<double>(connections);

  std::printf(
      "| idle connections | daemon RSS before | after | bytes per idle connection | new client "
      "call p50 | p99 | connect+call+release p50 | p99 |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| %zu | %ld KiB | %ld KiB | %.0f | %.0f us | %.0f us | %.0f us | %.0f us |\n",
              connections, before, after, per_conn, percentile(call_us, 0.5),
              percentile(call_us, 0.99), percentile(connect_us, 0.5), percentile(connect_us, 0.99));
  std::printf(
      "\n{\"idle_connections\": %zu, \"bytes_per_idle_connection\": %.0f, "
      "\"new_client_call_p99_us\": %.0f}\n",
      connections, per_conn, percentile(call_us, 0.99));
  idle.clear();
  ::kill(child, SIGTERM);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return 0;
}
