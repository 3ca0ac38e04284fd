// The Daemon: exposure rules, dispatch, errors as Pyro reports them, instance modes, the
// Pyro.Daemon object, the handshake hook, the call context, NAT, item streams, autoproxies.
// Driven through pyro::Proxy over loopback (port 0), so the client side is exercised too.
#include "pyro/server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "pyro/client.hpp"
#include "pyro/generator.hpp"
#include "pyro/serpent.hpp"
#include "support/error_of.hpp"

namespace pyro {
namespace {

using testing::error_of;

struct Thermostat {
  double target = 20.0;
  std::atomic<int> resets{0};
  std::string name = "north";
  double read() const { return target + 0.5; }
  void set(double t) { target = t; }
  void reset() { ++resets; }
  int add(int a, int b) { return a + b; }
  std::string greet(std::string who, std::optional<std::string> greeting) {
    return greeting.value_or("hello") + " " + who;
  }
  std::vector<int> doubled(std::vector<int> xs) {
    for (auto& x : xs)
      x *= 2;
    return xs;
  }
  void fail_value(std::string why) { throw std::invalid_argument("invalid value: " + why); }
  void fail_naming() { throw NamingError("unknown name: x"); }
  ItemStream count(int n) {
    auto i = std::make_shared<int>(0);
    return ItemStream([i, n]() -> std::optional<Value> {
      if (*i >= n) return std::nullopt;
      return Value((*i)++);
    });
  }
  std::string hidden() { return "never"; }
};

Exposed<Thermostat> thermostat_exposure() {
  return Exposed<Thermostat>("Thermostat")
      .method("read", &Thermostat::read)
      .method("set", &Thermostat::set, {"celsius"})
      .oneway("reset", &Thermostat::reset)
      .method("add", &Thermostat::add, {"a", "b"})
      .method("greet", &Thermostat::greet, {"who", "greeting"})
      .method("doubled", &Thermostat::doubled)
      .method("fail_value", &Thermostat::fail_value)
      .method("fail_naming", &Thermostat::fail_naming)
      .method("count", &Thermostat::count)
      .method("resets", [](Thermostat& t) { return t.resets.load(); })
      .raw("context",
           [](Thermostat&, const CallArgs&) {
             const CallContext& ctx = current_context();
             Dict d;
             d.set("client", ctx.client_address);
             d.set("seq", ctx.seq);
             d.set("serializer", ctx.serializer_id);
             d.set("correlation",
                   ctx.correlation_id ? correlation_id_text(*ctx.correlation_id) : "");
             const std::string* ann = ctx.annotations.find("XCLI");
             d.set("XCLI", ann ? Value(*ann) : Value());
             current_context().response_annotations.set("XSRV", "reply");
             return Value(std::move(d));
           })
      .property("target", &Thermostat::target)
      .property("name", [](Thermostat& t) { return t.name; })
      .unexposed("hidden");
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = Config::defaults();
    config_.host = "127.0.0.1";
    daemon_ = std::make_unique<Daemon>(DaemonOptions{}, config_);
    thermostat_ = std::make_shared<Thermostat>();
    uri_ = daemon_->expose(thermostat_, "example.thermostat", thermostat_exposure());
    daemon_->start();
  }
  void TearDown() override { daemon_.reset(); }

  Proxy proxy(const std::string& serializer = "serpent") {
    Config c = config_;
    c.serializer = serializer;
    return Proxy(uri_, c);
  }

  Config config_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<Thermostat> thermostat_;
  Uri uri_;
};

TEST_F(DaemonTest, CallsExposedMethodsWithTypedResultsInEverySerializer) {
  for (const char* s : {"serpent", "json", "marshal", "msgpack"}) {
    Proxy p = proxy(s);
    EXPECT_EQ(p.call<int>("add", 2, 3), 5) << s;
    EXPECT_EQ(p.call<std::vector<int>>("doubled", std::vector<int>{1, 2}), (std::vector<int>{2, 4}))
        << s;
    EXPECT_EQ(p.call<std::string>("greet", "you"), "hello you") << s;
    EXPECT_EQ(p.call<std::string>("greet", "you", kw("greeting", "hi")), "hi you") << s;
    EXPECT_EQ(p.call<int>("add", kw("b", 1), kw("a", 10)), 11) << s;
  }
}

TEST_F(DaemonTest, SendsMetadataOnConnect) {
  Proxy p = proxy();
  p.bind();
  EXPECT_TRUE(p.methods().contains("read"));
  EXPECT_TRUE(p.methods().contains("reset"));
  EXPECT_TRUE(p.oneway_methods().contains("reset"));
  EXPECT_FALSE(p.methods().contains("hidden"));
  EXPECT_EQ(p.attributes(), (std::set<std::string>{"name", "target"}));
}

TEST_F(DaemonTest, RunsOnewayCallsWithoutReply) {
  Proxy p = proxy();
  p.call("reset");
  p.oneway("reset");
  for (int i = 0; i < 200 && thermostat_->resets < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(p.call<int>("resets"), 2);
}

TEST_F(DaemonTest, ReadsAndWritesExposedProperties) {
  Proxy p = proxy();
  EXPECT_EQ(p.get<double>("target"), 20.0);
  p.set("target", 23.5);
  EXPECT_EQ(p.get<double>("target"), 23.5);
  EXPECT_EQ(p.call<double>("read"), 24.0);
  EXPECT_EQ(p.get<std::string>("name"), "north");
  EXPECT_EQ(error_of([&] { p.set("name", "south"); }),
            "attempt to access unexposed or unknown remote attribute 'name'");
}

TEST_F(DaemonTest, ChecksNamesLocallyLikePyro) {
  Proxy p = proxy();
  EXPECT_EQ(error_of([&] { p.call("nope"); }),
            "remote object '" + uri_.str() + "' has no exposed attribute or method 'nope'");
  EXPECT_THROW(p.call("hidden"), AttributeError);
  EXPECT_EQ(error_of([&] { p.set("missing", 1); }),
            "remote object '" + uri_.str() + "' has no exposed attribute 'missing'");
}

TEST_F(DaemonTest, AnswersPyrosErrorsForBadNames) {
  Proxy p = proxy();
  p.bind();
  const auto remote = [&](std::string_view object, std::string_view method) {
    try {
      p.invoke_internal(object, method, Value::tuple({}), 0);
    } catch (const RemoteError& e) {
      return e.class_name() + ": " + e.what();
    } catch (const PyroError& e) {
      return std::string(e.python_name()) + ": " + e.what();
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(remote("example.thermostat", "hidden"),
            "builtins.AttributeError: attempt to access unexposed attribute 'hidden'");
  EXPECT_EQ(remote("example.thermostat", "no_such_method"),
            "builtins.AttributeError: 'Thermostat' object has no attribute 'no_such_method'");
  EXPECT_EQ(remote("example.thermostat", "_private"),
            "builtins.AttributeError: attempt to access private attribute '_private'");
  EXPECT_EQ(remote("example.thermostat", "__init__"),
            "builtins.AttributeError: attempt to access private attribute '__init__'");
  EXPECT_EQ(remote("no.such.object", "read"), "DaemonError: unknown object");
}

TEST_F(DaemonTest, ReportsBadArgumentsAsPythonsTypeError) {
  Proxy p = proxy();
  EXPECT_EQ(error_of([&] { p.call("add", 1); }),
            "Thermostat.add() missing 1 required positional argument: 'b'");
  EXPECT_EQ(error_of([&] { p.call("add", 1, 2, 3); }),
            "Thermostat.add() takes 3 positional arguments but 4 were given");
  EXPECT_EQ(error_of([&] { p.call("add", 1, 2, kw("c", 3)); }),
            "Thermostat.add() got an unexpected keyword argument 'c'");
  EXPECT_EQ(error_of([&] { p.call("add", "x", 2); }),
            "Thermostat.add() argument 'a': expected int, got str");
  try {
    p.call("add", "x", 2);
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.class_name(), "builtins.TypeError");
  }
}

TEST_F(DaemonTest, TurnsCppExceptionsIntoPythonExceptionsWithTraceback) {
  Proxy p = proxy();
  try {
    p.call("fail_value", "bad-input");
    FAIL();
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.class_name(), "builtins.ValueError");
    EXPECT_STREQ(e.what(), "invalid value: bad-input");
    ASSERT_FALSE(e.remote_traceback().empty());
    EXPECT_EQ(e.remote_traceback().back(), "ValueError: invalid value: bad-input\n");
  }
  EXPECT_THROW(p.call("fail_naming"), NamingError);
}

TEST_F(DaemonTest, ExposesTheDaemonObject) {
  Proxy d(daemon_->uri_for("Pyro.Daemon"), config_);
  EXPECT_TRUE(d.call("ping").is_none());
  const auto ids = d.call<std::vector<std::string>>("registered");
  EXPECT_EQ(ids, (std::vector<std::string>{"Pyro.Daemon", "example.thermostat"}));
  const Value meta = d.call("get_metadata", "example.thermostat");
  EXPECT_TRUE(meta.at("oneway").as_set().contains("reset"));
  EXPECT_EQ(d.call<std::string>("info").substr(0, 29), "Pyro.Daemon bound on 127.0.0.");
  EXPECT_THROW(d.call("get_metadata", "nope"), DaemonError);
}

TEST_F(DaemonTest, GivesTheMethodItsCallContext) {
  Proxy p = proxy();
  current_context().annotations.set("XCLI", "hello");
  const CorrelationId id = new_correlation_id();
  current_context().correlation_id = id;
  const Value ctx = p.call("context");
  current_context().annotations = Annotations();
  current_context().correlation_id.reset();
  EXPECT_EQ(ctx.at("XCLI").as_str(), "hello");
  EXPECT_EQ(ctx.at("correlation").as_str(), correlation_id_text(id));
  EXPECT_EQ(ctx.at("serializer").as_int(), 1);
  EXPECT_EQ(ctx.at("seq").as_int(), 1);
  EXPECT_EQ(ctx.at("client").as_str(), p.local_address());
  const std::string* reply = current_context().response_annotations.find("XSRV");
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(*reply, "reply");
}

TEST_F(DaemonTest, StreamsGeneratorResultsItemByItem) {
  Proxy p = proxy();
  std::vector<int> got;
  for (const Value& item : p.stream("count", 5))
    got.push_back(static_cast<int>(item.as_int()));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  RemoteIterator early = p.stream("count", 100);
  EXPECT_EQ(early.next()->as_int(), 0);
  early.close();
  EXPECT_EQ(p.call<int>("add", 1, 1), 2);           // the connection is still fine
  EXPECT_THROW(p.call("count", 3), ProtocolError);  // a plain call of a generator
}

TEST(Daemon, GeneratesObjectIdsAndRefusesDuplicates) {
  Config c = Config::defaults();
  Daemon d(DaemonOptions{}, c);
  const Uri u = d.expose(std::make_shared<Thermostat>(), "", thermostat_exposure());
  EXPECT_EQ(u.object().size(), 4u + 32u);
  EXPECT_TRUE(u.object().starts_with("obj_"));
  d.expose(std::make_shared<Thermostat>(), "x", thermostat_exposure());
  EXPECT_THROW(d.expose(std::make_shared<Thermostat>(), "x", thermostat_exposure()), DaemonError);
  EXPECT_TRUE(d.unexpose("x"));
  EXPECT_FALSE(d.unexpose("x"));
  EXPECT_THROW(Exposed<Thermostat>().method("_secret", &Thermostat::read), DaemonError);
}

TEST(Daemon, PublishesNatLocationsInUris) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  DaemonOptions o;
  o.nathost = "public.example.com";
  o.natport = 0;  // the bound port
  Daemon d(o, c);
  const Uri u = d.uri_for("thing");
  EXPECT_EQ(*u.host(), "public.example.com");
  EXPECT_EQ(*u.port(), *d.uri_for("thing", false).port());
  EXPECT_EQ(*d.uri_for("thing", false).host(), "127.0.0.1");
  DaemonOptions bad;
  bad.natport = 1234;
  EXPECT_EQ(error_of([&] { Daemon x(bad, c); }), "must provide natport with nathost");
}

TEST(Daemon, CreatesInstancesPerModeAndSession) {
  struct Counter {
    int n = 0;
    int next() { return ++n; }
  };
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  Daemon d(DaemonOptions{}, c);
  auto factory = [] { return std::make_shared<Counter>(); };
  const auto ex = Exposed<Counter>().method("next", &Counter::next);
  const Uri single = d.expose_class<Counter>(factory, "single", ex, InstanceMode::single);
  const Uri session = d.expose_class<Counter>(factory, "session", ex, InstanceMode::session);
  const Uri percall = d.expose_class<Counter>(factory, "percall", ex, InstanceMode::percall);
  d.start();
  Proxy a1(single, c), a2(single, c), s1(session, c), s2(session, c), p1(percall, c);
  EXPECT_EQ(a1.call<int>("next"), 1);
  EXPECT_EQ(a2.call<int>("next"), 2);
  EXPECT_EQ(s1.call<int>("next"), 1);
  EXPECT_EQ(s1.call<int>("next"), 2);
  EXPECT_EQ(s2.call<int>("next"), 1);
  EXPECT_EQ(p1.call<int>("next"), 1);
  EXPECT_EQ(p1.call<int>("next"), 1);
}

TEST(Daemon, ValidatesHandshakesWithTheHook) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  Daemon d(DaemonOptions{}, c);
  const Uri u = d.expose(std::make_shared<Thermostat>(), "t", thermostat_exposure());
  d.set_handshake_validator([](const HandshakeInfo& h) -> Value {
    if (!h.data.is_dict() || !h.data.find("token") || h.data.at("token") != Value("let-me-in")) {
      throw std::invalid_argument("handshake rejected: bad token");
    }
    return Value::dict({{"welcome", true}});
  });
  d.start();
  Proxy ok(u, c);
  ok.set_handshake(Value::dict({{"token", "let-me-in"}}));
  ok.bind();
  EXPECT_EQ(ok.handshake_response().at("welcome"), Value(true));
  Proxy bad(u, c);
  EXPECT_EQ(error_of([&] { bad.bind(); }), "connection to ('127.0.0.1', " +
                                               std::to_string(*u.port()) +
                                               ") rejected: handshake rejected: bad token");
  Proxy unknown(d.uri_for("nope"), c);
  EXPECT_THROW(unknown.bind(), CommunicationError);
}

TEST(Daemon, SendsProxiesForRegisteredObjectsItReturns) {
  struct Sub {
    std::string whoami() { return "sub"; }
  };
  struct Main {
    std::shared_ptr<Sub> sub;
    std::shared_ptr<Sub> get() { return sub; }
  };
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  Daemon d(DaemonOptions{}, c);
  auto sub = std::make_shared<Sub>();
  d.expose(sub, "example.sub", Exposed<Sub>().method("whoami", &Sub::whoami));
  const Uri u = d.expose(std::make_shared<Main>(Main{sub}), "main",
                         Exposed<Main>().method("get", &Main::get));
  d.start();
  Proxy m(u, c);
  const ProxyState state = m.call<ProxyState>("get");
  EXPECT_EQ(state.uri.object(), "example.sub");
  EXPECT_EQ(state.methods, (std::vector<std::string>{"whoami"}));
  Proxy s(state.uri, c);
  EXPECT_EQ(s.call<std::string>("whoami"), "sub");
}

TEST(Daemon, ServesMultiplexAndThreadedAlike) {
  for (const char* type : {"thread", "multiplex"}) {
    Config c = Config::defaults();
    c.host = "127.0.0.1";
    c.servertype = type;
    Daemon d(DaemonOptions{}, c);
    const Uri u = d.expose(std::make_shared<Thermostat>(), "t", thermostat_exposure());
    d.start();
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back([&, i] {
        Proxy p(u, c);
        for (int j = 0; j < 50; ++j) {
          if (p.call<int>("add", i, j) == i + j) ++ok;
        }
      });
    }
    for (auto& t : clients)
      t.join();
    EXPECT_EQ(ok, 400) << type;
  }
}

}  // namespace
}  // namespace pyro

namespace pyro {
namespace {

struct Sleeper {
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::string nap(double seconds) {
    const int now = ++inside;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    --inside;
    return "rested";
  }
};

TEST(Daemon, ThreadpoolSizeBoundsConcurrentCalls) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  c.threadpool_size_min = 1;
  c.threadpool_size = 2;
  Daemon d(DaemonOptions{}, c);
  auto sleeper = std::make_shared<Sleeper>();
  const Uri u = d.expose(sleeper, "s", Exposed<Sleeper>().method("nap", &Sleeper::nap));
  d.start();
  std::vector<std::thread> clients;
  std::atomic<int> rested{0};
  for (int i = 0; i < 5; ++i) {
    clients.emplace_back([&] {
      Proxy p(u, c);
      if (p.call<std::string>("nap", 0.2) == "rested") ++rested;
    });
  }
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(rested, 5);
  EXPECT_EQ(sleeper->most, 2);
}

// One thread serves while calls are quick; a call that blocks gets the others a thread of
// their own (the watchdog), and so does a oneway call's work.
TEST(Daemon, ABlockedCallDoesNotStopOtherClients) {
  for (const bool oneway : {false, true}) {
    Config c = Config::defaults();
    c.host = "127.0.0.1";
    c.threadpool_size_min = 1;
    Daemon d(DaemonOptions{}, c);
    auto sleeper = std::make_shared<Sleeper>();
    const Uri u = d.expose(
        sleeper, "s",
        Exposed<Sleeper>().method("nap", &Sleeper::nap).oneway("doze", [](Sleeper& s, double t) {
          s.nap(t);
        }));
    d.start();
    std::thread slow([&] {
      Proxy p(u, c);
      if (oneway) {
        p.call("doze", 2.0);
      } else {
        EXPECT_EQ(p.call<std::string>("nap", 2.0), "rested");
      }
    });
    while (sleeper->inside == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    // while it sleeps, 50 calls of another client (each naps 0 s) get through
    Proxy quick(u, c);
    for (int i = 0; i < 50; ++i)
      EXPECT_EQ(quick.call<std::string>("nap", 0.0), "rested");
    EXPECT_EQ(sleeper->inside, 1) << "the first call was still asleep";
    slow.join();
    d.shutdown();
  }
}

TEST(Daemon, ShutdownLetsCallsInProgressFinish) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  auto d = std::make_unique<Daemon>(DaemonOptions{}, c);
  auto sleeper = std::make_shared<Sleeper>();
  const Uri u = d->expose(sleeper, "s", Exposed<Sleeper>().method("nap", &Sleeper::nap));
  d->start();
  std::string answer;
  std::thread client([&] {
    Proxy p(u, c);
    answer = p.call<std::string>("nap", 0.3);
  });
  while (sleeper->inside == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  d->shutdown();
  client.join();
  EXPECT_EQ(answer, "rested");
  Proxy late(u, c);
  EXPECT_THROW(late.call("nap", 0.0), CommunicationError);  // no longer accepting
}

TEST(Daemon, ClosesTheConnectionWhenTheProxyGoesAway) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  Daemon d(DaemonOptions{}, c);
  const Uri u =
      d.expose(std::make_shared<Sleeper>(), "s", Exposed<Sleeper>().method("nap", &Sleeper::nap));
  std::atomic<int> disconnects{0};
  d.set_client_disconnect_hook([&](Session&) { ++disconnects; });
  d.start();
  {
    Proxy p(u, c);
    p.call("nap", 0.0);
    EXPECT_NE(d.info().find("; 1 connections>"), std::string::npos) << d.info();
  }  // RAII: the destructor closes the connection
  for (int i = 0; i < 200 && disconnects == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(disconnects, 1);
  EXPECT_NE(d.info().find("; 0 connections>"), std::string::npos) << d.info();
}

}  // namespace
}  // namespace pyro

namespace pyro {
namespace {

// Big bytes arguments take other roads than small ones: the client sends them in place (marshal,
// msgpack; not when compressing or signing) and the daemon reads a big body straight into its
// payload. Every byte must arrive, in every combination.
TEST(Daemon, BigBytesArgumentsArriveIntact) {
  struct Digest {
    static std::int64_t of(std::string_view data) {
      std::uint64_t h = 1469598103934665603u;
      for (const char ch : data)
        h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211u;
      return static_cast<std::int64_t>(h >> 1);
    }
  };
  struct Taker {
    std::int64_t take(const Value& data, const Value& tail) {
      // serpent's bytes arrive as a base64 dict
      const Value bytes = data.is_dict() ? serpent_tobytes(data) : data;
      return Digest::of(bytes.bytes_view()) ^ static_cast<std::int64_t>(tail.as_str().size());
    }
  };
  for (const int protocol : {502, 48}) {
    for (const bool compress : {false, true}) {
      Config c = Config::defaults();
      c.host = "127.0.0.1";
      c.protocol_version = protocol;
      c.compression = compress;
      if (protocol == 48) c.hmac_key = "big-secret";
      Daemon d(DaemonOptions{}, c);
      const Uri u =
          d.expose(std::make_shared<Taker>(), "t", Exposed<Taker>().method("take", &Taker::take));
      d.start();
      for (const char* ser : {"marshal", "msgpack", "serpent"}) {
        Config cc = c;
        cc.serializer = ser;
        Proxy p(u, cc);
        for (const std::size_t size : {std::size_t{300000}, std::size_t{3} << 20}) {
          std::string data(size, '\0');
          for (std::size_t i = 0; i < size; ++i)
            data[i] = static_cast<char>((i * 131 + size) % 251);
          const std::int64_t want = Digest::of(data) ^ 5;
          // twice: the second call reuses the recycled buffers of the first
          for (int round = 0; round < 2; ++round) {
            EXPECT_EQ(p.call<std::int64_t>("take", Value::bytes(data), "after"), want)
                << ser << " protocol " << protocol << " compress " << compress << " size " << size;
          }
        }
      }
      d.shutdown();
    }
  }
}

// A client that calls back to back gets a thread of its own: its calls then run on another
// thread than the event loop's. After a quiet spell the connection goes back to the loop. While
// it is lent, big arguments, pipelined stream requests and other clients are served as usual,
// and shutting the daemon down closes it promptly.
TEST(Daemon, ABusyConnectionGetsAThreadOfItsOwnAndGivesItBack) {
  struct Where {
    static std::int64_t thread() {
      return static_cast<std::int64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()) >>
                                       1);
    }
    std::int64_t here() { return thread(); }
    Value take(const Value& data) {
      return Value::tuple(
          {Value(static_cast<std::int64_t>(data.bytes_view().size())), Value(thread())});
    }
    static Generator<int> counting(int n) {
      for (int i = 0; i < n; ++i)
        co_yield i;
    }
    ItemStream count(int n) { return ItemStream(counting(n)); }
  };
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  c.serializer = "msgpack";
  auto d = std::make_unique<Daemon>(DaemonOptions{}, c);
  const Uri u = d->expose(std::make_shared<Where>(), "w",
                          Exposed<Where>()
                              .method("here", &Where::here)
                              .method("take", &Where::take)
                              .method("count", &Where::count));
  d->start();
  Proxy p(u, c);
  const std::int64_t loop = p.call<std::int64_t>("here");  // the event loop's thread
  auto lend = [&] {
    std::int64_t where = loop;
    for (int i = 0; i < 5000 && where == loop; ++i)
      where = p.call<std::int64_t>("here");
    return where;
  };
  const std::int64_t lent = lend();
  ASSERT_NE(lent, loop) << "the busy connection was never lent a thread";
  // a big argument (its body read on the lent thread), then pipelined stream requests
  const std::string big(std::size_t{1} << 20, 'z');
  const Value took = p.call("take", Value::bytes(big));
  EXPECT_EQ(took[0].as_int(), 1 << 20);
  EXPECT_EQ(took[1].as_int(), lent);
  p.set_stream_readahead(16);
  int n = 0;
  for (const Value& v : p.stream("count", 300))
    EXPECT_EQ(v.as_int(), n++);
  EXPECT_EQ(n, 300);
  // another client meanwhile: the loop serves it
  Proxy other(u, c);
  EXPECT_EQ(other.call<std::int64_t>("here"), loop);
  // quiet: back to the loop
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(p.call<std::int64_t>("here"), loop);
  // lent again, then the daemon shuts down: the connection closes, nothing hangs
  ASSERT_NE(lend(), loop);
  const auto before = std::chrono::steady_clock::now();
  d.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  EXPECT_THROW(p.call<std::int64_t>("here"), CommunicationError);
}

}  // namespace
}  // namespace pyro
