// golden_naming_test.cpp — the golden replay of the recorded name server conversations
// (tests/vectors/{pyro5,pyro4}/*/ns_*, protocols 502 and 48): our NameServerDaemon answers the
// recorded client messages and every reply is compared with the recorded name server's; our
// client API (locate_ns, NameServerProxy, a PYRONAME Proxy) performs the recorded steps against a
// fake name server answering with the recorded replies, and every message it sends is compared
// with the recorded client's; the UDP discovery exchange is replayed both ways. The shared
// machinery (comparison, fake peer, summary) is support/golden.hpp.
//
// What may differ, and why (everything else is compared as golden_test compares):
// * Random bytes: Pyro5 correlation ids of replies, Pyro4 CORR annotations (the vectors list
//   them as nondeterministic), and the tracebacks of exception replies (implementation text).
// * Sets: tags and metadata names in any order (Python's set order is its hash order); the tags
//   that json, msgpack and Pyro4 send as lists too (CompareSettings::tag_lists).
// * Locations: our servers listen on free loopback ports and advertise the recorded addresses
//   (NAT settings), so the recorded URIs appear unchanged in their replies. The fake name server
//   has a location of its own: the proxy locate_ns returns is compared with it, and in
//   ns_pyroname the fake points the daemon URI of its lookup reply at itself, as it plays the
//   daemon too (relocating_filter). The broadcast responder answers with our name server's
//   location.
// * Requests our typed client API words differently from Python's client, which the name
//   server cannot tell apart (equate_requests): register's uri argument is a URI object where
//   the recording passed its text (both are stored as the text: naming.md §2); a Pyro4 client
//   sends register's tags as a list where Python passed a set (Pyro4 stores set(metadata));
//   Pyro5 5.17 resolves PYRONAME with lookup(name, 0.0), a float 0.0 (evidently its lookup
//   delay) landing in return_metadata, where it means False; naming.md §5.3 says lookup(name),
//   which we send.
// * Pyro4's metadata: our name server lists yplookup to protocol 48 clients too, where Pyro4's
//   has no such method (without_yplookup).
// * Exception classes: our client reports Pyro's errors as "Pyro5.errors.X" whatever the
//   protocol (ExceptionInfo), where Python's Pyro4 raises "Pyro4.errors.X".
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <set>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <typeinfo>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pyro/client.hpp"
#include "pyro/locate.hpp"
#include "pyro/naming.hpp"
#include "pyro/protocol.hpp"
#include "pyro/serializer.hpp"
#include "pyro/server.hpp"
#include "support/golden.hpp"
#include "support/interop_service.hpp"
#include "support/vectors.hpp"

namespace pyro::testing {
namespace {

// =============================================================================================
// Scenarios
// =============================================================================================

// The name server conversations over TCP (every serializer, both protocols).
bool is_naming(const Scenario& s) {
  return (s.protocol == "pyro5" || s.protocol == "pyro4") && s.serializer != "raw" &&
         scenario_base(s).starts_with("ns_");
}

// The UDP discovery exchanges.
bool is_broadcast(const Scenario& s) {
  return s.serializer == "raw" && scenario_base(s) == "ns_broadcast_lookup";
}

std::vector<std::string> names_where(bool (*keep)(const Scenario&)) {
  std::vector<std::string> names;
  for (const auto& s : all_scenarios()) {
    if (keep(s)) names.push_back(s.name);
  }
  return names;
}

// "pyro5/serpent/ns_lookup" -> "pyro5_serpent_ns_lookup": both protocols in one suite.
std::string full_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

std::string ns_advertised(const Scenario& s) {
  return advertised_of(s, "nameserver", "127.0.0.1:47102");
}

int port_of(const std::string& location) {
  return split_location(location).second;
}

// Pyro's errors keep their Pyro5 class names in our ExceptionInfo, whatever the protocol.
std::string as_reported(std::string python_class) {
  const std::string pyro4 = "Pyro4.errors.";
  if (python_class.starts_with(pyro4)) {
    python_class = "Pyro5.errors." + python_class.substr(pyro4.size());
  }
  return python_class;
}

// =============================================================================================
// Name server side: our NameServerDaemon answers the recorded client messages
// =============================================================================================

// The registrations the recorded name server was given before the scenario (setup.peers.
// nameserver.registrations), made the way Pyro's register(name, uri, metadata=...) makes them.
void register_recorded(NameServer& ns, const Scenario& s) {
  const auto* peer = peer_of(s, "nameserver");
  const auto* registrations = peer ? find_member(*peer, "registrations") : nullptr;
  if (registrations == nullptr) return;
  for (const auto& r : registrations->GetArray()) {
    std::optional<std::vector<std::string>> tags;
    if (const auto* m = find_member(r, "metadata"); m != nullptr && m->IsArray()) {
      tags.emplace();
      for (const auto& t : m->GetArray())
        tags->emplace_back(t.GetString());
    }
    ns.register_name(json_string(find_member(r, "name")), json_string(find_member(r, "uri")), false,
                     std::move(tags));
  }
}

// A name server like the recorded one: on a free loopback port, advertising the recorded
// address (its self-registration and URIs carry it), without a broadcast responder.
std::unique_ptr<NameServerDaemon> recorded_nameserver(const Scenario& s) {
  const auto [host, port] = split_location(ns_advertised(s));
  NameServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.nathost = host;
  options.natport = port;
  options.broadcast = false;
  if (s.protocol == "pyro4") options.self_tag = "class:Pyro4.naming.NameServer";
  auto ns = std::make_unique<NameServerDaemon>(options, config_of(s));
  register_recorded(ns->nameserver(), s);
  return ns;
}

// The metadata in a CONNECTOK with the method yplookup left out: one NameServer object serves
// Pyro5's API and Pyro4's (docs/naming.md), and its one exposure lists yplookup to protocol 48
// clients too, where Pyro4's name server has none (harmless: a Pyro4 proxy merely lets its user
// call it).
std::string without_yplookup(Value& payload) {
  if (!payload.is_dict()) return {};
  Dict& reply = payload.as_dict();
  for (std::size_t i = 0; i < reply.size(); ++i) {
    Value& meta = reply.value_at(i);
    if (reply.items()[i].first != Value("meta") || !meta.is_dict()) continue;
    Dict& names = meta.as_dict();
    for (std::size_t j = 0; j < names.size(); ++j) {
      Value& methods = names.value_at(j);
      if (names.items()[j].first != Value("methods") || !methods.is_sequence()) continue;
      auto& items = methods.items();
      const auto at = std::find(items.begin(), items.end(), Value("yplookup"));
      if (at == items.end()) return {};
      items.erase(at);
      return "our name server offers yplookup to Pyro4 clients too (Pyro4's has none)";
    }
  }
  return {};
}

class NameServerReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(NameServerReplay, AnswersLikeTheRecordedNameServer) {
  const Scenario& s = scenario_named(GetParam());
  auto ns = recorded_nameserver(s);
  ns->start();
  const std::string ns_location = ns->daemon().location();

  // ns_pyroname: the client then calls the object the name server named, on the recorded daemon.
  std::unique_ptr<Daemon> daemon;
  std::string daemon_location;
  const std::string daemon_advertised = advertised_of(s, "daemon", "127.0.0.1:47101");
  if (peer_of(s, "daemon") != nullptr) {
    const auto [host, port] = split_location(daemon_advertised);
    DaemonOptions options;
    options.host = "127.0.0.1";
    options.nathost = host;
    options.natport = port;
    daemon = std::make_unique<Daemon>(options, config_of(s));
    expose_interop_service(*daemon, InteropKind::service);
    daemon->start();
    daemon_location = daemon->location();
  }

  CompareSettings compare;
  compare.tag_lists = true;
  if (s.protocol == "pyro4") compare.equate = without_yplookup;
  replay_requests(
      s,
      [&](int connection) {
        if (role_of(s, connection) == "daemon") {
          if (daemon == nullptr) throw std::logic_error("a daemon connection without a daemon");
          return ReplayTarget{port_of(daemon_location), daemon_location, daemon_advertised};
        }
        return ReplayTarget{port_of(ns_location), ns_location, ns_advertised(s)};
      },
      compare);
}

// =============================================================================================
// Client side: our client API performs the recorded steps against a fake name server
// =============================================================================================

// A URI's class dict ({"__class__": "...URI", "state": (protocol, object, sockname, host,
// port)}) as the URI, or nullopt for anything else.
std::optional<Uri> uri_of_dict(const Value& v) {
  if (!v.is_dict()) return std::nullopt;
  const Value* cls = v.find(Value("__class__"));
  const Value* state = v.find(Value("state"));
  if (cls == nullptr || !cls->is_str() || !cls->as_str().ends_with(".URI") || state == nullptr ||
      !state->is_sequence() || state->size() != 5) {
    return std::nullopt;
  }
  const auto f = state->items();
  auto text = [](const Value& x) {
    return x.is_none() ? std::nullopt : std::optional<std::string>(x.as_str());
  };
  return Uri::from_state(std::string(f[0].as_str()), std::string(f[1].as_str()), text(f[2]),
                         text(f[3]), f[4].is_none() ? std::nullopt : std::optional(f[4].as_int()));
}

// v with every URI class dict that points at (host, from) pointed at (host, to) instead.
Value relocated(const Value& v, const std::string& host, std::int64_t from, std::int64_t to,
                bool& changed) {
  if (const auto uri = uri_of_dict(v); uri && uri->host() == host && uri->port() == from) {
    Dict out = v.as_dict();
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out.items()[i].first == Value("state")) {
        Value& state = out.value_at(i);
        state.items()[4] = Value(to);
      }
    }
    changed = true;
    return Value(std::move(out));
  }
  if (v.is_sequence()) {
    std::vector<Value> items;
    for (const Value& item : v.items())
      items.push_back(relocated(item, host, from, to, changed));
    return v.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (v.is_dict()) {
    Dict out;
    for (const auto& [key, value] : v.as_dict())
      out.set(key, relocated(value, host, from, to, changed));
    return Value(std::move(out));
  }
  return v;
}

// The fake's reply filter for a scenario in which the client goes on to the object the name
// server named: the recorded daemon's URIs are fields (host, port) of URI class dicts, which the
// fake's textual location patch cannot reach, so the payload is decoded, pointed at the fake
// (which plays the daemon too) and encoded again with our codec.
FakeDaemon::ReplyFilter relocating_filter(const Scenario& s, const std::string& daemon_location) {
  const auto [host, from] = split_location(daemon_location);
  return [&s, host, from](std::size_t index, std::string& bytes, int port) {
    const RecordedMessage& rec = s.messages[index];
    if (rec.framing != "pyro" || rec.type != static_cast<int>(MessageType::result)) return;
    Wire w = parse_wire(bytes);
    const Serializer* ser = serializer_by_id(static_cast<std::uint8_t>(w.header.serializer_id),
                                             dialect_of(w.header.protocol));
    if (ser == nullptr) return;
    bool changed = false;
    const Value v = relocated(ser->decode(w.message.payload), host, from, port, changed);
    if (!changed) return;
    w.message.payload = ser->encode(v);
    bytes = encode_message(w.message);
  };
}

// The positional and keyword arguments of a decoded INVOKE payload: (object, method, args,
// kwargs) in serpent, marshal and msgpack, {"object", "method", "params", "kwargs"} in json.
struct CallParts {
  std::string method;
  Value* args = nullptr;
  Value* kwargs = nullptr;
};

std::optional<CallParts> call_parts(Value& payload) {
  if (payload.is_sequence() && payload.size() == 4) {
    auto& items = payload.items();
    if (!items[1].is_str() || !items[2].is_sequence() || !items[3].is_dict()) return std::nullopt;
    return CallParts{std::string(items[1].as_str()), &items[2], &items[3]};
  }
  if (!payload.is_dict()) return std::nullopt;
  CallParts parts;
  Dict& d = payload.as_dict();
  for (std::size_t i = 0; i < d.size(); ++i) {
    const Value& key = d.items()[i].first;
    Value& value = d.value_at(i);
    if (key == Value("method") && value.is_str()) parts.method = value.as_str();
    if (key == Value("params") && value.is_sequence()) parts.args = &value;
    if (key == Value("kwargs") && value.is_dict()) parts.kwargs = &value;
  }
  if (parts.method.empty() || parts.args == nullptr || parts.kwargs == nullptr) return std::nullopt;
  return parts;
}

// The documented differences between the requests of our typed client API and Python's (see
// the file comment), rewritten away in a decoded request payload. Returns what was rewritten.
std::string equate_requests(Value& payload, std::uint16_t protocol) {
  const auto call = call_parts(payload);
  if (!call) return {};
  std::string why;
  auto& args = call->args->items();
  if (call->method == "register" && args.size() >= 2) {
    if (const auto uri = uri_of_dict(args[1])) {
      args[1] = Value(uri->str());
      why = "register's uri argument: a URI object where the recorded client sent its text";
    }
  }
  if (call->method == "register" && protocol == protocol_48) {
    Dict& kwargs = call->kwargs->as_dict();
    for (std::size_t i = 0; i < kwargs.size(); ++i) {
      Value& tags = kwargs.value_at(i);
      if (kwargs.items()[i].first == Value("metadata") && tags.is_any_set()) {
        std::vector<Value> items(tags.as_set().begin(), tags.as_set().end());
        tags = Value::list(std::move(items));
        why += std::string(why.empty() ? "" : "; ") +
               "register's tags: a list for Pyro4 where the recorded client sent a set";
      }
    }
  }
  if (call->method == "lookup" && protocol == protocol_502 && args.size() == 2 &&
      identical(args[1], Value(0.0))) {
    args.pop_back();
    why = "Pyro5's PYRONAME resolution sends lookup(name, 0.0), ours lookup(name)";
  }
  return why;
}

// What a step did on the C++ side, in the shape Python's client reported it.
struct Outcome {
  std::optional<Value> returned;  // compared with python_client.returned (see check_outcome)
  std::optional<ExceptionInfo> raised;
  std::string raised_type;  // the C++ exception type, for messages
};

Value tags_value(const std::set<std::string>& tags) {
  std::vector<Value> items(tags.begin(), tags.end());
  return Value::list(std::move(items));
}

// Runs the recorded steps with our client API: locate_ns, the NameServerProxy methods, and a
// PYRONAME proxy for calls on other objects.
class NamingSession {
 public:
  NamingSession(Config config, int port) : config_(std::move(config)), port_(port) {}

  Outcome run(const rapidjson::Value& step) {
    Outcome out;
    try {
      out.returned = perform(step);
    } catch (const std::exception& e) {
      out.raised = ExceptionInfo::from_exception(e);
      out.raised_type = detail::demangle(typeid(e).name());
    }
    return out;
  }

  NameServerProxy* nameserver() { return ns_ ? &*ns_ : nullptr; }

  void close() {
    proxies_.clear();
    ns_.reset();
  }

 private:
  Value perform(const rapidjson::Value& step) {
    const std::string action = json_string(find_member(step, "action"));
    if (action == "locate_ns") {
      // the recorded client located the name server by its address (no broadcast)
      ns_.emplace(locate_ns("127.0.0.1", port_, true, config_));
      return Value();
    }
    if (action != "call") throw std::logic_error("unsupported action " + action);
    const std::string object = json_string(find_member(step, "object"));
    const std::string method = json_string(find_member(step, "method"));
    Value args = tagged_to_value(step["args"]);
    const Value kwargs = tagged_to_value(step["kwargs"]);
    if (object != nameserver_name) {
      // a call on a named object: the proxy asks the name server when it connects
      auto& p = proxies_[object];
      if (!p) {
        p = std::make_unique<Proxy>(
            Uri("PYRONAME:" + object + "@127.0.0.1:" + std::to_string(port_)), config_);
        p->set_timeout(std::chrono::duration<double>(io_timeout).count());
      }
      return p->call_with(method, Value::tuple(args.items()), kwargs);
    }
    if (!ns_) throw std::logic_error("a name server call before locate_ns");
    return call_nameserver(*ns_, method, args, kwargs);
  }

  // The typed NameServerProxy method for a recorded name server call, its result as a Value.
  static Value call_nameserver(NameServerProxy& ns, const std::string& method, const Value& args,
                               const Value& kwargs) {
    auto keyword = [&](const char* name) { return kwargs.find(Value(name)); };
    auto flag = [&](const char* name) {
      const Value* v = keyword(name);
      return v != nullptr && v->as_bool();
    };
    if (method == "lookup" && args.size() == 1) {
      const std::string name(args[0].as_str());
      if (flag("return_metadata")) {
        auto [uri, tags] = ns.lookup_with_metadata(name);
        return Value::tuple({Value(uri.str()), tags_value(tags)});
      }
      return Value(ns.lookup(name).str());
    }
    if (method == "list" && args.size() == 0 && kwargs.size() == 1 && keyword("prefix")) {
      Dict out;
      for (const auto& [name, uri] : ns.list(std::string(keyword("prefix")->as_str())))
        out.set(Value(name), Value(uri));
      return Value(std::move(out));
    }
    if (method == "register" && args.size() == 2) {
      std::optional<std::set<std::string>> tags;
      if (const Value* m = keyword("metadata"); m != nullptr && !m->is_none()) {
        tags.emplace();
        for (const Value& t : m->as_set())
          tags->emplace(t.as_str());
      }
      ns.register_name(args[0].as_str(), Uri(args[1].as_str()), flag("safe"), std::move(tags));
      return Value();
    }
    if (method == "remove" && args.size() == 1 && kwargs.size() == 0) {
      return Value(ns.remove(args[0].as_str()));
    }
    if (method == "count" && args.size() == 0) return Value(ns.count());
    throw std::logic_error("no typed NameServerProxy method for " + method + args.repr() +
                           kwargs.repr());
  }

  Config config_;
  int port_;
  std::optional<NameServerProxy> ns_;
  std::map<std::string, std::unique_ptr<Proxy>> proxies_;
};

// The value Python's client returned, in the shape NamingSession reports ours: URIs as text
// (with the fake's location for the recorded name server's), tags as a sorted list, list()
// results with their names sorted (NameServerProxy::list returns a std::map).
Value expected_returned(const rapidjson::Value& returned, const std::string& from,
                        const std::string& to) {
  if (is_tag(returned, "$uri")) return Value(replace_all(returned["$uri"].GetString(), from, to));
  const Value v = tagged_to_value(returned);
  if (v.is_sequence() && v.size() == 2) {
    // lookup(return_metadata=True): (uri, tags)
    const auto& pair = is_tag(returned, "$tuple") ? returned["$tuple"] : returned;
    if (pair.IsArray() && is_tag(pair[0], "$uri")) {
      std::set<std::string> tags;
      const Value t = v.items()[1];
      if (t.is_any_set()) {
        for (const Value& x : t.as_set())
          tags.emplace(x.as_str());
      } else {
        for (const Value& x : t.items())
          tags.emplace(x.as_str());
      }
      return Value::tuple({expected_returned(pair[0], from, to), tags_value(tags)});
    }
  }
  if (v.is_dict()) {
    std::map<std::string, Value> sorted;
    for (const auto& [key, value] : v.as_dict())
      sorted.emplace(key.as_str(), value);
    Dict out;
    for (const auto& [key, value] : sorted)
      out.set(Value(key), value);
    return Value(std::move(out));
  }
  return v;
}

void check_outcome(const rapidjson::Value& step, const Outcome& out, NamingSession& session,
                   const std::string& advertised, const std::string& ours) {
  const auto* pc = find_member(step, "python_client");
  ASSERT_NE(pc, nullptr) << "the recording has no python_client outcome";
  if (const auto* raised = find_member(*pc, "raised")) {
    if (!out.raised) {
      ADD_FAILURE() << "expected " << json_text(*raised)
                    << ", got a result: " << (out.returned ? out.returned->repr() : "nothing");
      return;
    }
    EXPECT_EQ(out.raised->class_name, as_reported(json_string(find_member(*raised, "class"))))
        << "exception class (C++ " << out.raised_type << ": " << out.raised->message() << ")";
    const Value got = Value::list(out.raised->args);
    const Value want = Value::list(tagged_to_value((*raised)["args"]).items());
    EXPECT_TRUE(identical(got, want))
        << "exception args: ours " << got.repr() << ", Python's " << want.repr();
    return;
  }
  if (out.raised) {
    ADD_FAILURE() << "our client raised " << out.raised->class_name << "("
                  << Value::list(out.raised->args).repr() << ") [C++ " << out.raised_type
                  << "], Python's client " << json_text(*pc);
    return;
  }
  const auto* returned = find_member(*pc, "returned");
  ASSERT_NE(returned, nullptr) << json_text(*pc);
  if (is_tag(*returned, "$proxy")) {
    // locate_ns: a proxy bound to the name server, with its metadata
    const auto& want = (*returned)["$proxy"];
    NameServerProxy* ns = session.nameserver();
    ASSERT_NE(ns, nullptr);
    EXPECT_EQ(ns->uri().str(),
              replace_all(json_string(find_member(want, "uri")), advertised, ours));
    EXPECT_TRUE(ns->proxy().connected()) << "located by address: bound";
    EXPECT_EQ(ns->proxy().methods(), name_set(want["methods"])) << "metadata methods";
    EXPECT_EQ(ns->proxy().oneway_methods(), name_set(want["oneway"])) << "metadata oneway";
    EXPECT_EQ(ns->proxy().attributes(), name_set(want["attrs"])) << "metadata attrs";
    return;
  }
  const Value want = expected_returned(*returned, advertised, ours);
  const Value got = out.returned.value_or(Value());
  EXPECT_TRUE(identical(got, want))
      << "result: ours " << got.repr() << ", Python's " << want.repr();
}

class NameServerClientReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(NameServerClientReplay, SendsWhatTheRecordedClientSent) {
  const Scenario& s = scenario_named(GetParam());
  const std::string advertised = ns_advertised(s);
  std::vector<std::size_t> indices(s.messages.size());
  for (std::size_t i = 0; i < indices.size(); ++i)
    indices[i] = i;
  FakeDaemon::ReplyFilter filter;
  if (peer_of(s, "daemon") != nullptr) {
    filter = relocating_filter(s, advertised_of(s, "daemon", "127.0.0.1:47101"));
  }
  FakeDaemon fake(s, indices, advertised, filter);
  const std::string ours = fake.location();

  Config config = config_of(s);
  config.commtimeout = std::chrono::duration<double>(io_timeout).count();  // bounds every wait
  {
    NamingSession session(config, fake.port());
    int number = 0;
    for (const auto& step : s.json["steps"].GetArray()) {
      ++number;
      SCOPED_TRACE("step " + std::to_string(number) + " (" +
                   json_string(find_member(step, "action")) + " " +
                   json_string(find_member(step, "method")) + ")");
      const Outcome out = session.run(step);
      check_outcome(step, out, session, advertised, ours);
    }
    session.close();
  }
  fake.finish();

  for (const auto& e : fake.errors())
    ADD_FAILURE() << "fake name server: " << e;
  for (const std::size_t i : indices) {
    const RecordedMessage& rec = s.messages[i];
    if (rec.direction != "c2s") continue;
    const auto it = fake.received().find(i);
    if (it == fake.received().end()) {
      ADD_FAILURE() << "our client did not send a message in place of " << rec.file;
      continue;
    }
    CompareSettings settings;
    settings.what = "client request " + rec.file;
    settings.tag_lists = true;
    const std::uint16_t protocol = parse_wire(rec.bytes).header.protocol;
    settings.equate = [protocol](Value& payload) { return equate_requests(payload, protocol); };
    compare_message(s, i, it->second, settings);
  }
}

// =============================================================================================
// Broadcast discovery (UDP, loopback only)
// =============================================================================================

// A UDP socket bound to 127.0.0.1 with bounded waits. Resource type: immovable.
class Datagrams {
 public:
  Datagrams() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket(): " + std::string(std::strerror(errno)));
    sockaddr_in addr = loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("bind(): " + std::string(std::strerror(errno)));
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Datagrams() { ::close(fd_); }
  Datagrams(const Datagrams&) = delete;
  Datagrams& operator=(const Datagrams&) = delete;

  int port() const noexcept { return port_; }

  static sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void send_to(const sockaddr_in& to, std::string_view bytes) const {
    if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to) != static_cast<ssize_t>(bytes.size())) {
      throw std::runtime_error("sendto(): " + std::string(std::strerror(errno)));
    }
  }

  // One datagram and its sender, or nullopt when none came before the deadline.
  std::optional<std::pair<std::string, sockaddr_in>> receive(Clock::time_point deadline) const {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      char buffer[2048];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t got =
          ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return std::nullopt;
      return std::make_pair(std::string(buffer, static_cast<std::size_t>(got)), from);
    }
  }

 private:
  int fd_;
  int port_ = 0;
};

const RecordedMessage& recorded(const Scenario& s, const char* direction) {
  for (const auto& m : s.messages) {
    if (m.direction == direction && m.framing == "datagram") return m;
  }
  throw std::runtime_error("no recorded " + std::string(direction) + " datagram in " + s.name);
}

class BroadcastReplay : public ::testing::TestWithParam<std::string> {};

// The recorded GET_NSURI datagram, sent to our responder for our name server: the answer is the
// recorded one, the name server's URI as text, with our name server's location (it listens on a
// free port; the responder answers the internal URI, as Pyro's does).
TEST_P(BroadcastReplay, ResponderAnswersTheRecordedRequest) {
  const Scenario& s = scenario_named(GetParam());
  NameServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.broadcast = false;
  NameServerDaemon ns(options, config_of(s));
  BroadcastServer responder(ns.uri(), "127.0.0.1", 0);

  Datagrams client;
  client.send_to(Datagrams::loopback(responder.port()), recorded(s, "c2s").bytes);
  const auto answer = client.receive(Clock::now() + io_timeout);
  ASSERT_TRUE(answer.has_value()) << "no answer from the broadcast responder";
  EXPECT_EQ(answer->second.sin_port, htons(static_cast<std::uint16_t>(responder.port())))
      << "answered from the responder's socket";
  const std::string want =
      replace_all(recorded(s, "s2c").bytes, ns_advertised(s), ns.daemon().location());
  EXPECT_EQ(printable(answer->first), printable(want));
  if (!answer->first.empty()) ++counts().location;
}

// Answers the first datagram with the recorded reply and keeps every datagram it gets until
// stopped. Runs on its own thread. Resource type: immovable; the destructor stops the thread.
class FakeResponder {
 public:
  explicit FakeResponder(std::string reply)
      : reply_(std::move(reply)), thread_([this] { run(); }) {}
  ~FakeResponder() { stop(); }
  FakeResponder(const FakeResponder&) = delete;
  FakeResponder& operator=(const FakeResponder&) = delete;

  int port() const noexcept { return socket_.port(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // After stop(): every datagram that came.
  const std::vector<std::string>& received() const noexcept { return received_; }

 private:
  void run() {
    const auto deadline = Clock::now() + 2 * io_timeout;  // a bound even if never stopped
    while (!stopping_ && Clock::now() < deadline) {
      auto got = socket_.receive(Clock::now() + std::chrono::milliseconds(20));
      if (!got) continue;
      if (received_.empty()) socket_.send_to(got->second, reply_);
      received_.push_back(std::move(got->first));
    }
  }

  Datagrams socket_;
  std::string reply_;
  std::atomic<bool> stopping_{false};
  std::vector<std::string> received_;  // written by the thread until stop()
  std::thread thread_;                 // last: starts once the rest is there
};

// The client config of a discovery replay: broadcasts go to 127.0.0.1 only, and the direct
// attempts locate_ns makes first (NS_HOST is a loopback name) go to `port`, where nothing
// listens (guard()).
Config discovery_config(const Scenario& s, int port) {
  Config config = config_of(s);
  config.broadcast_addrs = {"127.0.0.1"};
  config.ns_host = "127.0.0.1";
  config.ns_port = port;
  config.commtimeout = std::chrono::duration<double>(io_timeout).count();
  return config;
}

// A TCP socket bound (never listening) on every address at port: connections to it are refused
// at once, whatever else runs on this machine. Empty when the port is taken.
Socket guard(int port) {
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Socket();
  return s;
}

// discover_ns sends the recorded GET_NSURI datagram and reads the recorded answer as the URI.
TEST_P(BroadcastReplay, DiscoverySendsTheRecordedRequest) {
  const Scenario& s = scenario_named(GetParam());
  FakeResponder fake(recorded(s, "s2c").bytes);
  const auto found = discover_ns(fake.port(), std::chrono::duration<double>(io_timeout).count(),
                                 discovery_config(s, fake.port()));
  fake.stop();
  ASSERT_TRUE(found.has_value()) << "no answer read";
  EXPECT_EQ(found->str(), recorded(s, "s2c").bytes);
  ASSERT_EQ(fake.received().size(), 1u) << "one datagram per BROADCAST_ADDRS address";
  EXPECT_EQ(printable(fake.received()[0]), printable(recorded(s, "c2s").bytes));
}

// locate_ns() without a host, as the recording did: the direct attempts fail, the broadcast
// finds the name server, and the proxy comes back unconnected (no metadata), as Python's did.
TEST_P(BroadcastReplay, LocateNsFindsTheNameServerByBroadcast) {
  const Scenario& s = scenario_named(GetParam());
  std::optional<FakeResponder> fake;
  Socket blocked;
  for (int attempt = 0; attempt < 20 && !blocked.is_open(); ++attempt) {
    fake.emplace(recorded(s, "s2c").bytes);
    blocked = guard(fake->port());
  }
  ASSERT_TRUE(blocked.is_open()) << "no UDP port whose TCP twin is free";

  std::optional<NameServerProxy> ns;
  try {
    ns.emplace(locate_ns("", fake->port(), true, discovery_config(s, fake->port())));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "locate_ns failed: " << e.what();
  }
  fake->stop();
  ASSERT_TRUE(ns.has_value());

  const auto& pc = s.json["steps"][0]["python_client"]["returned"]["$proxy"];
  EXPECT_EQ(ns->uri().str(), json_string(find_member(pc, "uri")));
  EXPECT_FALSE(ns->proxy().connected()) << "a proxy found by broadcast is not bound";
  EXPECT_EQ(ns->proxy().methods(), name_set(pc["methods"]));
  ASSERT_EQ(fake->received().size(), 1u) << "one round answered at once";
  EXPECT_EQ(printable(fake->received()[0]), printable(recorded(s, "c2s").bytes));
}

INSTANTIATE_TEST_SUITE_P(Naming, NameServerReplay, ::testing::ValuesIn(names_where(is_naming)),
                         full_test_name);
INSTANTIATE_TEST_SUITE_P(Naming, NameServerClientReplay,
                         ::testing::ValuesIn(names_where(is_naming)), full_test_name);
INSTANTIATE_TEST_SUITE_P(Naming, BroadcastReplay, ::testing::ValuesIn(names_where(is_broadcast)),
                         full_test_name);

[[maybe_unused]] const bool summary =
    add_summary("golden replay summary (name server, protocols 502 and 48)");

}  // namespace
}  // namespace pyro::testing
