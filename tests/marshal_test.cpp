// marshal_test.cpp — the marshal codec against bytes written by CPython 3.11's marshal module
// (generated with /usr/bin/python3 -c 'import marshal; print(marshal.dumps(...).hex())' and
// hard-coded here), against the recorded Pyro conversations in tests/vectors, and against
// hostile input.
//
// "canonical" bytes below are CPython's output with the FLAG_REF bits cleared, back references
// replaced by the object they name and interned string codes replaced by their plain variants:
// exactly what marshal.dumps writes for objects nobody else references, and what we write.
#include "pyro/marshal.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "detail/value_access.hpp"
#include "pyro/uri.hpp"
#include "support/hex.hpp"

namespace {

using pyro::CallEnvelope;
using pyro::DecodeOptions;
using pyro::Dialect;
using pyro::EncodeOptions;
using pyro::SerializeError;
using pyro::Value;

const pyro::Serializer& codec() {
  return pyro::marshal_serializer();
}

using pyro::testing::hex;
using pyro::testing::unhex;

Value decode_hex(std::string_view h, const DecodeOptions& options = {}) {
  return codec().decode(unhex(h), options);
}

std::string encode_hex(const Value& v, const EncodeOptions& options = {}) {
  return hex(codec().encode(v, options));
}

Value big(std::string_view decimal) {
  return Value::int_from_text(decimal);
}

// A str that may hold lone surrogates (CPython's surrogatepass UTF-8), which Value's public
// constructor refuses.
Value surrogate_str(std::string_view utf8) {
  return pyro::detail::ValueAccess::str_trusted(utf8);
}

#define EXPECT_IDENTICAL(actual, expected)                                                      \
  do {                                                                                          \
    const Value& a_ = (actual);                                                                 \
    const Value& e_ = (expected);                                                               \
    EXPECT_TRUE(identical(a_, e_)) << "actual:   " << a_.repr() << "\nexpected: " << e_.repr(); \
  } while (false)

// Decoding must fail with exactly this SerializeError message and offset.
void expect_decode_error(std::string_view bytes, std::string_view message, std::size_t offset,
                         const DecodeOptions& options = {}) {
  try {
    Value v = codec().decode(bytes, options);
    ADD_FAILURE() << "decoded " << v.repr() << ", expected error: " << message;
  } catch (const SerializeError& e) {
    EXPECT_EQ(std::string_view(e.what()), message);
    EXPECT_EQ(e.offset(), offset);
  }
}

template <class Error>
void expect_error(const std::function<void()>& f, std::string_view message) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(std::string_view(e.what()), message);
  }
}

Value nested_lists(int depth, Value leaf) {
  Value v = std::move(leaf);
  for (int i = 0; i < depth; ++i) {
    std::vector<Value> items;
    items.push_back(std::move(v));
    v = Value::list(std::move(items));
  }
  return v;
}

std::string le32(std::uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
          static_cast<char>(v >> 24)};
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

TEST(MarshalSerializer, HasPyroNamesAndWireIdsOfBothGenerations) {
  EXPECT_EQ(codec().name(), "marshal");
  EXPECT_EQ(codec().python_class(), "MarshalSerializer");
  EXPECT_EQ(codec().id(Dialect::pyro5), 2);
  EXPECT_EQ(codec().id(Dialect::pyro4), 3);
  EXPECT_EQ(codec().reconstruct_order(), pyro::ReconstructOrder::top_down);
}

// ---------------------------------------------------------------------------------------------
// Decoding what CPython writes
// ---------------------------------------------------------------------------------------------

TEST(MarshalDecoder, DecodesNoneTrueAndFalse) {
  EXPECT_IDENTICAL(decode_hex("4e"), Value());
  EXPECT_IDENTICAL(decode_hex("54"), Value(true));
  EXPECT_IDENTICAL(decode_hex("46"), Value(false));
}

TEST(MarshalDecoder, DecodesThirtyTwoBitInts) {
  // CPython flags small ints (they are shared objects): e9 is 'i' | FLAG_REF.
  EXPECT_IDENTICAL(decode_hex("e900000000"), Value(0));
  EXPECT_IDENTICAL(decode_hex("e901000000"), Value(1));
  EXPECT_IDENTICAL(decode_hex("e9ffffffff"), Value(-1));
  EXPECT_IDENTICAL(decode_hex("e9e8030000"), Value(1000));
  EXPECT_IDENTICAL(decode_hex("e9ffffff7f"), Value(2147483647));
  EXPECT_IDENTICAL(decode_hex("e900000080"), Value(-2147483647 - 1));
  EXPECT_IDENTICAL(decode_hex("6901000000"), Value(1));
}

TEST(MarshalDecoder, DecodesLongsOfBothSigns) {
  EXPECT_IDENTICAL(decode_hex("ec03000000000000000200"), Value(std::int64_t{1} << 31));
  EXPECT_IDENTICAL(decode_hex("ecfdffffff010000000200"), Value(-(std::int64_t{1} << 31) - 1));
  EXPECT_IDENTICAL(decode_hex("ec05000000ff7fff7fff7fff7f0700"),
                   Value(std::numeric_limits<std::int64_t>::max()));
  EXPECT_IDENTICAL(decode_hex("ecfbffffff00000000000000000800"),
                   Value(std::numeric_limits<std::int64_t>::min()));
  EXPECT_IDENTICAL(decode_hex("ec0500000000000000000000000800"), big("9223372036854775808"));
  EXPECT_IDENTICAL(decode_hex("ec05000000ff7fff7fff7fff7f0f00"), big("18446744073709551615"));
  EXPECT_IDENTICAL(decode_hex("ec0500000000000000000000001000"), big("18446744073709551616"));
  EXPECT_IDENTICAL(decode_hex("ecfbffffff00000000000000001000"), big("-18446744073709551616"));
  EXPECT_IDENTICAL(decode_hex("ec0500000000000000000000000004"), big("1180591620717411303424"));
  EXPECT_IDENTICAL(decode_hex("ecfbffffff01000000000000000004"), big("-1180591620717411303425"));
}

TEST(MarshalDecoder, DecodesLongsOfAnySize) {
  // -(3**300): 32 digits of pseudo-random bits.
  EXPECT_IDENTICAL(
      decode_hex("ece0ffffff7126b8389f399a4de34b4847186d703a381e7d0e2a0a70632321870a0339122f9c410b"
                 "73e86ec23f8d4d1347ee1a7658bf111706b82a6b7adb250b69ff739c05"),
      big("-13689147905858837599132602738208831596646369562533743647148019007836899717749907"
          "6593800206155688941388250484440597994042813512732765695774566001"));
  // 2**1000: 66 zero digits, then 0x0004.
  EXPECT_IDENTICAL(decode_hex("ec43000000" + std::string(264, '0') + "0004"),
                   Value::int_from_text("0x1" + std::string(250, '0')));
}

TEST(MarshalDecoder, DecodesZeroLongsAndTheOldInt64Code) {
  EXPECT_IDENTICAL(decode_hex("6c00000000"), Value(0));
  // TYPE_INT64 'I' is no longer written but marshal.loads still reads it.
  EXPECT_IDENTICAL(decode_hex("49 0500000000000000"), Value(5));
  EXPECT_IDENTICAL(decode_hex("49 ffffffffffffff7f"),
                   Value(std::numeric_limits<std::int64_t>::max()));
  EXPECT_IDENTICAL(decode_hex("49 0000000000000080"),
                   Value(std::numeric_limits<std::int64_t>::min()));
}

TEST(MarshalDecoder, DecodesBinaryFloatsBitForBit) {
  EXPECT_IDENTICAL(decode_hex("e7000000000000f83f"), Value(1.5));
  EXPECT_IDENTICAL(decode_hex("e76e861bf0f9210940"), Value(3.14159));
  EXPECT_IDENTICAL(decode_hex("e79c7500883ce4377e"), Value(1e300));
  EXPECT_IDENTICAL(decode_hex("e70100000000000000"), Value(5e-324));
  EXPECT_IDENTICAL(decode_hex("e7000000000000f07f"), Value(HUGE_VAL));
  EXPECT_IDENTICAL(decode_hex("e7000000000000f0ff"), Value(-HUGE_VAL));
  const Value nan = decode_hex("e7000000000000f87f");
  ASSERT_TRUE(nan.is_float());
  EXPECT_TRUE(std::isnan(nan.as_float()));
  const Value negative_zero = decode_hex("e70000000000000080");
  ASSERT_TRUE(negative_zero.is_float());
  EXPECT_EQ(negative_zero.as_float(), 0.0);
  EXPECT_TRUE(std::signbit(negative_zero.as_float()));
}

TEST(MarshalDecoder, DecodesComplexNumbers) {
  EXPECT_IDENTICAL(decode_hex("f9000000000000f83f00000000000000c0"),
                   Value(std::complex<double>(1.5, -2.0)));
  const Value c = decode_hex("f900000000000000000000000000000080");
  EXPECT_TRUE(std::signbit(c.as_complex().imag()));
}

TEST(MarshalDecoder, DecodesTheAsciiFloatsOfMarshalVersionOne) {
  // marshal.dumps(x, 1)
  EXPECT_IDENTICAL(decode_hex("6603312e35"), Value(1.5));
  EXPECT_IDENTICAL(decode_hex("6617312e30303030303030303030303030303031652b333030"), Value(1e300));
  EXPECT_IDENTICAL(decode_hex("6617342e39343036353634353834313234363534652d333234"), Value(5e-324));
  EXPECT_IDENTICAL(decode_hex("6603696e66"), Value(HUGE_VAL));
  EXPECT_IDENTICAL(decode_hex("66042d696e66"), Value(-HUGE_VAL));
  EXPECT_TRUE(std::isnan(decode_hex("66036e616e").as_float()));
  EXPECT_TRUE(std::signbit(decode_hex("66022d30").as_float()));
  EXPECT_IDENTICAL(decode_hex("7803312e35022d32"), Value(std::complex<double>(1.5, -2.0)));
  // What Python's float() accepts besides: "Infinity", a '+' sign, exponent overflow.
  EXPECT_IDENTICAL(decode_hex("6608496e66696e697479"), Value(HUGE_VAL));
  EXPECT_IDENTICAL(decode_hex("66042b312e35"), Value(1.5));
  EXPECT_IDENTICAL(decode_hex("6605 3165343030"), Value(HUGE_VAL));  // "1e400"
  EXPECT_IDENTICAL(decode_hex("6606 31652d343030"), Value(0.0));     // "1e-400"
}

TEST(MarshalDecoder, DecodesBytes) {
  EXPECT_IDENTICAL(decode_hex("f300000000"), Value::bytes(std::string_view()));
  EXPECT_IDENTICAL(decode_hex("f30600000000017f80feff"),
                   Value::bytes(std::string_view("\x00\x01\x7f\x80\xfe\xff", 6)));
  // bytearray travels as bytes.
  EXPECT_IDENTICAL(decode_hex("f3020000006162"), Value::bytes(std::string_view("ab")));
}

TEST(MarshalDecoder, DecodesStrInEveryEncodingCPythonUses) {
  EXPECT_IDENTICAL(decode_hex("da00"), Value(""));
  EXPECT_IDENTICAL(decode_hex("da0568656c6c6f"), Value("hello"));               // Z, interned
  EXPECT_IDENTICAL(decode_hex("7a0568656c6c6f"), Value("hello"));               // z
  EXPECT_IDENTICAL(decode_hex("610500000068656c6c6f"), Value("hello"));         // a
  EXPECT_IDENTICAL(decode_hex("410500000068656c6c6f"), Value("hello"));         // A
  EXPECT_IDENTICAL(decode_hex("f50600000068c3a96c6c6f"), Value("h\u00e9llo"));  // u
  EXPECT_IDENTICAL(decode_hex("f40600000068c3a96c6c6f"), Value("h\u00e9llo"));  // t, interned
  EXPECT_IDENTICAL(decode_hex("f503000000e282ac"), Value("\u20ac"));
  EXPECT_IDENTICAL(decode_hex("f504000000f09f9880"), Value("\U0001F600"));
  // sys.intern("y" * 300): A with a four-byte length.
  EXPECT_IDENTICAL(decode_hex("c12c010000" + hex(std::string(300, 'y'))),
                   Value(std::string(300, 'y')));
}

TEST(MarshalDecoder, KeepsLoneSurrogatesOfUnicodeStrings) {
  // marshal.dumps("\ud800"): CPython encodes with surrogatepass.
  EXPECT_IDENTICAL(decode_hex("f503000000eda080"), surrogate_str("\xed\xa0\x80"));
}

TEST(MarshalDecoder, DecodesTuplesListsDictsAndSets) {
  EXPECT_IDENTICAL(decode_hex("a900"), Value::tuple({}));
  EXPECT_IDENTICAL(decode_hex("a903e901000000da0374776f670000000000000840"),
                   Value::tuple({1, "two", 3.0}));
  EXPECT_IDENTICAL(decode_hex("db00000000"), Value::list());
  EXPECT_IDENTICAL(decode_hex("db02000000e9010000005b02000000e9020000005b01000000e903000000"),
                   Value::list({1, Value::list({2, Value::list({3})})}));
  EXPECT_IDENTICAL(decode_hex("fb30"), Value::dict());
  EXPECT_IDENTICAL(decode_hex("bc00000000"), Value::set());
  EXPECT_IDENTICAL(decode_hex("be00000000"), Value::frozenset());
  EXPECT_IDENTICAL(decode_hex("bc03000000e901000000e902000000e903000000"), Value::set({1, 2, 3}));
  EXPECT_IDENTICAL(decode_hex("be01000000e905000000"), Value::frozenset({5}));
  // {1: "one", (1, 2): None, "k": [1]}: the second 1 is a back reference.
  EXPECT_IDENTICAL(
      decode_hex("fbe901000000da036f6e6529027201000000e9020000004eda016b5b01000000720100000030"),
      Value::dict({{1, "one"}, {Value::tuple({1, 2}), nullptr}, {"k", Value::list({1})}}));
  // [{"a": (1.5, b"\x00"), "b": {1, 2}}, frozenset({"x"}), 2**70, -1, None, True, "€uro"]
  EXPECT_IDENTICAL(
      decode_hex(
          "db070000007bda0161290267000000000000f83ff30100000000da01623c02000000e901000000e9"
          "02000000303e01000000da01786c0500000000000000000000000004e9ffffffff4e547506000000e2"
          "82ac75726f"),
      Value::list({Value::dict({{"a", Value::tuple({1.5, Value::bytes(std::string_view("\0", 1))})},
                                {"b", Value::set({1, 2})}}),
                   Value::frozenset({"x"}), big("1180591620717411303424"), -1, nullptr, true,
                   "\u20acuro"}));
}

TEST(MarshalDecoder, DecodesTuplesWithFourByteCounts) {
  // CPython writes '(' from 256 items on.
  std::string bytes = "(" + le32(300);
  std::vector<Value> items;
  for (int i = 0; i < 300; ++i) {
    bytes += "i" + le32(static_cast<std::uint32_t>(i));
    items.emplace_back(i);
  }
  EXPECT_IDENTICAL(codec().decode(bytes), Value::tuple(std::move(items)));
}

TEST(MarshalDecoder, FollowsBackReferencesToEarlierStrings) {
  // {"name": "x", "items": [{"name": "a"}, {"name": "b"}]}: "name" is written once (#1).
  EXPECT_IDENTICAL(
      decode_hex("fbda046e616d65da0178da056974656d735b020000007b7201000000da0161307b7201000000da01"
                 "623030"),
      Value::dict(
          {{"name", "x"},
           {"items", Value::list({Value::dict({{"name", "a"}}), Value::dict({{"name", "b"}})})}}));
}

TEST(MarshalDecoder, FollowsBackReferencesToSharedContainersAndScalars) {
  // x = [1, 2]; [x, x]
  EXPECT_IDENTICAL(decode_hex("db02000000db02000000e901000000e9020000007201000000"),
                   Value::list({Value::list({1, 2}), Value::list({1, 2})}));
  // t = (1, "a"); [t, t, t]
  const Value t = Value::tuple({1, "a"});
  EXPECT_IDENTICAL(decode_hex("db03000000a902e901000000da016172010000007201000000"),
                   Value::list({t, t, t}));
  // s = frozenset({1}); {"a": s, "b": s}
  EXPECT_IDENTICAL(decode_hex("fbda0161be01000000e901000000da0162720200000030"),
                   Value::dict({{"a", Value::frozenset({1})}, {"b", Value::frozenset({1})}}));
  // d = {"k": 1}; (d, d)
  EXPECT_IDENTICAL(decode_hex("a902fbda016be901000000307201000000"),
                   Value::tuple({Value::dict({{"k", 1}}), Value::dict({{"k", 1}})}));
  // s = {7}; [s, s]
  EXPECT_IDENTICAL(decode_hex("db02000000bc01000000e9070000007201000000"),
                   Value::list({Value::set({7}), Value::set({7})}));
  // n = 2**70; [n, n]   f = 2.5; [f, f]   b = b"xy"; [b, b]
  EXPECT_IDENTICAL(decode_hex("db02000000ec05000000000000000000000000047201000000"),
                   Value::list({big("1180591620717411303424"), big("1180591620717411303424")}));
  EXPECT_IDENTICAL(decode_hex("db02000000e700000000000004407201000000"), Value::list({2.5, 2.5}));
  EXPECT_IDENTICAL(
      decode_hex("db02000000f30200000078797201000000"),
      Value::list({Value::bytes(std::string_view("xy")), Value::bytes(std::string_view("xy"))}));
}

TEST(MarshalDecoder, CopiesReferencedContainersIndependently) {
  // x = [1, 2]; [x, x]: Python shares x, a Value tree holds two equal lists.
  Value v = decode_hex("db02000000db02000000e901000000e9020000007201000000");
  v.items()[0].append(3);
  EXPECT_EQ(v.repr(), "[[1, 2, 3], [1, 2]]");
}

TEST(MarshalDecoder, DecodesTheConnectOkExampleOfTheSpec) {
  // serializers.md §7.2: a CONNECTOK payload written by CPython 3.11, with nested flagged dicts
  // and a back reference (#11, 'fire') from one set into another.
  const Value v = decode_hex(
      "fbda0968616e647368616b65da0568656c6c6fda046d657461fbda076d6574686f64733c07000000da026b77"
      "da03616464da0367656eda046563686fda046661696cda0466697265da066d796661696cda066f6e657761793c"
      "01000000720b000000da0561747472733c01000000da0576616c75653030");
  EXPECT_IDENTICAL(
      v, Value::dict({{"handshake", "hello"},
                      {"meta", Value::dict({{"methods", Value::set({"kw", "add", "gen", "echo",
                                                                    "fail", "fire", "myfail"})},
                                            {"oneway", Value::set({"fire"})},
                                            {"attrs", Value::set({"value"})}})}}));
}

TEST(MarshalDecoder, GivesNoReferenceSlotToFlaggedSingletons) {
  // CPython ignores FLAG_REF on None/True/False and on references themselves.
  EXPECT_IDENTICAL(decode_hex("5b03000000 ce e907000000 7200000000"), Value::list({nullptr, 7, 7}));
  EXPECT_IDENTICAL(decode_hex("5b03000000 e901000000 f200000000 7200000000"),
                   Value::list({1, 1, 1}));
  expect_decode_error(unhex("5b02000000 ce 7200000000"),
                      "marshal: bad marshal data (invalid reference 0) at offset 6", 6);
  expect_decode_error(unhex("5b03000000 e901000000 f200000000 7201000000"),
                      "marshal: bad marshal data (invalid reference 1) at offset 15", 15);
}

TEST(MarshalDecoder, KeepsTheFirstKeyAndTheLastValueOfDuplicateDictKeys) {
  // {"a": 1, "b": 2, "a": 3}, as CPython's d[k] = v loop makes it.
  EXPECT_IDENTICAL(decode_hex("7b 7a0161 6901000000 7a0162 6902000000 7a0161 6903000000 30"),
                   Value::dict({{"a", 3}, {"b", 2}}));
  // Same with a flagged container among the values, then a reference to it.
  EXPECT_IDENTICAL(
      decode_hex("5b02000000 7b 7a0161 db01000000 6901000000 7a0161 6902000000 30 7200000000"),
      Value::list({Value::dict({{"a", 2}}), Value::list({1})}));
}

TEST(MarshalDecoder, KeepsReferencedDuplicatesAliveUntilTheEnd) {
  // {(1,): 1, (1,): 2} with both keys flagged, then references to both: the discarded second
  // key must still be there to copy.
  EXPECT_IDENTICAL(
      decode_hex("5b03000000 7b a9016901000000 6901000000 a9016901000000 6902000000 30 7200000000 "
                 "7201000000"),
      Value::list({Value::dict({{Value::tuple({1}), 2}}), Value::tuple({1}), Value::tuple({1})}));
  // A set with a duplicate flagged element.
  EXPECT_IDENTICAL(decode_hex("5b02000000 3c02000000 a9016901000000 a9016901000000 7201000000"),
                   Value::list({Value::set({Value::tuple({1})}), Value::tuple({1})}));
}

TEST(MarshalDecoder, DropsADictKeyThatIsFollowedByTheEndMarker) {
  // CPython stops reading the dict when a value is NULL and forgets the key.
  EXPECT_IDENTICAL(decode_hex("7b7a016130"), Value::dict());
  EXPECT_IDENTICAL(decode_hex("5b02000000 7b 7a0162 6901000000 a9016907000000 30 7200000000"),
                   Value::list({Value::dict({{"b", 1}}), Value::tuple({7})}));
}

TEST(MarshalDecoder, IgnoresBytesAfterTheObjectLikeMarshalLoads) {
  EXPECT_IDENTICAL(codec().decode(std::string_view("N garbage")), Value());
  EXPECT_IDENTICAL(decode_hex("e903000000 ffff"), Value(3));
}

TEST(MarshalDecoder, AcceptsTheMaximumNestingDepth) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) {
    bytes += "[" + le32(1);
  }
  bytes += "N";
  EXPECT_IDENTICAL(codec().decode(bytes), nested_lists(1000, Value()));
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

TEST(MarshalDecoder, DecodesTheCallEnvelopeOfTheSpec) {
  // Pyro5's proxy.add(1, 2) on object "thing" (serializers.md §2).
  const CallEnvelope call = codec().decode_call(
      unhex("2904fa057468696e67da03616464db02000000e901000000e902000000fb30"), {});
  EXPECT_EQ(call.object, "thing");
  EXPECT_EQ(call.method, "add");
  EXPECT_IDENTICAL(call.args, Value::list({1, 2}));
  EXPECT_IDENTICAL(call.kwargs, Value::dict());
}

TEST(MarshalDecoder, DecodesCallsWithKeywordArguments) {
  // ("thing", "kw", [1], {"c": 3})
  const CallEnvelope call = codec().decode_call(
      unhex("a904da057468696e67da026b775b01000000e9010000007bda0163e90300000030"), {});
  EXPECT_EQ(call.method, "kw");
  EXPECT_IDENTICAL(call.args, Value::list({1}));
  EXPECT_IDENTICAL(call.kwargs, Value::dict({{"c", 3}}));
}

TEST(MarshalDecoder, AcceptsTupleArgumentsAndNoneKeywordArguments) {
  const CallEnvelope call = codec().decode_call(unhex("29047a01747a016d29016901000000 4e"), {});
  EXPECT_IDENTICAL(call.args, Value::tuple({1}));
  EXPECT_TRUE(call.kwargs.is_none());
}

TEST(MarshalDecoder, RejectsMalformedCallEnvelopes) {
  expect_error<SerializeError>([] { codec().decode_call(unhex("29037a01747a016d5b00000000"), {}); },
                               "marshal: invalid call envelope: expected 4 items, got 3");
  expect_error<SerializeError>(
      [] { codec().decode_call(unhex("29047a01747a016d5b000000006901000000"), {}); },
      "marshal: invalid call envelope: keyword arguments must be a dict or None, got int");
}

// ---------------------------------------------------------------------------------------------
// Hostile and malformed input
// ---------------------------------------------------------------------------------------------

TEST(MarshalDecoder, RejectsEmptyInput) {
  expect_decode_error("", "marshal: EOF read where object expected at offset 0", 0);
}

TEST(MarshalDecoder, RejectsCodeObjectsStopIterationAndEllipsis) {
  expect_decode_error("c", "marshal: code objects are not accepted at offset 0", 0);
  expect_decode_error(unhex("e3 00000000"), "marshal: code objects are not accepted at offset 0",
                      0);
  expect_decode_error(unhex("5b01000000 e3"), "marshal: code objects are not accepted at offset 5",
                      5);
  expect_decode_error("S", "marshal: StopIteration is not accepted at offset 0", 0);
  expect_decode_error(".", "marshal: Ellipsis is not accepted at offset 0", 0);
}

TEST(MarshalDecoder, RejectsUnknownTypeCodes) {
  expect_decode_error("Q", "marshal: bad marshal data (unknown type code 0x51) at offset 0", 0);
  expect_decode_error(unhex("2902 4e d1"),
                      "marshal: bad marshal data (unknown type code 0xd1) at offset 3", 3);
  expect_decode_error(unhex("ff"), "marshal: bad marshal data (unknown type code 0xff) at offset 0",
                      0);
}

TEST(MarshalDecoder, RejectsNullObjectsOutsideDicts) {
  expect_decode_error("0", "marshal: NULL object where a value is expected at offset 0", 0);
  expect_decode_error(unhex("5b01000000 30"),
                      "marshal: NULL object where a value is expected at offset 5", 5);
  expect_decode_error(unhex("2901 b0"),
                      "marshal: NULL object where a value is expected at offset 2", 2);
  expect_decode_error(unhex("3e01000000 30"),
                      "marshal: NULL object where a value is expected at offset 5", 5);
}

TEST(MarshalDecoder, RejectsPayloadsTruncatedAtEveryOffset) {
  // Every kind of object, flags and back references included.
  const std::string payloads[] = {
      unhex(
          "db070000007bda0161290267000000000000f83ff30100000000da01623c02000000e901000000e902000000"
          "303e01000000da01786c0500000000000000000000000004e9ffffffff4e547506000000e282ac75726f"),
      unhex(
          "fbda0968616e647368616b65da0568656c6c6fda046d657461fbda076d6574686f64733c07000000da026b77"
          "da03616464da0367656eda046563686fda046661696cda0466697265da066d796661696cda066f6e65776179"
          "3c01000000720b000000da0561747472733c01000000da0576616c75653030"),
      unhex(
          "a906 f9000000000000f83f00000000000000c0 6603312e35 7803312e35022d32 c90500000000000000 "
          "a902 e10500000068656c6c6f 7204000000 be00000000"),
  };
  for (const std::string& payload : payloads) {
    ASSERT_NO_THROW(codec().decode(payload));
    for (std::size_t n = 0; n < payload.size(); ++n) {
      try {
        codec().decode(std::string_view(payload).substr(0, n));
        ADD_FAILURE() << "prefix of " << n << " bytes decoded";
      } catch (const SerializeError& e) {
        EXPECT_LE(e.offset(), n) << e.what();
        EXPECT_NE(std::string_view(e.what()).find(" at offset " + std::to_string(e.offset())),
                  std::string_view::npos)
            << e.what();
      }
    }
  }
}

TEST(MarshalDecoder, RejectsForgedCountsBeforeAllocating) {
  const std::string ten(10, 'N');
  expect_decode_error(
      unhex("5bffffff7f") + ten,
      "marshal: list of 2147483647 items does not fit the remaining 10 bytes at offset 1", 1);
  expect_decode_error(
      unhex("28ffffff7f") + ten,
      "marshal: tuple of 2147483647 items does not fit the remaining 10 bytes at offset 1", 1);
  expect_decode_error(
      unhex("3cffffff7f") + ten,
      "marshal: set of 2147483647 items does not fit the remaining 10 bytes at offset 1", 1);
  expect_decode_error(
      unhex("3effffff7f") + ten,
      "marshal: frozenset of 2147483647 items does not fit the remaining 10 bytes at offset 1", 1);
  expect_decode_error(unhex("29ff") + ten,
                      "marshal: tuple of 255 items does not fit the remaining 10 bytes at offset 1",
                      1);
  expect_decode_error(unhex("75ffffff7f") + ten,
                      "marshal: data too short for str of 2147483647 bytes at offset 1", 1);
  expect_decode_error(unhex("73ffffff7f") + ten,
                      "marshal: data too short for bytes of 2147483647 bytes at offset 1", 1);
  expect_decode_error(unhex("61ffffff7f") + ten,
                      "marshal: data too short for str of 2147483647 bytes at offset 1", 1);
  expect_decode_error(unhex("7aff") + ten,
                      "marshal: data too short for str of 255 bytes at offset 1", 1);
  expect_decode_error(unhex("6cffffff7f") + ten,
                      "marshal: data too short for int of 2147483647 digits at offset 5", 5);
  expect_decode_error(unhex("6c01000080") + ten,
                      "marshal: data too short for int of 2147483647 digits at offset 5", 5);
  expect_decode_error(unhex("66ff") + ten,
                      "marshal: data too short for float of 255 bytes at offset 1", 1);
}

TEST(MarshalDecoder, RejectsNegativeSizes) {
  expect_decode_error(unhex("5bffffffff"),
                      "marshal: bad marshal data (list size out of range) at offset 1", 1);
  expect_decode_error(unhex("28feffffff"),
                      "marshal: bad marshal data (tuple size out of range) at offset 1", 1);
  expect_decode_error(unhex("3c00000080"),
                      "marshal: bad marshal data (set size out of range) at offset 1", 1);
  expect_decode_error(unhex("73ffffffff"),
                      "marshal: bad marshal data (bytes size out of range) at offset 1", 1);
  expect_decode_error(unhex("75ffffffff"),
                      "marshal: bad marshal data (str size out of range) at offset 1", 1);
  expect_decode_error(unhex("6c00000080"),
                      "marshal: bad marshal data (long size out of range) at offset 1", 1);
}

TEST(MarshalDecoder, RejectsInvalidBackReferences) {
  expect_decode_error(unhex("7205000000"),
                      "marshal: bad marshal data (invalid reference 5) at offset 0", 0);
  expect_decode_error(unhex("72ffffffff"),
                      "marshal: bad marshal data (invalid reference -1) at offset 0", 0);
  expect_decode_error(unhex("72000000"), "marshal: data too short for reference at offset 1", 1);
}

TEST(MarshalDecoder, RejectsReferencesToUnfinishedContainers) {
  // l = []; l.append(l): CPython builds a cycle, a Value tree cannot hold one.
  expect_decode_error(unhex("db01000000 7200000000"),
                      "marshal: reference to an unfinished container (a cycle) at offset 5", 5);
  expect_decode_error(unhex("a901 7200000000"),
                      "marshal: reference to an unfinished container (a cycle) at offset 2", 2);
  expect_decode_error(unhex("fb 7a016b 7200000000 30"),
                      "marshal: reference to an unfinished container (a cycle) at offset 4", 4);
  expect_decode_error(unhex("be01000000 7200000000"),
                      "marshal: reference to an unfinished container (a cycle) at offset 5", 5);
  expect_decode_error(unhex("bc01000000 db01000000 7200000000"),
                      "marshal: reference to an unfinished container (a cycle) at offset 10", 10);
}

TEST(MarshalDecoder, BoundsTheCopiesMadeForBackReferences) {
  // L0 = [None]; L(i+1) = [Li, Li] — 40 doublings in 400 bytes would be 2**40 values.
  std::string bytes = "\xdb" + le32(41) + "\xdb" + le32(1) + "N";
  for (std::uint32_t i = 1; i <= 40; ++i) {
    bytes += "\xdb" + le32(2) + "r" + le32(i) + "r" + le32(i);
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    codec().decode(bytes);
    ADD_FAILURE() << "reference bomb decoded";
  } catch (const SerializeError& e) {
    EXPECT_NE(std::string_view(e.what()).find("back references expand to more than"),
              std::string_view::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(MarshalDecoder, RejectsNestingDeeperThanTheConfiguredLimit) {
  std::string bytes;
  for (int i = 0; i < 1001; ++i) {
    bytes += "[" + le32(1);
  }
  bytes += "N";
  expect_decode_error(bytes, "marshal: containers nested deeper than 1000 levels at offset 5000",
                      5000);
  expect_decode_error(std::string(100000, ')'),
                      "marshal: containers nested deeper than 1000 levels at offset 2000", 2000);
  expect_decode_error(unhex("2901 2901 2901 4e"),
                      "marshal: containers nested deeper than 2 levels at offset 4", 4,
                      DecodeOptions{.max_depth = 2});
  EXPECT_IDENTICAL(decode_hex("2901 2901 4e", DecodeOptions{.max_depth = 2}),
                   Value::tuple({Value::tuple({nullptr})}));
}

TEST(MarshalDecoder, RejectsInvalidUtf8InUnicodeStrings) {
  expect_decode_error(unhex("7501000000ff"), "marshal: invalid UTF-8 byte 0xff in str at offset 5",
                      5);
  expect_decode_error(unhex("7503000000 61 c3 28"),
                      "marshal: invalid UTF-8 byte 0xc3 in str at offset 6", 6);
  expect_decode_error(unhex("5b01000000 7402000000 c0af"),
                      "marshal: invalid UTF-8 byte 0xc0 in str at offset 10", 10);
}

TEST(MarshalDecoder, RejectsNonAsciiBytesInAsciiStrings) {
  // CPython would read these bytes as Latin-1; no Python version writes them, so we refuse them.
  expect_decode_error(unhex("7a01e9"), "marshal: non-ASCII byte 0xe9 in ASCII str at offset 2", 2);
  expect_decode_error(unhex("5a0261e9"), "marshal: non-ASCII byte 0xe9 in ASCII str at offset 3",
                      3);
  expect_decode_error(unhex("6102000000 61 80"),
                      "marshal: non-ASCII byte 0x80 in ASCII str at offset 6", 6);
}

TEST(MarshalDecoder, RejectsUnhashableDictKeysAndSetElements) {
  expect_decode_error(unhex("7b 5b00000000 6901000000 30"),
                      "marshal: unhashable type: 'list' at offset 1", 1);
  expect_decode_error(unhex("7b 2901 7b30 6901000000 30"),
                      "marshal: unhashable type: 'dict' at offset 1", 1);
  expect_decode_error(unhex("3c01000000 3c00000000"), "marshal: unhashable type: 'set' at offset 5",
                      5);
  expect_decode_error(unhex("3e02000000 6901000000 5b00000000"),
                      "marshal: unhashable type: 'list' at offset 10", 10);
}

TEST(MarshalDecoder, RejectsMalformedLongs) {
  expect_decode_error(unhex("6c02000000 0100 0000"),
                      "marshal: bad marshal data (unnormalized long data) at offset 7", 7);
  expect_decode_error(unhex("6c01000000 0080"),
                      "marshal: bad marshal data (digit out of range in long) at offset 5", 5);
  expect_decode_error(unhex("6c06000000 0000 0000 0080 0000 0000 0100"),
                      "marshal: bad marshal data (digit out of range in long) at offset 9", 9);
}

TEST(MarshalDecoder, RejectsMalformedAsciiFloats) {
  expect_decode_error(unhex("6603616263"), "marshal: could not convert string to float at offset 2",
                      2);
  expect_decode_error(unhex("6600"), "marshal: could not convert string to float at offset 2", 2);
  expect_decode_error(unhex("6604 20312e35"),
                      "marshal: could not convert string to float at offset 2", 2);
  expect_decode_error(unhex("6603 315f30"),
                      "marshal: could not convert string to float at offset 2", 2);
  expect_decode_error(unhex("6604 30783130"),
                      "marshal: could not convert string to float at offset 2", 2);
  expect_decode_error(unhex("6602 3165"), "marshal: could not convert string to float at offset 2",
                      2);
  expect_decode_error(unhex("7803312e35 0178"),
                      "marshal: could not convert string to float at offset 6", 6);
}

// ---------------------------------------------------------------------------------------------
// Encoding as CPython does
// ---------------------------------------------------------------------------------------------

TEST(MarshalEncoder, WritesScalarsAsCPythonDoes) {
  EXPECT_EQ(encode_hex(Value()), "4e");
  EXPECT_EQ(encode_hex(Value(true)), "54");
  EXPECT_EQ(encode_hex(Value(false)), "46");
  EXPECT_EQ(encode_hex(Value(1.5)), "67000000000000f83f");
  EXPECT_EQ(encode_hex(Value(3.14159)), "676e861bf0f9210940");
  EXPECT_EQ(encode_hex(Value(-0.0)), "670000000000000080");
  EXPECT_EQ(encode_hex(Value(std::numeric_limits<double>::quiet_NaN())), "67000000000000f87f");
  EXPECT_EQ(encode_hex(Value(HUGE_VAL)), "67000000000000f07f");
  EXPECT_EQ(encode_hex(Value(-HUGE_VAL)), "67000000000000f0ff");
  EXPECT_EQ(encode_hex(Value(5e-324)), "670100000000000000");
  EXPECT_EQ(encode_hex(Value(std::complex<double>(1.5, -2.0))),
            "79000000000000f83f00000000000000c0");
  EXPECT_EQ(encode_hex(Value(std::complex<double>(0.0, -0.0))),
            "7900000000000000000000000000000080");
  EXPECT_EQ(encode_hex(Value::bytes(std::string_view())), "7300000000");
  EXPECT_EQ(encode_hex(Value::bytes(std::string_view("\x00\x01\x7f\x80\xfe\xff", 6))),
            "730600000000017f80feff");
}

TEST(MarshalEncoder, WritesThirtyTwoBitIntsAsIAndOthersAsLongs) {
  EXPECT_EQ(encode_hex(Value(0)), "6900000000");
  EXPECT_EQ(encode_hex(Value(-1)), "69ffffffff");
  EXPECT_EQ(encode_hex(Value(2147483647)), "69ffffff7f");
  EXPECT_EQ(encode_hex(Value(-2147483647 - 1)), "6900000080");
  EXPECT_EQ(encode_hex(Value(std::int64_t{1} << 31)), "6c03000000000000000200");
  EXPECT_EQ(encode_hex(Value(-(std::int64_t{1} << 31) - 1)), "6cfdffffff010000000200");
  EXPECT_EQ(encode_hex(Value(std::numeric_limits<std::int64_t>::max())),
            "6c05000000ff7fff7fff7fff7f0700");
  EXPECT_EQ(encode_hex(Value(std::numeric_limits<std::int64_t>::min())),
            "6cfbffffff00000000000000000800");
  EXPECT_EQ(encode_hex(Value(std::uint64_t{1} << 63)), "6c0500000000000000000000000800");
  EXPECT_EQ(encode_hex(Value(std::numeric_limits<std::uint64_t>::max())),
            "6c05000000ff7fff7fff7fff7f0f00");
  EXPECT_EQ(encode_hex(big("18446744073709551616")), "6c0500000000000000000000001000");
  EXPECT_EQ(encode_hex(big("-18446744073709551616")), "6cfbffffff00000000000000001000");
  EXPECT_EQ(encode_hex(big("1180591620717411303424")), "6c0500000000000000000000000004");
  EXPECT_EQ(encode_hex(big("-1180591620717411303425")), "6cfbffffff01000000000000000004");
}

TEST(MarshalEncoder, WritesIntsOfAnySize) {
  EXPECT_EQ(encode_hex(big(
                "-13689147905858837599132602738208831596646369562533743647148019007836899717749907"
                "6593800206155688941388250484440597994042813512732765695774566001")),
            "6ce0ffffff7126b8389f399a4de34b4847186d703a381e7d0e2a0a70632321870a0339122f9c410b73e86e"
            "c23f8d4d1347"
            "ee1a7658bf111706b82a6b7adb250b69ff739c05");
  EXPECT_EQ(encode_hex(Value::int_from_text("0x1" + std::string(250, '0'))),
            "6c43000000" + std::string(264, '0') + "0004");
  // Far beyond Python's 4300-digit limit for decimal text: marshal has no limit.
  const Value huge = Value::int_from_text("-0x" + std::string(20000, 'f'));
  const std::string bytes = codec().encode(huge);
  EXPECT_EQ(bytes.size(), 1 + 4 + 2 * ((20000 * 4 + 14) / 15));
  EXPECT_IDENTICAL(codec().decode(bytes), huge);
}

TEST(MarshalEncoder, ChoosesShortAsciiAsciiOrUnicodeForStr) {
  EXPECT_EQ(encode_hex(Value("")), "7a00");
  EXPECT_EQ(encode_hex(Value("hello")), "7a0568656c6c6f");
  EXPECT_EQ(encode_hex(Value(std::string(255, 'x'))), "7aff" + hex(std::string(255, 'x')));
  EXPECT_EQ(encode_hex(Value(std::string(256, 'x'))), "6100010000" + hex(std::string(256, 'x')));
  EXPECT_EQ(encode_hex(Value(std::string(300, 'y'))), "612c010000" + hex(std::string(300, 'y')));
  EXPECT_EQ(encode_hex(Value("h\u00e9llo")), "750600000068c3a96c6c6f");
  EXPECT_EQ(encode_hex(Value("\u20ac")), "7503000000e282ac");
  EXPECT_EQ(encode_hex(Value("\U0001F600")), "7504000000f09f9880");
  EXPECT_EQ(encode_hex(surrogate_str("\xed\xa0\x80")), "7503000000eda080");
}

TEST(MarshalEncoder, WritesContainersAsCPythonDoes) {
  EXPECT_EQ(encode_hex(Value::tuple({})), "2900");
  EXPECT_EQ(encode_hex(Value::tuple({1, "two", 3.0})),
            "290369010000007a0374776f670000000000000840");
  EXPECT_EQ(encode_hex(Value::list()), "5b00000000");
  EXPECT_EQ(encode_hex(Value::list({1, Value::list({2, Value::list({3})})})),
            "5b0200000069010000005b0200000069020000005b010000006903000000");
  EXPECT_EQ(encode_hex(Value::dict()), "7b30");
  EXPECT_EQ(encode_hex(Value::set()), "3c00000000");
  EXPECT_EQ(encode_hex(Value::frozenset()), "3e00000000");
  EXPECT_EQ(encode_hex(Value::set({1, 2, 3})), "3c03000000690100000069020000006903000000");
  EXPECT_EQ(encode_hex(Value::frozenset({5})), "3e010000006905000000");
  EXPECT_EQ(encode_hex(Value::dict(
                {{1, "one"}, {Value::tuple({1, 2}), nullptr}, {"k", Value::list({1})}})),
            "7b69010000007a036f6e652902690100000069020000004e7a016b5b01000000690100000030");
  EXPECT_EQ(encode_hex(Value::list(
                {Value::dict({{"a", Value::tuple({1.5, Value::bytes(std::string_view("\0", 1))})},
                              {"b", Value::set({1, 2})}}),
                 Value::frozenset({"x"}), big("1180591620717411303424"), -1, nullptr, true,
                 "\u20acuro"})),
            "5b070000007b7a0161290267000000000000f83f7301000000007a01623c02000000690100000069020000"
            "00303e010000"
            "007a01786c050000000000000000000000000469ffffffff4e547506000000e282ac75726f");
}

TEST(MarshalEncoder, UsesSmallTuplesBelow256Items) {
  std::vector<Value> items(255, Value());
  std::string nones;
  for (int i = 0; i < 255; ++i) {
    nones += "4e";
  }
  EXPECT_EQ(encode_hex(Value::tuple(items)), "29ff" + nones);
  items.emplace_back();
  EXPECT_EQ(encode_hex(Value::tuple(items)).substr(0, 10), "2800010000");
}

TEST(MarshalEncoder, WritesTopLevelObjectsAsTheirClassDict) {
  const Value uri = pyro::to_value(pyro::Uri("PYRO:obj@host:9999"));
  // marshal.dumps({"__class__": "Pyro5.core.URI", "state": ("PYRO", "obj", None, "host", 9999)})
  EXPECT_EQ(
      encode_hex(uri),
      "7b7a095f5f636c6173735f5f7a0e5079726f352e636f72652e5552497a05737461746529057a045059524f7a036f"
      "626a4e7a04686f7374690f27000030");
  EXPECT_EQ(codec().encode(uri, {.dialect = Dialect::pyro4}),
            codec().encode(pyro::Uri("PYRO:obj@host:9999").to_dict(Dialect::pyro4)));
}

TEST(MarshalEncoder, WritesTopLevelExceptionsAsExceptionDicts) {
  pyro::ExceptionInfo info;
  info.class_name = "builtins.ValueError";
  info.args.emplace_back("bad value");
  const Value exception = Value::object(std::make_shared<pyro::ExceptionObject>(info));
  // marshal.dumps({"__class__": "builtins.ValueError", "__exception__": True,
  //                "args": ("bad value",), "attributes": {}})
  EXPECT_EQ(encode_hex(exception),
            "7b7a095f5f636c6173735f5f7a136275696c74696e732e56616c75654572726f727a0d5f5f657863657074"
            "696f6e5f5f"
            "547a046172677329017a096261642076616c75657a0a617474726962757465737b3030");
}

TEST(MarshalEncoder, UsesRegisteredClassToDictConverters) {
  pyro::ClassRegistry registry;
  registry.register_class_to_dict<std::string>([](const std::string& s) {
    return Value::dict({{"__class__", "mod.Name"}, {"name", s}});
  });
  const Value object = pyro::make_object(std::string("x"), "mod.Name");
  EXPECT_EQ(codec().encode(object, {.registry = &registry}),
            codec().encode(Value::dict({{"__class__", "mod.Name"}, {"name", "x"}})));
}

TEST(MarshalEncoder, RefusesNestedObjectsLikeCPythonsMarshal) {
  const Value uri = pyro::to_value(pyro::Uri("PYRO:obj@host:9999"));
  expect_error<pyro::ValueError>([&] { codec().encode(Value::list({uri})); },
                                 "unmarshallable object");
  expect_error<pyro::ValueError>(
      [&] {
        codec().encode(Value::dict({{"k", pyro::DateTime{}}}));
      },
      "unmarshallable object");
  expect_error<pyro::ValueError>(
      [&] {
        codec().encode(Value::tuple({1, pyro::Date{}}));
      },
      "unmarshallable object");
}

TEST(MarshalEncoder, RefusesTopLevelDatetimesLikePyro) {
  expect_error<SerializeError>(
      [] { codec().encode(Value(pyro::DateTime{})); },
      "don't know how to serialize class <class 'datetime.datetime'> using serializer "
      "MarshalSerializer. Give it vars() or an appropriate __getstate__");
  expect_error<SerializeError>(
      [] { codec().encode(Value(pyro::Date{})); },
      "don't know how to serialize class <class 'datetime.date'> using serializer "
      "MarshalSerializer. Give it vars() or an appropriate __getstate__");
}

TEST(MarshalEncoder, LeavesTheOutputUntouchedWhenEncodingFails) {
  std::string out = "prefix";
  EXPECT_THROW(codec().encode(Value::list({1, 2, pyro::Date{}}), out, {}), pyro::ValueError);
  EXPECT_EQ(out, "prefix");
  codec().encode(Value(1), out, {});
  EXPECT_EQ(hex(out), hex("prefix") + "6901000000");
}

TEST(MarshalEncoder, RefusesObjectsNestedDeeperThanCPythonCanRead) {
  // CPython's limit is 2000 objects deep, scalars included.
  EXPECT_NO_THROW(codec().encode(nested_lists(1999, Value::list())));
  EXPECT_NO_THROW(codec().encode(nested_lists(1999, Value(1))));
  expect_error<pyro::ValueError>([] { codec().encode(nested_lists(2000, Value(1))); },
                                 "object too deeply nested to marshal");
  expect_error<pyro::ValueError>([] { codec().encode(nested_lists(2000, Value::list())); },
                                 "object too deeply nested to marshal");
}

TEST(MarshalEncoder, WritesTheCallEnvelopeOfTheSpec) {
  CallEnvelope call;
  call.object = "thing";
  call.method = "add";
  call.args = Value::tuple({1, 2});
  std::string out;
  codec().encode_call(call, out, {});
  // Pyro's dumpsCall always sends the arguments as a list.
  EXPECT_EQ(hex(out), "29047a057468696e677a036164645b02000000690100000069020000007b30");
  call.method = "kw";
  call.args = Value::list({1});
  call.kwargs = Value::dict({{"c", 3}});
  out.clear();
  codec().encode_call(call, out, {});
  EXPECT_EQ(hex(out), "29047a057468696e677a026b775b0100000069010000007b7a0163690300000030");
}

TEST(MarshalEncoder, WritesNoneKeywordArgumentsAsNone) {
  CallEnvelope call{"thing", "__getattr__", Value::tuple({"value"}), Value()};
  std::string out;
  codec().encode_call(call, out, {});
  EXPECT_EQ(hex(out), "29047a057468696e677a0b5f5f676574617474725f5f5b010000007a0576616c75654e");
  const CallEnvelope back = codec().decode_call(out, {});
  EXPECT_EQ(back.method, "__getattr__");
  EXPECT_TRUE(back.kwargs.is_none());
}

TEST(MarshalEncoder, ConvertsTopLevelCallArgumentsOnly) {
  const Value uri = pyro::to_value(pyro::Uri("PYRO:obj@host:9999"));
  const Value uri_dict = pyro::Uri("PYRO:obj@host:9999").to_dict(Dialect::pyro5);
  CallEnvelope call{"o", "m", Value::list({uri}), Value::dict({{"u", uri}})};
  std::string out;
  codec().encode_call(call, out, {});
  const CallEnvelope back = codec().decode_call(out, {});
  EXPECT_IDENTICAL(back.args, Value::list({uri_dict}));
  EXPECT_IDENTICAL(back.kwargs, Value::dict({{"u", uri_dict}}));

  out.clear();
  call.args = Value::list({Value::list({uri})});
  EXPECT_THROW(codec().encode_call(call, out, {}), pyro::ValueError);
  EXPECT_EQ(out, "");
  call.args = Value::list({pyro::DateTime{}});
  expect_error<SerializeError>(
      [&] { codec().encode_call(call, out, {}); },
      "don't know how to serialize class <class 'datetime.datetime'> using serializer "
      "MarshalSerializer. Give it vars() or an appropriate __getstate__");
}

TEST(MarshalEncoder, RoundTripsEveryKindOfValue) {
  const Value v = Value::list({
      nullptr,
      true,
      false,
      0,
      -2147483647 - 1,
      std::numeric_limits<std::int64_t>::min(),
      std::numeric_limits<std::uint64_t>::max(),
      big("-1180591620717411303425"),
      -0.0,
      std::numeric_limits<double>::quiet_NaN(),
      HUGE_VAL,
      std::complex<double>(1.5, -2.0),
      "",
      "ascii",
      std::string(70000, 'a'),
      "h\u00e9llo \U0001F600",
      surrogate_str("\xed\xb0\x80"),
      Value::bytes(std::string(300, '\xff')),
      Value::tuple({}),
      Value::tuple(std::vector<Value>(1000, Value(7))),
      Value::dict({{Value::tuple({1, "a"}), Value::frozenset({Value::frozenset({1})})},
                   {2.5, Value::set({"x", 3})},
                   {nullptr, Value::dict()}}),
  });
  EXPECT_IDENTICAL(codec().decode(codec().encode(v)), v);
}

// ---------------------------------------------------------------------------------------------
// Recorded conversations (tests/vectors): every marshal payload Pyro5 and Pyro4 sent
// ---------------------------------------------------------------------------------------------

// CPython's marshal bytes as we write them: FLAG_REF bits cleared, back references replaced by
// the bytes of the object they name, interned string codes replaced by the plain ones. A walk
// over the format independent of the codec (no Values involved), for comparing our encoder with
// what CPython wrote.
class Canonical {
 public:
  explicit Canonical(std::string_view in) : in_(in) {}

  std::string object() {
    const auto code = static_cast<unsigned char>(take(1)[0]);
    const char type = static_cast<char>(code & 0x7F);
    if (type == 'N' || type == 'T' || type == 'F' || type == '0') return std::string(1, type);
    if (type == 'r') return refs_.at(u32(take(4)));
    std::size_t slot = refs_.size();
    if (code & 0x80) refs_.emplace_back();
    std::string out;
    switch (type) {
      case 'i':
        out = "i" + take(4);
        break;
      case 'l': {
        const std::string n = take(4);
        const auto count = static_cast<std::int32_t>(u32(n));
        out = "l" + n + take(2 * static_cast<std::size_t>(count < 0 ? -count : count));
        break;
      }
      case 'g':
        out = "g" + take(8);
        break;
      case 'y':
        out = "y" + take(16);
        break;
      case 's':
      case 'u':
      case 't':
      case 'a':
      case 'A': {
        const std::string n = take(4);
        out = std::string(1, type == 't' ? 'u' : type == 'A' ? 'a' : type) + n + take(u32(n));
        break;
      }
      case 'z':
      case 'Z': {
        const std::string n = take(1);
        out = "z" + n + take(static_cast<unsigned char>(n[0]));
        break;
      }
      case ')': {
        const std::string n = take(1);
        out = ")" + n;
        for (unsigned i = 0; i < static_cast<unsigned char>(n[0]); ++i)
          out += object();
        break;
      }
      case '(':
      case '[':
      case '<':
      case '>': {
        const std::string n = take(4);
        out = std::string(1, type) + n;
        for (std::uint32_t i = 0; i < u32(n); ++i)
          out += object();
        break;
      }
      case '{':
        out = "{";
        for (;;) {
          const std::string key = object();
          out += key;
          if (key == "0") break;
          out += object();
        }
        break;
      default:
        ADD_FAILURE() << "unexpected type code " << type;
    }
    if (code & 0x80) refs_[slot] = out;
    return out;
  }

 private:
  std::string take(std::size_t n) {
    if (pos_ + n > in_.size()) throw std::out_of_range("canonical: truncated");
    std::string out(in_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  static std::uint32_t u32(std::string_view b) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(b[0])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b[3])) << 24;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::vector<std::string> refs_;
};

// A value in the vectors' tagged JSON (tests/vectors/README.md, "Tagged values").
Value from_tagged(const rapidjson::Value& j) {
  if (j.IsNull()) return Value();
  if (j.IsBool()) return Value(j.GetBool());
  if (j.IsInt64()) return Value(j.GetInt64());
  if (j.IsUint64()) return Value(j.GetUint64());
  if (j.IsDouble()) return Value(j.GetDouble());
  if (j.IsString()) return Value(std::string_view(j.GetString(), j.GetStringLength()));
  if (j.IsArray()) {
    std::vector<Value> items;
    for (const auto& item : j.GetArray()) {
      items.push_back(from_tagged(item));
    }
    return Value::list(std::move(items));
  }
  if (j.MemberCount() == 1 && j.MemberBegin()->name.GetString()[0] == '$') {
    const std::string_view tag = j.MemberBegin()->name.GetString();
    const rapidjson::Value& body = j.MemberBegin()->value;
    if (tag == "$int") return Value::int_from_text(body.GetString());
    if (tag == "$float") {
      if (body.IsNumber()) return Value(body.GetDouble());
      const std::string_view text = body.GetString();
      if (text == "nan") return Value(std::numeric_limits<double>::quiet_NaN());
      return Value(text == "inf" ? HUGE_VAL : -HUGE_VAL);
    }
    if (tag == "$bytes") return Value::bytes(unhex(body.GetString()));
    if (tag == "$complex") {
      return Value(
          std::complex<double>(from_tagged(body[0]).as_float(), from_tagged(body[1]).as_float()));
    }
    std::vector<Value> items;
    if (tag == "$dict") {
      Value d = Value::dict();
      for (const auto& pair : body.GetArray()) {
        d.as_dict().set(from_tagged(pair[0]), from_tagged(pair[1]));
      }
      return d;
    }
    for (const auto& item : body.GetArray()) {
      items.push_back(from_tagged(item));
    }
    if (tag == "$tuple") return Value::tuple(std::move(items));
    pyro::Set set;
    for (auto& item : items) {
      set.add(std::move(item));
    }
    if (tag == "$set") return Value(std::move(set));
    if (tag == "$frozenset") return Value::frozenset(std::move(set));
    ADD_FAILURE() << "unknown tag " << tag;
    return Value();
  }
  Value d = Value::dict();
  for (const auto& member : j.GetObject()) {
    d.as_dict().set(std::string_view(member.name.GetString(), member.name.GetStringLength()),
                    from_tagged(member.value));
  }
  return d;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RecordedPayload {
  std::string where;
  std::string bytes;
  Value decoded;
  bool is_call;
};

std::vector<RecordedPayload> recorded_payloads() {
  std::vector<RecordedPayload> out;
  for (const char* protocol : {"pyro5", "pyro4"}) {
    const std::filesystem::path root =
        std::filesystem::path(PYRO_TEST_VECTORS) / protocol / "marshal";
    for (const auto& dir : std::filesystem::directory_iterator(root)) {
      rapidjson::Document doc;
      const std::string json = read_file(dir.path() / "scenario.json");
      doc.Parse<rapidjson::kParseFullPrecisionFlag>(json.c_str());
      if (doc.HasParseError()) {
        ADD_FAILURE() << "cannot parse " << dir.path();
        continue;
      }
      for (const auto& message : doc["messages"].GetArray()) {
        if (!message.HasMember("payload") || !message.HasMember("header")) continue;
        const auto& payload = message["payload"];
        if (!payload.HasMember("decoded") || payload["compressed"].GetBool()) continue;
        if (message["header"]["serializer"] != "marshal") continue;
        const std::string file = read_file(dir.path() / message["file"].GetString());
        out.push_back({dir.path().string() + "/" + message["file"].GetString(),
                       file.substr(payload["offset"].GetUint64(), payload["size"].GetUint64()),
                       from_tagged(payload["decoded"]), message["header"]["type"].GetInt() == 4});
      }
    }
  }
  return out;
}

TEST(MarshalVectors, DecodesEveryRecordedPayloadAsPythonDid) {
  const auto payloads = recorded_payloads();
  EXPECT_GT(payloads.size(), 200u);
  for (const auto& p : payloads) {
    SCOPED_TRACE(p.where);
    EXPECT_IDENTICAL(codec().decode(p.bytes), p.decoded);
    if (p.is_call) {
      const CallEnvelope call = codec().decode_call(p.bytes, {});
      EXPECT_EQ(call.object, p.decoded[0].as_str());
      EXPECT_TRUE(call.args.is_list());
    }
  }
}

TEST(MarshalVectors, ReencodesEveryRecordedPayloadAsCPythonWroteItWithoutReferences) {
  // Decoding keeps dict and set order as on the wire, so re-encoding must give CPython's bytes
  // exactly, up to FLAG_REF, back references and interning.
  for (const auto& p : recorded_payloads()) {
    SCOPED_TRACE(p.where);
    EXPECT_EQ(hex(codec().encode(codec().decode(p.bytes))), hex(Canonical(p.bytes).object()));
    // The vectors list set elements sorted, not in wire order: compare those as values.
    EXPECT_IDENTICAL(codec().decode(codec().encode(p.decoded)), p.decoded);
  }
}

}  // namespace
