// Proxy: connection life cycle, timeouts, connection loss, automatic retry and reconnect,
// ownership, and every transport (TCP v4/v6, Unix socket, socketpair). Servers are C++ daemons
// in-process, or the pyro-echoserver program in a child process when it must be killed.
#include "pyro/client.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "pyro/server.hpp"
#include "support/error_of.hpp"
#include "support/process.hpp"

namespace pyro {
namespace {

using testing::error_of;

struct Service {
  int add(int a, int b) { return a + b; }
  std::string slow(double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    return "done";
  }
};

Exposed<Service> service_exposure() {
  return Exposed<Service>("Service")
      .method("add", &Service::add, {"a", "b"})
      .method("slow", &Service::slow);
}

Config local_config() {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  return c;
}

TEST(Proxy, ConnectsLazilyAndReleases) {
  const Config c = local_config();
  Daemon d(DaemonOptions{}, c);
  const Uri u = d.expose(std::make_shared<Service>(), "svc", service_exposure());
  d.start();
  Proxy p(u, c);
  EXPECT_FALSE(p.connected());
  EXPECT_EQ(p.call<int>("add", 1, 2), 3);
  EXPECT_TRUE(p.connected());
  p.release();
  EXPECT_FALSE(p.connected());
  EXPECT_EQ(p.call<int>("add", 2, 2), 4);  // connects again
  EXPECT_FALSE(p.bind());
}

TEST(Proxy, SendsBatchesAndStopsAtTheFirstError) {
  const Config c = local_config();
  Daemon d(DaemonOptions{}, c);
  auto service = std::make_shared<Service>();
  const Uri u = d.expose(service, "svc", service_exposure().method("fail", [](Service&) -> int {
    throw ValueError("batch stop");
  }));
  d.start();
  Proxy p(u, c);
  BatchProxy batch(p);
  batch.add("add", 1, 2).add("add", 3, kw("b", 4));
  EXPECT_EQ(batch.size(), 2u);
  BatchResults results = batch();
  EXPECT_EQ(batch.size(), 0u);  // cleared for reuse
  EXPECT_EQ(results.next_as<int>(), 3);
  EXPECT_EQ(results.next_as<int>(), 7);
  EXPECT_FALSE(results.next().has_value());

  batch.add("add", 1, 1).add("fail").add("add", 2, 2);
  std::vector<int> seen;
  try {
    for (const Value& r : batch())
      seen.push_back(r.as_int());
    ADD_FAILURE() << "the failing call did not raise";
  } catch (const RemoteError& e) {  // raised as Python's builtins.ValueError
    EXPECT_EQ(e.class_name(), "builtins.ValueError");
    EXPECT_STREQ(e.what(), "batch stop");
    EXPECT_FALSE(e.remote_traceback().empty());
  }
  EXPECT_EQ(seen, std::vector<int>{2});

  // Unknown names are checked by the daemon, which answers with Pyro's error as the element.
  batch.add("nosuch");
  try {
    batch().next();
    ADD_FAILURE() << "an unknown method in a batch did not raise";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.class_name(), "builtins.AttributeError");
  }

  // A oneway batch returns at once; the next call on the connection still works.
  batch.add("slow", 0.2).add("add", 5, 5);
  const auto start = std::chrono::steady_clock::now();
  batch.run_oneway();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_EQ(p.call<int>("add", 1, 2), 3);
}

TEST(Proxy, RefusedConnectionsGivePyrosMessage) {
  Proxy p("PYRO:x@127.0.0.1:1", local_config());
  EXPECT_EQ(error_of([&] { p.bind(); }),
            "cannot connect to ('127.0.0.1', 1): [Errno 111] Connection refused");
  EXPECT_THROW(p.bind(), CommunicationError);
}

// A daemon of the other Pyro generation answers a CONNECT with a CONNECTFAIL in its own protocol,
// whose marshal id would read as json here (and a keyed Pyro4 daemon signs it): the proxy refuses
// the reply by its version before anything else, with the text of the Pyro whose protocol it
// speaks (as Pyro5's and Pyro4's proxies do).
TEST(Proxy, RefusesAReplyInTheOtherProtocol) {
  struct Case {
    int mine;
    std::uint16_t theirs;
    const char* theirs_says;
    std::optional<std::string> their_key;
    const char* error;
  };
  const char* pyro4_says = "invalid data or unsupported protocol version";
  for (const Case& t : {Case{502, protocol_48, pyro4_says, {}, "invalid protocol version: 48"},
                        Case{502, protocol_48, pyro4_says, "key", "invalid protocol version: 48"},
                        Case{48, protocol_502, "invalid protocol version: 48", {}, pyro4_says}}) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    std::thread peer([&] {
      const int client = ::accept(listener, nullptr, nullptr);
      char request[4096];
      if (::recv(client, request, sizeof request, 0) > 0) {
        const std::string reply =
            encode_message(connect_fail_for_bad_input(t.theirs, t.theirs_says),
                           {.hmac_key = t.their_key ? &*t.their_key : nullptr});
        EXPECT_EQ(::send(client, reply.data(), reply.size(), 0),
                  static_cast<ssize_t>(reply.size()));
      }
      ::close(client);
    });
    Config c = local_config();
    c.protocol_version = t.mine;
    Proxy p("PYRO:svc@127.0.0.1:" + std::to_string(ntohs(address.sin_port)), c);
    try {
      p.bind();
      ADD_FAILURE() << "bind() succeeded";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(typeid(e), typeid(ProtocolError));  // not a SerializeError from a wrong decoder
      EXPECT_EQ(std::string(e.what()), t.error);
    }
    EXPECT_FALSE(p.connected());
    peer.join();
    ::close(listener);
  }
}

TEST(Proxy, TimesOutAndRecoversOnTheNextCall) {
  const Config c = local_config();
  Daemon d(DaemonOptions{}, c);
  const Uri u = d.expose(std::make_shared<Service>(), "svc", service_exposure());
  d.start();
  Proxy p(u, c);
  p.set_timeout(0.2);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { p.call("slow", 2.0); }), "receiving: timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(p.connected());  // Pyro closes after a communication error
  EXPECT_EQ(p.call<int>("add", 1, 1), 2);
}

TEST(Proxy, ReportsALostConnectionAndReconnectsToARestartedServer) {
  testing::raise_fd_limit();
  const int port = testing::free_port();
  const std::string uri = "PYRO:test.echoserver@127.0.0.1:" + std::to_string(port);
  auto server = std::make_unique<testing::ChildProcess>(
      PYRO_ECHOSERVER,
      std::vector<std::string>{"-H", "127.0.0.1", "-p", std::to_string(port), "-q"});
  ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
  Proxy p(uri, local_config());
  EXPECT_EQ(p.call<std::string>("echo", "hi"), "hi");
  // kill the server in the middle of a slow call
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server->kill(SIGKILL);
  });
  EXPECT_THROW(p.call("slow"), ConnectionClosedError);
  killer.join();
  EXPECT_THROW(p.call("echo", "x"), CommunicationError);  // nobody listens
  server = std::make_unique<testing::ChildProcess>(
      PYRO_ECHOSERVER,
      std::vector<std::string>{"-H", "127.0.0.1", "-p", std::to_string(port), "-q"});
  ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
  EXPECT_EQ(p.call<std::string>("echo", "again"), "again");  // transparently reconnected
}

TEST(Proxy, RetriesACallOnAFreshConnectionWithMaxRetries) {
  testing::raise_fd_limit();
  const int port = testing::free_port();
  const std::string uri = "PYRO:test.echoserver@127.0.0.1:" + std::to_string(port);
  auto server = std::make_unique<testing::ChildProcess>(
      PYRO_ECHOSERVER,
      std::vector<std::string>{"-H", "127.0.0.1", "-p", std::to_string(port), "-q"});
  ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
  Proxy p(uri, local_config());
  EXPECT_EQ(p.call<std::string>("echo", "1"), "1");
  // the server goes away and comes back while the proxy still holds its old connection
  server->kill(SIGKILL);
  server = std::make_unique<testing::ChildProcess>(
      PYRO_ECHOSERVER,
      std::vector<std::string>{"-H", "127.0.0.1", "-p", std::to_string(port), "-q"});
  ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
  p.set_max_retries(1);
  EXPECT_EQ(p.call<std::string>("echo", "2"), "2");  // the first attempt fails, the retry works
}

TEST(Proxy, ReconnectGivesUpAfterItsTries) {
  Proxy p("PYRO:x@127.0.0.1:1", local_config());
  EXPECT_EQ(error_of([&] { p.reconnect(1); }), "failed to reconnect");
  EXPECT_THROW(p.reconnect(1), ConnectionClosedError);
}

TEST(Proxy, BelongsToOneThreadUntilHandedOver) {
  const Config c = local_config();
  Daemon d(DaemonOptions{}, c);
  const Uri u = d.expose(std::make_shared<Service>(), "svc", service_exposure());
  d.start();
  Proxy p(u, c);
  std::string error;
  std::thread([&] { error = error_of([&] { p.call("add", 1, 2); }); }).join();
  EXPECT_EQ(
      error,
      "the calling thread is not the owner of this proxy, create a new proxy in this thread or "
      "transfer ownership.");
  int result = 0;
  std::thread([&] {
    p.claim_ownership();
    result = p.call<int>("add", 1, 2);
  }).join();
  EXPECT_EQ(result, 3);
  Proxy moved = std::move(p);  // moving hands it to whichever thread uses it next
  std::thread([&] { result = moved.call<int>("add", 2, 2); }).join();
  EXPECT_EQ(result, 4);
}

TEST(Proxy, WorksOverIpv6) {
  Config c = local_config();
  c.host = "::1";
  try {
    Daemon d(DaemonOptions{}, c);
    const Uri u = d.expose(std::make_shared<Service>(), "svc", service_exposure());
    EXPECT_EQ(*u.host(), "::1");
    EXPECT_TRUE(u.str().find("@[::1]:") != std::string::npos);
    d.start();
    Proxy p(u, c);
    EXPECT_EQ(p.call<int>("add", 3, 4), 7);
    EXPECT_TRUE(p.local_address().starts_with("[::1]:"));
  } catch (const CommunicationError& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
}

TEST(Proxy, WorksOverUnixSockets) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("pyrocpp-test-" + std::to_string(::getpid()) + ".sock");
  {
    DaemonOptions o;
    o.unixsocket = path.string();
    Daemon d(o, local_config());
    const Uri u = d.expose(std::make_shared<Service>(), "svc", service_exposure());
    EXPECT_EQ(u.str(), "PYRO:svc@./u:" + path.string());
    d.start();
    Proxy p(u, local_config());
    EXPECT_EQ(p.call<int>("add", 5, 6), 11);
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // removed when the daemon closes
}

TEST(Proxy, WorksOverAnAlreadyConnectedSocketPair) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    DaemonOptions o;
    o.connected_socket = fds[0];
    Daemon d(o, local_config());
    d.expose(std::make_shared<Service>(), "svc", service_exposure());
    EXPECT_EQ(d.location(), "./u:<<not-bound>>");
    d.start();
    Proxy p = Proxy::on_connected_socket(fds[1], "svc", local_config());
    EXPECT_EQ(p.call<int>("add", 20, 22), 42);
    EXPECT_TRUE(p.methods().contains("add"));
  }
  // the sockets belong to the user: still open
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), 0);
  EXPECT_EQ(::fcntl(fds[1], F_GETFD), 0);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace pyro

namespace pyro {
namespace {

// Ten thousand connected, idle proxies hold no thread of the daemon: it still answers a new
// client (the memory they cost is measured by bench/idle_connections).
TEST(Proxy, TenThousandIdleProxiesDoNotStopTheDaemon) {
  testing::raise_fd_limit();
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  const std::size_t wanted = 10000;
  if (r.rlim_cur < wanted + 200)
    GTEST_SKIP() << "open-files limit " << r.rlim_cur << " is below " << wanted + 200;
  const int port = testing::free_port();
  testing::ChildProcess server(
      PYRO_ECHOSERVER,
      std::vector<std::string>{"-H", "127.0.0.1", "-p", std::to_string(port), "-q"});
  ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
  const Uri uri("PYRO:test.echoserver@127.0.0.1:" + std::to_string(port));
  std::vector<Proxy> idle;
  idle.reserve(wanted);
  for (std::size_t i = 0; i < wanted; ++i) {
    idle.emplace_back(uri, local_config());
    idle.back().bind();  // connected and handshaken, then left idle
  }
  Proxy fresh(uri, local_config());
  fresh.set_timeout(10);
  EXPECT_EQ(fresh.call<std::string>("echo", "still here"), "still here");
  EXPECT_EQ(idle.front().call<std::string>("echo", "first"), "first");
  EXPECT_EQ(idle.back().call<std::string>("echo", "last"), "last");
}

}  // namespace
}  // namespace pyro
