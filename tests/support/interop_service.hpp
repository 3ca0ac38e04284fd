// interop_service.hpp — test support: the service the recorded interop vectors talk to
// (tests/vectors/README.md, "Peers and objects"), written in C++: object "example.service" of
// Python class Service and object "example.sub" of class Sub, exposed in a Daemon like the
// recorded Python daemon exposed them. Relies on server.hpp. Used by the golden replays; its
// behaviour is inferred from the recorded steps (arguments → results), method by method.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "pyro/server.hpp"

namespace pyro::testing {

// The object registered as "example.sub": whoami() answers "sub:<name>".
// Thread safety: immutable.
struct InteropSub {
  std::string name = "one";
};
PYRO_FIELDS(InteropSub, "interop_service.Sub", name)

// The object registered as "example.service".
//   calc(a, s, f) -> [2a, s.upper(), 2f]    kwcall(a, b, c, **extra) -> {a, b, c, extra}
//   echo(v) -> v                             add(a, b) -> a + b         upper(s) -> s.upper()
//   fail_value(text): ValueError("invalid value: <text>")
//   fail_custom(code): interop_service.InteropError("custom failure", code), attribute code
//   fire(v) (oneway) stores v; last() returns it    count(n): generator "item-0" ... "item-<n-1>"
//   annotated(x): the request annotations as {id: text}; response annotation XSRV "reply to <x>"
//   correlation(): the request's correlation id as text       make_sub(): the registered sub
//   property value (42 at start); hidden(): exists, not exposed
// Thread safety: thread-safe (single instance mode: the daemon calls it from several threads).
class InteropService {
 public:
  explicit InteropService(std::shared_ptr<InteropSub> sub) : sub_(std::move(sub)) {}

  std::shared_ptr<InteropSub> make_sub() const { return sub_; }
  void fire(Value v);
  Value last() const;
  Value value() const;
  void set_value(Value v);

 private:
  std::shared_ptr<InteropSub> sub_;
  mutable std::mutex mutex_;
  Value last_;               // guarded by mutex_
  Value value_ = Value(42);  // guarded by mutex_
};

// How the recorded daemon was set up (scenario.json setup.peers.daemon.kind).
enum class InteropKind {
  service,  // the plain service
  guarded,  // the service behind a handshake validator that wants {"token": "let-me-in"}
};

struct InteropPeers {
  std::shared_ptr<InteropService> service;
  std::shared_ptr<InteropSub> sub;
};

// Exposes both objects in the daemon under their recorded ids and, for `guarded`, installs the
// handshake validator (answer {"welcome": True, "server": "guarded"}, or refusal with
// ValueError("handshake rejected: bad token")).
InteropPeers expose_interop_service(Daemon& daemon, InteropKind kind);

}  // namespace pyro::testing
