// The server side of the transport against bad input and bad peers: garbage, wrong protocol
// versions, forged sizes, unknown serializers, clients that vanish mid-call, slow clients under
// COMMTIMEOUT, idle connections. Every case is answered as Pyro answers it (a CONNECTFAIL before
// the handshake, a silent close after it) while other clients keep being served.
#include "pyro/transport.hpp"

#include <chrono>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "pyro/client.hpp"
#include "pyro/serializer.hpp"
#include "pyro/server.hpp"

namespace pyro {
namespace {

struct Service {
  int add(int a, int b) { return a + b; }
  std::string slow(double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    return "done";
  }
};

// A raw TCP client that writes bytes and reads whatever comes back until the server closes.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<unsigned short>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect");
  }
  ~RawClient() { ::close(fd_); }
  void send(std::string_view bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  // Everything received until EOF or the time limit; closed() tells which.
  std::string read_until_closed(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  bool closed() const { return closed_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = Config::defaults();
    config_.host = "127.0.0.1";
    daemon_ = std::make_unique<Daemon>(DaemonOptions{}, config_);
    uri_ = daemon_->expose(
        std::make_shared<Service>(), "svc",
        Exposed<Service>().method("add", &Service::add).method("slow", &Service::slow));
    daemon_->start();
    port_ = static_cast<int>(*uri_.port());
    bystander_ = std::make_unique<Proxy>(uri_, config_);
    ASSERT_EQ(bystander_->call<int>("add", 1, 1), 2);
  }
  // The daemon still serves its other clients.
  void expect_still_serving() { EXPECT_EQ(bystander_->call<int>("add", 2, 3), 5); }

  std::string connect_message(std::uint16_t serializer_id = 1) {
    Message m;
    m.type = MessageType::connect;
    m.serializer_id = serializer_id;
    m.payload =
        serpent_serializer().encode(Value::dict({{"handshake", "hello"}, {"object", "svc"}}));
    return encode_message(m);
  }
  // Reads one message from raw bytes.
  static Message parse(const std::string& bytes) {
    const Header h =
        parse_header(std::string_view(bytes).substr(0, header_size(detect_protocol(bytes))), 0);
    return decode_body(h, std::string_view(bytes).substr(header_size(h.protocol), h.body_size()));
  }
  static std::string connect_fail_text(const std::string& bytes) {
    const Message m = parse(bytes);
    EXPECT_EQ(m.type, MessageType::connectfail);
    return std::string(marshal_serializer().decode(m.payload).as_str());
  }

  Config config_;
  std::unique_ptr<Daemon> daemon_;
  Uri uri_;
  int port_ = 0;
  std::unique_ptr<Proxy> bystander_;
};

TEST_F(TransportTest, AnswersGarbageWithConnectFailAndCloses) {
  RawClient c(port_);
  c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string reply = c.read_until_closed();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(connect_fail_text(reply), "invalid data");
  expect_still_serving();
}

TEST_F(TransportTest, AnswersAWrongProtocolVersionWithConnectFail) {
  std::string m = connect_message();
  m[4] = 0x01;
  m[5] = static_cast<char>(0xf5);  // 501
  RawClient c(port_);
  c.send(m);
  const std::string reply = c.read_until_closed();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(connect_fail_text(reply), "invalid protocol version: 501");
  expect_still_serving();
}

TEST_F(TransportTest, RefusesAHeaderAnnouncingFourGigabytesBeforeReadingIt) {
  std::string m = connect_message();
  for (int i = 12; i < 16; ++i)
    m[static_cast<std::size_t>(i)] = static_cast<char>(0xff);  // data size
  RawClient c(port_);
  c.send(m.substr(0, 40));
  const std::string reply = c.read_until_closed();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(connect_fail_text(reply), "message too large (4294967295, max=1073741824)");
  expect_still_serving();
}

TEST_F(TransportTest, RefusesAFirstMessageThatIsNotConnect) {
  Message m;
  m.type = MessageType::invoke;
  m.payload = "x";
  RawClient c(port_);
  c.send(encode_message(m));
  const std::string reply = c.read_until_closed();
  EXPECT_EQ(connect_fail_text(reply), "invalid msg type 4 received (expected: 1)");
}

// Pyro4's daemon answers a protocol 48 handshake with the metadata (as lists) only when the
// client set FLAGS_META_ON_CONNECT; otherwise with the bare handshake response.
TEST_F(TransportTest, AnswersAPyro4HandshakeWithMetadataOnlyWhenAsked) {
  for (const bool ask : {true, false}) {
    Message m;
    m.protocol = protocol_48;
    m.type = MessageType::connect;
    m.serializer_id = 1;  // serpent in Pyro4's numbering too
    if (ask) m.flags = flags::meta_on_connect;
    m.payload =
        serpent_serializer().encode(Value::dict({{"handshake", "hello"}, {"object", "svc"}}));
    RawClient c(port_);
    c.send(encode_message(m));
    const Message reply = parse(c.read_until_closed(std::chrono::milliseconds(300)));
    EXPECT_EQ(reply.type, MessageType::connectok);
    EXPECT_EQ(reply.protocol, protocol_48);
    EXPECT_EQ((reply.flags & flags::meta_on_connect) != 0, ask);
    const Value payload = serpent_serializer().decode(reply.payload);
    if (ask) {
      EXPECT_TRUE(identical(payload.at("handshake"), Value("hello")));
      ASSERT_TRUE(payload.at("meta").at("methods").is_list());
      EXPECT_EQ(payload.at("meta").at("methods").size(), 2u);
    } else {
      EXPECT_TRUE(identical(payload, Value("hello")));
    }
  }
  expect_still_serving();
}

// A Pyro4 proxy with METADATA off sends {"handshake": H} alone; Pyro4's daemon looks for
// "object" only when the metadata flag asks for it.
TEST_F(TransportTest, AcceptsAPyro4HandshakeWithoutObjectWhenNoMetadataIsAsked) {
  Message m;
  m.protocol = protocol_48;
  m.type = MessageType::connect;
  m.serializer_id = 2;  // json in Pyro4's numbering
  m.payload = json_serializer().encode(Value::dict({{"handshake", "hi"}}));
  RawClient c(port_);
  c.send(encode_message(m));
  const Message reply = parse(c.read_until_closed(std::chrono::milliseconds(300)));
  EXPECT_EQ(reply.type, MessageType::connectok);
  EXPECT_TRUE(identical(json_serializer().decode(reply.payload), Value("hello")));
  m.flags = flags::meta_on_connect;  // now "object" is needed
  RawClient asking(port_);
  asking.send(encode_message(m));
  const Message refused = parse(asking.read_until_closed());
  EXPECT_EQ(refused.type, MessageType::connectfail);
  EXPECT_TRUE(identical(json_serializer().decode(refused.payload), Value("'object'")));
}

TEST_F(TransportTest, ClosesWithoutReplyOnAnUnknownSerializer) {
  RawClient c(port_);
  c.send(connect_message(99));
  EXPECT_EQ(c.read_until_closed(), "");
  EXPECT_TRUE(c.closed());
  expect_still_serving();
}

TEST_F(TransportTest, ClosesSilentlyOnGarbageAfterTheHandshake) {
  RawClient c(port_);
  c.send(connect_message());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  c.send("garbage garbage garbage garbage garbage garbage");
  const std::string got = c.read_until_closed();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(parse(got).type, MessageType::connectok);  // only the handshake's reply
  EXPECT_EQ(got.size(), header_size(protocol_502) + parse_header(got.substr(0, 40), 0).body_size());
  expect_still_serving();
}

TEST_F(TransportTest, SurvivesAClientKilledInTheMiddleOfACall) {
  {
    Proxy victim(uri_, config_);
    victim.set_timeout(0.1);
    EXPECT_THROW(victim.call("slow", 0.5), TimeoutError);  // the proxy closes; the call runs on
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the reply goes to a closed socket
  expect_still_serving();
}

// Pyro4's Daemon._handshake answers a CONNECT whose HMAC does not check out with a CONNECTFAIL
// carrying Message.recv's text (marshal, seq 0), signed with the daemon's own key; the Pyro4
// client then raises CommunicationError with that reason instead of "not enough data".
TEST_F(TransportTest, AnswersAPyro4HandshakeWithABadHmacWithConnectFail) {
  Config keyed_config = config_;
  keyed_config.hmac_key = "secret";
  Daemon keyed(DaemonOptions{}, keyed_config);
  const Uri keyed_uri = keyed.expose(std::make_shared<Service>(), "svc",
                                     Exposed<Service>().method("add", &Service::add));
  keyed.start();
  const std::string wrong = "wrong";
  const std::string secret = "secret";
  struct Case {
    int port;
    const std::string* client_key;
    std::optional<std::string> daemon_key;
    std::string text;
  };
  const Case cases[] = {
      {static_cast<int>(*keyed_uri.port()), nullptr, secret, "hmac key config not symmetric"},
      {static_cast<int>(*keyed_uri.port()), &wrong, secret, "message hmac mismatch"},
      {port_, &secret, std::nullopt, "hmac key config not symmetric"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Message m;
    m.protocol = protocol_48;
    m.type = MessageType::connect;
    m.serializer_id = 1;
    m.seq = 7;
    m.flags = flags::meta_on_connect;
    m.payload =
        serpent_serializer().encode(Value::dict({{"handshake", "hello"}, {"object", "svc"}}));
    RawClient client(c.port);
    client.send(encode_message(m, {.hmac_key = c.client_key}));
    const std::string bytes = client.read_until_closed();
    EXPECT_TRUE(client.closed());
    ASSERT_GE(bytes.size(), header_size(protocol_48));
    const Header h = parse_header(std::string_view(bytes).substr(0, header_size(protocol_48)), 0);
    // decoding with the daemon's key checks the reply's signature (or its absence)
    const Message reply =
        decode_body(h, std::string_view(bytes).substr(header_size(protocol_48)), c.daemon_key);
    EXPECT_EQ(reply.type, MessageType::connectfail);
    EXPECT_EQ(reply.seq, 0);
    EXPECT_EQ(reply.serializer_id, 3);  // marshal in Pyro4's numbering
    EXPECT_EQ(marshal_serializer().decode(reply.payload).as_str(), c.text);
  }
  Proxy good(keyed_uri, keyed_config);
  EXPECT_EQ(good.call<int>("add", 2, 5), 7);
  expect_still_serving();
}

// After the handshake a request with a bad HMAC gets no reply: Pyro4's socket servers catch the
// SecurityError of Daemon.handleRequest and close the connection.
TEST_F(TransportTest, ClosesSilentlyOnABadHmacAfterThePyro4Handshake) {
  Config keyed_config = config_;
  keyed_config.hmac_key = "secret";
  Daemon keyed(DaemonOptions{}, keyed_config);
  const Uri keyed_uri = keyed.expose(std::make_shared<Service>(), "svc",
                                     Exposed<Service>().method("add", &Service::add));
  keyed.start();
  const std::string secret = "secret";
  const std::string wrong = "wrong";
  Message connect;
  connect.protocol = protocol_48;
  connect.type = MessageType::connect;
  connect.serializer_id = 1;
  connect.payload =
      serpent_serializer().encode(Value::dict({{"handshake", "hello"}, {"object", "svc"}}));
  RawClient client(static_cast<int>(*keyed_uri.port()));
  client.send(encode_message(connect, {.hmac_key = &secret}));
  Message invoke;
  invoke.protocol = protocol_48;
  invoke.type = MessageType::invoke;
  invoke.serializer_id = 1;
  invoke.seq = 1;
  invoke.payload = serpent_serializer().encode(Value::tuple(
      {Value("svc"), Value("add"), Value::tuple({Value(1), Value(2)}), Value(Dict{})}));
  client.send(encode_message(invoke, {.hmac_key = &wrong}));
  const std::string bytes = client.read_until_closed();
  EXPECT_TRUE(client.closed());
  ASSERT_GE(bytes.size(), header_size(protocol_48));
  const Header h = parse_header(std::string_view(bytes).substr(0, header_size(protocol_48)), 0);
  EXPECT_EQ(h.type, static_cast<std::uint16_t>(MessageType::connectok));
  EXPECT_EQ(bytes.size(), header_size(protocol_48) + h.body_size());  // and nothing after it
  Proxy good(keyed_uri, keyed_config);
  EXPECT_EQ(good.call<int>("add", 2, 5), 7);
}

TEST(Transport, ClosesIdleAndStalledConnectionsAfterCommTimeout) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  c.commtimeout = 0.3;
  Daemon d(DaemonOptions{}, c);
  const Uri u =
      d.expose(std::make_shared<Service>(), "svc", Exposed<Service>().method("add", &Service::add));
  d.start();
  // a client that sends half a header and stalls
  RawClient stalled(static_cast<int>(*u.port()));
  stalled.send(std::string("PYRO\x01\xf6\x01\x01", 8));
  const auto start = std::chrono::steady_clock::now();
  stalled.read_until_closed(std::chrono::seconds(5));
  EXPECT_TRUE(stalled.closed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // an idle, handshaken proxy loses its connection too: its next call fails like Pyro's (no
  // MAX_RETRIES), the one after reconnects
  Proxy p(u, c);
  EXPECT_EQ(p.call<int>("add", 1, 2), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_THROW(p.call<int>("add", 2, 2), ConnectionClosedError);
  EXPECT_EQ(p.call<int>("add", 2, 2), 4);
}

TEST(Transport, ConnectionReportsPyrosReceiveErrors) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Connection conn = Connection::adopt(fds[0], true, SocketOptions{});
  conn.set_timeout(0.1);
  try {
    conn.receive(0);
    FAIL();
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(e.what(), "receiving: timeout");
  }
  ::send(fds[1], "PYRO", 4, 0);
  ::close(fds[1]);
  try {
    conn.receive(0);
    FAIL();
  } catch (const ConnectionClosedError& e) {
    EXPECT_STREQ(e.what(), "receiving: not enough data");
  }
}

}  // namespace
}  // namespace pyro
