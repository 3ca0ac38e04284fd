// The name server end to end: its remote methods as Pyro5 and Pyro4 clients see them (results,
// types and errors), PYRONAME/PYROMETA resolution in proxies, locate_ns and broadcast
// discovery on loopback, autoclean, bad input, and durability of the sql storage across a
// SIGKILL of pyro-ns.
#include "pyro/naming.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "pyro/client.hpp"
#include "pyro/locate.hpp"
#include "support/error_of.hpp"
#include "support/process.hpp"

namespace pyro {
namespace {

using namespace std::chrono_literals;

using testing::error_of;

template <class F>
std::string class_of(F f) {
  try {
    f();
  } catch (const RemoteError& e) {
    return e.class_name();
  } catch (const NamingError&) {
    return "NamingError";
  } catch (const PyroError&) {
    return "PyroError";
  } catch (const std::exception& e) {
    return "other: " + std::string(e.what());
  }
  return "<no error>";
}

Config local_config(int protocol = 502) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  c.ns_host = "127.0.0.1";
  c.protocol_version = protocol;
  c.broadcast_addrs = {"127.0.0.1"};
  return c;
}

// A name server on 127.0.0.1, a free port, no broadcast responder.
struct LocalNameServer {
  explicit LocalNameServer(const Config& c = local_config(), std::string storage = "memory",
                           NameServerOptions extra = {}) {
    extra.host = "127.0.0.1";
    extra.port = 0;
    extra.broadcast = false;
    extra.storage = std::move(storage);
    ns = std::make_unique<NameServerDaemon>(extra, c);
    ns->start();
  }
  Config client_config(int protocol = 502) const {
    Config c = local_config(protocol);
    c.ns_port = static_cast<int>(ns->uri().port().value());
    return c;
  }
  std::unique_ptr<NameServerDaemon> ns;
};

struct Greeter {
  std::string name;
  std::string greet(const std::string& who) { return name + " greets " + who; }
};

Exposed<Greeter> greeter_exposure() {
  return Exposed<Greeter>("Greeter").method("greet", &Greeter::greet, {"who"});
}

TEST(NameServer, RegistersLooksUpAndListsWithPyrosTypes) {
  LocalNameServer server;
  Proxy ns(server.ns->uri(), server.client_config());
  EXPECT_EQ(ns.call<int>("count"), 1);  // its own registration
  ns.call("register", "a.b", "PYRO:x@localhost:1234");
  ns.call("register", "a.c",
          Value::object(std::make_shared<UriObject>(Uri("PYRO:y@localhost:1234"))),
          kw("metadata", Value::list({"m1", "m2"})));
  ns.call("register", "b.x", "PYRO:z@localhost:1234", kw("metadata", Value::list({})));
  EXPECT_EQ(ns.call<int>("count"), 4);

  const Value u = ns.call("lookup", "a.b");
  ASSERT_TRUE(u.is_object());
  EXPECT_EQ(dynamic_cast<const UriObject&>(*u.as_object()).uri().str(), "PYRO:x@localhost:1234");
  const Value with = ns.call("lookup", "a.c", kw("return_metadata", true));
  ASSERT_TRUE(with.is_tuple());
  EXPECT_TRUE(with[1].is_set());
  EXPECT_TRUE(identical(with[1], Value::set({"m1", "m2"})) ||
              identical(with[1], Value::set({"m2", "m1"})));

  // URIs come back as strings from list(); tags as set, or frozenset for "no metadata given"
  // (marshal keeps set and frozenset apart; serpent sends an empty one as "()")
  Config marshal = server.client_config();
  marshal.serializer = "marshal";
  const Value all = Proxy(server.ns->uri(), marshal).call("list", kw("return_metadata", true));
  EXPECT_EQ(all.as_dict().size(), 4u);
  EXPECT_TRUE(all.at("a.b")[1].is_frozenset());
  EXPECT_TRUE(all.at("b.x")[1].is_set());  // Pyro5 keeps an empty set as given
  EXPECT_TRUE(identical(all.at("a.b")[0], Value("PYRO:x@localhost:1234")));
  const Value prefixed = ns.call("list", kw("prefix", "a."));
  EXPECT_TRUE(identical(
      prefixed, Value::dict({{"a.b", "PYRO:x@localhost:1234"}, {"a.c", "PYRO:y@localhost:1234"}})));
  const Value matched = ns.call("list", kw("regex", "a\\.[bx]"));
  EXPECT_TRUE(identical(matched, Value::dict({{"a.b", "PYRO:x@localhost:1234"}})));
  // re.match: anchored at the start only
  EXPECT_EQ(ns.call("list", kw("regex", "b")).as_dict().size(), 1u);
  EXPECT_EQ(ns.call("list", kw("regex", ".*[xc]")).as_dict().size(), 2u);

  const Value yp =
      ns.call("yplookup", kw("meta_any", Value::list({"m2", "q"})), kw("return_metadata", false));
  EXPECT_TRUE(identical(yp, Value::dict({{"a.c", "PYRO:y@localhost:1234"}})));
  EXPECT_EQ(ns.call("yplookup", kw("meta_all", Value::list({"m1", "q"}))).as_dict().size(), 0u);
  EXPECT_EQ(ns.call("yplookup").as_dict().size(), 0u);

  ns.call("set_metadata", "a.b", Value::set({"t"}));
  EXPECT_EQ(ns.call("yplookup", kw("meta_all", Value::list({"t"}))).as_dict().size(), 1u);

  EXPECT_EQ(ns.call<int>("remove", "nope"), 0);
  EXPECT_EQ(ns.call<int>("remove", "Pyro.NameServer"), 0);
  EXPECT_EQ(ns.call<int>("remove", kw("prefix", "a.")), 2);
  EXPECT_EQ(ns.call<int>("remove", kw("regex", ".*")), 1);  // all but Pyro.NameServer
  EXPECT_EQ(ns.call<int>("count"), 1);
  EXPECT_TRUE(ns.call("ping").is_none());
}

TEST(NameServer, AnswersBadCallsWithPyrosErrorsAndKeepsServing) {
  LocalNameServer server;
  Proxy ns(server.ns->uri(), server.client_config());
  ns.call("register", "a", "PYRO:x@localhost:1");
  EXPECT_EQ(error_of([&] { ns.call("lookup", "zz"); }), "unknown name: zz");
  EXPECT_EQ(class_of([&] { ns.call("lookup", "zz"); }), "NamingError");
  EXPECT_EQ(error_of([&] { ns.call("register", "a", "PYRO:y@localhost:1", true); }),
            "name already registered: a");
  EXPECT_EQ(error_of([&] { ns.call("register", "a", 12); }),
            "only URIs or strings can be registered");
  EXPECT_EQ(class_of([&] { ns.call("register", "a", 12); }), "builtins.TypeError");
  EXPECT_EQ(error_of([&] { ns.call("register", 5, "PYRO:y@localhost:1"); }), "name must be a str");
  EXPECT_EQ(error_of([&] { ns.call("register", "a", "nonsense"); }), "invalid uri");
  EXPECT_EQ(error_of([&] { ns.call("register", "a", "PYRO:y@localhost:1", false, "tag"); }),
            "metadata should not be a str, but another iterable (set, list, etc)");
  EXPECT_EQ(error_of([&] { ns.call("register", "a", "PYRO:y@localhost:1", false, 5); }),
            "'int' object is not iterable");
  EXPECT_EQ(error_of([&] { ns.call("set_metadata", "zz", Value::list({})); }), "unknown name: zz");
  EXPECT_EQ(error_of([&] { ns.call("list", kw("prefix", "a"), kw("regex", "a")); }),
            "you can only filter on one thing at a time");
  EXPECT_EQ(class_of([&] { ns.call("list", kw("prefix", "a"), kw("regex", "a")); }),
            "builtins.ValueError");
  EXPECT_EQ(error_of([&] {
              ns.call("yplookup", kw("meta_all", Value::list({"a"})),
                      kw("meta_any", Value::list({"b"})));
            }),
            "you can't use meta_all or meta_any at the same time");
  EXPECT_EQ(error_of([&] { ns.call("yplookup", kw("meta_all", "a")); }),
            "metadata_all should not be a str, but another iterable (set, list, etc)");
  EXPECT_EQ(error_of([&] { ns.call("list", kw("regex", "(")).size(); }).rfind("invalid regex: ", 0),
            0u);
  EXPECT_EQ(error_of([&] { ns.call("lookup"); }),
            "NameServer.lookup() missing 1 required positional argument: 'name'");
  EXPECT_EQ(error_of([&] { ns.call("lookup", "a", true, 3); }),
            "NameServer.lookup() takes from 2 to 3 positional arguments but 4 were given");
  EXPECT_EQ(error_of([&] { ns.call("lookup", "a", kw("bogus", 1)); }),
            "NameServer.lookup() got an unexpected keyword argument 'bogus'");
  EXPECT_EQ(ns.call<int>("count"), 2);  // still serving, nothing changed
}

TEST(NameServer, AnswersPyro4ClientsWithPyro4sApi) {
  LocalNameServer server;
  Proxy ns(server.ns->uri(), server.client_config(48));
  ns.set_serializer("serpent");
  ns.call("register", "a", "PYRO:x@localhost:1", kw("metadata", Value::list({"t1", "t2"})));
  ns.call("register", "b", "PYRO:y@localhost:1", kw("metadata", Value::list({})));
  const Value with = ns.call("lookup", "a", kw("return_metadata", true));
  EXPECT_TRUE(with[1].is_list());  // Pyro4: metadata as a list
  EXPECT_EQ(with[1].size(), 2u);
  const Value all = ns.call("list", kw("return_metadata", true));
  EXPECT_TRUE(all.at("b")[1].is_list());
  EXPECT_TRUE(identical(ns.call("list", kw("metadata_all", Value::list({"t1", "t2"}))),
                        Value::dict({{"a", "PYRO:x@localhost:1"}})));
  EXPECT_TRUE(identical(ns.call("list", kw("metadata_any", Value::list({"t2", "zz"}))),
                        Value::dict({{"a", "PYRO:x@localhost:1"}})));
  EXPECT_EQ(
      error_of([&] { ns.call("list", kw("prefix", ""), kw("metadata_any", Value::list({}))); }),
      "you can only filter on one thing at a time");
  // Pyro4's remove(name) goes on with the prefix when the name is absent
  EXPECT_EQ(ns.call<int>("remove", "zz", "a"), 1);

  NameServerProxy typed(ns.uri(), server.client_config(48));
  EXPECT_EQ(typed.yplookup_all({"t1"}).size(), 0u);
  typed.register_name("c", Uri("PYRO:c@localhost:1"), false, std::set<std::string>{"q"});
  EXPECT_EQ(typed.yplookup_any({"q"}).at("c").metadata, std::set<std::string>{"q"});
  EXPECT_EQ(typed.lookup_with_metadata("c").second, std::set<std::string>{"q"});
}

TEST(NameServerProxy, WrapsEveryMethod) {
  LocalNameServer server;
  NameServerProxy ns(server.ns->uri(), server.client_config());
  ns.ping();
  ns.register_name("x.one", Uri("PYRO:one@localhost:5"), true, std::set<std::string>{"k"});
  ns.register_name("x.two", Uri("PYRO:two@localhost:5"));
  EXPECT_EQ(ns.count(), 3);
  EXPECT_EQ(ns.lookup("x.one").str(), "PYRO:one@localhost:5");
  EXPECT_EQ(ns.lookup_with_metadata("x.one").second, std::set<std::string>{"k"});
  EXPECT_THROW(ns.register_name("x.one", Uri("PYRO:z@localhost:5"), true), NamingError);
  EXPECT_EQ(ns.list(std::string("x.")).size(), 2u);
  EXPECT_EQ(ns.list_with_metadata(std::nullopt, std::string("x\\.o")).at("x.one").metadata,
            std::set<std::string>{"k"});
  EXPECT_EQ(ns.yplookup_all({"k"}).size(), 1u);
  ns.set_metadata("x.two", {"k", "l"});
  EXPECT_EQ(ns.yplookup_any({"l"}).size(), 1u);
  EXPECT_EQ(ns.remove("x.one"), 1);
  EXPECT_EQ(ns.remove_prefix("x."), 1);
  EXPECT_EQ(ns.remove_regex(".*"), 0);
  EXPECT_THROW(ns.lookup("x.one"), NamingError);
}

TEST(Resolve, ProxiesFollowPyronameAndPyrometaAndReresolveOnReconnect) {
  LocalNameServer server;
  const Config c = server.client_config();
  NameServerProxy ns(server.ns->uri(), c);

  auto first = std::make_unique<Daemon>(DaemonOptions{}, c);
  ns.register_name(
      "greeter", first->expose(std::make_shared<Greeter>(Greeter{"first"}), "", greeter_exposure()),
      false, std::set<std::string>{"kind:greeter"});
  first->start();

  Proxy p("PYRONAME:greeter", c);
  EXPECT_EQ(p.call<std::string>("greet", "you"), "first greets you");
  EXPECT_EQ(p.uri().str(), "PYRONAME:greeter");  // stays magic without bind()
  Proxy meta("PYROMETA:kind:greeter@127.0.0.1:" + std::to_string(c.ns_port), c);
  EXPECT_EQ(meta.call<std::string>("greet", "meta"), "first greets meta");

  // the object moves: a new daemon, a new registration; the proxy resolves again on reconnect
  first.reset();
  Daemon second(DaemonOptions{}, c);
  ns.register_name("greeter", second.expose(std::make_shared<Greeter>(Greeter{"second"}), "",
                                            greeter_exposure()));
  second.start();
  EXPECT_THROW(p.call("greet", "x"), CommunicationError);  // the old connection is gone
  EXPECT_EQ(p.call<std::string>("greet", "you"), "second greets you");

  Proxy bound("PYRONAME:greeter@127.0.0.1:" + std::to_string(c.ns_port), c);
  EXPECT_TRUE(bound.bind());
  EXPECT_EQ(bound.uri().protocol(), "PYRO");  // bind() keeps the resolved uri

  EXPECT_EQ(error_of([&] { Proxy("PYRONAME:nobody", c).bind(); }), "unknown name: nobody");
  EXPECT_EQ(error_of([&] { Proxy("PYROMETA:no.such.tag", c).bind(); }),
            "no registrations available with desired metadata properties {'no.such.tag'}");
  EXPECT_EQ(resolve(Uri("PYRO:x@h:1"), c).str(), "PYRO:x@h:1");
}

TEST(Resolve, RetriesALookupForNsLookupDelay) {
  LocalNameServer server;
  Config c = server.client_config();
  c.ns_lookup_delay = 3.0;
  std::thread late([&] {
    std::this_thread::sleep_for(300ms);
    NameServerProxy(server.ns->uri(), c).register_name("late", Uri("PYRO:late@localhost:9"));
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(resolve(Uri("PYRONAME:late"), c).str(), "PYRO:late@localhost:9");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  late.join();
  c.ns_lookup_delay = 0.5;
  EXPECT_THROW(resolve(Uri("PYRONAME:never"), c), NamingError);
}

TEST(LocateNs, FindsItDirectlyOrFailsWithPyrosMessage) {
  LocalNameServer server;
  const Config c = server.client_config();
  NameServerProxy found = locate_ns("", 0, false, c);  // NS_HOST is loopback: direct
  EXPECT_EQ(found.count(), 1);
  NameServerProxy by_host = locate_ns("127.0.0.1", c.ns_port, true, c);
  EXPECT_TRUE(by_host.proxy().connected());
  Config nowhere = c;
  nowhere.ns_port = testing::free_port();
  nowhere.ns_bcport = testing::free_port();
  nowhere.ns_host = "127.0.0.1";
  EXPECT_EQ(error_of([&] { locate_ns("", 0, false, nowhere); }), "Failed to locate the nameserver");
  EXPECT_EQ(error_of([&] { locate_ns("127.0.0.1", nowhere.ns_port, true, nowhere); }),
            "Failed to locate the nameserver");
}

// A UDP datagram to 127.0.0.1:port; the answer or "" after a bounded wait.
std::string ask_udp(int port, std::string_view request) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{0, 500000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  char buffer[200];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  ::close(fd);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

TEST(Broadcast, AnswersGetNsuriOnlyAndSubstitutesTheInterfaceForAnyAddress) {
  BroadcastServer bc(Uri("PYRO:Pyro.NameServer@0.0.0.0:9090"), "127.0.0.1", 0);
  ASSERT_GT(bc.port(), 0);
  EXPECT_EQ(bc.location(), "127.0.0.1:" + std::to_string(bc.port()));
  EXPECT_EQ(ask_udp(bc.port(), "GET_NSURI"), "PYRO:Pyro.NameServer@127.0.0.1:9090");
  // everything else is ignored, and the responder keeps answering
  EXPECT_EQ(ask_udp(bc.port(), "GET_NSURI "), "");
  EXPECT_EQ(ask_udp(bc.port(), std::string(100, '\xff')), "");
  EXPECT_EQ(ask_udp(bc.port(), ""), "");
  EXPECT_EQ(ask_udp(bc.port(), "GET_NSURI"), "PYRO:Pyro.NameServer@127.0.0.1:9090");

  BroadcastServer plain(Uri("PYRO:Pyro.NameServer@localhost:4444"), "127.0.0.1", 0);
  EXPECT_EQ(ask_udp(plain.port(), "GET_NSURI"), "PYRO:Pyro.NameServer@localhost:4444");
}

TEST(Broadcast, LocateNsDiscoversTheNameServer) {
  LocalNameServer server;
  BroadcastServer bc(server.ns->uri(), "127.0.0.1", 0);
  Config c = server.client_config();
  c.ns_host = "192.0.2.1";  // not loopback: discovery goes by broadcast first
  c.ns_bcport = bc.port();
  const auto found = discover_ns(bc.port(), 1.0, c);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->str(), server.ns->uri().str());
  NameServerProxy ns = locate_ns("", 0, true, c);
  EXPECT_FALSE(ns.proxy().connected());  // returned unconnected, as Pyro does
  EXPECT_EQ(ns.count(), 1);
  Proxy named("PYRONAME:Pyro.NameServer", c);
  EXPECT_EQ(named.call<int>("count"), 1);
}

TEST(Autoclean, RemovesRegistrationsWhoseDaemonIsGone) {
  Config c = local_config();
  c.ns_autoclean = 3;
  NameServerOptions o;
  o.autoclean_wakeup = 0.2;
  o.autoclean_unreachable = 0.5;
  LocalNameServer server(c, "memory", o);
  Config cc = server.client_config();
  NameServerProxy ns(server.ns->uri(), cc);
  auto gone = std::make_unique<Daemon>(DaemonOptions{}, cc);
  ns.register_name("gone", gone->expose(std::make_shared<Greeter>(), "g", greeter_exposure()));
  gone->start();
  Daemon alive(DaemonOptions{}, cc);
  ns.register_name("alive", alive.expose(std::make_shared<Greeter>(), "a", greeter_exposure()));
  alive.start();
  gone.reset();
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (ns.count() > 2 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(ns.list().count("gone"), 0u);
  EXPECT_EQ(ns.list().count("alive"), 1u);

  Config too_small = local_config();
  too_small.ns_autoclean = 1;
  EXPECT_EQ(error_of([&] { NameServerDaemon d({}, too_small); }),
            "NS_AUTOCLEAN cannot be smaller than 3");
}

TEST(NameServerDaemon, RegistersItselfWithItsNatUriAndRefusesBadStorage) {
  NameServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.nathost = "ns.example.org";
  o.natport = 9999;
  NameServerDaemon d(o, local_config());
  EXPECT_EQ(d.external_uri().str(), "PYRO:Pyro.NameServer@ns.example.org:9999");
  const Registration self = d.nameserver().lookup("Pyro.NameServer");
  EXPECT_EQ(self.uri, "PYRO:Pyro.NameServer@ns.example.org:9999");
  EXPECT_EQ(self.metadata, std::vector<std::string>{"class:Pyro5.nameserver.NameServer"});
  EXPECT_EQ(d.broadcast_skipped(), "localhost");

  NameServerOptions bad;
  bad.host = "127.0.0.1";
  bad.port = 0;
  bad.storage = "dbm:x";
  EXPECT_EQ(error_of([&] { NameServerDaemon x(bad, local_config()); }),
            "invalid storage type 'dbm:x'");
}

// ---- durability: pyro-ns with sql storage, killed with SIGKILL ------------------------------

int sqlite_integrity(const std::filesystem::path& file, std::string& result) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return -1;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
  if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}

TEST(Durability, AcknowledgedRegistrationsSurviveSigkill) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pyrocpp-ns-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto db = dir / "names.sqlite";
  const int port = testing::free_port();
  const std::vector<std::string> args = {
      "-n", "127.0.0.1", "-p", std::to_string(port), "-x", "-s", "sql:" + db.string()};
  Config c = local_config();
  c.ns_port = port;
  const Uri ns_uri("PYRO:Pyro.NameServer@127.0.0.1:" + std::to_string(port));
  int acknowledged = 0;
  {
    testing::ChildProcess ns(PYRO_NS, args);
    ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
    // a second client keeps registering while we kill the server
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      try {
        NameServerProxy p(ns_uri, c);
        for (int i = 0; i < 100000 && !stop; ++i) {
          p.register_name("bg." + std::to_string(i), Uri("PYRO:bg@localhost:1"));
        }
      } catch (const std::exception&) {
        // the server died under it
      }
    });
    NameServerProxy p(ns_uri, c);
    for (; acknowledged < 300; ++acknowledged) {
      p.register_name("durable." + std::to_string(acknowledged),
                      Uri("PYRO:obj" + std::to_string(acknowledged) + "@localhost:4000"), false,
                      std::set<std::string>{"n" + std::to_string(acknowledged % 7)});
    }
    ns.kill(SIGKILL);
    stop = true;
    writer.join();
  }
  std::string integrity;
  ASSERT_EQ(sqlite_integrity(db, integrity), SQLITE_OK);
  EXPECT_EQ(integrity, "ok");
  {
    testing::ChildProcess ns(PYRO_NS, args);
    ASSERT_TRUE(testing::ChildProcess::wait_for_port(port));
    NameServerProxy p(ns_uri, c);
    const auto all = p.list_with_metadata(std::string("durable."));
    EXPECT_EQ(all.size(), static_cast<std::size_t>(acknowledged));
    for (int i = 0; i < acknowledged; ++i) {
      const auto it = all.find("durable." + std::to_string(i));
      ASSERT_NE(it, all.end()) << i;
      EXPECT_EQ(it->second.uri, "PYRO:obj" + std::to_string(i) + "@localhost:4000");
      EXPECT_EQ(it->second.metadata, std::set<std::string>{"n" + std::to_string(i % 7)});
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pyro
