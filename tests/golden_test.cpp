// golden_test.cpp — the golden replay of the recorded Pyro5 and Pyro4 conversations
// (tests/vectors/pyro5, protocol 502; tests/vectors/pyro4, protocol 48): our Daemon answers the
// recorded client messages and every reply is compared with the recorded daemon's; our Proxy
// performs the recorded steps against a fake daemon that answers with the recorded replies, and
// every message it sends is compared with the recorded client's. Name server scenarios (ns_*) are
// golden_naming_test's. The shared machinery (comparison, fake daemon, summary) is
// support/golden.hpp.
#include "support/golden.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pyro/client.hpp"
#include "pyro/protocol.hpp"
#include "pyro/server.hpp"
#include "support/interop_service.hpp"
#include "support/vectors.hpp"

namespace pyro::testing {
namespace {

// =============================================================================================
// Scenarios
// =============================================================================================

// Every scenario this test replays: the four serializers and the raw exchanges, without
// the name server (golden_naming_test replays those).
bool is_golden(const Scenario& s) {
  if (s.protocol != "pyro5" && s.protocol != "pyro4") return false;
  if (scenario_base(s).starts_with("ns_")) return false;
  static const std::set<std::string> serializers = {"serpent", "json", "marshal", "msgpack", "raw"};
  return serializers.contains(s.serializer);
}

// The golden scenarios of one protocol ("pyro5" or "pyro4").
std::vector<std::string> golden_names(const std::string& protocol) {
  std::vector<std::string> names;
  for (const auto& s : all_scenarios()) {
    if (is_golden(s) && s.protocol == protocol) names.push_back(s.name);
  }
  return names;
}

std::string advertised_of(const Scenario& s) {
  return advertised_of(s, "daemon", "127.0.0.1:47101");
}

InteropKind kind_of(const Scenario& s) {
  const auto* daemon = peer_of(s, "daemon");
  return json_string(daemon ? find_member(*daemon, "kind") : nullptr) == "guarded"
             ? InteropKind::guarded
             : InteropKind::service;
}

// =============================================================================================
// Daemon side: our Daemon answers the recorded client messages
// =============================================================================================

class DaemonReplay : public ::testing::TestWithParam<std::string> {};

// raw/foreign_protocol_header: a CONNECT of the other protocol (Pyro4's to a Pyro5 daemon, or
// Pyro5's to a Pyro4 one). Python's daemon refuses it with a CONNECTFAIL; ours serves Pyro4 and
// Pyro5 clients on one port by design (docs/protocol.md, detect_protocol), so it answers in the
// CONNECT's own protocol.
void check_serves_the_other_protocol_too(const Scenario& s, int port) {
  const std::uint16_t other = s.protocol == "pyro5" ? protocol_48 : protocol_502;
  Socket socket = Socket::connect_loopback(port);
  socket.send_all(s.messages.at(0).bytes);
  std::string ours;
  try {
    ours = socket.read_message(Clock::now() + io_timeout);
  } catch (const std::exception& e) {
    FAIL() << "no reply to the protocol " << other << " CONNECT: " << e.what();
  }
  const Wire w = parse_wire(ours);
  EXPECT_EQ(w.header.protocol, other);
  EXPECT_EQ(w.header.type, static_cast<std::uint16_t>(MessageType::connectok));
  const Serializer* ser = serializer_by_id(static_cast<std::uint8_t>(w.header.serializer_id),
                                           other == protocol_48 ? Dialect::pyro4 : Dialect::pyro5);
  ASSERT_NE(ser, nullptr);
  const Value reply = ser->decode(w.message.payload);
  EXPECT_TRUE(reply.is_dict() && reply.find("handshake") && reply.find("meta")) << reply.repr();
  note("by design (docs/protocol.md: one daemon serves protocols 502 and 48), a protocol " +
       std::to_string(other) +
       " CONNECT gets a CONNECTOK in its protocol where Python's daemon sends a CONNECTFAIL; "
       "checked that instead");
}

TEST_P(DaemonReplay, AnswersLikeTheRecordedDaemon) {
  const Scenario& s = scenario_named(GetParam());
  const std::string advertised = advertised_of(s);
  const auto [adv_host, adv_port] = split_location(advertised);

  // Advertising the recorded address (NAT) puts the recorded URIs into our payloads.
  DaemonOptions options;
  options.host = "127.0.0.1";
  options.nathost = adv_host;
  options.natport = adv_port;
  Daemon daemon(options, config_of(s));
  expose_interop_service(daemon, kind_of(s));
  daemon.start();
  const std::string location = daemon.location();
  const int port = split_location(location).second;
  if (scenario_base(s) == "foreign_protocol_header") {
    check_serves_the_other_protocol_too(s, port);
    return;
  }

  replay_requests(s, [&](int) { return ReplayTarget{port, location, advertised}; });
}

// =============================================================================================
// Client side: our Proxy performs the recorded steps against a fake daemon
// =============================================================================================

// Text of tagged JSON (for messages).
// Why a step is not performed by our proxy (empty: it is).
std::string client_skip_reason(const rapidjson::Value& step) {
  const std::string action = json_string(find_member(step, "action"));
  if (action == "ping_message") {
    return "protocol level PING not sent: pyro::Proxy has no API for it (Pyro5's Proxy has none "
           "either; the recording wrote it on the raw connection)";
  }
  if (action == "raw_send") return "raw bytes written by a plain socket client, not a proxy";
  if (action == "locate_ns") return "name server lookup (not part of this replay)";
  // A call the Python client could not serialize, with an argument C++ has no type for: the
  // vectors' $decimal and $uuid become plain str here, which every serializer carries.
  if (const auto* skipped = find_member(step, "skipped"); skipped && skipped->IsTrue()) {
    const std::string args = json_text(step["args"]);
    if (args.find("\"$decimal\"") != std::string::npos ||
        args.find("\"$uuid\"") != std::string::npos) {
      return "the Python client refused a decimal.Decimal/uuid.UUID argument before sending; "
             "C++ has no such type (the vectors' $decimal/$uuid become str), nothing to refuse";
    }
  }
  return {};
}

// Answers our proxy with the recorded server messages, in the recorded order, and keeps what
// the proxy sent in place of each recorded client message. Runs on its own thread.
// Resource type: immovable; the destructor stops the thread.
// What a step did on the C++ side.
struct Outcome {
  std::optional<Value> returned;
  std::optional<ExceptionInfo> raised;
  std::string raised_type;  // the C++ exception type, for messages
  std::vector<std::string> remote_traceback;
  bool remote_traceback_known = false;  // a PyroError carries one; pyro::ValueError etc. do not
};

// A value from the recording with the recorded location replaced by the fake daemon's.
Value localized(const Value& v, const std::string& from, const std::string& to) {
  if (v.is_str()) return Value(replace_all(std::string(v.as_str()), from, to));
  if (v.is_sequence()) {
    std::vector<Value> items;
    for (const auto& item : v.items())
      items.push_back(localized(item, from, to));
    return v.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (v.is_dict()) {
    Dict out;
    for (const auto& [key, value] : v.as_dict())
      out.set(key, localized(value, from, to));
    return Value(std::move(out));
  }
  return v;
}

RemoteIterator stream_call(Proxy& proxy, std::string_view method, const Value& args) {
  const auto a = args.items();
  switch (a.size()) {
    case 0:
      return proxy.stream(method);
    case 1:
      return proxy.stream(method, a[0]);
    case 2:
      return proxy.stream(method, a[0], a[1]);
    case 3:
      return proxy.stream(method, a[0], a[1], a[2]);
    default:
      throw std::invalid_argument("stream_call: too many arguments");
  }
}

// Runs the recorded steps with our Proxy.
class ClientSession {
 public:
  ClientSession(Config config, std::string location)
      : config_(std::move(config)), location_(std::move(location)) {}
  ~ClientSession() { close(); }

  // Drops the iterator, then the proxies (closing their connections).
  void close() {
    stream_.reset();
    proxies_.clear();
  }

  Outcome run(const rapidjson::Value& step) {
    Outcome out;
    CallContext& ctx = current_context();
    ctx.annotations = Annotations();
    ctx.correlation_id.reset();
    if (const auto* ann = find_member(step, "request_annotations")) {
      for (const auto& a : ann->GetObject()) {
        const Value v = tagged_to_value(a.value);
        ctx.annotations.set(a.name.GetString(),
                            v.is_bytes()
                                ? std::string(reinterpret_cast<const char*>(v.as_bytes().data()),
                                              v.as_bytes().size())
                                : std::string(v.as_str()));
      }
    }
    if (const auto* id = find_member(step, "correlation_id")) {
      ctx.correlation_id = parse_correlation_id(json_string(id));
    }
    try {
      out.returned = perform(step);
      if (stream_ended_) {
        // RemoteIterator::next() turns the remote StopIteration into nullopt
        out.returned.reset();
        out.raised = ExceptionInfo{"builtins.StopIteration", {}, {}};
        out.raised_type = "std::nullopt from RemoteIterator::next()";
        stream_ended_ = false;
      }
    } catch (const std::exception& e) {
      out.raised = ExceptionInfo::from_exception(e);
      out.raised_type = detail::demangle(typeid(e).name());
      if (const auto* pe = dynamic_cast<const PyroError*>(&e)) {
        out.remote_traceback = pe->remote_traceback();
        out.remote_traceback_known = true;
      }
    }
    response_annotations_ = ctx.response_annotations;
    ctx.annotations = Annotations();
    ctx.correlation_id.reset();
    return out;
  }

  const Annotations& response_annotations() const noexcept { return response_annotations_; }
  // The results a batch step yielded before it ended or raised.
  const std::vector<Value>& batch_results() const noexcept { return batch_results_; }
  bool has_stream() const noexcept { return stream_.has_value(); }
  Proxy* proxy_for(const std::string& object) {
    auto it = proxies_.find(object);
    return it == proxies_.end() ? nullptr : it->second.get();
  }

 private:
  Value perform(const rapidjson::Value& step) {
    const std::string action = json_string(find_member(step, "action"));
    const std::string object = json_string(find_member(step, "object"));
    if (action == "connect") {
      auto proxy = std::make_unique<Proxy>(Uri("PYRO:" + object + "@" + location_), config_);
      proxy->set_timeout(std::chrono::duration<double>(io_timeout).count());
      proxy->set_stream_readahead(1);  // the recorded clients fetched one item at a time
      if (const auto* hs = find_member(step, "handshake")) {
        proxy->set_handshake(tagged_to_value(*hs));
      }
      last_ = proxy.get();
      proxies_[object] = std::move(proxy);
      proxies_[object]->bind();
      return Value();
    }
    if (action == "call") {
      const std::string method = json_string(find_member(step, "method"));
      const Value args = Value::tuple(tagged_to_value(step["args"]).items());
      const Value kwargs = tagged_to_value(step["kwargs"]);
      if (find_member(step, "via") != nullptr) {
        // sent without the proxy's metadata check, on the proxy's connection
        Proxy* p = proxy_for(object) ? proxy_for(object) : last_;
        if (p == nullptr) throw std::logic_error("no proxy for a direct invoke");
        if (kwargs.size() != 0) throw std::logic_error("a direct invoke sends no kwargs");
        return p->invoke_internal(object, method, args, 0);
      }
      Proxy& p = proxy(object);
      const auto* pc = find_member(step, "python_client");
      const auto* returned = pc ? find_member(*pc, "returned") : nullptr;
      if (returned != nullptr && is_tag(*returned, "$stream_iterator")) {
        stream_.reset();
        stream_.emplace(stream_call(p, method, args));
        return Value();
      }
      Value result = p.call_with(method, args, kwargs);
      if (result.is_object()) {
        if (const auto* po = dynamic_cast<const ProxyObject*>(result.as_object().get())) {
          received_proxies_[po->state().uri.object()] = po->state();
        }
      }
      return result;
    }
    if (action == "batch") {
      BatchProxy batch(proxy(object));
      for (const auto& c : step["calls"].GetArray()) {
        batch.add_with(json_string(find_member(c, "method")), tagged_to_value(c["args"]),
                       tagged_to_value(c["kwargs"]));
      }
      batch_results_.clear();
      for (const Value& r : batch())
        batch_results_.push_back(r);
      return Value::list(batch_results_);
    }
    if (action == "getattr") {
      return proxy(object).get_attribute(json_string(find_member(step, "attribute")));
    }
    if (action == "setattr") {
      proxy(object).set_attribute(json_string(find_member(step, "attribute")),
                                  tagged_to_value(step["value"]));
      return Value();
    }
    if (action == "stream_next") {
      if (!stream_) throw std::logic_error("stream_next without a stream");
      auto item = stream_->next();
      stream_ended_ = !item.has_value();
      return item.value_or(Value());
    }
    if (action == "stream_close") {
      if (!stream_) throw std::logic_error("stream_close without a stream");
      stream_->close();
      return Value();
    }
    throw std::logic_error("unsupported action " + action);
  }

  // The proxy for an object: the connected one, or one made from a proxy a call returned.
  Proxy& proxy(const std::string& object) {
    if (Proxy* p = proxy_for(object)) return *p;
    auto it = received_proxies_.find(object);
    if (it == received_proxies_.end()) throw std::logic_error("no proxy for " + object);
    auto p = std::make_unique<Proxy>(it->second.uri, config_);
    p->set_timeout(std::chrono::duration<double>(io_timeout).count());
    p->set_stream_readahead(1);
    return *(proxies_[object] = std::move(p));
  }

  Config config_;
  std::string location_;
  std::map<std::string, std::unique_ptr<Proxy>> proxies_;
  Proxy* last_ = nullptr;  // the proxy of the last connect step
  std::map<std::string, ProxyState> received_proxies_;
  std::optional<RemoteIterator> stream_;  // declared after proxies_: destroyed first
  Annotations response_annotations_;
  bool stream_ended_ = false;
  std::vector<Value> batch_results_;
};

// Compares what our proxy returned or raised with what the Python client did.
void check_outcome(const rapidjson::Value& step, const Outcome& out, ClientSession& session,
                   const std::string& advertised, const std::string& ours) {
  const auto* pc = find_member(step, "python_client");
  if (pc == nullptr) return;
  const std::string py_advertised = "('" + split_location(advertised).first + "', " +
                                    std::to_string(split_location(advertised).second) + ")";
  const std::string py_ours =
      "('" + split_location(ours).first + "', " + std::to_string(split_location(ours).second) + ")";
  auto local = [&](const Value& v) {
    return localized(localized(v, advertised, ours), py_advertised, py_ours);
  };
  if (const auto* results = find_member(*pc, "results")) {
    const Value want = local(tagged_to_value(*results));
    const Value got = Value::list(session.batch_results());
    EXPECT_TRUE(identical(got, want))
        << "batch results: ours " << got.repr() << ", Python's " << want.repr();
  }

  if (const auto* raised = find_member(*pc, "raised")) {
    if (!out.raised) {
      ADD_FAILURE() << "expected " << json_text(*raised)
                    << ", got a result: " << (out.returned ? out.returned->repr() : "nothing");
      return;
    }
    std::string want_class = json_string(find_member(*raised, "class"));
    Value want_args = local(tagged_to_value((*raised)["args"]));
    const rapidjson::Value* want_attributes = find_member(*raised, "attributes");
    // By design our client reconstructs any exception class it does not know as a RemoteError
    // carrying class name, args and attributes, where Pyro5's raises SerializeError("unsupported
    // serialized class"). Check what the daemon sent instead.
    // Our client's own errors carry Pyro5's class names whatever the protocol (one set of C++
    // exception types), where a Pyro4 client's are Pyro4.errors.X: compared as Pyro5's.
    const auto as_pyro5 = [](std::string name) {
      if (name.starts_with("Pyro4.errors.")) name.replace(0, 5, "Pyro5");
      return name;
    };
    if (as_pyro5(want_class) != want_class && out.raised->class_name == as_pyro5(want_class)) {
      note("by design, our client raises " + out.raised->class_name + " where Pyro4's raises " +
           want_class);
    }
    want_class = as_pyro5(want_class);
    const std::string unsupported = "unsupported serialized class: ";
    if (want_class == "Pyro5.errors.SerializeError" && want_args.size() == 1 &&
        want_args.items()[0].is_str() && want_args.items()[0].as_str().starts_with(unsupported) &&
        out.raised->class_name ==
            std::string(want_args.items()[0].as_str().substr(unsupported.size()))) {
      const auto* expect = find_member(step, "expect");
      const auto* ex = expect ? find_member(*expect, "exception") : nullptr;
      if (ex != nullptr) {
        note("by design, " + out.raised->class_name +
             " arrives as pyro::RemoteError (Pyro5's client raises SerializeError: "
             "unsupported serialized class); checked against the daemon's exception instead");
        want_class = json_string(find_member(*ex, "class"));
        want_args = tagged_to_value((*ex)["args"]);
        want_attributes = find_member(*ex, "attributes");
      }
    }
    EXPECT_EQ(as_pyro5(out.raised->class_name), as_pyro5(want_class))
        << "exception class (C++ " << out.raised_type << ": " << out.raised->message() << ")";
    const Value got_args = Value::list(out.raised->args);
    EXPECT_TRUE(identical(got_args, Value::list(want_args.items())))
        << "exception args: ours " << got_args.repr() << ", Python's " << want_args.repr();
    if (want_attributes != nullptr) {
      for (const auto& a : want_attributes->GetObject()) {
        const Value* got = out.raised->attributes.find(Value(a.name.GetString()));
        EXPECT_TRUE(got != nullptr && identical(*got, tagged_to_value(a.value)))
            << "exception attribute " << a.name.GetString();
      }
    }
    const auto* tb = find_member(*raised, "has_remote_traceback");
    if (tb != nullptr && tb->IsBool() && tb->GetBool() && out.remote_traceback_known) {
      EXPECT_FALSE(out.remote_traceback.empty()) << "remote traceback";
    }
    return;
  }

  if (out.raised) {
    ADD_FAILURE() << "our proxy raised " << out.raised->class_name << "("
                  << Value::list(out.raised->args).repr() << ") [C++ " << out.raised_type
                  << "], Python's client " << json_text(*pc);
    return;
  }
  const std::string action = json_string(find_member(step, "action"));
  if (const auto* connected = find_member(*pc, "connected")) {
    Proxy* p = session.proxy_for(json_string(find_member(step, "object")));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->methods(), name_set((*connected)["methods"])) << "metadata methods";
    EXPECT_EQ(p->oneway_methods(), name_set((*connected)["oneway"])) << "metadata oneway";
    EXPECT_EQ(p->attributes(), name_set((*connected)["attrs"])) << "metadata attrs";
    if (const auto* hs = find_member(*pc, "handshake_response")) {
      EXPECT_TRUE(identical(p->handshake_response(), tagged_to_value(*hs)))
          << "handshake response " << p->handshake_response().repr();
    }
    return;
  }
  if (const auto* ra = find_member(*pc, "response_annotations")) {
    Annotations want;
    for (const auto& a : ra->GetObject()) {
      const Value v = tagged_to_value(a.value);
      want.set(a.name.GetString(), std::string(reinterpret_cast<const char*>(v.as_bytes().data()),
                                               v.as_bytes().size()));
    }
    EXPECT_TRUE(session.response_annotations() == want) << "response annotations";
  }
  const auto* returned = find_member(*pc, "returned");
  if (returned == nullptr) return;
  if (is_tag(*returned, "$stream_iterator")) {
    EXPECT_TRUE(session.has_stream()) << "a remote iterator";
    return;
  }
  if (is_tag(*returned, "$proxy")) {
    const auto& want = (*returned)["$proxy"];
    ProxyState got;
    try {
      got = from_value<ProxyState>(out.returned.value());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected a proxy, got " << out.returned->repr() << ": " << e.what();
      return;
    }
    EXPECT_EQ(got.uri.str(), replace_all(json_string(find_member(want, "uri")), advertised, ours));
    EXPECT_EQ(name_set(got.methods), name_set(want["methods"]));
    EXPECT_EQ(name_set(got.oneway), name_set(want["oneway"]));
    EXPECT_EQ(name_set(got.attrs), name_set(want["attrs"]));
    return;
  }
  const Value want = local(tagged_to_value(*returned));
  const Value got = out.returned.value_or(Value());
  EXPECT_TRUE(identical(got, want))
      << "result of " << action << ": ours " << got.repr() << ", Python's " << want.repr();
}

class ClientReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(ClientReplay, SendsWhatTheRecordedClientSent) {
  const Scenario& s = scenario_named(GetParam());
  const auto& steps = s.json["steps"];

  // The messages of steps our proxy does not perform leave the conversation; the seq numbers
  // of the requests after them move down (their INVOKEs consumed numbers).
  std::set<std::size_t> dropped;
  std::vector<std::string> skipped;
  bool any_run = false;
  for (const auto& step : steps.GetArray()) {
    const std::string reason = client_skip_reason(step);
    if (reason.empty()) {
      any_run = true;
      continue;
    }
    skipped.push_back(json_string(find_member(step, "action")) + ": " + reason);
    for (const auto& m : step["messages"].GetArray()) {
      dropped.insert(m.GetUint());
    }
  }
  if (!any_run) GTEST_SKIP() << "no step for a proxy: " << skipped.front();

  std::vector<std::size_t> indices;
  std::map<std::size_t, std::uint16_t> seq_shift;  // recorded index -> numbers freed before it
  std::map<int, std::uint16_t> freed;              // connection -> numbers freed so far
  for (std::size_t i = 0; i < s.messages.size(); ++i) {
    const RecordedMessage& m = s.messages[i];
    const int conn = connection_of(s, i);
    if (dropped.contains(i)) {
      if (m.direction == "c2s" && m.type == static_cast<int>(MessageType::invoke)) ++freed[conn];
      continue;
    }
    seq_shift[i] = freed[conn];
    indices.push_back(i);
  }

  const std::string advertised = advertised_of(s);
  FakeDaemon fake(s, indices, advertised);
  const std::string ours = fake.location();
  {
    ClientSession session(config_of(s), ours);
    int number = 0;
    for (const auto& step : steps.GetArray()) {
      ++number;
      const std::string action = json_string(find_member(step, "action"));
      SCOPED_TRACE(
          "step " + std::to_string(number) + " (" + action + " " +
          json_string(find_member(step, "method"), json_string(find_member(step, "object"))) +
          json_string(find_member(step, "label")) + ")");
      if (!client_skip_reason(step).empty()) {
        note("step " + std::to_string(number) + " skipped: " + client_skip_reason(step));
        continue;
      }
      const Outcome out = session.run(step);
      check_outcome(step, out, session, advertised, ours);
    }
    session.close();
  }
  fake.finish();

  for (const auto& e : fake.errors())
    ADD_FAILURE() << "fake daemon: " << e;
  for (const std::size_t i : indices) {
    const RecordedMessage& rec = s.messages[i];
    if (rec.direction != "c2s") continue;
    const auto it = fake.received().find(i);
    if (it == fake.received().end()) {
      ADD_FAILURE() << "our proxy did not send a message in place of " << rec.file;
      continue;
    }
    if (rec.framing != "pyro") continue;
    CompareSettings settings;
    settings.what = "proxy request " + rec.file;
    if (seq_shift[i] != 0) {
      settings.seq = static_cast<std::uint16_t>(parse_wire(rec.bytes).header.seq - seq_shift[i]);
    }
    compare_message(s, i, it->second, settings);
  }
}

INSTANTIATE_TEST_SUITE_P(Pyro5, DaemonReplay, ::testing::ValuesIn(golden_names("pyro5")),
                         test_name);
INSTANTIATE_TEST_SUITE_P(Pyro5, ClientReplay, ::testing::ValuesIn(golden_names("pyro5")),
                         test_name);
INSTANTIATE_TEST_SUITE_P(Pyro4, DaemonReplay, ::testing::ValuesIn(golden_names("pyro4")),
                         test_name);
INSTANTIATE_TEST_SUITE_P(Pyro4, ClientReplay, ::testing::ValuesIn(golden_names("pyro4")),
                         test_name);

[[maybe_unused]] const bool summary = add_summary("golden replay summary (Pyro5 502 and Pyro4 48)");

}  // namespace
}  // namespace pyro::testing
