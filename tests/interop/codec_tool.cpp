// codec_tool — the C++ half of the live serializer cross-checks (tests/interop/*.py).
// Usage: codec_tool <serpent|json|marshal|msgpack> <pyro5|pyro4> [--reconstruct] [--bytes-repr]
// Reads records (u32 big-endian length + payload) from stdin until EOF. Each payload is decoded,
// optionally passed through reconstruct() (Pyro's class dicts become URIs, proxies, exceptions)
// and encoded again in the given dialect. Writes one record per input: 'O' + u32 length + the
// re-encoded bytes, or 'E' + u32 length + "<ExceptionClass>: <message>".
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <typeinfo>

#include "pyro/serializer.hpp"

namespace {

bool read_exact(std::string& buf, std::size_t n) {
  buf.resize(n);
  return n == 0 || std::fread(buf.data(), 1, n, stdin) == n;
}

void write_record(char status, const std::string& data) {
  const auto n = static_cast<std::uint32_t>(data.size());
  const unsigned char len[4] = {static_cast<unsigned char>(n >> 24),
                                static_cast<unsigned char>(n >> 16),
                                static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
  std::fputc(status, stdout);
  std::fwrite(len, 1, 4, stdout);
  std::fwrite(data.data(), 1, data.size(), stdout);
}

std::string class_of(const std::exception& e) {
  if (dynamic_cast<const pyro::SerializeError*>(&e)) return "SerializeError";
  if (dynamic_cast<const pyro::SecurityError*>(&e)) return "SecurityError";
  if (dynamic_cast<const pyro::TypeError*>(&e)) return "TypeError";
  if (dynamic_cast<const pyro::ValueError*>(&e)) return "ValueError";
  if (dynamic_cast<const pyro::OverflowError*>(&e)) return "OverflowError";
  return typeid(e).name();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: codec_tool <serializer> <pyro5|pyro4> [--reconstruct] [--bytes-repr]\n";
    return 2;
  }
  const pyro::Serializer& ser = pyro::serializer_by_name(argv[1]);
  pyro::EncodeOptions options;
  options.dialect = std::string(argv[2]) == "pyro4" ? pyro::Dialect::pyro4 : pyro::Dialect::pyro5;
  bool reconstruct = false;
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--reconstruct") reconstruct = true;
    if (arg == "--bytes-repr") options.bytes_repr = true;
  }
  std::string header, payload;
  while (read_exact(header, 4)) {
    const auto* h = reinterpret_cast<const unsigned char*>(header.data());
    const std::size_t n =
        std::size_t{h[0]} << 24 | std::size_t{h[1]} << 16 | std::size_t{h[2]} << 8 | h[3];
    if (!read_exact(payload, n)) return 3;
    try {
      pyro::Value v = ser.decode(payload);
      if (reconstruct) v = pyro::reconstruct(std::move(v), ser.reconstruct_order());
      write_record('O', ser.encode(v, options));
    } catch (const std::exception& e) {
      write_record('E', class_of(e) + ": " + e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}
