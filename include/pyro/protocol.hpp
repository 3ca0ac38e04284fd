// protocol.hpp — Pyro wire messages: header, flags and annotations, for protocols 502 and 48.
// Turns bytes into a Message and back (framing, annotation chunks, zlib compression, Pyro4's
// header checksum and HMAC); pure functions, no I/O. Relies on errors.hpp for what it throws and
// on value.hpp for Dialect; never looks inside payloads (serializers do) nor touches a socket
// (transport does). Every constant here is on the wire: changing one needs an interop test.
//
// Reading a message, in the order transport does it (Pyro5's protocol.recv_stub, Pyro4's
// Message.recv):
//
//   std::uint16_t protocol = detect_protocol(first_6_bytes);        // or parse_header directly
//   Header header = parse_header(first_header_size_bytes, max_size); // before the body is read
//   check_type(header, {MessageType::connect});
//   Message message = decode_body(header, body_bytes, hmac_key);
//
// and writing one: encode_message(message, buffer, {.compress = true}).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyro/errors.hpp"
#include "pyro/value.hpp"

namespace pyro {

// Message types, the same numbers in both protocols (Pyro5 protocol.MSG_*, Pyro4 message.MSG_*).
enum class MessageType : std::uint16_t {
  connect = 1,
  connectok = 2,
  connectfail = 3,
  invoke = 4,
  result = 5,
  ping = 6,
};

// Message flags in protocol 502's numbering (Pyro5 protocol.FLAGS_*). The protocol 48 codec
// translates to and from Pyro4's bit layout (message.FLAGS_*), in which itemstreamresult is
// 0x20, keepserialized 0x40 and meta_on_connect 0x10.
namespace flags {
inline constexpr std::uint16_t exception = 0x0001;
// Managed by encode_message / decode_body: never set in a decoded Message.
inline constexpr std::uint16_t compressed = 0x0002;
inline constexpr std::uint16_t oneway = 0x0004;
inline constexpr std::uint16_t batch = 0x0008;
inline constexpr std::uint16_t itemstreamresult = 0x0010;
inline constexpr std::uint16_t keepserialized = 0x0020;
// Set in a decoded Message exactly when it has a correlation id (both protocols); encode_message
// derives it from Message::correlation_id and ignores the bit.
inline constexpr std::uint16_t corr_id = 0x0040;
// Pyro4 only (0x0010 on its wire): the CONNECT asks for metadata, the CONNECTOK carries it.
// Protocol 502 has no such flag; its codec carries the bit through unchanged.
inline constexpr std::uint16_t meta_on_connect = 0x0100;
}  // namespace flags

inline constexpr std::uint16_t protocol_502 = 502;  // Pyro5 protocol.PROTOCOL_VERSION
inline constexpr std::uint16_t protocol_48 = 48;    // Pyro4 constants.PROTOCOL_VERSION

// The serializer id of Pyro's protocol-level ping (Pyro5 SendingMessage.ping, Pyro4
// Message.ping); its payload is never decoded.
inline constexpr std::uint16_t ping_serializer_id = 42;

// The payload dialect (class names, proxy layout) spoken with a protocol version.
constexpr Dialect dialect_of(std::uint16_t protocol) noexcept {
  return protocol == protocol_48 ? Dialect::pyro4 : Dialect::pyro5;
}

// The flags of protocol 502's numbering as they go on the wire of the given protocol, and back.
// For 48, bits that Pyro4 does not have (corr_id, unknown bits) are dropped both ways; for 502
// the value is unchanged.
std::uint16_t wire_flags(std::uint16_t protocol, std::uint16_t flags) noexcept;
std::uint16_t flags_from_wire(std::uint16_t protocol, std::uint16_t wire) noexcept;

// ---------------------------------------------------------------------------------------------
// Correlation ids
// ---------------------------------------------------------------------------------------------

// A UUID in RFC 4122 byte order (Python's uuid.UUID.bytes).
using CorrelationId = std::array<std::uint8_t, 16>;

// A random UUID4 (Python's uuid.uuid4()), from OpenSSL's CSPRNG: also fit for stream ids, which
// another connection may use to resume a stream. Thread-safe.
CorrelationId new_correlation_id();
// The canonical text: 8-4-4-4-12 lowercase hex digits, "15f2551e-4b83-4fab-9757-5529442c5d6c".
std::string correlation_id_text(const CorrelationId& id);
// Reads that text (hex digits of either case); nullopt when it is not one.
std::optional<CorrelationId> parse_correlation_id(std::string_view text) noexcept;

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

// The annotation chunks of a message: 4-character ASCII ids with byte-string values, in
// insertion order, each id at most once: Pyro's annotations dict. Setting an existing id
// replaces its value in place; a message that carries an id twice decodes to the last value, at
// the first one's position. Ids are checked when a message is encoded, not here.
// Value type: copyable, compared like a dict (order does not matter). Thread-compatible.
class Annotations {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  Annotations() = default;
  Annotations(std::initializer_list<value_type> items);

  void set(std::string_view id, std::string value);
  // Null when absent.
  const std::string* find(std::string_view id) const noexcept;
  std::string* find(std::string_view id) noexcept;
  bool contains(std::string_view id) const noexcept { return find(id) != nullptr; }
  // Returns whether the id was there.
  bool erase(std::string_view id);
  void clear() noexcept { items_.clear(); }
  void reserve(std::size_t n) { items_.reserve(n); }

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const_iterator begin() const noexcept { return items_.begin(); }
  const_iterator end() const noexcept { return items_.end(); }

  friend bool operator==(const Annotations& a, const Annotations& b);

 private:
  friend struct AnnotationsAccess;  // the decoder appends chunks it has already deduplicated
  std::vector<value_type> items_;
};

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

// One Pyro message, protocol-neutral: what decode_body returns and encode_message writes.
// Value type: copyable, cheap to move, compared by content. Thread-compatible.
struct Message {
  std::uint16_t protocol = protocol_502;
  MessageType type = MessageType::invoke;
  // The id of the given protocol's numbering (Pyro5 marshal is 2, Pyro4 marshal 3).
  std::uint16_t serializer_id = 1;
  // protocol 502's numbering; compressed and corr_id are managed by encode/decode (see flags).
  std::uint16_t flags = 0;
  std::uint16_t seq = 0;
  // 502: the header field (with the corr_id flag). 48: the CORR annotation, moved out of the
  // annotations by decode_body and into them by encode_message.
  std::optional<CorrelationId> correlation_id;
  // Protocol 48 only: where the CORR chunk sits among the annotations (0 = first). Pyro4 puts it
  // after the context's annotations but keeps an earlier position when the context dict already
  // held CORR (so a Pyro4 daemon's first RESULT after the handshake has it first); decode_body
  // records where it was, so a message re-encodes byte for byte. Default: after all of them.
  std::size_t correlation_index = std::numeric_limits<std::size_t>::max();
  // All other chunks, STRM, BLBI and user ones. For 48 never CORR or HMAC (HMAC is verified and
  // removed by decode_body, added by encode_message when a key is set).
  Annotations annotations;
  // Always uncompressed here.
  std::string payload;

  friend bool operator==(const Message&, const Message&) = default;
};

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

// Bytes of the fixed header: 40 for 502, 24 for 48. Throws ProtocolError("invalid protocol
// version: N") for any other version.
constexpr std::size_t header_size(std::uint16_t protocol) {
  if (protocol == protocol_502) return 40;
  if (protocol == protocol_48) return 24;
  throw ProtocolError("invalid protocol version: " + std::to_string(protocol));
}
inline constexpr std::size_t max_header_size = 40;
// What detect_protocol needs: the tag "PYRO" and the version.
inline constexpr std::size_t protocol_probe_size = 6;

// The protocol of a message from its first 6 bytes (more are ignored). With expected 0 either
// version is accepted; otherwise only that one. Throws ProtocolError with the text of the peer
// that would have read these bytes: Pyro5's "invalid data" (not PYRO, or fewer than 6 bytes) and
// "invalid protocol version: N" (expected 0 or 502), Pyro4's "invalid data or unsupported
// protocol version" (expected 48).
std::uint16_t detect_protocol(std::string_view first6, std::uint16_t expected = 0);

// A parsed fixed header: everything needed to read and decode the body.
struct Header {
  std::uint16_t protocol = protocol_502;
  std::uint16_t type = 0;  // not checked: check_type does that
  std::uint16_t serializer_id = 0;
  std::uint16_t flags = 0;  // 502 numbering, as on the wire (compressed included)
  std::uint16_t seq = 0;
  std::uint32_t data_size = 0;                  // payload bytes as sent (compressed)
  std::uint32_t annotations_size = 0;           // bytes of all annotation chunks
  std::optional<CorrelationId> correlation_id;  // 502 only (48 carries it in the body)

  // The bytes that follow the header: annotations, then payload.
  std::size_t body_size() const noexcept { return std::size_t{data_size} + annotations_size; }
};

// Parses a whole fixed header; its size says the protocol (40 bytes: 502, 24 bytes: 48, other
// sizes: ProtocolError("header data size mismatch")). Checks it, and the size limit
// (max_message_size, 0 = unlimited, against data + annotations size), before anything is
// allocated for the body. Throws, with the peers' texts:
//   502: ProtocolError("invalid message or protocol version") (tag, version or magic),
//        ProtocolError("message too large (N, max=M)");
//   48:  ProtocolError("invalid data or unsupported protocol version"),
//        ProtocolError("header checksum mismatch"),
//        ProtocolError("invalid message size (outside range 0..2Gb)") (negative data length),
//        MessageTooLargeError("max message size exceeded (N where max=M)").
Header parse_header(std::string_view header_bytes, std::size_t max_message_size);

// The receiver's check of the message type; an empty list accepts any type. Throws
// ProtocolError("invalid msg type T received (expected: 4,6)") for 502 and
// ProtocolError("invalid msg type T received") for 48.
void check_type(const Header& header, std::initializer_list<MessageType> expected);

// Decodes the body (body_size() bytes after the header): annotation chunks, Pyro4's HMAC check,
// CORR, decompression. hmac_key (48 only, ignored for 502; empty counts as none, as in Pyro4)
// must match the sender's. max_payload_size (0 = unlimited) bounds what decompression may
// produce, so a small zlib bomb cannot exhaust memory (Pyro has no such limit). Throws:
//   ProtocolError("payload length doesn't match message header"),
//   ProtocolError("annotation chunk length exceeds remaining data") (also for a chunk header
//     cut short, as in Pyro5),
//   ProtocolError("annotation identifier must be 4 ascii characters") (non-ASCII id),
//   ProtocolError("invalid correlation id (N bytes, expected 16)") (48: a CORR chunk of the
//     wrong size),
//   SecurityError("message hmac mismatch"), SecurityError("hmac key config not symmetric"),
//   ProtocolError("Error -3 while decompressing data: incorrect header check") and the other
//     texts of Python's zlib.decompress,
//   MessageTooLargeError("decompressed payload too large (more than M bytes)").
Message decode_body(const Header& header, std::string_view body,
                    const std::optional<std::string>& hmac_key = std::nullopt,
                    std::size_t max_payload_size = 0);
// The same, reusing body's buffer for the payload when it is not compressed (no copy at all
// when there are no annotations).
Message decode_body(const Header& header, std::string&& body,
                    const std::optional<std::string>& hmac_key = std::nullopt,
                    std::size_t max_payload_size = 0);

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

struct EncodeSettings {
  // The sender's COMPRESSION config item. 502 (Pyro5): payloads over 100 bytes are always sent
  // compressed (zlib level 4). 48 (Pyro4): payloads of 200 bytes or more are compressed (zlib's
  // default level) and sent so only when that made them smaller.
  bool compress = false;
  // MAX_MESSAGE_SIZE of the sender, 0 = unlimited.
  std::size_t max_message_size = 0;
  // 48 only: the HMAC key (Pyro4's _pyroHmacKey); null or empty = no HMAC chunk. Ignored for 502.
  const std::string* hmac_key = nullptr;
};

// Appends the whole message (header, annotation chunks, payload) to out, with one allocation at
// most. Message::flags' compressed and corr_id bits are replaced by what is actually sent; for
// 48 the CORR chunk is written from correlation_id and the HMAC chunk last when a key is set.
// On error out is left as it was. Throws:
//   502: ProtocolError("message too large (N, max=M)"),
//        ProtocolError("annotation identifier must be 4 ascii characters");
//   48:  MessageTooLargeError("max message size exceeded (N where max=M)"),
//        MessageTooLargeError("invalid message size (outside range 0..2Gb)"),
//        ProtocolError("annotation key must be of length 4"),
//        ProtocolError("annotation CORR is reserved in protocol 48: set Message::correlation_id")
//        (also for HMAC), ProtocolError("annotation XXXX too large (N bytes, max=65535)"),
//        ProtocolError("annotations too large (N bytes, max=65535)");
//   both: ProtocolError for a protocol other than 502/48 or a type or serializer id that does
//        not fit its field.
void encode_message(const Message& message, std::string& out, const EncodeSettings& settings = {});
std::string encode_message(const Message& message, const EncodeSettings& settings = {});

// The size of the annotation area encode_message writes for this message: its chunks, and for
// 48 the CORR chunk (when it has a correlation id) and the HMAC chunk (when a key is set). It
// must fit the header's size field (65535 for 48); ids are not checked here.
std::size_t annotations_area_size(const Message& message, const EncodeSettings& settings = {});

// Like encode_message, but a payload that goes out as it is (not compressed) is not copied:
// out gets the header and annotation chunks, and the returned view (message.payload itself) is
// to be sent right after them. When the payload was compressed it is in out and the view is
// empty. For big payloads, which are then written with one gathering send.
std::string_view encode_message_head(const Message& message, std::string& out,
                                     const EncodeSettings& settings = {});
// The same for a payload of which external_bytes more bytes go out separately (bytes values
// left out by EncodeOptions::external): the header counts them. Such a message cannot be
// compressed or signed (std::logic_error).
std::string_view encode_message_head(const Message& message, std::string& out,
                                     const EncodeSettings& settings, std::size_t external_bytes);

// ---------------------------------------------------------------------------------------------
// Replies built by the protocol layer
// ---------------------------------------------------------------------------------------------

// The CONNECTFAIL a daemon sends for input it could not parse at all (bad tag, version, magic,
// checksum, unexpected first message type, too large): marshal serializer (2 for 502, 3 for 48),
// seq 0, flags 0, no correlation id, payload = the text as CPython's marshal writes that str
// (with the FLAG_REF bit Pyro's daemons have on it: fa 0c "invalid data" for a short ASCII text).
Message connect_fail_for_bad_input(std::uint16_t protocol, std::string_view text);

// Pyro's protocol-level ping: serializer 42, seq 0, payload "ping".
Message ping_message(std::uint16_t protocol);
// The reply to a PING: same protocol, seq and serializer id, flags 0, the request's correlation
// id, payload "pong". The daemon adds its annotations and, when the request had none, its own
// correlation id (every Pyro5/Pyro4 daemon reply carries one).
Message ping_reply(const Message& ping);

}  // namespace pyro
