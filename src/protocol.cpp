// protocol.cpp — Pyro wire messages for protocols 502 (Pyro5 Pyro5/protocol.py) and 48 (Pyro4
// Pyro4/message.py): header codecs, annotation chunks, zlib, Pyro4's checksum and HMAC.
//
// Hot path rules: encode_message writes a whole message into the caller's buffer after one
// reserve (zlib output goes straight into it, the header is filled in last); decode_body copies
// the payload once (not at all from an rvalue body without annotations). zlib streams are kept
// per thread and reset between messages instead of being built for every message.
#include "pyro/protocol.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <pthread.h>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <zlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace pyro {

// The decoder's way into Annotations: it appends chunks whose ids it has deduplicated itself
// (a hash index for messages with many chunks, where set()'s linear search would be quadratic).
struct AnnotationsAccess {
  static std::vector<Annotations::value_type>& items(Annotations& a) { return a.items_; }
};

namespace {

// ---------------------------------------------------------------------------------------------
// Constants of the two wire formats
// ---------------------------------------------------------------------------------------------

constexpr char tag[4] = {'P', 'Y', 'R', 'O'};
constexpr std::size_t size_502 = 40;
constexpr std::size_t size_48 = 24;
constexpr std::uint16_t magic_502 = 0x4DC5;       // Pyro5 protocol._magic_number
constexpr std::uint16_t checksum_magic = 0x34E9;  // Pyro4 Message.checksum_magic
constexpr std::size_t chunk_header_502 = 8;       // id + u32 length
constexpr std::size_t chunk_header_48 = 6;        // id + u16 length
constexpr std::size_t hmac_size = 20;             // SHA-1 digest
constexpr std::size_t corr_size = 16;
constexpr std::uint32_t max_data_size_48 = 0x7FFFFFFF;  // Pyro4's header field is an i32
constexpr std::size_t max_u16 = 0xFFFF;
constexpr std::size_t max_u32 = 0xFFFFFFFF;

// Pyro4's own flag bits (message.FLAGS_*) where they differ from 502's.
constexpr std::uint16_t wire48_meta_on_connect = 0x0010;
constexpr std::uint16_t wire48_itemstreamresult = 0x0020;
constexpr std::uint16_t wire48_keepserialized = 0x0040;
// The bits both protocols number alike.
constexpr std::uint16_t common_flags =
    flags::exception | flags::compressed | flags::oneway | flags::batch;

// Compression rules: Pyro5 SendingMessage (> 100 bytes, level 4, always), Pyro4
// SerializerBase.__compressdata (>= 200 bytes, default level, only if smaller).
constexpr std::size_t compress_above_502 = 100;
constexpr std::size_t compress_from_48 = 200;
constexpr int level_502 = 4;
constexpr int level_48 = Z_DEFAULT_COMPRESSION;

std::uint16_t get16(const char* p) noexcept {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) |
                                    static_cast<unsigned char>(p[1]));
}
std::uint32_t get32(const char* p) noexcept {
  return (std::uint32_t{static_cast<unsigned char>(p[0])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(p[1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(p[2])} << 8) |
         std::uint32_t{static_cast<unsigned char>(p[3])};
}
void put16(char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
void put32(char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

bool is_ascii_id(std::string_view id) noexcept {
  return id.size() == 4 && std::all_of(id.begin(), id.end(),
                                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Pyro4's header checksum (Message.__header_bytes / from_header): a plain sum of the fields.
std::uint16_t checksum_48(std::uint16_t type, std::uint32_t data_size,
                          std::uint16_t annotations_size, std::uint16_t serializer_id,
                          std::uint16_t wire_flags, std::uint16_t seq) noexcept {
  const std::uint32_t sum = std::uint32_t{type} + protocol_48 + data_size + annotations_size +
                            serializer_id + wire_flags + seq + checksum_magic;
  return static_cast<std::uint16_t>(sum & 0xFFFF);
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA1 (Pyro4 Message.hmac): the payload as on the wire, then the values of all other
// annotations in ascending order of id. Ids and lengths are not covered, nor is the header.
// ---------------------------------------------------------------------------------------------

using Digest = std::array<unsigned char, hmac_size>;

struct MacItem {
  std::string_view id;
  std::string_view value;
};

EVP_MAC* hmac_algorithm() {
  // Fetched once: EVP_MAC objects are immutable and shareable between threads.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) throw SecurityError("HMAC-SHA1 is not available from OpenSSL");
  return mac;
}

// One keyed context per thread: setting a key up (digest lookup, key padding) costs ten times
// what hashing a small message does, and a connection uses the same key for every message.
class HmacContext {
 public:
  HmacContext() = default;
  HmacContext(const HmacContext&) = delete;
  HmacContext& operator=(const HmacContext&) = delete;
  ~HmacContext() {
    OPENSSL_cleanse(key_.data(), key_.size());
    EVP_MAC_CTX_free(ctx_);
  }

  // The context, initialised for a new digest with this key.
  EVP_MAC_CTX* start(std::string_view key) {
    if (ctx_ != nullptr && keyed_ && key == key_) {
      // A null key re-initialises with the key already set.
      if (EVP_MAC_init(ctx_, nullptr, 0, nullptr) != 1) fail();
      return ctx_;
    }
    if (ctx_ == nullptr) {
      ctx_ = EVP_MAC_CTX_new(hmac_algorithm());
      if (ctx_ == nullptr) fail();
    }
    keyed_ = false;
    char digest_name[] = "SHA1";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                     params) != 1) {
      fail();
    }
    OPENSSL_cleanse(key_.data(), key_.size());
    key_.assign(key);
    keyed_ = true;
    return ctx_;
  }

  [[noreturn]] static void fail() { throw SecurityError("HMAC-SHA1 computation failed"); }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
  std::string key_;
  bool keyed_ = false;
};

// items are sorted here; the caller has left HMAC out.
Digest hmac_sha1(std::string_view key, std::string_view payload, MacItem* items, std::size_t n) {
  std::sort(items, items + n, [](const MacItem& a, const MacItem& b) { return a.id < b.id; });
  thread_local HmacContext context;
  EVP_MAC_CTX* ctx = context.start(key);
  bool ok = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(payload.data()),
                           payload.size()) == 1;
  for (std::size_t i = 0; ok && i < n; ++i) {
    ok = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(items[i].value.data()),
                        items[i].value.size()) == 1;
  }
  Digest digest{};
  std::size_t length = 0;
  if (!ok || EVP_MAC_final(ctx, digest.data(), &length, digest.size()) != 1 ||
      length != digest.size()) {
    HmacContext::fail();
  }
  return digest;
}

// A few annotations live on the stack; a message with many gets a vector.
class MacItems {
 public:
  explicit MacItems(std::size_t n) {
    if (n > small_.size()) big_.resize(n);
  }
  MacItem* data() noexcept { return big_.empty() ? small_.data() : big_.data(); }

 private:
  std::array<MacItem, 16> small_{};
  std::vector<MacItem> big_;
};

// ---------------------------------------------------------------------------------------------
// Random bytes for UUID4s: OpenSSL's CSPRNG, drawn in blocks. A call into RAND_bytes costs the
// same for 16 bytes as for 4 KiB (microseconds where system calls are slow), and a daemon makes
// one id per request. A forked child refills before using what its parent had drawn.
// ---------------------------------------------------------------------------------------------

std::atomic<unsigned> fork_generation{0};

void note_fork() noexcept {
  fork_generation.fetch_add(1, std::memory_order_relaxed);
}

class RandomPool {
 public:
  RandomPool() = default;
  RandomPool(const RandomPool&) = delete;
  RandomPool& operator=(const RandomPool&) = delete;
  ~RandomPool() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

  void take(std::uint8_t* out, std::size_t n) {
    static const int registered = pthread_atfork(nullptr, nullptr, note_fork);
    (void)registered;
    const unsigned generation = fork_generation.load(std::memory_order_relaxed);
    if (used_ + n > bytes_.size() || generation != generation_) {
      refill();
      generation_ = generation;
    }
    std::memcpy(out, bytes_.data() + used_, n);
    OPENSSL_cleanse(bytes_.data() + used_, n);  // handed out once, never kept
    used_ += n;
  }

 private:
  void refill() {
    if (RAND_bytes(bytes_.data(), static_cast<int>(bytes_.size())) != 1) {
      // OpenSSL's generator failed (not seeded): the OS generator instead.
      std::random_device device;
      for (auto& b : bytes_)
        b = static_cast<std::uint8_t>(device());
    }
    used_ = 0;
  }

  std::array<std::uint8_t, 4096> bytes_{};
  std::size_t used_ = sizeof(bytes_);
  unsigned generation_ = 0;
};

void random_bytes(std::uint8_t* out, std::size_t n) {
  thread_local RandomPool pool;
  pool.take(out, n);
}

// ---------------------------------------------------------------------------------------------
// zlib, one stream of each kind per thread
// ---------------------------------------------------------------------------------------------

class Deflater {
 public:
  Deflater() = default;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  ~Deflater() {
    if (ready_) deflateEnd(&zs_);
  }

  // A stream at the given level, reset for a new message.
  z_stream& start(int level) {
    if (!ready_) {
      if (deflateInit(&zs_, level) != Z_OK) throw ProtocolError("zlib: cannot start compression");
      ready_ = true;
      level_ = level;
      return zs_;
    }
    deflateReset(&zs_);
    if (level != level_) {
      // Right after a reset no data is pending, so this only switches the parameters.
      if (deflateParams(&zs_, level, Z_DEFAULT_STRATEGY) != Z_OK)
        throw ProtocolError("zlib: cannot set compression level");
      level_ = level;
    }
    return zs_;
  }

 private:
  z_stream zs_{};
  bool ready_ = false;
  int level_ = 0;
};

class Inflater {
 public:
  Inflater() = default;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  ~Inflater() {
    if (ready_) inflateEnd(&zs_);
  }

  z_stream& start() {
    if (!ready_) {
      if (inflateInit(&zs_) != Z_OK) throw ProtocolError("zlib: cannot start decompression");
      ready_ = true;
    } else {
      inflateReset(&zs_);
    }
    return zs_;
  }

 private:
  z_stream zs_{};
  bool ready_ = false;
};

// Compresses in into [out, out + capacity); returns the compressed size, or npos when it did not
// fit (capacity comes from deflateBound, so only for inputs zlib cannot bound).
std::size_t deflate_into(std::string_view in, int level, char* out, std::size_t capacity) {
  thread_local Deflater deflater;
  z_stream& zs = deflater.start(level);
  std::size_t in_left = in.size();
  std::size_t out_left = capacity;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = 0;
  zs.next_out = reinterpret_cast<Bytef*>(out);
  zs.avail_out = 0;
  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
      in_left -= zs.avail_in;
    }
    if (zs.avail_out == 0) {
      if (out_left == 0) return std::string::npos;
      zs.avail_out = static_cast<uInt>(std::min<std::size_t>(out_left, UINT_MAX));
      out_left -= zs.avail_out;
    }
    const int rc = deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw ProtocolError("zlib: compression failed");
  }
  return static_cast<std::size_t>(reinterpret_cast<char*>(zs.next_out) - out);
}

// Python's zlib.error text for inflate's return code (CPython Modules/zlibmodule.c zlib_error).
[[noreturn]] void throw_inflate_error(int rc, const char* zmsg) {
  std::string text = "Error " + std::to_string(rc) + " while decompressing data";
  if (zmsg == nullptr) {
    switch (rc) {
      case Z_BUF_ERROR:
        zmsg = "incomplete or truncated stream";
        break;
      case Z_STREAM_ERROR:
        zmsg = "inconsistent stream state";
        break;
      case Z_DATA_ERROR:
        zmsg = "invalid input data";
        break;
      default:
        break;
    }
  }
  if (zmsg != nullptr) {
    text += ": ";
    text += zmsg;
  }
  throw ProtocolError(text);
}

// zlib.decompress as Pyro calls it: the whole stream must be there, bytes after its end are
// ignored. limit 0 = unlimited.
std::string inflate_payload(std::string_view in, std::size_t limit) {
  thread_local Inflater inflater;
  z_stream& zs = inflater.start();
  const std::size_t ceiling = limit == 0 ? std::string{}.max_size() : limit + 1;
  std::string out;
  std::size_t capacity = std::min(std::max<std::size_t>(in.size() * 4, 256), ceiling);
  out.resize(capacity);
  std::size_t produced = 0;
  std::size_t in_left = in.size();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = 0;
  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
      in_left -= zs.avail_in;
    }
    if (produced == capacity) {
      if (capacity == ceiling) {
        throw MessageTooLargeError("decompressed payload too large (more than " +
                                   std::to_string(limit) + " bytes)");
      }
      capacity = capacity > ceiling / 2 ? ceiling : std::min(capacity * 2, ceiling);
      out.resize(capacity);
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(std::min<std::size_t>(capacity - produced, UINT_MAX));
    const uInt before = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR) {
      // No progress possible: either the output is full (grow and go on) or the input ended.
      if (produced == capacity) continue;
      if (zs.avail_in == 0 && in_left == 0) throw_inflate_error(Z_BUF_ERROR, nullptr);
      continue;
    }
    if (rc == Z_MEM_ERROR) throw ProtocolError("Out of memory while decompressing data");
    throw_inflate_error(rc, zs.msg);
  }
  if (limit != 0 && produced > limit) {
    throw MessageTooLargeError("decompressed payload too large (more than " +
                               std::to_string(limit) + " bytes)");
  }
  out.resize(produced);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------------------------

// Walks the annotation chunks of area, calling f(id, value) for each; throws Pyro5's texts for
// chunks running past the end. Returns the number of chunks.
template <class F>
std::size_t for_each_chunk(std::string_view area, std::size_t chunk_header, F&& f) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < area.size()) {
    const std::size_t left = area.size() - i;
    if (left < chunk_header) {
      // Pyro5 reads the 8 header bytes past the area and then finds that i + 8 + length runs
      // over: the same error as a too long chunk.
      throw ProtocolError("annotation chunk length exceeds remaining data");
    }
    const char* p = area.data() + i;
    const std::size_t length = chunk_header == chunk_header_502 ? get32(p + 4) : get16(p + 4);
    if (length > left - chunk_header) {
      throw ProtocolError("annotation chunk length exceeds remaining data");
    }
    const std::string_view id(p, 4);
    if (!is_ascii_id(id)) throw ProtocolError("annotation identifier must be 4 ascii characters");
    f(id, std::string_view(p + chunk_header, length));
    i += chunk_header + length;
    ++count;
  }
  return count;
}

void parse_annotations(std::string_view area, std::size_t chunk_header, Annotations& out) {
  const std::size_t count = for_each_chunk(area, chunk_header, [](auto, auto) {});
  auto& items = AnnotationsAccess::items(out);
  items.reserve(count);
  constexpr std::size_t linear_limit = 16;
  if (count <= linear_limit) {
    for_each_chunk(area, chunk_header, [&](std::string_view id, std::string_view value) {
      out.set(id, std::string(value));
    });
    return;
  }
  // Many chunks: a dict-like index keeps a hostile message with thousands of chunks linear.
  std::unordered_map<std::uint32_t, std::size_t> index;
  index.reserve(count);
  for_each_chunk(area, chunk_header, [&](std::string_view id, std::string_view value) {
    const auto [it, fresh] = index.try_emplace(get32(id.data()), items.size());
    if (fresh) {
      items.emplace_back(std::string(id), std::string(value));
    } else {
      items[it->second].second.assign(value);
    }
  });
}

std::size_t index_of(const Annotations& annotations, std::string_view id) noexcept {
  std::size_t i = 0;
  for (const auto& item : annotations) {
    if (item.first == id) return i;
    ++i;
  }
  return i;
}

// Pyro4 Message.recv's HMAC rules, then the HMAC chunk is removed.
void verify_hmac(Message& m, std::string_view wire_payload,
                 const std::optional<std::string>& hmac_key) {
  const bool keyed = hmac_key && !hmac_key->empty();
  const std::string* received = m.annotations.find("HMAC");
  if (received != nullptr && keyed) {
    MacItems storage(m.annotations.size());
    MacItem* items = storage.data();
    std::size_t n = 0;
    for (const auto& [id, value] : m.annotations) {
      if (id != "HMAC") items[n++] = MacItem{id, value};
    }
    const Digest expected = hmac_sha1(*hmac_key, wire_payload, items, n);
    if (received->size() != expected.size() ||
        CRYPTO_memcmp(received->data(), expected.data(), expected.size()) != 0) {
      throw SecurityError("message hmac mismatch");
    }
  } else if ((received != nullptr) != keyed) {
    throw SecurityError("hmac key config not symmetric");
  }
  if (received != nullptr) m.annotations.erase("HMAC");
}

// Everything but the uncompressed payload; returns whether that still has to be taken from the
// body (it is not compressed).
bool decode_common(const Header& header, std::string_view body,
                   const std::optional<std::string>& hmac_key, std::size_t max_payload_size,
                   Message& m) {
  if (body.size() != header.body_size()) {
    throw ProtocolError("payload length doesn't match message header");
  }
  const bool v48 = header.protocol == protocol_48;
  if (!v48 && header.protocol != protocol_502) {
    throw ProtocolError("invalid protocol version: " + std::to_string(header.protocol));
  }
  m.protocol = header.protocol;
  m.type = static_cast<MessageType>(header.type);
  m.serializer_id = header.serializer_id;
  m.seq = header.seq;
  m.flags = header.flags & static_cast<std::uint16_t>(~flags::compressed);

  const std::string_view area = body.substr(0, header.annotations_size);
  const std::string_view wire_payload = body.substr(header.annotations_size);
  if (!area.empty())
    parse_annotations(area, v48 ? chunk_header_48 : chunk_header_502, m.annotations);

  if (v48) {
    verify_hmac(m, wire_payload, hmac_key);
    const std::size_t corr = index_of(m.annotations, "CORR");
    if (corr < m.annotations.size()) {
      const std::string& value =
          (m.annotations.begin() + static_cast<std::ptrdiff_t>(corr))->second;
      if (value.size() != corr_size) {
        throw ProtocolError("invalid correlation id (" + std::to_string(value.size()) +
                            " bytes, expected 16)");
      }
      CorrelationId id;
      std::memcpy(id.data(), value.data(), corr_size);
      m.correlation_id = id;
      m.correlation_index = corr;
      m.annotations.erase("CORR");
    }
  } else {
    m.correlation_id = header.correlation_id;
  }
  m.flags = static_cast<std::uint16_t>((m.flags & ~flags::corr_id) |
                                       (m.correlation_id ? flags::corr_id : 0));

  if (header.flags & flags::compressed) {
    m.payload = inflate_payload(wire_payload, max_payload_size);
    return false;
  }
  return true;
}

// CPython marshal (version >= 3) of a str, with FLAG_REF (0x80) on the type byte as Pyro's
// daemons write their error texts: 'z' short ASCII (< 256 bytes), 'a' ASCII, 'u' UTF-8.
std::string marshal_text(std::string_view text) {
  constexpr unsigned char flag_ref = 0x80;
  const bool ascii = std::all_of(text.begin(), text.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::string out;
  if (ascii && text.size() < 256) {
    out.reserve(2 + text.size());
    out.push_back(static_cast<char>('z' | flag_ref));
    out.push_back(static_cast<char>(text.size()));
  } else {
    out.reserve(5 + text.size());
    out.push_back(static_cast<char>((ascii ? 'a' : 'u') | flag_ref));
    const auto n = static_cast<std::uint32_t>(text.size());
    for (int shift = 0; shift < 32; shift += 8)
      out.push_back(static_cast<char>(n >> shift));  // little endian
  }
  out.append(text);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Flags and correlation ids
// ---------------------------------------------------------------------------------------------

std::uint16_t wire_flags(std::uint16_t protocol, std::uint16_t f) noexcept {
  if (protocol != protocol_48) return f;
  std::uint16_t w = f & common_flags;
  if (f & flags::meta_on_connect) w |= wire48_meta_on_connect;
  if (f & flags::itemstreamresult) w |= wire48_itemstreamresult;
  if (f & flags::keepserialized) w |= wire48_keepserialized;
  return w;
}

std::uint16_t flags_from_wire(std::uint16_t protocol, std::uint16_t w) noexcept {
  if (protocol != protocol_48) return w;
  std::uint16_t f = w & common_flags;
  if (w & wire48_meta_on_connect) f |= flags::meta_on_connect;
  if (w & wire48_itemstreamresult) f |= flags::itemstreamresult;
  if (w & wire48_keepserialized) f |= flags::keepserialized;
  return f;
}

CorrelationId new_correlation_id() {
  CorrelationId id;
  random_bytes(id.data(), id.size());
  id[6] = static_cast<std::uint8_t>((id[6] & 0x0F) | 0x40);  // version 4
  id[8] = static_cast<std::uint8_t>((id[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return id;
}

std::string correlation_id_text(const CorrelationId& id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(digits[id[i] >> 4]);
    out.push_back(digits[id[i] & 0x0F]);
  }
  return out;
}

std::optional<CorrelationId> parse_correlation_id(std::string_view text) noexcept {
  if (text.size() != 36) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  CorrelationId id{};
  std::size_t pos = 0;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      if (text[pos++] != '-') return std::nullopt;
    }
    const int hi = nibble(text[pos]);
    const int lo = nibble(text[pos + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    pos += 2;
  }
  return id;
}

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

Annotations::Annotations(std::initializer_list<value_type> items) {
  items_.reserve(items.size());
  for (const auto& [id, value] : items)
    set(id, value);
}

void Annotations::set(std::string_view id, std::string value) {
  if (std::string* existing = find(id)) {
    *existing = std::move(value);
    return;
  }
  items_.emplace_back(std::string(id), std::move(value));
}

const std::string* Annotations::find(std::string_view id) const noexcept {
  for (const auto& item : items_) {
    if (item.first == id) return &item.second;
  }
  return nullptr;
}

std::string* Annotations::find(std::string_view id) noexcept {
  for (auto& item : items_) {
    if (item.first == id) return &item.second;
  }
  return nullptr;
}

bool Annotations::erase(std::string_view id) {
  const auto it = std::find_if(items_.begin(), items_.end(),
                               [&](const value_type& item) { return item.first == id; });
  if (it == items_.end()) return false;
  items_.erase(it);
  return true;
}

bool operator==(const Annotations& a, const Annotations& b) {
  if (a.size() != b.size()) return false;
  return std::all_of(a.begin(), a.end(), [&](const Annotations::value_type& item) {
    const std::string* other = b.find(item.first);
    return other != nullptr && *other == item.second;
  });
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

std::uint16_t detect_protocol(std::string_view first6, std::uint16_t expected) {
  if (expected == protocol_48) {
    // Pyro4 checks tag and version together, with one text.
    if (first6.size() < protocol_probe_size || first6.substr(0, 4) != std::string_view(tag, 4) ||
        get16(first6.data() + 4) != protocol_48) {
      throw ProtocolError("invalid data or unsupported protocol version");
    }
    return protocol_48;
  }
  if (first6.size() < protocol_probe_size || first6.substr(0, 4) != std::string_view(tag, 4)) {
    throw ProtocolError("invalid data");
  }
  const std::uint16_t version = get16(first6.data() + 4);
  const bool accepted =
      expected == 0 ? (version == protocol_502 || version == protocol_48) : version == expected;
  if (!accepted) throw ProtocolError("invalid protocol version: " + std::to_string(version));
  return version;
}

Header parse_header(std::string_view b, std::size_t max_message_size) {
  Header h;
  const char* p = b.data();
  const bool tag_ok = b.size() >= 4 && std::memcmp(p, tag, 4) == 0;
  if (b.size() == size_502) {
    // Pyro5 ReceivingMessage.__init__
    if (!tag_ok || get16(p + 4) != protocol_502 || get16(p + 38) != magic_502) {
      throw ProtocolError("invalid message or protocol version");
    }
    h.protocol = protocol_502;
    h.type = static_cast<unsigned char>(p[6]);
    h.serializer_id = static_cast<unsigned char>(p[7]);
    h.flags = get16(p + 8);
    h.seq = get16(p + 10);
    h.data_size = get32(p + 12);
    h.annotations_size = get32(p + 16);
    if (h.flags & flags::corr_id) {
      CorrelationId id;
      std::memcpy(id.data(), p + 20, id.size());
      h.correlation_id = id;
    }
    if (max_message_size != 0 && h.body_size() > max_message_size) {
      throw ProtocolError("message too large (" + std::to_string(h.body_size()) +
                          ", max=" + std::to_string(max_message_size) + ")");
    }
    return h;
  }
  if (b.size() == size_48) {
    // Pyro4 Message.from_header and Message.recv
    if (!tag_ok || get16(p + 4) != protocol_48) {
      throw ProtocolError("invalid data or unsupported protocol version");
    }
    h.protocol = protocol_48;
    h.type = get16(p + 6);
    const std::uint16_t wire = get16(p + 8);
    h.seq = get16(p + 10);
    h.data_size = get32(p + 12);
    h.serializer_id = get16(p + 16);
    h.annotations_size = get16(p + 18);
    // The sum is taken modulo 2^16, so a negative i32 data length adds up the same way.
    if (get16(p + 22) != checksum_48(h.type, h.data_size,
                                     static_cast<std::uint16_t>(h.annotations_size),
                                     h.serializer_id, wire, h.seq)) {
      throw ProtocolError("header checksum mismatch");
    }
    if (h.data_size > max_data_size_48) {
      // Pyro4 would read a negative length as no data at all; we refuse it.
      throw ProtocolError("invalid message size (outside range 0..2Gb)");
    }
    h.flags = flags_from_wire(protocol_48, wire);
    if (max_message_size != 0 && h.body_size() > max_message_size) {
      throw MessageTooLargeError("max message size exceeded (" + std::to_string(h.body_size()) +
                                 " where max=" + std::to_string(max_message_size) + ")");
    }
    return h;
  }
  throw ProtocolError("header data size mismatch");
}

void check_type(const Header& header, std::initializer_list<MessageType> expected) {
  if (expected.size() == 0) return;
  for (MessageType t : expected) {
    if (static_cast<std::uint16_t>(t) == header.type) return;
  }
  std::string text = "invalid msg type " + std::to_string(header.type) + " received";
  if (header.protocol != protocol_48) {
    text += " (expected: ";
    bool first = true;
    for (MessageType t : expected) {
      if (!first) text += ',';
      text += std::to_string(static_cast<std::uint16_t>(t));
      first = false;
    }
    text += ')';
  }
  throw ProtocolError(text);
}

Message decode_body(const Header& header, std::string_view body,
                    const std::optional<std::string>& hmac_key, std::size_t max_payload_size) {
  Message m;
  if (decode_common(header, body, hmac_key, max_payload_size, m)) {
    const std::string_view payload = body.substr(header.annotations_size);
    if (payload.size() >= detail::large_block_min) m.payload = detail::take_buffer(payload.size());
    m.payload.assign(payload);
  }
  return m;
}

Message decode_body(const Header& header, std::string&& body,
                    const std::optional<std::string>& hmac_key, std::size_t max_payload_size) {
  Message m;
  if (decode_common(header, body, hmac_key, max_payload_size, m)) {
    body.erase(0, header.annotations_size);
    m.payload = std::move(body);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

std::size_t annotations_area_size(const Message& m, const EncodeSettings& settings) {
  const bool v48 = m.protocol == protocol_48;
  const std::size_t chunk_header = v48 ? chunk_header_48 : chunk_header_502;
  std::size_t size = 0;
  for (const auto& [id, value] : m.annotations)
    size += chunk_header + value.size();
  if (v48 && m.correlation_id) size += chunk_header_48 + corr_size;
  if (v48 && settings.hmac_key != nullptr && !settings.hmac_key->empty())
    size += chunk_header_48 + hmac_size;
  return size;
}

namespace {

// Both encoders: with separate_payload, an uncompressed payload is left out of `out` and
// returned as a view instead.
std::string_view encode_into(const Message& m, std::string& out, const EncodeSettings& settings,
                             bool separate_payload, std::size_t external_bytes = 0) {
  const bool v48 = m.protocol == protocol_48;
  if (!v48 && m.protocol != protocol_502) {
    throw ProtocolError("invalid protocol version: " + std::to_string(m.protocol));
  }
  const auto type = static_cast<std::uint16_t>(m.type);
  if (!v48 && (type > 0xFF || m.serializer_id > 0xFF)) {
    throw ProtocolError("message type " + std::to_string(type) + " or serializer id " +
                        std::to_string(m.serializer_id) + " does not fit protocol 502's header");
  }
  const std::string_view key = v48 && settings.hmac_key != nullptr
                                   ? std::string_view(*settings.hmac_key)
                                   : std::string_view();
  const bool sign = !key.empty();
  const bool corr_chunk = v48 && m.correlation_id.has_value();

  // Annotation ids and sizes first: nothing is written for a message that cannot be sent.
  for (const auto& [id, value] : m.annotations) {
    if (!is_ascii_id(id)) {
      // Pyro4 SendingMessage checks the length only; a non-ASCII id fails its encode("ASCII").
      throw ProtocolError(v48 ? "annotation key must be of length 4"
                              : "annotation identifier must be 4 ascii characters");
    }
    if (v48) {
      if (id == "CORR") {
        throw ProtocolError(
            "annotation CORR is reserved in protocol 48: set Message::correlation_id");
      }
      if (id == "HMAC") {
        throw ProtocolError(
            "annotation HMAC is reserved in protocol 48: set EncodeSettings::hmac_key");
      }
    }
    const std::size_t max_value = v48 ? max_u16 : max_u32;
    if (value.size() > max_value) {
      throw ProtocolError("annotation " + id + " too large (" + std::to_string(value.size()) +
                          " bytes, max=" + std::to_string(max_value) + ")");
    }
  }
  const std::size_t chunk_header = v48 ? chunk_header_48 : chunk_header_502;
  const std::size_t annotations_size = annotations_area_size(m, settings);
  const std::size_t max_annotations = v48 ? max_u16 : max_u32;
  if (annotations_size > max_annotations) {
    throw ProtocolError("annotations too large (" + std::to_string(annotations_size) +
                        " bytes, max=" + std::to_string(max_annotations) + ")");
  }

  const std::string_view payload = m.payload;
  if (external_bytes > 0 && (sign || settings.compress)) {
    throw std::logic_error("a payload with external bytes cannot be compressed or signed");
  }
  const bool try_compress = settings.compress && (v48 ? payload.size() >= compress_from_48
                                                      : payload.size() > compress_above_502);
  const std::size_t payload_room =
      try_compress       ? std::max<std::size_t>(compressBound(payload.size()), payload.size())
      : separate_payload ? 0
                         : payload.size();
  std::string_view tail;
  const std::size_t hsize = v48 ? size_48 : size_502;

  const std::size_t start = out.size();
  try {
    out.reserve(start + hsize + annotations_size + payload_room);
    out.resize(start + hsize);  // the header is written last, when the sizes are known

    // Annotation chunks in order; for 48 CORR at its index, HMAC last (filled in at the end).
    const std::size_t corr_at = std::min(m.correlation_index, m.annotations.size());
    auto append_chunk = [&](std::string_view id, std::string_view value) {
      const std::size_t at = out.size();
      out.resize(at + chunk_header);
      std::memcpy(out.data() + at, id.data(), 4);
      if (v48) {
        put16(out.data() + at + 4, static_cast<std::uint16_t>(value.size()));
      } else {
        put32(out.data() + at + 4, static_cast<std::uint32_t>(value.size()));
      }
      out.append(value);
    };
    const std::string_view corr_value =
        corr_chunk
            ? std::string_view(reinterpret_cast<const char*>(m.correlation_id->data()), corr_size)
            : std::string_view();
    std::size_t i = 0;
    for (const auto& [id, value] : m.annotations) {
      if (corr_chunk && i == corr_at) append_chunk("CORR", corr_value);
      append_chunk(id, value);
      ++i;
    }
    if (corr_chunk && corr_at == m.annotations.size()) append_chunk("CORR", corr_value);
    std::size_t hmac_at = 0;
    if (sign) {
      hmac_at = out.size() + chunk_header_48;
      append_chunk("HMAC", std::string_view("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", hmac_size));
    }

    // Payload, compressed straight into the buffer.
    const std::size_t payload_at = out.size();
    bool compressed = false;
    if (try_compress) {
      out.resize(payload_at + payload_room);
      const std::size_t n =
          deflate_into(payload, v48 ? level_48 : level_502, out.data() + payload_at, payload_room);
      if (n != std::string::npos && (!v48 || n < payload.size())) {
        compressed = true;
        out.resize(payload_at + n);
      } else if (separate_payload) {
        out.resize(payload_at);
        tail = payload;
      } else {
        out.resize(payload_at);
        out.append(payload);
      }
    } else if (separate_payload) {
      tail = payload;
    } else {
      out.append(payload);
    }
    const std::size_t data_size = out.size() - payload_at + tail.size() + external_bytes;

    // Size limits, as the senders check them (after compression, HMAC included).
    const std::size_t total = data_size + annotations_size;
    if (settings.max_message_size != 0 && total > settings.max_message_size) {
      if (v48) {
        throw MessageTooLargeError("max message size exceeded (" + std::to_string(total) +
                                   " where max=" + std::to_string(settings.max_message_size) + ")");
      }
      throw ProtocolError("message too large (" + std::to_string(total) +
                          ", max=" + std::to_string(settings.max_message_size) + ")");
    }
    if (v48 && data_size > max_data_size_48) {
      throw MessageTooLargeError("invalid message size (outside range 0..2Gb)");
    }
    if (!v48 && data_size > max_u32) {
      throw ProtocolError("message too large (" + std::to_string(total) +
                          ", max=" + std::to_string(max_u32) + ")");
    }

    // The header.
    std::uint16_t f = m.flags & static_cast<std::uint16_t>(~(flags::compressed | flags::corr_id));
    if (compressed) f |= flags::compressed;
    char* h = out.data() + start;
    std::memcpy(h, tag, 4);
    if (v48) {
      const std::uint16_t wire = wire_flags(protocol_48, f);
      put16(h + 4, protocol_48);
      put16(h + 6, type);
      put16(h + 8, wire);
      put16(h + 10, m.seq);
      put32(h + 12, static_cast<std::uint32_t>(data_size));
      put16(h + 16, m.serializer_id);
      put16(h + 18, static_cast<std::uint16_t>(annotations_size));
      put16(h + 22, checksum_48(type, static_cast<std::uint32_t>(data_size),
                                static_cast<std::uint16_t>(annotations_size), m.serializer_id, wire,
                                m.seq));
    } else {
      if (m.correlation_id) f |= flags::corr_id;
      put16(h + 4, protocol_502);
      h[6] = static_cast<char>(type);
      h[7] = static_cast<char>(m.serializer_id);
      put16(h + 8, f);
      put16(h + 10, m.seq);
      put32(h + 12, static_cast<std::uint32_t>(data_size));
      put32(h + 16, static_cast<std::uint32_t>(annotations_size));
      if (m.correlation_id) std::memcpy(h + 20, m.correlation_id->data(), corr_size);
      put16(h + 38, magic_502);
    }

    if (sign) {
      MacItems storage(m.annotations.size() + 1);
      MacItem* items = storage.data();
      std::size_t n = 0;
      for (const auto& [id, value] : m.annotations)
        items[n++] = MacItem{id, value};
      if (corr_chunk) items[n++] = MacItem{"CORR", corr_value};
      const std::string_view data = tail.empty() ? std::string_view(out).substr(payload_at) : tail;
      const Digest digest = hmac_sha1(key, data, items, n);
      std::memcpy(out.data() + hmac_at, digest.data(), digest.size());
    }
  } catch (...) {
    out.resize(start);
    throw;
  }
  return tail;
}

}  // namespace

void encode_message(const Message& m, std::string& out, const EncodeSettings& settings) {
  encode_into(m, out, settings, false);
}

std::string_view encode_message_head(const Message& m, std::string& out,
                                     const EncodeSettings& settings) {
  return encode_into(m, out, settings, true);
}

std::string_view encode_message_head(const Message& m, std::string& out,
                                     const EncodeSettings& settings, std::size_t external_bytes) {
  return encode_into(m, out, settings, true, external_bytes);
}

std::string encode_message(const Message& message, const EncodeSettings& settings) {
  std::string out;
  encode_message(message, out, settings);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Replies built by the protocol layer
// ---------------------------------------------------------------------------------------------

Message connect_fail_for_bad_input(std::uint16_t protocol, std::string_view text) {
  Message m;
  m.protocol = protocol;
  m.type = MessageType::connectfail;
  // marshal: Pyro5 MarshalSerializer.serializer_id 2, Pyro4 3
  m.serializer_id = protocol == protocol_48 ? 3 : 2;
  m.payload = marshal_text(text);
  return m;
}

Message ping_message(std::uint16_t protocol) {
  Message m;
  m.protocol = protocol;
  m.type = MessageType::ping;
  m.serializer_id = ping_serializer_id;
  m.payload = "ping";
  return m;
}

Message ping_reply(const Message& ping) {
  Message m;
  m.protocol = ping.protocol;
  m.type = MessageType::ping;
  m.serializer_id = ping.serializer_id;
  m.seq = ping.seq;
  m.correlation_id = ping.correlation_id;
  m.payload = "pong";
  return m;
}

}  // namespace pyro
