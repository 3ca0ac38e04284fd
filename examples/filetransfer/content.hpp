// content.hpp — what the filetransfer example transfers, shared by its server and client: a byte
// pattern that tells where in a file every byte came from, units, and the raw channel's id size.
// Pyro's example sends b"x" * size; a pattern with a prime period (251) makes a lost, repeated or
// reordered chunk show up in a hash of the received file, and costs no more to produce.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace filetransfer {

// Length of a blob id on the raw channel: a uuid4 in its 36-character text form, as Pyro's
// example reads exactly that many bytes before it looks the id up.
inline constexpr std::size_t blob_id_size = 36;
// Pyro's example counts megabytes of 1024 * 1024 bytes ("Mb/sec").
inline constexpr double mebibyte = 1024.0 * 1024.0;
inline constexpr std::uint64_t pattern_period = 251;

// Writes the content bytes [offset, offset + n) to out: byte i of a file is i % 251.
// (In Python: (bytes(range(251)) * k)[offset % 251:][:n].)
inline void fill_content(char* out, std::size_t n, std::uint64_t offset) {
  // A few periods, so most of the work is a handful of large memcpy calls.
  static const std::string block = [] {
    std::string b(pattern_period * 64, '\0');
    for (std::size_t i = 0; i < b.size(); ++i)
      b[i] = static_cast<char>(i % pattern_period);
    return b;
  }();
  std::size_t start = offset % pattern_period;
  while (n > 0) {
    const std::size_t take = std::min(n, block.size() - start);
    std::memcpy(out, block.data() + start, take);
    out += take;
    n -= take;
    start = (start + take) % pattern_period;
  }
}

inline std::string content(std::uint64_t offset, std::size_t n) {
  std::string out(n, '\0');
  fill_content(out.data(), n, offset);
  return out;
}

}  // namespace filetransfer
