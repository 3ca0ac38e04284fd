// golden_test.cpp — the golden replay of the recorded Pyro5 conversations (tests/vectors/pyro5,
// protocol 502): our Daemon answers the recorded client messages and every reply is compared
// with the recorded daemon's; our Proxy performs the recorded steps against a fake daemon that
// answers with the recorded replies, and every message it sends is compared with the recorded
// client's. Name server scenarios (ns_*) are not replayed here.
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "pyro/client.hpp"
#include "pyro/protocol.hpp"
#include "pyro/server.hpp"
#include "support/interop_service.hpp"
#include "support/marshal_canonical.hpp"
#include "support/vectors.hpp"

namespace pyro::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Bounds on every wait: a peer that does not answer fails the test instead of hanging it.
constexpr auto io_timeout = 10s;
// After a oneway request, how long no reply may arrive (and the call has surely run).
constexpr auto quiet_period = 250ms;
constexpr std::size_t header_bytes = 40;  // protocol 502

// The fixed header size of a message, from its first 6 bytes.
std::size_t header_size_of(std::string_view bytes) {
  return header_size(detect_protocol(bytes.substr(0, protocol_probe_size)));
}

// =============================================================================================
// Scenarios
// =============================================================================================

const std::vector<Scenario>& all_scenarios() {
  static const std::vector<Scenario> scenarios = load_scenarios();
  return scenarios;
}

std::string scenario_base(const Scenario& s) {
  return s.dir.filename().string();
}

// Every Pyro5 scenario this test replays: the four serializers and the raw exchanges, without
// the name server (a later issue).
bool is_golden(const Scenario& s) {
  if (s.protocol != "pyro5") return false;
  if (scenario_base(s).starts_with("ns_")) return false;
  static const std::set<std::string> serializers = {"serpent", "json", "marshal", "msgpack", "raw"};
  return serializers.contains(s.serializer);
}

std::vector<std::string> golden_names() {
  std::vector<std::string> names;
  for (const auto& s : all_scenarios()) {
    if (is_golden(s)) names.push_back(s.name);
  }
  return names;
}

const Scenario& scenario_named(const std::string& name) {
  for (const auto& s : all_scenarios()) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no scenario " + name);
}

// "pyro5/serpent/call_plain" -> "serpent_call_plain"
std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param.substr(info.param.find('/') + 1);
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

const rapidjson::Value* find_member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  const auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string json_string(const rapidjson::Value* v, std::string fallback = {}) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                       : fallback;
}

const rapidjson::Value& message_json(const Scenario& s, std::size_t index) {
  return s.json["messages"][static_cast<rapidjson::SizeType>(index)];
}

int connection_of(const Scenario& s, std::size_t index) {
  return message_json(s, index)["connection"].GetInt();
}

// The index after which the server closed each connection it closed first.
std::map<int, int> server_closes(const Scenario& s) {
  std::map<int, int> out;
  for (const auto& c : s.json["connections"].GetArray()) {
    if (json_string(find_member(c, "closed_first_by")) != "server") continue;
    for (const auto& e : c["close_events"].GetArray()) {
      if (json_string(find_member(e, "direction")) == "s2c") {
        out[c["id"].GetInt()] = e["after_message"].GetInt();
      }
    }
  }
  return out;
}

bool has_nondeterministic(const rapidjson::Value& message, std::string_view field) {
  const auto* nd = find_member(message, "nondeterministic");
  if (nd == nullptr) return false;
  for (const auto& r : nd->GetArray()) {
    if (json_string(find_member(r, "field")) == field) return true;
  }
  return false;
}

// "127.0.0.1:47101" -> ("127.0.0.1", 47101)
std::pair<std::string, int> split_location(const std::string& location) {
  const auto colon = location.rfind(':');
  return {location.substr(0, colon), std::stoi(location.substr(colon + 1))};
}

std::string advertised_of(const Scenario& s) {
  const auto* peers = find_member(s.json["setup"], "peers");
  const auto* daemon = peers ? find_member(*peers, "daemon") : nullptr;
  return json_string(daemon ? find_member(*daemon, "advertised") : nullptr, "127.0.0.1:47101");
}

InteropKind kind_of(const Scenario& s) {
  const auto* peers = find_member(s.json["setup"], "peers");
  const auto* daemon = peers ? find_member(*peers, "daemon") : nullptr;
  return json_string(daemon ? find_member(*daemon, "kind") : nullptr) == "guarded"
             ? InteropKind::guarded
             : InteropKind::service;
}

// Pyro's defaults plus setup.config, set as the PYRO_* variables would set them.
Config config_of(const Scenario& s) {
  Config config = Config::defaults();
  if (const auto* items = find_member(s.json["setup"], "config")) {
    for (const auto& item : items->GetObject()) {
      const auto& v = item.value;
      std::string text;
      if (v.IsBool()) {
        text = v.GetBool() ? "true" : "false";
      } else if (v.IsInt64()) {
        text = std::to_string(v.GetInt64());
      } else if (v.IsDouble()) {
        text = std::to_string(v.GetDouble());
      } else {
        text = json_string(&v);
      }
      config.set(item.name.GetString(), text);
    }
  }
  if (s.serializer != "raw") config.serializer = s.serializer;
  return config;
}

// =============================================================================================
// Notes for the summary: what was not checked, and why
// =============================================================================================

struct Notes {
  std::mutex mutex;
  std::vector<std::string> lines;  // guarded by mutex
};

Notes& notes() {
  static Notes n;
  return n;
}

// How the messages were compared (for the summary).
struct Counts {
  std::atomic<int> exact{0};      // decoded payload and every byte (masked ranges aside)
  std::atomic<int> order{0};      // decoded payload; a set made byte order arbitrary
  std::atomic<int> traceback{0};  // decoded payload; an implementation specific traceback
  std::atomic<int> location{0};   // decoded payload; a URI location rewritten
};

Counts& counts() {
  static Counts c;
  return c;
}

void note(const std::string& text) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string where = info ? std::string(info->test_suite_name()) + "." + info->name() : "";
  std::printf("[   NOTE   ] %s: %s\n", where.c_str(), text.c_str());
  std::lock_guard lock(notes().mutex);
  notes().lines.push_back(where + ": " + text);
}

// =============================================================================================
// Bytes and sockets
// =============================================================================================

std::string printable(std::string_view bytes, std::size_t limit = 400) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

std::uint16_t be16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[at]) << 8) |
                                    static_cast<unsigned char>(b[at + 1]));
}

void put_be16(std::string& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<char>(v >> 8);
  b[at + 1] = static_cast<char>(v & 0xff);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty() || from == to) return text;
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// A blocking TCP socket on loopback with bounded waits. `cancel` (optional) is a file descriptor
// that, once readable, ends every wait early. Resource type: move-only. Thread-compatible.
class Socket {
 public:
  enum class Wait { ready, timeout, cancelled };

  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool is_open() const noexcept { return fd_ >= 0; }

  static Socket connect_loopback(int port) {
    Socket s(::socket(AF_INET, SOCK_STREAM, 0));
    if (!s.is_open()) throw std::runtime_error("socket(): " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect(): " + std::string(std::strerror(errno)));
    }
    return s;
  }

  static Socket listen_loopback() {
    Socket s(::socket(AF_INET, SOCK_STREAM, 0));
    if (!s.is_open()) throw std::runtime_error("socket(): " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(s.fd_, 8) != 0) {
      throw std::runtime_error("bind/listen: " + std::string(std::strerror(errno)));
    }
    return s;
  }

  int local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

  // Polls at least once, also when the deadline has passed.
  Wait wait_readable(Clock::time_point deadline, int cancel = -1) const {
    for (;;) {
      const auto left = std::max<std::int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      pollfd fds[2] = {{fd_, POLLIN, 0}, {cancel, POLLIN, 0}};
      const int n = ::poll(fds, cancel >= 0 ? 2 : 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("poll(): " + std::string(std::strerror(errno)));
      // data that is there is still read after a cancel
      if (fds[0].revents != 0) return Wait::ready;
      if (cancel >= 0 && (fds[1].revents & POLLIN)) return Wait::cancelled;
      if (Clock::now() >= deadline) return Wait::timeout;
    }
  }

  Socket accept(Clock::time_point deadline, int cancel = -1) const {
    if (wait_readable(deadline, cancel) != Wait::ready) return Socket();
    return Socket(::accept(fd_, nullptr, nullptr));
  }

  void send_all(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("send(): " + std::string(std::strerror(errno)));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads up to n bytes (appended to out): the number read, 0 at the end of the stream (EOF or
  // reset), or nullopt on timeout/cancel.
  std::optional<std::size_t> read_some(std::string& out, std::size_t n, Clock::time_point deadline,
                                       int cancel = -1) const {
    if (wait_readable(deadline, cancel) != Wait::ready) return std::nullopt;
    char buf[65536];
    for (;;) {
      const ssize_t got = ::recv(fd_, buf, std::min(n, sizeof buf), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return 0;  // EOF, or ECONNRESET: the peer closed either way
      out.append(buf, static_cast<std::size_t>(got));
      return static_cast<std::size_t>(got);
    }
  }

  // One whole message (protocol 502 or 48: header, annotations, payload) as it came. Throws
  // std::runtime_error on timeout, cancel or end of stream.
  std::string read_message(Clock::time_point deadline, int cancel = -1) const {
    std::string bytes;
    read_exactly(bytes, protocol_probe_size, deadline, cancel);
    Header h;
    std::size_t size = 0;
    try {
      size = header_size_of(bytes);
      read_exactly(bytes, size, deadline, cancel);
      h = parse_header(bytes, 0);
    } catch (const std::exception& e) {
      std::string more;
      read_some(more, 65536, Clock::now() + 100ms, cancel);
      throw std::runtime_error(std::string(e.what()) + " in " + printable(bytes + more));
    }
    read_exactly(bytes, size + h.body_size(), deadline, cancel);
    return bytes;
  }

  // Waits for the peer to close. Returns "" when it did; otherwise what happened instead.
  std::string expect_closed(Clock::time_point deadline) const {
    std::string data;
    for (;;) {
      const auto got = read_some(data, 65536, deadline);
      if (!got)
        return "the connection stayed open" +
               (data.empty() ? std::string() : " after sending " + printable(data));
      if (*got == 0) {
        return data.empty() ? std::string() : "unexpected data before close: " + printable(data);
      }
    }
  }

  // Expects nothing for `period`. Returns "" when nothing came; otherwise what came.
  std::string expect_quiet(std::chrono::milliseconds period) const {
    std::string data;
    const auto got = read_some(data, 65536, Clock::now() + period);
    if (!got) return {};
    if (*got == 0) return "the peer closed the connection";
    return "unexpected data: " + printable(data);
  }

 private:
  void read_exactly(std::string& bytes, std::size_t total, Clock::time_point deadline,
                    int cancel) const {
    while (bytes.size() < total) {
      const auto got = read_some(bytes, total - bytes.size(), deadline, cancel);
      if (!got) throw std::runtime_error("no message came (timeout, or the other side was done)");
      if (*got == 0) {
        throw std::runtime_error("connection closed after " + std::to_string(bytes.size()) +
                                 " bytes of a message: " + printable(bytes));
      }
    }
  }

  int fd_ = -1;
};

// =============================================================================================
// Comparing messages
// =============================================================================================

struct Wire {
  Header header;
  Message message;  // payload decompressed
};

Wire parse_wire(std::string_view bytes) {
  Wire w;
  const std::size_t size = header_size_of(bytes);
  w.header = parse_header(bytes.substr(0, size), 0);
  w.message = decode_body(w.header, bytes.substr(size, w.header.body_size()));
  return w;
}

// What a payload comparison had to tolerate; bytes can be compared exactly only when nothing.
struct Tolerated {
  bool order = false;      // a set, or a set sent as a list (metadata): any order is right
  bool traceback = false;  // an implementation specific _pyroTraceback
  bool location = false;   // a URI location rewritten
};

// The decoded payload in a form where equal means equivalent: tracebacks reduced to whether
// they are there, sets turned into lists sent as sets (metadata) sorted, our location replaced
// by the recorded one.
class Normalizer {
 public:
  Normalizer(std::string ours, std::string recorded)
      : ours_(std::move(ours)), recorded_(std::move(recorded)) {}

  Value operator()(const Value& v, Tolerated& t) const {
    if (v.is_str()) {
      const std::string text(v.as_str());
      if (!ours_.empty() && text.find(ours_) != std::string::npos) {
        t.location = true;
        return Value(replace_all(text, ours_, recorded_));
      }
      return v;
    }
    if (v.is_any_set()) {
      t.order = true;
      return v;
    }
    if (v.is_sequence()) {
      std::vector<Value> items;
      for (const auto& item : v.items())
        items.push_back((*this)(item, t));
      return v.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    if (!v.is_dict()) return v;
    const Dict& d = v.as_dict();
    const bool metadata = d.contains("methods") && d.contains("oneway") && d.contains("attrs");
    const Value* cls = d.find("__class__");
    const bool proxy = cls != nullptr && cls->is_str() && cls->as_str().ends_with(".Proxy");
    Dict out;
    for (const auto& [key, value] : d) {
      if (key.is_str() && key.as_str() == "_pyroTraceback") {
        if (!value.is_none()) t.traceback = true;
        out.set(key, value.is_none() ? Value() : Value("<traceback present>"));
      } else if (metadata && key.is_str() && value.is_sequence()) {
        out.set(key, sorted(value, t));
      } else if (proxy && key.is_str() && key.as_str() == "state" && value.is_sequence()) {
        // (uri, oneway, methods, attrs, handshake, serializer): the name lists were sets
        std::vector<Value> state;
        for (std::size_t i = 0; i < value.items().size(); ++i) {
          const Value& item = value.items()[i];
          state.push_back(i >= 1 && i <= 3 && item.is_sequence() ? sorted(item, t)
                                                                 : (*this)(item, t));
        }
        out.set(key,
                value.is_tuple() ? Value::tuple(std::move(state)) : Value::list(std::move(state)));
      } else {
        out.set(key, (*this)(value, t));
      }
    }
    return Value(std::move(out));
  }

 private:
  Value sorted(const Value& seq, Tolerated& t) const {
    std::vector<Value> items(seq.items().begin(), seq.items().end());
    if (items.size() > 1) t.order = true;
    std::sort(items.begin(), items.end(),
              [](const Value& a, const Value& b) { return a.repr() < b.repr(); });
    return seq.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }

  std::string ours_;
  std::string recorded_;
};

// The message bytes with the nondeterministic ranges zeroed; a compressed payload inflated (zlib
// output may differ between compressors) and a marshal payload in canonical form (CPython's
// reference flags depend on its reference counts), with the data size zeroed then.
std::string canonical_bytes(std::string_view bytes, const rapidjson::Value& recorded_json) {
  std::string out(bytes);
  if (out.size() >= header_bytes && detect_protocol(out.substr(0, protocol_probe_size)) == 502) {
    const Header h = parse_header(std::string_view(out).substr(0, header_bytes), 0);
    const std::size_t payload_at = header_bytes + h.annotations_size;
    std::string payload = out.substr(std::min(payload_at, out.size()));
    bool changed = false;
    if (h.flags & flags::compressed) {
      payload = zlib_decompress(payload);
      changed = true;
    }
    if (h.serializer_id == marshal_serializer().id(Dialect::pyro5) &&
        h.type != static_cast<std::uint16_t>(MessageType::ping) && !payload.empty()) {
      payload = marshal_canonical(payload);
      changed = true;
    }
    if (changed) {
      out = out.substr(0, payload_at) + payload;
      std::fill(out.begin() + 12, out.begin() + 16, '\0');
    }
  }
  if (const auto* nd = find_member(recorded_json, "nondeterministic")) {
    for (const auto& r : nd->GetArray()) {
      const std::size_t at = r["offset"].GetUint();
      const std::size_t n = r["length"].GetUint();
      if (at + n <= out.size()) std::fill(out.begin() + at, out.begin() + at + n, '\0');
    }
  }
  return out;
}

struct CompareSettings {
  std::string what;                             // for failure messages
  std::optional<std::uint16_t> seq;             // expected seq, when not the recorded one
  std::string our_location, recorded_location;  // URI locations in payloads
};

// Compares a message we produced with the recorded one: header fields, annotations (STRM masked:
// it is random), the payload decoded (see Normalizer), and the exact bytes where nothing had to
// be tolerated. Returns our STRM annotation, if any.
std::string compare_message(const Scenario& s, std::size_t index, std::string_view ours,
                            const CompareSettings& settings) {
  const RecordedMessage& rec = s.messages[index];
  const rapidjson::Value& rec_json = message_json(s, index);
  SCOPED_TRACE(settings.what + " (message " + rec.file + ")");
  Wire expected, actual;
  try {
    expected = parse_wire(rec.bytes);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "recorded message does not parse: " << e.what();
    return {};
  }
  try {
    actual = parse_wire(ours);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "our message does not parse: " << e.what() << "\n  ours: " << printable(ours);
    return {};
  }
  const std::uint16_t expected_seq = settings.seq.value_or(expected.header.seq);
  EXPECT_EQ(actual.header.protocol, expected.header.protocol);
  EXPECT_EQ(actual.header.type, expected.header.type) << "message type";
  EXPECT_EQ(actual.header.serializer_id, expected.header.serializer_id) << "serializer id";
  EXPECT_EQ(actual.header.flags, expected.header.flags) << "flags (wire numbering)";
  EXPECT_EQ(actual.header.seq, expected_seq) << "seq";
  if (has_nondeterministic(rec_json, "header.correlation_id")) {
    EXPECT_TRUE(actual.header.correlation_id.has_value()) << "a random correlation id expected";
  } else {
    EXPECT_EQ(actual.header.correlation_id, expected.header.correlation_id) << "correlation id";
  }

  // annotations
  std::string strm;
  std::set<std::string> expected_ids, actual_ids;
  for (const auto& [id, value] : expected.message.annotations)
    expected_ids.insert(id);
  for (const auto& [id, value] : actual.message.annotations)
    actual_ids.insert(id);
  EXPECT_EQ(actual_ids, expected_ids) << "annotation ids";
  for (const auto& [id, value] : actual.message.annotations) {
    const std::string* want = expected.message.annotations.find(id);
    if (want == nullptr) continue;
    if (id == "STRM" && has_nondeterministic(rec_json, "annotation.STRM")) {
      strm = value;
      EXPECT_EQ(value.size(), want->size()) << "STRM length";
      EXPECT_TRUE(parse_correlation_id(value).has_value()) << "STRM is a uuid: " << value;
    } else {
      EXPECT_EQ(printable(value), printable(*want)) << "annotation " << id;
    }
  }

  // payload
  Tolerated tolerated;
  const std::string& ep = expected.message.payload;
  const std::string& ap = actual.message.payload;
  const Serializer* ser =
      expected.header.type == static_cast<std::uint16_t>(MessageType::ping)
          ? nullptr
          : serializer_by_id(static_cast<std::uint8_t>(expected.header.serializer_id),
                             Dialect::pyro5);
  if (ser == nullptr) {
    EXPECT_EQ(printable(ap), printable(ep)) << "payload";
  } else {
    std::optional<Value> ev;
    try {
      ev = ser->decode(ep);
    } catch (const std::exception&) {
      // A payload a Pyro daemon refuses too (msgpack's integer map keys): ours must be the
      // very same bytes, checked below.
    }
    if (ev) {
      Value av;
      try {
        av = ser->decode(ap);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "our " << ser->name() << " decoder rejects our payload: " << e.what()
                      << "\n  ours: " << printable(ap);
        return strm;
      }
      const Normalizer norm(settings.our_location, settings.recorded_location);
      Tolerated ignored;
      const Value en = norm(*ev, ignored);
      const Value an = norm(av, tolerated);
      tolerated.order = tolerated.order || ignored.order;
      tolerated.traceback = tolerated.traceback || ignored.traceback;
      EXPECT_TRUE(identical(an, en))
          << "decoded payload differs\n  ours:     " << an.repr() << "\n  recorded: " << en.repr()
          << "\n  our bytes:      " << printable(ap) << "\n  recorded bytes: " << printable(ep);
    }
  }

  if (tolerated.order) ++counts().order;
  if (tolerated.traceback) ++counts().traceback;
  if (tolerated.location) ++counts().location;
  // exact bytes (seq adjusted, nondeterministic ranges masked, compressed payloads inflated)
  if (!tolerated.order && !tolerated.traceback && !tolerated.location) {
    ++counts().exact;
    std::string want = rec.bytes;
    put_be16(want, 10, actual.header.seq);  // a wrong seq is reported above
    const std::string a = canonical_bytes(ours, rec_json);
    const std::string e = canonical_bytes(want, rec_json);
    if (a != e) {
      std::size_t at = 0;
      while (at < a.size() && at < e.size() && a[at] == e[at])
        ++at;
      ADD_FAILURE() << "bytes differ from offset " << at << " (sizes " << a.size() << " vs "
                    << e.size() << ")\n  ours:     " << printable(a)
                    << "\n  recorded: " << printable(e);
    }
  }
  return strm;
}

// =============================================================================================
// Daemon side: our Daemon answers the recorded client messages
// =============================================================================================

class DaemonReplay : public ::testing::TestWithParam<std::string> {};

// raw/foreign_protocol_header: a Pyro4 CONNECT sent to a Pyro5 daemon. Python's Pyro5 daemon
// refuses it (CONNECTFAIL "invalid protocol version: 48"); ours serves Pyro4 and Pyro5 clients
// on one port by design (docs/protocol.md, detect_protocol), so it answers as a Pyro4 daemon.
void check_serves_protocol_48_too(const Scenario& s, int port) {
  Socket socket = Socket::connect_loopback(port);
  socket.send_all(s.messages.at(0).bytes);
  std::string ours;
  try {
    ours = socket.read_message(Clock::now() + io_timeout);
  } catch (const std::exception& e) {
    FAIL() << "no reply to the protocol 48 CONNECT: " << e.what();
  }
  const Wire w = parse_wire(ours);
  EXPECT_EQ(w.header.protocol, protocol_48);
  EXPECT_EQ(w.header.type, static_cast<std::uint16_t>(MessageType::connectok));
  const Serializer* ser =
      serializer_by_id(static_cast<std::uint8_t>(w.header.serializer_id), Dialect::pyro4);
  ASSERT_NE(ser, nullptr);
  const Value reply = ser->decode(w.message.payload);
  EXPECT_TRUE(reply.is_dict() && reply.find("handshake") && reply.find("meta")) << reply.repr();
  note(
      "by design (docs/protocol.md: one daemon serves protocols 502 and 48), a Pyro4 CONNECT "
      "gets a protocol 48 CONNECTOK where Pyro5 sends CONNECTFAIL 'invalid protocol version: "
      "48'; checked that instead");
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
    check_serves_protocol_48_too(s, port);
    return;
  }

  std::map<int, Socket> connections;
  std::map<std::string, std::string> variables;
  const auto closes = server_closes(s);
  const std::size_t count = s.messages.size();
  for (std::size_t i = 0; i < count; ++i) {
    const RecordedMessage& rec = s.messages[i];
    const rapidjson::Value& rec_json = message_json(s, i);
    const int conn = connection_of(s, i);
    if (rec.direction == "c2s") {
      if (!connections.contains(conn)) connections[conn] = Socket::connect_loopback(port);
      std::string bytes = rec.bytes;
      if (const auto* subs = find_member(rec_json, "substitutions")) {
        for (const auto& sub : subs->GetArray()) {
          const std::string name = json_string(find_member(sub, "variable"));
          const std::size_t at = sub["offset"].GetUint();
          const std::size_t n = sub["length"].GetUint();
          ASSERT_TRUE(variables.contains(name))
              << rec.file << ": variable " << name << " was never received";
          ASSERT_EQ(variables[name].size(), n) << rec.file << ": variable " << name;
          bytes.replace(at, n, variables[name]);
        }
      }
      connections[conn].send_all(bytes);
      // No reply follows when the next message of this connection is another request.
      bool reply_follows = false;
      for (std::size_t j = i + 1; j < count; ++j) {
        if (connection_of(s, j) != conn) continue;
        reply_follows = s.messages[j].direction == "s2c";
        break;
      }
      if (!reply_follows && !(closes.contains(conn) && closes.at(conn) == static_cast<int>(i))) {
        const std::string what = connections[conn].expect_quiet(quiet_period);
        EXPECT_EQ(what, "") << "after " << rec.file << " (no reply expected)";
      }
    } else {
      std::string ours;
      try {
        ours = connections.at(conn).read_message(Clock::now() + io_timeout);
      } catch (const std::exception& e) {
        FAIL() << "no reply in place of " << rec.file << ": " << e.what();
      }
      CompareSettings settings;
      settings.what = "daemon reply " + rec.file;
      settings.our_location = location;
      settings.recorded_location = advertised;
      const std::string strm = compare_message(s, i, ours, settings);
      if (const auto* vars = find_member(s.json, "variables")) {
        for (const auto& v : vars->GetArray()) {
          if (v["defined_in_message"].GetUint() == i) {
            variables[json_string(find_member(v, "name"))] = strm;
          }
        }
      }
    }
    if (closes.contains(conn) && closes.at(conn) == static_cast<int>(i)) {
      const std::string what = connections[conn].expect_closed(Clock::now() + io_timeout);
      EXPECT_EQ(what, "") << "the daemon should close connection " << conn << " after " << rec.file;
    }
  }
}

// =============================================================================================
// Client side: our Proxy performs the recorded steps against a fake daemon
// =============================================================================================

// Text of tagged JSON (for messages).
std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return buffer.GetString();
}

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
class FakeDaemon {
 public:
  // indices: the recorded messages still in the conversation (those of skipped steps removed).
  FakeDaemon(const Scenario& s, std::vector<std::size_t> indices, std::string advertised)
      : scenario_(s), indices_(std::move(indices)), advertised_(std::move(advertised)) {
    listener_ = Socket::listen_loopback();
    port_ = listener_.local_port();
    if (::pipe(cancel_) != 0) throw std::runtime_error("pipe()");
    thread_ = std::thread([this] { run(); });
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;
  ~FakeDaemon() {
    finish();
    ::close(cancel_[0]);
    ::close(cancel_[1]);
  }

  int port() const noexcept { return port_; }
  std::string location() const { return "127.0.0.1:" + std::to_string(port_); }

  // Stops the conversation (the proxy's part is over) and waits for the thread.
  void finish() {
    if (!thread_.joinable()) return;
    const char c = 'x';
    if (::write(cancel_[1], &c, 1) != 1) std::perror("write");
    thread_.join();
  }

  // After finish(): what the proxy sent in place of recorded message i, and what went wrong.
  const std::map<std::size_t, std::string>& received() const noexcept { return received_; }
  const std::vector<std::string>& errors() const noexcept { return errors_; }

 private:
  void run() {
    const auto closes = server_closes(scenario_);
    std::map<int, Socket> connections;
    std::map<int, std::size_t> last_request;  // connection -> recorded index of its request
    try {
      for (const std::size_t i : indices_) {
        const RecordedMessage& rec = scenario_.messages[i];
        const int conn = connection_of(scenario_, i);
        if (rec.direction == "c2s") {
          if (!connections.contains(conn)) {
            Socket accepted = listener_.accept(Clock::now() + io_timeout, cancel_[0]);
            if (!accepted.is_open()) {
              errors_.push_back("the proxy never connected for " + rec.file);
              return;
            }
            connections[conn] = std::move(accepted);
          }
          try {
            received_[i] = connections[conn].read_message(Clock::now() + io_timeout, cancel_[0]);
          } catch (const std::exception& e) {
            errors_.push_back("waiting for the proxy's message in place of " + rec.file + ": " +
                              e.what());
            return;
          }
          last_request[conn] = i;
        } else {
          if (!last_request.contains(conn)) {
            errors_.push_back("no request before " + rec.file);
            return;
          }
          const std::size_t req = last_request[conn];
          connections.at(conn).send_all(
              patched_reply(rec, scenario_.messages[req], received_[req]));
        }
        if (closes.contains(conn) && closes.at(conn) == static_cast<int>(i)) {
          connections[conn].close();
        }
      }
      // The conversation is over: whatever the proxy sends until finish() (its connections
      // closing aside) is unexpected.
      pollfd cancel{cancel_[0], POLLIN, 0};
      ::poll(&cancel, 1, static_cast<int>(std::chrono::milliseconds(2 * io_timeout).count()));
      if (listener_.wait_readable(Clock::now()) == Socket::Wait::ready) {
        errors_.push_back("unexpected extra connection from the proxy");
      }
      for (auto& [conn, socket] : connections) {
        if (!socket.is_open()) continue;
        std::string extra;
        while (socket.read_some(extra, 65536, Clock::now() + 20ms).value_or(0) > 0) {
        }
        if (!extra.empty()) {
          errors_.push_back("unexpected data from the proxy on connection " + std::to_string(conn) +
                            ": " + printable(extra));
        }
      }
    } catch (const std::exception& e) {
      errors_.push_back(e.what());
    }
  }

  // The recorded reply with what the recording took from its request replaced by what our
  // proxy sent (seq, echoed correlation id) and the recorded location by ours.
  std::string patched_reply(const RecordedMessage& reply, const RecordedMessage& recorded_request,
                            const std::string& our_request) {
    std::string out = reply.bytes;
    if (reply.framing != "pyro" || recorded_request.framing != "pyro" || our_request.size() < 40) {
      return out;
    }
    if (be16(out, 10) == be16(recorded_request.bytes, 10)) put_be16(out, 10, be16(our_request, 10));
    const bool echoed = (recorded_request.flags & flags::corr_id) &&
                        out.compare(20, 16, recorded_request.bytes, 20, 16) == 0;
    if (echoed && (be16(our_request, 8) & flags::corr_id)) out.replace(20, 16, our_request, 20, 16);
    if (!reply.compressed) {
      const std::string ours = location();
      if (ours.size() == advertised_.size()) {
        out.replace(
            reply.payload_offset, reply.payload_size,
            replace_all(out.substr(reply.payload_offset, reply.payload_size), advertised_, ours));
      } else if (out.find(advertised_) != std::string::npos) {
        errors_.push_back("cannot patch " + advertised_ + " into " + ours + " in " + reply.file);
      }
    }
    return out;
  }

  const Scenario& scenario_;
  std::vector<std::size_t> indices_;
  std::string advertised_;
  Socket listener_;
  int port_ = 0;
  int cancel_[2] = {-1, -1};
  std::map<std::size_t, std::string> received_;  // written by the thread until finish()
  std::vector<std::string> errors_;              // written by the thread until finish()
  std::thread thread_;
};

// What a step did on the C++ side.
struct Outcome {
  std::optional<Value> returned;
  std::optional<ExceptionInfo> raised;
  std::string raised_type;  // the C++ exception type, for messages
  std::vector<std::string> remote_traceback;
  bool remote_traceback_known = false;  // a PyroError carries one; pyro::ValueError etc. do not
};

bool is_tag(const rapidjson::Value& v, const char* tag) {
  return v.IsObject() && v.MemberCount() == 1 && v.HasMember(tag);
}

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

std::set<std::string> name_set(const rapidjson::Value& list) {
  std::set<std::string> out;
  for (const auto& n : list.GetArray())
    out.insert(n.GetString());
  return out;
}

std::set<std::string> name_set(const std::vector<std::string>& names) {
  return {names.begin(), names.end()};
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
    EXPECT_EQ(out.raised->class_name, want_class)
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

INSTANTIATE_TEST_SUITE_P(Pyro5, DaemonReplay, ::testing::ValuesIn(golden_names()), test_name);
INSTANTIATE_TEST_SUITE_P(Pyro5, ClientReplay, ::testing::ValuesIn(golden_names()), test_name);

// =============================================================================================
// Summary
// =============================================================================================

class Summary : public ::testing::Environment {
 public:
  void TearDown() override {
    const auto* unit = ::testing::UnitTest::GetInstance();
    std::printf("\n==== golden replay summary (Pyro5, protocol 502) ====\n");
    for (int i = 0; i < unit->total_test_suite_count(); ++i) {
      const auto* suite = unit->GetTestSuite(i);
      int passed = 0, failed = 0, skipped = 0;
      std::vector<std::string> failures;
      for (int j = 0; j < suite->total_test_count(); ++j) {
        const auto* test = suite->GetTestInfo(j);
        if (!test->should_run()) continue;
        const auto* r = test->result();
        if (r->Skipped()) {
          ++skipped;
        } else if (r->Failed()) {
          ++failed;
          failures.emplace_back(test->name());
        } else {
          ++passed;
        }
      }
      std::printf("%-22s %3d passed, %3d failed, %3d skipped\n", suite->name(), passed, failed,
                  skipped);
      for (const auto& f : failures)
        std::printf("    failed: %s\n", f.c_str());
    }
    std::printf(
        "messages compared: %d byte for byte; decoded only: %d with sets (any order), %d with "
        "tracebacks, %d with a URI location rewritten\n",
        counts().exact.load(), counts().order.load(), counts().traceback.load(),
        counts().location.load());
    std::lock_guard lock(notes().mutex);
    if (!notes().lines.empty()) {
      std::printf("notes (%zu): what was not checked, and why\n", notes().lines.size());
      for (const auto& line : notes().lines)
        std::printf("    %s\n", line.c_str());
    }
  }
};

[[maybe_unused]] const auto* const summary =
    ::testing::AddGlobalTestEnvironment(new Summary);  // gtest takes ownership

}  // namespace
}  // namespace pyro::testing
