// json_test.cpp — the json codec against what CPython's json module and Pyro's JsonSerializer do.
// Expected bytes were produced with CPython 3.11: json.dumps(obj, ensure_ascii=False).
#include "pyro/json.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>

#include "detail/value_access.hpp"
#include "pyro/uri.hpp"
#include "support/vectors.hpp"

namespace pyro {
namespace {

using namespace std::string_literals;

const Serializer& json() {
  return json_serializer();
}

std::string encode(const Value& v, const EncodeOptions& options = {}) {
  return json().encode(v, options);
}
Value decode(std::string_view data) {
  return json().decode(data);
}

// The SerializeError that decoding data throws; a test failure when it throws something else.
SerializeError decode_error(std::string_view data, const DecodeOptions& options = {}) {
  try {
    json().decode(data, options);
  } catch (const SerializeError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected SerializeError, got " << e.what();
    return SerializeError("wrong exception");
  }
  ADD_FAILURE() << "expected SerializeError for " << ::testing::PrintToString(std::string(data));
  return SerializeError("no exception");
}

#define EXPECT_IDENTICAL(a, b) \
  EXPECT_TRUE(identical((a), (b))) << (a).repr() << " vs " << (b).repr()

// Checks the exception type and its exact message.
#define EXPECT_THROW_MSG(statement, type, message)            \
  do {                                                        \
    try {                                                     \
      statement;                                              \
      ADD_FAILURE() << "no exception from " #statement;       \
    } catch (const type& e) {                                 \
      EXPECT_EQ(std::string(e.what()), std::string(message)); \
    }                                                         \
  } while (false)

constexpr double nan_ = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_ = std::numeric_limits<double>::infinity();

// 2**16000 - 1: 4817 decimal digits, beyond CPython's int/str conversion limit.
Value int_beyond_digit_limit() {
  std::vector<std::uint8_t> bytes(2000, 0xFF);
  return Value::int_from_bytes(bytes, false);
}

// A user object that travels as its class dict.
class Point final : public Object {
 public:
  std::string class_name(Dialect) const override { return "geometry.Point"; }
  Value to_dict(Dialect) const override {
    return Value::dict({{"x", 1}, {"y", 2}, {"__class__", "geometry.Point"}});
  }
};

// What json.dumps(s, ensure_ascii=False) writes, byte by byte, for valid UTF-8 s.
std::string reference_escape(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

TEST(JsonSerializer, HasPyroNamesAndWireIds) {
  EXPECT_EQ(json().name(), "json");
  EXPECT_EQ(json().python_class(), "JsonSerializer");
  EXPECT_EQ(json().id(Dialect::pyro5), 3);
  EXPECT_EQ(json().id(Dialect::pyro4), 2);
  EXPECT_EQ(json().reconstruct_order(), ReconstructOrder::top_down);
}

TEST(JsonSerializer, IsFoundByName) {
  EXPECT_EQ(&serializer_by_name("json"), &json());
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

TEST(JsonEncoder, WritesNoneAndBools) {
  EXPECT_EQ(encode(Value()), "null");
  EXPECT_EQ(encode(true), "true");
  EXPECT_EQ(encode(false), "false");
}

TEST(JsonEncoder, WritesIntsOfAnySize) {
  EXPECT_EQ(encode(0), "0");
  EXPECT_EQ(encode(-1), "-1");
  EXPECT_EQ(encode(std::numeric_limits<std::int64_t>::max()), "9223372036854775807");
  EXPECT_EQ(encode(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(encode(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(encode(Value::int_from_text("-1267650600228229401496703205376")),
            "-1267650600228229401496703205376");
  const std::string digits(4300, '9');
  EXPECT_EQ(encode(Value::int_from_text(digits)), digits);
}

TEST(JsonEncoder, RefusesIntsBeyondCPythonsDigitLimitWithItsValueError) {
  EXPECT_THROW_MSG(encode(Value::list({1, int_beyond_digit_limit()})), ValueError,
                   "Exceeds the limit (4300 digits) for integer string conversion; use "
                   "sys.set_int_max_str_digits() to increase the limit");
}

TEST(JsonEncoder, WritesFloatsAsPythonRepr) {
  EXPECT_EQ(encode(Value::list({1.5, 123.0, 1e16, 1e-5, 0.1, -0.0, 5e-324, 1.7976931348623157e308,
                                1.2345678901234568e+17})),
            "[1.5, 123.0, 1e+16, 1e-05, 0.1, -0.0, 5e-324, 1.7976931348623157e+308, "
            "1.2345678901234568e+17]");
}

TEST(JsonEncoder, WritesNanAndInfinityAsBareTokens) {
  EXPECT_EQ(encode(Value::list({nan_, inf_, -inf_})), "[NaN, Infinity, -Infinity]");
}

TEST(JsonEncoder, EscapesStringsLikePython) {
  EXPECT_EQ(encode("a\"b\\c/\x00\x01\x1f\x7f\b\f\n\r\t \u00e9\u20ac\U0001F600\u2028"s),
            "\"a\\\"b\\\\c/\\u0000\\u0001\\u001f\x7f\\b\\f\\n\\r\\t \xc3\xa9\xe2\x82\xac"
            "\xf0\x9f\x98\x80\xe2\x80\xa8\""s);
  EXPECT_EQ(encode(""), "\"\"");
}

TEST(JsonEncoder, EscapesEveryPositionInLongStrings) {
  // The escaper skips plain text eight bytes at a time: put each special byte at each position.
  const std::string specials[] = {
      "\"",   "\\", "\n",       "\x01",        "\x1f",
      "\x7f", " ",  "\xc3\xa9", "\xed\x9f\xbf" /* U+D7FF, not a surrogate */};
  for (const auto& special : specials) {
    for (std::size_t pos = 0; pos < 40; ++pos) {
      std::string s(40, 'x');
      s.insert(pos, special);
      EXPECT_EQ(encode(Value(s)), reference_escape(s)) << "at " << pos;
    }
  }
}

TEST(JsonEncoder, WritesLoneSurrogatesAsLowercaseEscapes) {
  // Python itself cannot UTF-8-encode a lone surrogate; its json.loads reads these escapes back.
  // (Value's str constructor refuses surrogates; decoders like marshal's make them.)
  const Value s = detail::ValueAccess::str_trusted("\xed\xa0\x80 x\xed\xbf\xbf\xed\xaf\xbf");
  EXPECT_EQ(encode(s), R"("\ud800 x\udfff\udbff")");
}

TEST(JsonEncoder, WritesTuplesAndListsAsArrays) {
  EXPECT_EQ(encode(Value::list({1, Value::tuple({2, 3}), "x"})), "[1, [2, 3], \"x\"]");
  EXPECT_EQ(encode(Value::tuple({})), "[]");
  EXPECT_EQ(encode(Value::list()), "[]");
}

TEST(JsonEncoder, WritesSetsAsArraysLikePyrosDefaultHook) {
  EXPECT_EQ(encode(Value::set({1, "a"})), "[1, \"a\"]");
  EXPECT_EQ(encode(Value::set()), "[]");
}

TEST(JsonEncoder, WritesDictsInInsertionOrderWithPythonSeparators) {
  EXPECT_EQ(encode(Value::dict(
                {{"b", 1}, {"a", Value::list({1, Value::tuple({2, 3})})}, {"c", Value::dict()}})),
            R"({"b": 1, "a": [1, [2, 3]], "c": {}})");
}

TEST(JsonEncoder, TurnsIntFloatBoolAndNoneKeysIntoStrings) {
  const Value d = Value::dict({{7, "i"},
                               {2.5, "f"},
                               {true, "t"},
                               {false, "F"},
                               {Value(), "n"},
                               {nan_, "nan"},
                               {inf_, "inf"},
                               {-inf_, "-inf"},
                               {Value::int_from_text("1180591620717411303424"), "big"},
                               {1e16, "e"}});
  // (1 and True would be one key, in Python and in Value alike.)
  EXPECT_EQ(encode(d),
            R"({"7": "i", "2.5": "f", "true": "t", "false": "F", "null": "n", "NaN": "nan", )"
            R"("Infinity": "inf", "-Infinity": "-inf", "1180591620717411303424": "big", )"
            R"("1e+16": "e"})");
}

TEST(JsonEncoder, RefusesOtherKeysWithPythonsTypeError) {
  EXPECT_THROW_MSG(encode(Value::dict({{Value::tuple({1, 2}), 1}})), TypeError,
                   "keys must be str, int, float, bool or None, not tuple");
  EXPECT_THROW_MSG(encode(Value::dict({{Value::frozenset({1}), 1}})), TypeError,
                   "keys must be str, int, float, bool or None, not frozenset");
  EXPECT_THROW_MSG(encode(Value::dict({{Value::bytes("x"), 1}})), TypeError,
                   "keys must be str, int, float, bool or None, not bytes");
  EXPECT_THROW_MSG(encode(Value::dict({{Value(std::complex<double>(1, 2)), 1}})), TypeError,
                   "keys must be str, int, float, bool or None, not complex");
  EXPECT_THROW_MSG(encode(Value::dict({{Value(DateTime::parse_iso("2024-01-02T00:00:00")), 1}})),
                   TypeError, "keys must be str, int, float, bool or None, not datetime.datetime");
  EXPECT_THROW_MSG(encode(Value::dict({{Value(Date::from_ymd(2024, 1, 2)), 1}})), TypeError,
                   "keys must be str, int, float, bool or None, not datetime.date");
  EXPECT_THROW_MSG(encode(Value::dict({{to_value(Uri("PYRO:obj@localhost:9999")), 1}})), TypeError,
                   "keys must be str, int, float, bool or None, not URI");
}

TEST(JsonEncoder, RefusesBytesComplexAndFrozensetsLikePyro) {
  EXPECT_THROW_MSG(encode(Value::bytes("abc")), SerializeError,
                   "don't know how to serialize class <class 'bytes'> using serializer "
                   "JsonSerializer. Give it vars() or an appropriate __getstate__");
  EXPECT_THROW_MSG(encode(Value::list({Value(std::complex<double>(1, -2))})), SerializeError,
                   "don't know how to serialize class <class 'complex'> using serializer "
                   "JsonSerializer. Give it vars() or an appropriate __getstate__");
  EXPECT_THROW_MSG(encode(Value::dict({{"a", Value::frozenset({1})}})), SerializeError,
                   "don't know how to serialize class <class 'frozenset'> using serializer "
                   "JsonSerializer. Give it vars() or an appropriate __getstate__");
}

TEST(JsonEncoder, WritesDatetimesAndDatesAsIsoStrings) {
  EXPECT_EQ(encode(Value::dict({{"when", DateTime::parse_iso("2024-05-17T13:45:30.250000")},
                                {"day", Date::from_ymd(2024, 5, 17)}})),
            R"({"when": "2024-05-17T13:45:30.250000", "day": "2024-05-17"})");
}

TEST(JsonEncoder, WritesObjectsAsTheirClassDicts) {
  EXPECT_EQ(encode(Value::list({Value::object(std::make_shared<Point>())})),
            R"([{"x": 1, "y": 2, "__class__": "geometry.Point"}])");
  EXPECT_EQ(
      encode(to_value(Uri("PYRO:obj@localhost:9999"))),
      R"({"__class__": "Pyro5.core.URI", "state": ["PYRO", "obj", null, "localhost", 9999]})");
}

TEST(JsonEncoder, WritesPyro4ClassNamesInThePyro4Dialect) {
  EXPECT_EQ(
      encode(to_value(Uri("PYRO:obj@localhost:9999")), {.dialect = Dialect::pyro4}),
      R"({"__class__": "Pyro4.core.URI", "state": ["PYRO", "obj", null, "localhost", 9999]})");
}

TEST(JsonEncoder, PrefersARegisteredClassToDictConverter) {
  ClassRegistry registry;
  registry.register_class_to_dict(typeid(Point), [](const Object&) {
    return Value::dict({{"__class__", "geometry.Point"}, {"xy", Value::list({1, 2})}});
  });
  EXPECT_EQ(encode(Value::object(std::make_shared<Point>()), {.registry = &registry}),
            R"({"__class__": "geometry.Point", "xy": [1, 2]})");
}

TEST(JsonEncoder, AcceptsNestingOf1000Levels) {
  Value v = 1;
  for (int i = 0; i < 1000; ++i)
    v = Value::list({std::move(v)});
  EXPECT_EQ(encode(v), std::string(1000, '[') + "1" + std::string(1000, ']'));
}

TEST(JsonEncoder, RefusesNestingDeeperThan1000Levels) {
  Value v = Value::dict();
  for (int i = 0; i < 1000; ++i)
    v = Value::list({std::move(v)});
  EXPECT_THROW_MSG(encode(v), ValueError, "json: nesting deeper than 1000 levels while encoding");
}

TEST(JsonEncoder, AppendsToTheOutput) {
  std::string out = "prefix:";
  json().encode(Value::list({1, 2}), out, {});
  EXPECT_EQ(out, "prefix:[1, 2]");
}

TEST(JsonEncoder, LeavesTheOutputAsItWasWhenEncodingFails) {
  std::string out = "prefix:";
  EXPECT_THROW(json().encode(Value::list({1, "long enough text", Value::bytes("x")}), out, {}),
               SerializeError);
  EXPECT_EQ(out, "prefix:");
}

// ---------------------------------------------------------------------------------------------
// Decoding values
// ---------------------------------------------------------------------------------------------

TEST(JsonDecoder, ReadsScalars) {
  EXPECT_IDENTICAL(decode("null"), Value());
  EXPECT_IDENTICAL(decode("true"), Value(true));
  EXPECT_IDENTICAL(decode("false"), Value(false));
  EXPECT_IDENTICAL(decode("0"), Value(0));
  EXPECT_IDENTICAL(decode("-0"), Value(0));
  EXPECT_IDENTICAL(decode("42"), Value(42));
  EXPECT_IDENTICAL(decode("\"hi\""), Value("hi"));
}

TEST(JsonDecoder, ReadsIntsOfAnySize) {
  EXPECT_IDENTICAL(decode("9223372036854775807"), Value(std::numeric_limits<std::int64_t>::max()));
  EXPECT_IDENTICAL(decode("-9223372036854775808"), Value(std::numeric_limits<std::int64_t>::min()));
  EXPECT_IDENTICAL(decode("18446744073709551616"), Value::int_from_text("18446744073709551616"));
  EXPECT_IDENTICAL(decode("-999999999999999999"), Value(-999999999999999999));
  // Far beyond what fits a double (RapidJSON 1.1 gives up at ~309 digits; Python does not).
  const std::string digits = "-" + std::string(4300, '7');
  EXPECT_IDENTICAL(decode("[" + digits + "]"), Value::list({Value::int_from_text(digits)}));
}

TEST(JsonDecoder, ReportsIntsBeyondCPythonsDigitLimitWithAnOffset) {
  const SerializeError e = decode_error("[1, " + std::string(4301, '1') + "]");
  EXPECT_EQ(e.offset(), 4u);
  EXPECT_STREQ(e.what(),
               "json: Exceeds the limit (4300 digits) for integer string conversion: value has "
               "4301 digits; use sys.set_int_max_str_digits() to increase the limit at offset 4, "
               "found '1'");
}

TEST(JsonDecoder, ReadsFloatsExactly) {
  EXPECT_IDENTICAL(decode("1.5"), Value(1.5));
  EXPECT_IDENTICAL(decode("0.1"), Value(0.1));
  EXPECT_IDENTICAL(decode("1e5"), Value(1e5));
  EXPECT_IDENTICAL(decode("1E+5"), Value(1e5));
  EXPECT_IDENTICAL(decode("2.5e-3"), Value(2.5e-3));
  EXPECT_IDENTICAL(decode("123.0"), Value(123.0));
  EXPECT_IDENTICAL(decode("1.7976931348623157e+308"), Value(1.7976931348623157e308));
  EXPECT_IDENTICAL(decode("5e-324"), Value(5e-324));
  EXPECT_IDENTICAL(decode("2.4703282292062328e-324"), Value(5e-324));  // rounds up, as Python
  EXPECT_IDENTICAL(decode("0.30000000000000004"), Value(0.1 + 0.2));
  EXPECT_IDENTICAL(decode("1" + std::string(400, '0') + ".0e-400"), Value(1.0));
  const Value negative_zero = decode("-0.0");
  EXPECT_TRUE(std::signbit(negative_zero.as_float()));
}

TEST(JsonDecoder, OverflowsHugeFloatsToInfinityAndUnderflowsTinyOnesToZero) {
  // Python's float(): 1e400 is inf, 1e-400 is 0.0 (RapidJSON 1.1 refuses these).
  EXPECT_IDENTICAL(decode("1e400"), Value(inf_));
  EXPECT_IDENTICAL(decode("-1e400"), Value(-inf_));
  EXPECT_IDENTICAL(decode("1.5e99999999999999999999"), Value(inf_));
  EXPECT_IDENTICAL(decode("1" + std::string(400, '0') + ".5"), Value(inf_));
  EXPECT_IDENTICAL(decode("1e-400"), Value(0.0));
  EXPECT_IDENTICAL(decode("2.4703282292062327e-324"), Value(0.0));
  EXPECT_IDENTICAL(decode("0.0000000000000000000000000000001e-300"), Value(0.0));
  const Value negative_zero = decode("-1e-99999999999999999999");
  EXPECT_IDENTICAL(negative_zero, Value(-0.0));
  EXPECT_TRUE(std::signbit(negative_zero.as_float()));
}

TEST(JsonDecoder, ReadsNanAndInfinityTokens) {
  const Value v = decode("[NaN, Infinity, -Infinity]");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(std::isnan(v[0].as_float()));
  EXPECT_IDENTICAL(v[1], Value(inf_));
  EXPECT_IDENTICAL(v[2], Value(-inf_));
}

TEST(JsonDecoder, RefusesNonFiniteSpellingsPythonRefuses) {
  for (const char* text : {"-NaN", "Inf", "-Inf", "nan", "infinity", "+1", "NaNa", "Infinit"}) {
    const SerializeError e = decode_error(text);
    EXPECT_NE(e.offset(), SerializeError::npos) << text;
  }
  EXPECT_STREQ(decode_error("-NaN").what(), "json: invalid number '-NaN' at offset 0, found '-'");
}

TEST(JsonDecoder, ReadsStringEscapes) {
  EXPECT_IDENTICAL(decode(R"("\"\\\/\b\f\n\r\t\u00e9\u20AC\uD83D\uDE00")"),
                   Value("\"\\/\b\f\n\r\t\u00e9\u20ac\U0001F600"));
  EXPECT_IDENTICAL(decode(R"("\u0000")"), Value(std::string(1, '\0')));
}

TEST(JsonDecoder, RefusesLoneSurrogateEscapesUnlikePython) {
  // RapidJSON refuses them; Python accepts them, but no Python peer can send one (its payload's
  // UTF-8 encoding fails first). Paired surrogates are fine.
  EXPECT_STREQ(decode_error(R"("\ud800\u0041")").what(),
               "json: lone surrogate in \\uXXXX escape at offset 1, found '\\'");
  EXPECT_EQ(decode(R"("\ud83d\ude00")").as_str(), "\xf0\x9f\x98\x80");
}

TEST(JsonDecoder, ReadsRawUtf8Text) {
  EXPECT_IDENTICAL(decode("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\""),
                   Value("\u00e9\u20ac\U0001F600\x7f"));
}

TEST(JsonDecoder, ReadsLongStringsWithEscapesAtEveryPosition) {
  for (std::size_t pos = 0; pos < 40; ++pos) {
    std::string raw(40, 'x');
    raw.insert(pos, "\n\xc3\xa9\"");
    EXPECT_IDENTICAL(decode(reference_escape(raw)), Value(raw)) << "at " << pos;
  }
}

TEST(JsonDecoder, RefusesInvalidUtf8WithItsOffset) {
  struct Case {
    std::string text;
    std::size_t offset;
  };
  const Case cases[] = {
      {"\"ab\x80\"", 3},                // lone continuation byte
      {"\"\xc0\x80\"", 1},              // overlong NUL
      {"\"\xe0\x80\xaf\"", 1},          // overlong '/'
      {"\"\xed\xa0\x80\"", 1},          // a surrogate written raw: bytes.decode("utf-8") refuses it
      {"\"\xe2\x82\"", 1},              // truncated sequence
      {"\"\xf4\x90\x80\x80\"", 1},      // beyond U+10FFFF
      {"\"\xf5\x80\x80\x80\"", 1},      // not a lead byte
      {"[\"\xc3\xa9\", \"\xff\"]", 8},  // offsets are in bytes
  };
  for (const auto& c : cases) {
    const SerializeError e = decode_error(c.text);
    EXPECT_EQ(e.offset(), c.offset) << ::testing::PrintToString(c.text);
    EXPECT_TRUE(std::string(e.what()).starts_with("json: invalid UTF-8 at offset")) << e.what();
  }
}

TEST(JsonDecoder, RefusesControlCharactersInStrings) {
  const SerializeError e = decode_error("\"a\nb\"");
  EXPECT_EQ(e.offset(), 2u);
  EXPECT_STREQ(e.what(), "json: invalid control character in string at offset 2, found byte 0x0a");
  EXPECT_EQ(decode_error(std::string("\"a\0b\"", 5)).offset(), 2u);
}

TEST(JsonDecoder, RefusesInvalidEscapes) {
  EXPECT_STREQ(decode_error(R"("\x41")").what(), "json: invalid escape at offset 1, found '\\'");
  EXPECT_STREQ(decode_error(R"("\u12G4")").what(),
               "json: invalid \\uXXXX escape at offset 1, found '\\'");
  EXPECT_STREQ(decode_error(R"("\ud800\uZZZZ")").what(),
               "json: invalid \\uXXXX escape at offset 1, found '\\'");
  EXPECT_EQ(decode_error(R"("\u12)").offset(), 1u);
  EXPECT_EQ(decode_error(R"("\)").offset(), 1u);  // unterminated
}

TEST(JsonDecoder, ReadsArraysAsLists) {
  EXPECT_IDENTICAL(decode("[1, [2, 3], [], \"x\"]"),
                   Value::list({1, Value::list({2, 3}), Value::list(), "x"}));
}

TEST(JsonDecoder, ReadsObjectsAsDictsInDocumentOrder) {
  EXPECT_IDENTICAL(
      decode(R"({"b": 1, "a": {"c": [true]}, "": {}})"),
      Value::dict(
          {{"b", 1}, {"a", Value::dict({{"c", Value::list({true})}})}, {"", Value::dict()}}));
}

TEST(JsonDecoder, KeepsTheFirstPositionAndTheLastValueOfDuplicateKeys) {
  // json.loads('{"a": 1, "b": 2, "a": 3}') == {'a': 3, 'b': 2}
  EXPECT_IDENTICAL(decode(R"({"a": 1, "b": 2, "a": 3})"), Value::dict({{"a", 3}, {"b", 2}}));
}

TEST(JsonDecoder, ReadsManyItemsAndKeys) {
  std::string text = "{";
  Dict expected;
  for (int i = 0; i < 1000; ++i) {
    if (i > 0) text += ", ";
    text += "\"key" + std::to_string(i) + "\": [" + std::to_string(i) + "]";
    expected.set("key" + std::to_string(i), Value::list({i}));
  }
  text += "}";
  EXPECT_IDENTICAL(decode(text), Value(expected));
}

TEST(JsonDecoder, AcceptsJsonWhitespaceAroundEveryToken) {
  EXPECT_IDENTICAL(decode(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\"\r:null }\n "),
                   Value::dict({{"a", Value::list({1, 2})}, {"b", Value()}}));
}

TEST(JsonDecoder, RefusesTrailingData) {
  EXPECT_STREQ(decode_error("1 2").what(),
               "json: extra data after the document at offset 2, found '2'");
  EXPECT_EQ(decode_error("[] x").offset(), 3u);
  EXPECT_EQ(decode_error(std::string("1\0", 2)).offset(), 1u);
  EXPECT_EQ(decode_error("01").offset(), 1u);  // Python: "Extra data" too
  EXPECT_STREQ(decode_error("1.").what(),
               "json: expected digits after the decimal point at offset 2, found end of input");
  EXPECT_STREQ(decode_error("1e").what(),
               "json: expected digits in the exponent at offset 2, found end of input");
  EXPECT_EQ(decode_error("\"a\" \xc3\xa9").offset(), 4u);
}

TEST(JsonDecoder, RefusesEmptyDocuments) {
  EXPECT_STREQ(decode_error("").what(), "json: expected a value at offset 0, found end of input");
  EXPECT_EQ(decode_error(" \n ").offset(), 3u);
}

TEST(JsonDecoder, RefusesAByteOrderMarkLikePython) {
  EXPECT_STREQ(decode_error("\xef\xbb\xbf[]").what(),
               "json: expected a value at offset 0, found byte 0xef");
}

TEST(JsonDecoder, ReportsBadTokensWithTheirOffsets) {
  struct Case {
    const char* text;
    const char* message;
  };
  // The offsets are where RapidJSON stops; mostly those CPython's JSONDecodeError reports.
  const Case cases[] = {
      {".5", "json: expected a value at offset 0, found '.'"},
      {"-", "json: expected a value at offset 1, found end of input"},
      {"nul", "json: expected a value at offset 3, found end of input"},
      {"tru", "json: expected a value at offset 3, found end of input"},
      {"'a'", "json: expected a value at offset 0, found '''"},
      {"[1,]", "json: expected a value at offset 3, found ']'"},
      {"[1 2]", "json: expected ',' or ']' at offset 3, found '2'"},
      {"{\"a\":1,}", "json: expected a property name in double quotes at offset 7, found '}'"},
      {"{1:2}", "json: expected a property name in double quotes at offset 1, found '1'"},
      {"{\"a\" 1}", "json: expected ':' at offset 5, found '1'"},
      {"{\"a\": 1 \"b\": 2}", "json: expected ',' or '}' at offset 8, found '\"'"},
      {"[", "json: expected a value at offset 1, found end of input"},
      {"\"abc", "json: unterminated string at offset 4, found end of input"},
  };
  for (const auto& c : cases) {
    EXPECT_STREQ(decode_error(c.text).what(), c.message) << c.text;
  }
}

TEST(JsonDecoder, RefusesEveryTruncationOfADocument) {
  const std::string text =
      R"({"a": [1, -2.5e3, "x\u00e9y\n", true, null, NaN, -Infinity], "b": {"c": false}})";
  ASSERT_NO_THROW(decode(text));
  for (std::size_t n = 0; n < text.size(); ++n) {
    const SerializeError e = decode_error(std::string_view(text).substr(0, n));
    EXPECT_LE(e.offset(), n) << text.substr(0, n);
  }
}

TEST(JsonDecoder, RefusesNestingDeeperThanTheLimitBeforeTheStackGrows) {
  const std::string deep(100000, '[');
  const SerializeError e = decode_error(deep);
  EXPECT_EQ(e.offset(), 1000u);
  EXPECT_STREQ(e.what(), "json: nesting deeper than 1000 levels at offset 1000, found '['");
  std::string objects;
  for (int i = 0; i < 100000; ++i)
    objects += "{\"a\": ";
  EXPECT_EQ(decode_error(objects).offset(), 6000u);
}

TEST(JsonDecoder, AcceptsNestingUpToTheLimit) {
  const std::string text = std::string(1000, '[') + std::string(1000, ']');
  Value v = decode(text);
  for (int i = 0; i < 999; ++i)
    v = Value(v[0]);
  EXPECT_IDENTICAL(v, Value::list());
  EXPECT_EQ(decode_error(text, {.max_depth = 999}).offset(), 999u);
  EXPECT_NO_THROW(
      json().decode(std::string(5000, '[') + std::string(5000, ']'), {.max_depth = 5000}));
}

TEST(JsonDecoder, SurvivesRandomlyDamagedDocuments) {
  const std::string text =
      R"({"a": [1, -2.5e3, "x\u00e9y\n\ud83d\ude00", true, null, NaN, -Infinity, 123456789012345678901234567890],)"
      R"( "b": {"c": false, "d": "\u00e9\u20ac"}, "e": [[[], {}], 0.1]})";
  std::mt19937 rng(12345);
  const char alphabet[] = "[]{}\",:\\u0123456789.eE+-tfnNIa \x80\xc3\xed\xff";
  for (int round = 0; round < 20000; ++round) {
    std::string damaged = text;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits; ++i) {
      const std::size_t pos = rng() % damaged.size();
      switch (rng() % 3) {
        case 0:
          damaged[pos] = alphabet[rng() % (sizeof alphabet - 1)];
          break;
        case 1:
          damaged.erase(pos, 1 + rng() % 3);
          break;
        default:
          damaged.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]);
          break;
      }
      if (damaged.empty()) damaged = "x";
    }
    try {
      const Value v = decode(damaged);
      EXPECT_IDENTICAL(decode(encode(v)), v);
    } catch (const SerializeError& e) {
      EXPECT_LE(e.offset(), damaged.size());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

TEST(JsonRoundTrip, GivesBackWhatJsonCanCarry) {
  const Value original = Value::dict({
      {"none", Value()},
      {"bools", Value::list({true, false})},
      {"ints", Value::list({0, -7, Value::int_from_text("-123456789012345678901234567890")})},
      {"floats", Value::list({0.1, -0.0, 1e300, 5e-324, inf_, -inf_})},
      {"text", "tab\t quote\" backslash\\ \u00e9 \U0001F600 \x01"},
      {"nested", Value::dict({{"list", Value::list({Value::dict(), Value::list()})}})},
  });
  EXPECT_IDENTICAL(decode(encode(original)), original);
}

TEST(JsonRoundTrip, TurnsTuplesSetsKeysAndDatesIntoTheirJsonForms) {
  const Value original = Value::dict({{1, Value::tuple({1, 2})},
                                      {2.5, Value::set({"a"})},
                                      {Value(), Date::from_ymd(2024, 5, 17)}});
  EXPECT_IDENTICAL(decode(encode(original)), Value::dict({{"1", Value::list({1, 2})},
                                                          {"2.5", Value::list({"a"})},
                                                          {"null", "2024-05-17"}}));
}

TEST(JsonRoundTrip, KeepsNanAsNan) {
  const Value v = decode(encode(nan_));
  EXPECT_TRUE(std::isnan(v.as_float()));
}

// ---------------------------------------------------------------------------------------------
// Call envelopes
// ---------------------------------------------------------------------------------------------

TEST(JsonCall, WritesTheEnvelopeAsPyroDoes) {
  std::string out;
  json().encode_call(
      {.object = "thing", .method = "add", .args = Value::tuple({1, 2}), .kwargs = Value::dict()},
      out, {});
  EXPECT_EQ(out, R"({"object": "thing", "method": "add", "params": [1, 2], "kwargs": {}})");
  out.clear();
  json().encode_call({.object = "thing",
                      .method = "kw",
                      .args = Value::list({1}),
                      .kwargs = Value::dict({{"c", 3}})},
                     out, {});
  EXPECT_EQ(out, R"({"object": "thing", "method": "kw", "params": [1], "kwargs": {"c": 3}})");
}

TEST(JsonCall, WritesNullKwargsForAttributeAccess) {
  std::string out;
  json().encode_call({.object = "example.service",
                      .method = "__getattr__",
                      .args = Value::tuple({"value"}),
                      .kwargs = Value()},
                     out, {});
  EXPECT_EQ(
      out,
      R"({"object": "example.service", "method": "__getattr__", "params": ["value"], "kwargs": null})");
}

TEST(JsonCall, RefusesUnencodableArgumentsAndLeavesTheOutputAlone) {
  std::string out = "x";
  EXPECT_THROW_MSG(
      json().encode_call(
          {.object = "thing", .method = "m", .args = Value::tuple({Value::bytes("b")})}, out, {}),
      SerializeError,
      "don't know how to serialize class <class 'bytes'> using serializer "
      "JsonSerializer. Give it vars() or an appropriate __getstate__");
  EXPECT_EQ(out, "x");
}

TEST(JsonCall, RoundTripsAnEnvelope) {
  std::string out;
  json().encode_call({.object = "obj\u00e9",
                      .method = "echo",
                      .args = Value::tuple({1, "two", Value::list({3.5})}),
                      .kwargs = Value::dict({{"k", Value()}})},
                     out, {});
  const CallEnvelope call = json().decode_call(out, {});
  EXPECT_EQ(call.object, "obj\u00e9");
  EXPECT_EQ(call.method, "echo");
  EXPECT_IDENTICAL(call.args, Value::list({1, "two", Value::list({3.5})}));
  EXPECT_IDENTICAL(call.kwargs, Value::dict({{"k", Value()}}));
}

TEST(JsonCall, ReadsKeysInAnyOrderAndIgnoresOtherKeysLikePyro) {
  const CallEnvelope call = json().decode_call(
      R"({"kwargs": null, "extra": 1, "params": [], "method": "m", "object": "o"})", {});
  EXPECT_EQ(call.object, "o");
  EXPECT_EQ(call.method, "m");
  EXPECT_IDENTICAL(call.args, Value::list());
  EXPECT_IDENTICAL(call.kwargs, Value());
}

TEST(JsonCall, RefusesEnvelopesOfTheWrongShape) {
  EXPECT_THROW_MSG(json().decode_call(R"(["o", "m", [], {}])", {}), SerializeError,
                   "json: invalid call envelope: expected an object, got list");
  EXPECT_THROW_MSG(json().decode_call(R"({"object": "o", "method": "m", "kwargs": {}})", {}),
                   SerializeError, "json: invalid call envelope: missing \"params\"");
  EXPECT_THROW_MSG(
      json().decode_call(R"({"object": "o", "method": 1, "params": [], "kwargs": {}})", {}),
      SerializeError, "json: invalid call envelope: method must be a str, got int");
  EXPECT_THROW_MSG(
      json().decode_call(R"({"object": "o", "method": "m", "params": {}, "kwargs": {}})", {}),
      SerializeError, "json: invalid call envelope: arguments must be a tuple or list, got dict");
  EXPECT_THROW_MSG(
      json().decode_call(R"({"object": "o", "method": "m", "params": [], "kwargs": []})", {}),
      SerializeError,
      "json: invalid call envelope: keyword arguments must be a dict or None, got list");
}

TEST(JsonCall, ReportsMalformedEnvelopesWithAnOffset) {
  const SerializeError e = decode_error(R"({"object": "o", "method")");
  EXPECT_EQ(e.offset(), 24u);
  EXPECT_THROW(json().decode_call(R"({"object": "o", "method")", {}), SerializeError);
}

// ---------------------------------------------------------------------------------------------
// Recorded traffic
// ---------------------------------------------------------------------------------------------

TEST(JsonGolden, DecodesAndReencodesEveryRecordedPayloadByteForByte) {
  int payloads = 0;
  for (const auto& scenario : testing::load_scenarios()) {
    if (scenario.serializer != "json") continue;
    for (const auto& m : scenario.messages) {
      // CONNECT, CONNECTOK, CONNECTFAIL, INVOKE, RESULT (PING carries no json)
      if (m.framing != "pyro" || m.type < 1 || m.type > 5) continue;
      const Dialect dialect = scenario.protocol == "pyro4" ? Dialect::pyro4 : Dialect::pyro5;
      if (m.serializer_id != json().id(dialect)) continue;
      const std::string payload = testing::payload_of(m);
      SCOPED_TRACE(scenario.name + "/" + m.file);
      std::string again;
      if (m.type == 4) {
        const CallEnvelope call = json().decode_call(payload, {});
        json().encode_call(call, again, {});
      } else {
        const Value v = json().decode(payload);
        if (m.decoded) {
          EXPECT_IDENTICAL(v, *m.decoded);
        }
        json().encode(v, again, {});
      }
      EXPECT_EQ(again, payload);
      ++payloads;
    }
  }
  EXPECT_GT(payloads, 100);
}

}  // namespace
}  // namespace pyro
