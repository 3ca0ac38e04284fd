// transport.cpp — client connections on blocking sockets, and the Asio message server.
#include "pyro/transport.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <list>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>  // before Asio: Boost 1.74's asio/awaitable.hpp needs std::exchange
#include <vector>

#include <boost/asio.hpp>
#include <spdlog/logger.h>

#include "pyro/log.hpp"

namespace pyro {

namespace asio = boost::asio;

namespace {

// Python's text of an OSError: "[Errno 111] Connection refused".
std::string errno_text(int err) {
  return "[Errno " + std::to_string(err) + "] " + std::strerror(err);
}

// Python's repr of a socket address: ('127.0.0.1', 9090), ('::1', 9090, 0, 0), or the path.
std::string python_address(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return "('" + std::string(host) + "', " + std::to_string(ntohs(in->sin_port)) + ")";
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "('" + std::string(host) + "', " + std::to_string(ntohs(in6->sin6_port)) + ", " +
           std::to_string(ntohl(in6->sin6_flowinfo)) + ", " + std::to_string(in6->sin6_scope_id) +
           ")";
  }
  return "?";
}

// "127.0.0.1:50123" / "[::1]:50123" / the Unix socket name.
std::string address_text(const sockaddr* sa, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  if (sa->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
    const auto path_len = static_cast<std::size_t>(len) - offsetof(sockaddr_un, sun_path);
    if (path_len == 0) return "";
    std::string path(un->sun_path, path_len);
    if (path[0] != '\0') path.resize(std::strlen(path.c_str()));
    return path;
  }
  return "?";
}

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

void set_timeouts(int fd, double seconds) {
  timeval tv{};
  if (seconds > 0) {
    tv.tv_sec = static_cast<time_t>(seconds);
    tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
  }
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Connects fd to addr, waiting at most timeout seconds (0: forever). Returns 0 or an errno.
int connect_with_timeout(int fd, const sockaddr* addr, socklen_t len, double timeout) {
  if (timeout <= 0) {
    while (::connect(fd, addr, len) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int err = 0;
  if (::connect(fd, addr, len) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int ms = static_cast<int>(timeout * 1000) + 1;
      int r;
      do {
        r = ::poll(&p, 1, ms);
      } while (r < 0 && errno == EINTR);
      if (r == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t elen = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      }
    }
  }
  ::fcntl(fd, F_SETFL, flags);
  return err;
}

}  // namespace

// =============================================================================================
// CallContext
// =============================================================================================

CallContext& current_context() noexcept {
  thread_local CallContext context;
  return context;
}

void CallContext::track_resource(std::shared_ptr<Resource> r) {
  if (client == nullptr) throw PyroError("track_resource: not handling a client request");
  ResourceTracker& tracker = client->resources();
  std::lock_guard lock(tracker.mutex);
  tracker.resources.push_back(std::move(r));
}

void CallContext::untrack_resource(const std::shared_ptr<Resource>& r) {
  if (client == nullptr) throw PyroError("untrack_resource: not handling a client request");
  ResourceTracker& tracker = client->resources();
  std::lock_guard lock(tracker.mutex);
  std::erase(tracker.resources, r);
}

std::vector<std::shared_ptr<Resource>> CallContext::tracked_resources() const {
  if (client == nullptr) return {};
  ResourceTracker& tracker = client->resources();
  std::lock_guard lock(tracker.mutex);
  return tracker.resources;
}

void ResourceTracker::close_all() noexcept {
  std::vector<std::shared_ptr<Resource>> closing;
  {
    std::lock_guard lock(mutex);
    closing.swap(resources);
  }
  for (auto& r : closing) {
    try {
      r->close();
    } catch (...) {
    }
  }
}

// =============================================================================================
// Connection (client)
// =============================================================================================

Connection Connection::connect(const Uri& uri, const SocketOptions& options) {
  if (uri.sockname()) {
    const std::string& name = *uri.sockname();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name.size() >= sizeof addr.sun_path) {
      throw CommunicationError("cannot connect to " + name + ": socket name too long");
    }
    std::memcpy(addr.sun_path, name.data(), name.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                            (name[0] == '\0' ? 0 : 1));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw CommunicationError("cannot connect to " + name + ": " + errno_text(errno));
    if (const int err =
            connect_with_timeout(fd, reinterpret_cast<sockaddr*>(&addr), len, options.timeout)) {
      ::close(fd);
      if (err == ETIMEDOUT) throw TimeoutError("connecting: timeout");
      throw CommunicationError("cannot connect to " + name + ": " + errno_text(err));
    }
    Connection c(fd, true);
    c.set_timeout(options.timeout);
    return c;
  }
  if (!uri.host() || !uri.port())
    throw CommunicationError("cannot connect: the URI has no location: " + uri.str());
  const std::string& host = *uri.host();
  const std::string port = std::to_string(*uri.port());
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = options.prefer_ip_version == 4   ? AF_INET
                    : options.prefer_ip_version == 6 ? AF_INET6
                                                     : AF_UNSPEC;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw CommunicationError("cannot connect to ('" + host + "', " + port + "): [Errno " +
                             std::to_string(rc) + "] " + ::gai_strerror(rc));
  }
  std::string last_error;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = "cannot connect to " + python_address(ai->ai_addr) + ": " + errno_text(errno);
      continue;
    }
    const int err = connect_with_timeout(fd, ai->ai_addr, ai->ai_addrlen, options.timeout);
    if (err == 0) {
      ::freeaddrinfo(found);
      if (options.nodelay) set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
      set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
      Connection c(fd, true);
      c.set_timeout(options.timeout);
      return c;
    }
    ::close(fd);
    if (err == ETIMEDOUT && options.timeout > 0) {
      ::freeaddrinfo(found);
      throw TimeoutError("connecting: timeout");
    }
    last_error = "cannot connect to " + python_address(ai->ai_addr) + ": " + errno_text(err);
  }
  ::freeaddrinfo(found);
  throw CommunicationError(last_error.empty() ? "cannot connect to ('" + host + "', " + port + ")"
                                              : last_error);
}

Connection Connection::adopt(int fd, bool owned, const SocketOptions& options) {
  Connection c(fd, owned);
  c.set_timeout(options.timeout);
  return c;
}

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      owned_(other.owned_),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)),
      start_(std::exchange(other.start_, 0)),
      end_(std::exchange(other.end_, 0)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    owned_ = other.owned_;
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
    start_ = std::exchange(other.start_, 0);
    end_ = std::exchange(other.end_, 0);
  }
  return *this;
}

Connection::~Connection() {
  close();
}

void Connection::close() noexcept {
  if (fd_ >= 0 && owned_) ::close(fd_);
  fd_ = -1;
  buffer_.release();
  start_ = end_ = 0;
}

void Connection::set_timeout(double seconds) {
  timeout_ = seconds;
  if (fd_ >= 0) set_timeouts(fd_, seconds);
}

void Connection::send(std::string_view bytes) {
  send(bytes, std::string_view());
}

void Connection::send(std::string_view head, std::string_view tail) {
  const std::string_view parts[2] = {head, tail};
  send(std::span<const std::string_view>(parts, tail.empty() ? 1 : 2));
}

void Connection::send(std::span<const std::string_view> parts) {
  if (fd_ < 0) throw ConnectionClosedError("sending: connection lost: not connected");
  constexpr std::size_t max_parts = 64;  // well under IOV_MAX; more go in later rounds
  std::size_t next = 0;                  // first part not yet (fully) sent
  std::size_t done_in = 0;               // bytes of parts[next] already sent
  while (next < parts.size()) {
    iovec vec[max_parts];
    std::size_t count = 0;
    for (std::size_t i = next; i < parts.size() && count < max_parts; ++i) {
      const std::size_t skip = i == next ? done_in : 0;
      if (parts[i].size() == skip) continue;
      vec[count++] = {const_cast<char*>(parts[i].data() + skip), parts[i].size() - skip};
    }
    if (count == 0) return;
    msghdr msg{};
    msg.msg_iov = vec;
    msg.msg_iovlen = count;
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      auto left = static_cast<std::size_t>(n);
      while (next < parts.size() && left >= parts[next].size() - done_in) {
        left -= parts[next].size() - done_in;
        done_in = 0;
        ++next;
      }
      done_in += left;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) throw TimeoutError("sending: timeout");
    throw ConnectionClosedError("sending: connection lost: " + errno_text(n < 0 ? errno : EPIPE));
  }
}

void Connection::fill(std::size_t n) {
  if (fd_ < 0) throw ConnectionClosedError("receiving: connection lost: not connected");
  if (end_ - start_ >= n) return;
  if (start_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  // room for at least the missing bytes, and a little more: the usual reply then arrives in
  // one recv
  buffer_.grow(std::max<std::size_t>(n, 16384), end_);
  while (end_ < n) {
    const ssize_t r = ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, 0);
    if (r > 0) {
      end_ += static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      throw TimeoutError("receiving: timeout");
    if (r == 0) throw ConnectionClosedError("receiving: not enough data");
    throw ConnectionClosedError("receiving: connection lost: " + errno_text(errno));
  }
}

Message Connection::receive(std::size_t max_message_size,
                            const std::optional<std::string>& hmac_key,
                            std::uint16_t expected_protocol) {
  fill(protocol_probe_size);
  const std::string_view probe(buffer_.data() + start_, protocol_probe_size);
  const std::size_t hsize = header_size(detect_protocol(probe, expected_protocol));
  fill(hsize);
  const Header header =
      parse_header(std::string_view(buffer_.data() + start_, hsize), max_message_size);
  fill(hsize + header.body_size());
  Message m =
      decode_body(header, std::string_view(buffer_.data() + start_ + hsize, header.body_size()),
                  hmac_key, max_message_size);
  start_ += hsize + header.body_size();
  if (start_ == end_) {
    start_ = end_ = 0;
    if (buffer_.size() > (1u << 20)) buffer_.release();  // do not keep a big message's room
  }
  return m;
}

std::string Connection::local_address() const {
  if (fd_ < 0) return {};
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return address_text(reinterpret_cast<sockaddr*>(&ss), len);
}

// =============================================================================================
// MessageServer
// =============================================================================================

namespace {

// Sockets bound to the io_context's own executor type (not any_io_executor): every pending
// operation of an idle connection is then a few dozen bytes smaller.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>,
                                         asio::strand<Executor>>;

}  // namespace

class MessageServer::Impl {
 public:
  class Conn;

  Impl(ServerOptions options, MessageHandler& handler)
      : options_(std::move(options)), handler_(handler), work_(asio::make_work_guard(ctx_)) {
    if (options_.multiplex) {
      options_.threads_min = options_.threads_max = 1;
    }
    options_.threads_max = std::max<std::size_t>(options_.threads_max, 1);
    options_.threads_min = std::clamp<std::size_t>(options_.threads_min, 1, options_.threads_max);
    if (options_.connected_socket) {
      host_ = "";
      return;
    }
    open_acceptor();
  }

  ~Impl() {
    shutdown();
    join();
    if (options_.unixsocket && !options_.unixsocket->empty() && (*options_.unixsocket)[0] != '\0') {
      ::unlink(options_.unixsocket->c_str());
    }
  }

  const std::string& host() const { return host_; }
  const std::string& bound_address() const { return bound_address_; }
  int port() const { return port_; }

  std::string location() const {
    if (options_.connected_socket) return "./u:<<not-bound>>";
    if (options_.unixsocket) return "./u:" + *options_.unixsocket;
    if (host_.find(':') != std::string::npos) return "[" + host_ + "]:" + std::to_string(port_);
    return host_ + ":" + std::to_string(port_);
  }

  void start_serving();

  // The calling thread becomes the I/O thread.
  void run() {
    start_serving();
    {
      std::lock_guard lock(pool_mutex_);
      ++active_threads_;
    }
    start_watchdog();
    run_loop();
  }

  // A thread of our own becomes the I/O thread.
  void start() {
    start_serving();
    {
      std::lock_guard lock(pool_mutex_);
      ++active_threads_;
    }
    {
      std::lock_guard lock(threads_mutex_);
      threads_.emplace_back([this] { run_loop(); });
    }
    start_watchdog();
  }

  void shutdown();

  bool running() const { return started_ && !stopping_; }
  bool stopping() const { return stopping_; }

  // Posted work counts as a handler: the watchdog brings in a thread when it runs long.
  void post(std::function<void()> f) {
    asio::post(ctx_, [this, f = std::move(f)] {
      struct Busy {
        Impl& server;
        explicit Busy(Impl& s) : server(s) { server.enter_handler(); }
        ~Busy() { server.leave_handler(); }
        Busy(const Busy&) = delete;
        Busy& operator=(const Busy&) = delete;
      } busy(*this);
      f();
    });
  }

  std::size_t connection_count() const {
    std::lock_guard lock(conns_mutex_);
    return conn_count_;
  }

  void check_timeouts();

  void join() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(threads_mutex_);
      threads.swap(threads_);
      if (watchdog_.joinable()) threads.push_back(std::move(watchdog_));
    }
    pool_cv_.notify_all();
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else if (t.joinable()) {
        t.join();
      }
    }
  }

  // Handlers in progress, for the watchdog (two relaxed counters: this runs for every call).
  // A lent connection's thread is not one of the loop's: its handlers do not count as busy ones.
  void enter_handler(bool on_loop = true) {
    if (on_loop) busy_threads_.fetch_add(1, std::memory_order_relaxed);
    handlers_entered_.fetch_add(1, std::memory_order_relaxed);
  }
  void leave_handler(bool on_loop = true) {
    if (on_loop) busy_threads_.fetch_sub(1, std::memory_order_relaxed);
  }
  std::uint64_t handlers_entered() const {
    return handlers_entered_.load(std::memory_order_relaxed);
  }

  void add(Conn* c);
  void remove(Conn* c);
  std::vector<std::shared_ptr<Conn>> connections();

  // A busy connection may be lent a thread of its own (see Conn::lend): one at a time, in the
  // thread server type only.
  bool try_lend() {
    if (options_.threads_max <= 1 || stopping_) return false;
    int expected = 0;
    return lent_.compare_exchange_strong(expected, 1);
  }
  void lend_ended() { lent_.fetch_sub(1); }

  asio::io_context& ctx() { return ctx_; }
  const ServerOptions& options() const { return options_; }
  MessageHandler& handler() { return handler_; }
  std::uint64_t next_id() { return ++last_id_; }

 private:
  // The thread pool (thread server type). One I/O thread runs the io_context and the handlers
  // itself: with more threads in the io_context, asio wakes another thread for every event so
  // that one keeps polling while the first runs the handler, a context switch per call (on one
  // core that halved the call rate). A watchdog adds a thread only when every active thread has
  // been inside the same handlers for a tick (a method that blocks or runs long), up to
  // threads_max, and parks the extra threads again once they are not needed.
  static constexpr auto watchdog_tick = std::chrono::milliseconds(2);
  static constexpr auto idle_tick = std::chrono::milliseconds(100);  // no connections

  void run_loop() {
    for (;;) {
      try {
        ctx_.run();
        break;
      } catch (const std::exception& e) {
        log::logger("pyrocpp.transport")
            ->error("uncaught exception in the server loop: {}", e.what());
      }
    }
    std::lock_guard lock(pool_mutex_);
    --active_threads_;
  }

  // An extra thread: parked until the watchdog wants it, then one handler at a time until it
  // is surplus again.
  void extra_loop() {
    std::unique_lock lock(pool_mutex_);
    --starting_threads_;
    for (;;) {
      ++parked_threads_;
      pool_cv_.wait(lock, [&] { return stopping_ || wanted_threads_ > active_threads_; });
      --parked_threads_;
      if (stopping_) return;
      ++active_threads_;
      for (;;) {
        lock.unlock();
        try {
          ctx_.run_one_for(std::chrono::milliseconds(20));
        } catch (const std::exception& e) {
          log::logger("pyrocpp.transport")
              ->error("uncaught exception in the server loop: {}", e.what());
        }
        lock.lock();
        if (stopping_ || ctx_.stopped() || active_threads_ > wanted_threads_) break;
      }
      --active_threads_;
      if (stopping_ || ctx_.stopped()) return;
    }
  }

  // The watchdog, and threads_min - 1 parked threads ready for it.
  void start_watchdog() {
    if (options_.threads_max <= 1) return;  // multiplex: one thread, nothing to watch
    std::lock_guard pool(pool_mutex_);
    std::lock_guard lock(threads_mutex_);
    if (watchdog_.joinable()) return;
    for (; extra_threads_ + 1 < options_.threads_min; ++extra_threads_) {
      ++starting_threads_;
      threads_.emplace_back([this] { extra_loop(); });
    }
    watchdog_ = std::thread([this] { watch(); });
  }

  void watch() {
    std::uint64_t last_entered = handlers_entered_.load(std::memory_order_relaxed);
    std::unique_lock lock(pool_mutex_);
    while (!stopping_) {
      pool_cv_.wait_for(lock, connection_count() == 0 ? idle_tick : watchdog_tick);
      if (stopping_) break;
      const std::size_t busy = busy_threads_.load(std::memory_order_relaxed);
      const std::uint64_t entered = handlers_entered_.load(std::memory_order_relaxed);
      const bool stuck = busy > 0 && busy >= active_threads_ && entered == last_entered;
      last_entered = entered;
      if (stuck && active_threads_ < options_.threads_max) {
        wanted_threads_ = active_threads_ + 1;
        if (parked_threads_ + starting_threads_ == 0 && extra_threads_ + 1 < options_.threads_max) {
          ++extra_threads_;
          ++starting_threads_;
          std::lock_guard tl(threads_mutex_);
          threads_.emplace_back([this] { extra_loop(); });
        }
        pool_cv_.notify_all();
      } else if (!stuck && busy < active_threads_) {
        wanted_threads_ = busy + 1;  // the free threads but one park again
      }
    }
  }

  void open_acceptor();
  void accept();

  ServerOptions options_;
  MessageHandler& handler_;
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Acceptor acceptor_{ctx_.get_executor()};
  std::string host_;
  std::string bound_address_;  // the listening socket's own IP ("127.0.0.1"); empty for Unix
  int port_ = 0;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> last_id_{0};

  // The open connections, as an intrusive list (no allocation per connection).
  mutable std::mutex conns_mutex_;
  Conn* conns_head_ = nullptr;  // guarded by conns_mutex_
  std::size_t conn_count_ = 0;  // guarded by conns_mutex_

  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;  // guarded by threads_mutex_
  std::thread watchdog_;              // guarded by threads_mutex_

  std::mutex pool_mutex_;
  std::condition_variable pool_cv_;
  std::size_t active_threads_ = 0;    // threads in the io_context; guarded by pool_mutex_
  std::size_t wanted_threads_ = 1;    // guarded by pool_mutex_
  std::size_t extra_threads_ = 0;     // created by the watchdog; guarded by pool_mutex_
  std::size_t parked_threads_ = 0;    // guarded by pool_mutex_
  std::size_t starting_threads_ = 0;  // created, not yet parked; guarded by pool_mutex_
  std::atomic<std::size_t> busy_threads_{0};
  std::atomic<std::uint64_t> handlers_entered_{0};
  std::atomic<int> lent_{0};
};

// One client connection. Reads when the socket is readable (no buffer is held while idle),
// handles each complete message on the thread that read it, writes the reply, and only then
// looks at the next message: replies leave in request order. All work on a connection runs on
// its strand.
class MessageServer::Impl::Conn final : public Session, public std::enable_shared_from_this<Conn> {
 public:
  ~Conn() override {
    server_.remove(this);
    if (const int fd = lent_fd_.load(); fd >= 0) ::close(fd);  // never handed back
  }

  Conn(Impl& server, Socket socket, std::string peer, bool handshake_done)
      : user_socket_(handshake_done),
        server_(server),
        strand_(asio::make_strand(server.ctx())),
        socket_(std::move(socket)),
        id_(server.next_id()),
        peer_(std::move(peer)),
        handshake_done_(handshake_done) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
  }

  // Session
  std::uint64_t id() const noexcept override { return id_; }
  const std::string& peer_address() const noexcept override { return peer_; }
  std::uint16_t protocol() const noexcept override { return protocol_; }
  bool handshake_done() const noexcept override { return handshake_done_; }
  void set_handshake_done() noexcept override { handshake_done_ = true; }
  void close_after_reply() noexcept override { close_after_reply_ = true; }
  std::shared_ptr<void>& user_data() noexcept override { return user_data_; }
  ResourceTracker& resources() override {
    if (!resources_) resources_ = std::make_unique<ResourceTracker>();
    return *resources_;
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      try {
        self->server_.handler().on_open(*self);
      } catch (const std::exception& e) {
        log::logger("pyrocpp.transport")->warn("on_open failed: {}", e.what());
      }
      self->wait_readable();
    });
  }

  // From any thread: close once the strand is free (after a running handler). A lent
  // connection's thread is woken by shutting its socket down; it then hands the connection
  // back, closed.
  void request_close() {
    asio::post(strand_, [self = shared_from_this()] {
      if (const int fd = self->lent_fd_.load(); fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
      self->close();
    });
  }

  void check_timeout() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->timeout_due()) self->close();
    });
  }

 private:
  double timeout() const { return server_.options().socket.timeout; }

  bool timeout_due() const {
    return timeout() > 0 && !closed_ && !handling_ &&
           std::chrono::steady_clock::now() - last_activity_ >
               std::chrono::duration<double>(timeout());
  }

  void wait_readable() {
    if (closed_) return;
    if (timeout() > 0) arm_timer();
    socket_.async_wait(Socket::wait_read,
                       asio::bind_executor(strand_, [self = shared_from_this()](
                                                        const boost::system::error_code& ec) {
                         self->on_readable(ec);
                       }));
  }

  void arm_timer() {
    if (!timer_) timer_ = std::make_unique<Timer>(strand_);
    timer_->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(timeout())));
    timer_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec && self->timeout_due()) self->close();
    });
  }

  void on_readable(const boost::system::error_code& ec) {
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    if (body_) {
      read_body();
      return;
    }
    // Read what is there (the socket is non-blocking).
    for (;;) {
      if (!make_room()) break;  // a full buffer that holds a whole message is handled first
      boost::system::error_code rec;
      const std::size_t n =
          socket_.read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) break;
      if (rec || n == 0) {
        close();
        return;
      }
      in_end_ += n;
      const auto now = std::chrono::steady_clock::now();
      // a request that follows the previous reply closely extends the connection's streak
      if (now - last_activity_ >= quick_gap) {
        quick_streak_ = 0;
      } else if (quick_streak_++ == 0) {
        streak_mark_ = static_cast<std::uint32_t>(server_.handlers_entered());
      } else if (quick_streak_ == 0) {
        quick_streak_ = 255;  // saturated
      }
      last_activity_ = now;
      if (in_end_ < in_.size()) break;  // drained
    }
    process();
  }

  // Room to read into: for the whole message once its header is in (a big one is then read in
  // place, not through doubling buffers), else twice the room. False when the buffer is full and
  // already holds a whole message.
  bool make_room() {
    if (in_.size() - in_end_ >= 4096) return true;
    const std::size_t end = message_end();
    if (end != 0 && end <= in_end_) return false;
    in_.grow(std::max({in_.size() * 2, in_end_ + 16384, end}), in_end_);
    return true;
  }

  // Where the first incomplete message in the buffer ends, when its header is in and valid;
  // otherwise 0 (process() reports what is wrong with it).
  std::size_t message_end() const {
    const std::size_t avail = in_end_ - in_start_;
    if (avail < protocol_probe_size) return 0;
    try {
      const std::string_view data(in_.data() + in_start_, avail);
      const std::size_t hsize = header_size(detect_protocol(data.substr(0, protocol_probe_size)));
      if (avail < hsize) return 0;
      const Header header = parse_header(data.substr(0, hsize), server_.options().max_message_size);
      return in_start_ + hsize + header.body_size();
    } catch (const PyroError&) {
      return 0;
    }
  }

  // Handles the complete messages in the buffer; then waits for more data or a write.
  void process() {
    while (!closed_) {
      const std::size_t avail = in_end_ - in_start_;
      const std::string_view data(in_.data() + in_start_, avail);
      if (avail < protocol_probe_size) break;
      std::size_t hsize = 0;
      Header header{};
      try {
        const std::uint16_t version = detect_protocol(data.substr(0, protocol_probe_size));
        if (protocol_ == 0) {
          protocol_ = version;
        } else if (version != protocol_) {
          throw ProtocolError("invalid protocol version: " + std::to_string(version));
        }
        hsize = header_size(version);
        if (avail < hsize) break;
        header = parse_header(data.substr(0, hsize), server_.options().max_message_size);
        if (handshake_done_) {
          check_type(header, {MessageType::invoke, MessageType::ping});
        } else {
          check_type(header, {MessageType::connect});
        }
      } catch (const PyroError& e) {
        bad_input(e);
        return;
      }
      if (avail < hsize + header.body_size()) {
        if (header.body_size() >= detail::large_block_min) {
          // a big body is read straight into the string that becomes the message's payload
          body_ = std::make_unique<BigBody>();
          body_->header = header;
          body_->data = detail::take_buffer_sized(header.body_size());
          body_->have = avail - hsize;
          std::memcpy(body_->data.data(), in_.data() + in_start_ + hsize, body_->have);
          in_start_ = in_end_;
          compact();
          read_body();
          return;
        }
        // make room for the whole body now that the header is known to be acceptable
        const std::size_t need = in_start_ + hsize + header.body_size();
        in_.grow(need, in_end_);
        break;
      }
      Message message;
      try {
        message = decode_body(header, data.substr(hsize, header.body_size()),
                              server_.options().hmac_key, server_.options().max_message_size);
      } catch (const PyroError& e) {
        bad_input(e);
        return;
      }
      in_start_ += hsize + header.body_size();
      if (!handle(message)) return;  // a write is in flight, or the connection closed
    }
    if (closed_) return;
    if (!out_.empty() && !flush()) return;
    compact();
    if (lent_fd_.load(std::memory_order_relaxed) >= 0) return;  // its thread reads on
    if (should_lend()) {
      lend();
      return;
    }
    wait_readable();
  }

  // ---- a busy connection on a thread of its own ------------------------------------------
  // Waiting through Asio costs the daemon two system calls per call besides the recv and the
  // send (epoll_wait, and epoll_ctl to re-arm the readiness wait); a client that calls back to
  // back pays for them in every round trip. After a streak of such calls the connection is
  // taken out of the event loop and served by a thread that blocks in recv, as Pyro's thread
  // server does for every connection; after lend_idle without a request it goes back to the
  // loop (and gives its thread back). One connection at a time, thread server type only.
  static constexpr auto quick_gap = std::chrono::microseconds(500);
  static constexpr int lend_after = 64;
  static constexpr int lend_idle_ms = 20;

  bool should_lend() {
    if (quick_streak_ < lend_after || user_socket_ || timeout() > 0 || !handshake_done_ || body_ ||
        !out_.empty() || close_after_reply_)
      return false;
    // Only a connection that is busy alone: with others busy too, the loop's thread is busy
    // and a lent thread would take turns with it (on a daemon confined to one core, a context
    // switch per call). Messages handled since the streak began, beyond this connection's own:
    const std::uint32_t all = static_cast<std::uint32_t>(server_.handlers_entered()) - streak_mark_;
    if (all > quick_streak_ + quick_streak_ / 8u + 2u) {
      quick_streak_ = 0;  // look again after another streak
      return false;
    }
    return true;
  }

  void lend() {
    if (!server_.try_lend()) {
      quick_streak_ = 0;
      wait_readable();
      return;
    }
    boost::system::error_code ec;
    const int fd = socket_.release(ec);
    if (ec) {
      server_.lend_ended();
      close();
      return;
    }
    set_lent_mode(fd, true);
    lent_fd_ = fd;
    try {
      // the work guard keeps the loop running until the connection is handed back
      std::thread([self = shared_from_this(),
                   work = asio::make_work_guard(server_.ctx())]() mutable {
        const bool closing = self->serve_lent();
        Conn* c = self.get();
        asio::post(c->strand_, [self = std::move(self), closing] { self->end_lending(closing); });
        work.reset();
      }).detach();
    } catch (const std::system_error&) {
      end_lending(false);  // no thread to lend: back to the loop
    }
  }

  // Lent: blocking reads that give up after lend_idle_ms; back in the loop: non-blocking, no
  // receive timeout.
  static void set_lent_mode(int fd, bool lent) {
    const int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, lent ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
    timeval tv{0, lent ? lend_idle_ms * 1000 : 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // On the lent thread: reads and handles requests until the socket stays quiet for
  // lend_idle_ms (false: back to the loop) or the connection ends (true).
  bool serve_lent() {
    const int fd = lent_fd_.load();
    while (!closed_) {
      char* at;
      std::size_t room;
      if (body_) {
        at = body_->data.data() + body_->have;
        room = body_->data.size() - body_->have;
      } else {
        if (!make_room()) {  // process() leaves no whole message behind; kept correct anyway
          process();
          continue;
        }
        at = in_.data() + in_end_;
        room = in_.size() - in_end_;
      }
      const ssize_t n = ::recv(fd, at, room, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (n <= 0) return true;
      last_activity_ = std::chrono::steady_clock::now();
      if (body_) {
        body_->have += static_cast<std::size_t>(n);
        if (body_->have == body_->data.size()) read_body();  // handles it, then the rest
      } else {
        in_end_ += static_cast<std::size_t>(n);
        process();
      }
    }
    return true;
  }

  // On the strand: the lent thread hands the connection back.
  void end_lending(bool closing) {
    const int fd = lent_fd_.exchange(-1);
    server_.lend_ended();
    quick_streak_ = 0;
    if (closing || closed_ || server_.stopping()) {
      close();
      ::close(fd);
      return;
    }
    set_lent_mode(fd, false);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    boost::system::error_code ec;
    socket_.assign(asio::generic::stream_protocol(ss.ss_family, SOCK_STREAM), fd, ec);
    if (ec) {
      close();
      ::close(fd);
      return;
    }
    if (body_) {
      read_body();
    } else {
      process();
    }
  }

  // Reads a big body into body_ (what the socket has now); once complete, handles it and goes
  // on as usual.
  void read_body() {
    while (body_->have < body_->data.size()) {
      if (lent_fd_.load(std::memory_order_relaxed) >= 0) return;  // serve_lent reads it
      boost::system::error_code rec;
      const std::size_t n = socket_.read_some(
          asio::buffer(body_->data.data() + body_->have, body_->data.size() - body_->have), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) {
        wait_readable();
        return;
      }
      if (rec || n == 0) {
        close();
        return;
      }
      body_->have += n;
      last_activity_ = std::chrono::steady_clock::now();
    }
    const std::unique_ptr<BigBody> body = std::move(body_);
    Message message;
    try {
      message = decode_body(body->header, std::move(body->data), server_.options().hmac_key,
                            server_.options().max_message_size);
    } catch (const PyroError& e) {
      bad_input(e);
      return;
    }
    if (!handle(message)) return;  // a write is in flight, or the connection closed
    process();
  }

  // Runs the handler; returns false when processing continues later (async write) or stopped.
  bool handle(Message& message) {
    std::optional<Message> reply;
    handling_ = true;
    const bool on_loop = lent_fd_.load(std::memory_order_relaxed) < 0;
    server_.enter_handler(on_loop);
    try {
      reply = server_.handler().on_message(*this, message);
      detail::recycle_buffer(std::move(message.payload));
    } catch (const std::exception& e) {
      log::logger("pyrocpp.transport")->debug("closing connection {}: {}", peer_, e.what());
      server_.leave_handler(on_loop);
      handling_ = false;
      close();
      return false;
    }
    server_.leave_handler(on_loop);
    handling_ = false;
    last_activity_ = std::chrono::steady_clock::now();
    if (!reply) {
      if (close_after_reply_) {
        flush_before_close();
        close();
        return false;
      }
      return true;
    }
    return send(*reply);
  }

  // Input that is not a valid message for this point of the conversation. Before the handshake
  // Pyro answers with a CONNECTFAIL (marshal, seq 0) carrying the error text; afterwards, and
  // for an oversized message in protocol 48, it just closes. A bad or missing HMAC in the CONNECT
  // gets the CONNECTFAIL too, signed with our key (Pyro4 Daemon._handshake turns every error of
  // Message.recv into one); in a later request it closes silently (Pyro4's socket servers catch
  // the SecurityError of Daemon.handleRequest and drop the connection).
  void bad_input(const PyroError& e) {
    log::logger("pyrocpp.transport")->debug("bad input from {}: {}", peer_, e.what());
    const bool pyro4_too_large =
        protocol_ == protocol_48 && dynamic_cast<const MessageTooLargeError*>(&e);
    if (handshake_done_ || pyro4_too_large) {
      flush_before_close();
      close();
      return;
    }
    close_after_reply_ = true;
    if (protocol_ == 0 && server_.options().fallback_protocol == protocol_48) {
      // Pyro4's Message.recv tells neither case apart
      send(connect_fail_for_bad_input(protocol_48, "invalid data or unsupported protocol version"));
      return;
    }
    send(connect_fail_for_bad_input(protocol_ == 0 ? protocol_502 : protocol_, e.what()));
  }

  // Queues a reply and writes what is queued, unless the next request is already here: the
  // replies to a pipelined burst (stream read-ahead, batched clients) then leave in one write.
  bool send(const Message& reply) {
    if (out_.empty() && reply.payload.size() >= detail::large_block_min &&
        out_.capacity() < reply.payload.size())
      out_ = detail::take_buffer(reply.payload.size() + 4096);
    try {
      EncodeSettings settings;
      settings.max_message_size = server_.options().max_message_size;
      settings.hmac_key = server_.options().hmac_key ? &*server_.options().hmac_key : nullptr;
      settings.compress = server_.options().compress;
      encode_message(reply, out_, settings);
    } catch (const std::exception& e) {
      log::logger("pyrocpp.transport")->warn("cannot send reply to {}: {}", peer_, e.what());
      close();
      return false;
    }
    if (!close_after_reply_ && out_.size() < 65536) {
      const std::size_t next = message_end();
      if (next != 0 && next <= in_end_) return true;
    }
    return flush();
  }

  // Replies queued before a closing: best effort (the socket is non-blocking), as a daemon that
  // wrote each reply at once would have sent them.
  void flush_before_close() {
    if (out_.empty()) return;
    const int fd = lent_fd_.load(std::memory_order_relaxed);
    send_all(fd >= 0 ? fd : socket_.native_handle());
    out_.clear();
  }

  // Writes the queued replies: now if the socket takes them (the common case), else
  // asynchronously (false: processing resumes after the write).
  bool flush() {
    if (const int fd = lent_fd_.load(std::memory_order_relaxed); fd >= 0) {
      if (!send_all(fd)) {
        close();
        return false;
      }
      return after_write();
    }
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(out_), ec);
    if (!ec && n == out_.size()) return after_write();
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      close();
      return false;
    }
    const std::size_t done = ec ? 0 : n;
    asio::async_write(
        socket_, asio::buffer(out_.data() + done, out_.size() - done),
        asio::bind_executor(strand_, [self = shared_from_this()](
                                         const boost::system::error_code& wec, std::size_t) {
          if (wec) {
            self->close();
            return;
          }
          if (self->after_write()) self->process();
        }));
    return false;
  }

  // Writes what is queued: all of it on a lent (blocking) socket, what the socket takes on a
  // non-blocking one. False when not all of it went.
  bool send_all(int fd) {
    std::size_t done = 0;
    while (done < out_.size()) {
      const ssize_t n = ::send(fd, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  bool after_write() {
    if (out_.capacity() > (1u << 20)) {
      detail::recycle_buffer(std::move(out_));  // leaves it empty
    }
    out_.clear();
    if (close_after_reply_) {
      close();
      return false;
    }
    return true;
  }

  void compact() {
    if (in_start_ == in_end_) {
      in_start_ = in_end_ = 0;
      // an idle connection keeps no buffer (a lent one reads on into it)
      if (lent_fd_.load(std::memory_order_relaxed) < 0) in_.release();
    } else if (in_start_ > 0) {
      std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
      in_end_ -= in_start_;
      in_start_ = 0;
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    if (timer_) timer_->cancel();
    // a connected socket belongs to the user: only our duplicate of it is closed
    if (!user_socket_) socket_.shutdown(Socket::shutdown_both, ec);
    socket_.close(ec);
    // a lent socket is closed by end_lending, on the strand (request_close may still shut it
    // down until then)
    if (const int fd = lent_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
    in_.release();
    body_.reset();
    std::string().swap(out_);
    server_.remove(this);
    server_.handler().on_close(*this);
    if (resources_) resources_->close_all();
    user_data_.reset();
  }

  friend class Impl;
  Conn* prev_ = nullptr;  // Impl's list, guarded by Impl::conns_mutex_
  Conn* next_ = nullptr;
  bool listed_ = false;
  const bool user_socket_;
  Impl& server_;
  asio::strand<asio::io_context::executor_type> strand_;
  Socket socket_;
  std::unique_ptr<Timer> timer_;
  const std::uint64_t id_;
  const std::string peer_;
  std::uint16_t protocol_ = 0;
  bool handshake_done_;
  bool close_after_reply_ = false;
  bool closed_ = false;
  bool handling_ = false;
  std::uint8_t quick_streak_ = 0;  // requests in a row that followed their reply closely
  std::uint32_t streak_mark_ = 0;  // the server's handler count when the streak began
  std::atomic<int> lent_fd_{-1};   // the socket, released from Asio, while lent
  detail::ByteBuffer in_;
  std::size_t in_start_ = 0, in_end_ = 0;
  // A big message's body being read in place: its header, and `have` bytes of it so far.
  // Allocated only then (an idle connection stays small).
  struct BigBody {
    Header header;
    std::string data;
    std::size_t have = 0;
  };
  std::unique_ptr<BigBody> body_;
  std::string out_;
  std::shared_ptr<void> user_data_;
  std::unique_ptr<ResourceTracker> resources_;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
};

void MessageServer::Impl::start_serving() {
  bool expected = false;
  if (!started_.compare_exchange_strong(expected, true)) return;
  if (options_.connected_socket) {
    Socket socket(ctx_);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(*options_.connected_socket, reinterpret_cast<sockaddr*>(&ss), &len);
    const int family = ss.ss_family == 0 ? AF_UNIX : ss.ss_family;
    socket.assign(asio::generic::stream_protocol(family, SOCK_STREAM),
                  ::dup(*options_.connected_socket));
    auto conn = std::make_shared<Conn>(*this, std::move(socket), "<<connected-socket>>", true);
    add(conn.get());
    conn->start();
  } else {
    accept();
  }
}

void MessageServer::Impl::shutdown() {
  bool expected = false;
  if (!stopping_.compare_exchange_strong(expected, true)) return;
  asio::post(ctx_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  for (auto& c : connections())
    c->request_close();
  work_.reset();
  {
    std::lock_guard lock(pool_mutex_);  // no wakeup lost between a check and a wait
  }
  pool_cv_.notify_all();
}

void MessageServer::Impl::check_timeouts() {
  for (auto& c : connections())
    c->check_timeout();
}

void MessageServer::Impl::add(Conn* c) {
  std::lock_guard lock(conns_mutex_);
  c->next_ = conns_head_;
  c->prev_ = nullptr;
  if (conns_head_ != nullptr) conns_head_->prev_ = c;
  conns_head_ = c;
  c->listed_ = true;
  ++conn_count_;
}

void MessageServer::Impl::remove(Conn* c) {
  std::lock_guard lock(conns_mutex_);
  if (!c->listed_) return;
  if (c->prev_ != nullptr) c->prev_->next_ = c->next_;
  if (c->next_ != nullptr) c->next_->prev_ = c->prev_;
  if (conns_head_ == c) conns_head_ = c->next_;
  c->listed_ = false;
  --conn_count_;
}

std::vector<std::shared_ptr<MessageServer::Impl::Conn>> MessageServer::Impl::connections() {
  std::vector<std::shared_ptr<Conn>> out;
  std::lock_guard lock(conns_mutex_);
  out.reserve(conn_count_);
  // a listed connection is alive: it leaves the list in close(), before its last owner drops it
  for (Conn* c = conns_head_; c != nullptr; c = c->next_)
    out.push_back(c->shared_from_this());
  return out;
}

void MessageServer::Impl::open_acceptor() {
  boost::system::error_code ec;
  if (options_.unixsocket) {
    const std::string& name = *options_.unixsocket;
    if (name.empty()) throw CommunicationError("invalid unix socket name");
    if (name[0] != '\0') {
      struct stat st {};
      if (::stat(name.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(name.c_str());
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name.size() >= sizeof addr.sun_path)
      throw CommunicationError("unix socket name too long: " + name);
    std::memcpy(addr.sun_path, name.data(), name.size());
    const auto len = offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '\0' ? 0 : 1);
    const asio::generic::stream_protocol::endpoint ep(&addr, len);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw CommunicationError("cannot bind to unix socket " + name + ": " + ec.message());
    host_ = "";
    return;
  }
  // TCP: Pyro binds "localhost" to the loopback address of the preferred family and keeps the
  // name as given for the URIs; an empty host binds every interface.
  std::string bind_host = options_.host;
  asio::ip::tcp::endpoint endpoint;
  if (bind_host.empty()) {
    endpoint = asio::ip::tcp::endpoint(
        options_.socket.prefer_ip_version == 6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(),
        static_cast<unsigned short>(options_.port));
  } else {
    asio::ip::tcp::resolver resolver(ctx_);
    auto results = resolver.resolve(bind_host, std::to_string(options_.port), ec);
    if (ec)
      throw CommunicationError("cannot bind to ('" + bind_host + "', " +
                               std::to_string(options_.port) + "): " + ec.message());
    bool found = false;
    for (const auto& r : results) {
      const auto& ep = r.endpoint();
      if (options_.socket.prefer_ip_version == 4 && !ep.address().is_v4()) continue;
      if (options_.socket.prefer_ip_version == 6 && !ep.address().is_v6()) continue;
      if (!found || (options_.socket.prefer_ip_version == 0 && ep.address().is_v4() &&
                     !endpoint.address().is_v4())) {
        endpoint = ep;
      }
      found = true;
    }
    if (!found)
      throw CommunicationError("cannot bind to " + bind_host +
                               ": no address of the preferred IP version");
  }
  const asio::generic::stream_protocol::endpoint gep(endpoint.data(), endpoint.size());
  acceptor_.open(gep.protocol(), ec);
  if (!ec && options_.socket.reuse)
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(gep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw CommunicationError("cannot bind to ('" + endpoint.address().to_string() + "', " +
                             std::to_string(options_.port) + "): " + ec.message());
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  const std::string text = address_text(reinterpret_cast<sockaddr*>(&ss), len);
  bound_address_ =
      text.front() == '[' ? text.substr(1, text.find(']') - 1) : text.substr(0, text.rfind(':'));
  host_ = bind_host.empty() ? bound_address_ : bind_host;
}

void MessageServer::Impl::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, Socket socket) {
    if (stopping_) return;
    if (!ec) {
      std::string peer;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      if (::getpeername(socket.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        peer = address_text(reinterpret_cast<sockaddr*>(&ss), len);
      }
      if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        if (options_.socket.nodelay)
          set_int_option(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, 1);
        set_int_option(socket.native_handle(), SOL_SOCKET, SO_KEEPALIVE, 1);
      }
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      auto conn = std::make_shared<Conn>(*this, std::move(socket), std::move(peer), false);
      add(conn.get());
      conn->start();
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      log::logger("pyrocpp.transport")->warn("accept failed: {}", ec.message());
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        // out of file descriptors: back off a little instead of spinning
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    accept();
  });
}

// ---------------------------------------------------------------------------------------------

MessageServer::MessageServer(ServerOptions options, MessageHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

MessageServer::~MessageServer() = default;

const std::string& MessageServer::host() const noexcept {
  return impl_->host();
}
const std::string& MessageServer::bound_address() const noexcept {
  return impl_->bound_address();
}
int MessageServer::port() const noexcept {
  return impl_->port();
}
std::string MessageServer::location() const {
  return impl_->location();
}
void MessageServer::run() {
  impl_->run();
}
void MessageServer::start() {
  impl_->start();
}
void MessageServer::shutdown() {
  impl_->shutdown();
}
bool MessageServer::running() const noexcept {
  return impl_->running();
}
void MessageServer::post(std::function<void()> f) {
  impl_->post(std::move(f));
}
std::size_t MessageServer::connection_count() const {
  return impl_->connection_count();
}
void MessageServer::check_timeouts() {
  impl_->check_timeouts();
}

}  // namespace pyro
