// locate.cpp — locate_ns(), discover_ns(), resolve() and NameServerProxy.
#include "pyro/locate.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <spdlog/logger.h>

#include "pyro/log.hpp"

namespace pyro {

namespace {

Uri uri_of(const Value& v) {
  if (v.is_object()) {
    if (const auto* u = dynamic_cast<const UriObject*>(v.as_object().get())) return u->uri();
  }
  if (v.is_str()) return Uri(v.as_str());
  throw ProtocolError("expected a URI from the name server, got " + v.repr());
}

// A tag set as the name server sends it: a set (Pyro5), a list (Pyro4), () for none (serpent).
std::set<std::string> tags_of(const Value& v) {
  std::set<std::string> out;
  auto add = [&](const Value& item) {
    if (item.is_str()) out.emplace(item.as_str());
  };
  if (v.is_set() || v.is_frozenset()) {
    for (const Value& item : v.as_set())
      add(item);
  } else if (v.is_sequence()) {
    for (const Value& item : v.items())
      add(item);
  }
  return out;
}

Value tag_value(const std::set<std::string>& tags) {
  Set s;
  for (const auto& t : tags)
    s.add(Value(t));
  return Value(std::move(s));
}

Value tag_list(const std::set<std::string>& tags) {
  ValueVector items;
  for (const auto& t : tags)
    items.emplace_back(t);
  return Value::list(std::move(items));
}

std::map<std::string, std::string> uri_strings(const Value& result) {
  std::map<std::string, std::string> out;
  for (const auto& [name, uri] : result.as_dict()) {
    out.emplace(std::string(name.as_str()),
                uri.is_str() ? std::string(uri.as_str()) : uri_of(uri).str());
  }
  return out;
}

bool is_loopback_name(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// Whether 127.0.1.1 has a name (Debian puts the host name there); Pyro tries it too then.
bool local_alias_resolves() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.1.1", &a.sin_addr);
  char host[NI_MAXHOST];
  return ::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, sizeof host, nullptr, 0,
                       NI_NAMEREQD) == 0;
}

Uri ns_uri_at(const std::string& host, int port) {
  if (host.starts_with("./u:")) return Uri("PYRO:" + std::string(nameserver_name) + "@" + host);
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return Uri("PYRO:" + std::string(nameserver_name) + "@" + h + ":" + std::to_string(port));
}

// Python's str() of a set of str: {'a', 'b'}.
std::string set_text(const std::vector<std::string>& tags) {
  Set s;
  for (const auto& t : tags)
    s.add(Value(t));
  return Value(std::move(s)).repr();
}

}  // namespace

// =============================================================================================
// NameServerProxy
// =============================================================================================

NameServerProxy::NameServerProxy(Uri uri, const Config& config) : proxy_(std::move(uri), config) {}

bool NameServerProxy::pyro4() const {
  return proxy_.protocol() == 48;
}

void NameServerProxy::ping() {
  proxy_.call("ping");
}

std::int64_t NameServerProxy::count() {
  return proxy_.call<std::int64_t>("count");
}

Uri NameServerProxy::lookup(std::string_view name) {
  return uri_of(proxy_.call("lookup", name));
}

std::pair<Uri, std::set<std::string>> NameServerProxy::lookup_with_metadata(std::string_view name) {
  const Value r = proxy_.call("lookup", name, kw("return_metadata", true));
  if (!r.is_sequence() || r.size() != 2) {
    throw ProtocolError("unexpected lookup result from the name server: " + r.repr());
  }
  return {uri_of(r.items()[0]), tags_of(r.items()[1])};
}

void NameServerProxy::register_name(std::string_view name, const Uri& uri, bool safe,
                                    std::optional<std::set<std::string>> metadata) {
  Value positional = Value::tuple({Value(name), Value::object(std::make_shared<UriObject>(uri))});
  Value keywords = Value::dict();
  if (safe) keywords.as_dict().set(Value("safe"), Value(true));
  if (metadata) {
    keywords.as_dict().set(Value("metadata"), pyro4() ? tag_list(*metadata) : tag_value(*metadata));
  }
  proxy_.call_with("register", std::move(positional), std::move(keywords));
}

void NameServerProxy::set_metadata(std::string_view name, const std::set<std::string>& metadata) {
  proxy_.call("set_metadata", name, pyro4() ? tag_list(metadata) : tag_value(metadata));
}

std::int64_t NameServerProxy::remove(std::string_view name) {
  return proxy_.call<std::int64_t>("remove", name);
}

std::int64_t NameServerProxy::remove_prefix(std::string_view prefix) {
  return proxy_.call<std::int64_t>("remove", kw("prefix", prefix));
}

std::int64_t NameServerProxy::remove_regex(std::string_view regex) {
  return proxy_.call<std::int64_t>("remove", kw("regex", regex));
}

namespace {
Value filter_keywords(const std::optional<std::string>& prefix,
                      const std::optional<std::string>& regex, bool with_metadata) {
  Value keywords = Value::dict();
  if (prefix) keywords.as_dict().set(Value("prefix"), Value(*prefix));
  if (regex) keywords.as_dict().set(Value("regex"), Value(*regex));
  if (with_metadata) keywords.as_dict().set(Value("return_metadata"), Value(true));
  return keywords;
}
}  // namespace

std::map<std::string, std::string> NameServerProxy::list(std::optional<std::string> prefix,
                                                         std::optional<std::string> regex) {
  return uri_strings(
      proxy_.call_with("list", Value::tuple({}), filter_keywords(prefix, regex, false)));
}

std::map<std::string, NameEntry> NameServerProxy::entries(const Value& result) const {
  std::map<std::string, NameEntry> out;
  for (const auto& [name, entry] : result.as_dict()) {
    NameEntry e;
    if (entry.is_sequence() && entry.size() == 2) {
      const Value& u = entry.items()[0];
      e.uri = u.is_str() ? std::string(u.as_str()) : uri_of(u).str();
      e.metadata = tags_of(entry.items()[1]);
    } else {
      e.uri = entry.is_str() ? std::string(entry.as_str()) : uri_of(entry).str();
    }
    out.emplace(std::string(name.as_str()), std::move(e));
  }
  return out;
}

std::map<std::string, NameEntry> NameServerProxy::list_with_metadata(
    std::optional<std::string> prefix, std::optional<std::string> regex) {
  return entries(proxy_.call_with("list", Value::tuple({}), filter_keywords(prefix, regex, true)));
}

std::map<std::string, NameEntry> NameServerProxy::yplookup_all(const std::set<std::string>& tags) {
  if (pyro4()) {
    return entries(
        proxy_.call("list", kw("metadata_all", tag_list(tags)), kw("return_metadata", true)));
  }
  return entries(
      proxy_.call("yplookup", kw("meta_all", tag_list(tags)), kw("return_metadata", true)));
}

std::map<std::string, NameEntry> NameServerProxy::yplookup_any(const std::set<std::string>& tags) {
  if (pyro4()) {
    return entries(
        proxy_.call("list", kw("metadata_any", tag_list(tags)), kw("return_metadata", true)));
  }
  return entries(
      proxy_.call("yplookup", kw("meta_any", tag_list(tags)), kw("return_metadata", true)));
}

// =============================================================================================
// Discovery
// =============================================================================================

std::optional<Uri> discover_ns(int bcport, double timeout, const Config& config) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  if (config.sock_reuse) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  for (const std::string& address : config.broadcast_addrs) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(bcport));
    const std::string a = address == "<broadcast>" ? "255.255.255.255" : address;
    if (::inet_pton(AF_INET, a.c_str(), &to.sin_addr) != 1) {
      addrinfo hints{};
      hints.ai_family = AF_INET;
      hints.ai_socktype = SOCK_DGRAM;
      addrinfo* found = nullptr;
      if (::getaddrinfo(a.c_str(), nullptr, &hints, &found) != 0) continue;
      to.sin_addr = reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr;
      ::freeaddrinfo(found);
    }
    // unreachable broadcast addresses are skipped, as Pyro skips "address not available"
    ::sendto(fd, "GET_NSURI", 9, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }
  std::optional<Uri> found;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  while (!found) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    char buffer[100];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) continue;
    // ISO-8859-1 text: each byte is one code point
    std::string text;
    for (ssize_t i = 0; i < n; ++i) {
      const auto c = static_cast<unsigned char>(buffer[i]);
      if (c < 0x80) {
        text += static_cast<char>(c);
      } else {
        text += static_cast<char>(0xC0 | (c >> 6));
        text += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    try {
      found = Uri(text);
    } catch (const std::exception& e) {
      log::logger("pyrocpp.naming")
          ->warn("ignoring an invalid broadcast answer {}: {}", text, e.what());
    }
  }
  ::close(fd);
  return found;
}

NameServerProxy locate_ns(std::string_view host_arg, int port, bool broadcast,
                          const Config& config) {
  auto logger = log::logger("pyrocpp.naming");
  std::string host(host_arg);
  if (host.empty()) {
    if (is_loopback_name(config.ns_host)) {
      std::vector<std::string> hosts{config.ns_host};
      if (config.ns_host.find(':') == std::string::npos && config.ns_host != "127.0.1.1" &&
          local_alias_resolves()) {
        hosts.emplace_back("127.0.1.1");
      }
      for (const auto& h : hosts) {
        NameServerProxy ns(ns_uri_at(h, port != 0 ? port : config.ns_port), config);
        try {
          ns.proxy().bind();
          logger->debug("located NS at {}", ns.uri().str());
          return ns;
        } catch (const PyroError&) {
        }
      }
    }
    if (config.prefer_ip_version == 6) broadcast = false;
    if (broadcast) {
      const int bcport = port != 0 ? port : config.ns_bcport;
      for (int round = 0; round < 3; ++round) {
        if (auto found = discover_ns(bcport, 0.7, config)) {
          logger->debug("located NS by broadcast: {}", found->str());
          return NameServerProxy(*found, config);
        }
      }
      logger->debug("broadcast locate failed, try direct connection on NS_HOST");
    }
    host = config.ns_host;
    port = config.ns_port;
  }
  if (port == 0) port = config.ns_port;
  NameServerProxy ns(ns_uri_at(host, port), config);
  try {
    ns.proxy().bind();
    return ns;
  } catch (const PyroError& e) {
    logger->debug("locating the name server failed: {}", e.what());
    throw NamingError("Failed to locate the nameserver");
  }
}

Uri resolve(const Uri& uri, const Config& config, double delay) {
  if (uri.protocol() == "PYRO") return uri;
  if (delay <= 0) delay = config.ns_lookup_delay;
  const std::string host = uri.host().value_or("");
  const int port = static_cast<int>(uri.port().value_or(0));
  NameServerProxy ns = locate_ns(host, port, true, config);
  const bool meta = uri.protocol() == "PYROMETA";
  auto attempt = [&]() -> std::optional<Uri> {
    if (!meta) return ns.lookup(uri.object());
    const std::set<std::string> tags(uri.meta_tags().begin(), uri.meta_tags().end());
    Value result = ns.pyro4() ? ns.proxy().call("list", kw("metadata_all", tag_list(tags)))
                              : ns.proxy().call("yplookup", kw("meta_all", tag_list(tags)),
                                                kw("return_metadata", false));
    if (!result.is_dict() || result.as_dict().empty()) return std::nullopt;
    const auto& items = result.as_dict().items();
    thread_local std::mt19937 random_engine{std::random_device{}()};
    std::uniform_int_distribution<std::size_t> pick(0, items.size() - 1);
    return uri_of(items[pick(random_engine)].second);
  };
  const auto start = std::chrono::steady_clock::now();
  const auto wait = std::chrono::duration<double>(std::max(0.2, delay / 5));
  while (delay > 0 &&
         std::chrono::steady_clock::now() - start <= std::chrono::duration<double>(delay)) {
    try {
      if (auto found = attempt()) {
        ns.proxy().release();
        return *found;
      }
    } catch (const NamingError&) {
    } catch (const TimeoutError&) {
    }
    std::this_thread::sleep_for(wait);
  }
  auto found = attempt();
  ns.proxy().release();
  if (!found) {
    throw NamingError("no registrations available with desired metadata properties " +
                      set_text(uri.meta_tags()));
  }
  return *found;
}

}  // namespace pyro
