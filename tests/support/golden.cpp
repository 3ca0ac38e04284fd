// golden.cpp — shared machinery of the golden replays.
#include "support/golden.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "pyro/serializer.hpp"
#include "support/marshal_canonical.hpp"

namespace pyro::testing {

using namespace std::chrono_literals;

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

const Scenario& scenario_named(const std::string& name) {
  for (const auto& s : all_scenarios()) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no scenario " + name);
}

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

std::string json_string(const rapidjson::Value* v, std::string fallback) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                       : fallback;
}

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return buffer.GetString();
}

bool is_tag(const rapidjson::Value& v, const char* tag) {
  return v.IsObject() && v.MemberCount() == 1 && v.HasMember(tag);
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

const rapidjson::Value& message_json(const Scenario& s, std::size_t index) {
  return s.json["messages"][static_cast<rapidjson::SizeType>(index)];
}

int connection_of(const Scenario& s, std::size_t index) {
  return message_json(s, index)["connection"].GetInt();
}

std::string role_of(const Scenario& s, int connection) {
  for (const auto& c : s.json["connections"].GetArray()) {
    if (c["id"].GetInt() == connection) return json_string(find_member(c, "role"));
  }
  return {};
}

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

std::pair<std::string, int> split_location(const std::string& location) {
  const auto colon = location.rfind(':');
  return {location.substr(0, colon), std::stoi(location.substr(colon + 1))};
}

const rapidjson::Value* peer_of(const Scenario& s, const char* peer) {
  const auto* peers = find_member(s.json["setup"], "peers");
  return peers ? find_member(*peers, peer) : nullptr;
}

std::string advertised_of(const Scenario& s, const char* peer, std::string fallback) {
  const auto* p = peer_of(s, peer);
  return json_string(p ? find_member(*p, "advertised") : nullptr, std::move(fallback));
}

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
  if (s.protocol == "pyro4") config.protocol_version = protocol_48;
  return config;
}

// =============================================================================================
// Notes, counts and the summary
// =============================================================================================

namespace {

struct Notes {
  std::mutex mutex;
  std::vector<std::string> lines;  // guarded by mutex
};

Notes& notes() {
  static Notes n;
  return n;
}

class Summary : public ::testing::Environment {
 public:
  explicit Summary(std::string title) : title_(std::move(title)) {}

  void TearDown() override {
    const auto* unit = ::testing::UnitTest::GetInstance();
    std::printf("\n==== %s ====\n", title_.c_str());
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
      std::printf("%-30s %3d passed, %3d failed, %3d skipped\n", suite->name(), passed, failed,
                  skipped);
      for (const auto& f : failures)
        std::printf("    failed: %s\n", f.c_str());
    }
    std::printf(
        "messages compared: %d byte for byte; decoded only: %d with sets (any order), %d with "
        "tracebacks, %d with a URI location rewritten, %d with a documented difference "
        "rewritten\n",
        counts().exact.load(), counts().order.load(), counts().traceback.load(),
        counts().location.load(), counts().equated.load());
    std::lock_guard lock(notes().mutex);
    if (!notes().lines.empty()) {
      std::printf("notes (%zu): what was not checked, and why\n", notes().lines.size());
      for (const auto& line : notes().lines)
        std::printf("    %s\n", line.c_str());
    }
  }

 private:
  std::string title_;
};

}  // namespace

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

bool add_summary(std::string title) {
  ::testing::AddGlobalTestEnvironment(new Summary(std::move(title)));  // gtest takes ownership
  return true;
}

// =============================================================================================
// Bytes and sockets
// =============================================================================================

std::string printable(std::string_view bytes, std::size_t limit) {
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

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void Socket::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Socket Socket::connect_loopback(int port) {
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

Socket Socket::listen_loopback() {
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

int Socket::local_port() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

Socket::Wait Socket::wait_readable(Clock::time_point deadline, int cancel) const {
  for (;;) {
    const auto left = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
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

Socket Socket::accept(Clock::time_point deadline, int cancel) const {
  if (wait_readable(deadline, cancel) != Wait::ready) return Socket();
  return Socket(::accept(fd_, nullptr, nullptr));
}

void Socket::send_all(std::string_view bytes) const {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("send(): " + std::string(std::strerror(errno)));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<std::size_t> Socket::read_some(std::string& out, std::size_t n,
                                             Clock::time_point deadline, int cancel) const {
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

std::string Socket::read_message(Clock::time_point deadline, int cancel) const {
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

std::string Socket::expect_closed(Clock::time_point deadline) const {
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

std::string Socket::expect_quiet(std::chrono::milliseconds period) const {
  std::string data;
  const auto got = read_some(data, 65536, Clock::now() + period);
  if (!got) return {};
  if (*got == 0) return "the peer closed the connection";
  return "unexpected data: " + printable(data);
}

void Socket::read_exactly(std::string& bytes, std::size_t total, Clock::time_point deadline,
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

// =============================================================================================
// Comparing messages
// =============================================================================================

Wire parse_wire(std::string_view bytes) {
  Wire w;
  const std::size_t size = header_size_of(bytes);
  w.header = parse_header(bytes.substr(0, size), 0);
  w.message = decode_body(w.header, bytes.substr(size, w.header.body_size()));
  return w;
}

Value Normalizer::operator()(const Value& v, Tolerated& t) const {
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
    const bool tags = tag_lists_ && is_tag_pair(v);
    for (std::size_t i = 0; i < v.items().size(); ++i) {
      const Value& item = v.items()[i];
      items.push_back(tags && i == 1 && item.is_sequence() ? sorted(item, t) : (*this)(item, t));
    }
    return v.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (!v.is_dict()) return v;
  static const std::set<std::string> tag_keywords = {"metadata", "meta_all", "meta_any",
                                                     "metadata_all", "metadata_any"};
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
    } else if (tag_lists_ && key.is_str() && value.is_sequence() &&
               tag_keywords.contains(std::string(key.as_str()))) {
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

Value Normalizer::sorted(const Value& seq, Tolerated& t) const {
  std::vector<Value> items(seq.items().begin(), seq.items().end());
  if (items.size() > 1) t.order = true;
  std::sort(items.begin(), items.end(),
            [](const Value& a, const Value& b) { return a.repr() < b.repr(); });
  return seq.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

// (uri, tags): a URI object's dict or a URI string, then a sequence of str.
bool Normalizer::is_tag_pair(const Value& v) const {
  if (v.size() != 2) return false;
  const Value& uri = v.items()[0];
  const Value& tags = v.items()[1];
  if (!tags.is_sequence()) return false;
  for (const Value& tag : tags.items()) {
    if (!tag.is_str()) return false;
  }
  if (uri.is_str()) return uri.as_str().starts_with("PYRO");
  if (!uri.is_dict()) return false;
  const Value* cls = uri.as_dict().find("__class__");
  return cls != nullptr && cls->is_str() && cls->as_str().ends_with(".URI");
}

std::string canonical_bytes(std::string_view bytes, const rapidjson::Value& recorded_json) {
  std::string out(bytes);
  std::uint16_t protocol = 0;
  try {
    protocol = detect_protocol(out.substr(0, protocol_probe_size));
  } catch (const std::exception&) {
    protocol = 0;  // not a Pyro message: compared as it is
  }
  if (protocol != 0 && out.size() >= header_size(protocol)) {
    const std::size_t hsize = header_size(protocol);
    const Header h = parse_header(std::string_view(out).substr(0, hsize), 0);
    const std::size_t payload_at = hsize + h.annotations_size;
    std::string payload = out.substr(std::min(payload_at, out.size()));
    bool changed = false;
    if (h.flags & flags::compressed) {
      payload = zlib_decompress(payload);
      changed = true;
    }
    if (h.serializer_id == marshal_serializer().id(dialect_of(protocol)) &&
        h.type != static_cast<std::uint16_t>(MessageType::ping) && !payload.empty()) {
      payload = marshal_canonical(payload);
      changed = true;
    }
    if (changed) {
      out = out.substr(0, payload_at) + payload;
      std::fill(out.begin() + 12, out.begin() + 16, '\0');  // data size
      if (protocol == protocol_48) std::fill(out.begin() + 22, out.begin() + 24, '\0');  // checksum
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
  const std::uint16_t protocol = expected.header.protocol;
  const std::uint16_t expected_seq = settings.seq.value_or(expected.header.seq);
  EXPECT_EQ(actual.header.protocol, protocol);
  EXPECT_EQ(actual.header.type, expected.header.type) << "message type";
  EXPECT_EQ(actual.header.serializer_id, expected.header.serializer_id) << "serializer id";
  EXPECT_EQ(actual.header.flags, expected.header.flags) << "flags (protocol 502 numbering)";
  EXPECT_EQ(actual.header.seq, expected_seq) << "seq";
  if (protocol == protocol_48) {
    // the correlation id is the CORR annotation, which decode_body moved out
    if (has_nondeterministic(rec_json, "annotation.CORR")) {
      EXPECT_TRUE(actual.message.correlation_id.has_value()) << "a random CORR annotation expected";
    } else {
      EXPECT_EQ(actual.message.correlation_id, expected.message.correlation_id)
          << "CORR annotation";
    }
  } else if (has_nondeterministic(rec_json, "header.correlation_id")) {
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
                             dialect_of(protocol));
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
      if (settings.equate) {
        std::string why = settings.equate(*ev);
        const std::string ours_why = settings.equate(av);
        if (!ours_why.empty() && ours_why != why) {
          why += (why.empty() ? "" : "; ") + ours_why;
        }
        if (!why.empty()) {
          tolerated.equated = true;
          note(settings.what + ": " + why);
        }
      }
      const Normalizer norm(settings.our_location, settings.recorded_location, settings.tag_lists);
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
  if (tolerated.equated) ++counts().equated;
  // exact bytes (seq adjusted, nondeterministic ranges masked, compressed payloads inflated)
  if (!tolerated.order && !tolerated.traceback && !tolerated.location && !tolerated.equated) {
    ++counts().exact;
    std::string want = rec.bytes;
    if (protocol == protocol_48) {
      // the header checksum covers the seq
      put_be16(want, 22,
               static_cast<std::uint16_t>(be16(want, 22) - be16(want, 10) + actual.header.seq));
    }
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
// The server side of a replay
// =============================================================================================

void replay_requests(const Scenario& s, const std::function<ReplayTarget(int)>& target,
                     const CompareSettings& compare) {
  std::map<int, Socket> connections;
  std::map<int, ReplayTarget> targets;
  std::map<std::string, std::string> variables;
  const auto closes = server_closes(s);
  const std::size_t count = s.messages.size();
  for (std::size_t i = 0; i < count; ++i) {
    const RecordedMessage& rec = s.messages[i];
    const rapidjson::Value& rec_json = message_json(s, i);
    const int conn = connection_of(s, i);
    if (rec.direction == "c2s") {
      if (!connections.contains(conn)) {
        targets[conn] = target(conn);
        connections[conn] = Socket::connect_loopback(targets[conn].port);
      }
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
      CompareSettings settings = compare;
      settings.what = role_of(s, conn) + " reply " + rec.file;
      settings.seq.reset();
      settings.our_location = targets[conn].our_location;
      settings.recorded_location = targets[conn].recorded_location;
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
      EXPECT_EQ(what, "") << "the server should close connection " << conn << " after " << rec.file;
    }
  }
}

// =============================================================================================
// FakeDaemon
// =============================================================================================

FakeDaemon::FakeDaemon(const Scenario& s, std::vector<std::size_t> indices, std::string advertised,
                       ReplyFilter filter)
    : scenario_(s),
      indices_(std::move(indices)),
      advertised_(std::move(advertised)),
      filter_(std::move(filter)) {
  listener_ = Socket::listen_loopback();
  port_ = listener_.local_port();
  if (::pipe(cancel_) != 0) throw std::runtime_error("pipe()");
  thread_ = std::thread([this] { run(); });
}

FakeDaemon::~FakeDaemon() {
  finish();
  ::close(cancel_[0]);
  ::close(cancel_[1]);
}

void FakeDaemon::finish() {
  if (!thread_.joinable()) return;
  const char c = 'x';
  if (::write(cancel_[1], &c, 1) != 1) std::perror("write");
  thread_.join();
}

void FakeDaemon::run() {
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
            errors_.push_back("the client never connected for " + rec.file);
            return;
          }
          connections[conn] = std::move(accepted);
        }
        try {
          received_[i] = connections[conn].read_message(Clock::now() + io_timeout, cancel_[0]);
        } catch (const std::exception& e) {
          errors_.push_back("waiting for the client's message in place of " + rec.file + ": " +
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
        connections.at(conn).send_all(patched_reply(i, scenario_.messages[req], received_[req]));
      }
      if (closes.contains(conn) && closes.at(conn) == static_cast<int>(i)) {
        connections[conn].close();
      }
    }
    // The conversation is over: whatever the client sends until finish() (its connections
    // closing aside) is unexpected.
    pollfd cancel{cancel_[0], POLLIN, 0};
    ::poll(&cancel, 1, static_cast<int>(std::chrono::milliseconds(2 * io_timeout).count()));
    if (listener_.wait_readable(Clock::now()) == Socket::Wait::ready) {
      errors_.push_back("unexpected extra connection from the client");
    }
    for (auto& [conn, socket] : connections) {
      if (!socket.is_open()) continue;
      std::string extra;
      while (socket.read_some(extra, 65536, Clock::now() + 20ms).value_or(0) > 0) {
      }
      if (!extra.empty()) {
        errors_.push_back("unexpected data from the client on connection " + std::to_string(conn) +
                          ": " + printable(extra));
      }
    }
  } catch (const std::exception& e) {
    errors_.push_back(e.what());
  }
}

// The recorded reply with what the recording took from its request replaced by what our client
// sent (seq, echoed correlation id) and the recorded location by ours; then the filter.
std::string FakeDaemon::patched_reply(std::size_t index, const RecordedMessage& recorded_request,
                                      const std::string& our_request) {
  const RecordedMessage& reply = scenario_.messages[index];
  std::string out = reply.bytes;
  const bool pyro = reply.framing == "pyro" && recorded_request.framing == "pyro";
  const bool p48 = pyro && out.size() >= 24 && be16(out, 4) == protocol_48;
  if (pyro && our_request.size() >= (p48 ? 24u : 40u)) {
    // the seq sits at offset 10 in both headers; Pyro4's checksum covers it
    if (be16(out, 10) == be16(recorded_request.bytes, 10)) {
      const std::uint16_t seq = be16(our_request, 10);
      if (p48) put_be16(out, 22, static_cast<std::uint16_t>(be16(out, 22) - be16(out, 10) + seq));
      put_be16(out, 10, seq);
    }
    if (!p48) {
      const bool echoed = (recorded_request.flags & flags::corr_id) &&
                          out.compare(20, 16, recorded_request.bytes, 20, 16) == 0;
      if (echoed && (be16(our_request, 8) & flags::corr_id)) {
        out.replace(20, 16, our_request, 20, 16);
      }
    }
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
  }
  if (filter_) filter_(index, out, port_);
  return out;
}

}  // namespace pyro::testing
