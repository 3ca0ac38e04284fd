// bench_naming_storage [--count N] [--sql-count N] [--python-count N] [--quick] — puts and gets
// per second of the name server's storage back ends (memory, and SQLite with a committed
// transaction per put), beside Python Pyro4's SqlStorage (run by /usr/bin/python3, timed inside
// Python) on the same data: N names with a URI and two tags each, read back in shuffled order.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <sqlite3.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "pyro/naming.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Rates {
  double puts = 0;  // per second
  double gets = 0;
};

pyro::Registration registration(std::size_t i) {
  pyro::Registration r;
  r.uri = "PYRO:obj_" + std::to_string(i) + "@localhost:9090";
  r.metadata = {"class:Bench", "tag" + std::to_string(i)};
  return r;
}

std::vector<std::string> names(std::size_t count) {
  std::vector<std::string> result;
  for (std::size_t i = 0; i < count; ++i)
    result.push_back("bench.object" + std::to_string(i));
  return result;
}

template <class F>
double per_second(std::size_t count, F&& f) {
  const auto start = Clock::now();
  f();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(count) / seconds;
}

Rates measure(pyro::NameStorage& storage, std::size_t count) {
  auto keys = names(count);
  Rates rates;
  rates.puts = per_second(count, [&] {
    for (std::size_t i = 0; i < count; ++i)
      storage.put(keys[i], registration(i));
  });
  std::shuffle(keys.begin(), keys.end(), std::mt19937(1));
  std::size_t found = 0;
  rates.gets = per_second(count, [&] {
    for (const auto& key : keys)
      found += storage.get(key) ? 1 : 0;
  });
  if (found != count) std::fprintf(stderr, "only %zu of %zu names found\n", found, count);
  return rates;
}

// Gets per second once the index on pyro_metadata(object), which we add to Pyro's schema, is
// dropped: every tag lookup then scans pyro_metadata, as Python Pyro's do. At most 1000 gets.
double gets_without_index(const std::string& file, pyro::NameStorage& storage, std::size_t count) {
  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  sqlite3_exec(db, "DROP INDEX pyro_metadata_object", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto keys = names(count);
  std::shuffle(keys.begin(), keys.end(), std::mt19937(1));
  keys.resize(std::min<std::size_t>(count, 1000));
  return per_second(keys.size(), [&] {
    for (const auto& key : keys)
      (void)storage.get(key);
  });
}

constexpr const char* python_script = R"(
import random, sys, time
from Pyro4.naming_storage import SqlStorage
s = SqlStorage(sys.argv[1])
n = int(sys.argv[2])
names = ['bench.object%d' % i for i in range(n)]
t = time.perf_counter()
for i, name in enumerate(names):
    s[name] = ('PYRO:obj_%d@localhost:9090' % i, {'class:Bench', 'tag%d' % i})
puts = n / (time.perf_counter() - t)
random.Random(1).shuffle(names)
t = time.perf_counter()
for name in names:
    s[name]
gets = n / (time.perf_counter() - t)
print(puts, gets)
)";

// Python Pyro4's SqlStorage on a fresh file; nullopt when Python or Pyro4 is missing.
std::optional<Rates> python_sql(const std::string& file, std::size_t count) {
  int out[2];
  if (::pipe(out) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    const std::string n = std::to_string(count);
    ::execl("/usr/bin/python3", "python3", "-c", python_script, file.c_str(), n.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string output;
  char buffer[256];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) {
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Rates rates;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(output.c_str(), "%lf %lf", &rates.puts, &rates.gets) != 2) {
    return std::nullopt;
  }
  return rates;
}

void row(const char* what, std::size_t count, const Rates& rates) {
  std::printf("| %-34s | %7zu | %10.0f | %10.0f |\n", what, count, rates.puts, rates.gets);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 200000;
  std::size_t sql_count = 20000;
  std::size_t python_count = 200;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--count") == 0 && i + 1 < argc) count = std::stoul(argv[++i]);
    if (std::strcmp(argv[i], "--sql-count") == 0 && i + 1 < argc) {
      sql_count = std::stoul(argv[++i]);
    }
    if (std::strcmp(argv[i], "--python-count") == 0 && i + 1 < argc) {
      python_count = std::stoul(argv[++i]);
    }
    if (std::strcmp(argv[i], "--quick") == 0) {
      count = 20000;
      sql_count = 2000;
      python_count = 50;
    }
  }
  const fs::path dir =
      fs::temp_directory_path() / ("pyrocpp-bench-naming-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  std::printf("| storage                            |   names |     puts/s |     gets/s |\n");
  std::printf("|:-----------------------------------|--------:|-----------:|-----------:|\n");
  {
    auto memory = pyro::make_memory_storage();
    row("memory", count, measure(*memory, count));
  }
  {
    const std::string file = (dir / "big.sqlite").string();
    auto sql = pyro::make_sql_storage(file);
    const Rates rates = measure(*sql, sql_count);
    row("sql (durable puts)", sql_count, rates);
    row("sql, no index on pyro_metadata", sql_count,
        {.puts = rates.puts, .gets = gets_without_index(file, *sql, sql_count)});
  }
  Rates ours;
  {
    auto sql = pyro::make_sql_storage((dir / "small.sqlite").string());
    ours = measure(*sql, python_count);
    row("sql (durable puts)", python_count, ours);
  }
  const auto python = python_sql((dir / "python.sqlite").string(), python_count);
  if (python) {
    row("Python Pyro4 SqlStorage", python_count, *python);
    std::printf("| %-34s | %7zu | %9.1fx | %9.1fx |\n", "ratio sql / Python", python_count,
                ours.puts / python->puts, ours.gets / python->gets);
  } else {
    std::printf("(Python Pyro4 not available: no comparison)\n");
  }
  std::printf(
      "\nsql: one connection, WAL journal, synchronous=NORMAL: a put is committed before it\n"
      "returns and survives kill -9, not a power loss. Python Pyro4: a connection per call,\n"
      "rollback journal, synchronous=FULL (an fsync per put), no index on pyro_metadata.\n");

  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}
