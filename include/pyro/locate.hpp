// locate.hpp — finding and using a name server from a client: locate_ns() (broadcast discovery,
// then NS_HOST:NS_PORT), resolve() for PYRONAME:/PYROMETA: URIs, and NameServerProxy, a typed
// proxy for the name server's remote methods. Relies on client.hpp (Proxy). Lives in the client
// layer because the Proxy resolves magic URIs on every (re)connect, as Pyro5's core module does;
// the name server itself is naming.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyro/client.hpp"
#include "pyro/config.hpp"
#include "pyro/uri.hpp"

namespace pyro {

// The name server's object id (and its own registration's name).
inline constexpr std::string_view nameserver_name = "Pyro.NameServer";

// One registration as list() and yplookup() return it with metadata.
struct NameEntry {
  std::string uri;
  std::set<std::string> metadata;
  friend bool operator==(const NameEntry&, const NameEntry&) = default;
};

// A proxy for Pyro's name server object, with typed methods (Pyro5's API; against a Pyro4 name
// server, list() filters on metadata and yplookup() maps to it). Same ownership and lifetime
// rules as Proxy.
//
//   pyro::NameServerProxy ns = pyro::locate_ns();
//   ns.register_name("example.thermostat", uri);
//   pyro::Uri u = ns.lookup("example.thermostat");
class NameServerProxy {
 public:
  explicit NameServerProxy(Uri uri, const Config& config = Config::global());
  explicit NameServerProxy(Proxy proxy) : proxy_(std::move(proxy)) {}

  void ping();
  std::int64_t count();
  // NamingError("unknown name: <name>") when absent.
  Uri lookup(std::string_view name);
  std::pair<Uri, std::set<std::string>> lookup_with_metadata(std::string_view name);
  // safe: NamingError("name already registered: <name>") instead of overwriting.
  void register_name(std::string_view name, const Uri& uri, bool safe = false,
                     std::optional<std::set<std::string>> metadata = std::nullopt);
  // Replaces the tags (none: clears them).
  void set_metadata(std::string_view name, const std::set<std::string>& metadata);
  // Removes one name; returns 1 or 0. Pyro.NameServer is never removed.
  std::int64_t remove(std::string_view name);
  std::int64_t remove_prefix(std::string_view prefix);
  std::int64_t remove_regex(std::string_view regex);
  // {name: uri}; prefix and regex (Python re.match) filter, at most one of them.
  std::map<std::string, std::string> list(std::optional<std::string> prefix = std::nullopt,
                                          std::optional<std::string> regex = std::nullopt);
  std::map<std::string, NameEntry> list_with_metadata(
      std::optional<std::string> prefix = std::nullopt,
      std::optional<std::string> regex = std::nullopt);
  // Yellow pages: registrations having all (or any) of the tags.
  std::map<std::string, NameEntry> yplookup_all(const std::set<std::string>& tags);
  std::map<std::string, NameEntry> yplookup_any(const std::set<std::string>& tags);

  Proxy& proxy() noexcept { return proxy_; }
  const Uri& uri() const noexcept { return proxy_.uri(); }
  // Whether it speaks protocol 48 to a Pyro4 name server (PROTOCOL_VERSION 48).
  bool pyro4() const;

 private:
  std::map<std::string, NameEntry> entries(const Value& result) const;
  Proxy proxy_;
};

// Pyro's locate_ns(host, port, broadcast). Without a host: NS_HOST directly when it is a
// loopback name, else broadcast discovery (BROADCAST_ADDRS, port = the broadcast port, 3 rounds
// of 0.7 s; skipped when PREFER_IP_VERSION is 6), then NS_HOST:NS_PORT. With a host: that host
// (a "./u:" prefix is a Unix socket), port defaulting to NS_PORT. The proxy found by broadcast
// is returned unconnected; the others are bound. Failure: NamingError("Failed to locate the
// nameserver").
NameServerProxy locate_ns(std::string_view host = {}, int port = 0, bool broadcast = true,
                          const Config& config = Config::global());

// Sends one GET_NSURI broadcast round to every BROADCAST_ADDRS address and waits up to timeout
// seconds for an answer; the name server's URI, or nullopt.
std::optional<Uri> discover_ns(int bcport, double timeout, const Config& config = Config::global());

// Pyro's resolve(): PYRO URIs unchanged; PYRONAME via lookup, PYROMETA via yplookup(meta_all)
// picking one result at random (NamingError("no registrations available with desired metadata
// properties {...}") when none). delay (or NS_LOOKUP_DELAY when < 0) > 0 retries a failing
// lookup until that many seconds have passed.
Uri resolve(const Uri& uri, const Config& config = Config::global(), double delay = -1);

}  // namespace pyro
