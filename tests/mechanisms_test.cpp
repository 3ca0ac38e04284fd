// The advanced call mechanisms, C++ to C++ over loopback: futures (local and of asynchronous
// calls and batches), coroutine item streams with their lifetime, linger and cleanup,
// resources tracked per connection, keep-serialized blobs through a dispatcher, callbacks to a
// client's own daemon (and Pyro's @callback error behaviour). Waits are bounded.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <numeric>
#include <thread>

#include <gtest/gtest.h>

#include "pyro/client.hpp"
#include "pyro/future.hpp"
#include "pyro/generator.hpp"
#include "pyro/server.hpp"

namespace pyro {
namespace {

using Clock = std::chrono::steady_clock;

// f()'s exception message when it throws an E; otherwise what happened.
template <class E, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<other exception: ") + e.what() + ">";
  }
  return "<no error>";
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Polls cond every 10 ms for at most `limit` seconds.
template <class F>
bool eventually(F cond, double limit = 10.0) {
  const auto end = Clock::now() + std::chrono::duration<double>(limit);
  while (Clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// A gate a test opens when it wants a blocked call to go on.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void release() {
    {
      std::lock_guard l(m);
      open = true;
    }
    cv.notify_all();
  }
  bool wait(double limit = 10.0) {
    std::unique_lock l(m);
    return cv.wait_for(l, std::chrono::duration<double>(limit), [&] { return open; });
  }
};

// ---------------------------------------------------------------------------------------------
// Local futures (Pyro4's futures module)
// ---------------------------------------------------------------------------------------------

TEST(Future, RunsTheCallableAndItsChainOnAnotherThread) {
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> other_thread{false};
  Future f([&](int a, int b) {
    other_thread = std::this_thread::get_id() != caller;
    return a + b;
  });
  f.then([](const Value& sum, int times) { return sum.as_int() * times; }, 10)
      .then([](const Value& v) { return "result " + v.repr(); });
  FutureResult r = f(3, 4);
  EXPECT_TRUE(r.wait(10.0));
  EXPECT_EQ(r.value_as<std::string>(), "result 70");
  EXPECT_TRUE(other_thread);
  EXPECT_EQ(error_of<RuntimeError>([&] { f(1, 2); }), "the future has already been evaluated");
}

TEST(Future, ReportsExceptionsToItsHandlerAndToValue) {
  std::promise<std::string> handled;
  Future f([]() -> int { throw ValueError("no good"); });
  f.iferror([&](const std::exception& e) { handled.set_value(e.what()); });
  FutureResult r = f();
  EXPECT_EQ(error_of<ValueError>([&] { r.value(); }), "no good");
  auto got = handled.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(got.get(), "no good");
}

TEST(Future, DelaysTheCallUntilItsTime) {
  Future f([] { return 1; });
  EXPECT_TRUE(f.delay(0.3));
  const auto start = Clock::now();
  FutureResult r = f();
  EXPECT_FALSE(r.wait(0.05));  // not before its time
  EXPECT_TRUE(r.wait(10.0));
  EXPECT_GE(seconds_since(start), 0.29);
  EXPECT_FALSE(f.delay(1.0));  // it has run: too late to delay
  EXPECT_FALSE(f.cancel());    // and to cancel
}

TEST(Future, DelayCanBeChangedWhileWaitingAndCancelStopsIt) {
  std::atomic<int> runs{0};
  Future f([&] { return ++runs; });
  f.delay(30.0);
  FutureResult r = f();
  EXPECT_TRUE(f.delay(0.05));  // still waiting: the new delay counts from now
  EXPECT_TRUE(r.wait(10.0));
  EXPECT_EQ(r.value_as<int>(), 1);

  Future g([&] { return ++runs; });
  g.delay(30.0);
  FutureResult s = g();
  EXPECT_TRUE(g.cancel());    // before it started
  EXPECT_TRUE(s.wait(10.0));  // cancelling wakes it at once
  EXPECT_EQ(error_of<RuntimeError>([&] { s.value(); }), "future has been cancelled");
  EXPECT_EQ(runs, 1);

  Future h([] { return 1; });
  EXPECT_TRUE(h.cancel());
  EXPECT_EQ(error_of<RuntimeError>([&] { h(); }), "the future has been cancelled");
}

TEST(FutureResult, ChainsAndHandlersWorkBeforeAndAfterTheValue) {
  FutureResult r;
  EXPECT_FALSE(r.ready());
  EXPECT_FALSE(r.wait(0.01));
  r.then([](const Value& v) { return v.as_int() + 1; });
  r.set_value(Value(1));
  EXPECT_TRUE(r.ready());
  r.then([](const Value& v) { return v.as_int() * 100; });  // runs at once now
  EXPECT_EQ(r.value_as<int>(), 200);
  r.set_value(Value(5));  // a result is set once
  EXPECT_EQ(r.value_as<int>(), 200);

  FutureResult failing;
  std::string seen;
  failing.then([](const Value&) -> int { throw KeyError("step"); })
      .iferror([&](std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          seen = x.what();
        }
      });
  failing.set_value(Value(1));
  EXPECT_EQ(seen, "step");
  EXPECT_THROW(failing.value(), KeyError);
}

// ---------------------------------------------------------------------------------------------
// A service for the remote mechanisms
// ---------------------------------------------------------------------------------------------

// Counts live instances of whatever holds one (coroutine frames, stream producers, resources).
struct Tally {
  std::atomic<int> alive{0};
  std::atomic<int> closed{0};
};

struct Token {
  explicit Token(std::shared_ptr<Tally> t) : tally(std::move(t)) { ++tally->alive; }
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;
  ~Token() { --tally->alive; }
  std::shared_ptr<Tally> tally;
};

Generator<int> counting(int n, std::shared_ptr<Tally> tally) {
  Token token(std::move(tally));  // lives in the coroutine frame
  for (int i = 0; i < n; ++i)
    co_yield i;
}

// Records, for each item it produces, how many items the client had consumed by then.
struct Pacing {
  std::atomic<int> consumed{0};
  std::mutex mutex;
  std::vector<int> consumed_at;  // guarded by mutex
};

Generator<int> paced_items(int n, std::shared_ptr<Pacing> pacing) {
  for (int i = 0; i < n; ++i) {
    {
      std::lock_guard lock(pacing->mutex);
      pacing->consumed_at.push_back(pacing->consumed.load());
    }
    co_yield i;
  }
}

Generator<std::string> failing_after(int n) {
  for (int i = 0; i < n; ++i)
    co_yield "item " + std::to_string(i);
  throw ValueError("generator broke");
}

struct OpenFile : Resource {
  explicit OpenFile(std::shared_ptr<Tally> t) : tally(std::move(t)) { ++tally->alive; }
  void close() noexcept override {
    ++tally->closed;
    --tally->alive;
  }
  std::shared_ptr<Tally> tally;
};

struct Service {
  std::shared_ptr<Tally> streams = std::make_shared<Tally>();
  std::shared_ptr<Tally> files = std::make_shared<Tally>();
  std::shared_ptr<Pacing> pacing = std::make_shared<Pacing>();
  Gate* gate = nullptr;

  std::string slow_upper(std::string s) {
    if (gate != nullptr) gate->wait();
    for (auto& c : s)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  int divide(int a, int b) {
    if (b == 0) throw std::domain_error("division by zero");
    return a / b;
  }
  ItemStream count(int n) { return ItemStream(counting(n, streams)); }
  ItemStream broken(int n) { return ItemStream(failing_after(n)); }
  ItemStream paced(int n) { return ItemStream(paced_items(n, pacing)); }
  int open_file() {
    current_context().track_resource(std::make_shared<OpenFile>(files));
    return static_cast<int>(current_context().tracked_resources().size());
  }
  void close_files() {
    for (const auto& r : current_context().tracked_resources()) {
      current_context().untrack_resource(r);
      r->close();
    }
  }
  std::string annotation() {
    const std::string* a = current_context().annotations.find("XTRA");
    return a ? *a : "";
  }
};

Exposed<Service> service_exposure() {
  return Exposed<Service>("Service")
      .method("slow_upper", &Service::slow_upper)
      .method("divide", &Service::divide)
      .method("count", &Service::count)
      .method("broken", &Service::broken)
      .method("paced", &Service::paced)
      .method("open_file", &Service::open_file)
      .method("close_files", &Service::close_files)
      .method("annotation", &Service::annotation);
}

class Mechanisms : public ::testing::Test {
 protected:
  void start(double linger = 30.0, double lifetime = 0.0) {
    config_ = Config::defaults();
    config_.host = "127.0.0.1";
    config_.iter_stream_linger = linger;
    config_.iter_stream_lifetime = lifetime;
    daemon_ = std::make_unique<Daemon>(DaemonOptions{}, config_);
    service_ = std::make_shared<Service>();
    uri_ = daemon_->expose(service_, "mech.service", service_exposure());
    daemon_->start();
  }
  void SetUp() override { start(); }
  void TearDown() override { daemon_.reset(); }
  Proxy proxy(const std::string& serializer = "serpent") {
    Config c = config_;
    c.serializer = serializer;
    return Proxy(uri_, c);
  }

  Config config_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<Service> service_;
  Uri uri_;
};

// ---------------------------------------------------------------------------------------------
// Asynchronous calls and batches
// ---------------------------------------------------------------------------------------------

TEST_F(Mechanisms, AsyncCallsReturnAtOnceAndDeliverLater) {
  Gate gate;
  service_->gate = &gate;
  Proxy p = proxy();
  current_context().annotations.set("XTRA", "along");
  FutureResult r = p.async_call("slow_upper", "hello");
  r.then([](const Value& v, std::string suffix) { return std::string(v.as_str()) + suffix; },
         std::string("!"));
  EXPECT_FALSE(r.wait(0.1));  // the daemon is holding it
  EXPECT_FALSE(r.ready());
  gate.release();
  EXPECT_TRUE(r.wait(10.0));
  EXPECT_EQ(r.value_as<std::string>(), "HELLO!");
  // the owner thread's calls go on the same connection afterwards; annotations went along
  EXPECT_EQ(p.async_call("annotation").value_as<std::string>(), "along");
  EXPECT_EQ(p.call<int>("divide", 10, 2), 5);
  current_context().annotations = Annotations();
}

TEST_F(Mechanisms, AsyncCallErrorsReachIferrorAndValue) {
  Proxy p = proxy();
  std::promise<std::string> handled;
  FutureResult r = p.async_call("divide", 1, 0);
  r.iferror([&](const std::exception& e) { handled.set_value(e.what()); });
  EXPECT_EQ(error_of<RemoteError>([&] { r.value(); }), "division by zero");
  auto got = handled.get_future();
  if (got.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    EXPECT_EQ(got.get(), "division by zero");
  }  // (the handler may have been set after the result arrived: then Pyro calls nothing)
  // a name the object does not have fails in the future, not in the caller
  FutureResult missing = p.async_call("nonexistent");
  EXPECT_THROW(missing.value(), AttributeError);
}

TEST_F(Mechanisms, ManyAsyncCallsOnOneProxyAllArrive) {
  Proxy p = proxy("msgpack");
  std::vector<FutureResult> results;
  for (int i = 0; i < 50; ++i)
    results.push_back(p.async_call("divide", i * 10, 10));
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(results[static_cast<std::size_t>(i)].value_as<int>(), i);
}

TEST_F(Mechanisms, AsyncBatchesDeliverTheResultList) {
  Proxy p = proxy();
  BatchProxy batch(p);
  batch.add("divide", 10, 2).add("slow_upper", "x").add("divide", 1, 0).add("divide", 9, 3);
  FutureResult r = batch.run_async();
  ASSERT_TRUE(r.wait(10.0));
  BatchResults results(r.value());
  EXPECT_EQ(results.next_as<int>(), 5);
  EXPECT_EQ(results.next_as<std::string>(), "X");
  EXPECT_EQ(error_of<RemoteError>([&] { results.next(); }), "division by zero");
  EXPECT_FALSE(results.next());  // the batch stopped at the error
}

// ---------------------------------------------------------------------------------------------
// Item streams
// ---------------------------------------------------------------------------------------------

TEST_F(Mechanisms, CoroutineStreamsAreIteratedAndClosedEarly) {
  Proxy p = proxy();
  std::vector<int> got;
  for (const Value& v : p.stream("count", 4))
    got.push_back(static_cast<int>(v.as_int()));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }));
  {
    RemoteIterator it = p.stream("count", 1000000);
    EXPECT_EQ(it.next()->as_int(), 0);
    EXPECT_EQ(it.next()->as_int(), 1);
    EXPECT_EQ(service_->streams->alive, 1);
    it.close();  // the daemon drops it: its coroutine frame goes away
  }
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }));
  EXPECT_TRUE(eventually([&] { return daemon_->stream_count() == 0; }));
}

TEST_F(Mechanisms, ReadAheadKeepsInterleavedStreamsAndCallsInOrder) {
  Proxy p = proxy("msgpack");
  p.set_stream_readahead(8);
  RemoteIterator a = p.stream("count", 50);
  RemoteIterator b = p.stream("count", 30);
  std::vector<int> got_a, got_b;
  for (int i = 0; i < 60; ++i) {
    if (auto v = a.next()) got_a.push_back(static_cast<int>(v->as_int()));
    if (i % 3 == 0) {
      EXPECT_EQ(p.call<int>("divide", 9, 3), 3);  // calls between items
    }
    if (auto v = b.next()) got_b.push_back(static_cast<int>(v->as_int()));
  }
  std::vector<int> want_a(50), want_b(30);
  std::iota(want_a.begin(), want_a.end(), 0);
  std::iota(want_b.begin(), want_b.end(), 0);
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
  {
    RemoteIterator c = p.stream("count", 1000);
    EXPECT_EQ(c.next()->as_int(), 0);
  }  // closed early with replies in flight: they are read and dropped
  EXPECT_EQ(p.call<int>("divide", 8, 2), 4);
  EXPECT_TRUE(eventually([&] { return daemon_->stream_count() == 0; }));
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }));
}

// The client tops its read-ahead window up once half of it is back (requests then travel in
// groups; how much that saves is the benchmark's business, bench_calls --only stream), and never
// has more than the window in flight.
TEST_F(Mechanisms, ReadAheadStaysWithinItsWindow) {
  Proxy p = proxy("msgpack");
  p.set_stream_readahead(8);
  constexpr int n = 200;
  int got = 0;
  for (const Value& v : p.stream("paced", n)) {
    EXPECT_EQ(v.as_int(), got);
    ++got;
    ++service_->pacing->consumed;
  }
  EXPECT_EQ(got, n);
  std::lock_guard lock(service_->pacing->mutex);
  const std::vector<int>& at = service_->pacing->consumed_at;
  ASSERT_EQ(at.size(), static_cast<std::size_t>(n));
  int ahead = 0;
  for (int i = 0; i < n; ++i) {
    // the item being handed out, and 8 requests in flight
    EXPECT_LE(i - at[i], 9) << "item " << i << " was produced too far ahead";
    ahead = std::max(ahead, i - at[i]);
  }
  EXPECT_GE(ahead, 4) << "nothing was read ahead";
}

TEST_F(Mechanisms, AnExceptionInAGeneratorEndsTheStreamWithIt) {
  Proxy p = proxy("json");
  RemoteIterator it = p.stream("broken", 2);
  EXPECT_EQ(it.next()->as_str(), "item 0");
  EXPECT_EQ(it.next()->as_str(), "item 1");
  try {
    it.next();
    ADD_FAILURE() << "no error";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.class_name(), "builtins.ValueError");
    EXPECT_STREQ(e.what(), "generator broke");
  }
  EXPECT_FALSE(it.next());
  EXPECT_EQ(daemon_->stream_count(), 0u);
}

TEST_F(Mechanisms, StreamsOfVanishedClientsLingerThenGo) {
  TearDown();
  start(/*linger=*/0.3);
  constexpr int n = 1000;
  {
    std::vector<Proxy> clients;
    std::vector<RemoteIterator> streams;
    for (int i = 0; i < 20; ++i)
      clients.push_back(proxy());
    for (int i = 0; i < n; ++i) {
      Proxy& c = clients[static_cast<std::size_t>(i % 20)];
      streams.push_back(c.stream("count", 1000000));
      ASSERT_EQ(streams.back().next()->as_int(), 0);
    }
    EXPECT_EQ(daemon_->stream_count(), static_cast<std::size_t>(n));
    EXPECT_EQ(service_->streams->alive, n);
    for (Proxy& c : clients)
      c.release();  // the clients vanish without closing their streams
  }
  // they linger for a reconnecting client, then the daemon drops them and their frames
  EXPECT_TRUE(eventually([&] { return daemon_->stream_count() == 0; }));
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }));
}

TEST_F(Mechanisms, WithoutLingerStreamsGoWithTheirConnection) {
  TearDown();
  start(/*linger=*/0.0);
  constexpr int n = 1000;
  {
    Proxy c = proxy("marshal");
    std::vector<RemoteIterator> streams;
    for (int i = 0; i < n; ++i) {
      streams.push_back(c.stream("count", 1000000));
      ASSERT_EQ(streams.back().next()->as_int(), 0);
    }
    EXPECT_EQ(daemon_->stream_count(), static_cast<std::size_t>(n));
    c.release();
  }
  EXPECT_TRUE(eventually([&] { return daemon_->stream_count() == 0; }, 5.0));
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }, 5.0));
}

TEST_F(Mechanisms, AStreamOutlivingItsLifetimeIsTerminated) {
  TearDown();
  start(/*linger=*/30.0, /*lifetime=*/0.2);
  Proxy p = proxy();
  p.set_stream_readahead(1);  // Pyro's one item at a time: nothing is read ahead
  RemoteIterator it = p.stream("count", 100);
  EXPECT_EQ(it.next()->as_int(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(error_of<PyroError>([&] { it.next(); }), "item stream terminated");
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }));
}

TEST_F(Mechanisms, ALingeringStreamResumesOnReconnect) {
  Proxy p = proxy();
  RemoteIterator it = p.stream("count", 1000000);
  EXPECT_EQ(it.next()->as_int(), 0);
  p.release();  // connection gone (with requests in flight); the stream lingers (30 s)
  EXPECT_TRUE(eventually([&] { return daemon_->stream_count() == 1; }));
  // the proxy reconnects and the stream goes on, nothing lost: the items read ahead were kept
  for (int i = 1; i < 100; ++i)
    ASSERT_EQ(it.next()->as_int(), i);
}

TEST_F(Mechanisms, WithoutStreamingAGeneratorResultIsAnError) {
  TearDown();
  config_ = Config::defaults();
  config_.host = "127.0.0.1";
  config_.iter_streaming = false;
  daemon_ = std::make_unique<Daemon>(DaemonOptions{}, config_);
  service_ = std::make_shared<Service>();
  uri_ = daemon_->expose(service_, "mech.service", service_exposure());
  daemon_->start();
  Proxy p = proxy();
  EXPECT_EQ(error_of<ProtocolError>([&] { p.stream("count", 3); }),
            "result of call is an iterator, but the server is not configured to allow streaming");
  EXPECT_EQ(daemon_->stream_count(), 0u);
  EXPECT_TRUE(eventually([&] { return service_->streams->alive == 0; }));
}

// ---------------------------------------------------------------------------------------------
// Resource tracking
// ---------------------------------------------------------------------------------------------

TEST_F(Mechanisms, TrackedResourcesCloseWhenTheirClientsVanish) {
  std::atomic<int> disconnects{0};
  TearDown();
  start();
  daemon_->set_client_disconnect_hook([&](Session&) { ++disconnects; });
  constexpr int n = 1000;
  {
    std::vector<Proxy> clients;
    for (int i = 0; i < n; ++i) {
      clients.push_back(proxy("msgpack"));
      ASSERT_EQ(clients.back().call<int>("open_file"), 1);
    }
    EXPECT_EQ(service_->files->alive, n);
    EXPECT_EQ(clients.front().call<int>("open_file"), 2);  // per connection
  }                                                        // every client goes without a word
  EXPECT_TRUE(eventually([&] { return service_->files->closed == n + 1; }));
  EXPECT_EQ(service_->files->alive, 0);
  EXPECT_TRUE(eventually([&] { return disconnects == n; }));
}

TEST_F(Mechanisms, UntrackedResourcesAreLeftAlone) {
  Proxy p = proxy();
  EXPECT_EQ(p.call<int>("open_file"), 1);
  EXPECT_EQ(p.call<int>("open_file"), 2);
  p.call("close_files");  // closes and untracks them itself
  EXPECT_EQ(service_->files->closed, 2);
  p.release();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(service_->files->closed, 2);  // not closed twice
  EXPECT_EQ(
      error_of<PyroError>([] {
        current_context().track_resource(std::make_shared<OpenFile>(std::make_shared<Tally>()));
      }),
      "track_resource: not handling a client request");
}

// ---------------------------------------------------------------------------------------------
// Keep-serialized blobs through a dispatcher
// ---------------------------------------------------------------------------------------------

struct Reading {
  std::string sensor;
  double value = 0;
  std::vector<int> history;
};
PYRO_FIELDS(Reading, "blobdispatch.Reading", sensor, value, history)

struct Listener {
  ClassRegistry registry;
  std::mutex m;
  std::vector<std::string> seen;
  Listener() { registry.register_dict_to_class<Reading>(); }
  void process_blob(SerializedBlob blob) {
    const Value data = blob.deserialized(&registry);
    std::string text = data.repr();
    if (data.is_dict()) {
      const auto r = from_value<Reading>(data);
      text = "Reading " + r.sensor + " " + std::to_string(r.value) + " " +
             std::to_string(r.history.size());
    }
    std::lock_guard l(m);
    seen.push_back(std::string(blob.info().as_str()) + ":" + std::move(text));
  }
};

struct Dispatcher {
  std::mutex m;
  std::map<std::string, std::vector<ProxyState>> listeners;
  std::vector<bool> forwarded_undecoded;
  void add(std::string topic, ProxyState listener) {
    std::lock_guard l(m);
    listeners[topic].push_back(std::move(listener));
  }
  int process_blob(SerializedBlob blob) {
    std::vector<ProxyState> targets;
    {
      std::lock_guard l(m);
      forwarded_undecoded.push_back(blob.contains_blob());
      targets = listeners[std::string(blob.info().as_str())];
    }
    for (const ProxyState& t : targets)
      Proxy::from_state(t).call("process_blob", blob);
    return static_cast<int>(targets.size());
  }
};

TEST(Blob, TravelsThroughADispatcherUndecodedInEverySerializer) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  Daemon d(DaemonOptions{}, c);
  auto dispatcher = std::make_shared<Dispatcher>();
  auto listener = std::make_shared<Listener>();
  const Uri du = d.expose(dispatcher, "blob.dispatcher",
                          Exposed<Dispatcher>()
                              .method("register", &Dispatcher::add)
                              .method("process_blob", &Dispatcher::process_blob));
  d.expose(listener, "blob.listener",
           Exposed<Listener>().method("process_blob", &Listener::process_blob));
  d.start();
  Proxy(du, c).call("register", "weather", d.proxy_for("blob.listener"));

  int expected = 0;
  for (const char* s : {"serpent", "json", "marshal", "msgpack"}) {
    Config cc = c;
    cc.serializer = s;
    Proxy client(du, cc);
    // the dispatcher has no idea what a Reading is: it never decodes the payload
    const Value payload = std::string(s) == "marshal"
                              ? Value::list({Value("plain"), Value(1.5)})
                              : pyro::to_value(Reading{"north", 21.5, {1, 2, 3}});
    EXPECT_EQ(client.call<int>("process_blob", SerializedBlob(Value("weather"), payload)), 1);
    EXPECT_EQ(client.call<int>("process_blob", SerializedBlob(Value("sports"), payload)), 0);
    expected += 1;
    EXPECT_EQ(error_of<SerializeError>(
                  [&] { client.call("process_blob", SerializedBlob(Value("x"), Value(1)), 2); }),
              "if SerializedBlob is used, it must be the only argument");
  }
  std::lock_guard l(listener->m);
  ASSERT_EQ(listener->seen.size(), static_cast<std::size_t>(expected));
  EXPECT_EQ(listener->seen[0], "weather:Reading north 21.500000 3");
  EXPECT_EQ(listener->seen[1], "weather:Reading north 21.500000 3");
  EXPECT_EQ(listener->seen[3], "weather:Reading north 21.500000 3");
  EXPECT_EQ(listener->seen[2], "weather:['plain', 1.5]");
  for (bool undecoded : dispatcher->forwarded_undecoded)
    EXPECT_TRUE(undecoded);
}

// ---------------------------------------------------------------------------------------------
// Callbacks to the client's own daemon
// ---------------------------------------------------------------------------------------------

struct Receiver {
  std::atomic<int> done{0};
  void work_done(int worker) {
    if (worker < 0) throw ValueError("a failing callback");
    ++done;
  }
};

struct Boss {
  int hire(ProxyState callback, int workers) {
    Proxy cb = Proxy::from_state(callback);
    for (int i = 0; i < workers; ++i)
      cb.call("work_done", i);
    return workers;
  }
  std::string hire_badly(ProxyState callback) {
    Proxy cb = Proxy::from_state(callback);
    try {
      cb.call("work_done", -1);
    } catch (const RemoteError& e) {
      return "callback failed: " + e.class_name() + ": " + e.what();
    }
    return "no error";
  }
};

TEST(Callback, AServerCallsBackIntoTheClientsDaemon) {
  Config c = Config::defaults();
  c.host = "127.0.0.1";
  Daemon server(DaemonOptions{}, c);
  const Uri boss = server.expose(
      std::make_shared<Boss>(), "boss",
      Exposed<Boss>().method("hire", &Boss::hire).method("hire_badly", &Boss::hire_badly));
  server.start();

  Daemon mine(DaemonOptions{}, c);  // the client's own daemon
  auto receiver = std::make_shared<Receiver>();
  mine.expose(receiver, "receiver",
              Exposed<Receiver>().callback("work_done", &Receiver::work_done));
  mine.start();
  Proxy p(boss, c);
  EXPECT_EQ(p.call<int>("hire", mine.proxy_for("receiver"), 5), 5);
  EXPECT_EQ(receiver->done, 5);
  // Pyro's @callback: the error goes back to the server (and is logged on the client side)
  EXPECT_EQ(p.call<std::string>("hire_badly", mine.proxy_for("receiver")),
            "callback failed: builtins.ValueError: a failing callback");
  // a proxy object passes as an argument too
  Proxy self(mine.uri_for("receiver"), c);
  EXPECT_EQ(p.call<int>("hire", self, 2), 2);
  EXPECT_EQ(receiver->done, 7);
}

}  // namespace
}  // namespace pyro
