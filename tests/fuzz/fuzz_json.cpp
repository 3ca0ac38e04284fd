// Fuzz target for the json decoder (and its encoder, on whatever the decoder accepts).
#include "codec_fuzzer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return pyro::fuzz::check_codec(pyro::json_serializer(), data, size);
}
