// transport.hpp — the connections that carry Pyro messages: TCP over IPv4 and IPv6, Unix domain
// sockets, already connected sockets (socketpair); reading whole messages with the size limit
// checked before the body is allocated; timeouts. Relies on protocol.hpp (message framing) and
// uri.hpp (locations). Adds the client side (Connection: blocking sockets, one call = one write
// and one read, timeouts kept by the kernel) and the server side (MessageServer: an Asio event
// loop on a pool of threads; no thread is held by an idle connection, each message is handled on
// the thread that read it, replies of one connection leave in order).
// Knows nothing of calls, objects or serializers beyond what a CONNECTFAIL needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyro/protocol.hpp"
#include "pyro/uri.hpp"
#include "pyro/value.hpp"

namespace pyro {

// Socket settings of either side (Pyro's COMMTIMEOUT, SOCK_NODELAY, SOCK_REUSE, PREFER_IP_VERSION).
struct SocketOptions {
  double timeout = 0;         // seconds for connect/send/receive; 0 = wait forever
  bool nodelay = true;        // TCP_NODELAY (messages are written whole, so always worth it)
  bool reuse = true;          // SO_REUSEADDR on listening sockets
  int prefer_ip_version = 0;  // 0: as the resolver says; 4 or 6: only that family
};

namespace detail {

// An input buffer that grows without zero-filling (a std::string's resize clears what it adds:
// 16 KiB per small call, a third of its cost) and can be dropped when idle.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { release(); }

  char* data() noexcept { return data_; }
  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // Grows to at least n bytes, keeping the first `used` ones. Big buffers come from the large
  // block cache (warm memory, no page faults for a stream of big messages).
  void grow(std::size_t n, std::size_t used) {
    if (n <= size_) return;
    char* bigger = static_cast<char*>(pool_allocate(n));
    if (used > 0) std::memcpy(bigger, data_, used);
    release();
    data_ = bigger;
    size_ = n;
  }
  void release() noexcept {
    pool_deallocate(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace detail

// One client connection to a daemon. Blocking I/O; timeouts by SO_RCVTIMEO/SO_SNDTIMEO, so a
// call costs one send and (usually) one recv system call.
// Resource type: move-only; closes its socket when destroyed unless adopted unowned.
// Thread safety: thread-compatible.
class Connection {
 public:
  Connection() = default;
  // Connects to the location of a URI (host:port, [ipv6]:port or ./u:socket). Throws
  // CommunicationError("cannot connect to ('127.0.0.1', 1): [Errno 111] Connection refused")
  // (Pyro's text, LOC as Python prints the address) or TimeoutError.
  static Connection connect(const Uri& uri, const SocketOptions& options);
  // Uses a socket that is already connected (one end of a socketpair). When not owned, close()
  // leaves it open: the user owns it.
  static Connection adopt(int fd, bool owned, const SocketOptions& options);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  bool is_open() const noexcept { return fd_ >= 0; }
  void close() noexcept;
  void set_timeout(double seconds);
  double timeout() const noexcept { return timeout_; }

  // Writes all of bytes. Throws TimeoutError("sending: timeout") or
  // ConnectionClosedError("sending: connection lost: <reason>").
  void send(std::string_view bytes);
  // head, then tail, in one gathering send where the kernel takes it all.
  void send(std::string_view head, std::string_view tail);
  // The pieces in order, gathered.
  void send(std::span<const std::string_view> parts);
  // Reads one whole message. Throws TimeoutError("receiving: timeout"),
  // ConnectionClosedError("receiving: not enough data") / ("receiving: connection lost: ..."),
  // or the ProtocolError of a bad header (size limit checked before reading the body). With an
  // expected protocol (502 or 48; 0 accepts either) a message of the other one is refused before
  // anything else is read, with detect_protocol's text ("invalid protocol version: 48", "invalid
  // data or unsupported protocol version"), as Pyro5's and Pyro4's readers refuse it.
  Message receive(std::size_t max_message_size,
                  const std::optional<std::string>& hmac_key = std::nullopt,
                  std::uint16_t expected_protocol = 0);

  // "127.0.0.1:50123", "[::1]:50123" or the Unix socket path.
  std::string local_address() const;
  int native_handle() const noexcept { return fd_; }

 private:
  Connection(int fd, bool owned) : fd_(fd), owned_(owned) {}
  // Reads until at least n bytes are buffered.
  void fill(std::size_t n);

  int fd_ = -1;
  bool owned_ = true;
  double timeout_ = 0;
  detail::ByteBuffer buffer_;  // bytes read but not consumed: [start_, end_)
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

class Session;

// A resource held for a client connection (an open file, a lock) that must be released when
// the connection closes: see CallContext::track_resource.
class Resource {
 public:
  virtual ~Resource() = default;
  // Called once, when the owning client connection closes (or untrack is not called in time).
  virtual void close() noexcept = 0;
};

// The call context of the calling thread (Pyro's current_context), used by both sides:
// * A client sends `annotations` and `correlation_id` with every request made from this thread
//   (as Pyro5, the annotations are not cleared after a call), and finds the reply's annotations
//   in `response_annotations`.
// * While a daemon handles a request on this thread, the fields describe that request;
//   `response_annotations` set by the method travel with the reply. Nested calls made by the
//   method carry the same correlation id.
// Thread safety: one per thread (thread_local); not shared.
struct CallContext {
  std::optional<CorrelationId> correlation_id;
  Annotations annotations;
  Annotations response_annotations;

  // Server side: the request being handled (client is null outside of one).
  Session* client = nullptr;
  std::string client_address;
  std::uint16_t seq = 0;
  std::uint16_t flags = 0;
  std::uint16_t serializer_id = 0;
  std::uint16_t protocol = 0;

  // Server side: keep r until the client's connection closes (then r->close() is called), or
  // until untrack_resource(r). Throws PyroError outside of a request.
  void track_resource(std::shared_ptr<Resource> r);
  void untrack_resource(const std::shared_ptr<Resource>& r);
  // The resources tracked for the current client, in tracking order.
  std::vector<std::shared_ptr<Resource>> tracked_resources() const;
};

// The calling thread's context.
CallContext& current_context() noexcept;

// Where a connection's tracked resources live; the server layer keeps one per connection.
struct ResourceTracker {
  std::mutex mutex;
  std::vector<std::shared_ptr<Resource>> resources;  // guarded by mutex
  void close_all() noexcept;
};

// The server side of one client connection, as a MessageHandler sees it.
// Thread safety: used by one thread at a time (the one handling the connection's message).
class Session {
 public:
  virtual ~Session() = default;
  // Unique per MessageServer.
  virtual std::uint64_t id() const noexcept = 0;
  // "127.0.0.1:54321", "[::1]:54321", or the Unix socket name.
  virtual const std::string& peer_address() const noexcept = 0;
  // The protocol version of the connection's first message.
  virtual std::uint16_t protocol() const noexcept = 0;
  // Whether CONNECT/CONNECTOK happened (a connected-socket session starts with it done). Before
  // it, only CONNECT is accepted; after it, INVOKE and PING.
  virtual bool handshake_done() const noexcept = 0;
  virtual void set_handshake_done() noexcept = 0;
  // Close the connection once the current message's reply (if any) is sent.
  virtual void close_after_reply() noexcept = 0;
  // State of the server layer for this connection (instances, streams).
  virtual std::shared_ptr<void>& user_data() noexcept = 0;
  // The resources tracked for this connection (closed by the transport when it closes); made on
  // first use.
  virtual ResourceTracker& resources() = 0;
};

// What a MessageServer does with messages. Implemented by the Daemon.
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  virtual void on_open(Session&) {}
  // One decoded message, in arrival order per connection (a message type the handshake state
  // does not allow never gets here). Returns the reply to send, or nullopt. Throwing closes the
  // connection without a reply.
  virtual std::optional<Message> on_message(Session& session, Message& message) = 0;
  // The connection is gone (closed by either side, timed out, or the server shut down).
  virtual void on_close(Session&) noexcept {}
};

struct ServerOptions {
  std::string host = "localhost";  // "" binds all interfaces; port 0 picks one
  int port = 0;
  std::optional<std::string>
      unixsocket;  // instead of TCP; a leading '\0' is Linux's abstract namespace
  std::optional<int> connected_socket;  // serve exactly this already connected socket
  SocketOptions socket;
  std::size_t max_message_size = 1073741824;  // MAX_MESSAGE_SIZE (0: unlimited)
  // Threads that read and handle messages (THREADPOOL_SIZE_MIN / THREADPOOL_SIZE). One thread
  // does all the work while calls are quick; a watchdog brings in another when all active
  // threads are stuck in calls (for 2 ms), up to threads_max, and parks it again afterwards.
  // threads_min threads are created up front (the others wait parked).
  std::size_t threads_min = 4;
  std::size_t threads_max = 80;
  bool multiplex = false;               // SERVERTYPE=multiplex: one thread does everything
  std::optional<std::string> hmac_key;  // protocol 48's HMAC_KEY
  bool compress = false;                // COMPRESSION: zlib-compress reply bodies
  // The protocol of the CONNECTFAIL that answers a first message of no known protocol (the
  // daemon's configured protocol version): 502 says "invalid data" / "invalid protocol
  // version: N" as Pyro5 does, 48 "invalid data or unsupported protocol version" as Pyro4 does.
  std::uint16_t fallback_protocol = protocol_502;
};

// Accepts connections and feeds their messages to a MessageHandler.
// Resource type: immovable; the destructor shuts down.
// Thread safety: thread-safe.
class MessageServer {
 public:
  MessageServer(ServerOptions options, MessageHandler& handler);
  ~MessageServer();
  MessageServer(const MessageServer&) = delete;
  MessageServer& operator=(const MessageServer&) = delete;

  // The host as given ("localhost"), or the bound address when it was empty.
  const std::string& host() const noexcept;
  // The IP address the listening socket is bound to ("127.0.0.1" for "localhost"); empty for
  // Unix and connected sockets.
  const std::string& bound_address() const noexcept;
  // The bound port (0 for Unix and connected sockets).
  int port() const noexcept;
  // Pyro's location string: "localhost:40057", "[::1]:39441", "./u:/path",
  // "./u:<<not-bound>>" for a connected socket.
  std::string location() const;

  // Serves until shutdown(); the calling thread is one of the pool's.
  void run();
  // Serves on background threads and returns.
  void start();
  // Stops accepting, lets handlers that run finish, closes every connection; run() returns.
  // Safe to call from a handler.
  void shutdown();
  bool running() const noexcept;

  // Runs f on a pool thread, not holding up the connection that asked (oneway calls).
  void post(std::function<void()> f);
  std::size_t connection_count() const;
  // Closes the connections idle for longer than the timeout now instead of at the next check
  // (tests); no-op without a timeout.
  void check_timeouts();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pyro
