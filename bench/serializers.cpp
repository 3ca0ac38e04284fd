// bench_serializers <dir> — decode and encode throughput of each codec on the payloads the
// driver (bench/serializers.py) wrote into <dir> as <case>.<serializer>. Prints one JSON object
// per line: {"case", "serializer", "bytes", "decode_s", "encode_s"} (seconds per operation).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "pyro/serializer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Seconds per call of f: repeats for at least min_seconds (and 3 calls), best of 3 rounds.
template <class F>
double time_per_op(F&& f, double min_seconds) {
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    std::size_t n = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      f();
      ++n;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_seconds || n < 3);
    best = std::min(best, elapsed / static_cast<double>(n));
  }
  return best;
}

}  // namespace

// For instruction counts (valgrind --tool=callgrind): runs exactly n decodes or encodes of each
// payload and reports nothing.
int count_only(const char* dir, const std::string& op, long n) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string payload = ss.str();
    const pyro::Serializer& ser = pyro::serializer_by_name(e.path().extension().string().substr(1));
    pyro::Value value = ser.decode(payload);
    std::string out;
    for (long i = 0; i < n; ++i) {
      if (op == "decode") {
        value = ser.decode(payload);
      } else {
        out.clear();
        ser.encode(value, out, {});
      }
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_serializers <corpus dir> [min seconds per measurement]\n"
                 "       bench_serializers <corpus dir> --count <decode|encode> <n>\n";
    return 2;
  }
  if (argc == 5 && std::string(argv[2]) == "--count")
    return count_only(argv[1], argv[3], std::stol(argv[4]));
  const double min_seconds = argc > 2 ? std::stod(argv[2]) : 0.2;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(argv[1]))
    files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    const std::string case_name = path.stem().string();
    const std::string ser_name = path.extension().string().substr(1);
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string payload = ss.str();
    const pyro::Serializer& ser = pyro::serializer_by_name(ser_name);
    pyro::Value value = ser.decode(payload);
    std::string out;
    out.reserve(payload.size() + 64);
    const double decode_s = time_per_op([&] { value = ser.decode(payload); }, min_seconds);
    const double encode_s = time_per_op(
        [&] {
          out.clear();
          ser.encode(value, out, {});
        },
        min_seconds);
    std::printf(
        "{\"case\": \"%s\", \"serializer\": \"%s\", \"bytes\": %zu, \"encoded_bytes\": %zu, "
        "\"decode_s\": %.9g, \"encode_s\": %.9g}\n",
        case_name.c_str(), ser_name.c_str(), payload.size(), out.size(), decode_s, encode_s);
    std::fflush(stdout);
  }
  return 0;
}
