// golden.hpp — test support for the golden replays (golden_test, golden_naming_test): scenario
// lookups, a loopback socket with bounded waits, the comparison of a message we produced with a
// recorded one (protocols 502 and 48), a fake peer that answers with the recorded replies, and
// the summary printed at the end. Relies on vectors.hpp, the protocol and serializer modules and
// GoogleTest (comparisons report through EXPECT_*).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "pyro/config.hpp"
#include "pyro/protocol.hpp"
#include "pyro/value.hpp"
#include "support/vectors.hpp"

namespace pyro::testing {

using Clock = std::chrono::steady_clock;

// Bounds on every wait: a peer that does not answer fails the test instead of hanging it.
inline constexpr std::chrono::seconds io_timeout{10};
// After a oneway request, how long no reply may arrive (and the call has surely run).
inline constexpr std::chrono::milliseconds quiet_period{250};

// The fixed header size of a message (40 or 24), from its first 6 bytes.
std::size_t header_size_of(std::string_view bytes);

// =============================================================================================
// Scenarios
// =============================================================================================

// Every scenario of tests/vectors, loaded once.
const std::vector<Scenario>& all_scenarios();
// "pyro5/serpent/call_plain" -> "call_plain"
std::string scenario_base(const Scenario& s);
// Throws std::runtime_error when there is none.
const Scenario& scenario_named(const std::string& name);
// Test names for parameterized tests: "pyro5/serpent/call_plain" -> "serpent_call_plain".
std::string test_name(const ::testing::TestParamInfo<std::string>& info);

const rapidjson::Value* find_member(const rapidjson::Value& v, const char* name);
std::string json_string(const rapidjson::Value* v, std::string fallback = {});
// Text of tagged JSON (for messages).
std::string json_text(const rapidjson::Value& v);
// Whether v is the tagged value {"<tag>": ...}.
bool is_tag(const rapidjson::Value& v, const char* tag);
std::set<std::string> name_set(const rapidjson::Value& list);
std::set<std::string> name_set(const std::vector<std::string>& names);

const rapidjson::Value& message_json(const Scenario& s, std::size_t index);
int connection_of(const Scenario& s, std::size_t index);
// The role of a connection: "daemon", "nameserver" or "broadcast".
std::string role_of(const Scenario& s, int connection);
// The index after which the server closed each connection it closed first.
std::map<int, int> server_closes(const Scenario& s);
bool has_nondeterministic(const rapidjson::Value& message, std::string_view field);

// "127.0.0.1:47101" -> ("127.0.0.1", 47101)
std::pair<std::string, int> split_location(const std::string& location);
// setup.peers.<peer>, or null.
const rapidjson::Value* peer_of(const Scenario& s, const char* peer);
// setup.peers.<peer>.advertised, or fallback.
std::string advertised_of(const Scenario& s, const char* peer, std::string fallback = {});
// Pyro's defaults plus setup.config, set as the PYRO_* variables would set them, the scenario's
// serializer, and PROTOCOL_VERSION 48 for pyro4 scenarios.
Config config_of(const Scenario& s);

// =============================================================================================
// Notes and counts for the summary
// =============================================================================================

// How the messages were compared.
struct Counts {
  std::atomic<int> exact{0};      // decoded payload and every byte (masked ranges aside)
  std::atomic<int> order{0};      // decoded payload; a set made byte order arbitrary
  std::atomic<int> traceback{0};  // decoded payload; an implementation specific traceback
  std::atomic<int> location{0};   // decoded payload; a URI location rewritten
  std::atomic<int> equated{0};    // decoded payload; a documented difference rewritten away
};
Counts& counts();

// Records a line for the summary (what was not checked, and why), prefixed by the current test.
void note(const std::string& text);

// Prints, after all tests: passed/failed/skipped per suite, the comparison counts and the notes.
// Call once, at namespace scope: [[maybe_unused]] const bool s = add_summary("...");
bool add_summary(std::string title);

// =============================================================================================
// Bytes and sockets
// =============================================================================================

std::string printable(std::string_view bytes, std::size_t limit = 400);
std::uint16_t be16(std::string_view b, std::size_t at);
void put_be16(std::string& b, std::size_t at, std::uint16_t v);
std::string replace_all(std::string text, const std::string& from, const std::string& to);

// A blocking TCP socket on loopback with bounded waits. `cancel` (optional) is a file descriptor
// that, once readable, ends every wait early. Resource type: move-only. Thread-compatible.
class Socket {
 public:
  enum class Wait { ready, timeout, cancelled };

  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

  static Socket connect_loopback(int port);
  static Socket listen_loopback();
  int local_port() const;

  // Polls at least once, also when the deadline has passed.
  Wait wait_readable(Clock::time_point deadline, int cancel = -1) const;
  Socket accept(Clock::time_point deadline, int cancel = -1) const;
  void send_all(std::string_view bytes) const;
  // Reads up to n bytes (appended to out): the number read, 0 at the end of the stream (EOF or
  // reset), or nullopt on timeout/cancel.
  std::optional<std::size_t> read_some(std::string& out, std::size_t n, Clock::time_point deadline,
                                       int cancel = -1) const;
  // One whole message (protocol 502 or 48: header, annotations, payload) as it came. Throws
  // std::runtime_error on timeout, cancel or end of stream.
  std::string read_message(Clock::time_point deadline, int cancel = -1) const;
  // Waits for the peer to close. Returns "" when it did; otherwise what happened instead.
  std::string expect_closed(Clock::time_point deadline) const;
  // Expects nothing for `period`. Returns "" when nothing came; otherwise what came.
  std::string expect_quiet(std::chrono::milliseconds period) const;

 private:
  void read_exactly(std::string& bytes, std::size_t total, Clock::time_point deadline,
                    int cancel) const;

  int fd_ = -1;
};

// =============================================================================================
// Comparing messages
// =============================================================================================

struct Wire {
  Header header;
  Message message;  // payload decompressed; for 48 the CORR annotation is in correlation_id
};
Wire parse_wire(std::string_view bytes);

// What a payload comparison had to tolerate; bytes can be compared exactly only when nothing.
struct Tolerated {
  bool order = false;      // a set, or a set sent as a list (metadata): any order is right
  bool traceback = false;  // an implementation specific _pyroTraceback
  bool location = false;   // a URI location rewritten
  bool equated = false;    // a documented difference rewritten away (CompareSettings::equate)
};

// The decoded payload in a form where equal means equivalent: tracebacks reduced to whether
// they are there, sets turned into lists sent as sets (daemon metadata; name server tags when
// tag_lists is set) sorted, our location replaced by the recorded one.
class Normalizer {
 public:
  Normalizer(std::string ours, std::string recorded, bool tag_lists = false)
      : ours_(std::move(ours)), recorded_(std::move(recorded)), tag_lists_(tag_lists) {}

  Value operator()(const Value& v, Tolerated& t) const;

 private:
  Value sorted(const Value& seq, Tolerated& t) const;
  bool is_tag_pair(const Value& v) const;

  std::string ours_;
  std::string recorded_;
  bool tag_lists_;
};

// The message bytes with the nondeterministic ranges zeroed; a compressed payload inflated (zlib
// output may differ between compressors) and a marshal payload in canonical form (CPython's
// reference flags depend on its reference counts), with the data size (and for 48 the header
// checksum) zeroed then.
std::string canonical_bytes(std::string_view bytes, const rapidjson::Value& recorded_json);

struct CompareSettings {
  std::string what;                             // for failure messages
  std::optional<std::uint16_t> seq;             // expected seq, when not the recorded one
  std::string our_location, recorded_location;  // URI locations in payloads
  // Name server payloads: the tags of a registration travel as a set, or as a list made from
  // one (json, msgpack, Pyro4); both are compared in any order. The lists are recognised as the
  // second item of a (uri, tags) pair and as the value of a metadata keyword argument.
  bool tag_lists = false;
  // A documented difference the receiving peer cannot tell apart (e.g. a URI object where the
  // recorded client sent the URI's text): rewrites a decoded payload, ours and the recorded one
  // alike, so that the difference disappears; returns what it rewrote (empty: nothing), which is
  // noted for the summary. Payloads it rewrote are not compared byte for byte.
  std::function<std::string(Value&)> equate;
};

// Compares a message we produced with the recorded one: header fields, annotations (STRM masked:
// it is random; for 48 a random CORR), the payload decoded (see Normalizer), and the exact bytes
// where nothing had to be tolerated. Returns our STRM annotation, if any.
std::string compare_message(const Scenario& s, std::size_t index, std::string_view ours,
                            const CompareSettings& settings);

// =============================================================================================
// The server side of a replay
// =============================================================================================

// Where the replay sends the messages of one recorded connection, and the locations exchanged
// when payloads are compared.
struct ReplayTarget {
  int port = 0;
  std::string our_location;       // where our server is (it may appear in URIs)
  std::string recorded_location;  // what the recorded server put there instead
};

// Sends the recorded client messages (per connection, in index order, substitutions applied) to
// target(connection) and compares every reply with the recorded one (compare_message); checks
// that no reply comes where none was recorded and that the server closes what it closed.
// compare: its tag_lists and equate apply to every reply (what, seq and the locations are set
// per reply).
void replay_requests(const Scenario& s, const std::function<ReplayTarget(int)>& target,
                     const CompareSettings& compare = {});

// =============================================================================================
// A fake peer answering with the recorded replies
// =============================================================================================

// Answers a client with the recorded server messages, in the recorded order, and keeps what the
// client sent in place of each recorded client message. All recorded connections (whatever
// their role) are accepted on one loopback port, in the order they were opened. Runs on its own
// thread. Resource type: immovable; the destructor stops the thread.
class FakeDaemon {
 public:
  // Changes a reply before it is sent: (recorded index, whole message bytes, the fake's port).
  using ReplyFilter = std::function<void(std::size_t, std::string&, int)>;

  // indices: the recorded messages still in the conversation (those of skipped steps removed).
  // advertised: the recorded location that the fake's own replaces in string payloads.
  FakeDaemon(const Scenario& s, std::vector<std::size_t> indices, std::string advertised,
             ReplyFilter filter = {});
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;
  ~FakeDaemon();

  int port() const noexcept { return port_; }
  std::string location() const { return "127.0.0.1:" + std::to_string(port_); }

  // Stops the conversation (the client's part is over) and waits for the thread.
  void finish();

  // After finish(): what the client sent in place of recorded message i, and what went wrong.
  const std::map<std::size_t, std::string>& received() const noexcept { return received_; }
  const std::vector<std::string>& errors() const noexcept { return errors_; }

 private:
  void run();
  std::string patched_reply(std::size_t index, const RecordedMessage& recorded_request,
                            const std::string& our_request);

  const Scenario& scenario_;
  std::vector<std::size_t> indices_;
  std::string advertised_;
  ReplyFilter filter_;
  Socket listener_;
  int port_ = 0;
  int cancel_[2] = {-1, -1};
  std::map<std::size_t, std::string> received_;  // written by the thread until finish()
  std::vector<std::string> errors_;              // written by the thread until finish()
  std::thread thread_;
};

}  // namespace pyro::testing
