// server.hpp — the Daemon: exposes C++ objects to Pyro clients. Relies on transport.hpp (it is
// the MessageHandler of a MessageServer), serializer.hpp and config.hpp. Adds exposure
// declarations (Exposed<T>), call dispatch with Pyro's exposure rules and error replies, the
// handshake, instance modes, the built-in Pyro.Daemon object, batch calls, attribute access,
// item streams and autoproxies.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pyro/config.hpp"
#include "pyro/generator.hpp"
#include "pyro/serializer.hpp"
#include "pyro/transport.hpp"

namespace pyro {

class Daemon;

// A remote iterator: a method returning one is streamed to the client item by item (Pyro's
// item streaming). The function returns the next item, or nullopt at the end.
// Thread safety: the daemon calls it from one thread at a time.
class ItemStream {
 public:
  ItemStream() = default;
  explicit ItemStream(std::function<std::optional<Value>()> next) : next_(std::move(next)) {}
  // Streams the items of a container (copied into the stream).
  template <class Container>
  static ItemStream from(Container items) {
    auto shared = std::make_shared<Container>(std::move(items));
    auto it = std::make_shared<typename Container::const_iterator>(shared->cbegin());
    return ItemStream([shared, it]() -> std::optional<Value> {
      if (*it == shared->cend()) return std::nullopt;
      return to_value(*(*it)++);
    });
  }
  // Streams what a coroutine yields:
  //   pyro::Generator<int> count(int n) { for (int i = 0; i < n; ++i) co_yield i; }
  //   .method("count", [](Counter&, int n) { return pyro::ItemStream(count(n)); })
  // Dropping the stream (closed, expired, client gone) destroys the coroutine's frame.
  template <class T>
  explicit ItemStream(Generator<T> generator) {
    auto g = std::make_shared<Generator<T>>(std::move(generator));
    next_ = [g]() -> std::optional<Value> {
      std::optional<T> item = g->next();
      if (!item) return std::nullopt;
      return to_value(std::move(*item));
    };
  }
  std::optional<Value> next() { return next_(); }
  explicit operator bool() const noexcept { return static_cast<bool>(next_); }

 private:
  std::function<std::optional<Value>()> next_;
};

// The arguments of one call as they arrived: positional (from a tuple or list) and keyword
// (a dict; empty for none).
struct CallArgs {
  std::span<const Value> positional;
  const Dict* keywords = nullptr;
};

namespace detail {

// What one exposed name does.
struct Member {
  enum class Kind { method, oneway, property, unexposed };
  Kind kind = Kind::method;
  std::function<Value(void* self, const CallArgs& args)> call;  // methods
  std::function<Value(void* self)> get;                         // properties
  std::function<void(void* self, const Value& value)> set;      // properties (may be empty)
  // Pyro's @callback: an exception is also logged on this side and closes the connection.
  bool callback = false;
};

// Type-erased exposure of one C++ class.
struct ObjectType {
  std::string class_name;  // Python's type(obj).__name__ in error messages
  std::map<std::string, Member, std::less<>> members;
  std::vector<std::string> accepted_classes;  // class dicts its parameters take (PYRO_FIELDS)
  // The object's state as a Value when the class converts to one (PYRO_FIELDS, to_value): what
  // the marshal serializer sends for a returned registered object, which it cannot proxy.
  std::function<Value(const void* self)> state;
};

template <class T>
concept HasPyroClassName = requires {
  pyro_class_name(static_cast<const T*>(nullptr));
};

// An object returned by a method as a shared_ptr: the daemon sends a proxy for it when it is
// registered (Pyro's autoproxy).
class LocalObjectRef final : public Object {
 public:
  LocalObjectRef(std::shared_ptr<void> object, std::string type_name)
      : object_(std::move(object)), type_name_(std::move(type_name)) {}
  const std::shared_ptr<void>& object() const noexcept { return object_; }
  std::string class_name(Dialect) const override { return type_name_; }
  Value to_dict(Dialect) const override;

 private:
  std::shared_ptr<void> object_;
  std::string type_name_;
};

// An item stream inside a Value (what an exposed method returning ItemStream produces); the
// daemon turns it into Pyro's stream announcement.
class StreamObject final : public Object {
 public:
  explicit StreamObject(ItemStream s) : stream(std::move(s)) {}
  std::string class_name(Dialect) const override { return "generator"; }
  Value to_dict(Dialect) const override;
  mutable ItemStream stream;
};

std::string demangle(const char* mangled);
// DaemonError for a private name ("_x"; dunder names "__x__" are allowed).
void check_exposed_name(const std::string& name);
[[noreturn]] void throw_arity_error(const std::string& qualname, std::size_t expected,
                                    std::size_t given);
[[noreturn]] void throw_missing_arguments(const std::string& qualname,
                                          const std::vector<std::string>& missing);
[[noreturn]] void throw_unexpected_keyword(const std::string& qualname, std::string_view key);
[[noreturn]] void throw_multiple_values(const std::string& qualname, std::string_view name);
[[noreturn]] void throw_argument_error(const std::string& qualname, std::size_t index,
                                       const std::string& name, const std::exception& e);

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_shared_ptr : std::false_type {};
template <class T>
struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

// Converts a method's return value: void → None, ItemStream stays a stream (the daemon takes it
// out of the Value), shared_ptr<U> → a reference the daemon turns into a proxy.
template <class R>
Value result_value(R&& r) {
  using D = std::decay_t<R>;
  if constexpr (std::is_same_v<D, ItemStream>) {
    return Value::object(std::make_shared<StreamObject>(std::forward<R>(r)));
  } else if constexpr (is_shared_ptr<D>::value) {
    if (!r) return Value();
    return Value::object(std::make_shared<LocalObjectRef>(
        std::static_pointer_cast<void>(
            std::const_pointer_cast<std::remove_const_t<typename D::element_type>>(r)),
        demangle(typeid(typename D::element_type).name())));
  } else {
    return pyro::to_value(r);
  }
}

// Binds CallArgs to the parameters of a C++ function and calls it.
template <class... Args>
struct Binder {
  static constexpr std::size_t arity = sizeof...(Args);

  template <class F>
  static Value call(F&& f, const CallArgs& a, const std::string& qualname,
                    const std::vector<std::string>& names) {
    if (a.positional.size() > arity) throw_arity_error(qualname, arity, a.positional.size());
    std::array<const Value*, arity + 1> slots{};
    for (std::size_t i = 0; i < a.positional.size(); ++i)
      slots[i] = &a.positional[i];
    if (a.keywords != nullptr) {
      for (const auto& [key, value] : *a.keywords) {
        const std::string_view k = key.is_str() ? key.as_str() : std::string_view();
        std::size_t index = arity;
        for (std::size_t i = 0; i < names.size() && i < arity; ++i) {
          if (names[i] == k) index = i;
        }
        if (index == arity) throw_unexpected_keyword(qualname, k);
        if (slots[index] != nullptr) throw_multiple_values(qualname, k);
        slots[index] = &value;
      }
    }
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      check_missing<I...>(slots, qualname, names);
      if constexpr (std::is_void_v<std::invoke_result_t<F, Args...>>) {
        std::forward<F>(f)(arg<I, Args>(slots[I], qualname, names)...);
        return Value();
      } else {
        return result_value(std::forward<F>(f)(arg<I, Args>(slots[I], qualname, names)...));
      }
    }
    (std::index_sequence_for<Args...>{});
  }

 private:
  template <std::size_t... I>
  static void check_missing(const std::array<const Value*, arity + 1>& slots,
                            const std::string& qualname, const std::vector<std::string>& names) {
    std::vector<std::string> missing;
    (
        [&] {
          using A = std::decay_t<std::tuple_element_t<I, std::tuple<Args...>>>;
          if (slots[I] == nullptr && !is_optional<A>::value) {
            missing.push_back(I < names.size() ? names[I] : "arg" + std::to_string(I));
          }
        }(),
        ...);
    if (!missing.empty()) throw_missing_arguments(qualname, missing);
  }

  template <std::size_t I, class A>
  static std::decay_t<A> arg(const Value* v, const std::string& qualname,
                             const std::vector<std::string>& names) {
    using D = std::decay_t<A>;
    if (v == nullptr) return D{};  // an omitted optional parameter
    if constexpr (std::is_same_v<D, Value>) {
      return *v;
    } else {
      try {
        return from_value<D>(*v);
      } catch (const std::exception& e) {
        throw_argument_error(qualname, I, I < names.size() ? names[I] : "arg" + std::to_string(I),
                             e);
      }
    }
  }
};

template <class F>
struct CallableTraits : CallableTraits<decltype(&F::operator())> {};
template <class C, class R, class Self, class... A>
struct CallableTraits<R (C::*)(Self, A...) const> {
  using self = Self;
  using binder = Binder<A...>;
};
template <class C, class R, class Self, class... A>
struct CallableTraits<R (C::*)(Self, A...)> {
  using self = Self;
  using binder = Binder<A...>;
};

template <class T, class... A>
void collect_classes(std::vector<std::string>& out) {
  (
      [&] {
        using D = std::decay_t<A>;
        if constexpr (HasPyroClassName<D>)
          out.emplace_back(pyro_class_name(static_cast<const D*>(nullptr)));
      }(),
      ...);
}

}  // namespace detail

// How a class is exposed: which methods (and which of them are oneway) and which properties
// remote callers may use, under which names. Everything not declared is not callable, and names
// starting with "_" cannot be declared (Pyro's private names).
//
//   pyro::Exposed<Thermostat>("Thermostat")
//       .method("read", &Thermostat::read)
//       .method("set", &Thermostat::set, {"celsius"})      // parameter names enable kwargs
//       .oneway("reset", &Thermostat::reset)
//       .property("target", &Thermostat::target)
//       .raw("configure", [](Thermostat& t, const pyro::CallArgs& a) { ... return pyro::Value();
//       });
//
// Parameters convert with from_value (std::optional parameters may be left out; a pyro::Value
// parameter takes anything); return values with to_value; returning pyro::ItemStream streams;
// returning std::shared_ptr<U> of an object registered in the daemon sends a proxy to it.
template <class T>
class Exposed {
 public:
  // class_name: what Python error messages call the type ("'Service' object has no attribute
  // 'x'"); default: the C++ class name without namespaces.
  explicit Exposed(std::string class_name = {}) {
    type_.class_name =
        class_name.empty() ? short_name(detail::demangle(typeid(T).name())) : std::move(class_name);
    if constexpr (ValueConvertible<T>) {
      type_.state = [](const void* self) { return pyro::to_value(*static_cast<const T*>(self)); };
    }
  }

  template <class R, class... A>
  Exposed& method(std::string name, R (T::*fn)(A...), std::vector<std::string> params = {}) {
    return add_method(std::move(name), std::move(params), fn, detail::Binder<A...>{}, false);
  }
  template <class R, class... A>
  Exposed& method(std::string name, R (T::*fn)(A...) const, std::vector<std::string> params = {}) {
    return add_method(std::move(name), std::move(params), fn, detail::Binder<A...>{}, false);
  }
  // A callable taking T& first: [](T& self, int x) { ... }.
  template <class F>
  requires(!std::is_member_function_pointer_v<F>) Exposed& method(
      std::string name, F fn, std::vector<std::string> params = {}) {
    return add_callable(std::move(name), std::move(params), std::move(fn), false);
  }
  template <class R, class... A>
  Exposed& oneway(std::string name, R (T::*fn)(A...), std::vector<std::string> params = {}) {
    return add_method(std::move(name), std::move(params), fn, detail::Binder<A...>{}, true);
  }
  template <class R, class... A>
  Exposed& oneway(std::string name, R (T::*fn)(A...) const, std::vector<std::string> params = {}) {
    return add_method(std::move(name), std::move(params), fn, detail::Binder<A...>{}, true);
  }
  template <class F>
  requires(!std::is_member_function_pointer_v<F>) Exposed& oneway(
      std::string name, F fn, std::vector<std::string> params = {}) {
    return add_callable(std::move(name), std::move(params), std::move(fn), true);
  }
  // A method called back by a server (Pyro's @callback): besides going back to the caller, an
  // exception it throws is logged here as a warning, with its traceback, and the caller's
  // connection is closed (as Pyro re-raises it in the daemon).
  template <class Fn>
  Exposed& callback(std::string name, Fn fn, std::vector<std::string> params = {}) {
    const std::string key = name;
    method(std::move(name), std::move(fn), std::move(params));
    type_.members[key].callback = true;
    return *this;
  }
  // Full control over the arguments: fn(T&, const CallArgs&) -> Value.
  Exposed& raw(std::string name, std::function<Value(T&, const CallArgs&)> fn,
               bool oneway = false) {
    check_name(name);
    detail::Member m;
    m.kind = oneway ? detail::Member::Kind::oneway : detail::Member::Kind::method;
    m.call = [fn = std::move(fn)](void* self, const CallArgs& a) {
      return fn(*static_cast<T*>(self), a);
    };
    type_.members[std::move(name)] = std::move(m);
    return *this;
  }
  // A data member read and written remotely.
  template <class V>
  Exposed& property(std::string name, V T::*member) {
    check_name(name);
    detail::Member m;
    m.kind = detail::Member::Kind::property;
    m.get = [member](void* self) { return to_value(static_cast<T*>(self)->*member); };
    m.set = [member](void* self, const Value& v) {
      static_cast<T*>(self)->*member = from_value<V>(v);
    };
    type_.members[std::move(name)] = std::move(m);
    return *this;
  }
  // A property with a getter and, optionally, a setter (callables taking T&).
  template <class G>
  Exposed& property(std::string name, G getter) {
    return property(std::move(name), std::move(getter), nullptr);
  }
  template <class G, class S>
  Exposed& property(std::string name, G getter, S setter) {
    check_name(name);
    detail::Member m;
    m.kind = detail::Member::Kind::property;
    m.get = [getter](void* self) {
      return detail::result_value(std::invoke(getter, *static_cast<T*>(self)));
    };
    if constexpr (!std::is_same_v<S, std::nullptr_t>) {
      m.set = [setter](void* self, const Value& v) {
        using Arg = std::decay_t<typename setter_arg<S>::type>;
        std::invoke(setter, *static_cast<T*>(self), from_value<Arg>(v));
      };
    }
    type_.members[std::move(name)] = std::move(m);
    return *this;
  }
  // A name the object has but does not expose: calling it gives Pyro's "attempt to access
  // unexposed attribute" instead of "object has no attribute".
  Exposed& unexposed(std::string name) {
    detail::Member m;
    m.kind = detail::Member::Kind::unexposed;
    type_.members[std::move(name)] = std::move(m);
    return *this;
  }

  const detail::ObjectType& type() const noexcept { return type_; }

 private:
  template <class S>
  struct setter_arg;
  template <class C, class R, class A>
  struct setter_arg<R (C::*)(A)> {
    using type = A;
  };
  template <class F>
  struct setter_arg : setter_arg<decltype(&F::operator())> {};
  template <class C, class R, class Self, class A>
  struct setter_arg<R (C::*)(Self, A) const> {
    using type = A;
  };

  static std::string short_name(const std::string& qualified) {
    const auto colon = qualified.rfind("::");
    return colon == std::string::npos ? qualified : qualified.substr(colon + 2);
  }

  void check_name(const std::string& name) const { detail::check_exposed_name(name); }

  template <class Fn, class... A>
  Exposed& add_method(std::string name, std::vector<std::string> params, Fn fn,
                      detail::Binder<A...>, bool oneway) {
    check_name(name);
    detail::collect_classes<T, A...>(type_.accepted_classes);
    detail::Member m;
    m.kind = oneway ? detail::Member::Kind::oneway : detail::Member::Kind::method;
    std::string qualname = type_.class_name + "." + name;
    m.call = [fn, params = std::move(params), qualname = std::move(qualname)](void* self,
                                                                              const CallArgs& a) {
      T& obj = *static_cast<T*>(self);
      return detail::Binder<A...>::call(
          [&](auto&&... args) -> decltype(auto) {
            return (obj.*fn)(std::forward<decltype(args)>(args)...);
          },
          a, qualname, params);
    };
    type_.members[std::move(name)] = std::move(m);
    return *this;
  }

  template <class F>
  Exposed& add_callable(std::string name, std::vector<std::string> params, F fn, bool oneway) {
    check_name(name);
    using Traits = detail::CallableTraits<F>;
    detail::Member m;
    m.kind = oneway ? detail::Member::Kind::oneway : detail::Member::Kind::method;
    std::string qualname = type_.class_name + "." + name;
    m.call = [fn = std::move(fn), params = std::move(params), qualname = std::move(qualname)](
                 void* self, const CallArgs& a) {
      T& obj = *static_cast<T*>(self);
      return Traits::binder::call(
          [&](auto&&... args) -> decltype(auto) {
            return fn(obj, std::forward<decltype(args)>(args)...);
          },
          a, qualname, params);
    };
    type_.members[std::move(name)] = std::move(m);
    return *this;
  }

  detail::ObjectType type_;
};

// How instances of a registered class are made (Pyro's @behavior): one for everybody, one per
// client connection (the default for classes), or a new one for every call.
enum class InstanceMode { single, session, percall };

// Construction options of a Daemon; unset fields come from the Config.
struct DaemonOptions {
  std::optional<std::string> host;  // HOST
  int port = 0;
  std::optional<std::string> unixsocket;  // instead of TCP
  std::optional<std::string> nathost;     // NATHOST
  std::optional<int> natport;             // NATPORT (0: the bound port)
  std::optional<int> connected_socket;    // serve one already connected socket (socketpair)
};

// The connection-level information a handshake validator sees.
struct HandshakeInfo {
  Session& session;
  const Value& data;  // what the proxy sent (its handshake data)
};

// A parameter of a raw method (Exposed::raw) for bind_arguments: its name and its default
// (nullopt: required).
struct Param {
  std::string name;
  std::optional<Value> default_value;
};

// Binds a raw method's arguments to its parameters as Python binds them, giving one Value per
// parameter (defaults filled in). Errors are Python's TypeErrors, naming qualname
// ("NameServer.lookup() missing 1 required positional argument: 'name'").
std::vector<Value> bind_arguments(const std::string& qualname, const std::vector<Param>& params,
                                  const CallArgs& args);

// Serves exposed objects on one endpoint.
//
//   pyro::Daemon daemon;                               // HOST, port 0
//   pyro::Uri uri = daemon.expose(std::make_shared<Thermostat>(), "example.thermostat", exposed);
//   daemon.request_loop();
//
// Resource type: immovable; the destructor shuts down. Thread safety: thread-safe; expose() and
// unexpose() may run while the request loop runs. Objects exposed with InstanceMode::single
// (and objects given as instances) are called from several pool threads at once: they must be
// thread-safe, as in Pyro.
class Daemon {
 public:
  explicit Daemon(DaemonOptions options = {}, const Config& config = Config::global());
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Registers an instance under id (empty: a generated "obj_<32 hex digits>") and returns its
  // URI (NAT-aware). Throws DaemonError when the id is taken.
  template <class T>
  Uri expose(std::shared_ptr<T> object, std::string id, const Exposed<T>& exposed) {
    return register_object(
        std::move(id), std::make_shared<detail::ObjectType>(exposed.type()),
        [object]() { return std::static_pointer_cast<void>(object); }, InstanceMode::single,
        object);
  }
  // Registers a class: instances come from factory according to mode.
  template <class T>
  Uri expose_class(std::function<std::shared_ptr<T>()> factory, std::string id,
                   const Exposed<T>& exposed, InstanceMode mode = InstanceMode::session) {
    return register_object(
        std::move(id), std::make_shared<detail::ObjectType>(exposed.type()),
        [factory = std::move(factory)]() { return std::static_pointer_cast<void>(factory()); },
        mode, nullptr);
  }
  // Removes a registration (the Pyro.Daemon object stays). Returns whether it was there.
  bool unexpose(std::string_view id);
  // Object ids currently registered, Pyro.Daemon included.
  std::vector<std::string> registered() const;

  // The URI of a registered id; with nat, the NAT location when one is configured.
  Uri uri_for(std::string_view id, bool nat = true) const;
  // A proxy for a registered id, as it travels to another party (for callbacks: pass it as an
  // argument and the receiver calls it). Throws DaemonError for an unknown id.
  ProxyState proxy_for(std::string_view id) const;
  // "localhost:40057", "[::1]:40057", "./u:/path", or NAT's "host:port".
  std::string location() const;
  // The IP address the daemon's socket is bound to (Pyro's sock.getsockname()[0]); empty for a
  // Unix socket.
  std::string bound_address() const;
  std::optional<std::string> nat_location() const;

  // Serves requests until shutdown(). The calling thread is one of the pool's.
  void request_loop();
  // Serves on background threads and returns.
  void start();
  // Stops serving; calls in progress finish first. Safe from any thread, also inside a call.
  void shutdown();

  // Hooks (set before serving). The handshake validator gets the proxy's handshake data and
  // returns the data to send back (Pyro's validateHandshake; default: "hello"); throwing refuses
  // the connection with the exception's text.
  void set_handshake_validator(std::function<Value(const HandshakeInfo&)> validator);
  // Extra annotations on every reply (Pyro's Daemon.annotations()).
  void set_annotations_hook(std::function<Annotations()> hook);
  // Called when a client connection closes (Pyro's clientDisconnect).
  void set_client_disconnect_hook(std::function<void(Session&)> hook);
  // Called with the exception of a oneway call (Pyro's methodcall_error_handler).
  void set_oneway_error_handler(std::function<void(const ExceptionInfo&)> handler);

  // The registry used to reconstruct class dicts in arguments (PYRO_FIELDS parameter types of
  // exposed methods are accepted automatically).
  ClassRegistry& registry() noexcept;
  const Config& config() const noexcept;
  // Pyro's Daemon.info() text.
  std::string info() const;
  // Item streams open (or lingering for their client's return); Pyro's len(streaming_responses).
  std::size_t stream_count() const;

  class Impl;

 private:
  Uri register_object(std::string id, std::shared_ptr<detail::ObjectType> type,
                      std::function<std::shared_ptr<void>()> factory, InstanceMode mode,
                      std::shared_ptr<void> instance);

  std::unique_ptr<Impl> impl_;
};

}  // namespace pyro
