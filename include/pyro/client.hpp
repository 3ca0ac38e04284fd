// client.hpp — Proxy: calls the methods of a remote Pyro object as if it were local. Relies on
// transport.hpp (Connection), serializer.hpp and config.hpp. Adds the handshake and metadata,
// synchronous and oneway calls with typed results, keyword arguments, remote attributes,
// correlation ids and annotations (through current_context()), timeouts, automatic retry and
// reconnect, remote iterators, asynchronous calls with futures, keep-serialized blobs, and Pyro5's
// one-thread ownership rule.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "pyro/config.hpp"
#include "pyro/future.hpp"
#include "pyro/serializer.hpp"
#include "pyro/transport.hpp"

namespace pyro {

class Proxy;

// A keyword argument: proxy.call("kwcall", 1, pyro::kw("b", 20)).
struct KeywordArg {
  std::string name;
  Value value;
};
template <class T>
KeywordArg kw(std::string name, T&& value) {
  return KeywordArg{std::move(name), to_value(std::forward<T>(value))};
}

namespace detail {
// Adds one call argument: pyro::kw(...) ones to the keywords, others to the positionals.
template <class A>
void add_argument(Value& positional, Value& keywords, A&& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, KeywordArg>) {
    keywords.as_dict().set(Value(a.name), std::move(a.value));
  } else {
    positional.append(to_value(std::forward<A>(a)));
  }
}
}  // namespace detail

// The items of a remote generator (Pyro's item streaming), fetched one call at a time.
// Resource type: move-only; closing it early (or destroying it) tells the daemon to drop the
// stream. It borrows the proxy that made it: the proxy must outlive it.
class RemoteIterator {
 public:
  RemoteIterator() = default;
  RemoteIterator(Proxy& proxy, std::string stream_id) : proxy_(&proxy), id_(std::move(stream_id)) {}
  RemoteIterator(RemoteIterator&& other) noexcept;
  RemoteIterator& operator=(RemoteIterator&& other) noexcept;
  ~RemoteIterator();

  // The next item, or nullopt at the end (the remote StopIteration).
  std::optional<Value> next();
  // Tells the daemon to drop the stream (Pyro's close_stream, oneway).
  void close();
  const std::string& id() const noexcept { return id_; }

  // Range-for support: for (const pyro::Value& item : proxy.stream("count", 5)) { ... }
  class iterator {
   public:
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(RemoteIterator* it) : it_(it) { ++*this; }
    const Value& operator*() const { return *current_; }
    iterator& operator++() {
      current_ = it_->next();
      if (!current_) it_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.it_ == b.it_; }

   private:
    RemoteIterator* it_ = nullptr;
    std::optional<Value> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  Proxy* proxy_ = nullptr;
  std::string id_;
  bool done_ = false;
};

// A connection to one remote object.
//
//   pyro::Proxy thermostat{"PYRO:example.thermostat@localhost:9999"};
//   double t = thermostat.call<double>("read");
//   thermostat.call("set", 21.5);
//   auto r = thermostat.call("kwcall", 1, pyro::kw("b", 2));
//
// The connection is made on first use (or bind()), released by release() or the destructor, and
// made again transparently after a communication error. A proxy belongs to one thread at a time
// (Pyro5's rule): the thread that created it, or the one that called claim_ownership() (moving a
// proxy hands it to the thread that uses it next).
// Resource type: move-only. Thread safety: thread-compatible, and checked.
class Proxy {
 public:
  explicit Proxy(Uri uri, const Config& config = Config::global());
  explicit Proxy(std::string_view uri, const Config& config = Config::global());
  explicit Proxy(const char* uri, const Config& config = Config::global())
      : Proxy(std::string_view(uri), config) {}
  // A proxy made from a received proxy value (a callback object passed as an argument): its
  // URI, handshake data, serializer, and Pyro4's timeout and retries when given; a proxy of a
  // Pyro4 daemon (state.pyro4) talks protocol 48 to it, with the HMAC key it carries.
  static Proxy from_state(const ProxyState& state, const Config& config = Config::global());
  // A proxy for object_id over a socket that is already connected to a daemon (Pyro's
  // connected_socket): no handshake; metadata is fetched with get_metadata. The user owns fd.
  static Proxy on_connected_socket(int fd, std::string object_id,
                                   const Config& config = Config::global());

  Proxy(Proxy&& other) noexcept;
  Proxy& operator=(Proxy&& other) noexcept;
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  ~Proxy();

  // Calls a remote method; arguments convert with to_value, pyro::kw(...) ones travel as keyword
  // arguments; the result converts to R with from_value. Throws the remote exception (Pyro's
  // errors as their pyro:: class, others as RemoteError), AttributeError for a name the object
  // does not expose (checked locally, like Pyro), CommunicationError and its subclasses.
  template <class R = Value, class... A>
  R call(std::string_view method, A&&... args) {
    Value positional = Value::tuple({});
    Value keywords = Value::dict();
    (detail::add_argument(positional, keywords, std::forward<A>(args)), ...);
    Value result = invoke(method, std::move(positional), std::move(keywords), 0);
    if constexpr (std::is_same_v<R, void>) {
      return;
    } else if constexpr (std::is_same_v<R, Value>) {
      return result;
    } else {
      return from_value<R>(result);
    }
  }
  // Arguments given as a tuple/list and a dict (or None).
  Value call_with(std::string_view method, Value args, Value kwargs);
  // A call that does not wait for a result, whether or not the method is declared oneway.
  template <class... A>
  void oneway(std::string_view method, A&&... args) {
    Value positional = Value::tuple({});
    Value keywords = Value::dict();
    (detail::add_argument(positional, keywords, std::forward<A>(args)), ...);
    invoke(method, std::move(positional), std::move(keywords), flags::oneway);
  }
  // Starts the call on a thread of its own and returns at once (Pyro4's asynchronous proxy): the
  // FutureResult gets the result or the exception. The calling thread's annotations and
  // correlation id go with the call. Calls through one proxy still run one at a time, in the
  // order they take its connection (a synchronous call waits for a running asynchronous one).
  template <class... A>
  FutureResult async_call(std::string_view method, A&&... args) {
    Value positional = Value::tuple({});
    Value keywords = Value::dict();
    (detail::add_argument(positional, keywords, std::forward<A>(args)), ...);
    return invoke_async(method, std::move(positional), std::move(keywords));
  }
  // Calls a method that returns a generator and iterates its items remotely.
  template <class... A>
  RemoteIterator stream(std::string_view method, A&&... args) {
    Value positional = Value::tuple({});
    Value keywords = Value::dict();
    (detail::add_argument(positional, keywords, std::forward<A>(args)), ...);
    return open_stream(method, std::move(positional), std::move(keywords));
  }

  // Remote attributes (exposed properties).
  Value get_attribute(std::string_view name);
  template <class R>
  R get(std::string_view name) {
    return from_value<R>(get_attribute(name));
  }
  void set_attribute(std::string_view name, Value value);
  template <class T>
  void set(std::string_view name, T&& value) {
    set_attribute(name, to_value(std::forward<T>(value)));
  }

  // Connects now (Pyro's _pyroBind); returns false when already connected.
  bool bind();
  // Closes the connection; the next call connects again.
  void release();
  // Releases, then tries to connect `tries` times, 2 s apart; ConnectionClosedError("failed to
  // reconnect") when none works.
  void reconnect(int tries = 100000000);
  // Makes the calling thread the owner.
  void claim_ownership();
  bool connected() const noexcept;

  const Uri& uri() const noexcept;
  // The protocol version it speaks: 502 (Pyro5) or 48 (Pyro4), from PROTOCOL_VERSION.
  std::uint16_t protocol() const noexcept;
  const std::set<std::string>& methods() const noexcept;
  const std::set<std::string>& oneway_methods() const noexcept;
  const std::set<std::string>& attributes() const noexcept;
  // The value form of this proxy (what it travels as).
  ProxyState state() const;

  // Per-proxy settings (Pyro's _pyroTimeout, _pyroMaxRetries, _pyroSerializer, _pyroHandshake).
  void set_timeout(double seconds);
  double timeout() const noexcept;
  void set_max_retries(int retries);
  void set_serializer(std::string_view name);
  void set_handshake(Value data);
  // What the daemon's handshake validator answered.
  const Value& handshake_response() const noexcept;
  // Called with the daemon's handshake answer; throwing refuses the connection (Pyro's
  // _pyroValidateHandshake).
  void set_handshake_validator(std::function<void(const Value&)> validator);
  // Registry for class dicts in results (Pyro's register_dict_to_class); may be null.
  void set_registry(const ClassRegistry* registry);
  // "127.0.0.1:50123" of the connected socket (empty when not connected).
  std::string local_address() const;

  // Sends queued calls as one Pyro batch ("<batch>" with FLAGS_BATCH, plus ONEWAY when asked);
  // used by BatchProxy. Returns the daemon's list of results (None for a oneway batch).
  Value invoke_batch(Value calls, bool oneway);
  // invoke_batch on a thread of its own (an asynchronous batch): the FutureResult's value is the
  // daemon's list of results, which BatchResults(value) iterates.
  FutureResult invoke_batch_async(Value calls);
  // How many items a remote iterator requests ahead (several get_next_stream_item requests in
  // flight; default 16, 1 = Pyro's one at a time). The daemon then produces up to that many
  // items before the client consumes them.
  void set_stream_readahead(int items);
  // Used by RemoteIterator: the next item (nullopt at the end), and dropping a stream.
  std::optional<Value> next_stream_item(const std::string& stream_id);
  void close_stream(const std::string& stream_id);
  Value invoke_internal(std::string_view object, std::string_view method, Value args,
                        std::uint16_t flags);

 private:
  struct State;
  Value invoke(std::string_view method, Value args, Value kwargs, std::uint16_t flags);
  RemoteIterator open_stream(std::string_view method, Value args, Value kwargs);
  FutureResult invoke_async(std::string_view method, Value args, Value kwargs);

  std::shared_ptr<State> state_;  // shared with the threads of asynchronous calls
};

// A proxy passed as an argument or returned travels as Pyro's proxy dict (its state()).
inline void to_value(Value& out, const Proxy& proxy) {
  to_value(out, proxy.state());
}

// The results of a batch, in call order. The daemon stops a batch at the first call that
// raises; reaching that result throws its exception (like iterating Pyro's batch results).
class BatchResults {
 public:
  BatchResults() = default;
  explicit BatchResults(Value results) : results_(std::move(results)) {}

  // The next result, or nullopt after the last one; throws the remote exception of a failed call.
  std::optional<Value> next();
  template <class R>
  R next_as() {
    std::optional<Value> v = next();
    if (!v) throw IndexError("no more batch results");
    return from_value<R>(*v);
  }
  // How many results the daemon sent (a failed call counts as one; later calls have none).
  std::size_t size() const noexcept { return results_.is_none() ? 0 : results_.size(); }

  class iterator {
   public:
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(BatchResults* owner) : owner_(owner) { advance(); }
    const Value& operator*() const { return *current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, const iterator& b) { return a.owner_ == b.owner_; }

   private:
    void advance() {
      current_ = owner_->next();
      if (!current_) owner_ = nullptr;
    }
    BatchResults* owner_ = nullptr;
    std::optional<Value> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  Value results_;
  std::size_t position_ = 0;
};

// Pyro's batch proxy: queues calls on a proxy and sends them in one message.
//   pyro::BatchProxy batch(proxy);
//   batch.add("add", 1, 2).add("upper", "x");
//   for (const pyro::Value& r : batch()) ...
// Names are not checked against the object's metadata (the daemon checks them, like Pyro).
class BatchProxy {
 public:
  explicit BatchProxy(Proxy& proxy) : proxy_(&proxy) {}

  template <class... A>
  BatchProxy& add(std::string_view method, A&&... args) {
    Value positional = Value::tuple({});
    Value keywords = Value::dict();
    (detail::add_argument(positional, keywords, std::forward<A>(args)), ...);
    return add_with(method, std::move(positional), std::move(keywords));
  }
  // Arguments given as a tuple/list and a dict.
  BatchProxy& add_with(std::string_view method, Value args, Value kwargs);
  std::size_t size() const noexcept { return calls_.size(); }

  // Sends the queued calls and clears the queue for reuse.
  BatchResults operator()();
  // Sends them as a oneway batch: no results, no errors from the calls.
  void run_oneway();
  // Sends them from a thread of its own (Pyro4's asynchronous batch); the result's value is the
  // list of results: BatchResults(future.value()) iterates it.
  FutureResult run_async();

 private:
  Value take_calls();

  Proxy* proxy_;
  ValueVector calls_;
  Value last_method_;  // the previous call's method name: a batch usually repeats it
};

}  // namespace pyro
