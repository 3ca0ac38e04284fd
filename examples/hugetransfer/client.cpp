// hugetransfer client — sends big arguments to example.hugetransfer and downloads a big result
// in pieces, with every serializer, and prints the speed of each. Like Pyro's client it sends the
// same data as str, as bytes and as a byte buffer (Python's bytearray), ten times each, checking
// the length the server counted; then it iterates download_chunks(10 × size).
// Usage: hugetransfer_client <uri> [--size MB] [--serializer serpent|json|marshal|msgpack]
#include "pyro/client.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int transfers_per_case = 10;  // Pyro's client sends each kind of data ten times
constexpr double mib = 1024.0 * 1024.0;

// One measurement: its speed, or why there is none.
struct Outcome {
  std::optional<double> mb_per_second;
  bool failed = false;  // a wrong length or chunk count, not merely an unsupported type
};

std::string megabytes(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(bytes) / mib);
  return text;
}

void print_speed(std::int64_t bytes, double seconds) {
  char text[128];
  std::snprintf(text, sizeof text, "  %s MB in %.3f s: %.1f MB/s", megabytes(bytes).c_str(),
                seconds, static_cast<double>(bytes) / mib / seconds);
  std::cout << text << std::endl;
}

// Sends data() ten times; each reply must be its length, `expected`. data is called per
// transfer, so a conversion it makes is part of the time measured.
template <class MakeData>
Outcome send_repeatedly(pyro::Proxy& proxy, MakeData data, std::int64_t expected) {
  const Clock::time_point begin = Clock::now();
  for (int i = 0; i < transfers_per_case; ++i) {
    std::int64_t length = 0;
    try {
      length = proxy.call<std::int64_t>("transfer", data());
    } catch (const pyro::PyroError& e) {
      // json has no bytes type: the call cannot even be encoded (Pyro raises the same way)
      std::cout << "  not sent: " << e.what() << std::endl;
      return {};
    }
    if (length != expected) {
      std::cout << "  wrong length: server counted " << length << ", sent " << expected
                << std::endl;
      return Outcome{std::nullopt, true};
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const std::int64_t total = expected * transfers_per_case;
  print_speed(total, seconds);
  return Outcome{static_cast<double>(total) / mib / seconds, false};
}

// Iterates download_chunks(total): the pieces must add up to total, 200000 bytes each but the
// last. Serpent's pieces arrive as base64 dicts; from_value decodes those too.
Outcome download(pyro::Proxy& proxy, std::int64_t total) {
  constexpr std::int64_t chunk_size = 200000;
  const Clock::time_point begin = Clock::now();
  std::int64_t received = 0;
  std::int64_t chunks = 0;
  try {
    for (const pyro::Value& item : proxy.stream("download_chunks", total)) {
      received += static_cast<std::int64_t>(pyro::from_value<std::vector<std::byte>>(item).size());
      ++chunks;
    }
  } catch (const pyro::PyroError& e) {
    // json again: the server cannot encode its bytes pieces
    std::cout << "  download failed after " << chunks << " chunks: " << e.what() << std::endl;
    return {};
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const std::int64_t expected_chunks = (total + chunk_size - 1) / chunk_size;
  std::cout << "  received " << received << " bytes in " << chunks << " chunks" << std::endl;
  if (received != total || chunks != expected_chunks) {
    std::cout << "  expected " << total << " bytes in " << expected_chunks << " chunks"
              << std::endl;
    return Outcome{std::nullopt, true};
  }
  print_speed(total, seconds);
  return Outcome{static_cast<double>(total) / mib / seconds, false};
}

std::string column(const Outcome& o) {
  char text[32];
  if (o.mb_per_second)
    std::snprintf(text, sizeof text, "%11.1f", *o.mb_per_second);
  else
    std::snprintf(text, sizeof text, "%11s", o.failed ? "FAILED" : "-");
  return text;
}

int usage() {
  std::cerr << "usage: hugetransfer_client <uri> [--size MB] "
               "[--serializer serpent|json|marshal|msgpack]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string uri = argv[1];
  double size_mb = 5.0;  // Pyro's client uses 5 MB
  std::vector<std::string> serializers = {"serpent", "json", "marshal", "msgpack"};
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage();
    if (flag == "--size") {
      size_mb = std::atof(argv[i + 1]);
    } else if (flag == "--serializer") {
      serializers = {argv[i + 1]};
    } else {
      return usage();
    }
  }
  const auto size = static_cast<std::int64_t>(std::llround(size_mb * mib));
  if (size <= 0) return usage();

  // The same data three ways, made once. A str of 'x's; bytes of 'x's (an immutable value that
  // every call shares); a byte buffer, which is converted to bytes for every call as Pyro
  // converts a bytearray.
  const pyro::Value text(std::string(static_cast<std::size_t>(size), 'x'));
  const pyro::Value bytes = pyro::Value::bytes(std::string(static_cast<std::size_t>(size), 'x'));
  const std::vector<std::byte> buffer(static_cast<std::size_t>(size), std::byte{'x'});

  struct Row {
    std::string serializer;
    Outcome str, bytes, bytearray, chunks;
  };
  std::vector<Row> rows;
  bool failed = false;
  try {
    for (const std::string& serializer : serializers) {
      Row row{serializer, {}, {}, {}, {}};
      pyro::Proxy proxy{uri};
      proxy.set_serializer(serializer);
      proxy.bind();
      std::cout << "\n---- serializer " << serializer << ": " << transfers_per_case
                << " transfers of " << size << " bytes ----" << std::endl;
      std::cout << "string data:" << std::endl;
      row.str = send_repeatedly(
          proxy, [&] { return text; }, size);
      std::cout << "bytes data:" << std::endl;
      row.bytes = send_repeatedly(
          proxy, [&] { return bytes; }, size);
      std::cout << "bytearray data:" << std::endl;
      row.bytearray = send_repeatedly(
          proxy, [&] { return pyro::to_value(buffer); }, size);
      std::cout << "download via iterator:" << std::endl;
      row.chunks = download(proxy, size * transfers_per_case);
      failed =
          failed || row.str.failed || row.bytes.failed || row.bytearray.failed || row.chunks.failed;
      rows.push_back(row);
    }
  } catch (const std::exception& e) {
    std::cerr << "hugetransfer client failed: " << e.what() << "\n";
    return 1;
  }

  std::cout << "\nMB/s, " << megabytes(size) << " MB x " << transfers_per_case
            << " per kind of data; download of " << megabytes(size * transfers_per_case)
            << " MB in chunks\n";
  std::cout << "serializer         str      bytes  bytearray   download\n";
  for (const Row& row : rows) {
    char name[16];
    std::snprintf(name, sizeof name, "%-10s", row.serializer.c_str());
    std::cout << name << column(row.str) << column(row.bytes) << column(row.bytearray)
              << column(row.chunks) << "\n";
  }
  return failed ? 1 : 0;
}
