// uri.hpp — references to remote objects in their value form: Pyro URIs and proxy state.
// Relies on value.hpp. Adds parsing and printing of PYRO:/PYRONAME:/PYROMETA: URIs exactly as
// Pyro does (Pyro5/core.py URI), and the class dicts a URI or a proxy travels as. Making a proxy
// a live connection is the client layer's job; here it is only data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pyro/value.hpp"

namespace pyro {

// A Pyro URI: protocol, object (id, name, or metadata tags), and a location that is a TCP host
// and port, a Unix socket name, or absent. Regular value type; compares like Pyro's URI.__eq__.
//
//   Uri u{"PYRO:obj@localhost:9999"};      u.host() == "localhost", u.port() == 9999
//   Uri{"pyroname:my.name"}.str()          "PYRONAME:my.name"
class Uri {
 public:
  Uri() = default;
  // Parses like Pyro5's URI(); throws PyroError("invalid uri"), PyroError("invalid uri
  // (protocol)"), PyroError("invalid port in uri, port=..."), PyroError("invalid ipv6 address:
  // ...") or PyroError("invalid uri (location)").
  explicit Uri(std::string_view text);
  // PYRO:<object>@<host>:<port>
  static Uri for_tcp(std::string object, std::string host, std::int64_t port);
  // PYRO:<object>@./u:<socket>
  static Uri for_unix(std::string object, std::string socket_name);
  // Built from the five fields of Pyro's URI state, validated like a parsed URI.
  static Uri from_state(std::string protocol, std::string object,
                        std::optional<std::string> sockname, std::optional<std::string> host,
                        std::optional<std::int64_t> port);

  // "PYRO", "PYRONAME" or "PYROMETA".
  const std::string& protocol() const noexcept { return protocol_; }
  // The object id (PYRO) or name (PYRONAME); for PYROMETA the tags joined by ",".
  const std::string& object() const noexcept { return object_; }
  // PYROMETA's metadata tags (in the order written).
  const std::vector<std::string>& meta_tags() const noexcept { return tags_; }
  const std::optional<std::string>& sockname() const noexcept { return sockname_; }
  const std::optional<std::string>& host() const noexcept { return host_; }
  const std::optional<std::int64_t>& port() const noexcept { return port_; }
  bool is_unix_socket() const noexcept { return sockname_.has_value(); }

  // "host:port", "[ipv6]:port", "./u:name", or empty when there is no location.
  std::string location() const;
  // The canonical text, as Pyro's str(uri).
  std::string str() const;

  friend bool operator==(const Uri& a, const Uri& b) = default;

  // The Pyro class dict {"__class__": "Pyro5.core.URI", "state": (protocol, object, sockname,
  // host, port)} (class "Pyro4.core.URI" for the Pyro4 dialect).
  Value to_dict(Dialect dialect) const;

 private:
  void parse_location(std::string_view location, std::optional<std::int64_t> default_port);

  std::string protocol_;
  std::string object_;
  std::vector<std::string> tags_;
  std::optional<std::string> sockname_;
  std::optional<std::string> host_;
  std::optional<std::int64_t> port_;
};

// The name server's default port, used by PYRONAME/PYROMETA URIs without a port (Pyro's
// NS_PORT default; a Config may differ, the URI parser uses this constant like Pyro's import-time
// config does unless the caller passes another).
inline constexpr std::int64_t default_ns_port = 9090;

// What a proxy carries when it travels as a value (Pyro's Proxy.__getstate__): the URI, the
// metadata it already knows, its handshake data and serializer. Pyro4 adds timeout, HMAC key
// and retry count.
struct ProxyState {
  Uri uri;
  std::vector<std::string> oneway;
  std::vector<std::string> methods;
  std::vector<std::string> attrs;
  Value handshake = Value("hello");
  std::optional<std::string> serializer;  // null: the receiver's default
  // Pyro4 only
  double timeout = 0.0;
  std::optional<std::string> hmac_key;  // raw key bytes; travels as "b64:<base64>"
  std::int64_t max_retries = 0;
  // Whether it arrived in Pyro4's form: its daemon speaks protocol 48 (Proxy::from_state uses
  // that). Not part of equality.
  bool pyro4 = false;

  friend bool operator==(const ProxyState& a, const ProxyState& b);

  // {"__class__": "Pyro5.client.Proxy", "state": (uri, oneway, methods, attrs, handshake,
  // serializer)}, or the Pyro4 9-tuple form under "Pyro4.core.Proxy".
  Value to_dict(Dialect dialect) const;
};

// Conversions: a Uri or ProxyState becomes an object Value that each serializer writes as the
// class dict of its dialect. from_value accepts that object, the class dict of either
// dialect (a 7-element Pyrolite proxy state too), and for Uri a URI string.
void to_value(Value& out, const Uri& in);
void from_value(const Value& in, Uri& out);
void to_value(Value& out, const ProxyState& in);
void from_value(const Value& in, ProxyState& out);

// The Object wrappers that carry them inside a Value.
class UriObject final : public Object {
 public:
  explicit UriObject(Uri uri) : uri_(std::move(uri)) {}
  const Uri& uri() const noexcept { return uri_; }
  std::string class_name(Dialect dialect) const override;
  Value to_dict(Dialect dialect) const override { return uri_.to_dict(dialect); }
  bool equals(const Object& other) const noexcept override;
  std::size_t hash() const noexcept override;
  std::string repr() const override;

 private:
  Uri uri_;
};

class ProxyObject final : public Object {
 public:
  explicit ProxyObject(ProxyState state) : state_(std::move(state)) {}
  const ProxyState& state() const noexcept { return state_; }
  std::string class_name(Dialect dialect) const override;
  Value to_dict(Dialect dialect) const override { return state_.to_dict(dialect); }
  bool equals(const Object& other) const noexcept override;
  std::string repr() const override;

 private:
  ProxyState state_;
};

}  // namespace pyro
