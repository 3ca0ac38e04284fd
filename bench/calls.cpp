// bench_calls [--quick] [--placement split|same] [--roundtrip-only] [--python PATH]
//             [--helper calls.py] [--json FILE]
// — remote calls: pyrocpp beside raw TCP over loopback (the physical limit) and beside Python
// Pyro4 (Debian) and Pyro5 (when PYRO5_PATH points to a checkout), measured in the same run:
// sequential sync calls per serializer with p50/p99 latency, 8 and 64 concurrent clients, oneway
// calls executed, batches of 100, bytes uploaded per serializer at 1 KB / 1 MB / 100 MB, stream
// items, connect + call + release.
//
// Servers (raw echo and sink, the C++ daemon, Python's daemons) run in child processes pinned to
// the server CPU, clients in this process (or Python's client, bench/calls.py) on the client CPU:
// "split" puts them on CPUs 1 and 0, "same" both on CPU 0. Every C++ figure is the best of a few
// rounds. Prints a Markdown table and, with --json, writes the rows as JSON (bench/run gathers
// them into bench/results.json). Results are checked (call results, byte counts, item counts);
// timings are never judged here.
#include <atomic>
#include <cinttypes>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pyro/client.hpp"
#include "pyro/generator.hpp"
#include "pyro/serpent.hpp"
#include "pyro/server.hpp"
#include "support.hpp"

#ifndef PYRO_BENCH_SOURCE_DIR
#define PYRO_BENCH_SOURCE_DIR "bench"
#endif

namespace {

using namespace bench;

struct Settings {
  bool quick = false;
  bool roundtrip_only = false;
  std::string only;  // profiling aid: a comma-separated list of row groups, empty for all
  bool with_python = true;
  std::string placement = "split";
  int client_cpu = 0;
  int server_cpu = 1;
  int rounds = 3;
  std::size_t calls = 20000;
  std::size_t py_calls = 3000;
  std::size_t connects = 2000;
  std::size_t py_connects = 300;
  std::size_t items = 100000;
  std::size_t py_items = 5000;
  double max_upload_mb = 100;
  std::string python = "/usr/bin/python3";
  std::string helper = PYRO_BENCH_SOURCE_DIR "/calls.py";
  std::string json_file;
};

// ---- servers -----------------------------------------------------------------------------

// Reads an 8-byte length and that many bytes, answers one byte; per connection, repeatedly.
void sink_server(int announce) {
  const int listener = listen_and_announce(announce, "sink server");
  if (listener < 0) return;
  for (;;) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    set_nodelay(fd);
    std::thread([fd] {
      std::vector<char> chunk(std::size_t{4} << 20);
      std::uint64_t size = 0;
      while (transfer(fd, reinterpret_cast<char*>(&size), sizeof size, false)) {
        while (size > 0) {
          const ssize_t n =
              ::recv(fd, chunk.data(), std::min<std::uint64_t>(size, chunk.size()), 0);
          if (n <= 0) break;
          size -= static_cast<std::uint64_t>(n);
        }
        char ack = 1;
        if (!transfer(fd, &ack, 1, true)) break;
      }
      ::close(fd);
    }).detach();
  }
}

struct BenchObject {
  std::atomic<std::int64_t> count{0};
  int ping() { return 1; }
  void tick() { ++count; }
  std::int64_t ticks() { return count.load(); }
  std::int64_t take(const pyro::Value& value) {
    // serpent's bytes arrive as a base64 dict (Pyro's hugetransfer does the same tobytes)
    const pyro::Value data = value.is_dict() ? pyro::serpent_tobytes(value) : value;
    if (data.is_bytes()) return static_cast<std::int64_t>(data.bytes_view().size());
    if (data.is_str()) return static_cast<std::int64_t>(data.as_str().size());
    return static_cast<std::int64_t>(data.size());
  }
  static pyro::Generator<int> numbers(int n) {
    for (int i = 0; i < n; ++i)
      co_yield i;
  }
  pyro::ItemStream items(int n) { return pyro::ItemStream(numbers(n)); }
};

void cpp_server(int announce) {
  pyro::Config config = pyro::Config::defaults();
  config.host = "127.0.0.1";
  config.threadpool_size = 80;  // 64 concurrent clients keep their calls going at once
  pyro::Daemon daemon(pyro::DaemonOptions{}, config);
  const pyro::Uri uri = daemon.expose(std::make_shared<BenchObject>(), "bench",
                                      pyro::Exposed<BenchObject>("Bench")
                                          .method("ping", &BenchObject::ping)
                                          .oneway("tick", &BenchObject::tick)
                                          .method("ticks", &BenchObject::ticks)
                                          .method("take", &BenchObject::take)
                                          .method("items", &BenchObject::items));
  const std::string line = uri.str() + "\n";
  if (::write(announce, line.data(), line.size()) < 0) return;
  ::close(announce);
  daemon.request_loop();
}

// ---- rows --------------------------------------------------------------------------------

// One figure in every compared system (0: not measured).
struct Row {
  Row(std::string f, std::string u, double ours, double limit)
      : figure(std::move(f)), unit(std::move(u)), pyrocpp(ours), raw(limit) {}
  std::string figure;
  std::string unit;  // "calls/s", "MB/s", ...
  double pyrocpp = 0;
  double raw = 0;  // the physical limit, same placement
  double pyro4 = 0;
  double pyro5 = 0;
  std::string note;  // p50/p99 and such
};

std::string fixed(double v) {
  if (v == 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, v >= 100 ? "%.0f" : "%.1f", v);
  return b;
}
std::string ratio(double a, double b) {
  if (a == 0 || b == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", a / b);
  return buf;
}

// Latencies in seconds → percentile p in microseconds.
double percentile_us(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(static_cast<double>(v.size()) * p))] *
         1e6;
}

// ---- measurements ------------------------------------------------------------------------

struct Bench {
  Settings s;
  pyro::Uri uri;
  int echo_port = 0;
  int sink_port = 0;
  std::vector<Row> rows;

  pyro::Config config(const std::string& serializer) const {
    pyro::Config c = pyro::Config::defaults();
    c.serializer = serializer;
    return c;
  }
  static void check(bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "bench_calls: wrong result: %s\n", what);
      std::exit(1);
    }
  }

  // Best rate (ops/s) of s.rounds runs of f(), which returns {ops, seconds}.
  template <class F>
  double best_rate(F f) {
    double best = 0;
    for (int r = 0; r < s.rounds; ++r) {
      const auto [ops, seconds] = f();
      best = std::max(best, static_cast<double>(ops) / seconds);
    }
    return best;
  }

  double raw_pingpong(std::size_t count) {
    const int fd = connect_loopback(echo_port);
    char byte = 'x';
    for (int i = 0; i < 200; ++i)
      check(transfer(fd, &byte, 1, true) && transfer(fd, &byte, 1, false), "echo");
    const double rate = best_rate([&] {
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i)
        check(transfer(fd, &byte, 1, true) && transfer(fd, &byte, 1, false), "echo");
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
    ::close(fd);
    return rate;
  }

  // k threads, each its own connection (raw) or proxy (pyrocpp), count operations in all.
  template <class Setup, class Op>
  double concurrent(int k, std::size_t count, Setup setup, Op op) {
    return best_rate([&] {
      const std::size_t per = std::max<std::size_t>(1, count / static_cast<std::size_t>(k));
      std::vector<std::thread> threads;
      std::atomic<int> ready{0};
      std::atomic<bool> go{false};
      for (int i = 0; i < k; ++i) {
        threads.emplace_back([&] {
          auto ctx = setup();
          ++ready;
          while (!go)
            std::this_thread::yield();
          for (std::size_t j = 0; j < per; ++j)
            op(ctx);
        });
      }
      while (ready < k)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const auto t = Clock::now();
      go = true;
      for (auto& th : threads)
        th.join();
      return std::pair{per * static_cast<std::size_t>(k),
                       std::chrono::duration<double>(Clock::now() - t).count()};
    });
  }

  double raw_concurrent(int k, std::size_t count) {
    return concurrent(
        k, count,
        [&] {
          auto fd = std::make_shared<int>(connect_loopback(echo_port));
          return fd;
        },
        [&](const std::shared_ptr<int>& fd) {
          char byte = 'x';
          check(transfer(*fd, &byte, 1, true) && transfer(*fd, &byte, 1, false), "echo");
        });
  }

  double cpp_concurrent(int k, std::size_t count) {
    return concurrent(
        k, count,
        [&] {
          auto p = std::make_shared<pyro::Proxy>(uri, config("msgpack"));
          p->call("ping");
          return p;
        },
        [&](const std::shared_ptr<pyro::Proxy>& p) { check(p->call<int>("ping") == 1, "ping"); });
  }

  // Sequential calls; {rate, p50 us, p99 us}.
  std::array<double, 3> cpp_calls(const std::string& serializer, std::size_t count) {
    pyro::Proxy p(uri, config(serializer));
    for (int i = 0; i < 200; ++i)
      p.call("ping");
    std::vector<double> latencies(count);
    std::array<double, 3> best{};
    for (int r = 0; r < s.rounds; ++r) {
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i) {
        const auto c = Clock::now();
        check(p.call<int>("ping") == 1, "ping");
        latencies[i] = std::chrono::duration<double>(Clock::now() - c).count();
      }
      const double rate =
          static_cast<double>(count) / std::chrono::duration<double>(Clock::now() - t).count();
      if (rate > best[0])
        best = {rate, percentile_us(latencies, 0.5), percentile_us(latencies, 0.99)};
    }
    return best;
  }

  double cpp_oneway(std::size_t count) {
    pyro::Proxy p(uri, config("msgpack"));
    return best_rate([&] {
      const std::int64_t before = p.call<std::int64_t>("ticks");
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i)
        p.call("tick");
      while (p.call<std::int64_t>("ticks") < before + static_cast<std::int64_t>(count))
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
  }

  double cpp_batches(std::size_t count) {
    pyro::Proxy p(uri, config("msgpack"));
    const std::size_t batches = std::max<std::size_t>(1, count / 100);
    return best_rate([&] {
      const auto t = Clock::now();
      for (std::size_t b = 0; b < batches; ++b) {
        pyro::BatchProxy batch(p);
        for (int i = 0; i < 100; ++i)
          batch.add("ping");
        std::size_t n = 0;
        for (const pyro::Value& v : batch()) {
          check(v.as_int() == 1, "batch result");
          ++n;
        }
        check(n == 100, "batch size");
      }
      return std::pair{batches * 100, std::chrono::duration<double>(Clock::now() - t).count()};
    });
  }

  // MB/s of uploads of `size` bytes.
  double cpp_upload(const std::string& serializer, std::size_t size) {
    pyro::Proxy p(uri, config(serializer));
    const pyro::Value data = pyro::Value::bytes(std::string(size, '\x5a'));
    const std::size_t count = upload_count(size);
    p.call("take", pyro::Value::bytes("x"));
    const double rate = best_rate([&] {
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i)
        check(p.call<std::int64_t>("take", data) == static_cast<std::int64_t>(size), "take");
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
    return rate * static_cast<double>(size) / 1e6;
  }

  double raw_upload(std::size_t size) {
    const int fd = connect_loopback(sink_port);
    std::vector<char> data(std::min<std::size_t>(size, 1 << 20), '\x5a');
    const std::size_t count = upload_count(size);
    const double rate = best_rate([&] {
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i) {
        // the length and the first chunk in one system call, as a Pyro message's head and body
        std::uint64_t n = size;
        const std::size_t first = std::min(data.size(), size);
        iovec parts[2] = {{&n, sizeof n}, {data.data(), first}};
        msghdr msg{};
        msg.msg_iov = parts;
        msg.msg_iovlen = 2;
        const ssize_t put = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        check(put > 0 && static_cast<std::size_t>(put) >= sizeof n, "sink");
        const std::size_t body = static_cast<std::size_t>(put) - sizeof n;
        check(transfer(fd, data.data() + body, first - body, true), "sink");
        for (std::size_t sent = first; sent < size; sent += data.size())
          check(transfer(fd, data.data(), std::min(data.size(), size - sent), true), "sink");
        char ack;
        check(transfer(fd, &ack, 1, false), "sink ack");
      }
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
    ::close(fd);
    return rate * static_cast<double>(size) / 1e6;
  }

  std::size_t upload_count(std::size_t size) const {
    const std::size_t total = s.quick ? (20u << 20) : (400u << 20);  // bytes per round
    return std::clamp<std::size_t>(total / size, 2, s.quick ? 500 : 5000);
  }

  double cpp_stream(std::size_t count) {
    pyro::Proxy p(uri, config("msgpack"));
    return best_rate([&] {
      const auto t = Clock::now();
      std::size_t n = 0;
      for (const pyro::Value& v : p.stream("items", static_cast<int>(count))) {
        check(v.as_int() == static_cast<std::int64_t>(n), "item");
        ++n;
      }
      check(n == count, "item count");
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
  }

  double cpp_connect(std::size_t count) {
    const pyro::Config c = config("msgpack");
    return best_rate([&] {
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i) {
        pyro::Proxy p(uri, c);
        check(p.call<int>("ping") == 1, "ping");
        p.release();
      }
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
  }

  double raw_connect(std::size_t count) {
    return best_rate([&] {
      const auto t = Clock::now();
      for (std::size_t i = 0; i < count; ++i) {
        const int fd = connect_loopback(echo_port);
        char byte = 'x';
        check(transfer(fd, &byte, 1, true) && transfer(fd, &byte, 1, false), "echo");
        ::close(fd);
      }
      return std::pair{count, std::chrono::duration<double>(Clock::now() - t).count()};
    });
  }
};

// ---- Python ------------------------------------------------------------------------------

struct Python {
  int version = 0;  // 4 or 5; 0 = not available
  std::string name;
  Child server;

  // One measurement by the Python client; ops/s (and the JSON it printed), 0 when it failed.
  std::pair<double, std::string> run(const Settings& s, const std::vector<std::string>& args) {
    if (version == 0 || server.line.empty()) return {0, ""};
    std::vector<std::string> argv{s.python, s.helper,   "--pyro", std::to_string(version),
                                  "client", server.line};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto out = run_to_end(s.client_cpu, argv);
    if (!out) {
      std::fprintf(stderr, "bench_calls: %s client failed: %s\n", name.c_str(), args[0].c_str());
      return {0, ""};
    }
    const double seconds = json_number(*out, "seconds");
    const double ops = json_number(*out, "ops");
    return {seconds > 0 ? ops / seconds : 0, *out};
  }
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--quick") {
      s.quick = true;
    } else if (a == "--roundtrip-only") {
      s.roundtrip_only = true;
    } else if (a == "--uploads-only") {
      s.only = "upload";
    } else if (a == "--only" && has_value) {
      s.only = argv[++i];
    } else if (a == "--no-python") {
      s.with_python = false;
    } else if (a == "--placement" && has_value) {
      s.placement = argv[++i];
    } else if (a == "--python" && has_value) {
      s.python = argv[++i];
    } else if (a == "--helper" && has_value) {
      s.helper = argv[++i];
    } else if (a == "--json" && has_value) {
      s.json_file = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: bench_calls [--quick] [--placement split|same] [--roundtrip-only] "
                   "[--uploads-only] [--only calls,concurrent,connect,oneway,batch,stream,upload] "
                   "[--no-python] [--python PATH] [--helper calls.py] "
                   "[--json FILE]\n");
      std::exit(2);
    }
  }
  if (s.placement == "same") {
    s.client_cpu = s.server_cpu = 0;
  } else if (s.placement != "split") {
    std::fprintf(stderr, "--placement: split or same\n");
    std::exit(2);
  }
  if (s.quick) {
    s.rounds = 1;
    for (std::size_t* n :
         {&s.calls, &s.py_calls, &s.connects, &s.py_connects, &s.items, &s.py_items})
      *n = std::max<std::size_t>(*n / 20, 20);
    s.max_upload_mb = 1;
  }
  return s;
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse(argc, argv);
  pin(s.client_cpu);
  // Servers first, while this process has no threads.
  Child echo = spawn(s.server_cpu, [](int fd) { echo_server(fd, 1); });
  Child sink = spawn(s.server_cpu, [](int fd) { sink_server(fd); });
  Child daemon = spawn(s.server_cpu, [](int fd) { cpp_server(fd); });
  std::vector<Python> pythons;
  for (int v : {4, 5}) {
    if (!s.with_python) break;
    if (v == 5 && std::getenv("PYRO5_PATH") == nullptr) continue;
    Python py;
    const auto version =
        run_to_end(s.client_cpu, {s.python, s.helper, "--pyro", std::to_string(v), "version"});
    if (!version) continue;
    py.version = v;
    py.name = version->substr(0, version->find('\n'));
    auto [pid, fd] =
        run_pinned(s.server_cpu, {s.python, s.helper, "--pyro", std::to_string(v), "serve"});
    py.server.pid = pid;
    py.server.line = read_line(fd);
    ::close(fd);
    pythons.push_back(std::move(py));
  }
  Python none;
  Python& py4 = !pythons.empty() && pythons[0].version == 4 ? pythons[0] : none;
  Python& py5 = !pythons.empty() && pythons.back().version == 5 ? pythons.back() : none;

  Bench b{s, pyro::Uri(daemon.line), std::stoi(echo.line), std::stoi(sink.line), {}};
  auto python_rate = [&](Python& py, std::vector<std::string> args) {
    return py.run(s, args).first;
  };
  auto both = [&](Row row, const std::vector<std::string>& args) {
    row.pyro4 = python_rate(py4, args);
    row.pyro5 = python_rate(py5, args);
    b.rows.push_back(std::move(row));
  };
  const std::string py_calls = std::to_string(s.py_calls);

  auto want = [&](std::string_view group) {
    if (s.only.empty()) return true;
    std::string_view rest = s.only;
    while (!rest.empty()) {
      const std::size_t comma = std::min(rest.find(','), rest.size());
      if (rest.substr(0, comma) == group) return true;
      rest.remove_prefix(std::min(comma + 1, rest.size()));
    }
    return false;
  };

  // Round-trip-bound rows (both placements).
  // Rounds of pyrocpp and of its baselines alternate (one round each at a time, the best of
  // s.rounds kept for each), so that every ratio compares figures taken under the same state of
  // this shared VM, whose speed drifts by tens of percent within a run.
  const int rounds = s.rounds;
  b.s.rounds = 1;
  if (want("calls")) {
    for (const char* ser : {"marshal", "msgpack", "serpent", "json"}) {
      std::array<double, 3> best{};
      double pingpong = 0;
      for (int r = 0; r < rounds; ++r) {
        pingpong = std::max(pingpong, b.raw_pingpong(s.calls));
        const std::array<double, 3> one = b.cpp_calls(ser, s.calls);
        if (one[0] > best[0]) best = one;
      }
      const auto [rate, p50, p99] = best;
      Row row{std::string("sync call, 1 connection, ") + ser, "calls/s", rate, pingpong};
      row.note = "p50 " + fixed(p50) + " us, p99 " + fixed(p99) + " us";
      for (Python* py : {&py4, &py5}) {
        const auto [pr, out] = py->run(s, {"call", "--count", py_calls, "--serializer", ser});
        (py == &py4 ? row.pyro4 : row.pyro5) = pr;
        if (pr > 0) {
          row.note += "; " + py->name.substr(0, 5) + " p50 " + fixed(json_number(out, "p50")) +
                      " us, p99 " + fixed(json_number(out, "p99")) + " us";
        }
      }
      b.rows.push_back(std::move(row));
    }
  }
  if (want("concurrent")) {
    for (int k : {8, 64}) {
      double cpp = 0, raw = 0, single = 0;
      for (int r = 0; r < rounds; ++r) {
        raw = std::max(raw, b.raw_concurrent(k, s.calls * 2));
        cpp = std::max(cpp, b.cpp_concurrent(k, s.calls * 2));
        single = std::max(single, b.cpp_calls("msgpack", s.calls)[0]);
      }
      Row row{std::to_string(k) + " concurrent clients, msgpack", "calls/s", cpp, raw};
      row.note = "vs 1 connection (" + fixed(single) +
                 " calls/s in the same rounds): " + ratio(cpp, single) + "x";
      both(row, {"concurrent", "--count", std::to_string(s.py_calls * 2), "--clients",
                 std::to_string(k), "--serializer", "msgpack"});
    }
  }
  if (want("connect")) {
    double cpp = 0, raw = 0;
    for (int r = 0; r < rounds; ++r) {
      raw = std::max(raw, b.raw_connect(s.connects));
      cpp = std::max(cpp, b.cpp_connect(s.connects));
    }
    both(Row{"connect + call + release", "per s", cpp, raw},
         {"connect", "--count", std::to_string(s.py_connects), "--serializer", "msgpack"});
  }
  b.s.rounds = rounds;
  // A batch is one round trip; a stream's read-ahead requests leave in groups, a round trip
  // each. Both run in both placements too.
  if (want("batch")) {
    both(Row{"calls in batches of 100, msgpack", "calls/s", b.cpp_batches(s.calls * 5), 0},
         {"batch", "--count", std::to_string(s.py_calls * 5), "--serializer", "msgpack"});
  }
  if (want("stream")) {
    both(Row{"stream items, msgpack", "items/s", b.cpp_stream(s.items), 0},
         {"stream", "--count", std::to_string(s.py_items), "--serializer", "msgpack"});
  }
  if (!s.roundtrip_only) {
    if (want("oneway")) {
      both(Row{"oneway calls executed, msgpack", "calls/s", b.cpp_oneway(s.calls * 2), 0},
           {"oneway", "--count", py_calls, "--serializer", "msgpack"});
    }
    for (std::size_t size : {std::size_t{1000}, std::size_t{1000000}, std::size_t{100000000}}) {
      if (!want("upload")) break;
      if (static_cast<double>(size) / 1e6 > s.max_upload_mb) continue;
      const double raw = b.raw_upload(size);
      for (const char* ser : {"marshal", "msgpack", "serpent"}) {
        const std::string label = size >= 1000000 ? std::to_string(size / 1000000) + " MB"
                                                  : std::to_string(size / 1000) + " KB";
        Row row{"bytes upload " + label + ", " + ser, "MB/s", b.cpp_upload(ser, size), raw};
        const std::size_t count = std::max<std::size_t>(2, b.upload_count(size) / 20);
        for (Python* py : {&py4, &py5}) {
          const double r = python_rate(*py, {"upload", "--count", std::to_string(count), "--size",
                                             std::to_string(size), "--serializer", ser});
          (py == &py4 ? row.pyro4 : row.pyro5) = r * static_cast<double>(size) / 1e6;
        }
        b.rows.push_back(std::move(row));
      }
    }
  }
  for (Child* c : {&echo, &sink, &daemon, &py4.server, &py5.server})
    c->stop();

  // ---- table ----
  std::printf("Placement %s: client on CPU %d, servers on CPU %d; best of %d round%s.\n\n",
              s.placement.c_str(), s.client_cpu, s.server_cpu, s.rounds, s.rounds == 1 ? "" : "s");
  std::printf(
      "| figure | unit | pyrocpp | raw TCP | pyrocpp/raw | %s | pyrocpp/Pyro4 | %s | "
      "pyrocpp/Pyro5 | notes |\n",
      py4.name.empty() ? "Pyro4" : py4.name.c_str(), py5.name.empty() ? "Pyro5" : py5.name.c_str());
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const Row& r : b.rows) {
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.figure.c_str(),
                r.unit.c_str(), fixed(r.pyrocpp).c_str(), fixed(r.raw).c_str(),
                ratio(r.pyrocpp, r.raw).c_str(), fixed(r.pyro4).c_str(),
                ratio(r.pyrocpp, r.pyro4).c_str(), fixed(r.pyro5).c_str(),
                ratio(r.pyrocpp, r.pyro5).c_str(), r.note.c_str());
  }
  if (!s.json_file.empty()) {
    std::ofstream out(s.json_file);
    out << "[\n";
    for (std::size_t i = 0; i < b.rows.size(); ++i) {
      const Row& r = b.rows[i];
      out << "  {\"figure\": \"" << json_escape(r.figure) << "\", \"unit\": \"" << r.unit
          << "\", \"placement\": \"" << s.placement << "\", \"pyrocpp\": " << r.pyrocpp
          << ", \"raw\": " << r.raw << ", \"pyro4\": " << r.pyro4 << ", \"pyro5\": " << r.pyro5
          << ", \"note\": \"" << json_escape(r.note) << "\"}" << (i + 1 < b.rows.size() ? "," : "")
          << "\n";
    }
    out << "]\n";
  }
  return 0;
}
