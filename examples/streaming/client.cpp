// streaming client — iterates the item streams of example.streamer: whole ones, a slow one as
// its items arrive, and an endless one that it closes after a few items. A plain call of a
// streaming method is refused. Usage: streaming_client <uri of example.streamer>
#include "pyro/client.hpp"

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// "[1, 2, 3]" from every item of a stream (the remote counterpart of Python's list(it)).
std::string collect(pyro::RemoteIterator stream) {
  std::string out = "[";
  for (const pyro::Value& item : stream) {
    if (out.size() > 1) out += ", ";
    out += item.repr();
  }
  return out + "]";
}

// Asks the server how many streams it keeps open until that is `expected` (closing a stream is
// a oneway call, so the daemon may see it a moment later); gives up after 5 s.
std::int64_t wait_for_open_streams(pyro::Proxy& streamer, std::int64_t expected) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  std::int64_t open = streamer.call<std::int64_t>("open_streams");
  while (open != expected && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    open = streamer.call<std::int64_t>("open_streams");
  }
  return open;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: streaming_client <uri of example.streamer>\n";
    return 2;
  }
  try {
    pyro::Proxy streamer{argv[1]};

    std::cout << "normal list:\n  "
              << pyro::to_value(streamer.call<std::vector<int>>("list")).repr() << std::endl;
    std::cout << "via iterator:\n  " << collect(streamer.stream("iterator")) << std::endl;
    std::cout << "via generator:\n  " << collect(streamer.stream("generator")) << std::endl;

    std::cout << "slow generator (items as they arrive):" << std::endl;
    const Clock::time_point start = Clock::now();
    for (const pyro::Value& item : streamer.stream("slow_generator")) {
      const double at = std::chrono::duration<double>(Clock::now() - start).count();
      std::cout << "  " << item.repr() << " after " << std::fixed << std::setprecision(1) << at
                << " s" << std::endl;
    }

    std::cout << "infinite fibonacci, stopped after 15 items:\n  ";
    {
      pyro::RemoteIterator fibonacci = streamer.stream("fibonacci");
      for (int i = 0; i < 15; ++i) {
        std::optional<pyro::Value> item = fibonacci.next();
        if (!item) break;
        std::cout << item->repr() << (i < 14 ? " " : "\n");
      }
      std::cout << "open streams on the server while it runs: "
                << streamer.call<std::int64_t>("open_streams") << std::endl;
      fibonacci.close();  // tells the daemon to drop it (destroying it would do the same)
    }
    std::cout << "open streams on the server after closing it: "
              << wait_for_open_streams(streamer, 0) << std::endl;

    std::cout << "plain call of a streaming method:" << std::endl;
    try {
      streamer.call("generator");
      std::cout << "  unexpectedly accepted" << std::endl;
      return 1;
    } catch (const pyro::ProtocolError& e) {
      std::cout << "  refused: " << e.what() << std::endl;
    }
    std::cout << "open streams on the server at the end: " << wait_for_open_streams(streamer, 0)
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "streaming client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
