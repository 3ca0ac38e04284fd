// Fuzz target for annotation chunks. Reading: the input after one control byte is the annotation
// area of a message (protocol 502 or 48 chosen by that byte), decoded through decode_body; only
// PyroErrors may come out and what decodes re-encodes to the same Message. Writing: the input cut
// into arbitrary (id, value) pairs must either be refused with ProtocolError or come back intact.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "pyro/protocol.hpp"

namespace {

void read_area(std::uint16_t protocol, std::string_view area,
               const std::optional<std::string>& key) {
  pyro::Header h;
  h.protocol = protocol;
  h.type = static_cast<std::uint16_t>(pyro::MessageType::result);
  h.serializer_id = 1;
  const std::string_view payload = "payload";
  h.data_size = static_cast<std::uint32_t>(payload.size());
  h.annotations_size = static_cast<std::uint32_t>(area.size());
  std::string body(area);
  body.append(payload);
  pyro::Message m;
  try {
    m = pyro::decode_body(h, body, key);
  } catch (const pyro::PyroError&) {
    return;
  }
  if (m.payload != payload) std::abort();
  if (protocol == pyro::protocol_48 && area.size() > 0xFFFF) return;  // not a valid 48 header
  const std::string bytes = pyro::encode_message(m, {.hmac_key = key ? &*key : nullptr});
  const std::size_t hsize = pyro::header_size(protocol);
  const pyro::Header again = pyro::parse_header(std::string_view(bytes).substr(0, hsize), 0);
  if (!(pyro::decode_body(again, std::string_view(bytes).substr(hsize), key) == m)) std::abort();
}

void write_pairs(std::uint16_t protocol, std::string_view input) {
  pyro::Message m;
  m.protocol = protocol;
  m.payload = "p";
  // Each pair: 1 byte id length (0..7), the id, 1 byte value length, the value.
  std::size_t i = 0;
  while (i < input.size()) {
    const std::size_t id_len = static_cast<unsigned char>(input[i++]) % 8;
    const std::string_view id = input.substr(i, id_len);
    i += id.size();
    const std::size_t value_len = i < input.size() ? static_cast<unsigned char>(input[i++]) : 0;
    const std::string_view value = input.substr(std::min(i, input.size()), value_len);
    i += value.size();
    m.annotations.set(id, std::string(value));
  }
  std::string bytes;
  try {
    pyro::encode_message(m, bytes);
  } catch (const pyro::ProtocolError&) {
    return;
  }
  const std::size_t hsize = pyro::header_size(protocol);
  const pyro::Header h = pyro::parse_header(std::string_view(bytes).substr(0, hsize), 0);
  if (!(pyro::decode_body(h, std::string_view(bytes).substr(hsize)) == m)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::uint16_t protocol = (data[0] & 1) ? pyro::protocol_48 : pyro::protocol_502;
  const std::optional<std::string> key =
      (data[0] & 2) ? std::optional<std::string>("secretkey") : std::nullopt;
  if (data[0] & 4) {
    write_pairs(protocol, input);
  } else {
    read_area(protocol, input, key);
  }
  return 0;
}
