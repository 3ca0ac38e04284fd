// interop_client — the C++ half of the live proxy checks (tests/interop/test_cpp_to_pyro4.py):
// our Proxy against a Python Pyro daemon serving the interop service (pyro4_server.py, which
// mirrors tests/support/interop_service.hpp).
//
// Usage: interop_client --uri URI --guarded-uri URI [--serializer NAME] [--protocol 48|502]
//                       [--key HMAC_KEY] [--check NAME|all]
//
// Prints one JSON line per check: {"check": NAME, "ok": true|false, "detail": TEXT}, plus
// "skipped": true for a check that does not apply (HMAC over protocol 502, or without a key).
// Exit status 0 when every check ran and passed, 1 when one failed, 2 for a usage error.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "pyro/client.hpp"
#include "pyro/serializer.hpp"

namespace {

using pyro::Value;

// =============================================================================================
// Check machinery
// =============================================================================================

// A check whose expectation did not hold.
struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A check that does not apply to this configuration.
struct CheckSkipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void expect(bool condition, const std::string& what) {
  if (!condition) throw CheckFailed(what);
}

// Runs f, which must throw E; returns the exception for further checks on it.
template <class E, class F>
E expect_throw(F&& f, const std::string& what) {
  try {
    f();
  } catch (const E& e) {
    return e;
  }
  throw CheckFailed(what + ": nothing was thrown");
}

void expect_message(const std::exception& e, const std::string& expected) {
  expect(std::string(e.what()) == expected,
         "message: expected \"" + expected + "\", got \"" + e.what() + "\"");
}

// Strict equality: Python's == plus the same type at every level (1 is not 1.0 or True, a tuple
// is not a list), NaN equal to NaN and -0.0 different from 0.0. Dicts compare as mappings
// (serpent writes them sorted), sets as sets.
bool same(const Value& a, const Value& b) {
  if (a.is_bool() || b.is_bool()) return a.is_bool() && b.is_bool() && a.as_bool() == b.as_bool();
  if (a.is_int() || b.is_int()) return a.is_int() && b.is_int() && a == b;
  if (a.is_float() || b.is_float()) {
    if (!a.is_float() || !b.is_float()) return false;
    const double x = a.as_float(), y = b.as_float();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return x == y && std::signbit(x) == std::signbit(y);
  }
  if (a.is_tuple() != b.is_tuple() || a.is_list() != b.is_list()) return false;
  if (a.is_sequence()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[static_cast<std::ptrdiff_t>(i)], b[static_cast<std::ptrdiff_t>(i)])) {
        return false;
      }
    }
    return true;
  }
  if (a.is_dict() != b.is_dict()) return false;
  if (a.is_dict()) {
    if (a.as_dict().size() != b.as_dict().size()) return false;
    for (const auto& [key, value] : a.as_dict()) {
      const Value* other = b.find(key);
      if (other == nullptr || !same(value, *other)) return false;
    }
    return true;
  }
  if (a.is_set() != b.is_set() || a.is_frozenset() != b.is_frozenset()) return false;
  if (a.is_str() != b.is_str() || a.is_bytes() != b.is_bytes()) return false;
  return a == b;
}

void expect_same(const Value& got, const Value& expected, const std::string& what) {
  expect(same(got, expected), what + ": expected " + expected.repr() + ", got " + got.repr());
}

struct Options {
  std::string uri;
  std::string guarded_uri;
  std::string serializer = "serpent";
  int protocol = 48;
  std::optional<std::string> key;
  std::string check = "all";
};

// What every check gets: the options and a Config made from them.
struct Setup {
  Options options;
  pyro::Config config;

  pyro::Proxy proxy() const { return pyro::Proxy(options.uri, config); }
  bool json() const { return options.serializer == "json"; }
  bool msgpack() const { return options.serializer == "msgpack"; }
  // json and msgpack have arrays only: tuples and sets arrive as lists.
  bool arrays_only() const { return json() || msgpack(); }
  // Python's str() of the daemon's address, as Pyro's connection messages show it.
  std::string location(const std::string& uri) const {
    const pyro::Uri u(uri);
    return "('" + u.host().value_or("") + "', " + std::to_string(u.port().value_or(0)) + ")";
  }
};

// Echoes each value and compares the answer with the expected one.
void echo_all(pyro::Proxy& p, const std::vector<std::pair<Value, Value>>& cases) {
  for (const auto& [sent, expected] : cases)
    expect_same(p.call("echo", sent), expected, "echo(" + sent.repr() + ")");
}

// Echoes each value and expects it back unchanged.
void echo_each(pyro::Proxy& p, const std::vector<Value>& values) {
  for (const Value& v : values)
    expect_same(p.call("echo", v), v, "echo(" + v.repr() + ")");
}

// =============================================================================================
// The checks
// =============================================================================================

std::string check_scalars(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const std::vector<Value> values = {Value(),
                                     Value(true),
                                     Value(false),
                                     Value(0),
                                     Value(-1),
                                     Value(std::numeric_limits<std::int64_t>::max()),
                                     Value(std::numeric_limits<std::int64_t>::min()),
                                     Value(3.25),
                                     Value(-1e300),
                                     Value(5e-324),
                                     Value(""),
                                     Value("plain text")};
  echo_each(p, values);
  return std::to_string(values.size()) + " values";
}

std::string check_bigints(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const std::vector<Value> values = {
      Value::int_from_text("9223372036854775808"),      // 2**63
      Value::int_from_text("-9223372036854775809"),     // -2**63 - 1
      Value::int_from_text("18446744073709551616"),     // 2**64
      Value::int_from_text("-1180591620717411303424"),  // -2**70
      Value::int_from_text("1606938044258990275541962092341162602522202993782792835301376")};
  echo_each(p, values);
  if (s.msgpack() && s.options.protocol == 48) {
    // Pyro4's msgpack decoder of call envelopes lacks the ext-type hook (protocol-v48.md §10):
    // the method gets the raw ext object (a tuple), so arithmetic on it fails.
    const auto e = expect_throw<pyro::RemoteError>([&] { p.call("add", values[2], 1); },
                                                   "add(2**64, 1) in Pyro4's msgpack");
    expect(e.class_name() == "builtins.TypeError", "class: " + e.class_name());
    return std::to_string(values.size()) + " values; add() sees Pyro4's raw ext object";
  }
  // Arithmetic done by Python on a big int we sent: 2**64 + 1.
  expect_same(p.call("add", values[2], 1), Value::int_from_text("18446744073709551617"),
              "add(2**64, 1)");
  return std::to_string(values.size()) + " values and add(2**64, 1)";
}

std::string check_floats(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const double inf = std::numeric_limits<double>::infinity();
  for (const double d : {0.1, -0.0, 1.0 / 3, 1e308, inf, -inf, std::nan("")})
    echo_each(p, {Value(d)});
  return "0.1, -0.0, 1/3, 1e308, inf, -inf, nan";
}

std::string check_unicode(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const std::vector<Value> values = {
      Value("h\u00e9llo w\u00f6rld"),     Value("\u65e5\u672c\u8a9e"),
      Value("emoji \U0001F600!"),         Value("quotes ' \" and backslash \\ tab\t newline\n"),
      Value(std::string("nul\0byte", 8)), Value("\u20ac\u00a0\u2028")};
  echo_each(p, values);
  expect_same(p.call("upper", "stra\u00dfe \u00e9t\u00e9"), Value("STRASSE \u00c9T\u00c9"),
              "upper() by Python");
  return std::to_string(values.size()) + " strings and upper()";
}

std::string check_containers(const Setup& s) {
  pyro::Proxy p = s.proxy();
  Value nested = Value::dict(
      {{"list", Value::list({1, Value::list({2, "three", Value::list()}), Value()})},
       {"dict", Value::dict({{"inner", Value::dict({{"deep", Value::list({1.5, false})}})}})},
       {"empty_dict", Value::dict()},
       {"unicode \u00e9", "value"}});
  Value deep = Value::list({"bottom"});
  for (int i = 0; i < 40; ++i)
    deep = Value::list({i, deep});
  echo_each(p, {nested, deep, Value::list()});
  // Non-string keys: json turns them into strings, Python's msgpack refuses them on receipt, the
  // others keep them.
  const Value int_keys = Value::dict({{1, "one"}, {-2, "minus two"}});
  if (s.msgpack()) {
    const auto e = expect_throw<pyro::RemoteError>([&] { p.call("echo", int_keys); },
                                                   "echo of int keys in msgpack");
    expect(e.class_name() == "builtins.ValueError" &&
               std::string(e.what()).find("map key") != std::string::npos,
           "echo of int keys in msgpack: " + e.class_name() + ": " + e.what());
    return "nested dict/list, 41 levels deep, empty; int keys refused by the daemon";
  }
  echo_all(p, {{int_keys, s.json() ? Value::dict({{"1", "one"}, {"-2", "minus two"}}) : int_keys}});
  return "nested dict/list, 41 levels deep, empty, int keys";
}

std::string check_tuples(const Setup& s) {
  pyro::Proxy p = s.proxy();
  Value t = Value::tuple({1, "two", Value::tuple({3.0}), Value::list({Value::tuple({})})});
  // json and msgpack have no tuple: Python gets and returns lists.
  Value expected = s.arrays_only()
                       ? Value::list({1, "two", Value::list({3.0}), Value::list({Value::list()})})
                       : t;
  echo_all(p, {{t, expected}});
  // Nor sets (sent as a list).
  Value set = Value::set({1, 2, "three"});
  Value got = p.call("echo", set);
  if (s.arrays_only()) {
    expect(got.is_list() && got.size() == 3,
           "echo(set): expected a 3-item list, got " + got.repr());
    for (const auto& item : got.items())
      expect(set.as_set().contains(item), "echo(set): unexpected item " + item.repr());
  } else {
    expect_same(got, set, "echo(set)");
  }
  return s.arrays_only() ? "tuples and sets came back as lists" : "tuples and sets kept";
}

std::string check_bytes(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const std::string raw = std::string("\x00\x01\xfe\xff", 4) + "binary";
  const Value data = Value::bytes(raw);
  if (s.json()) {
    const auto e =
        expect_throw<pyro::SerializeError>([&] { p.call("echo", data); }, "echo(bytes) in json");
    expect(std::string(e.what()).find("don't know how to serialize class <class 'bytes'>") == 0,
           std::string("message: ") + e.what());
    // The proxy stays usable.
    expect_same(p.call("echo", 1), Value(1), "echo(1) after the refused call");
    return std::string("refused locally: ") + e.what();
  }
  const Value got = p.call("echo", data);
  if (s.options.serializer == "serpent") {
    // Serpent sends bytes as a base64 map; Python's method sees (and returns) that dict.
    expect_same(got, Value::dict({{"data", "AAH+/2JpbmFyeQ=="}, {"encoding", "base64"}}),
                "echo(bytes) in serpent");
    return "bytes came back as serpent's base64 dict";
  }
  expect_same(got, data, "echo(bytes)");
  return "bytes kept";
}

std::string check_typed_calls(const Setup& s) {
  pyro::Proxy p = s.proxy();
  expect(p.call<std::int64_t>("add", 40, 2) == 42, "add(40, 2) != 42");
  expect(p.call<std::string>("upper", "shout") == "SHOUT", "upper('shout') != 'SHOUT'");
  const auto calc = p.call<std::vector<Value>>("calc", 21, "abc", 1.25);
  expect(calc.size() == 3 && same(calc[0], Value(42)) && same(calc[1], Value("ABC")) &&
             same(calc[2], Value(2.5)),
         "calc(21, 'abc', 1.25): got " + Value::list(calc).repr());
  return "add, upper, calc";
}

std::string check_kwargs(const Setup& s) {
  pyro::Proxy p = s.proxy();
  Value r = p.call("kwcall", 1, pyro::kw("b", 20), pyro::kw("zeta", "z"),
                   pyro::kw("alpha", Value::list({1})));
  expect_same(r,
              Value::dict({{"a", 1},
                           {"b", 20},
                           {"c", Value()},
                           {"extra", Value::dict({{"zeta", "z"}, {"alpha", Value::list({1})}})}}),
              "kwcall(1, b=20, zeta='z', alpha=[1])");
  r = p.call("kwcall", pyro::kw("c", 3), pyro::kw("a", "only keywords"));
  expect_same(
      r, Value::dict({{"a", "only keywords"}, {"b", Value()}, {"c", 3}, {"extra", Value::dict()}}),
      "kwcall(c=3, a='only keywords')");
  // Python's own TypeError for a missing argument.
  const auto e =
      expect_throw<pyro::RemoteError>([&] { p.call("kwcall", pyro::kw("b", 1)); }, "kwcall(b=1)");
  expect(e.class_name() == "builtins.TypeError", "kwcall(b=1): class " + e.class_name());
  expect_message(e, "Service.kwcall() missing 1 required positional argument: 'a'");
  return std::string("kwcall(b=1) raised TypeError: ") + e.what();
}

std::string check_exception_builtin(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const auto e =
      expect_throw<pyro::RemoteError>([&] { p.call("fail_value", "oops"); }, "fail_value('oops')");
  expect(e.class_name() == "builtins.ValueError", "class: " + e.class_name());
  expect_message(e, "invalid value: oops");
  expect(e.info().args.size() == 1 && same(e.info().args[0], Value("invalid value: oops")),
         "args: " + Value::tuple(e.info().args).repr());
  std::string tb;
  for (const auto& line : e.remote_traceback())
    tb += line;
  expect(tb.find("Traceback") != std::string::npos &&
             tb.find("ValueError: invalid value: oops") != std::string::npos &&
             tb.find("fail_value") != std::string::npos,
         "remote traceback lacks the frame or the error: " + tb);
  // The connection survives a remote exception.
  expect_same(p.call("echo", "after"), Value("after"), "echo after the exception");
  return std::to_string(e.remote_traceback().size()) + " traceback lines";
}

std::string check_exception_custom(const Setup& s) {
  pyro::Proxy p = s.proxy();
  const auto e =
      expect_throw<pyro::RemoteError>([&] { p.call("fail_custom", 7); }, "fail_custom(7)");
  expect(e.class_name() == "interop_service.InteropError", "class: " + e.class_name());
  expect_message(e, "('custom failure', 7)");
  const Value* code = e.info().attributes.find(Value("code"));
  expect(code != nullptr && same(*code, Value(7)),
         "attribute code: " + (code ? code->repr() : std::string("absent")));
  expect(!e.remote_traceback().empty(), "no remote traceback");
  std::string tb;
  for (const auto& line : e.remote_traceback())
    tb += line;
  expect(tb.find("InteropError") != std::string::npos, "traceback lacks the class: " + tb);
  return "class, args, attribute code=7 and traceback";
}

// A value no earlier run can have left in the service.
std::string unique_token(const std::string& prefix) {
  return prefix + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Waits for last() to answer token: the daemon runs oneway calls on a thread of their own.
void expect_fired(pyro::Proxy& p, const std::string& token, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Value last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = p.call("last");
    if (same(last, Value(token))) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  expect_same(last, Value(token), what);
}

std::string check_oneway(const Setup& s) {
  pyro::Proxy p = s.proxy();
  p.bind();
  expect(p.oneway_methods() == std::set<std::string>{"fire"},
         "oneway methods from the metadata: " + std::to_string(p.oneway_methods().size()));
  const std::string token = unique_token("fired");
  p.call("fire", token);  // declared oneway: returns without waiting for a reply
  expect_fired(p, token, "last() after fire()");
  // Any method can be called oneway; the sequence stays in step afterwards.
  p.oneway("echo", "ignored");
  expect_same(p.call("echo", "next"), Value("next"), "echo after a oneway echo");
  return "fire() seen by last(); oneway echo then a normal call";
}

std::string check_attributes(const Setup& s) {
  pyro::Proxy p = s.proxy();
  expect_same(p.get_attribute("value"), Value(42), "value at start");
  std::string detail;
  try {
    p.set("value", 99);
    expect_same(p.get_attribute("value"), Value(99), "value after setting 99");
    const Value rich = Value::dict({{"x", Value::list({1, 2.5, "three"})}});
    p.set_attribute("value", rich);
    expect_same(p.get_attribute("value"), rich, "value after setting a dict");
    const auto e = expect_throw<pyro::AttributeError>([&] { p.get_attribute("nonexistent"); },
                                                      "get of an unknown attribute");
    detail = e.what();
  } catch (...) {
    p.set("value", 42);
    throw;
  }
  p.set("value", 42);
  expect_same(p.get_attribute("value"), Value(42), "value restored");
  return "get/set 99/dict/restore; unknown: " + detail;
}

std::string check_batch(const Setup& s) {
  pyro::Proxy p = s.proxy();
  pyro::BatchProxy batch(p);
  batch.add("add", 1, 2).add("upper", "batched").add("kwcall", 5, pyro::kw("c", 6));
  pyro::BatchResults results = batch();
  expect(results.size() == 3, "results: " + std::to_string(results.size()));
  expect_same(*results.next(), Value(3), "add(1, 2)");
  expect_same(*results.next(), Value("BATCHED"), "upper('batched')");
  expect_same(*results.next(),
              Value::dict({{"a", 5}, {"b", Value()}, {"c", 6}, {"extra", Value::dict()}}),
              "kwcall(5, c=6)");
  expect(!results.next(), "more results than calls");

  // A oneway batch: no results, the calls still run.
  const std::string token = unique_token("batched");
  batch.add("echo", "dropped").add("fire", token);
  batch.run_oneway();
  expect_fired(p, token, "last() after a oneway batch");

  // The daemon stops at the first failure: the results up to it, then its exception.
  batch.add("echo", "first").add("fail_value", "in batch").add("echo", "never");
  if (s.options.serializer == "marshal") {
    // Python's marshal serializer converts only the top-level object into marshallable form, so
    // the daemon cannot send a result list holding an exception wrapper: the whole batch fails.
    const auto e = expect_throw<pyro::RemoteError>([&] { batch(); }, "failing batch in marshal");
    expect(e.class_name() == "builtins.ValueError", "class: " + e.class_name());
    expect_message(e, "unmarshallable object");
    expect_same(p.call("echo", "still here"), Value("still here"), "echo after the batch");
    return "3 results; oneway batch; a failing batch is unmarshallable (Python marshal limit)";
  }
  results = batch();
  expect_same(*results.next(), Value("first"), "echo('first')");
  const auto e = expect_throw<pyro::RemoteError>([&] { results.next(); }, "failed batch call");
  expect(e.class_name() == "builtins.ValueError", "class: " + e.class_name());
  expect_message(e, "invalid value: in batch");
  expect(!results.next(), "a result after the failed call");
  return "3 results; oneway batch; stop at ValueError";
}

std::string check_streaming(const Setup& s) {
  pyro::Proxy p = s.proxy();
  std::vector<std::string> items;
  for (const Value& item : p.stream("count", 5))
    items.emplace_back(item.as_str());
  expect(items == std::vector<std::string>{"item-0", "item-1", "item-2", "item-3", "item-4"},
         "count(5) gave " + std::to_string(items.size()) + " items");
  int n = 0;
  for (const Value& item : p.stream("count", 0)) {
    (void)item;
    ++n;
  }
  expect(n == 0, "count(0) gave items");
  // Stop early: close() drops the stream on the daemon; the proxy goes on working.
  {
    pyro::RemoteIterator it = p.stream("count", 1000);
    expect_same(*it.next(), Value("item-0"), "first of count(1000)");
    expect_same(*it.next(), Value("item-1"), "second of count(1000)");
    it.close();
    expect(!it.next(), "an item after close()");
  }
  expect_same(p.call("echo", "after stream"), Value("after stream"), "echo after the stream");
  return "count(5), count(0), early close";
}

std::string check_metadata(const Setup& s) {
  pyro::Proxy p = s.proxy();
  expect(p.bind(), "bind() did not connect");
  const std::set<std::string> methods = {
      "add",        "annotated", "calc",   "correlation", "count",    "echo", "fail_custom",
      "fail_value", "fire",      "kwcall", "last",        "make_sub", "upper"};
  std::string listed;
  for (const auto& m : p.methods())
    listed += m + " ";
  expect(p.methods() == methods, "methods from the handshake: " + listed);
  expect(p.attributes() == std::set<std::string>{"value"}, "attrs from the handshake");
  expect(p.oneway_methods() == std::set<std::string>{"fire"}, "oneway from the handshake");
  // Unknown and unexposed names fail in the proxy, without a round trip.
  for (const std::string name : {"hidden", "no_such_method"}) {
    const auto e = expect_throw<pyro::AttributeError>([&] { p.call(name); }, name + "()");
    expect_message(e, "remote object '" + s.options.uri + "' has no exposed attribute or method '" +
                          name + "'");
  }
  expect_same(p.call("echo", 1), Value(1), "echo after the local refusals");
  return "13 methods, attrs {value}, oneway {fire}; hidden() refused locally";
}

std::string check_handshake_reject(const Setup& s) {
  for (const Value& data : {Value::dict({{"token", "wrong"}}), Value("hello")}) {
    pyro::Proxy p(s.options.guarded_uri, s.config);
    p.set_handshake(data);
    const auto e =
        expect_throw<pyro::CommunicationError>([&] { p.bind(); }, "handshake " + data.repr());
    expect_message(e, "connection to " + s.location(s.options.guarded_uri) +
                          " rejected: handshake rejected: bad token");
    expect(!p.connected(), "connected after a rejection");
  }
  return "connection to " + s.location(s.options.guarded_uri) +
         " rejected: handshake rejected: bad token";
}

// A proxy speaking the other protocol: the daemon answers in its own, and the proxy refuses that
// reply by its version with the words of the Pyro whose protocol it speaks.
std::string check_other_protocol(const Setup& s) {
  pyro::Config other = s.config;
  other.protocol_version = s.options.protocol == 48 ? 502 : 48;
  other.hmac_key.reset();
  pyro::Proxy p(s.options.uri, other);
  const auto e = expect_throw<pyro::ProtocolError>([&] { p.bind(); }, "bind()");
  expect(typeid(e) == typeid(pyro::ProtocolError), "not a plain ProtocolError");
  expect_message(e, other.protocol_version == 502 ? "invalid protocol version: 48"
                                                  : "invalid data or unsupported protocol version");
  return "protocol " + std::to_string(other.protocol_version) + ": " + e.what();
}

std::string check_handshake_accept(const Setup& s) {
  pyro::Proxy p(s.options.guarded_uri, s.config);
  p.set_handshake(Value::dict({{"token", "let-me-in"}}));
  Value seen;
  p.set_handshake_validator([&](const Value& response) { seen = response; });
  expect_same(p.call("echo", "inside"), Value("inside"), "echo through the guarded daemon");
  const Value expected = Value::dict({{"welcome", true}, {"server", "guarded"}});
  expect_same(p.handshake_response(), expected, "handshake response");
  expect_same(seen, expected, "what the validator saw");
  return p.handshake_response().repr();
}

// Leaves the thread's context as it found it (empty), whatever happens.
struct ContextReset {
  ~ContextReset() {
    pyro::CallContext& ctx = pyro::current_context();
    ctx.annotations = pyro::Annotations();
    ctx.response_annotations = pyro::Annotations();
    ctx.correlation_id.reset();
  }
};

std::string check_annotations(const Setup& s) {
  ContextReset reset;
  pyro::Proxy p = s.proxy();
  pyro::CallContext& ctx = pyro::current_context();
  ctx.annotations.set("XCLI", "from c++");
  const Value seen = p.call("annotated", "ping");
  const Value* mine = seen.find(Value("XCLI"));
  expect(mine != nullptr && same(*mine, Value("from c++")),
         "request annotations seen by the method: " + seen.repr());
  const std::string* reply = ctx.response_annotations.find("XSRV");
  expect(reply != nullptr && *reply == "reply to ping",
         "response annotation XSRV: " + (reply ? *reply : std::string("absent")));
  std::string ids;
  for (const auto& [id, value] : ctx.response_annotations)
    ids += id + " ";
  // Only the method's own: a Pyro4 daemon adds CORR and HMAC chunks, but the protocol layer
  // turns CORR into the correlation id and verifies and drops HMAC (Pyro4's client shows both).
  expect(ctx.response_annotations.size() == 1, "response annotations: " + ids);
  // The context's annotations go with every call until changed (Pyro5's rule; Pyro4's client
  // clears them after each call).
  const Value again = p.call("annotated", "again");
  expect(again.find(Value("XCLI")) != nullptr, "XCLI not sent with the second call");
  return "method saw XCLI; reply carried " + ids;
}

std::string check_correlation(const Setup& s) {
  ContextReset reset;
  pyro::Proxy p = s.proxy();
  pyro::CallContext& ctx = pyro::current_context();
  const pyro::CorrelationId id = pyro::new_correlation_id();
  ctx.correlation_id = id;
  const Value got = p.call("correlation");
  expect_same(got, Value(pyro::correlation_id_text(id)), "correlation() seen by the daemon");
  // Another call with another id: the daemon follows it.
  const pyro::CorrelationId second = pyro::new_correlation_id();
  ctx.correlation_id = second;
  expect_same(p.call("correlation"), Value(pyro::correlation_id_text(second)),
              "correlation() after changing the id");
  return pyro::correlation_id_text(second);
}

std::string check_compression(const Setup& s) {
  pyro::Config config = s.config;
  config.compression = true;
  pyro::Proxy p(s.options.uri, config);
  // Large and compressible both ways (the daemon compresses its replies too).
  const Value text = Value(std::string(20000, 'z') + "\u00e9nd");
  expect_same(p.call("echo", text), text, "echo of a compressible text");
  pyro::ValueVector numbers;
  for (int i = 0; i < 2000; ++i)
    numbers.emplace_back(i % 7);
  const Value list = Value::list(std::move(numbers));
  expect_same(p.call("echo", list), list, "echo of 2000 small ints");
  expect_same(p.call("upper", "tiny"), Value("TINY"), "a call too small to compress");
  return "compressed requests and replies";
}

std::string check_hmac_right_key(const Setup& s) {
  if (s.options.protocol != 48) throw CheckSkipped("HMAC exists in protocol 48 only");
  if (!s.options.key) throw CheckSkipped("the daemon has no HMAC key");
  pyro::Proxy p = s.proxy();
  expect_same(p.call("echo", "signed"), Value("signed"), "echo with the right key");
  // A larger payload too (the digest covers the whole payload).
  const Value big = Value(std::string(100000, 'k'));
  expect_same(p.call("echo", big), big, "echo of 100000 characters");
  return "signed calls answered";
}

std::string check_hmac_wrong_key(const Setup& s) {
  if (s.options.protocol != 48) throw CheckSkipped("HMAC exists in protocol 48 only");
  if (!s.options.key) throw CheckSkipped("the daemon has no HMAC key");
  std::string detail;
  // Wrong key: the daemon refuses the CONNECT with "message hmac mismatch"; the proxy cannot
  // verify that reply (signed with the daemon's key) and reports the same reason itself.
  pyro::Config wrong = s.config;
  wrong.hmac_key = *s.options.key + "-wrong";
  // No key: the daemon says "hmac key config not symmetric", and so does the proxy when it sees
  // a signed reply.
  pyro::Config none = s.config;
  none.hmac_key.reset();
  for (const auto& [config, reason] : {std::pair{wrong, "message hmac mismatch"},
                                       std::pair{none, "hmac key config not symmetric"}}) {
    pyro::Proxy p(s.options.uri, config);
    const auto e = expect_throw<pyro::CommunicationError>([&] { p.bind(); }, reason);
    expect_message(e, "cannot connect to " + s.location(s.options.uri) + ": " + reason);
    detail += std::string(e.what()) + "; ";
  }
  return detail;
}

std::string check_autoproxy(const Setup& s) {
  pyro::Proxy p = s.proxy();
  // Python's marshal serializer does not replace registered objects by proxies: the object comes
  // as its attribute dict (Pyro5 adds "__class__", which must be registered to be accepted).
  pyro::ClassRegistry registry;
  registry.register_dict_to_class("interop_service.Sub", pyro::keep_as_dict);
  p.set_registry(&registry);
  const Value sub = p.call("make_sub");
  const pyro::Uri base(s.options.uri);
  if (s.options.serializer == "marshal") {
    const Value* id = sub.is_dict() ? sub.find(Value("_pyroId")) : nullptr;
    expect(id != nullptr && same(*id, Value("example.sub")) &&
               same(sub.at(Value("name")), Value("one")),
           "make_sub() in marshal: " + sub.repr());
    pyro::Proxy whoami(pyro::Uri::for_tcp("example.sub", *base.host(), *base.port()), s.config);
    expect_same(whoami.call("whoami"), Value("sub:one"), "whoami() through example.sub");
    return "no autoproxy in marshal: the attribute dict; whoami() through its _pyroId";
  }
  expect(sub.is_object() && dynamic_cast<const pyro::ProxyObject*>(sub.as_object().get()),
         "make_sub() did not return a proxy: " + sub.repr());
  const auto state = sub.get<pyro::ProxyState>();
  expect(state.uri.object() == "example.sub" && state.uri.port() == base.port(),
         "proxy uri: " + state.uri.str());
  expect(state.methods == std::vector<std::string>{"whoami"}, "proxy methods");
  // The state carries no key (Pyro4's daemon makes the proxy without one, so Pyro4's own client
  // cannot use it against a keyed daemon as it comes): a proxy for its URI takes ours.
  expect(!state.hmac_key, "the proxy state carries an HMAC key");
  pyro::Proxy whoami(state.uri, s.config);
  expect_same(whoami.call("whoami"), Value("sub:one"), "whoami() through the autoproxy");
  return state.uri.str() + " -> sub:one";
}

struct Check {
  const char* name;
  std::string (*run)(const Setup&);
};

constexpr Check checks[] = {
    {"scalars", check_scalars},
    {"bigints", check_bigints},
    {"floats", check_floats},
    {"unicode", check_unicode},
    {"containers", check_containers},
    {"tuples", check_tuples},
    {"bytes", check_bytes},
    {"typed_calls", check_typed_calls},
    {"kwargs", check_kwargs},
    {"exception_builtin", check_exception_builtin},
    {"exception_custom", check_exception_custom},
    {"oneway", check_oneway},
    {"attributes", check_attributes},
    {"batch", check_batch},
    {"streaming", check_streaming},
    {"metadata", check_metadata},
    {"handshake_reject", check_handshake_reject},
    {"handshake_accept", check_handshake_accept},
    {"other_protocol", check_other_protocol},
    {"annotations", check_annotations},
    {"correlation", check_correlation},
    {"compression", check_compression},
    {"hmac_right_key", check_hmac_right_key},
    {"hmac_wrong_key", check_hmac_wrong_key},
    {"autoproxy", check_autoproxy},
};

// One JSON line, written by our json serializer (Python's json.dumps layout).
void report(std::string_view name, bool ok, const std::string& detail, bool skipped) {
  Value line = Value::dict({{"check", name}, {"ok", ok}, {"detail", detail}});
  if (skipped) line.as_dict().set("skipped", true);
  std::cout << pyro::json_serializer().encode(line) << std::endl;
}

bool run(const Check& check, const Setup& setup) {
  try {
    report(check.name, true, check.run(setup), false);
    return true;
  } catch (const CheckSkipped& e) {
    report(check.name, true, e.what(), true);
    return true;
  } catch (const CheckFailed& e) {
    report(check.name, false, e.what(), false);
  } catch (const pyro::RemoteError& e) {
    report(check.name, false, "unexpected remote " + e.class_name() + ": " + e.what(), false);
  } catch (const std::exception& e) {
    const pyro::PyroError* pe = dynamic_cast<const pyro::PyroError*>(&e);
    report(
        check.name, false,
        std::string("unexpected ") + (pe ? pe->python_name() : typeid(e).name()) + ": " + e.what(),
        false);
  }
  return false;
}

int usage(const std::string& problem) {
  std::cerr << "interop_client: " << problem
            << "\nusage: interop_client --uri URI --guarded-uri URI [--serializer NAME] "
               "[--protocol 48|502] [--key HMAC_KEY] [--check NAME|all]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage("missing value for " + arg);
    const std::string value = argv[++i];
    if (arg == "--uri") {
      options.uri = value;
    } else if (arg == "--guarded-uri") {
      options.guarded_uri = value;
    } else if (arg == "--serializer") {
      options.serializer = value;
    } else if (arg == "--protocol") {
      options.protocol = std::stoi(value);
    } else if (arg == "--key") {
      options.key = value;
    } else if (arg == "--check") {
      options.check = value;
    } else {
      return usage("unknown option " + arg);
    }
  }
  if (options.uri.empty() || options.guarded_uri.empty()) return usage("both URIs are needed");

  Setup setup{options, pyro::Config::global()};
  setup.config.serializer = options.serializer;
  setup.config.protocol_version = options.protocol;
  setup.config.hmac_key = options.key;
  setup.config.commtimeout = 5.0;  // a silent daemon fails the check instead of hanging it
  try {
    setup.config.validate();
  } catch (const std::exception& e) {
    return usage(e.what());
  }

  bool all_ok = true;
  bool found = false;
  for (const Check& check : checks) {
    if (options.check != "all" && options.check != check.name) continue;
    found = true;
    all_ok = run(check, setup) && all_ok;
  }
  if (!found) return usage("unknown check " + options.check);
  return all_ok ? 0 : 1;
}
