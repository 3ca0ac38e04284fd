// bench_naming [--quick] [--placement split|same] [--rounds N] [--python PATH] [--helper FILE]
//              [--dir DIR] [--message-size BYTES]
// — name server round trips: lookups per second on an open name-server proxy and registrations
// per second (memory and SQLite storage), beside Python Pyro's name server (Pyro5 when PYRO5_PATH
// points to a checkout, else Debian's Pyro4) and beside raw TCP ping-pong, in the same run.
//
// Every server (a minimal C++ echo server, the C++ name servers, Python's) runs in a child
// process pinned to the server CPU; every client (this process, the Python clients of
// bench/naming.py) to the client CPU. "split" (the default) puts them on CPUs 0 and 1, "same"
// puts both on CPU 0. The C++ rows run in interleaved rounds (ping-pong, lookups, registrations,
// then again), each row keeping its best round, so that a neighbour's load hits them alike; the
// Python clients keep their best round the same way.
#include "pyro/naming.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <sched.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "pyro/locate.hpp"
#include "support.hpp"

#ifndef PYRO_BENCH_SOURCE_DIR
#define PYRO_BENCH_SOURCE_DIR "bench"
#endif

namespace {

namespace fs = std::filesystem;
using namespace bench;

struct Settings {
  bool quick = false;
  int client_cpu = 0;
  int server_cpu = 1;
  int rounds = 3;
  int warmup = 200;
  std::size_t message_size = 100;
  // operations per round
  std::size_t pingpongs = 20000;
  std::size_t lookups = 20000;
  std::size_t registrations = 20000;
  std::size_t sql_registrations = 5000;
  std::size_t py_lookups = 5000;
  std::size_t py_sql_lookups = 2000;
  std::size_t py_registrations = 3000;
  std::size_t py_sql_registrations = 300;
  std::string python = "/usr/bin/python3";
  std::string helper = PYRO_BENCH_SOURCE_DIR "/naming.py";
  fs::path dir;
};

// ---- C++ name server ---------------------------------------------------------------------

void cpp_name_server(int announce, const std::string& storage) {
  pyro::Config config = pyro::Config::defaults();
  pyro::NameServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.storage = storage;
  options.broadcast = false;
  pyro::NameServerDaemon ns(options, config);
  const std::string uri = ns.uri().str() + "\n";
  if (::write(announce, uri.data(), uri.size()) < 0) return;
  ::close(announce);
  ns.request_loop();
}

// ---- measuring ---------------------------------------------------------------------------

struct Best {
  std::size_t count = 0;
  double seconds = 0;  // per operation, best round; 0 = not measured
  void add(double s) { seconds = seconds == 0 ? s : std::min(seconds, s); }
};

struct Row {
  std::string who;        // client → server
  std::string operation;  // lookup / register
  std::string storage;
  Best best{};
  const Row* python = nullptr;  // the Python row it is compared with
};

Settings parse(int argc, char** argv) {
  Settings s;
  std::string placement = "split";
  int rounds = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--quick") {
      s.quick = true;
    } else if (a == "--placement" && has_value) {
      placement = argv[++i];
    } else if (a == "--rounds" && has_value) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--python" && has_value) {
      s.python = argv[++i];
    } else if (a == "--helper" && has_value) {
      s.helper = argv[++i];
    } else if (a == "--dir" && has_value) {
      s.dir = argv[++i];
    } else if (a == "--message-size" && has_value) {
      s.message_size = std::stoul(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: bench_naming [--quick] [--placement split|same] [--rounds N] "
                   "[--python PATH] [--helper naming.py] [--dir DIR] [--message-size BYTES]\n");
      std::exit(2);
    }
  }
  if (placement == "same") {
    s.client_cpu = s.server_cpu = 0;
  } else if (placement != "split") {
    std::fprintf(stderr, "--placement: split or same\n");
    std::exit(2);
  }
  if (s.quick) {
    s.rounds = 1;
    s.warmup = 20;
    for (std::size_t* n :
         {&s.pingpongs, &s.lookups, &s.registrations, &s.sql_registrations, &s.py_lookups,
          &s.py_sql_lookups, &s.py_registrations, &s.py_sql_registrations})
      *n = std::max<std::size_t>(*n / 20, 10);
  }
  if (rounds > 0) s.rounds = rounds;
  if (s.dir.empty()) s.dir = fs::temp_directory_path();
  s.dir /= "pyrocpp-bench-naming-" + std::to_string(::getpid());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse(argc, argv);
  fs::create_directories(s.dir);
  pin(s.client_cpu);
  const std::string cpp_sql = "sql:" + (s.dir / "cpp.sqlite").string();
  const std::string py_sql = "sql:" + (s.dir / "python.sqlite").string();

  // Servers first, while this process has no threads.
  Child echo = spawn(s.server_cpu, [&](int fd) { echo_server(fd, s.message_size); });
  Child ns_memory = spawn(s.server_cpu, [&](int fd) { cpp_name_server(fd, "memory"); });
  Child ns_sql = spawn(s.server_cpu, [&](int fd) { cpp_name_server(fd, cpp_sql); });

  std::string python_pyro;
  if (auto v = run_to_end(s.client_cpu, {s.python, s.helper, "version"})) {
    python_pyro = v->substr(0, v->find('\n'));
  }
  auto python_server = [&](const std::string& storage) {
    Child c;
    if (python_pyro.empty()) return c;
    auto [pid, fd] = run_pinned(s.server_cpu, {s.python, s.helper, "serve", storage});
    c.pid = pid;
    c.line = read_line(fd);
    ::close(fd);
    return c;
  };
  Child py_memory = python_server("memory");
  Child py_sqlite = python_server(py_sql);

  // ---- C++ rows, interleaved rounds ----
  Row pingpong{"C++ → C++ echo (raw TCP, " + std::to_string(s.message_size) + " B each way)",
               "ping-pong", "-"};
  Row lookup_memory{"C++ → C++ NS", "lookup", "memory"};
  Row lookup_sql{"C++ → C++ NS", "lookup", "sql"};
  Row register_memory{"C++ → C++ NS", "register", "memory"};
  Row register_sql{"C++ → C++ NS", "register", "sql (durable)"};
  pingpong.best.count = s.pingpongs;
  lookup_memory.best.count = lookup_sql.best.count = s.lookups;
  register_memory.best.count = s.registrations;
  register_sql.best.count = s.sql_registrations;

  const pyro::Config config = pyro::Config::defaults();
  const int echo_fd = connect_loopback(std::stoi(echo.line));
  std::vector<char> message(s.message_size, 'x');
  auto ping = [&](std::size_t) {
    if (!transfer(echo_fd, message.data(), message.size(), true) ||
        !transfer(echo_fd, message.data(), message.size(), false)) {
      std::fprintf(stderr, "echo server gone\n");
      std::exit(1);
    }
  };
  pyro::NameServerProxy ns_mem(pyro::Uri(ns_memory.line), config);
  pyro::NameServerProxy ns_db(pyro::Uri(ns_sql.line), config);
  const pyro::Uri target("PYRO:bench.object@127.0.0.1:9999");
  std::vector<pyro::Uri> uris;
  for (std::size_t i = 0; i < std::max(s.registrations, s.sql_registrations); ++i)
    uris.emplace_back("PYRO:obj_" + std::to_string(i) + "@127.0.0.1:9999");
  auto names = [](const std::string& prefix, std::size_t count) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i)
      out.push_back(prefix + "." + std::to_string(i));
    return out;
  };
  for (auto* ns : {&ns_mem, &ns_db}) {
    ns->register_name("bench.target", target);
    const auto warm = names("bench.cpp.warmup", static_cast<std::size_t>(s.warmup));
    for (int i = 0; i < s.warmup; ++i) {
      ns->lookup("bench.target");
      ns->register_name(warm[static_cast<std::size_t>(i)], target);
    }
  }
  for (int i = 0; i < s.warmup; ++i)
    ping(0);
  for (int round = 0; round < s.rounds; ++round) {
    const std::string prefix = "bench.cpp.r" + std::to_string(round);
    const auto memory_names = names(prefix, s.registrations);
    const auto sql_names = names(prefix, s.sql_registrations);
    pingpong.best.add(seconds_per_op(s.pingpongs, ping));
    lookup_memory.best.add(
        seconds_per_op(s.lookups, [&](std::size_t) { ns_mem.lookup("bench.target"); }));
    register_memory.best.add(seconds_per_op(
        s.registrations, [&](std::size_t i) { ns_mem.register_name(memory_names[i], uris[i]); }));
    lookup_sql.best.add(
        seconds_per_op(s.lookups, [&](std::size_t) { ns_db.lookup("bench.target"); }));
    register_sql.best.add(seconds_per_op(
        s.sql_registrations, [&](std::size_t i) { ns_db.register_name(sql_names[i], uris[i]); }));
  }
  ::close(echo_fd);

  // ---- Python rows ----
  const std::string py = python_pyro.empty() ? "Python" : python_pyro.substr(0, 5);
  Row py_lookup_memory{"Python → Python NS", "lookup", "memory"};
  Row py_lookup_sql{"Python → Python NS", "lookup", "sql"};
  Row py_register_memory{"Python → Python NS", "register", "memory"};
  Row py_register_sql{"Python → Python NS", "register", "sql (durable)"};
  Row py_to_cpp{"Python → C++ NS", "lookup", "memory"};
  Row cpp_to_py{"C++ → Python NS", "lookup", "memory"};
  auto python_client = [&](const Child& server, std::size_t lookups, std::size_t registrations,
                           Row* lookup_row, Row* register_row) {
    if (server.line.empty()) return;
    const auto out = run_to_end(
        s.client_cpu, {s.python, s.helper, "client", server.line, "--lookups",
                       std::to_string(lookups), "--registrations", std::to_string(registrations),
                       "--rounds", std::to_string(s.rounds), "--warmup", std::to_string(s.warmup)});
    if (!out) {
      std::fprintf(stderr, "the Python client failed against %s\n", server.line.c_str());
      return;
    }
    if (lookup_row) lookup_row->best = {lookups, json_number(*out, "lookups_s")};
    if (register_row) register_row->best = {registrations, json_number(*out, "registrations_s")};
  };
  if (!python_pyro.empty()) {
    python_client(py_memory, s.py_lookups, s.py_registrations, &py_lookup_memory,
                  &py_register_memory);
    python_client(py_sqlite, s.py_sql_lookups, s.py_sql_registrations, &py_lookup_sql,
                  &py_register_sql);
    python_client(ns_memory, s.py_lookups, 0, &py_to_cpp, nullptr);
    // Our client against Python's name server, in its protocol (48 for Pyro4).
    pyro::Config c = config;
    if (python_pyro.rfind("Pyro4", 0) == 0) c.protocol_version = 48;
    pyro::NameServerProxy ns_py(pyro::Uri(py_memory.line), c);
    for (int i = 0; i < s.warmup; ++i)
      ns_py.lookup("bench.target");
    cpp_to_py.best.count = s.py_lookups;
    for (int round = 0; round < s.rounds; ++round) {
      cpp_to_py.best.add(
          seconds_per_op(s.py_lookups, [&](std::size_t) { ns_py.lookup("bench.target"); }));
    }
  }
  lookup_memory.python = &py_lookup_memory;
  lookup_sql.python = &py_lookup_sql;
  register_memory.python = &py_register_memory;
  register_sql.python = &py_register_sql;
  py_to_cpp.python = &py_lookup_memory;
  cpp_to_py.python = &py_lookup_memory;

  for (Child* c : {&echo, &ns_memory, &ns_sql, &py_memory, &py_sqlite})
    c->stop();
  std::error_code ignored;
  fs::remove_all(s.dir, ignored);

  // ---- table ----
  const double pp_rate = 1.0 / pingpong.best.seconds;
  std::printf("Client on CPU %d, servers on CPU %d; best of %d round%s; Python: %s.\n\n",
              s.client_cpu, s.server_cpu, s.rounds, s.rounds == 1 ? "" : "s",
              python_pyro.empty() ? "not available" : python_pyro.c_str());
  std::printf(
      "| client → server | operation | storage | ops per round | us/op | ops/s | vs ping-pong | "
      "vs %s |\n",
      py.c_str());
  std::printf("|---|---|---|---:|---:|---:|---:|---:|\n");
  const Row* rows[] = {&pingpong,        &lookup_memory,    &lookup_sql,    &register_memory,
                       &register_sql,    &py_lookup_memory, &py_lookup_sql, &py_register_memory,
                       &py_register_sql, &py_to_cpp,        &cpp_to_py};
  for (const Row* r : rows) {
    if (r->best.seconds == 0) continue;
    const double rate = 1.0 / r->best.seconds;
    char ratio[32] = "";
    if (r->python && r->python->best.seconds > 0)
      std::snprintf(ratio, sizeof ratio, "%.1fx", rate * r->python->best.seconds);
    std::printf("| %s | %s | %s | %zu | %.1f | %.0f | %.0f %% | %s |\n", r->who.c_str(),
                r->operation.c_str(), r->storage.c_str(), r->best.count, r->best.seconds * 1e6,
                rate, 100.0 * rate / pp_rate, ratio);
  }

  // ---- targets ----
  const double lookup_share = pp_rate == 0 ? 0 : 1.0 / lookup_memory.best.seconds / pp_rate;
  std::printf("\nTargets: C++ lookups >= 75 %% of ping-pong: %.0f %% (%s)", 100 * lookup_share,
              lookup_share >= 0.75 ? "met" : "not met");
  double sql_ratio = 0;
  if (py_register_sql.best.seconds > 0) {
    sql_ratio = py_register_sql.best.seconds / register_sql.best.seconds;
    std::printf("; durable sql registrations >= 10x Python: %.1fx (%s)", sql_ratio,
                sql_ratio >= 10 ? "met" : "not met");
  }
  std::printf(".\n");
  std::printf(
      "\n{\"pingpong_per_s\": %.0f, \"lookups_per_s\": %.0f, \"lookup_share_of_pingpong\": %.3f, "
      "\"sql_registrations_vs_python\": %.1f}\n",
      pp_rate, 1.0 / lookup_memory.best.seconds, lookup_share, sql_ratio);
  return 0;
}
