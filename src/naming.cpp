// naming.cpp — the name server object, the broadcast responder, autoclean and NameServerDaemon.
#include "pyro/naming.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/logger.h>

#include "pyro/log.hpp"

namespace pyro {

namespace {

// Whether the request being served came from a Pyro4 client (protocol 48).
bool pyro4_client() {
  return current_context().protocol == protocol_48;
}

// Python's truth value of an argument.
bool truthy(const Value& v) {
  if (v.is_none()) return false;
  if (v.is_bool()) return v.as_bool();
  if (v.is_int()) return !(v == Value(0));
  if (v.is_float()) return v.as_float() != 0.0;
  if (v.is_str()) return !v.as_str().empty();
  if (v.is_bytes()) return !v.as_bytes().empty();
  if (v.is_sequence()) return v.size() != 0;
  if (v.is_dict()) return !v.as_dict().empty();
  if (v.is_set() || v.is_frozenset()) return !v.as_set().empty();
  return true;
}

[[noreturn]] void not_iterable(const Value& v) {
  throw TypeError("'" + std::string(v.type_name()) + "' object is not iterable");
}

// The tags of an iterable of str (list, tuple, set, frozenset, dict keys), without duplicates.
std::vector<std::string> tags_of(const Value& v) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const Value& item) {
    if (!item.is_str()) {
      throw TypeError("metadata tags must be str, not " + std::string(item.type_name()));
    }
    std::string tag(item.as_str());
    if (seen.insert(tag).second) out.push_back(std::move(tag));
  };
  if (v.is_sequence()) {
    for (const Value& item : v.items())
      add(item);
  } else if (v.is_set() || v.is_frozenset()) {
    for (const Value& item : v.as_set())
      add(item);
  } else if (v.is_dict()) {
    for (const auto& [key, value] : v.as_dict())
      add(key);
  } else {
    not_iterable(v);
  }
  return out;
}

// A metadata argument as Pyro checks it: None stays nullopt; a str is refused.
std::optional<std::vector<std::string>> metadata_argument(const Value& v, const char* what) {
  if (v.is_str()) {
    throw TypeError(std::string(what) +
                    " should not be a str, but another iterable (set, list, etc)");
  }
  if (v.is_none()) return std::nullopt;
  return tags_of(v);
}

std::string name_argument(const Value& v) {
  if (!v.is_str()) throw TypeError("name must be a str");
  return std::string(v.as_str());
}

// The name in "unknown name: <name>", which in Python is a str concatenation.
std::string unknown_name(const Value& name) {
  if (!name.is_str()) {
    throw TypeError("can only concatenate str (not \"" + std::string(name.type_name()) +
                    "\") to str");
  }
  return "unknown name: " + std::string(name.as_str());
}

// Python's re.match: anchored at the start only.
bool regex_matches(const std::regex& re, const std::string& name) {
  return std::regex_search(name, re, std::regex_constants::match_continuous);
}

std::regex compile_regex(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw NamingError("invalid regex: " + std::string(e.what()));
  }
}

Value tag_set(const Registration& r, bool keep_frozen) {
  Set s;
  s.reserve(r.metadata.size());
  for (const auto& t : r.metadata)
    s.add(Value(t));
  if (keep_frozen && r.frozen) return Value::frozenset(std::move(s));
  return Value(std::move(s));
}

Value tag_list(const Registration& r) {
  ValueVector items;
  items.reserve(r.metadata.size());
  for (const auto& t : r.metadata)
    items.emplace_back(t);
  return Value::list(std::move(items));
}

// list()/yplookup() results: {name: uri} or {name: (uri, tags)}; tags are a set (frozenset for
// a memory registration without tags, as Pyro5 sends) or, for Pyro4 clients, a list.
Value entries_value(const NameStorage::Entries& entries, bool with_metadata) {
  Dict d;
  const bool pyro4 = pyro4_client();
  for (const auto& [name, r] : entries) {
    if (with_metadata) {
      d.set(Value(name), Value::tuple({Value(r.uri), pyro4 ? tag_list(r) : tag_set(r, true)}));
    } else {
      d.set(Value(name), Value(r.uri));
    }
  }
  return Value(std::move(d));
}

std::optional<std::string> optional_str(const Value& v) {
  if (v.is_none()) return std::nullopt;
  if (!v.is_str()) throw TypeError("expected a str, not " + std::string(v.type_name()));
  return std::string(v.as_str());
}

bool has_any(const Registration& r, const std::set<std::string>& tags) {
  return std::any_of(r.metadata.begin(), r.metadata.end(),
                     [&](const std::string& t) { return tags.contains(t); });
}

bool has_all(const Registration& r, const std::set<std::string>& tags) {
  const std::set<std::string> own(r.metadata.begin(), r.metadata.end());
  return std::includes(own.begin(), own.end(), tags.begin(), tags.end());
}

}  // namespace

// =============================================================================================
// NameServer
// =============================================================================================

NameServer::NameServer(std::unique_ptr<NameStorage> storage) : storage_(std::move(storage)) {
  if (!storage_) storage_ = make_memory_storage();
}

std::size_t NameServer::count() {
  std::lock_guard lock(mutex_);
  return storage_->size();
}

Registration NameServer::lookup(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto r = storage_->get(name);
  if (!r) throw NamingError("unknown name: " + name);
  return std::move(*r);
}

void NameServer::register_name(const std::string& name, const std::string& uri, bool safe,
                               std::optional<std::vector<std::string>> metadata) {
  Uri parsed(uri);  // validates; PyroError("invalid uri...")
  Registration r;
  r.uri = parsed.str();
  r.frozen = !metadata.has_value();
  if (metadata) r.metadata = std::move(*metadata);
  std::lock_guard lock(mutex_);
  if (safe && storage_->contains(name)) throw NamingError("name already registered: " + name);
  storage_->put(name, r);
}

void NameServer::set_metadata(const std::string& name,
                              std::optional<std::vector<std::string>> metadata) {
  std::lock_guard lock(mutex_);
  auto r = storage_->get(name);
  if (!r) throw NamingError("unknown name: " + name);
  r->frozen = !metadata.has_value();
  r->metadata = metadata ? std::move(*metadata) : std::vector<std::string>();
  storage_->put(name, *r);
}

std::size_t NameServer::remove(const std::optional<std::string>& name,
                               const std::optional<std::string>& prefix,
                               const std::optional<std::string>& regex) {
  std::lock_guard lock(mutex_);
  if (name && !name->empty() && *name != nameserver_name) {
    return storage_->remove(*name) ? 1 : 0;
  }
  NameStorage::Entries matches;
  if (prefix && !prefix->empty()) {
    matches = list(prefix, std::nullopt);
  } else if (regex && !regex->empty()) {
    matches = list(std::nullopt, regex);
  } else {
    return 0;
  }
  std::vector<std::string> names;
  for (auto& [n, r] : matches) {
    if (n != nameserver_name) names.push_back(std::move(n));
  }
  storage_->remove_all(names);
  return names.size();
}

NameStorage::Entries NameServer::list(const std::optional<std::string>& prefix,
                                      const std::optional<std::string>& regex) {
  const bool by_prefix = prefix && !prefix->empty();
  const bool by_regex = regex && !regex->empty();
  if (by_prefix && by_regex) throw ValueError("you can only filter on one thing at a time");
  std::lock_guard lock(mutex_);
  if (by_prefix) {
    if (auto fast = storage_->prefix_list(*prefix)) return std::move(*fast);
    NameStorage::Entries out;
    for (auto& e : storage_->everything()) {
      if (e.first.starts_with(*prefix)) out.push_back(std::move(e));
    }
    return out;
  }
  if (by_regex) {
    const std::regex re = compile_regex(*regex);
    NameStorage::Entries out;
    for (auto& e : storage_->everything()) {
      if (regex_matches(re, e.first)) out.push_back(std::move(e));
    }
    return out;
  }
  return storage_->everything();
}

NameStorage::Entries NameServer::yplookup(const std::vector<std::string>& all,
                                          const std::vector<std::string>& any) {
  if (!all.empty() && !any.empty()) {
    throw ValueError("you can't use meta_all or meta_any at the same time");
  }
  if (all.empty() && any.empty()) return {};
  std::lock_guard lock(mutex_);
  if (auto fast = storage_->metadata_search(all, any)) return std::move(*fast);
  NameStorage::Entries out;
  if (!all.empty()) {
    const std::set<std::string> tags(all.begin(), all.end());
    for (auto& e : storage_->everything()) {
      if (has_all(e.second, tags)) out.push_back(std::move(e));
    }
  } else {
    const std::set<std::string> tags(any.begin(), any.end());
    for (auto& e : storage_->everything()) {
      if (has_any(e.second, tags)) out.push_back(std::move(e));
    }
  }
  return out;
}

// ---- the remote interface ------------------------------------------------------------------

namespace {

const Value none;
const Value no(false);
const Value yes(true);

// register's uri argument: a URI object or a str that parses.
std::string uri_argument(const Value& v) {
  if (v.is_object()) {
    if (const auto* u = dynamic_cast<const UriObject*>(v.as_object().get())) return u->uri().str();
  }
  if (!v.is_str()) throw TypeError("only URIs or strings can be registered");
  return Uri(v.as_str()).str();
}

// Pyro4 keeps tags only when there are some; Pyro5 keeps any given iterable (even empty).
std::optional<std::vector<std::string>> stored_tags(const Value& v, const char* what) {
  auto tags = metadata_argument(v, what);
  if (pyro4_client() && tags && tags->empty()) return std::nullopt;
  return tags;
}

Value remote_lookup(NameServer& ns, const CallArgs& a) {
  const auto args =
      bind_arguments("NameServer.lookup", {{"name", std::nullopt}, {"return_metadata", no}}, a);
  if (!args[0].is_str()) throw NamingError(unknown_name(args[0]));
  Registration r;
  try {
    r = ns.lookup(std::string(args[0].as_str()));
  } catch (const NamingError&) {
    throw NamingError(unknown_name(args[0]));
  }
  Value uri = Value::object(std::make_shared<UriObject>(Uri(r.uri)));
  if (!truthy(args[1])) return uri;
  return Value::tuple({std::move(uri), pyro4_client() ? tag_list(r) : tag_set(r, false)});
}

Value remote_register(NameServer& ns, const CallArgs& a) {
  const auto args = bind_arguments(
      "NameServer.register",
      {{"name", std::nullopt}, {"uri", std::nullopt}, {"safe", no}, {"metadata", none}}, a);
  const std::string uri = uri_argument(args[1]);
  const std::string name = name_argument(args[0]);
  auto tags = stored_tags(args[3], "metadata");
  ns.register_name(name, uri, truthy(args[2]), std::move(tags));
  return Value();
}

Value remote_set_metadata(NameServer& ns, const CallArgs& a) {
  const auto args = bind_arguments("NameServer.set_metadata",
                                   {{"name", std::nullopt}, {"metadata", std::nullopt}}, a);
  const std::string name = name_argument(args[0]);
  ns.set_metadata(name, stored_tags(args[1], "metadata"));
  return Value();
}

Value remote_remove(NameServer& ns, const CallArgs& a) {
  const auto args =
      bind_arguments("NameServer.remove", {{"name", none}, {"prefix", none}, {"regex", none}}, a);
  // A name of another type is never registered: Pyro5 answers 0, Pyro4 goes on with the
  // prefix and regex (its storage lookup is just "name in storage").
  if (truthy(args[0]) && !args[0].is_str()) {
    if (!pyro4_client()) return Value(std::int64_t{0});
    return Value(static_cast<std::int64_t>(
        ns.remove(std::nullopt, optional_str(args[1]), optional_str(args[2]))));
  }
  std::optional<std::string> name =
      args[0].is_str() ? std::optional<std::string>(args[0].as_str()) : std::nullopt;
  if (pyro4_client() && name && !name->empty()) {
    // Pyro4 removes a name only when present, else goes on with prefix/regex
    if (*name != nameserver_name && ns.storage_contains(*name)) {
      return Value(static_cast<std::int64_t>(ns.remove(name)));
    }
    name.reset();
  }
  return Value(
      static_cast<std::int64_t>(ns.remove(name, optional_str(args[1]), optional_str(args[2]))));
}

Value remote_list(NameServer& ns, const CallArgs& a) {
  if (!pyro4_client()) {
    const auto args = bind_arguments(
        "NameServer.list", {{"prefix", none}, {"regex", none}, {"return_metadata", no}}, a);
    return entries_value(ns.list(optional_str(args[0]), optional_str(args[1])), truthy(args[2]));
  }
  const auto args = bind_arguments("NameServer.list",
                                   {{"prefix", none},
                                    {"regex", none},
                                    {"metadata_all", none},
                                    {"metadata_any", none},
                                    {"return_metadata", no}},
                                   a);
  const auto given =
      std::count_if(args.begin(), args.begin() + 4, [](const Value& v) { return !v.is_none(); });
  if (given > 1) throw ValueError("you can only filter on one thing at a time");
  const bool with_metadata = truthy(args[4]);
  if (truthy(args[0]) || truthy(args[1])) {
    return entries_value(ns.list(optional_str(args[0]), optional_str(args[1])), with_metadata);
  }
  if (truthy(args[2])) {
    return entries_value(ns.yplookup(*metadata_argument(args[2], "metadata_all"), {}),
                         with_metadata);
  }
  if (truthy(args[3])) {
    return entries_value(ns.yplookup({}, *metadata_argument(args[3], "metadata_any")),
                         with_metadata);
  }
  return entries_value(ns.list(), with_metadata);
}

Value remote_yplookup(NameServer& ns, const CallArgs& a) {
  const auto args = bind_arguments(
      "NameServer.yplookup", {{"meta_all", none}, {"meta_any", none}, {"return_metadata", yes}}, a);
  if (truthy(args[0]) && truthy(args[1])) {
    throw ValueError("you can't use meta_all or meta_any at the same time");
  }
  if (truthy(args[0])) {
    return entries_value(ns.yplookup(*metadata_argument(args[0], "metadata_all"), {}),
                         truthy(args[2]));
  }
  if (truthy(args[1])) {
    return entries_value(ns.yplookup({}, *metadata_argument(args[1], "metadata_any")),
                         truthy(args[2]));
  }
  return Value::dict();
}

}  // namespace

bool NameServer::storage_contains(const std::string& name) {
  std::lock_guard lock(mutex_);
  return storage_->contains(name);
}

Exposed<NameServer> NameServer::exposure() {
  return Exposed<NameServer>("NameServer")
      .raw("count",
           [](NameServer& ns, const CallArgs& a) {
             bind_arguments("NameServer.count", {}, a);
             return Value(static_cast<std::int64_t>(ns.count()));
           })
      .raw("ping",
           [](NameServer&, const CallArgs& a) {
             bind_arguments("NameServer.ping", {}, a);
             return Value();
           })
      .raw("lookup", remote_lookup)
      .raw("register", remote_register)
      .raw("set_metadata", remote_set_metadata)
      .raw("remove", remote_remove)
      .raw("list", remote_list)
      .raw("yplookup", remote_yplookup);
}

// =============================================================================================
// BroadcastServer
// =============================================================================================

namespace {

// The address of the local interface that routes to `peer` (Pyro's get_interface trick: a
// connected UDP socket's own address), or empty.
std::string interface_towards(const sockaddr_storage& peer, socklen_t peer_len) {
  const int fd = ::socket(peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  std::string out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&peer), peer_len) == 0) {
    sockaddr_storage own{};
    socklen_t len = sizeof own;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&own), &len) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* addr =
          own.ss_family == AF_INET6
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&own)->sin6_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&own)->sin_addr);
      if (::inet_ntop(own.ss_family, addr, text, sizeof text) != nullptr) out = text;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

BroadcastServer::BroadcastServer(Uri ns_uri, std::string host, int port, bool ipv6,
                                 bool reuse_address)
    : ns_uri_(std::move(ns_uri)) {
  const bool v6 = ipv6 || (ns_uri_.host() && ns_uri_.host()->find(':') != std::string::npos);
  if (host.empty()) host = v6 ? "::" : "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = v6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw CommunicationError("cannot bind the broadcast server to " + host + ": " +
                             ::gai_strerror(rc));
  }
  fd_ = ::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ::freeaddrinfo(found);
    throw CommunicationError(std::string("cannot create the broadcast socket: ") +
                             std::strerror(errno));
  }
  const int one = 1;
  if (reuse_address) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!v6) ::setsockopt(fd_, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  if (::bind(fd_, found->ai_addr, found->ai_addrlen) != 0) {
    const int err = errno;
    ::freeaddrinfo(found);
    ::close(fd_);
    fd_ = -1;
    throw CommunicationError("cannot bind the broadcast server to " + host + ":" + service +
                             ": [Errno " + std::to_string(err) + "] " + std::strerror(err));
  }
  ::freeaddrinfo(found);
  sockaddr_storage own{};
  socklen_t len = sizeof own;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&own), &len);
  port_ = ntohs(own.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&own)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&own)->sin_port);
  host_ = host;
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw CommunicationError("cannot create the broadcast server's wake-up pipe");
  }
  log::logger("pyrocpp.naming")->info("ns broadcast server created on {}", location());
  thread_ = std::thread([this] { run(); });
}

BroadcastServer::~BroadcastServer() {
  close();
}

std::string BroadcastServer::location() const {
  if (host_.find(':') != std::string::npos) return "[" + host_ + "]:" + std::to_string(port_);
  return host_ + ":" + std::to_string(port_);
}

void BroadcastServer::close() {
  if (thread_.joinable()) {
    const char c = 'x';
    if (::write(wake_[1], &c, 1) < 0) {
      // the thread also stops when the pipe closes
    }
    thread_.join();
  }
  for (int* fd : {&fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void BroadcastServer::run() {
  char buffer[100];
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const ssize_t n =
        ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (n != 9 || std::memcmp(buffer, "GET_NSURI", 9) != 0) continue;  // anything else: ignored
    Uri answer = ns_uri_;
    if (answer.host() && *answer.host() == "0.0.0.0") {
      const std::string own = interface_towards(peer, peer_len);
      if (!own.empty()) answer = Uri::for_tcp(answer.object(), own, answer.port().value_or(0));
    }
    const std::string text = answer.str();  // ASCII: ISO-8859-1 as Pyro sends it
    ::sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&peer), peer_len);
  }
}

// =============================================================================================
// NameServerDaemon
// =============================================================================================

namespace {

bool is_loopback_host(const std::string& ip) {
  return ip.starts_with("127.") || ip == "localhost" || ip == "::1";
}

}  // namespace

NameServerDaemon::NameServerDaemon(NameServerOptions options, const Config& config)
    : config_(config), options_(options) {
  if (options.servertype) config_.servertype = *options.servertype;
  if (config_.ns_autoclean > 0 && config_.ns_autoclean < 3) {
    throw ValueError("NS_AUTOCLEAN cannot be smaller than 3");
  }
  nameserver_ = std::make_shared<NameServer>(open_storage(options.storage));
  existing_ = nameserver_->count();
  DaemonOptions d;
  d.host = options.host ? options.host : std::optional<std::string>(config_.host);
  d.port = options.port.value_or(config_.ns_port);
  d.unixsocket = options.unixsocket;
  d.nathost = options.nathost ? options.nathost : config_.nathost;
  if (options.natport) {
    d.natport = options.natport;
  } else if (config_.natport != 0) {
    d.natport = config_.natport;
  }
  daemon_ = std::make_unique<Daemon>(d, config_);
  daemon_->expose(nameserver_, std::string(nameserver_name), NameServer::exposure());
  nameserver_->register_name(std::string(nameserver_name), external_uri().str(), false,
                             std::vector<std::string>{options.self_tag});

  if (options.broadcast) {
    const std::string bound = daemon_->bound_address();
    if (options.unixsocket) {
      broadcast_skipped_ = "Unix domain socket";
    } else if (bound.find(':') != std::string::npos) {
      broadcast_skipped_ = "IPv6";
    } else if (is_loopback_host(bound)) {
      broadcast_skipped_ = "localhost";
    } else {
      // the responder answers with the internal URI: outside a NAT the external one is useless
      broadcast_ = std::make_unique<BroadcastServer>(
          uri(), options.bchost.value_or(config_.ns_bchost.value_or("")),
          options.bcport.value_or(config_.ns_bcport), false, config_.sock_reuse);
    }
  }
  if (config_.ns_autoclean > 0) cleaner_ = std::thread([this] { autoclean_loop(); });
}

NameServerDaemon::~NameServerDaemon() {
  shutdown();
}

Uri NameServerDaemon::uri() const {
  return daemon_->uri_for(nameserver_name, false);
}

Uri NameServerDaemon::external_uri() const {
  return daemon_->uri_for(nameserver_name, true);
}

void NameServerDaemon::start() {
  daemon_->start();
}

void NameServerDaemon::request_loop() {
  daemon_->request_loop();
}

void NameServerDaemon::shutdown() {
  {
    std::lock_guard lock(cleaner_mutex_);
    stopping_ = true;
  }
  cleaner_cv_.notify_all();
  if (cleaner_.joinable()) cleaner_.join();
  if (broadcast_) broadcast_->close();
  if (daemon_) daemon_->shutdown();
  if (nameserver_) nameserver_->storage().close();
}

// Every 2 s, once NS_AUTOCLEAN seconds have passed since the last sweep: a plain TCP connect to
// every registered location; a name unreachable for 20 s is removed.
void NameServerDaemon::autoclean_loop() {
  using Clock = std::chrono::steady_clock;
  const auto loop_delay = std::chrono::duration<double>(options_.autoclean_wakeup);
  const auto max_unreachable = std::chrono::duration<double>(options_.autoclean_unreachable);
  auto last_cleaned = Clock::now();
  std::map<std::string, Clock::time_point> unreachable;
  auto logger = log::logger("pyrocpp.naming");
  for (;;) {
    {
      std::unique_lock lock(cleaner_mutex_);
      if (cleaner_cv_.wait_for(lock, loop_delay, [this] { return stopping_; })) return;
    }
    if (Clock::now() - last_cleaned < std::chrono::duration<double>(config_.ns_autoclean)) {
      continue;
    }
    for (const auto& [name, r] : nameserver_->list()) {
      if (name == "Pyro.Daemon" || name == nameserver_name) continue;
      bool reachable = false;
      try {
        const Uri u(r.uri);
        SocketOptions so;
        so.timeout = config_.commtimeout > 0 ? config_.commtimeout : 5.0;
        Connection c = Connection::connect(u, so);
        reachable = true;
      } catch (const std::exception&) {
      }
      if (reachable) {
        unreachable.erase(name);
        continue;
      }
      const auto since = unreachable.try_emplace(name, Clock::now()).first->second;
      if (Clock::now() - since >= max_unreachable) {
        logger->info("autoclean: unregistering {}; cannot connect uri {} for {} sec", name, r.uri,
                     options_.autoclean_unreachable);
        nameserver_->remove(name);
        unreachable.erase(name);
      }
    }
    last_cleaned = Clock::now();
  }
}

}  // namespace pyro
