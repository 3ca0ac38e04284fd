// pyro::Value, Dict, Set and the conversions: Python's data model, equality and hashing as
// CPython 3.11 computes them (expected hashes produced by it), and to_value/from_value from the
// user's side.
#include "pyro/value.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <list>

#include <gtest/gtest.h>

#include "pyro/bigint.hpp"
#include "pyro/serializer.hpp"
#include "pyro/uri.hpp"
#include "support/error_of.hpp"

namespace pyro {
namespace {

using testing::error_of;

// ---- the data model ---------------------------------------------------------------------------

TEST(Value, IsSixteenBytesAndDefaultsToNone) {
  EXPECT_EQ(sizeof(Value), 16u);
  Value v;
  EXPECT_TRUE(v.is_none());
  EXPECT_EQ(v.type_name(), "NoneType");
}

TEST(Value, KeepsEachPythonKind) {
  EXPECT_EQ(Value(true).kind(), Kind::bool_);
  EXPECT_EQ(Value(42).kind(), Kind::int_);
  EXPECT_EQ(Value(std::uint64_t{1} << 63).kind(), Kind::int_);
  EXPECT_FALSE(Value(std::uint64_t{1} << 63).is_small_int());
  EXPECT_EQ(Value(2.5).kind(), Kind::float_);
  EXPECT_EQ(Value(std::complex<double>(1, 2)).kind(), Kind::complex);
  EXPECT_EQ(Value("short").kind(), Kind::str);
  EXPECT_EQ(Value("a string longer than fourteen bytes").kind(), Kind::str);
  EXPECT_EQ(Value::bytes("x").kind(), Kind::bytes);
  EXPECT_EQ(Value::tuple({}).kind(), Kind::tuple);
  EXPECT_EQ(Value::list({}).kind(), Kind::list);
  EXPECT_EQ(Value::dict().kind(), Kind::dict);
  EXPECT_EQ(Value::set({}).kind(), Kind::set);
  EXPECT_EQ(Value::frozenset({}).kind(), Kind::frozenset);
  EXPECT_EQ(Value(DateTime{0}).kind(), Kind::datetime);
  EXPECT_EQ(Value(Date{0}).kind(), Kind::date);
}

TEST(Value, CopiesDeeplyAndMovesCheaply) {
  Value a = Value::list({1, "a string longer than fourteen bytes", Value::dict({{"k", 1}})});
  Value b = a;
  b.items()[0] = 2;
  EXPECT_EQ(a[0].as_int(), 1);
  Value c = std::move(a);
  EXPECT_TRUE(a.is_none());
  EXPECT_EQ(c[1].as_str(), "a string longer than fourteen bytes");
}

TEST(Value, RejectsInvalidUtf8Text) {
  EXPECT_EQ(error_of([] { Value("ab\xff"); }),
            "str must be valid UTF-8: invalid byte 0xff at offset 2");
}

TEST(Value, AccessorsNameExpectedAndActualType) {
  EXPECT_EQ(error_of([] { Value(1).as_str(); }), "expected str, got int");
  EXPECT_EQ(error_of([] { Value("x").as_dict(); }), "expected dict, got str");
  EXPECT_THROW(Value(1).as_str(), TypeError);
  EXPECT_EQ(error_of([] { Value::int_from_text("1180591620717411303424").as_int(); }),
            "int too large for a 64-bit integer: 1180591620717411303424");
}

TEST(Value, IndexesSequencesLikePython) {
  const Value v = Value::tuple({1, 2, 3});
  EXPECT_EQ(v[-1].as_int(), 3);
  EXPECT_EQ(error_of([&] { v[3]; }), "tuple index out of range");
  EXPECT_EQ(Value("h\xc3\xa9!").size(), 3u);  // code points
}

TEST(Value, ParsesIntsOfAnySize) {
  EXPECT_EQ(Value::int_from_text("-9223372036854775808").as_int(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(Value::int_from_text("1_000").as_int(), 1000);
  EXPECT_EQ(Value::int_from_text("0xff").as_int(), 255);
  EXPECT_EQ(Value::int_from_text("-1180591620717411303424").int_text(), "-1180591620717411303424");
  EXPECT_EQ(error_of([] { Value::int_from_text("12a"); }),
            "invalid literal for int() with base 10: '12a'");
  EXPECT_THROW(Value::int_from_text(std::string(4301, '1')), ValueError);
}

TEST(Value, ConvertsBigIntsToFloatWithCorrectRounding) {
  EXPECT_EQ(Value::int_from_text("1180591620717411303424").as_float(), 1180591620717411303424.0);
  EXPECT_EQ(Value::int_from_text("9007199254740993").as_float(),
            9007199254740992.0);  // half to even
  EXPECT_EQ(Value::int_from_text("9007199254740995").as_float(), 9007199254740996.0);
  EXPECT_THROW(Value::int_from_text("1" + std::string(400, '0')).as_float(), OverflowError);
}

TEST(Value, RoundTripsIntsThroughTwosComplementBytes) {
  for (const char* text :
       {"0", "1", "-1", "127", "128", "-128", "-129", "9223372036854775807", "-9223372036854775808",
        "18446744073709551615", "-1180591620717411303425"}) {
    const Value v = Value::int_from_text(text);
    const auto bytes = v.int_bytes();
    EXPECT_EQ(Value::int_from_bytes(bytes, true).int_text(), text);
  }
}

// ---- equality and hashing as Python ------------------------------------------------------------

TEST(ValueEquality, ComparesNumbersAcrossKindsLikePython) {
  EXPECT_EQ(Value(1), Value(1.0));
  EXPECT_EQ(Value(1), Value(true));
  EXPECT_EQ(Value(0.0), Value(false));
  EXPECT_EQ(Value(2), Value(std::complex<double>(2, 0)));
  EXPECT_NE(Value(2), Value(std::complex<double>(2, 1)));
  EXPECT_NE(Value(9007199254740993LL), Value(9007199254740992.0));  // exact, no rounding
  EXPECT_EQ(Value::int_from_text("1180591620717411303424"), Value(1180591620717411303424.0));
  EXPECT_NE(Value(std::nan("")), Value(std::nan("")));
  EXPECT_NE(Value("1"), Value(1));
  EXPECT_NE(Value("x"), Value::bytes("x"));
}

TEST(ValueEquality, ComparesContainersByContent) {
  EXPECT_NE(Value::tuple({1, 2}), Value::list({1, 2}));
  EXPECT_EQ(Value::list({1, 2.0}), Value::list({1.0, 2}));
  EXPECT_EQ(Value::dict({{"a", 1}, {"b", 2}}), Value::dict({{"b", 2}, {"a", 1}}));
  EXPECT_EQ(Value::set({1, 2}), Value::frozenset({2, 1}));
  EXPECT_FALSE(identical(Value::set({1}), Value::frozenset({1})));
  EXPECT_FALSE(identical(Value(1), Value(1.0)));
  EXPECT_TRUE(identical(Value::list({std::nan("")}), Value::list({std::nan("")})));
}

TEST(Value, EmptyContainersBehaveTheSameWithOrWithoutAHeapPart) {
  // Value::tuple({}), Value::list() and Value::dict() start without a heap part; a container
  // that had items and lost them keeps one. Both must look the same everywhere.
  Value shrunk_list = Value::list({1});
  shrunk_list.items().clear();
  Value shrunk_dict = Value::dict({{"a", 1}});
  shrunk_dict.as_dict().erase(Value("a"));
  for (const Value& empty : {Value::list(), shrunk_list}) {
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.items().empty());
    EXPECT_EQ(empty, Value::list());
    EXPECT_EQ(empty.repr(), "[]");
    Value copy = empty;
    EXPECT_TRUE(identical(copy, Value::list()));
  }
  EXPECT_EQ(Value::dict().size(), 0u);
  EXPECT_EQ(shrunk_dict, Value::dict());
  EXPECT_EQ(Value::dict().repr(), "{}");
  EXPECT_EQ(Value::dict().as_dict().find("a"), nullptr);
  EXPECT_EQ(Value::tuple({}).hash(), Value::tuple(ValueVector()).hash());
  EXPECT_EQ(Value::tuple({}).repr(), "()");
  // changing one gives it its items; a copy made before stays empty
  Value list = Value::list();
  const Value before = list;
  list.items().push_back(Value(7));
  EXPECT_EQ(list, Value::list({7}));
  EXPECT_EQ(before.size(), 0u);
  Value dict = Value::dict();
  dict.as_dict().set(Value("k"), Value(1));
  EXPECT_EQ(dict, Value::dict({{"k", 1}}));
  // every codec round-trips them
  for (const Serializer* ser :
       {&serpent_serializer(), &json_serializer(), &marshal_serializer(), &msgpack_serializer()}) {
    const Value v = Value::list({Value::list(), Value::dict(), shrunk_list, shrunk_dict});
    EXPECT_EQ(ser->decode(ser->encode(v)), v) << ser->name();
  }
}

TEST(ValueHash, MatchesCPythonForNumbersTuplesAndFrozensets) {
  EXPECT_EQ(static_cast<std::int64_t>(Value(1).hash()), 1);
  EXPECT_EQ(static_cast<std::int64_t>(Value(-1).hash()), -2);
  EXPECT_EQ(static_cast<std::int64_t>(Value(2305843009213693951LL).hash()), 0);
  EXPECT_EQ(static_cast<std::int64_t>(Value(2305843009213693952LL).hash()), 1);
  EXPECT_EQ(static_cast<std::int64_t>(Value(std::numeric_limits<std::int64_t>::min()).hash()), -4);
  EXPECT_EQ(static_cast<std::int64_t>(Value(std::uint64_t{1} << 63).hash()), 4);
  EXPECT_EQ(static_cast<std::int64_t>(Value::int_from_text("1180591620717411303424").hash()), 512);
  EXPECT_EQ(static_cast<std::int64_t>(Value::int_from_text("-1180591620717411303424").hash()),
            -512);
  EXPECT_EQ(static_cast<std::int64_t>(Value(1.5).hash()), 1152921504606846977);
  EXPECT_EQ(static_cast<std::int64_t>(Value(-2.25).hash()), -576460752303423490);
  EXPECT_EQ(static_cast<std::int64_t>(Value(1e300).hash()), 1224995262755759164);
  EXPECT_EQ(static_cast<std::int64_t>(Value(std::numeric_limits<double>::infinity()).hash()),
            314159);
  EXPECT_EQ(static_cast<std::int64_t>(Value(3.14159).hash()), 326484311674566659);
  EXPECT_EQ(static_cast<std::int64_t>(Value(std::complex<double>(1, 2)).hash()), 2000007);
  EXPECT_EQ(static_cast<std::int64_t>(Value::tuple({1, 2}).hash()), -3550055125485641917);
  EXPECT_EQ(static_cast<std::int64_t>(Value::tuple({}).hash()), 5740354900026072187);
  EXPECT_EQ(static_cast<std::int64_t>(Value::tuple({1, Value::tuple({2, 3})}).hash()),
            7267574591690527098);
  EXPECT_EQ(static_cast<std::int64_t>(Value::frozenset({1, 2, 3}).hash()), -272375401224217160);
  EXPECT_EQ(Value(true).hash(), Value(1).hash());
  EXPECT_EQ(Value(1.0).hash(), Value(1).hash());
}

TEST(ValueHash, RefusesUnhashableKinds) {
  EXPECT_EQ(error_of([] { Value::list({}).hash(); }), "unhashable type: 'list'");
  EXPECT_EQ(error_of([] { Value::tuple({Value::dict()}).hash(); }), "unhashable type: 'dict'");
}

// ---- Dict and Set ------------------------------------------------------------------------------

TEST(Dict, KeepsInsertionOrderAndTheFirstKeyLikePython) {
  Dict d;
  d.set(1, "int");
  d.set("b", 2);
  d.set(true, "bool");  // True == 1: replaces the value, keeps key 1 and its position
  d.set(1.0, "float");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(identical(d.items()[0].first, Value(1)));
  EXPECT_EQ(d.items()[0].second.as_str(), "float");
  EXPECT_EQ(d.at(true).as_str(), "float");
}

TEST(Dict, StaysCorrectPastTheLinearScanSize) {
  Dict d;
  for (int i = 0; i < 1000; ++i)
    d.set(Value("key" + std::to_string(i)), i);
  for (int i = 0; i < 1000; i += 7)
    EXPECT_EQ(d.at(Value("key" + std::to_string(i))).as_int(), i);
  EXPECT_TRUE(d.erase(Value("key500")));
  EXPECT_EQ(d.find(Value("key500")), nullptr);
  EXPECT_EQ(d.at(Value("key501")).as_int(), 501);
  EXPECT_EQ(d.items()[500].first.as_str(), "key501");
  EXPECT_EQ(error_of([&] { d.at(Value("nope")); }), "'nope'");
}

TEST(Dict, RefusesUnhashableKeys) {
  Dict d;
  EXPECT_THROW(d.set(Value::list({}), 1), TypeError);
  EXPECT_THROW(d.find(Value::dict()), TypeError);
}

TEST(Set, AddsEachEqualElementOnce) {
  Set s;
  for (int i = 0; i < 100; ++i)
    s.add(i % 10);
  s.add(1.0);
  s.add(true);
  EXPECT_EQ(s.size(), 10u);
  EXPECT_TRUE(s.contains(Value(9.0)));
  EXPECT_TRUE(s.erase(Value(5)));
  EXPECT_FALSE(s.contains(Value(5)));
}

// ---- repr ------------------------------------------------------------------------------------

TEST(ValueRepr, WritesPythonsRepr) {
  EXPECT_EQ(Value::dict({{"a", Value::list({1, 2.5, Value()})}, {2, Value::tuple({true})}}).repr(),
            "{'a': [1, 2.5, None], 2: (True,)}");
  EXPECT_EQ(Value::bytes(std::string("\x00"
                                     "a'",
                                     3))
                .repr(),
            "b\"\\x00a'\"");
  EXPECT_EQ(Value::set({}).repr(), "set()");
  EXPECT_EQ(Value::frozenset({1}).repr(), "frozenset({1})");
  EXPECT_EQ(Value(std::complex<double>(1, -2)).repr(), "(1-2j)");
  EXPECT_EQ(Value(std::complex<double>(0, 1)).repr(), "1j");
  EXPECT_EQ(Value(std::numeric_limits<double>::infinity()).repr(), "inf");
}

// ---- dates
// ---------------------------------------------------------------------------------------

TEST(DateTime, WritesAndParsesIsoformat) {
  const DateTime dt = DateTime::parse_iso("2024-05-17T13:45:30.250000");
  EXPECT_EQ(dt.iso(), "2024-05-17T13:45:30.250000");
  EXPECT_EQ(DateTime::parse_iso("1970-01-01T00:00:00").micros, 0);
  EXPECT_EQ(DateTime::parse_iso("1969-12-31 23:59:59").iso(), "1969-12-31T23:59:59");
  EXPECT_EQ(DateTime::parse_iso("0001-01-01T00:00:00").iso(), "0001-01-01T00:00:00");
  EXPECT_EQ(Date::parse_iso("2024-02-29").iso(), "2024-02-29");
  EXPECT_THROW(Date::parse_iso("2023-02-29"), ValueError);
  EXPECT_EQ(error_of([] { DateTime::parse_iso("2024-05-17T13:45:30+01:00"); }),
            "Invalid isoformat string for datetime: '2024-05-17T13:45:30+01:00'");
}

// ---- conversions -------------------------------------------------------------------------------

TEST(Convert, RoundTripsStandardTypes) {
  EXPECT_EQ(from_value<int>(to_value(42)), 42);
  EXPECT_EQ(from_value<std::uint64_t>(to_value(std::numeric_limits<std::uint64_t>::max())),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(from_value<double>(to_value(2.5)), 2.5);
  EXPECT_EQ(from_value<double>(Value(3)), 3.0);
  EXPECT_EQ(from_value<std::string>(to_value(std::string("hi"))), "hi");
  EXPECT_EQ(from_value<std::vector<int>>(to_value(std::vector<int>{1, 2})),
            (std::vector<int>{1, 2}));
  EXPECT_EQ((from_value<std::array<int, 2>>(to_value(std::array<int, 2>{3, 4}))),
            (std::array<int, 2>{3, 4}));
  const std::map<std::string, std::vector<double>> m{{"a", {1.5}}, {"b", {}}};
  EXPECT_EQ((from_value<std::map<std::string, std::vector<double>>>(to_value(m))), m);
  const std::unordered_map<int, std::string> um{{1, "x"}};
  EXPECT_EQ((from_value<std::unordered_map<int, std::string>>(to_value(um))), um);
  const std::set<int> s{3, 1};
  EXPECT_EQ(from_value<std::set<int>>(to_value(s)), s);
  const std::tuple<int, std::string, bool> t{1, "a", true};
  EXPECT_EQ((from_value<std::tuple<int, std::string, bool>>(to_value(t))), t);
  EXPECT_EQ((from_value<std::pair<int, int>>(Value::list({1, 2}))), (std::pair<int, int>{1, 2}));
  EXPECT_EQ(from_value<std::optional<int>>(Value()), std::nullopt);
  EXPECT_EQ(from_value<std::optional<int>>(Value(5)), 5);
  EXPECT_TRUE(to_value(std::optional<int>()).is_none());
  const std::vector<std::byte> bytes{std::byte{0}, std::byte{255}};
  EXPECT_TRUE(to_value(bytes).is_bytes());
  EXPECT_EQ(from_value<std::vector<std::byte>>(to_value(bytes)), bytes);
  EXPECT_EQ(from_value<std::complex<double>>(to_value(std::complex<double>(1, 2))),
            std::complex<double>(1, 2));
}

TEST(Convert, MapsCppShapesToPythonKinds) {
  EXPECT_TRUE(to_value(std::vector<int>{}).is_list());
  EXPECT_TRUE(to_value(std::array<int, 1>{}).is_tuple());
  EXPECT_TRUE(to_value(std::tuple<int>{}).is_tuple());
  EXPECT_TRUE(to_value(std::set<int>{}).is_set());
  EXPECT_TRUE(to_value(std::map<int, int>{}).is_dict());
}

TEST(Convert, AcceptsWhatEachSerializerDeliversForASet) {
  // json/msgpack send sets as lists, serpent sends an empty set as ()
  EXPECT_EQ(from_value<std::set<int>>(Value::list({2, 1})), (std::set<int>{1, 2}));
  EXPECT_EQ(from_value<std::set<int>>(Value::tuple({})), std::set<int>{});
}

TEST(Convert, AcceptsSerpentsBase64DictForBytes) {
  const Value d = Value::dict({{"data", "AAFhYmM="}, {"encoding", "base64"}});
  const auto bytes = from_value<std::vector<std::byte>>(d);
  ASSERT_EQ(bytes.size(), 5u);
  EXPECT_EQ(bytes[2], std::byte{'a'});
}

TEST(Convert, WrongTypesNameExpectedAndActual) {
  EXPECT_EQ(error_of([] { from_value<int>(Value("x")); }), "expected int, got str");
  EXPECT_EQ(error_of([] { from_value<std::string>(Value(1)); }), "expected str, got int");
  EXPECT_EQ(error_of([] { from_value<std::vector<int>>(Value::dict()); }),
            "expected list, got dict");
  EXPECT_EQ(error_of([] { from_value<std::int8_t>(Value(300)); }), "int 300 out of range for int8");
  EXPECT_EQ(error_of([] { from_value<std::uint32_t>(Value(-1)); }),
            "int -1 out of range for uint32");
  EXPECT_EQ(error_of([] { from_value<std::pair<int, int>>(Value::tuple({1})); }),
            "expected a sequence of 2 items for std::pair, got 1");
  EXPECT_THROW(from_value<int>(Value("x")), TypeError);
  EXPECT_THROW(from_value<std::int8_t>(Value(300)), OverflowError);
}

TEST(Convert, VariantTakesTheFirstAlternativeThatAccepts) {
  using V = std::variant<int, std::string, std::vector<int>>;
  EXPECT_EQ(std::get<std::string>(from_value<V>(Value("x"))), "x");
  EXPECT_EQ(std::get<int>(from_value<V>(Value(7))), 7);
  EXPECT_TRUE(to_value(V{std::string("y")}).is_str());
  EXPECT_THROW(from_value<V>(Value(2.5)), TypeError);
}

TEST(Convert, ChronoTravelsAsDatetimeAndFloatSeconds) {
  using namespace std::chrono;
  const sys_time<microseconds> t =
      sys_days{year{2024} / 5 / 17} + hours{13} + minutes{45} + seconds{30} + milliseconds{250};
  const Value v = to_value(t);
  EXPECT_EQ(v.as_datetime().iso(), "2024-05-17T13:45:30.250000");
  EXPECT_EQ(from_value<sys_time<microseconds>>(v), t);
  EXPECT_EQ(from_value<sys_time<microseconds>>(Value("2024-05-17T14:45:30.250000+01:00")), t);
  EXPECT_EQ(to_value(milliseconds(1500)).as_float(), 1.5);
  EXPECT_EQ(from_value<milliseconds>(Value(2.5)), milliseconds(2500));
  EXPECT_EQ(to_value(year_month_day{year{2024}, month{5}, day{17}}).as_date().iso(), "2024-05-17");
}

TEST(Convert, BigIntsConvertToCppInt) {
  const BigInt big = BigInt(1) << 100;
  const Value v = to_value(big);
  EXPECT_EQ(v.int_text(), "1267650600228229401496703205376");
  EXPECT_EQ(from_value<BigInt>(v), big);
  EXPECT_EQ(from_value<BigInt>(to_value(BigInt(-5))), BigInt(-5));
}

}  // namespace
}  // namespace pyro

// ---- a user type, from the user's side ----------------------------------------------------------

namespace greenhouse {
struct Reading {
  std::string sensor;
  double celsius = 0;
  std::vector<int> samples;
};
PYRO_FIELDS(Reading, "greenhouse.Reading", sensor, celsius, samples)

struct Hand {  // hand-written ADL pair
  int fingers = 5;
};
void to_value(pyro::Value& out, const Hand& h) {
  out = pyro::Value::dict({{"fingers", h.fingers}});
}
void from_value(const pyro::Value& in, Hand& h) {
  h.fingers = in.at("fingers").get<int>();
}
}  // namespace greenhouse

namespace pyro {
namespace {

TEST(ConvertUserTypes, FieldsTravelAsAPyroClassDict) {
  const greenhouse::Reading r{"north", 21.5, {1, 2}};
  const Value v = to_value(r);
  EXPECT_EQ(
      v.repr(),
      "{'sensor': 'north', 'celsius': 21.5, 'samples': [1, 2], '__class__': 'greenhouse.Reading'}");
  const auto back = v.get<greenhouse::Reading>();
  EXPECT_EQ(back.sensor, "north");
  EXPECT_EQ(back.samples, (std::vector<int>{1, 2}));
  EXPECT_EQ(error_of([] {
              from_value<greenhouse::Reading>(Value::dict({{"sensor", "x"}}));
            }),
            "greenhouse.Reading: missing field 'celsius'");
}

TEST(ConvertUserTypes, AdlPairIsFoundInsideContainers) {
  const std::vector<greenhouse::Hand> hands{{4}, {5}};
  const Value v = to_value(hands);
  EXPECT_EQ(v.repr(), "[{'fingers': 4}, {'fingers': 5}]");
  EXPECT_EQ(from_value<std::vector<greenhouse::Hand>>(v)[0].fingers, 4);
  static_assert(ValueConvertible<greenhouse::Hand>);
  static_assert(!ValueConvertible<std::list<int>*>);
}

// ---- URIs --------------------------------------------------------------------------------------

TEST(Uri, ParsesAndPrintsLikePyro) {
  const Uri u("PYRO:obj@host:9999");
  EXPECT_EQ(u.protocol(), "PYRO");
  EXPECT_EQ(u.object(), "obj");
  EXPECT_EQ(*u.host(), "host");
  EXPECT_EQ(*u.port(), 9999);
  EXPECT_EQ(Uri("pyro:obj@host:9999").str(), "PYRO:obj@host:9999");
  EXPECT_EQ(Uri("PyRo:obj@host:9999").str(), "PYRO:obj@host:9999");
  EXPECT_EQ(*Uri("PYRO:obj@./u:/run/app.sock").sockname(), "/run/app.sock");
  EXPECT_EQ(Uri("PYRO:obj@./u:/run/app.sock").str(), "PYRO:obj@./u:/run/app.sock");
  EXPECT_EQ(*Uri("PYRO:obj@[::1]:9999").host(), "::1");
  EXPECT_EQ(Uri("PYRO:obj@[::1]:9999").str(), "PYRO:obj@[::1]:9999");
  EXPECT_FALSE(Uri("PYRONAME:some.name").host());
  EXPECT_EQ(Uri("PYRONAME:some.name@nshost").str(), "PYRONAME:some.name@nshost:9090");
  EXPECT_EQ(*Uri("PYRONAME:x@[::1]").port(), 9090);
  EXPECT_EQ(Uri("PYROMETA:a,b,c@host:5").meta_tags(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(*Uri("PYRO:obj@ho st:1").host(), "ho st");
  EXPECT_EQ(Uri("PYRO:o@b@host:1").object(), "o");
  EXPECT_EQ(*Uri("PYRO:o@b@host:1").host(), "b@host");
  EXPECT_EQ(*Uri("PYRO:obj@host:9999 ").port(), 9999);
  EXPECT_EQ(Uri("PYRO:obj@:9999").str(), "PYRO:obj");
}

TEST(Uri, RejectsWhatPyroRejectsWithItsMessages) {
  EXPECT_EQ(error_of([] { Uri("PYRO:obj@host"); }), "invalid port in uri, port=None");
  EXPECT_EQ(error_of([] { Uri("PYRO:obj"); }), "invalid uri");
  EXPECT_EQ(error_of([] { Uri("PYRO:obj@[::1]"); }), "invalid port in uri, port=None");
  EXPECT_EQ(error_of([] { Uri("PYROMETA:a,b , c"); }), "invalid uri");
  EXPECT_EQ(error_of([] { Uri("PYROXYZ:obj@h:1"); }), "invalid uri (protocol)");
  EXPECT_EQ(error_of([] { Uri("PYRO:obj@h:x1"); }), "invalid port in uri, port=x1");
  EXPECT_EQ(error_of([] { Uri("PYRO:obj@[[::1]]:1"); }),
            "invalid ipv6 address: enclosed in too many brackets");
  EXPECT_EQ(error_of([] { Uri("PYRO:obj@[fe80::1%eth0]:1"); }),
            "invalid ipv6 address: the part between brackets must be a numeric ipv6 address");
  EXPECT_EQ(error_of([] { Uri("PYRO:obj@./u:"); }), "invalid uri (location)");
  EXPECT_EQ(error_of([] { Uri("http://x"); }), "invalid uri");
  EXPECT_EQ(error_of([] { Uri("PYRO:ob\xffj@h:1"); }),
            "invalid uri");  // not text (found by fuzz_uri)
  EXPECT_THROW(Uri("PYRO:obj"), PyroError);
}

TEST(Uri, TravelsAsPyrosClassDictInEitherDialect) {
  const Uri u("PYRO:obj@localhost:9999");
  EXPECT_EQ(u.to_dict(Dialect::pyro5).repr(),
            "{'__class__': 'Pyro5.core.URI', 'state': ('PYRO', 'obj', None, 'localhost', 9999)}");
  EXPECT_EQ(from_value<Uri>(u.to_dict(Dialect::pyro4)), u);
  EXPECT_EQ(from_value<Uri>(Value("PYRO:obj@localhost:9999")), u);
  EXPECT_EQ(from_value<Uri>(to_value(u)), u);
}

TEST(ProxyState, TravelsInPyro5AndPyro4Layouts) {
  ProxyState p;
  p.uri = Uri("PYRO:example.sub@127.0.0.1:47101");
  p.methods = {"whoami"};
  EXPECT_EQ(p.to_dict(Dialect::pyro5).repr(),
            "{'__class__': 'Pyro5.client.Proxy', 'state': ('PYRO:example.sub@127.0.0.1:47101', (), "
            "('whoami',), (), 'hello', None)}");
  p.hmac_key = "key";
  EXPECT_EQ(p.to_dict(Dialect::pyro4).repr(),
            "{'__class__': 'Pyro4.core.Proxy', 'state': ('PYRO:example.sub@127.0.0.1:47101', (), "
            "('whoami',), (), 0.0, 'b64:a2V5', 'hello', 0, None)}");
  EXPECT_EQ(from_value<ProxyState>(p.to_dict(Dialect::pyro4)), p);
  p.hmac_key.reset();
  EXPECT_EQ(from_value<ProxyState>(p.to_dict(Dialect::pyro5)), p);
}

}  // namespace
}  // namespace pyro

// Big blocks go back to a cache and the next block of the same size class reuses one; blocks of
// another class do not. (Sanitizer builds use plain new/delete: nothing to check there.)
TEST(LargeBlocks, AreReusedWithinTheirSizeClass) {
  using pyro::detail::large_allocate;
  using pyro::detail::large_deallocate;
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the cache is off under AddressSanitizer";
#endif
  const std::size_t n = std::size_t{3} << 20;
  char* a = static_cast<char*>(large_allocate(n));
  std::memset(a, 0x5a, n);
  large_deallocate(a, n);
  char* b = static_cast<char*>(large_allocate(n - 1000));  // same class (whole 2 MiB pages)
  EXPECT_EQ(b, a);
  char* c = static_cast<char*>(large_allocate(n * 4));  // another class: a new block
  EXPECT_NE(c, a);
  std::memset(c, 1, n * 4);
  large_deallocate(b, n - 1000);
  large_deallocate(c, n * 4);
  // a Value's big bytes use them too, and keep their content
  const std::string text(std::size_t{1} << 20, 'z');
  const pyro::Value v = pyro::Value::bytes(text);
  EXPECT_EQ(v.bytes_view(), text);
}

TEST(LargeBlocks, RecycledStringsComeBackWithTheirCapacity) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "recycling is off under AddressSanitizer";
#endif
  std::string s = pyro::detail::take_buffer(std::size_t{1} << 20);
  EXPECT_TRUE(s.empty());
  EXPECT_GE(s.capacity(), std::size_t{1} << 20);
  s.assign(1000, 'x');
  const char* memory = s.data();
  pyro::detail::recycle_buffer(std::move(s));
  EXPECT_TRUE(s.empty());
  std::string again = pyro::detail::take_buffer((std::size_t{1} << 20) - 5);
  EXPECT_EQ(again.data(), memory);
  EXPECT_TRUE(again.empty());
  // one four times as big is not handed out for a small request
  pyro::detail::recycle_buffer(std::move(again));
  const std::string other = pyro::detail::take_buffer(std::size_t{256} << 10);
  EXPECT_NE(other.data(), memory);
  // but for "any"
  EXPECT_EQ(pyro::detail::take_buffer(0).data(), memory);
}

// With the cache or without it (sanitizer builds), the string handed over is left empty: a
// connection reuses it as its next output buffer.
TEST(LargeBlocks, RecyclingAlwaysLeavesTheStringEmpty) {
  for (const std::size_t n : {std::size_t{100}, std::size_t{2} << 20}) {
    std::string s(n, 'r');
    pyro::detail::recycle_buffer(std::move(s));
    EXPECT_TRUE(s.empty()) << n;
  }
}
