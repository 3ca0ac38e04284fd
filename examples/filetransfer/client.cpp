// filetransfer client — downloads from a filetransfer server (ours, or Python Pyro's example
// server) in the four ways it offers and prints the average MB/s of each: whole blobs as call
// results, the chunks of a remote iterator, chunks in the FDAT annotations of an item stream, and
// prepared blobs read from the raw TCP side channel. Received data goes to files in --out DIR, or
// is only counted; the raw channel is read a buffer at a time, so memory stays flat whatever the
// size. A progress bar shows on a terminal (or with --progress) once a transfer takes a while.
// Usage: filetransfer_client <uri> [--size MB] [--count N] [--threads N] [--out DIR]
//            [--modes regular,iterator,annotation,raw] [--memory] [--checksum] [--progress]
//            [--serializer NAME]
#include "pyro/client.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <netdb.h>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>
#include <zlib.h>

#include "content.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using filetransfer::mebibyte;

struct Options {
  std::string uri;
  std::uint64_t size = 10 * 1024 * 1024;  // bytes per blob (Pyro's example: 10 Mb)
  int count = 10;                         // blobs per thread and mode (Pyro's: 10)
  int threads = 1;                        // Pyro's example runs every mode in 2 threads
  std::optional<std::string> out;         // directory for the received files
  std::vector<std::string> modes = {"regular", "iterator", "annotation", "raw"};
  bool memory_blobs = false;  // raw channel: prepare_memory_blob instead of prepare_file_blob
  bool checksum = false;      // annotation stream: ask for and check a crc32 per chunk
  bool progress = false;
  std::optional<std::string> serializer;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Where received bytes go: a new file in the output directory, or nowhere. Move-only.
class Sink {
 public:
  Sink(const Options& options, const std::string& name) {
    if (!options.out) return;
    path_ = *options.out + "/" + name;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_errno("cannot create " + path_);
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  ~Sink() {
    if (fd_ >= 0) ::close(fd_);
  }

  void write(const char* data, std::size_t n) {
    written_ += n;
    if (fd_ < 0) return;
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw_errno("cannot write " + path_);
      data += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void write(std::string_view data) { write(data.data(), data.size()); }
  std::uint64_t written() const noexcept { return written_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
};

// A progress bar on one line of stdout for one mode, fed by all its threads; it appears only
// when enabled and once the transfer has run for half a second, and is redrawn 10 times a
// second at most. Thread safety: thread-safe.
class Progress {
 public:
  // total: bytes expected (0: unknown, shows only the amount and the rate).
  Progress(bool enabled, std::string label, std::uint64_t total)
      : enabled_(enabled), label_(std::move(label)), total_(total), start_(Clock::now()) {}

  void add(std::uint64_t n) {
    const std::uint64_t done = done_ += n;
    if (!enabled_) return;
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock) return;  // another thread is drawing
    const Clock::time_point now = Clock::now();
    if (now - start_ < std::chrono::milliseconds(500)) return;
    if (now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    draw(done, now);
  }

  // Draws the final state and ends the line (when the bar was shown at all).
  void finish() {
    std::lock_guard lock(mutex_);
    if (drawn_ == Clock::time_point()) return;
    draw(done_, Clock::now());
    std::cout << std::endl;
  }

 private:
  void draw(std::uint64_t done, Clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::ostringstream line;
    line << "\r  " << std::left << std::setw(11) << label_ << std::right;
    if (total_ > 0) {
      constexpr int width = 30;
      const double fraction = std::min(1.0, static_cast<double>(done) / total_);
      const int filled = static_cast<int>(fraction * width);
      line << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
           << std::setw(3) << static_cast<int>(fraction * 100) << "% ";
    }
    line << std::fixed << std::setprecision(1) << std::setw(8) << done / mebibyte << " MB "
         << std::setw(8) << done / mebibyte / std::max(seconds, 1e-6) << " MB/s";
    std::cout << line.str() << std::flush;
  }

  const bool enabled_;
  const std::string label_;
  const std::uint64_t total_;
  const Clock::time_point start_;
  std::atomic<std::uint64_t> done_{0};
  std::mutex mutex_;
  Clock::time_point drawn_;  // guarded by mutex_; epoch: never drawn
};

pyro::Proxy connect(const Options& options) {
  pyro::Proxy proxy{options.uri};
  if (options.serializer) proxy.set_serializer(*options.serializer);
  return proxy;
}

// The bytes of a result: a bytes value, or serpent's base64 form of one (which Python's client
// turns back with serpent.tobytes).
std::string_view bytes_of(const pyro::Value& v, std::vector<std::byte>& storage) {
  if (v.is_bytes()) return v.bytes_view();
  storage = pyro::from_value<std::vector<std::byte>>(v);
  return {reinterpret_cast<const char*>(storage.data()), storage.size()};
}

void expect_size(const std::string& what, std::uint64_t expected, std::uint64_t got) {
  if (expected != got) {
    throw std::runtime_error(what + ": expected " + std::to_string(expected) + " bytes, got " +
                             std::to_string(got));
  }
}

// ---------------------------------------------------------------------------------------------
// The four modes; each returns the bytes it received
// ---------------------------------------------------------------------------------------------

std::uint64_t regular_calls(const Options& o, int thread, Progress& progress) {
  pyro::Proxy server = connect(o);
  std::uint64_t total = 0;
  for (int i = 0; i < o.count; ++i) {
    const pyro::Value result = server.call("get_with_pyro", o.size);
    std::vector<std::byte> storage;
    const std::string_view data = bytes_of(result, storage);
    expect_size("get_with_pyro", o.size, data.size());
    Sink(o, "regular-" + std::to_string(thread) + "-" + std::to_string(i) + ".bin").write(data);
    total += data.size();
    progress.add(data.size());
  }
  return total;
}

std::uint64_t remote_iterator(const Options& o, int thread, Progress& progress) {
  pyro::Proxy server = connect(o);
  std::uint64_t total = 0;
  for (int i = 0; i < o.count; ++i) {
    Sink sink(o, "iterator-" + std::to_string(thread) + "-" + std::to_string(i) + ".bin");
    for (const pyro::Value& chunk : server.stream("iterator", o.size)) {
      std::vector<std::byte> storage;
      const std::string_view data = bytes_of(chunk, storage);
      sink.write(data);
      progress.add(data.size());
    }
    expect_size("iterator", o.size, sink.written());
    total += sink.written();
  }
  return total;
}

std::uint64_t annotation_stream(const Options& o, int thread, Progress& progress) {
  pyro::Proxy server = connect(o);
  Sink sink(o, "annotation-" + std::to_string(thread) + ".bin");
  pyro::CallContext& context = pyro::current_context();
  for (const pyro::Value& item : server.stream("annotation_stream", o.checksum)) {
    const std::string* chunk = context.response_annotations.find("FDAT");
    if (chunk == nullptr) throw std::runtime_error("annotation_stream: item without FDAT");
    if (o.checksum) {
      const auto crc = ::crc32(0, reinterpret_cast<const Bytef*>(chunk->data()),
                               static_cast<uInt>(chunk->size()));
      if (static_cast<std::int64_t>(crc) != item[1].as_int())
        throw std::runtime_error("annotation_stream: checksum error");
    }
    sink.write(*chunk);
    progress.add(chunk->size());
    // The item is the file position after the chunk: what has arrived so far.
    expect_size("annotation_stream position", static_cast<std::uint64_t>(item[0].as_int()),
                sink.written());
    context.response_annotations.clear();  // done with them, as Pyro's client does
  }
  return sink.written();
}

// A blob prepared for the raw channel.
struct Blob {
  std::string id;
  std::string host;
  std::string port;
};

// Connects to the raw channel, sends the blob's id and reads until the server closes.
std::uint64_t receive_blob(const Options& o, const Blob& blob, const std::string& name,
                           Progress& progress) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(blob.host.c_str(), blob.port.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot resolve " + blob.host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  int sock = -1;
  for (const addrinfo* a = found; a != nullptr && sock < 0; a = a->ai_next) {
    sock = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (sock >= 0 && ::connect(sock, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(sock);
      sock = -1;
    }
  }
  if (sock < 0) throw_errno("cannot connect to the blob socket " + blob.host + ":" + blob.port);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{sock};
  const timeval timeout{30, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::send(sock, blob.id.data(), blob.id.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(blob.id.size()))
    throw_errno("cannot send the blob id");
  Sink sink(o, name);
  std::vector<char> buffer(1 << 20);
  for (;;) {
    const ssize_t r = ::recv(sock, buffer.data(), buffer.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno("receiving blob " + blob.id);
    if (r == 0) break;
    sink.write(buffer.data(), static_cast<std::size_t>(r));
    progress.add(static_cast<std::uint64_t>(r));
  }
  expect_size("raw blob " + blob.id, o.size, sink.written());
  return sink.written();
}

// ---------------------------------------------------------------------------------------------
// Running a mode
// ---------------------------------------------------------------------------------------------

// Runs body(thread) on o.threads threads at once; returns the bytes they received and the wall
// time they took. The first exception of a thread is rethrown.
template <class Body>
std::pair<std::uint64_t, double> run_threads(const Options& o, Body body) {
  std::atomic<std::uint64_t> bytes{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  const Clock::time_point start = Clock::now();
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] {
        try {
          bytes += body(t);
        } catch (...) {
          std::lock_guard lock(error_mutex);
          if (!error) error = std::current_exception();
        }
      });
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (error) std::rethrow_exception(error);
  return {bytes.load(), seconds};
}

struct Average {
  std::string mode;
  double mb_per_second;
};

Average run_mode(const Options& o, const std::string& mode) {
  const std::uint64_t planned = o.size * static_cast<std::uint64_t>(o.count) * o.threads;
  std::pair<std::uint64_t, double> result;
  if (mode == "regular") {
    std::cout << "\n**** regular pyro calls ****" << std::endl;
    Progress progress(o.progress, mode, planned);
    result = run_threads(o, [&](int t) { return regular_calls(o, t, progress); });
    progress.finish();
  } else if (mode == "iterator") {
    std::cout << "\n**** transfer via iterators ****" << std::endl;
    Progress progress(o.progress, mode, planned);
    result = run_threads(o, [&](int t) { return remote_iterator(o, t, progress); });
    progress.finish();
  } else if (mode == "annotation") {
    std::cout << "\n**** transfer via annotation stream ****" << std::endl;
    Progress progress(o.progress, mode, 0);
    result = run_threads(o, [&](int t) { return annotation_stream(o, t, progress); });
    progress.finish();
  } else if (mode == "raw") {
    std::cout << "\n**** raw socket transfers ****" << std::endl;
    // Prepare every blob first; only the transfers are timed (as in Pyro's example).
    std::vector<std::vector<Blob>> blobs(o.threads);
    {
      pyro::Proxy server = connect(o);
      const char* method = o.memory_blobs ? "prepare_memory_blob" : "prepare_file_blob";
      std::cout << "preparing " << o.count * o.threads << " blobs of " << std::fixed
                << std::setprecision(2) << o.size / mebibyte << " MB (" << method << ")"
                << std::endl;
      for (auto& list : blobs) {
        for (int i = 0; i < o.count; ++i) {
          const pyro::Value prepared = server.call(method, o.size);
          const pyro::Value& address = prepared[1];  // Python's getsockname(): (host, port, ...)
          list.push_back({prepared[0].get<std::string>(), address[0].get<std::string>(),
                          std::to_string(address[1].as_int())});
        }
      }
    }
    Progress progress(o.progress, mode, planned);
    result = run_threads(o, [&](int t) {
      std::uint64_t n = 0;
      for (std::size_t i = 0; i < blobs[t].size(); ++i) {
        n += receive_blob(o, blobs[t][i],
                          "raw-" + std::to_string(t) + "-" + std::to_string(i) + ".bin", progress);
      }
      return n;
    });
    progress.finish();
  } else {
    throw std::invalid_argument("unknown mode " + mode +
                                " (modes: regular, iterator, annotation, raw)");
  }
  const auto [bytes, seconds] = result;
  const double rate = bytes / mebibyte / std::max(seconds, 1e-9);
  std::cout << mode << ": " << std::fixed << std::setprecision(2) << bytes / mebibyte << " MB in "
            << std::setprecision(3) << seconds << " s, " << std::setprecision(2) << rate << " MB/s"
            << std::endl;
  return {mode, rate};
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

constexpr const char* usage =
    "usage: filetransfer_client <uri> [--size MB] [--count N] [--threads N] [--out DIR]\n"
    "           [--modes regular,iterator,annotation,raw] [--memory] [--checksum] [--progress]\n"
    "           [--serializer NAME]\n";

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  o.progress = ::isatty(STDOUT_FILENO) != 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--size") {
      const double mb = std::stod(value());
      if (mb < 0) throw std::invalid_argument("--size must not be negative");
      o.size = static_cast<std::uint64_t>(mb * mebibyte);
    } else if (arg == "--count") {
      o.count = std::max(1, std::stoi(value()));
    } else if (arg == "--threads") {
      o.threads = std::max(1, std::stoi(value()));
    } else if (arg == "--out") {
      o.out = value();
    } else if (arg == "--modes") {
      o.modes = split(value(), ',');
    } else if (arg == "--serializer") {
      o.serializer = value();
    } else if (arg == "--memory") {
      o.memory_blobs = true;
    } else if (arg == "--checksum") {
      o.checksum = true;
    } else if (arg == "--progress") {
      o.progress = true;
    } else if (arg.starts_with("--") || !o.uri.empty()) {
      return std::nullopt;
    } else {
      o.uri = arg;
    }
  }
  if (o.uri.empty()) return std::nullopt;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::optional<Options> options = parse(argc, argv);
    if (!options) {
      std::cerr << usage;
      return 2;
    }
    std::vector<Average> averages;
    for (const std::string& mode : options->modes)
      averages.push_back(run_mode(*options, mode));
    std::cout << "\naverages:" << std::endl;
    for (const Average& a : averages) {
      std::cout << "  " << std::left << std::setw(12) << a.mode << std::right << std::fixed
                << std::setprecision(2) << std::setw(10) << a.mb_per_second << " MB/s" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "filetransfer client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
