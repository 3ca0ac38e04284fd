// marshal.cpp — the marshal codec: CPython's marshal format (Python/marshal.c, version 4) for the
// data Pyro sends, and Pyro's MarshalSerializer around it (Pyro5/serializers.py).
//
// The decoder reads everything marshal.loads accepts for data objects, back references included,
// and refuses code objects, StopIteration and Ellipsis. It never trusts a length: counts are
// checked against the bytes left before anything is allocated, and back references that would
// copy more than a bounded amount of data are refused (CPython shares the referenced object; a
// Value tree has to copy it).
// The encoder writes what marshal.dumps(value, 4) writes, minus the FLAG_REF bits and back
// references (CPython sets them from reference counts; readers do not need them) and minus the
// "interned" string codes (CPython uses them only for interned strings, we never intern).
#include "pyro/marshal.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "detail/text.hpp"
#include "detail/value_access.hpp"

namespace pyro {

namespace {

using detail::ValueAccess;

// Type codes (CPython Python/marshal.c). Bit 7 of a type byte is FLAG_REF.
constexpr unsigned char type_null = '0';
constexpr unsigned char type_none = 'N';
constexpr unsigned char type_false = 'F';
constexpr unsigned char type_true = 'T';
constexpr unsigned char type_stopiter = 'S';
constexpr unsigned char type_ellipsis = '.';
constexpr unsigned char type_int = 'i';
constexpr unsigned char type_int64 = 'I';  // no longer written, still read by CPython 3.11
constexpr unsigned char type_float = 'f';  // ASCII repr, marshal versions 0 and 1
constexpr unsigned char type_binary_float = 'g';
constexpr unsigned char type_complex = 'x';  // two ASCII reprs, marshal versions 0 and 1
constexpr unsigned char type_binary_complex = 'y';
constexpr unsigned char type_long = 'l';
constexpr unsigned char type_string = 's';  // bytes
constexpr unsigned char type_interned = 't';
constexpr unsigned char type_ref = 'r';
constexpr unsigned char type_tuple = '(';
constexpr unsigned char type_list = '[';
constexpr unsigned char type_dict = '{';
constexpr unsigned char type_code = 'c';
constexpr unsigned char type_unicode = 'u';
constexpr unsigned char type_set = '<';
constexpr unsigned char type_frozenset = '>';
constexpr unsigned char type_ascii = 'a';
constexpr unsigned char type_ascii_interned = 'A';
constexpr unsigned char type_small_tuple = ')';
constexpr unsigned char type_short_ascii = 'z';
constexpr unsigned char type_short_ascii_interned = 'Z';
constexpr unsigned char flag_ref = 0x80;

// CPython's MAX_MARSHAL_STACK_DEPTH: marshal.dumps refuses objects nested deeper (counting every
// object, scalars included), so we refuse to write what a Python peer could not read back.
constexpr std::size_t max_marshal_depth = 2000;

// Sizes are signed 32-bit on the wire (CPython's SIZE32_MAX).
constexpr std::size_t max_size32 = 0x7FFFFFFF;

// Longs travel in base 2**15 digits (CPython's PyLong_MARSHAL_SHIFT).
constexpr unsigned long_shift = 15;
constexpr std::uint32_t long_digit_mask = 0x7FFF;

// Back references copy the referenced value (CPython shares it): a few bytes of input can name a
// container of any size. Copies are budgeted to this many values plus a multiple of the input
// size, so hostile input cannot make decoding allocate without bound.
constexpr std::size_t expansion_floor = std::size_t{1} << 20;
constexpr std::size_t expansion_per_byte = 16;

bool is_ascii(const unsigned char* s, std::size_t n) noexcept {
  std::size_t i = 0;
  std::uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t chunk;
    std::memcpy(&chunk, s + i, 8);
    acc |= chunk;
  }
  for (; i < n; ++i) {
    acc |= s[i];
  }
  return (acc & 0x8080808080808080ULL) == 0;
}

std::size_t first_non_ascii(const unsigned char* s, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (s[i] >= 0x80) return i;
  }
  return n;
}

std::uint32_t load_u32(const unsigned char* p) noexcept {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

std::uint64_t load_u64(const unsigned char* p) noexcept {
  return std::uint64_t{load_u32(p)} | std::uint64_t{load_u32(p + 4)} << 32;
}

std::string hex_byte(unsigned char c) {
  constexpr char digits[] = "0123456789abcdef";
  return {'0', 'x', digits[c >> 4], digits[c & 15]};
}

// The float of an old-style 'f' payload, parsed like CPython's PyOS_string_to_double: an optional
// sign, then "inf", "infinity" or "nan" (any case) or a decimal number with optional exponent;
// no whitespace, no underscores. Out-of-range values become infinity or zero, as in CPython.
std::optional<double> parse_float_repr(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  auto lower_equals = [&](std::string_view word) {
    if (s.size() != word.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if ((s[i] | 0x20) != word[i]) return false;
    }
    return true;
  };
  const double sign = negative ? -1.0 : 1.0;
  if (lower_equals("inf") || lower_equals("infinity")) {
    return sign * std::numeric_limits<double>::infinity();
  }
  if (lower_equals("nan")) return std::copysign(std::numeric_limits<double>::quiet_NaN(), sign);

  // digits [. digits] [(e|E) [+|-] digits], at least one mantissa digit.
  std::size_t i = 0, mantissa_digits = 0;
  long long point_exponent = 0;  // decimal exponent of the first significant digit, roughly
  bool seen_significant = false;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (s[i] != '0') seen_significant = true;
    if (seen_significant) ++point_exponent;
    ++i;
    ++mantissa_digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (s[i] != '0') seen_significant = true;
      if (!seen_significant) --point_exponent;
      ++i;
      ++mantissa_digits;
    }
  }
  if (mantissa_digits == 0) return std::nullopt;
  long long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      exponent_negative = s[i] == '-';
      ++i;
    }
    const std::size_t digits_start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (exponent < 1'000'000'000) exponent = exponent * 10 + (s[i] - '0');
      ++i;
    }
    if (i == digits_start) return std::nullopt;
    if (exponent_negative) exponent = -exponent;
  }
  if (i != s.size()) return std::nullopt;

  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) {
    value = point_exponent + exponent > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  } else if (ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return negative ? -value : value;
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

// Reads one object, as CPython's r_object does. Thread-compatible; one instance per payload.
//
// read() recurses once per container level, so its frame is kept small: error messages are
// built in cold out-of-line functions and rare kinds are read by separate functions.
class Decoder {
 public:
  Decoder(std::string_view data, const DecodeOptions& options)
      : begin_(reinterpret_cast<const unsigned char*>(data.data())),
        p_(begin_),
        end_(begin_ + data.size()),
        max_depth_(options.max_depth),
        expansion_limit_(expansion_floor + expansion_per_byte * data.size()) {}

  Value read();

 private:
  // An entry of the back-reference table. Scalars, str and bytes are kept as a copy (O(1) for
  // str and bytes, which share their text). Containers are kept as a pointer to their heap
  // payload, which does not move when the Value holding it moves into its parent; a container is
  // copied only when something refers to it. Values holding such payloads are never destroyed
  // while decoding (see bury()).
  struct Slot {
    Value value;
    const void* container = nullptr;
    Kind kind = Kind::none;
    std::size_t weight = 0;  // values a copy creates; 0 while the container is being read
  };

  std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
  std::size_t offset_of(const unsigned char* p) const noexcept {
    return static_cast<std::size_t>(p - begin_);
  }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }

  // --- errors (cold: they build their message out of line) --------------------------------
  [[noreturn, gnu::cold, gnu::noinline]] static void fail(std::string_view what, std::size_t at) {
    std::string message = "marshal: ";
    message += what;
    message += " at offset ";
    message += std::to_string(at);
    throw SerializeError(message, at);
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void fail_short(const char* what, std::size_t n,
                                                                const char* unit, std::size_t at) {
    fail(std::string("data too short for ") + what + " of " + std::to_string(n) + " " + unit, at);
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void fail_size(const char* what, std::size_t at) {
    fail(std::string("bad marshal data (") + what + " size out of range)", at);
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_count(const char* what, std::size_t n,
                                                         std::size_t at) const {
    fail(std::string(what) + " of " + std::to_string(n) + " items does not fit the remaining " +
             std::to_string(remaining()) + " bytes",
         at);
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void fail_byte(const char* before, unsigned char c,
                                                               const char* after, std::size_t at) {
    fail(before + hex_byte(c) + after, at);
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_need(const char* what) const {
    fail(std::string("data too short for ") + what, offset());
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_depth(std::size_t at) const {
    fail("containers nested deeper than " + std::to_string(max_depth_) + " levels", at);
  }

  // --- primitive reads -------------------------------------------------------------------------
  void need(std::size_t n, const char* what) const {
    if (remaining() < n) [[unlikely]] {
      fail_need(what);
    }
  }
  std::int32_t read_i32() noexcept {
    const auto v = static_cast<std::int32_t>(load_u32(p_));
    p_ += 4;
    return v;
  }
  // A non-negative i32 size (CPython rejects negative ones as "out of range").
  std::size_t read_size(const char* what) {
    need(4, what);
    const std::int32_t n = read_i32();
    if (n < 0) [[unlikely]] {
      fail_size(what, offset() - 4);
    }
    return static_cast<std::size_t>(n);
  }
  // A str/bytes length: no larger than what is left.
  std::size_t read_length(const char* what) {
    const std::size_t n = read_size(what);
    if (n > remaining()) [[unlikely]] {
      fail_short(what, n, "bytes", offset() - 4);
    }
    return n;
  }
  // A container count: every item takes at least one byte, so the count cannot exceed what is
  // left (this keeps forged counts from reserving memory).
  std::size_t check_count(std::size_t n, const char* what, std::size_t at) const {
    if (n > remaining()) [[unlikely]] {
      fail_count(what, n, at);
    }
    return n;
  }
  std::size_t read_count(const char* what) {
    const std::size_t n = read_size(what);
    return check_count(n, what, offset() - 4);
  }

  void enter(std::size_t at) {
    if (++depth_ > max_depth_) [[unlikely]] {
      fail_depth(at);
    }
  }

  [[gnu::noinline]] void remember(const Value& v, std::size_t weight) {
    refs_.push_back(Slot{v, nullptr, v.kind(), weight});
  }
  std::size_t reserve_slot(const void* container, Kind kind) {
    refs_.push_back(Slot{Value(), container, kind, 0});
    ++container_slots_;
    return refs_.size() - 1;
  }
  // Keeps a decoded value alive that Python would drop (a duplicate dict key, a replaced dict
  // value, a duplicate set element), so back-reference slots never point into freed memory.
  void bury(Value v) { graveyard_.push_back(std::move(v)); }

  [[gnu::noinline]] Value read_bytes();
  [[gnu::noinline]] Value read_utf8(std::size_t n);
  [[gnu::noinline]] Value read_ascii(std::size_t n);
  [[gnu::noinline]] Value read_long(std::size_t at);
  [[gnu::noinline]] Value read_old_float(unsigned char code);
  double read_float_repr();
  // Containers: not inlined into read(), whose frame is part of every nesting level.
  [[gnu::noinline]] Value read_sequence(Kind kind, std::size_t n, bool flag, std::size_t at);
  [[gnu::noinline]] Value read_dict(bool flag, std::size_t at);
  [[gnu::noinline]] Value read_set(Kind kind, std::size_t n, bool flag, std::size_t at);
  [[gnu::noinline]] Value read_ref(std::size_t at);
  [[noreturn, gnu::cold, gnu::noinline]] void reject(unsigned char code, std::size_t at) const;

  const unsigned char* begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  std::size_t nodes_ = 0;     // values created so far, copies through back references included
  std::size_t expanded_ = 0;  // values created by back references
  std::size_t expansion_limit_;
  std::size_t container_slots_ = 0;
  std::vector<Slot> refs_;
  std::vector<Value> graveyard_;
};

Value Decoder::read() {
  if (p_ == end_) [[unlikely]] {
    fail("EOF read where object expected", offset());
  }
  const std::size_t at = offset();
  const unsigned char code = *p_++;
  const bool flag = (code & flag_ref) != 0;
  const std::size_t first = nodes_++;
  Value v;
  switch (code & ~flag_ref) {
    // CPython never puts the singletons (nor NULL and references) in the reference table, even
    // when their FLAG_REF bit is set.
    case type_none:
      return v;
    case type_true:
      return Value(true);
    case type_false:
      return Value(false);
    case type_int:
      need(4, "int");
      v = Value(read_i32());
      break;
    case type_int64:
      need(8, "int");
      v = Value(static_cast<std::int64_t>(load_u64(p_)));
      p_ += 8;
      break;
    case type_long:
      v = read_long(at);
      break;
    case type_binary_float:
      need(8, "float");
      v = Value(std::bit_cast<double>(load_u64(p_)));
      p_ += 8;
      break;
    case type_binary_complex:
    case type_float:
    case type_complex:
      v = read_old_float(code & ~flag_ref);
      break;
    case type_string:
      v = read_bytes();
      break;
    case type_unicode:
    case type_interned:
      v = read_utf8(read_length("str"));
      break;
    case type_ascii:
    case type_ascii_interned:
      v = read_ascii(read_length("str"));
      break;
    case type_short_ascii:
    case type_short_ascii_interned: {
      need(1, "str");
      const std::size_t n = *p_++;
      if (n > remaining()) [[unlikely]] {
        fail_short("str", n, "bytes", offset() - 1);
      }
      v = read_ascii(n);
      break;
    }
    case type_small_tuple: {
      need(1, "tuple");
      const std::size_t n = *p_++;
      return read_sequence(Kind::tuple, check_count(n, "tuple", at + 1), flag, at);
    }
    case type_tuple:
      return read_sequence(Kind::tuple, read_count("tuple"), flag, at);
    case type_list:
      return read_sequence(Kind::list, read_count("list"), flag, at);
    case type_dict:
      return read_dict(flag, at);
    case type_set:
      return read_set(Kind::set, read_count("set"), flag, at);
    case type_frozenset:
      return read_set(Kind::frozenset, read_count("frozenset"), flag, at);
    case type_ref:
      return read_ref(at);
    default:
      reject(code, at);
  }
  if (flag) remember(v, nodes_ - first);
  return v;
}

void Decoder::reject(unsigned char code, std::size_t at) const {
  switch (code & ~flag_ref) {
    case type_null:
      // Dicts consume their terminating NULL themselves; anywhere else it is an error, as in
      // CPython ("NULL object in marshal data for list").
      fail("NULL object where a value is expected", at);
    case type_code:
      fail("code objects are not accepted", at);
    case type_stopiter:
      fail("StopIteration is not accepted", at);
    case type_ellipsis:
      fail("Ellipsis is not accepted", at);
    default:
      fail_byte("bad marshal data (unknown type code ", code, ")", at);
  }
}

Value Decoder::read_bytes() {
  const std::size_t n = read_length("bytes");
  const std::string_view data(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  return Value::bytes(data);
}

Value Decoder::read_utf8(std::size_t n) {
  const std::string_view text(reinterpret_cast<const char*>(p_), n);
  // CPython decodes with "surrogatepass": lone surrogates are allowed.
  const std::size_t bad = detail::find_invalid_utf8(text, true);
  if (bad != detail::utf8_valid) [[unlikely]] {
    fail_byte("invalid UTF-8 byte ", p_[bad], " in str", offset() + bad);
  }
  p_ += n;
  return ValueAccess::str_trusted(text);
}

Value Decoder::read_ascii(std::size_t n) {
  if (!is_ascii(p_, n)) [[unlikely]] {
    const std::size_t bad = first_non_ascii(p_, n);
    fail_byte("non-ASCII byte ", p_[bad], " in ASCII str", offset() + bad);
  }
  const std::string_view text(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  return ValueAccess::str_trusted(text);
}

Value Decoder::read_long(std::size_t at) {
  need(4, "int");
  const std::int32_t n = read_i32();
  if (n == std::numeric_limits<std::int32_t>::min()) fail_size("long", at + 1);
  const bool negative = n < 0;
  const auto count = static_cast<std::size_t>(negative ? -static_cast<std::int64_t>(n) : n);
  if (count > remaining() / 2) fail_short("int", count, "digits", offset());
  const unsigned char* digits = p_;
  p_ += 2 * count;
  auto digit = [&](std::size_t i) -> std::uint32_t {
    const std::uint32_t d = std::uint32_t{digits[2 * i]} | std::uint32_t{digits[2 * i + 1]} << 8;
    if (d > long_digit_mask) {
      fail("bad marshal data (digit out of range in long)", offset_of(digits + 2 * i));
    }
    return d;
  };
  if (count == 0) return Value(0);
  if (digit(count - 1) == 0) {
    fail("bad marshal data (unnormalized long data)", offset_of(digits + 2 * (count - 1)));
  }
  if (count <= 4) {  // at most 60 bits
    std::uint64_t magnitude = 0;
    for (std::size_t i = 0; i < count; ++i) {
      magnitude |= std::uint64_t{digit(i)} << (long_shift * i);
    }
    const auto value = static_cast<std::int64_t>(magnitude);
    return Value(negative ? -value : value);
  }
  nodes_ += count / 4;  // copies of a big int cost in proportion to its size
  std::vector<std::uint8_t> bytes((count * long_shift + 7) / 8 + 1, 0);
  std::uint32_t acc = 0;
  unsigned acc_bits = 0;
  std::size_t out = 0;
  for (std::size_t i = 0; i < count; ++i) {
    acc |= digit(i) << acc_bits;
    acc_bits += long_shift;
    while (acc_bits >= 8) {
      bytes[out++] = static_cast<std::uint8_t>(acc);
      acc >>= 8;
      acc_bits -= 8;
    }
  }
  if (acc_bits != 0) bytes[out++] = static_cast<std::uint8_t>(acc);
  return ValueAccess::int_from_magnitude(bytes.data(), out, negative);
}

// 'y' (binary complex) and the ASCII 'f' and 'x' of marshal versions 0 and 1.
Value Decoder::read_old_float(unsigned char code) {
  if (code == type_binary_complex) {
    need(16, "complex");
    const double real = std::bit_cast<double>(load_u64(p_));
    const double imag = std::bit_cast<double>(load_u64(p_ + 8));
    p_ += 16;
    return Value(std::complex<double>(real, imag));
  }
  const double real = read_float_repr();
  if (code == type_float) return Value(real);
  const double imag = read_float_repr();
  return Value(std::complex<double>(real, imag));
}

double Decoder::read_float_repr() {
  need(1, "float");
  const std::size_t n = *p_++;
  if (n > remaining()) fail_short("float", n, "bytes", offset() - 1);
  const auto value = parse_float_repr(std::string_view(reinterpret_cast<const char*>(p_), n));
  if (!value) fail("could not convert string to float", offset());
  p_ += n;
  return *value;
}

Value Decoder::read_sequence(Kind kind, std::size_t n, bool flag, std::size_t at) {
  enter(at);
  Value v = kind == Kind::tuple ? Value::tuple(ValueVector()) : Value::list();
  if (n == 0 && !flag) {
    --depth_;
    return v;
  }
  ValueVector& items = v.items();
  items.reserve(n);
  // CPython reserves the slot of a container before reading its items.
  const std::size_t slot = flag ? reserve_slot(&items, kind) : 0;
  const std::size_t first = nodes_;
  for (std::size_t i = 0; i < n; ++i) {
    items.push_back(read());
  }
  if (flag) refs_[slot].weight = nodes_ - first + 1;
  --depth_;
  return v;
}

Value Decoder::read_dict(bool flag, std::size_t at) {
  enter(at);
  Value v = Value::dict();
  Dict& dict = v.as_dict();
  const std::size_t slot = flag ? reserve_slot(&dict, Kind::dict) : 0;
  const std::size_t first = nodes_;
  const std::size_t containers_before = container_slots_;
  for (;;) {
    if (p_ == end_) fail("EOF read where object expected", offset());
    if ((*p_ & ~flag_ref) == type_null) {
      ++p_;
      break;
    }
    const std::size_t key_at = offset();
    Value key = read();
    if (p_ == end_) fail("EOF read where object expected", offset());
    if ((*p_ & ~flag_ref) == type_null) {
      // CPython ends the dict here and drops the key.
      ++p_;
      bury(std::move(key));
      break;
    }
    Value value = read();
    try {
      if (container_slots_ == containers_before) {
        dict.set(std::move(key), std::move(value));
      } else if (Value* existing = dict.find(key)) {
        // d[k] = v on an existing key: the first key stays, the value is replaced.
        bury(std::move(*existing));
        *existing = std::move(value);
        bury(std::move(key));
      } else {
        dict.set(std::move(key), std::move(value));
      }
    } catch (const TypeError& e) {
      fail(e.what(), key_at);
    }
  }
  if (flag) refs_[slot].weight = nodes_ - first + 1;
  --depth_;
  return v;
}

Value Decoder::read_set(Kind kind, std::size_t n, bool flag, std::size_t at) {
  enter(at);
  Value v = kind == Kind::set ? Value(Set()) : Value::frozenset(Set());
  Set& set = v.as_set();
  set.reserve(n);
  const std::size_t slot = flag ? reserve_slot(&set, kind) : 0;
  const std::size_t first = nodes_;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t item_at = offset();
    const std::size_t containers_before = container_slots_;
    Value item = read();
    try {
      if (container_slots_ == containers_before) {
        set.add(std::move(item));
      } else if (set.contains(item)) {
        bury(std::move(item));
      } else {
        set.add(std::move(item));
      }
    } catch (const TypeError& e) {
      fail(e.what(), item_at);
    }
  }
  if (flag) refs_[slot].weight = nodes_ - first + 1;
  --depth_;
  return v;
}

Value Decoder::read_ref(std::size_t at) {
  need(4, "reference");
  const std::uint32_t index = load_u32(p_);
  p_ += 4;
  if (index >= refs_.size()) {
    fail("bad marshal data (invalid reference " + std::to_string(static_cast<std::int32_t>(index)) +
             ")",
         at);
  }
  const Slot& s = refs_[index];
  if (s.weight == 0) {
    // Python can build self-referencing containers; a Value tree cannot hold a cycle.
    fail("reference to an unfinished container (a cycle)", at);
  }
  expanded_ += s.weight;
  if (expanded_ > expansion_limit_) {
    fail("back references expand to more than " + std::to_string(expansion_limit_) + " values", at);
  }
  nodes_ += s.weight - 1;
  switch (s.kind) {
    case Kind::tuple:
      return Value::tuple(*static_cast<const ValueVector*>(s.container));
    case Kind::list:
      return Value::list(*static_cast<const ValueVector*>(s.container));
    case Kind::dict:
      return Value(*static_cast<const Dict*>(s.container));
    case Kind::set:
      return Value(*static_cast<const Set*>(s.container));
    case Kind::frozenset:
      return Value::frozenset(*static_cast<const Set*>(s.container));
    default:
      return s.value;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

// Writes objects as CPython's w_object does (version 4, no FLAG_REF). Nested values marshal
// cannot carry (datetime, date, objects) raise ValueError("unmarshallable object") as CPython's
// marshal.dumps does. Writes straight into the output string, grown geometrically; finish() trims
// it to what was written. Thread-compatible; one instance per payload.
class Encoder {
 public:
  explicit Encoder(std::string& out, std::vector<ExternalBytes>* external = nullptr)
      : out_(out), length_(out.size()), external_(external) {}

  // depth: CPython's object depth of v (the top-level object is at depth 1).
  void write(const Value& v, std::size_t depth);
  void write_str(std::string_view text);
  void write_list_header(std::size_t n) { write_sized(type_list, n); }
  void write_tuple_header(std::size_t n);
  void put(unsigned char code) { *claim(1) = static_cast<char>(code); }
  void finish() { out_.resize(length_); }

 private:
  // n bytes of room at the end of what was written so far. Inlined: it runs for every value.
  [[gnu::always_inline]] char* claim(std::size_t n) {
    if (out_.size() - length_ < n) [[unlikely]] {
      grow(n);
    }
    char* p = out_.data() + length_;
    length_ += n;
    return p;
  }
  // The string's own capacity doubling keeps reallocation amortized; the room zero-filled here
  // is bounded (after a big bytes value, doubling it would zero-fill as much again).
  [[gnu::noinline]] void grow(std::size_t n) {
    const std::size_t want = length_ + n + 256;
    out_.resize(std::max(want, std::min(2 * out_.size(), want + 65536)));
  }
  // Big payloads are appended, not copied into room claimed (and zero-filled) beforehand.
  static constexpr std::size_t large_copy = 4096;
  void append_large(std::string_view data) {
    out_.resize(length_);
    out_.append(data);
    length_ = out_.size();
  }
  static void store_u32(char* p, std::uint32_t v) {
    p[0] = static_cast<char>(v);
    p[1] = static_cast<char>(v >> 8);
    p[2] = static_cast<char>(v >> 16);
    p[3] = static_cast<char>(v >> 24);
  }
  static void store_f64(char* p, double d) {
    const auto bits = std::bit_cast<std::uint64_t>(d);
    store_u32(p, static_cast<std::uint32_t>(bits));
    store_u32(p + 4, static_cast<std::uint32_t>(bits >> 32));
  }
  // A type code and a 32-bit size (CPython's W_SIZE refuses sizes beyond 2**31 - 1).
  char* write_sized(unsigned char code, std::size_t n, std::size_t payload = 0) {
    if (n > max_size32) throw ValueError("unmarshallable object");
    char* p = claim(5 + payload);
    p[0] = static_cast<char>(code);
    store_u32(p + 1, static_cast<std::uint32_t>(n));
    return p + 5;
  }
  void write_int(const Value& v);
  void write_long(const std::uint8_t* magnitude, std::size_t n, bool negative);

  std::string& out_;
  std::size_t length_;  // bytes of out_ written; the rest is room to grow into
  std::vector<ExternalBytes>* external_;
};

void Encoder::write(const Value& v, std::size_t depth) {
  if (depth > max_marshal_depth) throw ValueError("object too deeply nested to marshal");
  // The commonest kinds first, through Value's inline tests (kind() is a call).
  if (v.is_str()) {
    write_str(ValueAccess::str_unchecked(v));
    return;
  }
  if (v.is_small_int()) {
    write_int(v);
    return;
  }
  switch (v.kind()) {
    case Kind::none:
      put(type_none);
      return;
    case Kind::bool_:
      put(v.as_bool() ? type_true : type_false);
      return;
    case Kind::int_:
      write_int(v);
      return;
    case Kind::float_: {
      char* p = claim(9);
      p[0] = static_cast<char>(type_binary_float);
      store_f64(p + 1, ValueAccess::float_value(v));
      return;
    }
    case Kind::complex: {
      const std::complex<double> c = v.as_complex();
      char* p = claim(17);
      p[0] = static_cast<char>(type_binary_complex);
      store_f64(p + 1, c.real());
      store_f64(p + 9, c.imag());
      return;
    }
    case Kind::str:
      write_str(ValueAccess::str_unchecked(v));
      return;
    case Kind::bytes: {
      const std::string_view data = v.bytes_view();
      if (external_ != nullptr && data.size() >= external_bytes_min) {
        write_sized(type_string, data.size());
        external_->push_back({length_, v});
        return;
      }
      if (data.size() > large_copy) {
        write_sized(type_string, data.size());
        append_large(data);
        return;
      }
      char* p = write_sized(type_string, data.size(), data.size());
      if (!data.empty()) std::memcpy(p, data.data(), data.size());
      return;
    }
    case Kind::tuple: {
      const ValueVector& items = ValueAccess::items_unchecked(v);
      write_tuple_header(items.size());
      for (const Value& item : items) {
        write(item, depth + 1);
      }
      return;
    }
    case Kind::list: {
      const ValueVector& items = ValueAccess::items_unchecked(v);
      write_sized(type_list, items.size());
      for (const Value& item : items) {
        write(item, depth + 1);
      }
      return;
    }
    case Kind::dict:
      put(type_dict);
      for (const auto& [key, value] : v.as_dict()) {
        write(key, depth + 1);
        write(value, depth + 1);
      }
      put(type_null);
      return;
    case Kind::set:
    case Kind::frozenset: {
      const Set& set = v.as_set();
      write_sized(v.is_set() ? type_set : type_frozenset, set.size());
      for (const Value& item : set) {
        write(item, depth + 1);
      }
      return;
    }
    case Kind::datetime:
    case Kind::date:
    case Kind::object:
      break;
  }
  throw ValueError("unmarshallable object");
}

void Encoder::write_tuple_header(std::size_t n) {
  if (n < 256) {
    char* p = claim(2);
    p[0] = static_cast<char>(type_small_tuple);
    p[1] = static_cast<char>(n);
  } else {
    write_sized(type_tuple, n);
  }
}

void Encoder::write_str(std::string_view text) {
  const std::size_t n = text.size();
  char* p;
  if (!is_ascii(reinterpret_cast<const unsigned char*>(text.data()), n)) {
    // UTF-8, lone surrogates as CPython's surrogatepass
    if (n > large_copy) {
      write_sized(type_unicode, n);
      append_large(text);
      return;
    }
    p = write_sized(type_unicode, n, n);
  } else if (n < 256) {
    p = claim(2 + n);
    p[0] = static_cast<char>(type_short_ascii);
    p[1] = static_cast<char>(n);
    p += 2;
  } else if (n > large_copy) {
    write_sized(type_ascii, n);
    append_large(text);
    return;
  } else {
    p = write_sized(type_ascii, n, n);
  }
  if (n != 0) std::memcpy(p, text.data(), n);
}

void Encoder::write_int(const Value& v) {
  if (ValueAccess::is_small_int(v)) {
    const std::int64_t i = ValueAccess::small_int(v);
    if (i >= std::numeric_limits<std::int32_t>::min() &&
        i <= std::numeric_limits<std::int32_t>::max()) {
      char* p = claim(5);
      p[0] = static_cast<char>(type_int);
      store_u32(p + 1, static_cast<std::uint32_t>(i));
      return;
    }
    const bool negative = i < 0;
    std::uint64_t magnitude =
        negative ? 0 - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i);
    std::uint8_t bytes[8];
    for (auto& b : bytes) {
      b = static_cast<std::uint8_t>(magnitude);
      magnitude >>= 8;
    }
    write_long(bytes, 8, negative);
    return;
  }
  bool negative = false;
  const std::vector<std::uint8_t> magnitude = ValueAccess::int_magnitude(v, negative);
  write_long(magnitude.data(), magnitude.size(), negative);
}

// 'l': signed digit count, then base 2**15 digits, least significant first (CPython w_PyLong).
void Encoder::write_long(const std::uint8_t* magnitude, std::size_t n, bool negative) {
  while (n > 0 && magnitude[n - 1] == 0) {
    --n;
  }
  const std::size_t bits = n == 0 ? 0 : 8 * (n - 1) + std::bit_width(unsigned{magnitude[n - 1]});
  const std::size_t count = (bits + long_shift - 1) / long_shift;
  if (count > max_size32) throw ValueError("unmarshallable object");
  const auto signed_count = static_cast<std::int64_t>(count);
  char* p = write_sized(type_long, 0, 2 * count);
  store_u32(p - 4, static_cast<std::uint32_t>(negative ? -signed_count : signed_count));
  std::uint32_t acc = 0;
  unsigned acc_bits = 0;
  char* const end = p + 2 * count;
  for (std::size_t i = 0; i < n; ++i) {
    acc |= std::uint32_t{magnitude[i]} << acc_bits;
    acc_bits += 8;
    if (acc_bits >= long_shift) {
      p[0] = static_cast<char>(acc);
      p[1] = static_cast<char>((acc & long_digit_mask) >> 8);
      p += 2;
      acc >>= long_shift;
      acc_bits -= long_shift;
    }
  }
  if (p != end) {
    p[0] = static_cast<char>(acc);
    p[1] = static_cast<char>(acc >> 8);
  }
}

// ---------------------------------------------------------------------------------------------
// MarshalSerializer
// ---------------------------------------------------------------------------------------------

// Pyro's MarshalSerializer (Pyro5/serializers.py, Pyro4/util.py): marshal.dumps of the value,
// after converting a top-level value (and each top-level argument of a call) that marshal
// cannot carry into its class dict. Stateless and thread-safe.
class MarshalSerializer final : public Serializer {
 public:
  std::string_view name() const noexcept override { return "marshal"; }
  std::string_view python_class() const noexcept override { return "MarshalSerializer"; }
  std::uint8_t id(Dialect dialect) const noexcept override {
    return dialect == Dialect::pyro4 ? 3 : 2;  // never change these
  }

  void encode(const Value& value, std::string& out, const EncodeOptions& options) const override {
    const std::size_t size = out.size();
    try {
      Value converted;
      Encoder encoder(out, options.external);
      encoder.write(marshallable(value, converted, options), 1);
      encoder.finish();
    } catch (...) {
      out.resize(size);
      throw;
    }
  }

  Value decode(std::string_view data, const DecodeOptions& options) const override {
    // Like marshal.loads, bytes after the object are ignored.
    return Decoder(data, options).read();
  }

  // marshal.dumps((object, method, [args...], {kwargs...})), as Pyro's dumpsCall builds it.
  void encode_call(const CallEnvelope& call, std::string& out,
                   const EncodeOptions& options) const override {
    check_text(call.object, "object id");
    check_text(call.method, "method name");
    if (!call.args.is_sequence()) {
      throw SerializeError("marshal: call arguments must be a tuple or list, got " +
                           std::string(call.args.type_name()));
    }
    if (!call.kwargs.is_dict() && !call.kwargs.is_none()) {
      throw SerializeError("marshal: keyword arguments must be a dict or None, got " +
                           std::string(call.kwargs.type_name()));
    }
    const std::size_t size = out.size();
    try {
      Encoder encoder(out, options.external);
      encoder.write_tuple_header(4);
      encoder.write_str(call.object);
      encoder.write_str(call.method);
      const auto args = call.args.items();
      encoder.write_list_header(args.size());
      Value converted;
      for (const Value& arg : args) {
        encoder.write(marshallable(arg, converted, options), 3);
      }
      if (call.kwargs.is_none()) {
        // Pyro's Python client cannot send this (it calls kwargs.items()); our daemon accepts it.
        encoder.put(type_none);
      } else {
        encoder.put(type_dict);
        for (const auto& [key, value] : call.kwargs.as_dict()) {
          encoder.write(key, 3);
          encoder.write(marshallable(value, converted, options), 3);
        }
        encoder.put(type_null);
      }
      encoder.finish();
    } catch (...) {
      out.resize(size);
      throw;
    }
  }

 private:
  // Pyro's convert_obj_into_marshallable: objects become their class dict; datetime and date
  // have no dict form and fail as in Pyro's class_to_dict.
  static const Value& marshallable(const Value& value, Value& converted,
                                   const EncodeOptions& options) {
    switch (value.kind()) {
      case Kind::object:
        converted = object_dict(value, options);
        return converted;
      case Kind::datetime:
        cannot_serialize("datetime.datetime", "MarshalSerializer");
      case Kind::date:
        cannot_serialize("datetime.date", "MarshalSerializer");
      default:
        return value;
    }
  }

  static void check_text(std::string_view text, const char* what) {
    const std::size_t bad = detail::find_invalid_utf8(text, true);
    if (bad != detail::utf8_valid) {
      throw SerializeError(std::string("marshal: ") + what + " is not valid UTF-8 (byte " +
                           std::to_string(bad) + ")");
    }
  }
};

}  // namespace

const Serializer& marshal_serializer() {
  static const MarshalSerializer instance;
  return instance;
}

}  // namespace pyro
