// protocol_test.cpp — message framing for protocols 502 and 48 against the recorded Pyro5/Pyro4
// conversations in tests/vectors (every message decoded and re-encoded), against messages
// written by Python Pyro4's Message.to_bytes() with an HMAC key (generated with /usr/bin/python3
// and hard-coded here), and against hostile input.
#include "pyro/protocol.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <typeinfo>
#include <unistd.h>
#include <vector>
#include <zlib.h>

#include <gtest/gtest.h>

#include "pyro/serializer.hpp"
#include "support/hex.hpp"
#include "support/vectors.hpp"

namespace {

using pyro::Annotations;
using pyro::CorrelationId;
using pyro::EncodeSettings;
using pyro::Header;
using pyro::Message;
using pyro::MessageTooLargeError;
using pyro::MessageType;
using pyro::ProtocolError;
using pyro::SecurityError;
namespace flags = pyro::flags;

constexpr std::size_t one_gib = std::size_t{1} << 30;

using pyro::testing::hex;
using pyro::testing::unhex;

// Runs f and checks that it throws exactly E (not a subclass) with exactly this message.
template <class E, class F>
void expect_error(F&& f, std::string_view text) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected: " << text;
  } catch (const pyro::PyroError& e) {
    EXPECT_EQ(typeid(e), typeid(E)) << "message: " << e.what();
    EXPECT_EQ(e.what(), text);
  }
}

// The whole read path as transport runs it.
Message read_message(std::string_view bytes, std::size_t max_size = one_gib,
                     const std::optional<std::string>& key = std::nullopt) {
  const std::uint16_t protocol = pyro::detect_protocol(bytes.substr(0, 6));
  const Header header = pyro::parse_header(bytes.substr(0, pyro::header_size(protocol)), max_size);
  return pyro::decode_body(header, bytes.substr(pyro::header_size(protocol)), key);
}

Header header_of(std::string_view bytes, std::size_t max_size = one_gib) {
  const std::uint16_t protocol = pyro::detect_protocol(bytes.substr(0, 6));
  return pyro::parse_header(bytes.substr(0, pyro::header_size(protocol)), max_size);
}

Message sample(std::uint16_t protocol) {
  Message m;
  m.protocol = protocol;
  m.type = MessageType::invoke;
  m.serializer_id = 1;
  m.seq = 11;
  m.payload = "# serpent utf-8 python3.2\n('thing','add',(3,4),{})";
  return m;
}

CorrelationId corr_1111() {
  const std::string b = unhex("11112222333344445555666677778888");
  CorrelationId id;
  std::copy(b.begin(), b.end(), id.begin());
  return id;
}

// Deterministic bytes that zlib cannot shrink.
std::string incompressible(std::size_t n) {
  std::string out;
  std::uint32_t x = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    out.push_back(static_cast<char>(x >> 23));
  }
  return out;
}

std::string zlib_compress(std::string_view data, int level) {
  uLongf n = compressBound(data.size());
  std::string out(n, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(data.data()),
            data.size(), level);
  out.resize(n);
  return out;
}

// A 502 or 48 message with a hand-made body (annotation area + payload), header consistent.
std::string frame(std::uint16_t protocol, std::string_view annotation_area,
                  std::string_view payload, std::uint16_t wire_flags = 0) {
  std::string out;
  auto put16 = [&](std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
  };
  auto put32 = [&](std::uint32_t v) {
    put16(static_cast<std::uint16_t>(v >> 16));
    put16(static_cast<std::uint16_t>(v));
  };
  out = "PYRO";
  put16(protocol);
  if (protocol == pyro::protocol_502) {
    out.push_back(4);
    out.push_back(1);
    put16(wire_flags);
    put16(1);
    put32(static_cast<std::uint32_t>(payload.size()));
    put32(static_cast<std::uint32_t>(annotation_area.size()));
    out.append(16, '\0');
    put16(0);
    put16(0x4DC5);
  } else {
    put16(4);
    put16(wire_flags);
    put16(1);
    put32(static_cast<std::uint32_t>(payload.size()));
    put16(1);
    put16(static_cast<std::uint16_t>(annotation_area.size()));
    put16(0);
    put16(static_cast<std::uint16_t>(4 + 48 + payload.size() + annotation_area.size() + 1 +
                                     wire_flags + 1 + 0x34E9));
  }
  out.append(annotation_area);
  out.append(payload);
  return out;
}

std::string chunk502(std::string_view id, std::string_view value) {
  std::string out(id);
  const auto n = static_cast<std::uint32_t>(value.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(n >> shift));
  out.append(value);
  return out;
}

std::string chunk48(std::string_view id, std::string_view value) {
  std::string out(id);
  out.push_back(static_cast<char>(value.size() >> 8));
  out.push_back(static_cast<char>(value.size()));
  out.append(value);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The recorded conversations
// ---------------------------------------------------------------------------------------------

const std::vector<pyro::testing::Scenario>& scenarios() {
  static const std::vector<pyro::testing::Scenario> all = pyro::testing::load_scenarios();
  return all;
}

bool scenario_compresses(const pyro::testing::Scenario& s) {
  const auto& setup = s.json["setup"];
  if (!setup.HasMember("config")) return false;
  const auto& config = setup["config"];
  return config.HasMember("COMPRESSION") && config["COMPRESSION"].GetBool();
}

// Calls f(scenario, recorded message, its scenario.json entry) for every "pyro" framed message.
void for_each_recorded_message(
    const std::function<void(const pyro::testing::Scenario&, const pyro::testing::RecordedMessage&,
                             const rapidjson::Value&)>& f) {
  for (const auto& s : scenarios()) {
    const auto& entries = s.json["messages"];
    for (std::size_t i = 0; i < s.messages.size(); ++i) {
      const auto& m = s.messages[i];
      if (m.framing != "pyro") continue;
      SCOPED_TRACE(s.name + "/" + m.file);
      f(s, m, entries[static_cast<rapidjson::SizeType>(i)]);
    }
  }
}

TEST(ProtocolVectors, DecodesEveryRecordedMessageAsScenarioJsonSays) {
  int checked = 0;
  for_each_recorded_message([&](const auto& s, const auto& m, const rapidjson::Value& entry) {
    const std::uint16_t expected_protocol =
        s.protocol == "pyro5" ? pyro::protocol_502 : pyro::protocol_48;
    const std::uint16_t protocol = pyro::detect_protocol(m.bytes.substr(0, 6), expected_protocol);
    ASSERT_EQ(protocol, expected_protocol);
    const std::size_t hsize = pyro::header_size(protocol);
    const Header h = pyro::parse_header(std::string_view(m.bytes).substr(0, hsize), one_gib);
    const auto& jh = entry["header"];
    EXPECT_EQ(h.protocol, protocol);
    EXPECT_EQ(h.type, jh["type"].GetInt());
    EXPECT_EQ(h.serializer_id, jh["serializer_id"].GetInt());
    EXPECT_EQ(pyro::wire_flags(protocol, h.flags), jh["flags"].GetInt());
    EXPECT_EQ(h.seq, jh["seq"].GetInt());
    EXPECT_EQ(h.data_size, jh["data_size"].GetUint());
    EXPECT_EQ(h.annotations_size, jh["annotations_size"].GetUint());
    EXPECT_EQ(hsize + h.body_size(), m.bytes.size());
    if (protocol == pyro::protocol_502) {
      const bool has_corr = (h.flags & flags::corr_id) != 0;
      ASSERT_EQ(h.correlation_id.has_value(), has_corr);
      if (has_corr) {
        const std::string text = jh["correlation_id"].GetString();
        EXPECT_EQ(
            hex(std::string_view(reinterpret_cast<const char*>(h.correlation_id->data()), 16)),
            text);
      }
    }

    const Message msg = pyro::decode_body(h, std::string_view(m.bytes).substr(hsize));
    EXPECT_EQ(msg.protocol, protocol);
    EXPECT_EQ(static_cast<int>(msg.type), m.type);
    EXPECT_EQ(msg.serializer_id, m.serializer_id);
    EXPECT_EQ(msg.seq, h.seq);
    EXPECT_EQ(msg.flags & flags::compressed, 0);
    EXPECT_EQ(msg.payload, pyro::testing::payload_of(m));

    // Annotations: as recorded, except Pyro4's CORR, which becomes the correlation id.
    Annotations expected;
    std::optional<std::string> corr;
    for (const auto& a : entry["annotations"].GetArray()) {
      const std::string key = a["key"].GetString();
      const std::string value = unhex(a["value_hex"].GetString());
      if (protocol == pyro::protocol_48 && key == "CORR") {
        corr = value;
      } else {
        expected.set(key, value);
      }
    }
    EXPECT_EQ(msg.annotations, expected);
    if (protocol == pyro::protocol_48) {
      ASSERT_EQ(msg.correlation_id.has_value(), corr.has_value());
      EXPECT_EQ((msg.flags & flags::corr_id) != 0, corr.has_value());
      if (corr) {
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(msg.correlation_id->data()), 16),
                  *corr);
      }
    } else {
      EXPECT_EQ(msg.correlation_id, h.correlation_id);
    }
    ++checked;
  });
  EXPECT_GT(checked, 900);
}

TEST(ProtocolVectors, ReencodesEveryRecordedMessageToTheRecordedBytes) {
  int checked = 0;
  int compressed = 0;
  int identical_zlib = 0;
  for_each_recorded_message([&](const auto& s, const auto& m, const rapidjson::Value&) {
    const Message msg = read_message(m.bytes);
    const std::string again = pyro::encode_message(msg, {.compress = scenario_compresses(s)});
    ASSERT_EQ(again.size() >= m.payload_offset, true);
    // Same compression decision, header and annotations byte for byte...
    const Header h = header_of(again);
    EXPECT_EQ((h.flags & flags::compressed) != 0, m.compressed);
    if (!m.compressed) {
      EXPECT_EQ(hex(again), hex(m.bytes));
    } else {
      ++compressed;
      const std::size_t payload_at = again.size() - h.data_size;
      ASSERT_EQ(payload_at, m.payload_offset);
      // ...the header up to its data length, which depends on the zlib output...
      EXPECT_EQ(hex(again.substr(0, 12)), hex(m.bytes.substr(0, 12)));
      EXPECT_EQ(hex(again.substr(16, payload_at - 16)), hex(m.bytes.substr(16, payload_at - 16)))
          << "(a Pyro4 checksum may differ only with the compressed size)";
      // ...and the payload after decompression.
      EXPECT_EQ(pyro::testing::zlib_decompress(again.substr(payload_at)),
                pyro::testing::payload_of(m));
      if (again == m.bytes) ++identical_zlib;
    }
    ++checked;
  });
  EXPECT_GT(checked, 900);
  EXPECT_GT(compressed, 0);
  // Same zlib (1.2.13) as the Python that recorded them: even the compressed bytes agree.
  EXPECT_EQ(identical_zlib, compressed);
}

TEST(ProtocolVectors, AnswersRecordedBadFirstInputWithTheRecordedConnectFail) {
  int checked = 0;
  for (const auto& s : scenarios()) {
    if (s.serializer != "raw" || s.messages.size() != 2 || s.messages[0].framing != "raw") continue;
    SCOPED_TRACE(s.name);
    const std::uint16_t daemon = s.protocol == "pyro5" ? pyro::protocol_502 : pyro::protocol_48;
    const std::string& input = s.messages[0].bytes;
    std::string text;
    try {
      pyro::detect_protocol(input.substr(0, 6), daemon);
      (void)pyro::parse_header(input.substr(0, pyro::header_size(daemon)), 0);
      ADD_FAILURE() << "accepted";
    } catch (const ProtocolError& e) {
      text = e.what();
    }
    const Message reply = pyro::connect_fail_for_bad_input(daemon, text);
    EXPECT_EQ(hex(pyro::encode_message(reply)), hex(s.messages[1].bytes));
    // The marshal codec reads the payload back as the text.
    EXPECT_EQ(pyro::marshal_serializer().decode(reply.payload), pyro::Value(text));
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(ProtocolVectors, RefusesGarbageAfterTheHandshake) {
  for (const auto& s : scenarios()) {
    if (s.serializer != "raw" || s.messages.size() != 3) continue;
    SCOPED_TRACE(s.name);
    const std::uint16_t daemon = s.protocol == "pyro5" ? pyro::protocol_502 : pyro::protocol_48;
    expect_error<ProtocolError>(
        [&] { pyro::detect_protocol(s.messages[2].bytes.substr(0, 6), daemon); },
        daemon == pyro::protocol_502 ? "invalid data"
                                     : "invalid data or unsupported protocol version");
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the header
// ---------------------------------------------------------------------------------------------

TEST(ProtocolHeader, HasPyroHeaderSizes) {
  EXPECT_EQ(pyro::header_size(pyro::protocol_502), 40u);
  EXPECT_EQ(pyro::header_size(pyro::protocol_48), 24u);
  expect_error<ProtocolError>([] { (void)pyro::header_size(501); },
                              "invalid protocol version: 501");
}

TEST(ProtocolHeader, DetectsBothProtocolVersions) {
  EXPECT_EQ(pyro::detect_protocol(unhex("5059524f01f6")), pyro::protocol_502);
  EXPECT_EQ(pyro::detect_protocol(unhex("5059524f0030")), pyro::protocol_48);
  EXPECT_EQ(pyro::detect_protocol(unhex("5059524f01f6ffff")), pyro::protocol_502);
}

TEST(ProtocolHeader, ReportsInvalidDataWhenTheTagIsNotPyro) {
  expect_error<ProtocolError>([] { pyro::detect_protocol("GET / HTTP/1.1"); }, "invalid data");
  expect_error<ProtocolError>([] { pyro::detect_protocol("PYRO"); }, "invalid data");
}

TEST(ProtocolHeader, ReportsAnUnknownProtocolVersionWithItsNumber) {
  expect_error<ProtocolError>([] { pyro::detect_protocol(unhex("5059524f01f5")); },
                              "invalid protocol version: 501");
}

TEST(ProtocolHeader, RefusesProtocol48WhenOnly502IsExpected) {
  expect_error<ProtocolError>(
      [] { pyro::detect_protocol(unhex("5059524f0030"), pyro::protocol_502); },
      "invalid protocol version: 48");
}

TEST(ProtocolHeader, UsesPyro4sTextWhenOnly48IsExpected) {
  for (const char* probe : {"5059524f01f6", "47455420"}) {
    expect_error<ProtocolError>([&] { pyro::detect_protocol(unhex(probe), pyro::protocol_48); },
                                "invalid data or unsupported protocol version");
  }
}

TEST(ProtocolHeader, RejectsWrongMagicNumber) {
  std::string bytes = pyro::encode_message(sample(pyro::protocol_502));
  bytes[39] = 0x00;
  expect_error<ProtocolError>([&] { (void)pyro::parse_header(bytes.substr(0, 40), 0); },
                              "invalid message or protocol version");
}

TEST(ProtocolHeader, Rejects502HeaderWithAnotherVersionOrTag) {
  std::string bytes = pyro::encode_message(sample(pyro::protocol_502)).substr(0, 40);
  std::string version = bytes;
  version[5] = static_cast<char>(0xF5);
  std::string tag = bytes;
  tag[0] = 'X';
  for (const std::string& b : {version, tag}) {
    expect_error<ProtocolError>([&] { (void)pyro::parse_header(b, 0); },
                                "invalid message or protocol version");
  }
}

TEST(ProtocolHeader, RejectsHeaderChecksumMismatch) {
  std::string bytes = pyro::encode_message(sample(pyro::protocol_48)).substr(0, 24);
  bytes[11] = 12;  // seq 12 instead of 11
  expect_error<ProtocolError>([&] { (void)pyro::parse_header(bytes, 0); },
                              "header checksum mismatch");
}

TEST(ProtocolHeader, Rejects48HeaderWithAnotherVersionOrTag) {
  std::string bytes = pyro::encode_message(sample(pyro::protocol_48)).substr(0, 24);
  std::string version = bytes;
  version[5] = 47;
  std::string tag = bytes;
  tag[3] = 'X';
  for (const std::string& b : {version, tag}) {
    expect_error<ProtocolError>([&] { (void)pyro::parse_header(b, 0); },
                                "invalid data or unsupported protocol version");
  }
}

TEST(ProtocolHeader, RejectsHeaderBytesOfAnyOtherSize) {
  expect_error<ProtocolError>([] { (void)pyro::parse_header("PYRO", 0); },
                              "header data size mismatch");
}

TEST(ProtocolHeader, Rejects48NegativeDataLength) {
  // i32 -1 as data length, with a checksum that matches it (Pyro4 would read no data at all)
  std::string bytes = frame(pyro::protocol_48, "", "");
  bytes[12] = bytes[13] = bytes[14] = bytes[15] = static_cast<char>(0xFF);
  const std::uint16_t sum = static_cast<std::uint16_t>(4 + 48 + 0xFFFFFFFFu + 1 + 1 + 0x34E9);
  bytes[22] = static_cast<char>(sum >> 8);
  bytes[23] = static_cast<char>(sum);
  expect_error<ProtocolError>([&] { (void)pyro::parse_header(bytes, 0); },
                              "invalid message size (outside range 0..2Gb)");
}

TEST(ProtocolHeader, Reads502FieldsAndCorrelationId) {
  Message m = sample(pyro::protocol_502);
  m.type = MessageType::result;
  m.serializer_id = 3;
  m.flags = flags::exception | flags::batch;
  m.seq = 0xFFFF;
  m.correlation_id = corr_1111();
  m.annotations.set("XYZZ", "abc");
  const std::string bytes = pyro::encode_message(m);
  const Header h = pyro::parse_header(std::string_view(bytes).substr(0, 40), 0);
  EXPECT_EQ(h.protocol, pyro::protocol_502);
  EXPECT_EQ(h.type, 5);
  EXPECT_EQ(h.serializer_id, 3);
  EXPECT_EQ(h.flags, flags::exception | flags::batch | flags::corr_id);
  EXPECT_EQ(h.seq, 0xFFFF);
  EXPECT_EQ(h.data_size, m.payload.size());
  EXPECT_EQ(h.annotations_size, 8u + 3u);
  EXPECT_EQ(h.correlation_id, corr_1111());
  EXPECT_EQ(h.body_size(), bytes.size() - 40);
}

TEST(ProtocolHeader, Checks502SizeLimitBeforeTheBodyIsRead) {
  // A forged header announcing 4 GiB + 1 byte: refused from the 40 header bytes alone.
  std::string bytes = frame(pyro::protocol_502, "", "");
  for (int i = 12; i < 16; ++i)
    bytes[i] = static_cast<char>(0xFF);
  bytes[19] = 1;
  expect_error<ProtocolError>([&] { (void)pyro::parse_header(bytes, one_gib); },
                              "message too large (4294967296, max=1073741824)");
  EXPECT_EQ(pyro::parse_header(bytes, 0).body_size(), std::size_t{1} << 32);
}

TEST(ProtocolHeader, Checks48SizeLimitWithPyro4sErrorClass) {
  const std::string bytes = pyro::encode_message(sample(pyro::protocol_48)).substr(0, 24);
  const std::size_t n = pyro::parse_header(bytes, 0).body_size();
  EXPECT_EQ(pyro::parse_header(bytes, n).body_size(), n);
  expect_error<MessageTooLargeError>([&] { (void)pyro::parse_header(bytes, n - 1); },
                                     "max message size exceeded (" + std::to_string(n) +
                                         " where max=" + std::to_string(n - 1) + ")");
}

TEST(ProtocolHeader, ChecksTypeWithPyro5Text) {
  Header h;
  h.protocol = pyro::protocol_502;
  h.type = 4;
  expect_error<ProtocolError>([&] { pyro::check_type(h, {MessageType::connect}); },
                              "invalid msg type 4 received (expected: 1)");
  expect_error<ProtocolError>(
      [&] {
        pyro::check_type(h, {MessageType::connectok, MessageType::connectfail});
      },
      "invalid msg type 4 received (expected: 2,3)");
  EXPECT_NO_THROW(pyro::check_type(h, {MessageType::invoke, MessageType::ping}));
  EXPECT_NO_THROW(pyro::check_type(h, {}));
}

TEST(ProtocolHeader, ChecksTypeWithPyro4Text) {
  Header h;
  h.protocol = pyro::protocol_48;
  h.type = 6;
  expect_error<ProtocolError>([&] { pyro::check_type(h, {MessageType::connect}); },
                              "invalid msg type 6 received");
}

TEST(ProtocolHeader, TranslatesPyro4FlagBits) {
  using namespace flags;
  EXPECT_EQ(pyro::wire_flags(pyro::protocol_48, itemstreamresult | exception), 0x21);
  EXPECT_EQ(pyro::wire_flags(pyro::protocol_48, keepserialized), 0x40);
  EXPECT_EQ(pyro::wire_flags(pyro::protocol_48, meta_on_connect | compressed), 0x12);
  EXPECT_EQ(pyro::wire_flags(pyro::protocol_48, corr_id | oneway | batch), 0x0C);
  EXPECT_EQ(pyro::flags_from_wire(pyro::protocol_48, 0x21), itemstreamresult | exception);
  EXPECT_EQ(pyro::flags_from_wire(pyro::protocol_48, 0x40), keepserialized);
  EXPECT_EQ(pyro::flags_from_wire(pyro::protocol_48, 0x10), meta_on_connect);
  EXPECT_EQ(pyro::flags_from_wire(pyro::protocol_48, 0xFF80), 0);
  EXPECT_EQ(pyro::wire_flags(pyro::protocol_502, 0x0151), 0x0151);
  EXPECT_EQ(pyro::flags_from_wire(pyro::protocol_502, 0x0151), 0x0151);
}

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

TEST(ProtocolAnnotations, SetReplacesAnExistingValueInPlace) {
  Annotations a{{"ZZZZ", "1"}, {"AAAA", "2"}};
  a.set("ZZZZ", "3");
  a.set("MMMM", "4");
  std::vector<std::string> order;
  for (const auto& [id, value] : a)
    order.push_back(id + "=" + value);
  EXPECT_EQ(order, (std::vector<std::string>{"ZZZZ=3", "AAAA=2", "MMMM=4"}));
  ASSERT_NE(a.find("AAAA"), nullptr);
  EXPECT_EQ(*a.find("AAAA"), "2");
  EXPECT_EQ(a.find("BBBB"), nullptr);
  EXPECT_TRUE(a.erase("AAAA"));
  EXPECT_FALSE(a.erase("AAAA"));
  EXPECT_EQ(a.size(), 2u);
  EXPECT_FALSE(a.empty());
}

TEST(ProtocolAnnotations, CompareLikeADictIgnoringOrder) {
  EXPECT_EQ((Annotations{{"ZZZZ", "1"}, {"AAAA", "2"}}),
            (Annotations{{"AAAA", "2"}, {"ZZZZ", "1"}}));
  EXPECT_NE((Annotations{{"ZZZZ", "1"}}), (Annotations{{"ZZZZ", "2"}}));
  EXPECT_NE((Annotations{{"ZZZZ", "1"}}), (Annotations{{"ZZZZ", "1"}, {"AAAA", "2"}}));
}

TEST(ProtocolAnnotations, ARepeatedIdDecodesToTheLastValueAtTheFirstPosition) {
  for (std::uint16_t protocol : {pyro::protocol_502, pyro::protocol_48}) {
    auto chunk = protocol == pyro::protocol_502 ? chunk502 : chunk48;
    const std::string area = chunk("AAAA", "1") + chunk("BBBB", "2") + chunk("AAAA", "3");
    const Message m = read_message(frame(protocol, area, "data"));
    std::vector<std::string> order;
    for (const auto& [id, value] : m.annotations)
      order.push_back(id + "=" + value);
    EXPECT_EQ(order, (std::vector<std::string>{"AAAA=3", "BBBB=2"}));
    EXPECT_EQ(m.payload, "data");
  }
}

TEST(ProtocolAnnotations, ManyChunksDeduplicateLikeFewChunks) {
  std::string area;
  for (int i = 0; i < 100; ++i) {
    const std::string id = "K" + std::to_string(100 + i % 40);
    area += chunk48(id, std::to_string(i));
  }
  const Message m = read_message(frame(pyro::protocol_48, area, ""));
  ASSERT_EQ(m.annotations.size(), 40u);
  EXPECT_EQ(m.annotations.begin()->first, "K100");
  EXPECT_EQ(m.annotations.begin()->second, "80");
  EXPECT_EQ(*m.annotations.find("K139"), "79");
}

TEST(ProtocolAnnotations, RejectsAChunkRunningPastTheAnnotationArea) {
  // 502: a chunk claims 10 value bytes, 3 are left in the area (the payload follows).
  const std::string area502 = chunk502("XXXX", "abc");
  std::string bytes = frame(pyro::protocol_502, area502, "payload-bytes");
  bytes[40 + 7] = 10;
  expect_error<ProtocolError>([&] { read_message(bytes); },
                              "annotation chunk length exceeds remaining data");
  std::string bytes48 = frame(pyro::protocol_48, chunk48("XXXX", "abc"), "payload-bytes");
  bytes48[24 + 5] = 10;
  expect_error<ProtocolError>([&] { read_message(bytes48); },
                              "annotation chunk length exceeds remaining data");
}

TEST(ProtocolAnnotations, RejectsATruncatedChunkHeader) {
  for (std::uint16_t protocol : {pyro::protocol_502, pyro::protocol_48}) {
    expect_error<ProtocolError>([&] { read_message(frame(protocol, "XXXX\0", "payload")); },
                                "annotation chunk length exceeds remaining data");
  }
}

TEST(ProtocolAnnotations, RejectsLeftoverBytesAfterTheLastChunkWithPyro5sText) {
  // Pyro5 reads a chunk header past the end of the area and reports its length, never
  // "annotation parsing did not consume all annotation data".
  const std::string area = chunk502("XXXX", "abc") + "ZZ";
  expect_error<ProtocolError>([&] { read_message(frame(pyro::protocol_502, area, "payload")); },
                              "annotation chunk length exceeds remaining data");
}

TEST(ProtocolAnnotations, RejectsANonAsciiIdentifier) {
  expect_error<ProtocolError>(
      [&] { read_message(frame(pyro::protocol_502, chunk502("X\xffXX", "v"), "")); },
      "annotation identifier must be 4 ascii characters");
}

TEST(ProtocolAnnotations, EncoderRejectsIdentifiersThatAreNot4AsciiCharacters) {
  for (const char* id : {"ABC", "ABCDE", "AB\xc3\xa9"}) {
    Message m = sample(pyro::protocol_502);
    m.annotations.set(id, "x");
    expect_error<ProtocolError>([&] { pyro::encode_message(m); },
                                "annotation identifier must be 4 ascii characters");
    m.protocol = pyro::protocol_48;
    expect_error<ProtocolError>([&] { pyro::encode_message(m); },
                                "annotation key must be of length 4");
  }
}

TEST(ProtocolAnnotations, EncoderReservesCorrAndHmacInProtocol48) {
  Message m = sample(pyro::protocol_48);
  m.annotations.set("CORR", std::string(16, 'x'));
  expect_error<ProtocolError>(
      [&] { pyro::encode_message(m); },
      "annotation CORR is reserved in protocol 48: set Message::correlation_id");
  m.annotations.clear();
  m.annotations.set("HMAC", std::string(20, 'x'));
  expect_error<ProtocolError>(
      [&] { pyro::encode_message(m); },
      "annotation HMAC is reserved in protocol 48: set EncodeSettings::hmac_key");
  // In 502 they are ordinary ids (Pyro5 has neither).
  m.protocol = pyro::protocol_502;
  EXPECT_EQ(read_message(pyro::encode_message(m)).annotations, m.annotations);
}

TEST(ProtocolAnnotations, EncoderRefuses48AnnotationsBeyondSixteenBits) {
  Message m = sample(pyro::protocol_48);
  m.annotations.set("BIGG", std::string(65536, 'x'));
  expect_error<ProtocolError>([&] { pyro::encode_message(m); },
                              "annotation BIGG too large (65536 bytes, max=65535)");
  m.annotations.set("BIGG", std::string(40000, 'x'));
  m.annotations.set("MORE", std::string(40000, 'x'));
  expect_error<ProtocolError>([&] { pyro::encode_message(m); },
                              "annotations too large (80012 bytes, max=65535)");
  m.annotations.erase("MORE");
  EXPECT_EQ(read_message(pyro::encode_message(m)).annotations, m.annotations);
}

TEST(ProtocolAnnotations, RoundTripEmptyValuesAndLargeValuesIn502) {
  Message m = sample(pyro::protocol_502);
  m.annotations.set("EMPT", "");
  m.annotations.set("HUGE", std::string(100000, 'h'));
  EXPECT_EQ(read_message(pyro::encode_message(m)), m);
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

TEST(ProtocolBody, RejectsABodyOfTheWrongLength) {
  const std::string bytes = pyro::encode_message(sample(pyro::protocol_502));
  const Header h = header_of(bytes);
  expect_error<ProtocolError>(
      [&] { (void)pyro::decode_body(h, std::string_view(bytes).substr(41)); },
      "payload length doesn't match message header");
}

TEST(ProtocolBody, RvalueBodyDecodesLikeAView) {
  Message m = sample(pyro::protocol_502);
  m.annotations.set("XCLI", "hello");
  for (bool with_annotations : {false, true}) {
    if (!with_annotations) m.annotations.clear();
    const std::string bytes = pyro::encode_message(m);
    const Header h = header_of(bytes);
    const Message a = pyro::decode_body(h, std::string_view(bytes).substr(40));
    const Message b = pyro::decode_body(h, bytes.substr(40));
    EXPECT_EQ(a, m);
    EXPECT_EQ(b, m);
  }
}

TEST(ProtocolBody, ReportsCorruptZlibWithPythonsText) {
  for (std::uint16_t protocol : {pyro::protocol_502, pyro::protocol_48}) {
    expect_error<ProtocolError>(
        [&] { read_message(frame(protocol, "", "garbage", flags::compressed)); },
        "Error -3 while decompressing data: incorrect header check");
  }
}

TEST(ProtocolBody, ReportsTruncatedZlibWithPythonsText) {
  const std::string z = zlib_compress(std::string(1000, 'a'), 4);
  expect_error<ProtocolError>(
      [&] { read_message(frame(pyro::protocol_502, "", z.substr(0, z.size() - 3), 2)); },
      "Error -5 while decompressing data: incomplete or truncated stream");
  expect_error<ProtocolError>([&] { read_message(frame(pyro::protocol_502, "", "", 2)); },
                              "Error -5 while decompressing data: incomplete or truncated stream");
}

TEST(ProtocolBody, ReportsZlibChecksumErrorWithPythonsText) {
  std::string z = zlib_compress("abc", 6);
  z.back() = static_cast<char>(z.back() ^ 1);
  expect_error<ProtocolError>([&] { read_message(frame(pyro::protocol_502, "", z, 2)); },
                              "Error -3 while decompressing data: incorrect data check");
  expect_error<ProtocolError>(
      [&] { read_message(frame(pyro::protocol_502, "", unhex("78bb00000001"), 2)); },
      "Error 2 while decompressing data");
}

TEST(ProtocolBody, IgnoresBytesAfterTheEndOfTheZlibStreamAsPythonDoes) {
  const std::string z = zlib_compress("abc", 6) + "trailing";
  EXPECT_EQ(read_message(frame(pyro::protocol_502, "", z, 2)).payload, "abc");
}

TEST(ProtocolBody, DecompressesAnyZlibLevelAndClearsTheFlag) {
  const std::string data(5000, 'q');
  for (int level : {0, 1, 9}) {
    const Message m = read_message(frame(pyro::protocol_48, "", zlib_compress(data, level), 2));
    EXPECT_EQ(m.payload, data);
    EXPECT_EQ(m.flags, 0);
  }
}

TEST(ProtocolBody, BoundsTheDecompressedSizeWhenAsked) {
  const std::string bomb = zlib_compress(std::string(1 << 20, '\0'), 9);
  const std::string bytes = frame(pyro::protocol_502, "", bomb, 2);
  const Header h = header_of(bytes);
  const std::string_view body = std::string_view(bytes).substr(40);
  expect_error<MessageTooLargeError>([&] { (void)pyro::decode_body(h, body, std::nullopt, 65536); },
                                     "decompressed payload too large (more than 65536 bytes)");
  EXPECT_EQ(pyro::decode_body(h, body, std::nullopt, 1 << 20).payload.size(), 1u << 20);
  expect_error<MessageTooLargeError>(
      [&] { (void)pyro::decode_body(h, body, std::nullopt, (1 << 20) - 1); },
      "decompressed payload too large (more than 1048575 bytes)");
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

TEST(ProtocolEncode, RoundTripsEveryFieldInBothProtocols) {
  for (std::uint16_t protocol : {pyro::protocol_502, pyro::protocol_48}) {
    Message m = sample(protocol);
    m.type = MessageType::result;
    m.flags = flags::exception | flags::itemstreamresult | flags::corr_id;
    m.correlation_id = corr_1111();
    m.correlation_index = protocol == pyro::protocol_48 ? 1 : m.correlation_index;
    m.annotations.set("STRM", "15f2551e-4b83-4fab-9757-5529442c5d6c");
    m.annotations.set("USER", std::string("\0\xff", 2));
    EXPECT_EQ(read_message(pyro::encode_message(m)), m);
  }
}

TEST(ProtocolEncode, AppendsToTheBuffer) {
  std::string out = "prefix";
  pyro::encode_message(sample(pyro::protocol_502), out);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(out.substr(6), pyro::encode_message(sample(pyro::protocol_502)));
}

TEST(ProtocolEncode, DerivesTheCorrelationFlagFromTheId) {
  Message m = sample(pyro::protocol_502);
  m.flags = flags::corr_id | flags::compressed;
  EXPECT_EQ(header_of(pyro::encode_message(m)).flags, 0);
  m.flags = 0;
  m.correlation_id = corr_1111();
  const std::string bytes = pyro::encode_message(m);
  EXPECT_EQ(header_of(bytes).flags, flags::corr_id);
  EXPECT_EQ(hex(bytes.substr(20, 16)), "11112222333344445555666677778888");
}

TEST(ProtocolEncode, Places48CorrelationAfterTheAnnotationsByDefault) {
  Message m = sample(pyro::protocol_48);
  m.correlation_id = corr_1111();
  m.annotations.set("ZZZZ", "zz");
  m.annotations.set("AAAA", "aa");
  const std::string bytes = pyro::encode_message(m);
  EXPECT_EQ(bytes.substr(24, 4), "ZZZZ");
  EXPECT_EQ(bytes.substr(32, 4), "AAAA");
  EXPECT_EQ(bytes.substr(40, 4), "CORR");
  m.correlation_index = 0;
  EXPECT_EQ(pyro::encode_message(m).substr(24, 4), "CORR");
  const Message back = read_message(pyro::encode_message(m));
  EXPECT_EQ(back.correlation_index, 0u);
  EXPECT_EQ(back.correlation_id, corr_1111());
}

TEST(ProtocolEncode, Rejects48CorrelationAnnotationOfTheWrongSize) {
  const std::string bytes = frame(pyro::protocol_48, chunk48("CORR", "short"), "x");
  expect_error<ProtocolError>([&] { read_message(bytes); },
                              "invalid correlation id (5 bytes, expected 16)");
}

TEST(ProtocolEncode, ChecksTheSendersSizeLimitWithEachProtocolsText) {
  Message m = sample(pyro::protocol_502);
  m.annotations.set("XXXX", "abc");
  const std::size_t total = m.payload.size() + 8 + 3;
  std::string out = "keep";
  expect_error<ProtocolError>(
      [&] { pyro::encode_message(m, out, {.max_message_size = total - 1}); },
      "message too large (" + std::to_string(total) + ", max=" + std::to_string(total - 1) + ")");
  EXPECT_EQ(out, "keep");
  EXPECT_NO_THROW(pyro::encode_message(m, out, {.max_message_size = total}));

  m.protocol = pyro::protocol_48;
  const std::string key = "k";
  const std::size_t total48 = m.payload.size() + 6 + 3 + 6 + 20;  // HMAC chunk included
  out = "keep";
  expect_error<MessageTooLargeError>(
      [&] { pyro::encode_message(m, out, {.max_message_size = total48 - 1, .hmac_key = &key}); },
      "max message size exceeded (" + std::to_string(total48) +
          " where max=" + std::to_string(total48 - 1) + ")");
  EXPECT_EQ(out, "keep");
}

TEST(ProtocolEncode, RejectsTypeOrSerializerIdThatDoesNotFit502) {
  Message m = sample(pyro::protocol_502);
  m.serializer_id = 256;
  EXPECT_THROW(pyro::encode_message(m), ProtocolError);
  m.protocol = pyro::protocol_48;
  EXPECT_EQ(read_message(pyro::encode_message(m)).serializer_id, 256);
  m.protocol = 501;
  expect_error<ProtocolError>([&] { pyro::encode_message(m); }, "invalid protocol version: 501");
}

TEST(ProtocolEncode, Compresses502PayloadsOver100BytesEvenWhenLarger) {
  Message m = sample(pyro::protocol_502);
  m.flags = flags::compressed;  // the caller's bit is ignored
  m.payload = incompressible(100);
  EXPECT_EQ(header_of(pyro::encode_message(m, {.compress = true})).flags, 0);
  m.payload = incompressible(101);
  const std::string bytes = pyro::encode_message(m, {.compress = true});
  const Header h = header_of(bytes);
  EXPECT_EQ(h.flags, flags::compressed);
  EXPECT_GT(h.data_size, 101u);
  EXPECT_EQ(bytes.substr(40, 2), unhex("785e"));  // level 4
  EXPECT_EQ(read_message(bytes).payload, m.payload);
  EXPECT_EQ(header_of(pyro::encode_message(m)).flags, 0);  // compression off
}

TEST(ProtocolEncode, Compresses48PayloadsFrom200BytesOnlyWhenSmaller) {
  Message m = sample(pyro::protocol_48);
  m.payload = std::string(199, 'a');
  EXPECT_EQ(header_of(pyro::encode_message(m, {.compress = true})).flags, 0);
  m.payload = std::string(200, 'a');
  std::string bytes = pyro::encode_message(m, {.compress = true});
  EXPECT_EQ(header_of(bytes).flags, flags::compressed);
  EXPECT_EQ(bytes.substr(24, 2), unhex("789c"));  // default level
  EXPECT_EQ(read_message(bytes).payload, m.payload);
  m.payload = incompressible(300);
  bytes = pyro::encode_message(m, {.compress = true});
  EXPECT_EQ(header_of(bytes).flags, 0);
  EXPECT_EQ(bytes.substr(24), m.payload);
}

TEST(ProtocolEncode, CompressesLikePythonsZlibAtBothLevels) {
  const std::string data = "# serpent utf-8 python3.2\n" + std::string(3000, 'x') + "end";
  Message m = sample(pyro::protocol_502);
  m.payload = data;
  EXPECT_EQ(pyro::encode_message(m, {.compress = true}).substr(40), zlib_compress(data, 4));
  m.protocol = pyro::protocol_48;
  EXPECT_EQ(pyro::encode_message(m, {.compress = true}).substr(24), zlib_compress(data, 6));
  m.protocol = pyro::protocol_502;  // and back: the per-thread stream switches levels
  EXPECT_EQ(pyro::encode_message(m, {.compress = true}).substr(40), zlib_compress(data, 4));
}

// ---------------------------------------------------------------------------------------------
// Pyro4's HMAC
// ---------------------------------------------------------------------------------------------

// protocol-v48.md §5: INVOKE echo("x"*300), key "secretkey", compressed, ZZZZ, AAAA, CORR, HMAC
// (the full message as Pyro4 4.82's Message.to_bytes() writes it).
const std::string spec_hmac_example = unhex(
    "5059524f00300004000200010000003f00010040000035a05a5a5a5a00027a7a4141414100026161434f52520010"
    "11112222333344445555666677778888484d4143001429b3a37d127116fd16269f01dc916eb16e6ca53c789c5356"
    "284e2d2a48cd2b51282d49d3b55028a82cc9c8cf33d633e2d2502fc9c8cc4b57d7514f4dcec857d7d150af180544"
    "03751d4d9dea5a4d00267b9c05");

struct Pyro4Vector {
  const char* name;
  const char* key;
  std::size_t key_size;
  std::string bytes;
};

// Generated with Pyro4.message.Message(...).to_bytes() and the given key.
const std::vector<Pyro4Vector>& pyro4_hmac_vectors() {
  static const std::vector<Pyro4Vector> all = {
      {"ping", "secretkey", 9,
       unhex("5059524f003000060000000000000004002a001a00003567484d4143001434a2caf815e66eccf586b130"
             "65266aabfda6ea6f70696e67")},
      // RESULT, EXCEPTION|ITEMSTREAMRESULT, annotations CORR, XSRV, STRM, binary key
      {"stream",
       "\0\xff"
       "binary key",
       12,
       unhex("5059524f00300005002100070000000d00010065000035b9434f52520010c0ebbfdff5934db6a5851b1c"
             "dbebf99b5853525600057265706c795354524d002431356632353531652d346238332d346661622d3937"
             "35372d353532393434326335643663484d4143001476adbf06279743e5a4fba40fb1acfeda2101610270"
             "61796c6f61642d6279746573")},
      // CONNECT with META_ON_CONNECT and a 100-byte key (longer than SHA-1's block)
      {"longkey",
       "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
       "kkkkkkkkkkkk",
       100,
       unhex("5059524f0030000100100000000000150001003000003570434f52520010c0ebbfdff5934db6a5851b1c"
             "dbebf99b484d4143001439543a8bec8cf801b475e68065c6c4cec96fc2e47b2768616e647368616b6527"
             "3a2768656c6c6f277d")},
      // RESULT, seq 65535, empty payload, an empty annotation value
      {"empty", "secretkey", 9,
       unhex("5059524f003000050000ffff000000000003002000003540454d50540000484d414300143353ae020855"
             "8692a0cce27396e07165ea76f969")},
  };
  return all;
}

TEST(ProtocolHmac, VerifiesAndReproducesTheSpecsWorkedExample) {
  const std::string key = "secretkey";
  const Message m = read_message(spec_hmac_example, one_gib, key);
  EXPECT_EQ(m.type, MessageType::invoke);
  EXPECT_EQ(m.seq, 1);
  EXPECT_EQ(m.correlation_id, corr_1111());
  EXPECT_EQ(m.correlation_index, 2u);
  EXPECT_EQ(m.annotations, (Annotations{{"ZZZZ", "zz"}, {"AAAA", "aa"}}));
  EXPECT_EQ(m.payload.substr(0, 26), "# serpent utf-8 python3.2\n");
  EXPECT_NE(m.payload.find(std::string(300, 'x')), std::string::npos);
  EXPECT_EQ(hex(pyro::encode_message(m, {.compress = true, .hmac_key = &key})),
            hex(spec_hmac_example));
}

TEST(ProtocolHmac, VerifiesAndReproducesMessagesWrittenByPyro4) {
  for (const auto& v : pyro4_hmac_vectors()) {
    SCOPED_TRACE(v.name);
    const std::string key(v.key, v.key_size);
    const Message m = read_message(v.bytes, one_gib, key);
    EXPECT_FALSE(m.annotations.contains("HMAC"));
    EXPECT_EQ(hex(pyro::encode_message(m, {.hmac_key = &key})), hex(v.bytes));
  }
  const Message stream = read_message(pyro4_hmac_vectors()[1].bytes, one_gib,
                                      std::string("\0\xff"
                                                  "binary key",
                                                  12));
  EXPECT_EQ(stream.flags, flags::exception | flags::itemstreamresult | flags::corr_id);
  EXPECT_EQ(stream.correlation_index, 0u);
  EXPECT_EQ(*stream.annotations.find("STRM"), "15f2551e-4b83-4fab-9757-5529442c5d6c");
}

TEST(ProtocolHmac, RejectsATamperedMessage) {
  const std::string key = "secretkey";
  std::string bytes = pyro4_hmac_vectors()[0].bytes;
  bytes.back() = 'h';  // "pinh"
  expect_error<SecurityError>([&] { read_message(bytes, one_gib, key); }, "message hmac mismatch");
  // The other annotations' values are covered too.
  std::string spec = spec_hmac_example;
  spec[0x1E] = 'y';  // ZZZZ's value "zz" -> "yz"
  expect_error<SecurityError>([&] { read_message(spec, one_gib, key); }, "message hmac mismatch");
  expect_error<SecurityError>(
      [&] { read_message(spec_hmac_example, one_gib, std::string("other")); },
      "message hmac mismatch");
}

TEST(ProtocolHmac, RejectsAnHmacOfTheWrongLength) {
  const std::string bytes = frame(pyro::protocol_48, chunk48("HMAC", "short"), "x");
  expect_error<SecurityError>([&] { read_message(bytes, one_gib, std::string("k")); },
                              "message hmac mismatch");
}

TEST(ProtocolHmac, RejectsAsymmetricKeyConfiguration) {
  // A signed message read without a key, and an unsigned one read with a key.
  expect_error<SecurityError>([&] { read_message(spec_hmac_example); },
                              "hmac key config not symmetric");
  const std::string unsigned_bytes = pyro::encode_message(sample(pyro::protocol_48));
  expect_error<SecurityError>([&] { read_message(unsigned_bytes, one_gib, std::string("key")); },
                              "hmac key config not symmetric");
}

TEST(ProtocolHmac, TreatsAnEmptyKeyAsNoKeyAsPyro4Does) {
  const std::string empty;
  const std::string bytes = pyro::encode_message(sample(pyro::protocol_48), {.hmac_key = &empty});
  EXPECT_EQ(bytes, pyro::encode_message(sample(pyro::protocol_48)));
  EXPECT_EQ(read_message(bytes, one_gib, empty), sample(pyro::protocol_48));
}

TEST(ProtocolHmac, PlaysNoPartIn502) {
  const std::string key = "secretkey";
  const std::string bytes = pyro::encode_message(sample(pyro::protocol_502), {.hmac_key = &key});
  EXPECT_EQ(bytes, pyro::encode_message(sample(pyro::protocol_502)));
  EXPECT_EQ(read_message(bytes, one_gib, key), sample(pyro::protocol_502));
}

TEST(ProtocolHmac, SignsCompressedPayloadsAsSent) {
  const std::string key = "another key";
  Message m = sample(pyro::protocol_48);
  m.flags = flags::corr_id;
  m.correlation_id = corr_1111();
  m.correlation_index = 1;
  m.annotations.set("BLBI", "blob");
  m.payload = std::string(1000, 'z');
  const std::string bytes = pyro::encode_message(m, {.compress = true, .hmac_key = &key});
  EXPECT_EQ(header_of(bytes).flags, flags::compressed);
  EXPECT_EQ(read_message(bytes, one_gib, key), m);
}

// ---------------------------------------------------------------------------------------------
// Correlation ids
// ---------------------------------------------------------------------------------------------

TEST(ProtocolCorrelationId, NewIdsAreRandomVersion4Uuids) {
  const CorrelationId a = pyro::new_correlation_id();
  const CorrelationId b = pyro::new_correlation_id();
  EXPECT_NE(a, b);
  EXPECT_EQ(a[6] >> 4, 4);
  EXPECT_EQ(a[8] >> 6, 2);
  const std::string text = pyro::correlation_id_text(a);
  EXPECT_EQ(text.size(), 36u);
  EXPECT_EQ(text[14], '4');
}

TEST(ProtocolCorrelationId, AForkedChildDrawsOtherIdsThanItsParent) {
  (void)pyro::new_correlation_id();  // the parent's pool now holds unused random bytes
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const CorrelationId id = pyro::new_correlation_id();
    const ssize_t written = write(fds[1], id.data(), id.size());
    _exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  CorrelationId from_child{};
  ASSERT_EQ(read(fds[0], from_child.data(), from_child.size()),
            static_cast<ssize_t>(from_child.size()));
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(from_child, pyro::new_correlation_id());
}

TEST(ProtocolCorrelationId, TextIsCanonicalLowercase) {
  EXPECT_EQ(pyro::correlation_id_text(corr_1111()), "11112222-3333-4444-5555-666677778888");
  CorrelationId id;
  for (std::size_t i = 0; i < id.size(); ++i)
    id[i] = static_cast<std::uint8_t>(0xA0 + i);
  EXPECT_EQ(pyro::correlation_id_text(id), "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
  EXPECT_EQ(pyro::parse_correlation_id("A0A1A2A3-a4a5-A6A7-a8a9-aaabacadaeaf"), id);
}

TEST(ProtocolCorrelationId, ParseRefusesAnythingElse) {
  for (const char* text :
       {"", "11112222333344445555666677778888", "11112222-3333-4444-5555-66667777888",
        "11112222-3333-4444-5555_666677778888", "g1112222-3333-4444-5555-666677778888"}) {
    EXPECT_EQ(pyro::parse_correlation_id(text), std::nullopt) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// CONNECTFAIL for bad input, PING
// ---------------------------------------------------------------------------------------------

TEST(ProtocolReplies, ConnectFailForBadInputMatchesPyro5Bytes) {
  // protocol-v502.md §8: the reply to an HTTP request sent to a Pyro5 daemon port
  EXPECT_EQ(hex(pyro::encode_message(pyro::connect_fail_for_bad_input(502, "invalid data"))),
            hex(unhex("50 59 52 4f 01 f6 03 02 00 00 00 00 00 00 00 0e"
                      "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
                      "00 00 00 00 00 00 4d c5 fa 0c 69 6e 76 61 6c 69"
                      "64 20 64 61 74 61")));
}

TEST(ProtocolReplies, ConnectFailUsesMarshalsLongAndUnicodeStringForms) {
  const std::string long_text(300, 'e');
  const Message a = pyro::connect_fail_for_bad_input(pyro::protocol_48, long_text);
  EXPECT_EQ(a.serializer_id, 3);
  EXPECT_EQ(hex(a.payload.substr(0, 5)), "e12c010000");
  EXPECT_EQ(pyro::marshal_serializer().decode(a.payload), pyro::Value(long_text));
  const Message u = pyro::connect_fail_for_bad_input(pyro::protocol_502, "caf\xc3\xa9");
  EXPECT_EQ(hex(u.payload), "f505000000636166c3a9");
  EXPECT_EQ(pyro::marshal_serializer().decode(u.payload), pyro::Value("caf\xc3\xa9"));
}

TEST(ProtocolReplies, PingReplyEchoesSeqSerializerAndCorrelationId) {
  Message ping = pyro::ping_message(pyro::protocol_502);
  EXPECT_EQ(ping.serializer_id, 42);
  EXPECT_EQ(ping.payload, "ping");
  ping.seq = 7;
  // protocol-v502.md §10.9: the request bytes
  EXPECT_EQ(hex(pyro::encode_message(ping).substr(0, 16)), "5059524f01f6062a0000000700000004");
  ping.correlation_id = corr_1111();
  const Message pong = pyro::ping_reply(ping);
  const std::string bytes = pyro::encode_message(pong);
  EXPECT_EQ(hex(bytes.substr(0, 20)),
            "5059524f01f6062a0040000700000004"
            "00000000");
  EXPECT_EQ(hex(bytes.substr(20, 16)), "11112222333344445555666677778888");
  EXPECT_EQ(bytes.substr(36), unhex("00004dc5") + "pong");
  const Message pong48 = pyro::ping_reply(pyro::ping_message(pyro::protocol_48));
  EXPECT_EQ(pong48.protocol, pyro::protocol_48);
  EXPECT_EQ(pong48.payload, "pong");
  EXPECT_EQ(pong48.serializer_id, 42);
}

}  // namespace

// encode_message_head + its returned view must make exactly encode_message's bytes, in both
// protocols, signed or not, compressed or not.
TEST(ProtocolEncode, HeadAndSeparatePayloadMakeTheWholeMessage) {
  const std::string key = "secret";
  std::string big(300000, 'q');
  for (std::size_t i = 0; i < big.size(); i += 7)
    big[i] = static_cast<char>('a' + i % 23);
  for (const std::uint16_t protocol : {pyro::protocol_502, pyro::protocol_48}) {
    for (const bool sign : {false, true}) {
      for (const bool compress : {false, true}) {
        for (const std::string& payload : {std::string(), std::string("small"), big}) {
          Message m;
          m.protocol = protocol;
          m.seq = 7;
          m.payload = payload;
          m.annotations.set("XTRA", "value");
          m.correlation_id = CorrelationId{};
          (*m.correlation_id)[3] = 9;
          EncodeSettings settings;
          settings.compress = compress;
          if (sign && protocol == pyro::protocol_48) settings.hmac_key = &key;
          const std::string whole = pyro::encode_message(m, settings);
          std::string head = "prefix";
          const std::string_view tail = pyro::encode_message_head(m, head, settings);
          EXPECT_EQ(head.substr(0, 6), "prefix");
          EXPECT_EQ(head.substr(6) + std::string(tail), whole)
              << protocol << " sign " << sign << " compress " << compress << " payload "
              << payload.size();
          if (!tail.empty()) {
            EXPECT_EQ(tail.data(), m.payload.data()) << "a view, not a copy";
          }
        }
      }
    }
  }
}

TEST(ProtocolEncode, AnnotationsAreaSizeIsWhatTheHeaderSays) {
  const std::string key = "secret";
  for (const std::uint16_t protocol : {pyro::protocol_502, pyro::protocol_48}) {
    for (const bool sign : {false, true}) {
      for (const bool corr : {false, true}) {
        Message m;
        m.protocol = protocol;
        m.payload = "payload";
        m.annotations.set("XTRA", "value");
        m.annotations.set("BLBI", std::string(300, 'b'));
        if (corr) m.correlation_id = CorrelationId{};
        EncodeSettings settings;
        if (sign) settings.hmac_key = &key;
        const std::string whole = pyro::encode_message(m, settings);
        const pyro::Header header =
            pyro::parse_header(std::string_view(whole).substr(0, pyro::header_size(protocol)), 0);
        EXPECT_EQ(pyro::annotations_area_size(m, settings), header.annotations_size)
            << protocol << " sign " << sign << " corr " << corr;
      }
    }
  }
}
