// config.hpp — Pyro's configuration items as a value type, read from PYRO_* variables like Pyro5.
// Bottom of the stack: relies on errors.hpp only. Adds every Pyro5 config item with Pyro5's
// default (Pyro5/configure.py), the Pyro4 items a protocol 48 peer needs, name-based access with
// Pyro's conversions and messages, the pyro5-check-config dump, and the checks Pyro makes when a
// daemon or proxy starts using the configuration.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pyro {

// pyrocpp's own version, shown by Config::dump(); kept equal to project(VERSION) in CMakeLists.txt.
inline constexpr std::string_view version = "0.1.0";

// The configuration Pyro keeps in `Pyro5.config`: one member per item, named like the item in
// snake_case (NS_HOST is ns_host), holding Pyro5's default. Times are in seconds.
//
// A regular value type: copy it, change members, and hand it to whatever must behave differently;
// nothing reads a mutable global. Config::global() is the default every constructor falls back
// to: the environment of the process as Pyro5 would read it at import time, read once.
//
//   pyro::Config config = pyro::Config::global();
//   config.commtimeout = 5.0;
//   config.set("SERVERTYPE", "multiplex");   // with the conversions of a PYRO_SERVERTYPE variable
//
// Thread safety: thread-compatible; global() is immutable and safe to share.
struct Config {
  // ---- Pyro5's items, in Pyro5's order --------------------------------------------------------
  std::string host = "localhost";        // HOST: interface daemons bind to
  std::string ns_host = "localhost";     // NS_HOST: where proxies look for the name server
  int ns_port = 9090;                    // NS_PORT: name server TCP port, PYRONAME default port
  int ns_bcport = 9091;                  // NS_BCPORT: name server broadcast responder UDP port
  std::optional<std::string> ns_bchost;  // NS_BCHOST: responder bind address, none = all
  double ns_autoclean = 0.0;             // NS_AUTOCLEAN: cleanup period, 0 = off, else >= 3
  double ns_lookup_delay = 0.0;          // NS_LOOKUP_DELAY: how long a lookup keeps retrying
  std::optional<std::string> nathost;    // NATHOST: external host published in URIs
  int natport = 0;                       // NATPORT: external port, 0 = the bound port
  bool compression = false;              // COMPRESSION: zlib for payloads over 100 bytes
  std::string servertype = "thread";     // SERVERTYPE: "thread" or "multiplex"
  double commtimeout = 0.0;              // COMMTIMEOUT: socket timeout, 0 = none
  double polltimeout = 2.0;              // POLLTIMEOUT: server poll interval, housekeeping
  int max_retries = 0;                   // MAX_RETRIES: re-sends after a lost connection
  bool sock_reuse = true;                // SOCK_REUSE: SO_REUSEADDR
  bool sock_nodelay = false;             // SOCK_NODELAY: TCP_NODELAY
  bool detailed_traceback = false;       // DETAILED_TRACEBACK: verbose remote tracebacks
  int threadpool_size = 80;              // THREADPOOL_SIZE: most concurrent connections
  int threadpool_size_min = 4;           // THREADPOOL_SIZE_MIN: workers kept ready
  std::int64_t max_message_size = 1073741824;  // MAX_MESSAGE_SIZE: payload + annotations bytes
  std::vector<std::string> broadcast_addrs = {"<broadcast>", "0.0.0.0"};  // BROADCAST_ADDRS
  int prefer_ip_version = 0;            // PREFER_IP_VERSION: 0 = resolver's choice, 4 or 6
  std::string serializer = "serpent";   // SERIALIZER: serpent, json, marshal or msgpack
  bool serpent_bytes_repr = false;      // SERPENT_BYTES_REPR: bytes as b'...' literals
  bool iter_streaming = true;           // ITER_STREAMING: stream iterator results
  double iter_stream_lifetime = 0.0;    // ITER_STREAM_LIFETIME: 0 = unlimited
  double iter_stream_linger = 30.0;     // ITER_STREAM_LINGER: kept for a reconnecting client
  std::string logfile = "pyro5.log";    // LOGFILE: log file, "{stderr}" for standard error
  std::optional<std::string> loglevel;  // LOGLEVEL: DEBUG ... CRITICAL, none = logging off
  bool logwire = false;                 // LOGWIRE: log every message
  bool ssl = false;                     // SSL: TLS on every connection
  std::string ssl_servercert;           // SSL_SERVERCERT: PEM certificate file
  std::string ssl_serverkey;            // SSL_SERVERKEY: PEM key file
  std::string ssl_serverkeypasswd;      // SSL_SERVERKEYPASSWD
  bool ssl_requireclientcert = false;   // SSL_REQUIRECLIENTCERT: two-way TLS
  std::string ssl_clientcert;           // SSL_CLIENTCERT
  std::string ssl_clientkey;            // SSL_CLIENTKEY
  std::string ssl_clientkeypasswd;      // SSL_CLIENTKEYPASSWD
  std::string ssl_cacerts;              // SSL_CACERTS: CA file or directory of hashed PEMs

  // ---- Pyro4's items that protocol 48 needs (Pyro4/configuration.py) ---------------------------
  // HMAC_KEY: the key signing protocol 48 messages, PYRO_HMAC_KEY as Pyro4's tools read it. Pyro4
  // keeps it per proxy and daemon; this is the default they take. Protocol 502 has no HMAC.
  std::optional<std::string> hmac_key;
  // SERIALIZERS_ACCEPTED: what a daemon accepts from protocol 48 clients (Pyro5 accepts all).
  std::set<std::string> serializers_accepted = {"serpent", "marshal", "json"};

  // ---- pyrocpp's own ---------------------------------------------------------------------------
  // PROTOCOL_VERSION: 502 speaks Pyro5's protocol, 48 Pyro4's. Its variable is
  // PYROCPP_PROTOCOL_VERSION: Python Pyro5 refuses to import beside an unknown PYRO_* variable.
  int protocol_version = 502;

  // Pyro5's defaults; the environment is not consulted.
  static Config defaults();
  // The defaults overridden by the process environment as Pyro5's reset(use_environment=True)
  // does: every PYRO_<ITEM> variable sets its item, converted as set() converts. Pyro4's names
  // (HMAC_KEY, SERIALIZERS_ACCEPTED and the Pyro4 items pyrocpp has no use for, see
  // docs/config.md) are accepted rather than refused. PYROCPP_PROTOCOL_VERSION sets
  // protocol_version; other PYROCPP_* variables are not ours to judge and are left alone.
  // Throws ValueError for an unknown PYRO_* name or an unconvertible value.
  static Config from_environment();
  // from_environment() of the first call, kept for the life of the process. Thread-safe; when the
  // environment is invalid every call throws what from_environment() throws.
  static const Config& global();

  // The item names get() and set() know: Pyro5's in Pyro5's order, then HMAC_KEY,
  // SERIALIZERS_ACCEPTED and PROTOCOL_VERSION.
  static std::vector<std::string> item_names();

  // An item as Python's str() shows it: True/False, None, 2.0, ['<broadcast>', '0.0.0.0'].
  // Throws ValueError("invalid Pyro environment config variable: PYRO_<ITEM>") for an unknown name.
  std::string get(std::string_view item) const;
  // Sets an item from text exactly as its environment variable would (see docs/config.md):
  // booleans 0/off/no/false and 1/yes/on/true in any case, integers and floats as Python's int()
  // and float() read them, lists split on ',' and stripped, strings verbatim. Throws ValueError
  // with Pyro's messages ("invalid boolean value: PYRO_X=v", "invalid Pyro environment config
  // value: PYRO_X=v", "invalid Pyro environment config variable: PYRO_X").
  void set(std::string_view item, std::string_view value);

  // The report of pyro5-check-config: versions, where the code was loaded from, then every item
  // sorted by name as `NAME = value`. An HMAC key is masked.
  std::string dump() const;

  // The checks Pyro makes where it first uses an item, made at once: throws PyroError("invalid
  // server type 'x'"), or ValueError for thread pool sizes below 1 or min above max, a NATPORT
  // without NATHOST, NS_AUTOCLEAN between 0 and 3, an unknown SERIALIZER, PREFER_IP_VERSION other
  // than 0, 4 or 6, PROTOCOL_VERSION other than 502 or 48, or an unknown LOGLEVEL.
  void validate() const;

  friend bool operator==(const Config&, const Config&) = default;
};

}  // namespace pyro
