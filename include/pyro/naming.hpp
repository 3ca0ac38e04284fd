// naming.hpp — Pyro's name server: the NameServer object with Pyro's remote methods, its
// storage (in memory, or SQLite with Pyro's schema), the UDP broadcast responder, automatic
// cleanup (NS_AUTOCLEAN), and NameServerDaemon, which puts it all on a Daemon. Relies on
// server.hpp (Daemon, Exposed) and locate.hpp (names, the client side). Clients use
// locate.hpp only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "pyro/config.hpp"
#include "pyro/locate.hpp"
#include "pyro/server.hpp"

namespace pyro {

// What a name maps to.
struct Registration {
  std::string uri;                    // the URI's string form
  std::vector<std::string> metadata;  // tags, no duplicates, in no particular order
  // Memory storage only: registered without tags (Pyro keeps a frozenset() then, which json
  // and msgpack cannot send: Pyro's quirk, kept).
  bool frozen = false;
  friend bool operator==(const Registration&, const Registration&) = default;
};

// Where the name server keeps its registrations. The NameServer calls it under its own lock,
// one call at a time, so implementations need no locking of their own. Errors of the backing
// store are NamingError("<backend> error in <operation>: <reason>").
class NameStorage {
 public:
  using Entries = std::vector<std::pair<std::string, Registration>>;

  virtual ~NameStorage() = default;

  virtual std::optional<Registration> get(const std::string& name) = 0;
  virtual bool contains(const std::string& name) = 0;
  // Adds or replaces. When put() returns, the registration is as durable as the backend gets.
  virtual void put(const std::string& name, const Registration& registration) = 0;
  // Returns whether the name was there.
  virtual bool remove(const std::string& name) = 0;
  virtual void remove_all(const std::vector<std::string>& names) = 0;
  virtual std::size_t size() = 0;
  // Every registration, in the backend's order (memory: insertion order, as a Python dict).
  virtual Entries everything() = 0;
  // Optional fast paths; nullopt makes the name server filter everything() itself.
  virtual std::optional<Entries> prefix_list(const std::string& prefix) {
    (void)prefix;
    return std::nullopt;
  }
  // Entries having all of `all` (when not empty) or any of `any`.
  virtual std::optional<Entries> metadata_search(const std::vector<std::string>& all,
                                                 const std::vector<std::string>& any) {
    (void)all;
    (void)any;
    return std::nullopt;
  }
  virtual void close() {}
};

// The volatile default.
std::unique_ptr<NameStorage> make_memory_storage();
// Pyro's "sql:" storage: an SQLite file with Pyro's schema (pyro_names, pyro_metadata), readable
// by Python Pyro's name server and the other way round; an old file with only pyro_names is
// migrated. Every put/remove is committed before it returns (WAL journal). ":memory:" is
// refused with ValueError.
std::unique_ptr<NameStorage> make_sql_storage(const std::string& file);
// "memory" or "sql:<file>"; anything else: ValueError("invalid storage type '<spec>'").
std::unique_ptr<NameStorage> open_storage(std::string_view spec);

// The name server object. Its remote interface (exposure()) answers Pyro5 clients with Pyro5's
// API and Pyro4 clients (protocol 48) with Pyro4's (list with metadata filters, metadata as
// lists), errors as Pyro raises them. Thread safety: thread-safe.
class NameServer {
 public:
  explicit NameServer(std::unique_ptr<NameStorage> storage = make_memory_storage());

  // Pyro5's semantics, for local use (and what the remote methods call).
  std::size_t count();
  Registration lookup(const std::string& name);  // NamingError("unknown name: <name>")
  void register_name(const std::string& name, const std::string& uri, bool safe = false,
                     std::optional<std::vector<std::string>> metadata = std::nullopt);
  void set_metadata(const std::string& name, std::optional<std::vector<std::string>> metadata);
  std::size_t remove(const std::optional<std::string>& name,
                     const std::optional<std::string>& prefix = std::nullopt,
                     const std::optional<std::string>& regex = std::nullopt);
  NameStorage::Entries list(const std::optional<std::string>& prefix = std::nullopt,
                            const std::optional<std::string>& regex = std::nullopt);
  NameStorage::Entries yplookup(const std::vector<std::string>& all,
                                const std::vector<std::string>& any);

  // The remote methods: count, list, lookup, ping, register, remove, set_metadata, yplookup.
  static Exposed<NameServer> exposure();

  bool storage_contains(const std::string& name);
  NameStorage& storage() noexcept { return *storage_; }

 private:
  std::recursive_mutex mutex_;
  std::unique_ptr<NameStorage> storage_;
};

// The UDP responder of broadcast discovery: answers the datagram "GET_NSURI" with the name
// server's URI (a 0.0.0.0 host replaced by the address of the interface that routes to the
// asker); ignores everything else. Runs on its own thread. Resource type: immovable.
class BroadcastServer {
 public:
  // host empty: all interfaces ("::" when ipv6). port 0: a free port.
  BroadcastServer(Uri ns_uri, std::string host, int port, bool ipv6 = false,
                  bool reuse_address = true);
  ~BroadcastServer();
  BroadcastServer(const BroadcastServer&) = delete;
  BroadcastServer& operator=(const BroadcastServer&) = delete;

  int port() const noexcept { return port_; }
  std::string location() const;  // "0.0.0.0:9091"
  void close();

 private:
  void run();
  Uri ns_uri_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::string host_;
  std::thread thread_;
};

struct NameServerOptions {
  std::optional<std::string> host;        // HOST
  std::optional<int> port;                // NS_PORT
  std::optional<std::string> unixsocket;  // instead of TCP
  std::optional<std::string> nathost;     // NATHOST
  std::optional<int> natport;             // NATPORT
  std::string storage = "memory";         // "memory" or "sql:<file>"
  bool broadcast = true;                  // start the responder (not for loopback/IPv6/unix)
  std::optional<std::string> bchost;      // NS_BCHOST
  std::optional<int> bcport;              // NS_BCPORT
  // The tag of the self-registration: Pyro5's "class:Pyro5.nameserver.NameServer", or Pyro4's
  // "class:Pyro4.naming.NameServer" for a name server standing in for Pyro4's.
  std::string self_tag = "class:Pyro5.nameserver.NameServer";
  // The Daemon's SERVERTYPE. The name server's calls are short and never wait on anything but
  // its storage, so by default they run on the event loop ("multiplex"), which saves a thread
  // hand-off per call (~4 us of a ~40 us lookup here); "thread" uses the worker pool; nullopt
  // takes SERVERTYPE from the config.
  std::optional<std::string> servertype = "multiplex";
  // NS_AUTOCLEAN's fixed times in Pyro (seconds): how often the cleaner wakes, and how long a
  // name must stay unreachable before it is removed. Changed only by tests.
  double autoclean_wakeup = 2.0;
  double autoclean_unreachable = 20.0;
};

// Pyro's start_ns(): a Daemon serving the name server (registered under Pyro.NameServer, and
// registered in itself with its NAT URI), the broadcast responder when it applies, and the
// NS_AUTOCLEAN thread when configured. start() serves in the background; request_loop() blocks.
// Resource type: immovable; the destructor shuts everything down.
class NameServerDaemon {
 public:
  explicit NameServerDaemon(NameServerOptions options = {},
                            const Config& config = Config::global());
  ~NameServerDaemon();
  NameServerDaemon(const NameServerDaemon&) = delete;
  NameServerDaemon& operator=(const NameServerDaemon&) = delete;

  void start();
  void request_loop();
  void shutdown();

  Uri uri() const;           // internal URI
  Uri external_uri() const;  // NAT URI (the registered one)
  Daemon& daemon() noexcept { return *daemon_; }
  NameServer& nameserver() noexcept { return *nameserver_; }
  BroadcastServer* broadcast() noexcept { return broadcast_.get(); }
  // Why no broadcast responder runs ("localhost", "IPv6", ...), empty when one runs or none
  // was asked for.
  const std::string& broadcast_skipped() const noexcept { return broadcast_skipped_; }
  // Registrations found in the storage at start (before the self-registration).
  std::size_t existing_registrations() const noexcept { return existing_; }

 private:
  void autoclean_loop();

  Config config_;
  NameServerOptions options_;
  std::shared_ptr<NameServer> nameserver_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<BroadcastServer> broadcast_;
  std::string broadcast_skipped_;
  std::size_t existing_ = 0;
  std::thread cleaner_;
  std::mutex cleaner_mutex_;
  std::condition_variable cleaner_cv_;
  bool stopping_ = false;
};

}  // namespace pyro
