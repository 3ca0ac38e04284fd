// batchedcalls client — the same many calls made one by one and then as one batch (Pyro's
// BatchProxy), a oneway batch, and a batch that a ZeroDivisionError stops halfway.
// Usage: batchedcalls_client <uri of example.batched> [loops, default 5000]
#include "pyro/client.hpp"

#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: batchedcalls_client <uri of example.batched> [loops]\n";
    return 2;
  }
  const int loops = argc > 2 ? std::atoi(argv[2]) : 5000;
  const long long expected = static_cast<long long>(loops) * (7 * 6 + 10 + 20);
  std::cout << std::fixed << std::setprecision(2);
  try {
    pyro::Proxy p{argv[1]};

    std::cout << "normal remote calls..." << std::endl;
    Clock::time_point begin = Clock::now();
    long long total = 0;
    p.call("printmessage", "beginning normal calls");
    for (int i = 0; i < loops; ++i) {
      total += p.call<long long>("multiply", 7, 6);
      total += p.call<long long>("add", 10, 20);
    }
    p.call("printmessage", "end of normal calls");
    const double normal = seconds_since(begin);
    std::cout << "total " << total << (total == expected ? " (correct)" : " (WRONG)") << ", took "
              << normal << " s" << std::endl;

    std::cout << "\nbatched remote calls..." << std::endl;
    begin = Clock::now();
    pyro::BatchProxy batch(p);
    batch.add("printmessage", "beginning batch #1");
    for (int i = 0; i < loops; ++i)
      batch.add("multiply", 7, 6).add("add", 10, 20);  // queued, nothing sent yet
    batch.add("printmessage", "end of batch #1");
    std::cout << "sending " << batch.size() << " calls in one message" << std::endl;
    total = 0;
    pyro::BatchResults results = batch();
    std::cout << "processing " << results.size() << " results..." << std::endl;
    for (const pyro::Value& r : results)
      total += r.as_int();
    const double batched = seconds_since(begin);
    std::cout << "total " << total << (total == expected ? " (correct)" : " (WRONG)") << ", took "
              << batched << " s" << std::endl;
    std::cout << "batched calls were " << std::setprecision(1) << normal / batched
              << " times faster than normal remote calls" << std::setprecision(2) << std::endl;

    std::cout << "\noneway batched remote calls..." << std::endl;
    begin = Clock::now();
    batch.add("printmessage", "beginning batch #2");
    for (int i = 0; i < loops; ++i)
      batch.add("multiply", 7, 6).add("add", 10, 20);
    batch.add("delay", 1.0);  // the server sleeps a second; we do not wait for it
    batch.add("printmessage", "end of batch #2");
    batch.run_oneway();  // no results at all
    std::cout << "oneway batch sent, no results; took " << seconds_since(begin) << " s"
              << std::endl;

    std::cout << "\nbatch with an error: dividing 100 by 3, 2, 1, 0, -1, -2" << std::endl;
    for (int d = 3; d > -3; --d)
      batch.add("divide", 100, d);
    results = batch();
    std::cout << "the daemon sent " << results.size() << " results" << std::endl;
    int divisor = 3;
    try {
      for (const pyro::Value& r : results) {
        std::cout << "100 // " << divisor << " = " << r.as_int() << std::endl;
        --divisor;
      }
      std::cout << "no error?!" << std::endl;
    } catch (const pyro::RemoteError& e) {
      std::cout << "the batch stopped at 100 // " << divisor << ": " << e.class_name() << ": "
                << e.what() << " (expected)" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "batchedcalls client failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
