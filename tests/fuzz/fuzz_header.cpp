// Fuzz target for reading whole messages as transport does: detect_protocol → parse_header →
// decode_body, without and with an HMAC key. Only PyroErrors may come out; whatever decodes must
// encode again (encode never refuses a decoded message) and decode back to the same Message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "pyro/protocol.hpp"

namespace {

constexpr std::size_t max_size = std::size_t{1} << 20;

void round_trip(const pyro::Message& m, const pyro::Header& h,
                const std::optional<std::string>& key) {
  std::string bytes;
  const pyro::EncodeSettings settings{.compress = (h.flags & pyro::flags::compressed) != 0,
                                      .hmac_key = key ? &*key : nullptr};
  pyro::encode_message(m, bytes, settings);  // a PyroError here is a bug: let it crash
  const std::size_t hsize = pyro::header_size(m.protocol);
  const pyro::Header again = pyro::parse_header(std::string_view(bytes).substr(0, hsize), 0);
  if (again.body_size() != bytes.size() - hsize) std::abort();
  const pyro::Message back = pyro::decode_body(again, std::string_view(bytes).substr(hsize), key);
  if (!(back == m)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const std::uint16_t protocol = pyro::detect_protocol(input);
    const std::size_t hsize = pyro::header_size(protocol);
    if (input.size() < hsize) return 0;  // transport would wait for more
    const pyro::Header h = pyro::parse_header(input.substr(0, hsize), max_size);
    const std::string_view rest = input.substr(hsize);
    if (rest.size() < h.body_size()) return 0;
    const std::string_view body = rest.substr(0, h.body_size());
    for (const std::optional<std::string>& key :
         {std::optional<std::string>(), std::optional<std::string>("secretkey")}) {
      try {
        const pyro::Message m = pyro::decode_body(h, body, key, 4 * max_size);
        if (!(pyro::decode_body(h, std::string(body), key, 4 * max_size) == m)) std::abort();
        round_trip(m, h, key);
      } catch (const pyro::PyroError&) {
      }
    }
    for (auto t : {pyro::MessageType::connect, pyro::MessageType::invoke}) {
      try {
        pyro::check_type(h, {t});
      } catch (const pyro::ProtocolError&) {
      }
    }
  } catch (const pyro::PyroError&) {
  }
  return 0;
}
