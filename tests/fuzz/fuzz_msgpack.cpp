// Fuzz target for the msgpack decoder (and its encoder, on whatever the decoder accepts).
#include "codec_fuzzer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return pyro::fuzz::check_codec(pyro::msgpack_serializer(), data, size);
}
