// serpent: exact output of Python's serpent 1.41 (expected texts produced by it), and a reader
// that accepts what ast.literal_eval accepts.
#include "pyro/serpent.hpp"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace pyro {
namespace {

std::string body(const Value& v, EncodeOptions options = {}) {
  const std::string full = serpent_serializer().encode(v, options);
  EXPECT_EQ(full.rfind("# serpent utf-8 python3.2\n", 0), 0u);
  return full.substr(26);
}

Value parse(std::string_view text) {
  return serpent_serializer().decode(text);
}

void expect_roundtrip(const Value& v) {
  const std::string text = serpent_serializer().encode(v);
  const Value back = serpent_serializer().decode(text);
  EXPECT_TRUE(identical(back, v)) << text << " -> " << back.repr();
}

TEST(SerpentEncoder, WritesScalarsLikePython) {
  EXPECT_EQ(body(Value()), "None");
  EXPECT_EQ(body(Value(true)), "True");
  EXPECT_EQ(body(Value(false)), "False");
  EXPECT_EQ(body(Value(-17)), "-17");
  EXPECT_EQ(body(Value::int_from_text("1180591620717411303424")), "1180591620717411303424");
  EXPECT_EQ(body(Value::int_from_text("-1180591620717411303424")), "-1180591620717411303424");
}

TEST(SerpentEncoder, WritesFloatsAsPythonRepr) {
  EXPECT_EQ(body(Value(3.14159)), "3.14159");
  EXPECT_EQ(body(Value(1e16)), "1e+16");
  EXPECT_EQ(body(Value(1e-05)), "1e-05");
  EXPECT_EQ(body(Value(123.0)), "123.0");
  EXPECT_EQ(body(Value(-0.0)), "-0.0");
  EXPECT_EQ(body(Value(1.2345678901234568e+17)), "1.2345678901234568e+17");
  EXPECT_EQ(body(Value(5e-324)), "5e-324");
  EXPECT_EQ(body(Value(0.0001)), "0.0001");
  EXPECT_EQ(body(Value(1e15)), "1000000000000000.0");
}

TEST(SerpentEncoder, WritesInfinityAsOverflowingLiteralAndNanAsClassDict) {
  EXPECT_EQ(body(Value(std::numeric_limits<double>::infinity())), "1e30000");
  EXPECT_EQ(body(Value(-std::numeric_limits<double>::infinity())), "-1e30000");
  EXPECT_EQ(body(Value(std::numeric_limits<double>::quiet_NaN())),
            "{'__class__':'float','value':'nan'}");
}

TEST(SerpentEncoder, WritesComplexWithSerpentsSignRule) {
  EXPECT_EQ(body(Value(std::complex<double>(1.5, -2))), "(1.5-2.0j)");
  EXPECT_EQ(body(Value(std::complex<double>(1, -0.0))), "(1.0+-0.0j)");  // serpent's quirk
  EXPECT_EQ(body(Value(std::complex<double>(0, 1))), "(0.0+1.0j)");
}

TEST(SerpentEncoder, WritesStringsAsPythonRepr) {
  EXPECT_EQ(body(Value(std::string("h\xc3\xa9'\"\n", 6) + std::string(1, '\0') + "\xe2\x82\xac")),
            "'h\xc3\xa9\\'\"\\n\\x00\xe2\x82\xac'");
  EXPECT_EQ(body(Value("a'b")), "\"a'b\"");
  EXPECT_EQ(body(Value("a\"b")), "'a\"b'");
  // non-printable: U+2028, soft hyphen, C1 control, no-break space; emoji stays; tag char escaped
  EXPECT_EQ(body(Value("\xe2\x80\xa8\xc2\xad\xc2\x80\xc2\xa0\xf0\x9f\x98\x80\xf3\xa0\x80\x81")),
            "'\\u2028\\xad\\x80\\xa0\xf0\x9f\x98\x80\\U000e0001'");
}

TEST(SerpentEncoder, WritesBytesAsBase64DictOrReprLiteral) {
  EXPECT_EQ(body(Value::bytes(std::string("\x00\x01"
                                          "abc",
                                          5))),
            "{'data': 'AAFhYmM=', 'encoding': 'base64'}");
  EncodeOptions repr;
  repr.bytes_repr = true;
  EXPECT_EQ(body(Value::bytes(std::string("\x00\xff'", 3)), repr), "b\"\\x00\\xff'\"");
  EXPECT_EQ(body(Value::bytes("ab\""), repr), "b'ab\"'");
  repr.dialect = Dialect::pyro4;  // Pyro4's serpent never writes bytes literals
  EXPECT_EQ(body(Value::bytes("ab"), repr), "{'data': 'YWI=', 'encoding': 'base64'}");
}

TEST(SerpentEncoder, WritesContainersCompactly) {
  EXPECT_EQ(body(Value::tuple({})), "()");
  EXPECT_EQ(body(Value::tuple({1})), "(1,)");
  EXPECT_EQ(body(Value::tuple({1, 2})), "(1,2)");
  EXPECT_EQ(body(Value::list({})), "[]");
  EXPECT_EQ(body(Value::list({1, Value::list({2})})), "[1,[2]]");
  EXPECT_EQ(body(Value::dict()), "{}");
  EXPECT_EQ(body(Value::dict({{"a", 1}, {2, "b"}, {Value::tuple({1, 2}), 3.5}})),
            "{'a':1,2:'b',(1,2):3.5}");
  EXPECT_EQ(body(Value::set({1, 2})), "{1,2}");
  EXPECT_EQ(body(Value::set({})), "()");  // no empty set literal
  EXPECT_EQ(body(Value::frozenset({3})), "{3}");
}

TEST(SerpentEncoder, WritesDatesAsIsoStrings) {
  EXPECT_EQ(body(Value(DateTime::parse_iso("2024-05-17T13:45:30.250000"))),
            "'2024-05-17T13:45:30.250000'");
  EXPECT_EQ(body(Value(Date::parse_iso("2024-05-17"))), "'2024-05-17'");
}

TEST(SerpentEncoder, RefusesUnhashableKeyTypesLikeSerpent) {
  try {
    body(Value::dict({{Value(), 1}}));
    FAIL();
  } catch (const TypeError& e) {
    EXPECT_STREQ(e.what(),
                 "one of the keys in a dict or set is not of a primitive hashable type: <class "
                 "'NoneType'>. Use simple types as keys or use a list or tuple as container.");
  }
}

TEST(SerpentEncoder, RefusesNestingDeeperThanSerpentsLimit) {
  Value v = Value::list({});
  for (int i = 0; i < 200; ++i)
    v = Value::list({std::move(v)});
  EXPECT_NO_THROW(body(v));  // 201 levels: level 200 is the deepest serpent allows
  v = Value::list({std::move(v)});
  EXPECT_THROW(body(v), ValueError);
}

TEST(SerpentEncoder, WritesObjectsAsTheirClassDict) {
  EXPECT_EQ(body(to_value(Uri("PYRO:obj@localhost:9999"))),
            "{'__class__':'Pyro5.core.URI','state':('PYRO','obj',None,'localhost',9999)}");
  EncodeOptions pyro4;
  pyro4.dialect = Dialect::pyro4;
  EXPECT_EQ(body(to_value(Uri("PYRO:obj@./u:/tmp/s")), pyro4),
            "{'__class__':'Pyro4.core.URI','state':('PYRO','obj','/tmp/s',None,None)}");
}

TEST(SerpentEncoder, WritesCallEnvelopeAsFourTuple) {
  CallEnvelope call;
  call.object = "thing";
  call.method = "add";
  call.args = Value::tuple({1, 2});
  std::string out;
  serpent_serializer().encode_call(call, out, {});
  EXPECT_EQ(out, "# serpent utf-8 python3.2\n('thing','add',(1,2),{})");
  const CallEnvelope back = serpent_serializer().decode_call(out, {});
  EXPECT_EQ(back.object, "thing");
  EXPECT_EQ(back.method, "add");
  EXPECT_TRUE(identical(back.args, Value::tuple({1, 2})));
  EXPECT_TRUE(identical(back.kwargs, Value::dict()));
}

// ---------------------------------------------------------------------------------------------

TEST(SerpentDecoder, ReadsWhatTheEncoderWrites) {
  expect_roundtrip(Value());
  expect_roundtrip(Value(true));
  expect_roundtrip(Value(-9223372036854775807LL - 1));
  expect_roundtrip(Value::int_from_text("-1180591620717411303425"));
  expect_roundtrip(Value(2.5e-300));
  expect_roundtrip(Value(-0.0));
  expect_roundtrip(Value(std::numeric_limits<double>::infinity()));
  expect_roundtrip(Value(std::complex<double>(1.5, -2)));
  expect_roundtrip(Value(std::complex<double>(-1e300, std::numeric_limits<double>::infinity())));
  expect_roundtrip(Value("all \x01\x7f\\'\"\t\r\n quotes \xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80"));
  expect_roundtrip(Value::tuple(
      {Value::tuple({}), Value::tuple({1}), Value::list({}), Value::dict(), Value::set({1, 2})}));
  expect_roundtrip(Value::dict(
      {{1, "a"}, {2.5, "b"}, {Value::tuple({1, "x"}), Value::list({})}, {true, Value()}}));
  EncodeOptions repr;
  repr.bytes_repr = true;
  const Value b = Value::bytes(std::string("\x00\xff'\"\\\n abc", 10));
  EXPECT_TRUE(identical(parse(serpent_serializer().encode(b, repr)), b));
}

TEST(SerpentDecoder, ReadsNanClassDictAsADict) {
  const Value v = parse("{'__class__':'float','value':'nan'}");
  EXPECT_TRUE(v.is_dict());  // reconstruct() turns it into a float, as Pyro does
  EXPECT_TRUE(std::isnan(reconstruct(v, ReconstructOrder::top_down).as_float()));
}

TEST(SerpentDecoder, ReadsGeneralPythonLiteralSyntax) {
  EXPECT_TRUE(
      identical(parse("# comment\n  [ 1 ,\n 2, # two\n 3 , ]  # done\n"), Value::list({1, 2, 3})));
  EXPECT_TRUE(identical(parse("0x_ff"), Value(255)));
  EXPECT_TRUE(identical(parse("0o17"), Value(15)));
  EXPECT_TRUE(identical(parse("0b101"), Value(5)));
  EXPECT_TRUE(identical(parse("1_000_000"), Value(1000000)));
  EXPECT_TRUE(identical(parse("+5"), Value(5)));
  EXPECT_TRUE(identical(parse("- 5"), Value(-5)));
  EXPECT_TRUE(identical(parse(".5"), Value(0.5)));
  EXPECT_TRUE(identical(parse("5."), Value(5.0)));
  EXPECT_TRUE(identical(parse("1.0E300"), Value(1e300)));
  EXPECT_TRUE(identical(parse("1e-400"), Value(0.0)));
  EXPECT_TRUE(identical(parse("-1e30000"), Value(-std::numeric_limits<double>::infinity())));
  EXPECT_TRUE(identical(parse("3j"), Value(std::complex<double>(0, 3))));
  EXPECT_TRUE(identical(parse("1-2j"), Value(std::complex<double>(1, -2))));
  EXPECT_TRUE(identical(parse("(-1+2.5J)"), Value(std::complex<double>(-1, 2.5))));
  EXPECT_TRUE(identical(parse("'a' \"b\" '''c\nd'''"), Value("abc\nd")));
  EXPECT_TRUE(identical(parse("r'\\n' u'x'"), Value("\\nx")));
  EXPECT_TRUE(identical(parse("'\\a\\b\\f\\v\\101\\x41\\u00e9\\U0001F600\\q'"),
                        Value("\a\b\f\vAA\xc3\xa9\xf0\x9f\x98\x80\\q")));
  EXPECT_TRUE(identical(parse("b'\\x00' rb'\\x'"), Value::bytes(std::string("\x00\\x", 3))));
  EXPECT_TRUE(identical(parse("set()"), Value::set({})));
  EXPECT_TRUE(identical(parse("(1)"), Value(1)));
  EXPECT_TRUE(identical(parse("-(1)"), Value(-1)));
  EXPECT_TRUE(identical(parse("{'a':1,'a':2}"), Value::dict({{"a", 2}})));
  EXPECT_TRUE(identical(parse("{1, 1.0, True}"), Value::set({1})));
  EXPECT_TRUE(identical(parse("'line\\\ncontinued'"), Value("linecontinued")));
}

TEST(SerpentDecoder, LeavesSurrogateEscapesAsPythonDoes) {
  const Value v = parse("'\\ud800'");
  EXPECT_EQ(v.as_str(), "\xed\xa0\x80");
}

void expect_error(std::string_view text, std::string_view message, std::size_t offset) {
  try {
    parse(text);
    ADD_FAILURE() << "no error for " << text;
  } catch (const SerializeError& e) {
    EXPECT_EQ(std::string(e.what()), message) << text;
    EXPECT_EQ(e.offset(), offset) << text;
  }
}

TEST(SerpentDecoder, ReportsErrorsWithOffsets) {
  expect_error("", "serpent: empty document: expected an expression at offset 0", 0);
  expect_error("[1,2", "serpent: expected ',' or ']', found end of data at offset 4", 4);
  expect_error("(1 x)", "serpent: expected ',' or ')', found 'x' at offset 3", 3);
  expect_error("'abc", "serpent: unterminated string literal at offset 0", 0);
  expect_error("'ab\ncd'", "serpent: unterminated string literal at offset 0", 0);
  expect_error("foo", "serpent: malformed expression: name 'foo' is not a literal at offset 0", 0);
  expect_error("1 2", "serpent: unexpected data after the expression at offset 2", 2);
  expect_error("0123",
               "serpent: leading zeros in decimal integer literals are not permitted at offset 0",
               0);
  expect_error("1abc", "serpent: invalid number literal at offset 0", 0);
  expect_error("-'a'",
               "serpent: malformed expression: a sign must be followed by a number at offset 0", 0);
  expect_error(
      "1+2",
      "serpent: malformed expression: only <real> + <imaginary> sums are literals at offset 1", 1);
  expect_error("1+-2j", "serpent: expected an expression, found '-' at offset 2", 2);
  expect_error("{[1]:2}", "serpent: unhashable dict key of type 'list' at offset 1", 1);
  expect_error("{{'data': 'AA==', 'encoding': 'base64'}: 1}",
               "serpent: unhashable dict key of type 'dict' at offset 1", 1);
  expect_error("b'\xc3\xa9'",
               "serpent: bytes can only contain ASCII literal characters at offset 2", 2);
  expect_error("'a' b'b'", "serpent: cannot mix bytes and nonbytes literals at offset 0", 0);
  expect_error("1\n+2j", "serpent: unexpected data after the expression at offset 2", 2);
  expect_error(std::string_view("[1,\0]", 5), "serpent: the data contains a 0-byte at offset 3", 3);
  expect_error("'\xff'", "serpent: invalid UTF-8 at offset 1", 1);
  expect_error("'\\x4'", "serpent: truncated \\x, \\u or \\U escape at offset 1", 1);
}

TEST(SerpentDecoder, RefusesNestingBombsWithoutExhaustingTheStack) {
  const std::string bomb(1000000, '[');
  try {
    parse(bomb);
    FAIL();
  } catch (const SerializeError& e) {
    EXPECT_EQ(std::string(e.what()), "serpent: nesting deeper than 1000 levels at offset 1000");
  }
  std::string ok = std::string(999, '[') + std::string(999, ']');
  EXPECT_NO_THROW(parse(ok));
}

TEST(SerpentDecoder, TruncatedDocumentsNeverCrash) {
  const std::string text = serpent_serializer().encode(
      Value::dict({{"a", Value::list({1, 2.5, "x\xc3\xa9", Value::tuple({})})},
                   {"b", Value::bytes("xyz")},
                   {"c", Value(std::complex<double>(1, 2))}}));
  for (std::size_t n = 0; n < text.size(); ++n) {
    try {
      parse(std::string_view(text).substr(0, n));
    } catch (const SerializeError&) {
    }
  }
}

TEST(SerpentDecoder, RefusesIntsBeyondPythonsDigitLimit) {
  EXPECT_NO_THROW(parse(std::string(4300, '7')));
  EXPECT_THROW(parse(std::string(4301, '7')), SerializeError);
}

TEST(SerpentDecoder, RefusesAComplexWhoseRealPartOverflowsAFloat) {
  // found by fuzz_serpent: the int of "<int> + <imag>j" does not fit a float (Python's
  // literal_eval raises OverflowError); a decode error, not an escaping OverflowError
  EXPECT_THROW(parse("1" + std::string(400, '0') + "+1j"), SerializeError);
  EXPECT_TRUE(identical(parse("2+1j"), Value(std::complex<double>(2, 1))));
}

TEST(SerpentToBytes, DecodesTheBase64DictSerpentSendsBytesAs) {
  const Value d = parse("{'data': 'AAFhYmM=', 'encoding': 'base64'}");
  EXPECT_TRUE(identical(serpent_tobytes(d), Value::bytes(std::string("\x00\x01"
                                                                     "abc",
                                                                     5))));
  EXPECT_THROW(serpent_tobytes(Value(1)), TypeError);
}

// Every length (each remainder of the four-character groups), every byte value, as Python's
// serpent encodes them; a bad character or length is an error, not garbage.
TEST(SerpentToBytes, RoundTripsEveryLengthAndRefusesBadBase64) {
  std::string data;
  for (std::size_t n = 0; n < 600; ++n) {
    const Value encoded = parse(serpent_serializer().encode(Value::bytes(data)));
    EXPECT_TRUE(identical(serpent_tobytes(encoded), Value::bytes(data))) << n;
    data.push_back(static_cast<char>((n * 97 + 13) % 256));
  }
  auto dict = [](const char* text) {
    return parse(std::string("{'data': '") + text + "', 'encoding': 'base64'}");
  };
  EXPECT_TRUE(identical(serpent_tobytes(dict("YWJj")), Value::bytes(std::string("abc"))));
  EXPECT_TRUE(identical(serpent_tobytes(dict("YWI")), Value::bytes(std::string("ab"))));
  EXPECT_TRUE(identical(serpent_tobytes(dict("YQ==")), Value::bytes(std::string("a"))));
  for (const char* bad : {"YWJ!", "Y", "YWJjZ", "YW Jj", "YWJj\\nYWJj"})
    EXPECT_THROW(serpent_tobytes(dict(bad)), ValueError) << bad;
}

}  // namespace
}  // namespace pyro
