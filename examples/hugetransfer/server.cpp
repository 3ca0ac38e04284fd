// hugetransfer server — receives big arguments and sends a big result back in pieces, to see
// how the protocol copes with messages of many megabytes. The methods match Pyro's hugetransfer
// example, so Python Pyro's client works against it:
//   transfer(data)        -> len(data): data is a str, or bytes (serpent: its base64 dict)
//   download_chunks(size) -> an item stream of zero bytes, 200000 per item, size in all
// Usage: hugetransfer_server [--host HOST] [--port PORT]
#include "pyro/server.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "pyro/generator.hpp"

namespace {

constexpr std::int64_t chunk_size = 200000;  // the piece size of Pyro's example

// size zero bytes, chunk_size at a time (the last piece may be shorter). Every full piece is the
// same immutable bytes value, shared rather than copied.
pyro::Generator<pyro::Value> zero_chunks(std::int64_t size) {
  const pyro::Value full = pyro::Value::bytes(std::vector<std::byte>(chunk_size));
  for (std::int64_t sent = 0; sent < size; sent += chunk_size) {
    const std::int64_t length = std::min(chunk_size, size - sent);
    if (length == chunk_size)
      co_yield full;
    else
      co_yield pyro::Value::bytes(std::vector<std::byte>(static_cast<std::size_t>(length)));
  }
}

class Testclass {
 public:
  // Python's len(data). Serpent has no bytes type: Pyro's serpent sends bytes and bytearray as
  // {'data': <base64>, 'encoding': 'base64'}, which is decoded before counting.
  std::int64_t transfer(const pyro::Value& data) {
    const std::size_t length =
        data.is_dict() ? pyro::from_value<std::vector<std::byte>>(data).size() : data.size();
    std::cout << "received " << length << " bytes (" << data.type_name() << ")" << std::endl;
    return static_cast<std::int64_t>(length);
  }

  pyro::ItemStream download_chunks(std::int64_t size) {
    std::cout << "client requests a streaming download of " << size << " bytes in chunks of "
              << chunk_size << std::endl;
    return pyro::ItemStream(zero_chunks(size));
  }
};

}  // namespace

int main(int argc, char** argv) {
  pyro::DaemonOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--host") options.host = argv[i + 1];
    if (flag == "--port") options.port = std::atoi(argv[i + 1]);
  }
  // Pyro5 clients may use any serializer; Pyro4 clients only those accepted, and Pyro4 leaves
  // msgpack out by default. This example compares all four, so it takes them all.
  pyro::Config config = pyro::Config::global();
  config.serializers_accepted = {"serpent", "json", "marshal", "msgpack"};
  pyro::Daemon daemon(options, config);
  const auto exposed = pyro::Exposed<Testclass>("Testclass")
                           .method("transfer", &Testclass::transfer)
                           .method("download_chunks", &Testclass::download_chunks);
  const pyro::Uri uri =
      daemon.expose(std::make_shared<Testclass>(), "example.hugetransfer", exposed);
  std::cout << "uri: " << uri.str() << std::endl;
  daemon.request_loop();
}
