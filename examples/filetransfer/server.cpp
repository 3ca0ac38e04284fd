// filetransfer server — offers one payload four ways, with the remote method names, arguments and
// results of Pyro's filetransfer example (object "example.filetransfer"), so Python Pyro's client
// can use it: a whole blob as the result of a call, the chunks of a remote iterator, chunks riding
// in the FDAT annotation of an item stream, and a raw TCP side channel. For the side channel a
// call prepares a blob (a temporary file, so memory stays flat, or a memory buffer) and answers
// its id and the channel's (host, port); the client connects there, sends the 36-character id and
// reads the bytes until the server closes, which sends them with sendfile(2). Only prepared ids
// are served, each once; for any other id the connection is closed with nothing sent.
// Usage: filetransfer_server [--host H] [--port N] [--blob-port N] [--stream-size MB]
#include "pyro/server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <variant>
#include <zlib.h>

#include "content.hpp"

namespace {

using filetransfer::content;
using filetransfer::fill_content;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// An open file descriptor, closed by the destructor. Move-only.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~FileDescriptor() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A file without a name in $TMPDIR (or /tmp), holding `size` content bytes: it disappears when
// its descriptor is closed, like Python's tempfile.TemporaryFile().
FileDescriptor temporary_file(std::uint64_t size) {
  const char* env = std::getenv("TMPDIR");
  const std::string dir = env != nullptr && *env != '\0' ? env : "/tmp";
  FileDescriptor fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.get() < 0) {  // a file system without O_TMPFILE: make a name and remove it at once
    std::string path = dir + "/filetransfer-XXXXXX";
    fd = FileDescriptor(::mkstemp(path.data()));
    if (fd.get() < 0) throw_errno("cannot create a temporary file in " + dir);
    ::unlink(path.c_str());
  }
  std::string buffer(1 << 20, '\0');
  for (std::uint64_t written = 0; written < size;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - written));
    fill_content(buffer.data(), n, written);
    for (std::size_t done = 0; done < n;) {
      const ssize_t w = ::write(fd.get(), buffer.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw_errno("cannot write the temporary file");
      done += static_cast<std::size_t>(w);
    }
    written += n;
  }
  return fd;
}

// A random uuid4 in its text form, the id of a prepared blob (Pyro: str(uuid.uuid4())).
std::string new_blob_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uint8_t b[16];
  for (int i = 0; i < 16; i += 8) {
    const std::uint64_t r = random();
    std::memcpy(b + i, &r, 8);
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    id += hex[b[i] >> 4];
    id += hex[b[i] & 15];
  }
  return id;
}

// Bytes of file data per FDAT annotation: Pyro5's example sends 500000; protocol 48 has a 16-bit
// length for all annotations of a message together: a Pyro4 client gets 64000-byte chunks.
constexpr std::uint64_t annotation_size = 500000;
constexpr std::uint64_t annotation_size_48 = 64000;

std::uint64_t checked_size(std::int64_t size) {
  if (size < 0) throw std::invalid_argument("size must not be negative");
  return static_cast<std::uint64_t>(size);
}

// ---------------------------------------------------------------------------------------------
// The raw side channel
// ---------------------------------------------------------------------------------------------

// Blobs prepared for the raw channel, by id; each is handed out once.
// Thread safety: thread-safe.
class BlobStore {
 public:
  // A temporary file (read from offset 0 to its size) or bytes in memory.
  struct File {
    FileDescriptor fd;
    std::uint64_t size = 0;
  };
  using Blob = std::variant<File, std::string>;

  std::string add(Blob blob) {
    std::string id = new_blob_id();
    std::lock_guard lock(mutex_);
    blobs_.emplace(id, std::move(blob));
    return id;
  }
  // Removes and returns the blob of id; nullopt for an id that was never prepared or was taken.
  std::optional<Blob> take(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = blobs_.find(id);
    if (it == blobs_.end()) return std::nullopt;
    Blob blob = std::move(it->second);
    blobs_.erase(it);
    return blob;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Blob> blobs_;  // guarded by mutex_
};

// Listens for raw connections (Pyro's blobsocket) and answers each on a thread of its own: read
// the id, send that blob's bytes, close. Lives as long as the process.
class RawChannel {
 public:
  RawChannel(std::shared_ptr<BlobStore> store, const std::string& address, int port)
      : store_(std::move(store)) {
    const bool v6 = address.find(':') != std::string::npos;
    listener_ = FileDescriptor(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener_.get() < 0) throw_errno("socket");
    const int on = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<std::uint16_t>(port));
      if (::inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1)
        throw std::invalid_argument("not an IPv6 address: " + address);
      length = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&storage);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<std::uint16_t>(port));
      if (::inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1)
        throw std::invalid_argument("not an IPv4 address: " + address);
      length = sizeof *a;
    }
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0)
      throw_errno("cannot bind the blob socket to " + address + ":" + std::to_string(port));
    if (::listen(listener_.get(), 64) != 0) throw_errno("listen");
    length = sizeof storage;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&storage), &length);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    // What Python's getsockname() gives for the socket: (host, port), or for IPv6 (host, port,
    // flowinfo, scope_id). Clients connect to its first two items.
    address_ = v6 ? pyro::Value::tuple(
                        {pyro::Value(address), pyro::Value(port_), pyro::Value(0), pyro::Value(0)})
                  : pyro::Value::tuple({pyro::Value(address), pyro::Value(port_)});
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  // Stops accepting (transfers under way finish on their own threads).
  ~RawChannel() {
    stopping_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes the blocked accept()
    acceptor_.join();
  }
  RawChannel(const RawChannel&) = delete;
  RawChannel& operator=(const RawChannel&) = delete;

  const pyro::Value& address() const noexcept { return address_; }
  int port() const noexcept { return port_; }

 private:
  void accept_loop() {
    for (;;) {
      const int client = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
          if (errno == EMFILE || errno == ENFILE)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        if (!stopping_)
          std::cerr << "blob socket: accept failed: " << std::strerror(errno) << std::endl;
        return;
      }
      std::thread([store = store_, fd = FileDescriptor(client)]() mutable {
        try {
          serve(*store, fd.get());
        } catch (const std::exception& e) {
          std::cout << "blob socket: transfer failed: " << e.what() << std::endl;
        }
      }).detach();
    }
  }

  // One raw connection: the id (exactly 36 bytes, within 10 s), then the blob's bytes.
  static void serve(BlobStore& store, int sock) {
    const timeval timeout{10, 0};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string id(filetransfer::blob_id_size, '\0');
    for (std::size_t got = 0; got < id.size();) {
      const ssize_t r = ::recv(sock, id.data() + got, id.size() - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        std::cout << "blob socket: connection gave no complete id" << std::endl;
        return;
      }
      got += static_cast<std::size_t>(r);
    }
    std::optional<BlobStore::Blob> blob = store.take(id);
    if (!blob) {
      // Pyro's example raises KeyError in its thread, and the socket closes unanswered.
      std::cout << "blob socket: unknown id requested, closing the connection" << std::endl;
      return;
    }
    if (auto* file = std::get_if<BlobStore::File>(&*blob)) {
      std::cout << "blob socket: sending " << file->size << " bytes of " << id
                << " from its file with sendfile()" << std::endl;
      off_t offset = 0;
      while (static_cast<std::uint64_t>(offset) < file->size) {
        const std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(file->size - static_cast<std::uint64_t>(offset), 1 << 30));
        const ssize_t sent = ::sendfile(sock, file->fd.get(), &offset, want);
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0) throw_errno("sendfile");
        if (sent == 0) break;  // the file is shorter than it was (cannot happen: it is ours)
      }
    } else {
      const std::string& data = std::get<std::string>(*blob);
      std::cout << "blob socket: sending " << data.size() << " bytes of " << id << " from memory"
                << std::endl;
      for (std::size_t done = 0; done < data.size();) {
        const ssize_t sent = ::send(sock, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0) throw_errno("send");
        done += static_cast<std::size_t>(sent);
      }
    }
  }

  std::shared_ptr<BlobStore> store_;
  FileDescriptor listener_;
  int port_ = 0;
  pyro::Value address_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;  // last: it uses the members above
};

// ---------------------------------------------------------------------------------------------
// The Pyro object
// ---------------------------------------------------------------------------------------------

class FileServer {
 public:
  // stream_size: the size of the file annotation_stream() sends (Pyro's: 5000 * 11000 bytes).
  FileServer(std::shared_ptr<BlobStore> store, const RawChannel& channel, std::uint64_t stream_size)
      : store_(std::move(store)), channel_(channel), stream_size_(stream_size) {}

  // The whole blob as the result of one call.
  pyro::Value get_with_pyro(std::int64_t size) {
    const std::uint64_t n = checked_size(size);
    std::cout << "sending " << n << " bytes" << std::endl;
    return pyro::Value::bytes(content(0, static_cast<std::size_t>(n)));
  }

  // The blob in 100 chunks (Pyro: size // 100 bytes each, and what is left in a last one), each
  // made when the client asks for it.
  pyro::ItemStream iterator(std::int64_t size) {
    const std::uint64_t total = checked_size(size);
    const std::uint64_t chunk = std::max<std::uint64_t>(total / 100, 1);
    std::cout << "sending " << total << " bytes via iterator, chunks of " << chunk << " bytes"
              << std::endl;
    auto offset = std::make_shared<std::uint64_t>(0);
    return pyro::ItemStream([offset, total, chunk]() -> std::optional<pyro::Value> {
      if (*offset >= total) return std::nullopt;
      const std::size_t n = static_cast<std::size_t>(std::min(chunk, total - *offset));
      pyro::Value item = pyro::Value::bytes(content(*offset, n));
      *offset += n;
      return item;
    });
  }

  // A temporary file sent in 500000-byte chunks, each in the FDAT annotation of the reply that
  // carries the item (file position after the chunk, crc32 of the chunk or 0): the bytes bypass
  // the serializer. The file is closed when the stream ends or is dropped.
  pyro::ItemStream annotation_stream(std::optional<bool> with_checksum) {
    struct State {
      FileDescriptor file;
      std::uint64_t size = 0;
      std::uint64_t position = 0;
      bool checksum = false;
      std::string chunk;
    };
    auto state = std::make_shared<State>();
    state->file = temporary_file(stream_size_);
    state->size = stream_size_;
    state->checksum = with_checksum.value_or(false);
    const std::uint64_t chunk_size = pyro::current_context().protocol == pyro::protocol_48
                                         ? annotation_size_48
                                         : annotation_size;
    std::cout << "transmitting file via annotations stream (" << stream_size_
              << " bytes in chunks of " << chunk_size << ")..." << std::endl;
    return pyro::ItemStream([state, chunk_size]() -> std::optional<pyro::Value> {
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(chunk_size, state->size - state->position));
      if (n == 0) return std::nullopt;
      state->chunk.resize(n);
      for (std::size_t done = 0; done < n;) {
        const ssize_t r = ::pread(state->file.get(), state->chunk.data() + done, n - done,
                                  static_cast<off_t>(state->position + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw_errno("cannot read the temporary file");
        done += static_cast<std::size_t>(r);
      }
      state->position += n;
      std::int64_t crc = 0;
      if (state->checksum) {
        crc = static_cast<std::int64_t>(
            ::crc32(0, reinterpret_cast<const Bytef*>(state->chunk.data()), static_cast<uInt>(n)));
      }
      pyro::current_context().response_annotations.set("FDAT", state->chunk);
      return pyro::Value::tuple(
          {pyro::Value(static_cast<std::int64_t>(state->position)), pyro::Value(crc)});
    });
  }

  // A blob in a temporary file for the raw channel: (id, address of the channel).
  pyro::Value prepare_file_blob(std::int64_t size) {
    const std::uint64_t n = checked_size(size);
    std::cout << "preparing file-based blob of size " << n << std::endl;
    BlobStore::File file{temporary_file(n), n};
    return pyro::Value::tuple({pyro::Value(store_->add(std::move(file))), channel_.address()});
  }

  // The same, kept in memory.
  pyro::Value prepare_memory_blob(std::int64_t size) {
    const std::uint64_t n = checked_size(size);
    std::cout << "preparing in-memory blob of size " << n << std::endl;
    std::string data = content(0, static_cast<std::size_t>(n));
    return pyro::Value::tuple({pyro::Value(store_->add(std::move(data))), channel_.address()});
  }

 private:
  std::shared_ptr<BlobStore> store_;
  const RawChannel& channel_;
  std::uint64_t stream_size_;
};

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  int blob_port = 0;
  std::uint64_t stream_size = 5000 * 11000;  // Pyro's: 5000 times b"1234567890!" * 1000
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "usage: filetransfer_server [--host H] [--port N] [--blob-port N] "
                   "[--stream-size MB]\n";
      return 2;
    }
    const char* value = argv[++i];
    if (flag == "--host") {
      options.host = value;
    } else if (flag == "--port") {
      options.port = std::atoi(value);
    } else if (flag == "--blob-port") {
      blob_port = std::atoi(value);
    } else if (flag == "--stream-size") {
      stream_size = static_cast<std::uint64_t>(std::atof(value) * filetransfer::mebibyte);
    } else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  try {
    pyro::Daemon daemon(options);
    // The raw channel listens on the daemon's address (Pyro binds it to the same host).
    auto store = std::make_shared<BlobStore>();
    RawChannel channel(store, daemon.bound_address(), blob_port);
    std::cout << "blob socket available on: " << daemon.bound_address() << ":" << channel.port()
              << std::endl;
    const auto exposed =
        pyro::Exposed<FileServer>("FileServer")
            .method("get_with_pyro", &FileServer::get_with_pyro, {"size"})
            .method("iterator", &FileServer::iterator, {"size"})
            .method("annotation_stream", &FileServer::annotation_stream, {"with_checksum"})
            .method("prepare_file_blob", &FileServer::prepare_file_blob, {"size"})
            .method("prepare_memory_blob", &FileServer::prepare_memory_blob, {"size"});
    const pyro::Uri uri = daemon.expose(std::make_shared<FileServer>(store, channel, stream_size),
                                        "example.filetransfer", exposed);
    std::cout << "uri: " << uri.str() << std::endl;
    daemon.request_loop();
  } catch (const std::exception& e) {
    std::cerr << "filetransfer server failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
