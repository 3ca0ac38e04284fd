// client.cpp — Proxy and RemoteIterator: Pyro5's client.Proxy over a Connection.
#include "pyro/client.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/logger.h>

#include "pyro/locate.hpp"
#include "pyro/log.hpp"

namespace pyro {

namespace {

constexpr std::string_view daemon_object_id = "Pyro.Daemon";

// What a call returns internally when the daemon answered with an item stream: the tuple
// (stream_marker, stream id); stream_of() recognizes it.
constexpr std::string_view stream_marker = "__pyrocpp_stream__";

std::optional<std::string> stream_of(const Value& result) {
  if (result.is_tuple() && result.size() == 2 && result[0].is_str() &&
      result[0].as_str() == stream_marker) {
    return std::string(result[1].as_str());
  }
  return std::nullopt;
}

std::set<std::string> names_of(const Value& v) {
  std::set<std::string> out;
  if (v.is_none()) return out;
  std::span<const Value> items;
  if (v.is_any_set()) {
    items = v.as_set().items();
  } else if (v.is_sequence()) {
    items = v.items();
  } else {
    throw ProtocolError("invalid metadata: expected a collection of names, got " +
                        std::string(v.type_name()));
  }
  for (const auto& item : items)
    out.emplace(item.as_str());
  return out;
}

// How Pyro names a connection target in messages: the socket path or Python's address tuple.
std::string connect_location(const Uri& uri) {
  if (uri.sockname()) return *uri.sockname();
  return "('" + uri.host().value_or("") + "', " + std::to_string(uri.port().value_or(0)) + ")";
}

}  // namespace

struct Proxy::State {
  Uri uri;
  Config config;
  std::string object_id;
  std::optional<int> connected_socket;
  Connection connection;
  std::uint16_t seq = 0;
  std::uint16_t protocol = protocol_502;
  const Serializer* serializer = nullptr;
  double timeout = 0;
  int max_retries = 0;
  Value handshake = Value("hello");
  Value handshake_response;
  std::function<void(const Value&)> handshake_validator;
  const ClassRegistry* registry = nullptr;
  std::set<std::string> methods, oneway, attrs;
  bool have_metadata = false;
  std::optional<std::thread::id> owner;
  // Held by whoever uses the connection: the owner's calls and asynchronous calls' threads.
  std::mutex call_mutex;
  std::size_t stream_readahead = 16;

  void check_owner() {
    const auto me = std::this_thread::get_id();
    if (!owner) {
      owner = me;
    } else if (*owner != me) {
      throw PyroError(
          "the calling thread is not the owner of this proxy, create a new proxy in this thread or "
          "transfer "
          "ownership.");
    }
  }
  // For a call of `name`: the metadata (connecting when there is none yet), and Pyro's local
  // refusal of a name the object does not expose.
  void require_exposed(const std::set<std::string>& names, std::string_view name,
                       const char* what) {
    if (!have_metadata) connect();
    if (!names.contains(std::string(name))) {
      throw AttributeError("remote object '" + uri.str() + "' has no exposed " + what + " '" +
                           std::string(name) + "'");
    }
  }

  Dialect dialect() const { return protocol == protocol_48 ? Dialect::pyro4 : Dialect::pyro5; }

  EncodeOptions encode_options() const {
    EncodeOptions o;
    o.dialect = dialect();
    o.bytes_repr = config.serpent_bytes_repr;
    o.registry = registry;
    return o;
  }

  EncodeSettings settings() const {
    EncodeSettings s;
    s.compress = config.compression;
    s.max_message_size = static_cast<std::size_t>(config.max_message_size);
    s.hmac_key = config.hmac_key ? &*config.hmac_key : nullptr;
    return s;
  }

  Message new_message(MessageType type, std::uint16_t flags, std::uint16_t message_seq) const {
    const CallContext& ctx = current_context();
    Message m;
    m.protocol = protocol;
    m.type = type;
    m.serializer_id = serializer->id(dialect());
    m.flags = flags;
    m.seq = message_seq;
    m.correlation_id = ctx.correlation_id;
    if (ctx.correlation_id && protocol == protocol_502) m.flags |= flags::corr_id;
    m.annotations = ctx.annotations;
    return m;
  }

  void process_metadata(const Value& meta) {
    if (!meta.is_dict()) throw ProtocolError("invalid metadata: " + meta.repr());
    const Value* m = meta.find("methods");
    const Value* o = meta.find("oneway");
    const Value* a = meta.find("attrs");
    methods = m ? names_of(*m) : std::set<std::string>();
    oneway = o ? names_of(*o) : std::set<std::string>();
    attrs = a ? names_of(*a) : std::set<std::string>();
    if (methods.empty() && attrs.empty()) {
      throw PyroError(
          "remote object '" + uri.str() +
          "' doesn't expose any methods or attributes. Did you forget setting @expose on them?");
    }
    have_metadata = true;
  }

  // Reads a reply, which must speak the proxy's protocol: a daemon of the other generation answers
  // in its own (a CONNECTFAIL whose serializer ids mean something else here, perhaps signed), and
  // the reader refuses it by its version first, as Pyro5's and Pyro4's proxies do.
  Message receive(Connection& conn) const {
    return conn.receive(static_cast<std::size_t>(config.max_message_size), config.hmac_key,
                        protocol);
  }

  Value decode_result(const Message& reply) const {
    const Serializer* ser =
        serializer_by_id(static_cast<std::uint8_t>(reply.serializer_id), dialect());
    if (ser == nullptr)
      throw SerializeError("invalid serializer in response: " +
                           std::to_string(reply.serializer_id));
    return reconstruct(ser->decode(reply.payload), ser->reconstruct_order(), registry);
  }

  // replace_uri: a PYRONAME/PYROMETA uri becomes the resolved PYRO uri (Pyro's _pyroBind);
  // otherwise it stays magic and is resolved again on every (re)connect.
  void connect(bool replace_uri = false) {
    if (connection.is_open()) return;
    const Uri target = uri.protocol() == "PYRO" || connected_socket ? uri : resolve(uri, config);
    object_id = target.object();
    SocketOptions so;
    so.timeout = timeout;
    so.nodelay = true;
    so.prefer_ip_version = static_cast<int>(config.prefer_ip_version);
    if (connected_socket) {
      connection = Connection::adopt(*connected_socket, false, so);
      if (!have_metadata) {
        // no handshake on a connected socket: ask the daemon object for the metadata
        const Value meta = call(std::string(daemon_object_id), "get_metadata",
                                Value::list({Value(object_id)}), Value::dict(), 0);
        process_metadata(meta);
      }
      return;
    }
    Connection conn = Connection::connect(target, so);
    Message request = new_message(MessageType::connect, 0, seq);
    if (protocol == protocol_48) request.flags |= flags::meta_on_connect;
    serializer->encode(Value::dict({{"handshake", handshake}, {"object", Value(object_id)}}),
                       request.payload, encode_options());
    const std::string bytes = encode_message(request, settings());
    Message reply;
    try {
      conn.send(bytes);
      reply = receive(conn);
    } catch (const CommunicationError&) {
      throw;
    } catch (const std::exception& e) {
      throw CommunicationError("cannot connect to " + connect_location(target) + ": " + e.what());
    }
    Value response("?");
    if (!reply.payload.empty()) response = decode_result(reply);
    if (reply.type == MessageType::connectfail) {
      throw CommunicationError(
          "connection to " + connect_location(target) +
          " rejected: " + (response.is_str() ? std::string(response.as_str()) : response.repr()));
    }
    if (reply.type != MessageType::connectok) {
      throw ProtocolError("cannot connect to " + connect_location(target) + ": invalid msg type " +
                          std::to_string(static_cast<int>(reply.type)) + " received");
    }
    const Value* meta = response.is_dict() ? response.find("meta") : nullptr;
    const Value* hs = response.is_dict() ? response.find("handshake") : nullptr;
    if (meta == nullptr || hs == nullptr)
      throw ProtocolError("invalid CONNECTOK: " + response.repr());
    process_metadata(*meta);
    handshake_response = *hs;
    if (!reply.annotations.empty()) current_context().response_annotations = reply.annotations;
    if (handshake_validator) handshake_validator(handshake_response);
    connection = std::move(conn);
    if (replace_uri) uri = target;
  }

  // One request/response on the connection (connecting first when needed).
  Value call(const std::string& object, std::string_view method, Value args, Value kwargs,
             std::uint16_t flags) {
    CallContext& ctx = current_context();
    ctx.response_annotations = Annotations();
    connect();
    try {
      drain_prefetched();
    } catch (const CommunicationError&) {
      lost_connection();
      throw;
    }
    // A call that cannot be encoded fails here, with the connection intact.
    Prepared request = prepare_request(object, method, std::move(args), std::move(kwargs), flags);
    const Sent sent = request.sent;
    try {
      request.send(connection);
      if (flags & flags::oneway) return Value();
      Message reply = receive_reply(sent);
      Value result = interpret(reply);
      detail::recycle_buffer(std::move(reply.payload));
      return result;
    } catch (const CommunicationError&) {
      lost_connection();
      throw;
    }
  }

  // What identifies a reply: the request's sequence number and serializer.
  struct Sent {
    std::uint16_t seq;
    std::uint16_t serializer_id;
  };

  // An encoded INVOKE: what identifies its reply, and its bytes: the head, then the payload
  // unless the head holds it (a big payload goes out in one gathering send, without a copy).
  struct Prepared {
    Sent sent;
    std::string head;
    std::string payload;
    bool payload_follows = false;
    // big bytes values sent in place, between the pieces of the payload (see EncodeOptions)
    std::vector<ExternalBytes> external;

    Prepared() = default;
    Prepared(Prepared&&) = default;
    Prepared& operator=(Prepared&&) = default;
    ~Prepared() { detail::recycle_buffer(std::move(payload)); }

    void send(Connection& c) const {
      if (!payload_follows) {
        c.send(head, std::string_view());
        return;
      }
      if (external.empty()) {
        c.send(head, payload);
        return;
      }
      std::vector<std::string_view> parts{head};
      std::size_t at = 0;
      for (const ExternalBytes& e : external) {
        parts.push_back(std::string_view(payload).substr(at, e.offset - at));
        parts.push_back(e.bytes.bytes_view());
        at = e.offset;
      }
      parts.push_back(std::string_view(payload).substr(at));
      c.send(parts);
    }
  };

  // The bytes in big bytes and str values among the arguments (not looking deeper).
  static std::size_t big_arguments_size(const Value& args) {
    if (!args.is_sequence()) return 0;
    std::size_t total = 0;
    for (const Value& a : args.items()) {
      const std::size_t n = a.is_bytes() ? a.bytes_view().size()
                            : a.is_str() ? a.as_str().size()
                                         : 0;
      if (n >= detail::large_block_min) total += n;
    }
    return total;
  }

  // Encodes one INVOKE. Big bytes arguments are not copied into the payload when the message
  // is neither compressed nor signed: they go out in place, gathered with the rest.
  Prepared prepare_request(const std::string& object, std::string_view method, Value args,
                           Value kwargs, std::uint16_t flags) {
    // Like Pyro, a call that cannot be serialized does not use up a sequence number.
    Message request = new_message(MessageType::invoke, flags, static_cast<std::uint16_t>(seq + 1));
    // Big bytes or str arguments get a recycled big buffer (no fresh pages to fault in); an
    // ordinary call leaves the spares alone.
    if (const std::size_t big = big_arguments_size(args); big > 0)
      request.payload = detail::take_buffer(big + big / 2);
    Prepared out;
    const EncodeSettings s = settings();
    if (std::optional<SerializedBlob> blob = blob_argument(args)) {
      encode_blob_call(request, *blob, object, method, kwargs);
    } else {
      CallEnvelope envelope{object, std::string(method), std::move(args), std::move(kwargs)};
      EncodeOptions options = encode_options();
      const bool signs = protocol == protocol_48 && s.hmac_key != nullptr && !s.hmac_key->empty();
      if (!s.compress && !signs) options.external = &out.external;
      serializer->encode_call(envelope, request.payload, options);
    }
    out.sent = Sent{request.seq, request.serializer_id};
    std::size_t external_size = 0;
    for (const ExternalBytes& e : out.external)
      external_size += e.bytes.bytes_view().size();
    if (request.payload.size() + external_size >= detail::large_block_min) {
      out.payload_follows = !encode_message_head(request, out.head, s, external_size).empty();
    } else {
      encode_message(request, out.head, s);
    }
    if (out.payload_follows) {
      out.payload = std::move(request.payload);
    } else {
      detail::recycle_buffer(std::move(request.payload));
    }
    seq = request.seq;
    return out;
  }

  // The RESULT answering a request (replies come in request order).
  Message receive_reply(const Sent& sent) {
    Message reply = receive(connection);
    if (reply.type != MessageType::result) {
      throw ProtocolError("invalid msg type " + std::to_string(static_cast<int>(reply.type)) +
                          " received (expected: 5)");
    }
    if (reply.seq != sent.seq) {
      throw ProtocolError("invoke: reply sequence out of sync, got " + std::to_string(reply.seq) +
                          " expected " + std::to_string(sent.seq));
    }
    if (reply.serializer_id != sent.serializer_id) {
      throw SerializeError("invalid serializer in response: " +
                           std::to_string(reply.serializer_id));
    }
    return reply;
  }

  // A reply's value: its annotations become the context's response annotations; a stream
  // announcement becomes a stream marker; an exception is raised.
  Value interpret(const Message& reply) {
    if (!reply.annotations.empty()) current_context().response_annotations = reply.annotations;
    if (reply.flags & flags::itemstreamresult) {
      const std::string* strm = reply.annotations.find("STRM");
      if (strm == nullptr || strm->empty()) {
        throw ProtocolError(
            "result of call is an iterator, but the server is not configured to allow streaming");
      }
      return Value::tuple({Value(stream_marker), Value(*strm)});
    }
    Value result = decode_result(reply);
    if (reply.flags & flags::exception) raise_remote(result);
    return result;
  }

  // ---- item streams read ahead ---------------------------------------------------------------
  // A remote iterator keeps several get_next_stream_item requests in flight (the daemon answers
  // a connection's requests in order). Replies not consumed yet wait here, per stream; any other
  // request first reads the outstanding replies into that store.
  struct InFlight {
    std::string stream;
    Sent sent;
  };
  std::deque<InFlight> in_flight;
  std::map<std::string, std::deque<Message>, std::less<>> prefetched;
  std::set<std::string, std::less<>> finished_streams;  // ended: later replies are discarded
  std::map<std::string, std::size_t, std::less<>> stream_window;  // requests to keep in flight

  void drain_prefetched() {
    while (!in_flight.empty())
      take_in_flight_reply();
  }

  // Reads the oldest outstanding stream reply into its stream's store (or drops it when the
  // stream has ended).
  void take_in_flight_reply() {
    const InFlight f = in_flight.front();
    Message reply = receive_reply(f.sent);
    in_flight.pop_front();
    if (!finished_streams.contains(f.stream)) {
      prefetched[f.stream].push_back(std::move(reply));
    } else if (!in_flight_for(f.stream)) {
      finished_streams.erase(f.stream);
    }
  }

  bool in_flight_for(std::string_view stream) const {
    return std::any_of(in_flight.begin(), in_flight.end(),
                       [&](const InFlight& f) { return f.stream == stream; });
  }

  // Closing the connection (released, or after a communication error, as Pyro does) drops the
  // requests in flight; items already read stay readable.
  void lost_connection() {
    connection.close();
    in_flight.clear();
    finished_streams.clear();
  }

  // The next item of a stream, reading up to `window` requests ahead. nullopt at its end.
  std::optional<Value> next_item(const std::string& stream, std::size_t window) {
    CallContext& ctx = current_context();
    ctx.response_annotations = Annotations();
    auto& ready = prefetched[stream];
    if (ready.empty()) {
      connect();
      try {
        std::size_t mine = 0;
        for (const InFlight& f : in_flight)
          mine += f.stream == stream;
        // The window opens gradually (1, 2, 4, ...): a stream whose first item fails (a
        // daemon closes the connection after an unserializable item) has nothing in flight.
        std::size_t& open = stream_window[stream];
        open = std::clamp<std::size_t>(open, 1, std::max<std::size_t>(window, 1));
        const Value args = Value::list({Value(stream)});
        // the requests go out together, in one system call
        // (a request is in flight once it is sent)
        std::string burst;
        std::vector<Sent> queued;
        auto send_burst = [&] {
          if (burst.empty()) return;
          connection.send(burst);
          for (const Sent& q : queued)
            in_flight.push_back({stream, q});
          burst.clear();
          queued.clear();
        };
        // Topped up only once half the window is back: the requests then leave, and their
        // replies come back, in groups (a system call per group, not per item, on both sides).
        const std::size_t target = mine > open / 2 ? mine : open;
        for (; mine < target; ++mine) {
          const Prepared request = prepare_request(std::string(daemon_object_id),
                                                   "get_next_stream_item", args, Value::dict(), 0);
          if (request.payload_follows) {  // not for requests this small; kept correct anyway
            send_burst();
            request.send(connection);
            in_flight.push_back({stream, request.sent});
          } else {
            burst += request.head;
            queued.push_back(request.sent);
          }
        }
        send_burst();
        while (ready.empty())
          take_in_flight_reply();
      } catch (const CommunicationError&) {
        lost_connection();
        prefetched.erase(stream);
        throw;
      }
    }
    Message reply = std::move(ready.front());
    ready.pop_front();
    try {
      Value item = interpret(reply);
      std::size_t& open = stream_window[stream];
      open = std::min(std::max<std::size_t>(open, 1) * 2, std::max<std::size_t>(window, 1));
      return item;
    } catch (const CommunicationError&) {
      // the daemon closes the connection after such an error: what is in flight is lost
      end_stream(stream);
      lost_connection();
      throw;
    } catch (const RemoteError& e) {
      if (e.class_name() == "builtins.StopIteration" || e.class_name() == "StopIteration") {
        end_stream(stream);
        return std::nullopt;
      }
      end_stream(stream);
      throw;
    } catch (...) {
      end_stream(stream);
      throw;
    }
  }

  // The stream is over (or failed): replies still in flight for it are dropped.
  void end_stream(const std::string& stream) {
    prefetched.erase(stream);
    stream_window.erase(stream);
    if (in_flight_for(stream)) finished_streams.insert(stream);
  }

  // Pyro's keep-serialized call: the blob's info, the object and the method travel in the BLBI
  // annotation (marshal); the payload is the blob's own (forwarded untouched, in its serializer)
  // or a call envelope around the client's value.
  void encode_blob_call(Message& request, const SerializedBlob& blob, const std::string& object,
                        std::string_view method, const Value& kwargs) const {
    if (kwargs.is_dict() && kwargs.size() > 0)
      throw SerializeError("if SerializedBlob is used, it must be the only argument");
    std::string info;
    marshal_serializer().encode(Value::tuple({blob.info(), Value(object), Value(method)}), info,
                                encode_options());
    request.annotations.set("BLBI", std::move(info));
    request.flags |= flags::keepserialized;
    if (blob.contains_blob()) {
      request.serializer_id = blob.serializer().id(dialect());
      request.payload = blob.payload();
    } else {
      CallEnvelope envelope{object, std::string(method), blob.deserialized(), Value::dict()};
      serializer->encode_call(envelope, request.payload, encode_options());
    }
  }

  [[noreturn]] static void raise_remote(const Value& result) {
    if (result.is_object()) {
      if (const auto* e = dynamic_cast<const ExceptionObject*>(result.as_object().get()))
        e->info().raise();
    }
    ExceptionInfo::from_dict(result).raise();
  }

  Value call_with_retries(const std::string& object, std::string_view method, Value args,
                          Value kwargs, std::uint16_t flags) {
    for (int attempt = 0;; ++attempt) {
      try {
        return call(object, method, attempt < max_retries ? Value(args) : std::move(args),
                    attempt < max_retries ? Value(kwargs) : std::move(kwargs), flags);
      } catch (const ConnectionClosedError&) {
        if (attempt >= max_retries) throw;
      } catch (const TimeoutError&) {
        if (attempt >= max_retries) throw;
      }
    }
  }

  // A method call (checks done by the caller, call_mutex held).
  Value invoke(std::string_view method, Value args, Value kwargs, std::uint16_t flags) {
    require_exposed(methods, method, "attribute or method");
    if (oneway.contains(std::string(method))) flags |= flags::oneway;
    Value result = call_with_retries(object_id, method, std::move(args), std::move(kwargs), flags);
    if (auto stream = stream_of(result)) {
      // a generator result the caller did not ask to stream: drop it on the daemon
      if (connection.is_open()) {
        call(std::string(daemon_object_id), "close_stream", Value::list({Value(*stream)}),
             Value::dict(), flags::oneway);
      }
      throw ProtocolError("result of call is an iterator: use Proxy::stream() to iterate it");
    }
    return result;
  }

  // Runs work(state) on a thread of its own, holding call_mutex there; the calling thread's
  // annotations and correlation id go along.
  static FutureResult spawn(std::shared_ptr<State> self, std::function<Value(State&)> work) {
    FutureResult result;
    const CallContext& ctx = current_context();
    std::thread([self = std::move(self), work = std::move(work), result,
                 annotations = ctx.annotations, correlation = ctx.correlation_id]() mutable {
      CallContext& mine = current_context();
      mine.annotations = std::move(annotations);
      mine.correlation_id = correlation;
      try {
        std::lock_guard lock(self->call_mutex);
        result.set_value(work(*self));
      } catch (...) {
        result.set_exception(std::current_exception());
      }
    }).detach();
    return result;
  }
};

// =============================================================================================
// Proxy
// =============================================================================================

Proxy::Proxy(Uri uri, const Config& config) : state_(std::make_shared<State>()) {
  state_->uri = std::move(uri);
  state_->config = config;
  state_->object_id = state_->uri.object();
  state_->serializer = &serializer_by_name(config.serializer);
  state_->timeout = config.commtimeout;
  state_->max_retries = static_cast<int>(config.max_retries);
  state_->protocol = static_cast<std::uint16_t>(config.protocol_version);
  state_->owner = std::this_thread::get_id();
}

Proxy::Proxy(std::string_view uri, const Config& config) : Proxy(Uri(uri), config) {}

Proxy Proxy::from_state(const ProxyState& state, const Config& config) {
  Config c = config;
  if (state.pyro4) {  // a Pyro4 daemon's proxy: talk protocol 48 to it, with its HMAC key
    c.protocol_version = protocol_48;
    if (state.hmac_key) c.hmac_key = state.hmac_key;
  }
  Proxy p(state.uri, c);
  State& s = *p.state_;
  s.handshake = state.handshake;
  if (state.timeout > 0) s.timeout = state.timeout;
  if (state.max_retries > 0) s.max_retries = static_cast<int>(state.max_retries);
  if (state.serializer) s.serializer = &serializer_by_name(*state.serializer);
  return p;
}

Proxy Proxy::on_connected_socket(int fd, std::string object_id, const Config& config) {
  Proxy p(Uri("PYRO:" + object_id + "@<<connected-socket>>:0"), config);
  p.state_->object_id = std::move(object_id);
  p.state_->connected_socket = fd;
  return p;
}

Proxy::Proxy(Proxy&& other) noexcept : state_(std::move(other.state_)) {
  if (state_) state_->owner.reset();  // the next thread to use it owns it
}

Proxy& Proxy::operator=(Proxy&& other) noexcept {
  if (this != &other) {
    state_ = std::move(other.state_);
    if (state_) state_->owner.reset();
  }
  return *this;
}

Proxy::~Proxy() = default;

Value Proxy::invoke(std::string_view method, Value args, Value kwargs, std::uint16_t flags) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  return s.invoke(method, std::move(args), std::move(kwargs), flags);
}

FutureResult Proxy::invoke_async(std::string_view method, Value args, Value kwargs) {
  state_->check_owner();
  return State::spawn(state_, [method = std::string(method), args = std::move(args),
                               kwargs = std::move(kwargs)](State& s) mutable {
    return s.invoke(method, std::move(args), std::move(kwargs), 0);
  });
}

Value Proxy::call_with(std::string_view method, Value args, Value kwargs) {
  return invoke(method, std::move(args), std::move(kwargs), 0);
}

RemoteIterator Proxy::open_stream(std::string_view method, Value args, Value kwargs) {
  State& s = *state_;
  s.check_owner();
  std::unique_lock lock(s.call_mutex);
  s.require_exposed(s.methods, method, "attribute or method");
  Value result = s.call_with_retries(s.object_id, method, std::move(args), std::move(kwargs), 0);
  lock.unlock();
  if (auto stream = stream_of(result)) return RemoteIterator(*this, std::move(*stream));
  throw ProtocolError("the result of " + std::string(method) + " is not an iterator");
}

Value Proxy::invoke_batch(Value calls, bool oneway) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  const std::uint16_t batch_flags = oneway ? flags::batch | flags::oneway : flags::batch;
  return s.call_with_retries(s.object_id, "<batch>", std::move(calls), Value(), batch_flags);
}

FutureResult Proxy::invoke_batch_async(Value calls) {
  state_->check_owner();
  return State::spawn(state_, [calls = std::move(calls)](State& s) mutable {
    return s.call_with_retries(s.object_id, "<batch>", std::move(calls), Value(), flags::batch);
  });
}

std::optional<Value> Proxy::next_stream_item(const std::string& stream_id) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  return s.next_item(stream_id, s.stream_readahead);
}

void Proxy::close_stream(const std::string& stream_id) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  s.end_stream(stream_id);
  if (!s.connection.is_open()) return;
  s.call(std::string(daemon_object_id), "close_stream", Value::list({Value(stream_id)}),
         Value::dict(), flags::oneway);
}

void Proxy::set_stream_readahead(int items) {
  state_->stream_readahead = static_cast<std::size_t>(std::max(items, 1));
}

Value Proxy::invoke_internal(std::string_view object, std::string_view method, Value args,
                             std::uint16_t flags) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  return s.call(std::string(object), method, std::move(args), Value::dict(), flags);
}

Value Proxy::get_attribute(std::string_view name) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  s.require_exposed(s.attrs, name, "attribute or method");
  return s.call_with_retries(s.object_id, "__getattr__", Value::tuple({Value(name)}), Value(), 0);
}

void Proxy::set_attribute(std::string_view name, Value value) {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  s.require_exposed(s.attrs, name, "attribute");
  s.call_with_retries(s.object_id, "__setattr__", Value::tuple({Value(name), std::move(value)}),
                      Value(), 0);
}

std::uint16_t Proxy::protocol() const noexcept {
  return state_->protocol;
}

bool Proxy::bind() {
  State& s = *state_;
  s.check_owner();
  std::lock_guard lock(s.call_mutex);
  if (s.connection.is_open()) return false;
  s.connect(true);
  return true;
}

void Proxy::release() {
  if (!state_) return;
  std::lock_guard lock(state_->call_mutex);
  try {
    if (state_->connection.is_open()) state_->drain_prefetched();  // keep items read ahead
  } catch (const std::exception&) {
    // the connection is going anyway
  }
  state_->lost_connection();
}

void Proxy::reconnect(int tries) {
  release();
  while (tries > 0) {
    try {
      std::lock_guard lock(state_->call_mutex);
      state_->connect();
      return;
    } catch (const CommunicationError&) {
      if (--tries > 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  }
  throw ConnectionClosedError("failed to reconnect");
}

void Proxy::claim_ownership() {
  state_->owner = std::this_thread::get_id();
}
bool Proxy::connected() const noexcept {
  return state_ && state_->connection.is_open();
}
const Uri& Proxy::uri() const noexcept {
  return state_->uri;
}
const std::set<std::string>& Proxy::methods() const noexcept {
  return state_->methods;
}
const std::set<std::string>& Proxy::oneway_methods() const noexcept {
  return state_->oneway;
}
const std::set<std::string>& Proxy::attributes() const noexcept {
  return state_->attrs;
}

ProxyState Proxy::state() const {
  ProxyState p;
  p.uri = state_->uri;
  p.oneway.assign(state_->oneway.begin(), state_->oneway.end());
  p.methods.assign(state_->methods.begin(), state_->methods.end());
  p.attrs.assign(state_->attrs.begin(), state_->attrs.end());
  p.handshake = state_->handshake;
  p.timeout = state_->timeout;
  p.max_retries = state_->max_retries;
  p.hmac_key = state_->config.hmac_key;
  return p;
}

void Proxy::set_timeout(double seconds) {
  state_->timeout = seconds;
  if (state_->connection.is_open()) state_->connection.set_timeout(seconds);
}
double Proxy::timeout() const noexcept {
  return state_->timeout;
}
void Proxy::set_max_retries(int retries) {
  state_->max_retries = retries;
}
void Proxy::set_serializer(std::string_view name) {
  state_->serializer = &serializer_by_name(name);
}
void Proxy::set_handshake(Value data) {
  state_->handshake = std::move(data);
}
const Value& Proxy::handshake_response() const noexcept {
  return state_->handshake_response;
}
void Proxy::set_handshake_validator(std::function<void(const Value&)> validator) {
  state_->handshake_validator = std::move(validator);
}
void Proxy::set_registry(const ClassRegistry* registry) {
  state_->registry = registry;
}
std::string Proxy::local_address() const {
  return state_->connection.local_address();
}

// =============================================================================================
// RemoteIterator
// =============================================================================================

RemoteIterator::RemoteIterator(RemoteIterator&& other) noexcept
    : proxy_(std::exchange(other.proxy_, nullptr)), id_(std::move(other.id_)), done_(other.done_) {}

RemoteIterator& RemoteIterator::operator=(RemoteIterator&& other) noexcept {
  if (this != &other) {
    try {
      close();
    } catch (...) {
    }
    proxy_ = std::exchange(other.proxy_, nullptr);
    id_ = std::move(other.id_);
    done_ = other.done_;
  }
  return *this;
}

RemoteIterator::~RemoteIterator() {
  try {
    close();
  } catch (...) {
  }
}

std::optional<Value> RemoteIterator::next() {
  if (proxy_ == nullptr || done_) return std::nullopt;
  try {
    std::optional<Value> item = proxy_->next_stream_item(id_);
    if (!item) done_ = true;  // the daemon has dropped the stream already
    return item;
  } catch (...) {
    done_ = true;
    throw;
  }
}

void RemoteIterator::close() {
  if (proxy_ == nullptr || done_) return;
  done_ = true;
  proxy_->close_stream(id_);
}

// =============================================================================================
// Batches
// =============================================================================================

std::optional<Value> BatchResults::next() {
  if (results_.is_none() || position_ >= results_.size()) return std::nullopt;
  Value v = std::move(results_.items()[position_++]);
  if (v.is_object()) {
    if (const auto* w = dynamic_cast<const ExceptionWrapperObject*>(v.as_object().get())) {
      position_ = results_.size();  // the batch stopped here
      w->info().raise();
    }
  }
  return v;
}

BatchProxy& BatchProxy::add_with(std::string_view method, Value args, Value kwargs) {
  if (!args.is_tuple()) args = Value::tuple(ValueVector(args.items().begin(), args.items().end()));
  if (kwargs.is_none()) kwargs = Value::dict();
  ValueVector call;  // moved in (an initializer list would copy args and kwargs)
  call.reserve(3);
  if (!last_method_.is_str() || last_method_.as_str() != method) last_method_ = Value(method);
  call.push_back(last_method_);
  call.push_back(std::move(args));
  call.push_back(std::move(kwargs));
  calls_.push_back(Value::tuple(std::move(call)));
  return *this;
}

Value BatchProxy::take_calls() {
  Value calls = Value::list(std::move(calls_));
  calls_ = ValueVector();
  return calls;
}

BatchResults BatchProxy::operator()() {
  return BatchResults(proxy_->invoke_batch(take_calls(), false));
}

void BatchProxy::run_oneway() {
  proxy_->invoke_batch(take_calls(), true);
}

FutureResult BatchProxy::run_async() {
  return proxy_->invoke_batch_async(take_calls());
}

}  // namespace pyro
