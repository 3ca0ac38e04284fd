// streaming server — methods whose results travel item by item (Pyro's iterator streaming): a
// plain list for comparison, a container, a coroutine, a slow coroutine and an endless producer.
// The client pulls one item per call; a stream it stops early is dropped here.
// Usage: streaming_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pyro/generator.hpp"

namespace {

// The items 1..9 that every method below hands out, one way or another.
std::vector<int> one_to_nine() {
  return {1, 2, 3, 4, 5, 6, 7, 8, 9};
}

// A coroutine: each co_yield becomes one item on the client, produced when it asks for it.
pyro::Generator<int> count_up(int first, int last) {
  for (int i = first; i <= last; ++i)
    co_yield i;
}

// The same, taking its time: the client sees each item as soon as it is made.
pyro::Generator<int> count_up_slowly(int last, std::chrono::milliseconds pause) {
  for (int i = 1; i <= last; ++i) {
    std::this_thread::sleep_for(pause);
    std::cout << "slow generator: producing " << i << std::endl;
    co_yield i;
  }
  std::cout << "slow generator: finished" << std::endl;
}

class Streamer {
 public:
  explicit Streamer(const pyro::Daemon& daemon) : daemon_(daemon) {}

  // Not a stream: the whole list goes back in one reply.
  std::vector<int> list() { return one_to_nine(); }
  // A container's items, streamed (Python's iter([...])).
  pyro::ItemStream iterator() { return pyro::ItemStream::from(one_to_nine()); }
  // A coroutine, streamed (a Python generator function).
  pyro::ItemStream generator() { return pyro::ItemStream(count_up(1, 9)); }
  pyro::ItemStream slow_generator() {
    return pyro::ItemStream(count_up_slowly(9, std::chrono::milliseconds(200)));
  }
  // Never ends: the client decides when it has seen enough. A callable producer keeps its state
  // in its captures; destroying the stream (when the client closes it) destroys them too.
  pyro::ItemStream fibonacci() {
    struct State {
      std::int64_t a = 0, b = 1;
      ~State() { std::cout << "fibonacci stream dropped after " << a << std::endl; }
    };
    auto state = std::make_shared<State>();
    return pyro::ItemStream([state]() -> std::optional<pyro::Value> {
      const std::int64_t current = state->a;
      state->a = state->b;
      state->b += current;
      return pyro::Value(current);
    });
  }
  // How many streams the daemon keeps open (Pyro's len(daemon.streaming_responses)).
  std::int64_t open_streams() { return static_cast<std::int64_t>(daemon_.stream_count()); }

 private:
  const pyro::Daemon& daemon_;
};

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  pyro::Daemon daemon(options);
  if (!daemon.config().iter_streaming)
    std::cout << "note: item streaming is disabled in the config (ITER_STREAMING)" << std::endl;
  const auto exposed = pyro::Exposed<Streamer>("Streamer")
                           .method("list", &Streamer::list)
                           .method("iterator", &Streamer::iterator)
                           .method("generator", &Streamer::generator)
                           .method("slow_generator", &Streamer::slow_generator)
                           .method("fibonacci", &Streamer::fibonacci)
                           .method("open_streams", &Streamer::open_streams);
  const pyro::Uri uri =
      daemon.expose(std::make_shared<Streamer>(daemon), "example.streamer", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
