// Fuzz target for the URI parser: parse, print, parse again to the same URI.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pyro/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const pyro::Uri uri(text);
    const std::string printed = uri.str();
    (void)uri.to_dict(pyro::Dialect::pyro5);
    try {
      const pyro::Uri again(printed);
      if (again.protocol() != uri.protocol()) std::abort();
    } catch (const pyro::PyroError&) {
      // printing can lose information Pyro's parser needs (a host with ':' and no brackets)
    }
  } catch (const pyro::PyroError&) {
  }
  return 0;
}
