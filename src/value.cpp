// value.cpp — pyro::Value, Dict, Set: storage, Python equality and hashing, repr.
#include "pyro/value.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>

// Boost.Multiprecision 1.74 trips GCC 12's -Wmaybe-uninitialized inside its own templates.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/multiprecision/cpp_int.hpp>

#include "detail/text.hpp"
#include "detail/value_access.hpp"
#include "pyro/bigint.hpp"

namespace pyro {

namespace detail {

// Shared immutable bytes of a long str or a bytes value; the bytes follow the header.
struct Blob {
  std::atomic<std::uint32_t> refs;
  std::size_t size;

  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  std::string_view view() noexcept { return {data(), size}; }

  static Blob* allocate(std::size_t n) {
    void* mem = pool_allocate(sizeof(Blob) + n);
    return new (mem) Blob{{1}, n};
  }
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const std::size_t bytes = sizeof(Blob) + size;
      this->~Blob();
      pool_deallocate(this, bytes);
    }
  }
};

struct BigRep {
  BigInt value;
};

struct ObjectRep {
  std::shared_ptr<const Object> object;
};

// new / delete through the block cache.
template <class T, class... Args>
T* make(Args&&... args) {
  void* mem = pool_allocate(sizeof(T));
  try {
    return new (mem) T(std::forward<Args>(args)...);
  } catch (...) {
    pool_deallocate(mem, sizeof(T));
    throw;
  }
}
template <class T>
void destroy(T* p) noexcept {
  if (p == nullptr) return;
  p->~T();
  pool_deallocate(p, sizeof(T));
}

}  // namespace detail

namespace {

using detail::BigRep;
using detail::Blob;
using detail::destroy;
using detail::make;
using detail::ObjectRep;

constexpr std::int64_t hash_modulus = (std::int64_t{1} << 61) - 1;  // CPython's _PyHASH_MODULUS
constexpr std::int64_t hash_inf = 314159;                           // CPython's _PyHASH_INF

bool fits_int64(const BigInt& v) {
  static const BigInt lo = BigInt(std::numeric_limits<std::int64_t>::min());
  static const BigInt hi = BigInt(std::numeric_limits<std::int64_t>::max());
  return v >= lo && v <= hi;
}

std::size_t bit_length(const BigInt& v) {
  if (v == 0) return 0;
  return boost::multiprecision::msb(boost::multiprecision::abs(v)) + 1;
}

std::int64_t hash_fixup(std::int64_t h) {
  return h == -1 ? -2 : h;
}

std::int64_t hash_int64(std::int64_t v) {
  // CPython: sign * (|v| mod (2**61 - 1)), with -1 mapped to -2.
  const std::uint64_t mag =
      v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  const auto h = static_cast<std::int64_t>(mag % static_cast<std::uint64_t>(hash_modulus));
  return hash_fixup(v < 0 ? -h : h);
}

std::int64_t hash_big(const BigInt& v) {
  const BigInt mag = boost::multiprecision::abs(v) % hash_modulus;
  const auto h = mag.convert_to<std::int64_t>();
  return hash_fixup(v < 0 ? -h : h);
}

std::int64_t hash_double(double v) {
  // CPython's _Py_HashDouble (NaN hashes by identity there; here all NaNs hash to 0).
  if (std::isinf(v)) return v > 0 ? hash_inf : -hash_inf;
  if (std::isnan(v)) return 0;
  int e;
  double m = std::frexp(v, &e);
  int sign = 1;
  if (m < 0) {
    sign = -1;
    m = -m;
  }
  std::uint64_t x = 0;
  constexpr std::uint64_t modulus = static_cast<std::uint64_t>(hash_modulus);
  while (m != 0) {
    x = ((x << 28) & modulus) | x >> (61 - 28);
    m *= 268435456.0;  // 2**28
    e -= 28;
    const auto y = static_cast<std::uint64_t>(m);
    m -= static_cast<double>(y);
    x += y;
    if (x >= modulus) x -= modulus;
  }
  e = e >= 0 ? e % 61 : 61 - 1 - ((-1 - e) % 61);
  x = ((x << e) & modulus) | x >> (61 - e);
  auto h = static_cast<std::int64_t>(x) * sign;
  return hash_fixup(h);
}

// Exact comparison of an integer with a double, as CPython does (no rounding of the int).
bool int_equals_double(double d, const BigInt* big, std::int64_t small) {
  if (!std::isfinite(d)) return false;
  if (d != std::floor(d)) return false;
  if (big == nullptr) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      return static_cast<std::int64_t>(d) == small;
    }
    return false;
  }
  BigInt as_int(d);  // exact for an integral double
  return as_int == *big;
}

// Correctly rounded (half to even) conversion of a big int to double, like CPython's int.__float__.
double big_to_double(const BigInt& v) {
  const std::size_t bits = bit_length(v);
  if (bits <= 63) return static_cast<double>(v.convert_to<std::int64_t>());
  if (bits > 1024) throw OverflowError("int too large to convert to float");
  BigInt mag = boost::multiprecision::abs(v);
  const std::size_t shift = bits - 55;  // keep 55 bits: 53 + guard + one more
  const bool sticky = (mag & ((BigInt(1) << shift) - 1)) != 0;
  std::uint64_t top = static_cast<std::uint64_t>(mag >> shift);
  if (sticky) top |= 1;
  // Round 55 bits (plus sticky) to 53 bits, half to even.
  const std::uint64_t rem = top & 3;
  top >>= 2;
  if (rem > 2 || (rem == 2 && (top & 1))) ++top;
  double r = std::ldexp(static_cast<double>(top), static_cast<int>(shift + 2));
  if (std::isinf(r)) throw OverflowError("int too large to convert to float");
  return v < 0 ? -r : r;
}

[[noreturn]] void int_str_limit_exceeded(std::size_t digits) {
  throw ValueError("Exceeds the limit (4300 digits) for integer string conversion: value has " +
                   std::to_string(digits) +
                   " digits; use sys.set_int_max_str_digits() to increase the limit");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// kind names, construction, copy, release
// ---------------------------------------------------------------------------------------------

std::string_view kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::none:
      return "NoneType";
    case Kind::bool_:
      return "bool";
    case Kind::int_:
      return "int";
    case Kind::float_:
      return "float";
    case Kind::complex:
      return "complex";
    case Kind::str:
      return "str";
    case Kind::bytes:
      return "bytes";
    case Kind::tuple:
      return "tuple";
    case Kind::list:
      return "list";
    case Kind::dict:
      return "dict";
    case Kind::set:
      return "set";
    case Kind::frozenset:
      return "frozenset";
    case Kind::datetime:
      return "datetime";
    case Kind::date:
      return "date";
    case Kind::object:
      return "object";
  }
  return "?";
}

void Value::set_unsigned(std::uint64_t u) {
  if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    set_small_int(static_cast<std::int64_t>(u));
  } else {
    rep_.tag = Tag::big_int;
    set_payload(make<BigRep>(BigRep{BigInt(u)}));
  }
}

Value::Value(std::complex<double> c) {
  rep_.tag = Tag::complex;
  set_payload(make<std::complex<double>>(c));
}

Value::Value(std::string_view text) {
  const auto bad = detail::find_invalid_utf8(text, false);
  if (bad != detail::utf8_valid) {
    throw ValueError(
        "str must be valid UTF-8: invalid byte 0x" +
        std::string(1, "0123456789abcdef"[static_cast<unsigned char>(text[bad]) >> 4]) +
        std::string(1, "0123456789abcdef"[static_cast<unsigned char>(text[bad]) & 15]) +
        " at offset " + std::to_string(bad));
  }
  *this = detail::ValueAccess::str_trusted(text);
}

Value::Value(Dict dict) {
  rep_.tag = Tag::dict;
  set_payload(dict.size() == 0 ? nullptr : make<Dict>(std::move(dict)));
}

Value::Value(Set set) {
  rep_.tag = Tag::set;
  set_payload(make<Set>(std::move(set)));
}

Value Value::bytes(std::span<const std::byte> data) {
  return bytes(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

Value Value::bytes(std::string_view raw) {
  Value v;
  char* dst = detail::ValueAccess::bytes_uninitialized(v, raw.size());
  if (!raw.empty()) std::memcpy(dst, raw.data(), raw.size());
  return v;
}

Value Value::tuple(ValueVector items) {
  Value v;
  v.rep_.tag = Tag::tuple;
  v.set_payload(items.capacity() == 0 ? nullptr : make<ValueVector>(std::move(items)));
  return v;
}

Value Value::tuple(const std::vector<Value>& items) {
  return tuple(ValueVector(items.begin(), items.end()));
}

Value Value::tuple(std::vector<Value>&& items) {
  return tuple(
      ValueVector(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end())));
}

Value Value::tuple(std::initializer_list<Value> items) {
  return tuple(ValueVector(items));
}

Value Value::list(ValueVector items) {
  Value v;
  v.rep_.tag = Tag::list;
  v.set_payload(items.capacity() == 0 ? nullptr : make<ValueVector>(std::move(items)));
  return v;
}

Value Value::list(const std::vector<Value>& items) {
  return list(ValueVector(items.begin(), items.end()));
}

Value Value::list(std::vector<Value>&& items) {
  return list(
      ValueVector(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end())));
}

Value Value::list(std::initializer_list<Value> items) {
  return list(ValueVector(items));
}

Value Value::dict() {
  return Value(Dict());
}

Value Value::dict(std::initializer_list<std::pair<Value, Value>> items) {
  Dict d;
  d.reserve(items.size());
  for (const auto& [k, v] : items)
    d.set(k, v);
  return Value(std::move(d));
}

Value Value::set(std::initializer_list<Value> items) {
  return Value(Set(items));
}

Value Value::frozenset(std::initializer_list<Value> items) {
  return frozenset(Set(items));
}

Value Value::frozenset(Set set) {
  Value v;
  v.rep_.tag = Tag::frozenset;
  v.set_payload(make<Set>(std::move(set)));
  return v;
}

Value Value::object(std::shared_ptr<const Object> object) {
  if (!object) return Value();
  Value v;
  v.rep_.tag = Tag::object;
  v.set_payload(make<ObjectRep>(ObjectRep{std::move(object)}));
  return v;
}

Value Value::int_from_text(std::string_view text) {
  const std::string_view original = text;
  auto invalid = [&]() -> ValueError {
    std::string shown;
    detail::append_str_repr(shown, detail::find_invalid_utf8(original, true) == detail::utf8_valid
                                       ? original
                                       : std::string_view("<binary>"));
    return ValueError("invalid literal for int() with base 10: " + shown);
  };
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  unsigned base = 10;
  if (text.size() > 2 && text[0] == '0') {
    const char p = static_cast<char>(text[1] | 0x20);
    if (p == 'x') base = 16;
    if (p == 'o') base = 8;
    if (p == 'b') base = 2;
    if (base != 10) text.remove_prefix(2);
  }
  // Digits with single underscores between them (Python's literal rules).
  std::string digits;
  digits.reserve(text.size());
  bool last_underscore = true;
  for (char c : text) {
    if (c == '_') {
      if (last_underscore) throw invalid();
      last_underscore = true;
      continue;
    }
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
      d = static_cast<unsigned>((c | 0x20) - 'a' + 10);
    } else {
      throw invalid();
    }
    if (d >= base) throw invalid();
    digits.push_back(c);
    last_underscore = false;
  }
  if (digits.empty() || last_underscore) throw invalid();
  if (base == 10 && digits.size() > detail::int_max_str_digits)
    int_str_limit_exceeded(digits.size());
  if (digits.size() <= 18 && base == 10) {
    std::int64_t v = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), v);
    return Value(negative ? -v : v);
  }
  BigInt v = 0;
  if (base == 10) {
    // 18 digits at a time.
    std::size_t pos = 0;
    const std::size_t head = digits.size() % 18;
    auto chunk = [&](std::size_t n) {
      std::int64_t c = 0;
      std::from_chars(digits.data() + pos, digits.data() + pos + n, c);
      pos += n;
      return c;
    };
    if (head != 0) v = chunk(head);
    static const BigInt scale = BigInt(1000000000000000000LL);
    while (pos < digits.size())
      v = v * scale + chunk(18);
  } else {
    for (char c : digits) {
      const unsigned d =
          c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
      v = v * base + d;
    }
  }
  if (negative) v = -v;
  Value out;
  if (fits_int64(v)) {
    out.set_small_int(v.convert_to<std::int64_t>());
  } else {
    out.rep_.tag = Tag::big_int;
    out.set_payload(make<BigRep>(BigRep{std::move(v)}));
  }
  return out;
}

Value Value::int_from_bytes(std::span<const std::uint8_t> le, bool is_signed) {
  if (le.empty()) return Value(0);
  const bool negative = is_signed && (le.back() & 0x80);
  if (le.size() <= 8) {
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < le.size(); ++i)
      u |= std::uint64_t{le[i]} << (8 * i);
    if (negative) {
      if (le.size() < 8) u |= ~std::uint64_t{0} << (8 * le.size());
      return Value(static_cast<std::int64_t>(u));
    }
    Value out;
    out.set_unsigned(u);
    return out;
  }
  std::vector<std::uint8_t> mag(le.begin(), le.end());
  if (negative) {
    // magnitude = two's complement negation
    bool carry = true;
    for (auto& b : mag) {
      b = static_cast<std::uint8_t>(~b);
      if (carry) {
        b = static_cast<std::uint8_t>(b + 1);
        carry = b == 0;
      }
    }
  }
  return detail::ValueAccess::int_from_magnitude(mag.data(), mag.size(), negative);
}

Value::Value(const Value& other) : rep_(other.rep_) {
  if (rep_.tag >= Tag::first_heap) copy_from(other);
}

Value& Value::operator=(const Value& other) {
  if (this != &other) {
    Value tmp(other);
    *this = std::move(tmp);
  }
  return *this;
}

void Value::copy_from(const Value& other) {
  // rep_ already holds other's bits; replace the heap pointer by an owned copy.
  switch (other.rep_.tag) {
    case Tag::long_str:
    case Tag::bytes:
      other.payload<Blob*>()->retain();
      break;
    case Tag::big_int:
      set_payload(make<BigRep>(*other.payload<BigRep*>()));
      break;
    case Tag::complex:
      set_payload(make<std::complex<double>>(*other.payload<std::complex<double>*>()));
      break;
    case Tag::tuple:
    case Tag::list:
      if (other.payload<ValueVector*>() != nullptr)
        set_payload(make<ValueVector>(*other.payload<ValueVector*>()));
      break;
    case Tag::dict:
      if (other.payload<Dict*>() != nullptr) set_payload(make<Dict>(*other.payload<Dict*>()));
      break;
    case Tag::set:
    case Tag::frozenset:
      set_payload(make<Set>(*other.payload<Set*>()));
      break;
    case Tag::object:
      set_payload(make<ObjectRep>(*other.payload<ObjectRep*>()));
      break;
    default:
      break;
  }
}

void Value::release() noexcept {
  switch (rep_.tag) {
    case Tag::long_str:
    case Tag::bytes:
      payload<Blob*>()->release();
      break;
    case Tag::big_int:
      destroy(payload<BigRep*>());
      break;
    case Tag::complex:
      destroy(payload<std::complex<double>*>());
      break;
    case Tag::tuple:
    case Tag::list:
      destroy(payload<ValueVector*>());
      break;
    case Tag::dict:
      destroy(payload<Dict*>());
      break;
    case Tag::set:
    case Tag::frozenset:
      destroy(payload<Set*>());
      break;
    case Tag::object:
      destroy(payload<ObjectRep*>());
      break;
    default:
      break;
  }
  rep_.tag = Tag::none;
}

// ---------------------------------------------------------------------------------------------
// access
// ---------------------------------------------------------------------------------------------

void Value::type_mismatch(std::string_view expected) const {
  throw TypeError("expected " + std::string(expected) + ", got " + std::string(type_name()));
}

bool Value::as_bool() const {
  if (!is_bool()) type_mismatch("bool");
  return rep_.tag == Tag::true_;
}

std::int64_t Value::as_int_other() const {
  switch (rep_.tag) {
    case Tag::false_:
      return 0;
    case Tag::true_:
      return 1;
    case Tag::big_int:
      throw OverflowError("int too large for a 64-bit integer: " + int_text());
    default:
      type_mismatch("int");
  }
}

std::string Value::int_text() const {
  switch (rep_.tag) {
    case Tag::small_int:
      return std::to_string(payload<std::int64_t>());
    case Tag::false_:
      return "0";
    case Tag::true_:
      return "1";
    case Tag::big_int: {
      const BigInt& v = payload<BigRep*>()->value;
      // CPython refuses int -> str beyond 4300 digits; 14300 bits is a safe lower bound.
      if (bit_length(v) > 14300) {
        const std::string s = v.str();
        const std::size_t digits = s.size() - (s[0] == '-');
        if (digits > detail::int_max_str_digits) {
          throw ValueError(
              "Exceeds the limit (4300 digits) for integer string conversion; use "
              "sys.set_int_max_str_digits() to increase the limit");
        }
        return s;
      }
      return v.str();
    }
    default:
      type_mismatch("int");
  }
}

std::vector<std::uint8_t> Value::int_bytes() const {
  if (!is_int() && !is_bool()) type_mismatch("int");
  if (rep_.tag != Tag::big_int) {
    const std::int64_t v = as_int();
    std::vector<std::uint8_t> out;
    auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
    // trim redundant sign bytes
    while (out.size() > 1) {
      const std::uint8_t top = out.back(), next = out[out.size() - 2];
      if ((top == 0x00 && !(next & 0x80)) || (top == 0xFF && (next & 0x80))) {
        out.pop_back();
      } else {
        break;
      }
    }
    return out;
  }
  bool negative = false;
  auto mag = detail::ValueAccess::int_magnitude(*this, negative);
  mag.push_back(0);  // room for the sign bit
  if (negative) {
    bool carry = true;
    for (auto& b : mag) {
      b = static_cast<std::uint8_t>(~b);
      if (carry) {
        b = static_cast<std::uint8_t>(b + 1);
        carry = b == 0;
      }
    }
  }
  while (mag.size() > 1) {
    const std::uint8_t top = mag.back(), next = mag[mag.size() - 2];
    if ((top == 0x00 && !(next & 0x80)) || (top == 0xFF && (next & 0x80))) {
      mag.pop_back();
    } else {
      break;
    }
  }
  return mag;
}

std::size_t Value::int_bit_length() const {
  if (rep_.tag == Tag::big_int) return bit_length(payload<BigRep*>()->value);
  const std::int64_t v = as_int();
  const std::uint64_t mag =
      v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  return static_cast<std::size_t>(std::bit_width(mag));
}

double Value::as_float() const {
  switch (rep_.tag) {
    case Tag::float_:
      return payload<double>();
    case Tag::small_int:
      return static_cast<double>(payload<std::int64_t>());
    case Tag::false_:
      return 0.0;
    case Tag::true_:
      return 1.0;
    case Tag::big_int:
      return big_to_double(payload<BigRep*>()->value);
    default:
      type_mismatch("float");
  }
}

std::complex<double> Value::as_complex() const {
  if (rep_.tag == Tag::complex) return *payload<std::complex<double>*>();
  if (is_number()) return {as_float(), 0.0};
  type_mismatch("complex");
}

std::string_view Value::as_str_other() const {
  if (rep_.tag == Tag::long_str) return payload<Blob*>()->view();
  type_mismatch("str");
}

std::span<const std::byte> Value::as_bytes() const {
  if (rep_.tag != Tag::bytes) type_mismatch("bytes");
  Blob* b = payload<Blob*>();
  return {reinterpret_cast<const std::byte*>(b->data()), b->size};
}

std::string_view Value::bytes_view() const {
  if (rep_.tag != Tag::bytes) type_mismatch("bytes");
  return payload<Blob*>()->view();
}

DateTime Value::as_datetime() const {
  if (rep_.tag != Tag::datetime) type_mismatch("datetime");
  return DateTime{payload<std::int64_t>()};
}

Date Value::as_date() const {
  if (rep_.tag != Tag::date) type_mismatch("date");
  return Date{static_cast<std::int32_t>(payload<std::int64_t>())};
}

const ValueVector& Value::seq_ref() const noexcept {
  static const ValueVector empty;
  const auto* items = payload<ValueVector*>();
  return items != nullptr ? *items : empty;
}

const Dict& Value::dict_ref() const noexcept {
  static const Dict empty;
  const auto* dict = payload<Dict*>();
  return dict != nullptr ? *dict : empty;
}

ValueVector& Value::items() {
  if (!is_sequence()) type_mismatch("tuple or list");
  if (payload<ValueVector*>() == nullptr) set_payload(make<ValueVector>());
  return *payload<ValueVector*>();
}

Dict& Value::as_dict() {
  if (rep_.tag != Tag::dict) type_mismatch("dict");
  if (payload<Dict*>() == nullptr) set_payload(make<Dict>());
  return *payload<Dict*>();
}

const Set& Value::as_set() const {
  if (!is_any_set()) type_mismatch("set");
  return *payload<Set*>();
}

Set& Value::as_set() {
  if (!is_any_set()) type_mismatch("set");
  return *payload<Set*>();
}

const std::shared_ptr<const Object>& Value::as_object() const {
  if (rep_.tag != Tag::object) type_mismatch("object");
  return payload<ObjectRep*>()->object;
}

std::size_t Value::size() const {
  switch (rep_.tag) {
    case Tag::short_str:
    case Tag::long_str:
      return detail::count_code_points(as_str());
    case Tag::bytes:
      return payload<Blob*>()->size;
    case Tag::tuple:
    case Tag::list:
      return seq_ref().size();
    case Tag::dict:
      return dict_ref().size();
    case Tag::set:
    case Tag::frozenset:
      return payload<Set*>()->size();
    default:
      throw TypeError("object of type '" + std::string(type_name()) + "' has no len()");
  }
}

const Value& Value::operator[](std::ptrdiff_t index) const {
  const auto seq = items();
  const auto n = static_cast<std::ptrdiff_t>(seq.size());
  const std::ptrdiff_t i = index < 0 ? index + n : index;
  if (i < 0 || i >= n) throw IndexError(std::string(type_name()) + " index out of range");
  return seq[static_cast<std::size_t>(i)];
}

const Value* Value::find_in_dict(const Value& key) const {
  return as_dict().find(key);
}

const Value& Value::at(const Value& key) const {
  return as_dict().at(key);
}

const Value* Value::find(const Value& key) const {
  return find_in_dict(key);
}

void Value::append(Value item) {
  items().push_back(std::move(item));
}

// ---------------------------------------------------------------------------------------------
// equality, hashing
// ---------------------------------------------------------------------------------------------

namespace {

enum class NumClass { none, integer, real, complex };

NumClass num_class(const Value& v) {
  switch (v.kind()) {
    case Kind::bool_:
    case Kind::int_:
      return NumClass::integer;
    case Kind::float_:
      return NumClass::real;
    case Kind::complex:
      return NumClass::complex;
    default:
      return NumClass::none;
  }
}

}  // namespace

bool operator==(const Value& a, const Value& b) {
  using Tag = Value::Tag;
  const Tag ta = a.rep_.tag, tb = b.rep_.tag;
  // Fast paths for identical representation kinds.
  if (ta == tb) {
    switch (ta) {
      case Tag::none:
      case Tag::false_:
      case Tag::true_:
        return true;
      case Tag::small_int:
      case Tag::datetime:
      case Tag::date:
        return a.payload<std::int64_t>() == b.payload<std::int64_t>();
      case Tag::float_:
        return a.payload<double>() == b.payload<double>();
      case Tag::short_str:
        return a.rep_.short_size == b.rep_.short_size &&
               std::memcmp(a.rep_.chars, b.rep_.chars, a.rep_.short_size) == 0;
      case Tag::long_str:
      case Tag::bytes: {
        Blob* x = a.payload<Blob*>();
        Blob* y = b.payload<Blob*>();
        return x == y || x->view() == y->view();
      }
      case Tag::big_int:
        return a.payload<BigRep*>()->value == b.payload<BigRep*>()->value;
      case Tag::complex:
        return *a.payload<std::complex<double>*>() == *b.payload<std::complex<double>*>();
      case Tag::tuple:
      case Tag::list: {
        const auto& x = a.seq_ref();
        const auto& y = b.seq_ref();
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (!(x[i] == y[i])) return false;
        }
        return true;
      }
      case Tag::dict:
        return a.dict_ref() == b.dict_ref();
      case Tag::set:
      case Tag::frozenset:
        return *a.payload<Set*>() == *b.payload<Set*>();
      case Tag::object: {
        const auto& x = a.payload<ObjectRep*>()->object;
        const auto& y = b.payload<ObjectRep*>()->object;
        return x == y || x->equals(*y);
      }
    }
  }
  if (a.is_str() && b.is_str()) return a.as_str() == b.as_str();
  if (a.is_any_set() && b.is_any_set()) return a.as_set() == b.as_set();
  // Numbers across bool/int/float/complex.
  const NumClass ca = num_class(a), cb = num_class(b);
  if (ca == NumClass::none || cb == NumClass::none) return false;
  if (ca == NumClass::complex || cb == NumClass::complex) {
    if (ca == NumClass::complex && cb == NumClass::complex) return a.as_complex() == b.as_complex();
    // complex versus real: the imaginary part must be 0 and the real part equal (exactly)
    const auto c = (ca == NumClass::complex ? a : b).as_complex();
    const Value& real = ca == NumClass::complex ? b : a;
    return c.imag() == 0 && Value(c.real()) == real;
  }
  if (ca == NumClass::integer && cb == NumClass::integer) {
    // small/bool versus big: a big int is never within int64, so they differ
    if (ta == Tag::big_int || tb == Tag::big_int) {
      if (ta == Tag::big_int && tb == Tag::big_int)
        return a.payload<BigRep*>()->value == b.payload<BigRep*>()->value;
      return false;
    }
    return a.as_int() == b.as_int();
  }
  // int versus float
  const Value& i = ca == NumClass::integer ? a : b;
  const Value& f = ca == NumClass::integer ? b : a;
  const double d = f.payload<double>();
  if (i.rep_.tag == Tag::big_int) return int_equals_double(d, &i.payload<BigRep*>()->value, 0);
  return int_equals_double(d, nullptr, i.as_int());
}

bool Value::is_hashable() const noexcept {
  switch (rep_.tag) {
    case Tag::list:
    case Tag::dict:
    case Tag::set:
      return false;
    case Tag::tuple:
      for (const auto& item : seq_ref()) {
        if (!item.is_hashable()) return false;
      }
      return true;
    default:
      return true;
  }
}

std::size_t Value::hash() const {
  switch (rep_.tag) {
    case Tag::none:
      return 0x5ca1ab1e;
    case Tag::false_:
      return 0;
    case Tag::true_:
      return 1;
    case Tag::small_int:
      return static_cast<std::size_t>(hash_int64(payload<std::int64_t>()));
    case Tag::big_int:
      return static_cast<std::size_t>(hash_big(payload<BigRep*>()->value));
    case Tag::float_:
      return static_cast<std::size_t>(hash_double(payload<double>()));
    case Tag::complex: {
      const auto c = *payload<std::complex<double>*>();
      const auto hr = static_cast<std::uint64_t>(hash_double(c.real()));
      const auto hi = static_cast<std::uint64_t>(hash_double(c.imag()));
      const auto h = static_cast<std::int64_t>(hr + 1000003ULL * hi);  // CPython's _PyHASH_IMAG
      return static_cast<std::size_t>(hash_fixup(h));
    }
    case Tag::short_str:
    case Tag::long_str:
      return std::hash<std::string_view>{}(as_str());
    case Tag::bytes:
      return std::hash<std::string_view>{}(bytes_view()) ^ 0x62797465ULL;
    case Tag::datetime:
      return static_cast<std::size_t>(hash_int64(payload<std::int64_t>())) ^ 0x6474ULL;
    case Tag::date:
      return static_cast<std::size_t>(hash_int64(payload<std::int64_t>())) ^ 0x6461ULL;
    case Tag::tuple: {
      // CPython 3.8+ tuplehash (xxHash-based).
      constexpr std::uint64_t p1 = 11400714785074694791ULL, p2 = 14029467366897019727ULL,
                              p5 = 2870177450012600261ULL;
      const auto& items = seq_ref();
      std::uint64_t acc = p5;
      for (const auto& item : items) {
        const auto lane = static_cast<std::uint64_t>(item.hash());
        acc += lane * p2;
        acc = std::rotl(acc, 31);
        acc *= p1;
      }
      acc += items.size() ^ (p5 ^ 3527539ULL);
      if (acc == static_cast<std::uint64_t>(-1)) return 1546275796;
      return acc;
    }
    case Tag::frozenset: {
      // CPython's frozenset_hash.
      std::uint64_t h = 0;
      for (const auto& item : *payload<Set*>()) {
        const auto e = static_cast<std::uint64_t>(item.hash());
        h ^= ((e ^ 89869747ULL) ^ (e << 16)) * 3644798167ULL;
      }
      h ^= (payload<Set*>()->size() + 1) * 1927868237ULL;
      h ^= (h >> 11) ^ (h >> 25);
      h = h * 69069U + 907133923ULL;
      if (h == static_cast<std::uint64_t>(-1)) h = 590923713ULL;
      return h;
    }
    case Tag::object:
      return payload<ObjectRep*>()->object->hash();
    case Tag::list:
    case Tag::dict:
    case Tag::set:
      break;
  }
  throw TypeError("unhashable type: '" + std::string(type_name()) + "'");
}

bool identical(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::float_: {
      const double x = a.as_float(), y = b.as_float();
      if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
      return x == y && std::signbit(x) == std::signbit(y);
    }
    case Kind::complex: {
      const auto x = a.as_complex(), y = b.as_complex();
      return identical(Value(x.real()), Value(y.real())) &&
             identical(Value(x.imag()), Value(y.imag()));
    }
    case Kind::tuple:
    case Kind::list: {
      const auto x = a.items(), y = b.items();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!identical(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::dict: {
      const auto& x = a.as_dict();
      const auto& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!identical(x.items()[i].first, y.items()[i].first) ||
            !identical(x.items()[i].second, y.items()[i].second)) {
          return false;
        }
      }
      return true;
    }
    case Kind::set:
    case Kind::frozenset: {
      const auto& x = a.as_set();
      const auto& y = b.as_set();
      if (x.size() != y.size()) return false;
      for (const auto& item : x) {
        bool found = false;
        for (const auto& other : y) {
          if (identical(item, other)) {
            found = true;
            break;
          }
        }
        if (!found) return false;
      }
      return true;
    }
    default:
      return a == b;
  }
}

// ---------------------------------------------------------------------------------------------
// repr
// ---------------------------------------------------------------------------------------------

namespace {

void append_repr(std::string& out, const Value& v, int depth) {
  if (depth > 200) {
    out.append("...");
    return;
  }
  switch (v.kind()) {
    case Kind::none:
      out.append("None");
      return;
    case Kind::bool_:
      out.append(v.as_bool() ? "True" : "False");
      return;
    case Kind::int_:
      out.append(v.int_text());
      return;
    case Kind::float_: {
      const double d = v.as_float();
      if (std::isnan(d)) {
        out.append("nan");
      } else if (std::isinf(d)) {
        out.append(d > 0 ? "inf" : "-inf");
      } else {
        detail::append_float_repr(out, d);
      }
      return;
    }
    case Kind::complex: {
      const auto c = v.as_complex();
      auto part = [&out](double d) {
        if (std::isnan(d)) {
          out.append("nan");
        } else if (std::isinf(d)) {
          out.append(d > 0 ? "inf" : "-inf");
        } else {
          // Python drops ".0" of integral parts in complex repr: (1+2j)
          std::string s;
          detail::append_float_repr(s, d);
          if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
          out.append(s);
        }
      };
      if (c.real() == 0 && !std::signbit(c.real())) {
        part(c.imag());
        out.push_back('j');
        return;
      }
      out.push_back('(');
      part(c.real());
      if (!(c.imag() < 0) && !(c.imag() == 0 && std::signbit(c.imag())) && !std::isnan(c.imag()))
        out.push_back('+');
      if (std::isnan(c.imag())) out.push_back('+');
      part(c.imag());
      out.append("j)");
      return;
    }
    case Kind::str:
      detail::append_str_repr(out, v.as_str());
      return;
    case Kind::bytes:
      detail::append_bytes_repr(out, v.bytes_view());
      return;
    case Kind::tuple:
    case Kind::list: {
      const bool tuple = v.is_tuple();
      out.push_back(tuple ? '(' : '[');
      const auto items = v.items();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.append(", ");
        append_repr(out, items[i], depth + 1);
      }
      if (tuple && items.size() == 1) out.push_back(',');
      out.push_back(tuple ? ')' : ']');
      return;
    }
    case Kind::dict: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, val] : v.as_dict()) {
        if (!first) out.append(", ");
        first = false;
        append_repr(out, k, depth + 1);
        out.append(": ");
        append_repr(out, val, depth + 1);
      }
      out.push_back('}');
      return;
    }
    case Kind::set:
    case Kind::frozenset: {
      const auto& s = v.as_set();
      const bool frozen = v.is_frozenset();
      if (s.empty()) {
        out.append(frozen ? "frozenset()" : "set()");
        return;
      }
      if (frozen) out.append("frozenset(");
      out.push_back('{');
      bool first = true;
      for (const auto& item : s) {
        if (!first) out.append(", ");
        first = false;
        append_repr(out, item, depth + 1);
      }
      out.push_back('}');
      if (frozen) out.push_back(')');
      return;
    }
    case Kind::datetime:
      out.append("datetime('" + v.as_datetime().iso() + "')");
      return;
    case Kind::date:
      out.append("date('" + v.as_date().iso() + "')");
      return;
    case Kind::object:
      out.append(v.as_object()->repr());
      return;
  }
}

}  // namespace

std::string Value::repr() const {
  std::string out;
  append_repr(out, *this, 0);
  return out;
}

std::size_t Object::hash() const noexcept {
  return std::hash<const void*>{}(this);
}

std::string Object::repr() const {
  return "<" + class_name(Dialect::pyro5) + " object>";
}

// ---------------------------------------------------------------------------------------------
// Dict
// ---------------------------------------------------------------------------------------------

namespace {
std::size_t index_capacity_for(std::size_t n) {
  std::size_t cap = 16;
  while (cap < n * 2)
    cap <<= 1;
  return cap;
}
}  // namespace

Dict::Dict(std::initializer_list<Item> items) {
  items_.reserve(items.size());
  for (const auto& [k, v] : items)
    set(k, v);
}

Dict::Dict(const Dict& other) : items_(other.items_), index_(other.index_) {}

Dict& Dict::operator=(const Dict& other) {
  if (this != &other) {
    items_ = other.items_;
    index_ = other.index_;
  }
  return *this;
}

std::size_t Dict::locate(const Value& key, std::size_t hash) const {
  if (index_.empty()) {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (items_[i].first == key) return i;
    }
    return npos;
  }
  const std::size_t mask = index_.size() - 1;
  for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const std::uint32_t entry = index_[slot];
    if (entry == 0) return npos;
    if (items_[entry - 1].first == key) return entry - 1;
  }
}

void Dict::index_insert(std::size_t item, std::size_t hash) {
  const std::size_t mask = index_.size() - 1;
  std::size_t slot = hash & mask;
  while (index_[slot] != 0)
    slot = (slot + 1) & mask;
  index_[slot] = static_cast<std::uint32_t>(item + 1);
}

void Dict::rebuild_index() {
  index_.assign(index_capacity_for(items_.size() + 1), 0);
  for (std::size_t i = 0; i < items_.size(); ++i)
    index_insert(i, items_[i].first.hash());
}

const Value* Dict::find(const Value& key) const {
  if (!key.is_hashable()) key.hash();  // raises TypeError("unhashable type") like Python
  if (items_.empty()) return nullptr;
  const std::size_t h = index_.empty() ? 0 : key.hash();
  const std::size_t i = locate(key, h);
  return i == npos ? nullptr : &items_[i].second;
}

Value* Dict::find(const Value& key) {
  return const_cast<Value*>(static_cast<const Dict*>(this)->find(key));
}

const Value& Dict::at(const Value& key) const {
  const Value* v = find(key);
  if (v == nullptr) throw KeyError(key.repr());
  return *v;
}

Value& Dict::at(const Value& key) {
  Value* v = find(key);
  if (v == nullptr) throw KeyError(key.repr());
  return *v;
}

Value& Dict::operator[](const Value& key) {
  if (Value* v = find(key)) return *v;
  set(key, Value());
  return items_.back().second;
}

void Dict::set(Value key, Value value) {
  if (index_.empty() && items_.size() < scan_limit) {
    // Small dicts are scanned: no hash needed, only the unhashable-key check.
    if (!key.is_hashable()) key.hash();  // throws TypeError("unhashable type: ...")
    for (auto& item : items_) {
      if (item.first == key) {
        item.second = std::move(value);
        return;
      }
    }
    items_.emplace_back(std::move(key), std::move(value));
    return;
  }
  const std::size_t h = key.hash();  // also rejects unhashable keys
  const std::size_t i = locate(key, h);
  if (i != npos) {
    items_[i].second = std::move(value);
    return;
  }
  items_.emplace_back(std::move(key), std::move(value));
  if (!index_.empty()) {
    if (items_.size() * 2 > index_.size()) {
      rebuild_index();
    } else {
      index_insert(items_.size() - 1, h);
    }
  } else if (items_.size() > scan_limit) {
    rebuild_index();
  }
}

bool Dict::insert(Value key, Value value) {
  if (find(key) != nullptr) return false;
  set(std::move(key), std::move(value));
  return true;
}

bool Dict::erase(const Value& key) {
  const std::size_t h = key.hash();
  const std::size_t i = locate(key, h);
  if (i == npos) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
  if (items_.size() > scan_limit) {
    rebuild_index();
  } else {
    index_.clear();
  }
  return true;
}

void Dict::clear() noexcept {
  items_.clear();
  index_.clear();
}

bool operator==(const Dict& a, const Dict& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    const Value* other = b.find(k);
    if (other == nullptr || !(*other == v)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Set
// ---------------------------------------------------------------------------------------------

Set::Set(std::initializer_list<Value> items) {
  items_.reserve(items.size());
  for (const auto& v : items)
    add(v);
}

Set::Set(const Set& other) : items_(other.items_), index_(other.index_) {}

Set& Set::operator=(const Set& other) {
  if (this != &other) {
    items_ = other.items_;
    index_ = other.index_;
  }
  return *this;
}

std::size_t Set::locate(const Value& item, std::size_t hash) const {
  if (index_.empty()) {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (items_[i] == item) return i;
    }
    return npos;
  }
  const std::size_t mask = index_.size() - 1;
  for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const std::uint32_t entry = index_[slot];
    if (entry == 0) return npos;
    if (items_[entry - 1] == item) return entry - 1;
  }
}

void Set::index_insert(std::size_t item, std::size_t hash) {
  const std::size_t mask = index_.size() - 1;
  std::size_t slot = hash & mask;
  while (index_[slot] != 0)
    slot = (slot + 1) & mask;
  index_[slot] = static_cast<std::uint32_t>(item + 1);
}

void Set::rebuild_index() {
  index_.assign(index_capacity_for(items_.size() + 1), 0);
  for (std::size_t i = 0; i < items_.size(); ++i)
    index_insert(i, items_[i].hash());
}

bool Set::contains(const Value& item) const {
  const std::size_t h = item.hash();
  return locate(item, h) != npos;
}

bool Set::add(Value item) {
  if (index_.empty() && items_.size() < scan_limit) {
    if (!item.is_hashable()) item.hash();  // throws TypeError("unhashable type: ...")
    for (const auto& existing : items_) {
      if (existing == item) return false;
    }
    items_.push_back(std::move(item));
    return true;
  }
  const std::size_t h = item.hash();
  if (locate(item, h) != npos) return false;
  items_.push_back(std::move(item));
  if (!index_.empty()) {
    if (items_.size() * 2 > index_.size()) {
      rebuild_index();
    } else {
      index_insert(items_.size() - 1, h);
    }
  } else if (items_.size() > scan_limit) {
    rebuild_index();
  }
  return true;
}

bool Set::erase(const Value& item) {
  const std::size_t h = item.hash();
  const std::size_t i = locate(item, h);
  if (i == npos) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
  if (items_.size() > scan_limit) {
    rebuild_index();
  } else {
    index_.clear();
  }
  return true;
}

void Set::clear() noexcept {
  items_.clear();
  index_.clear();
}

bool operator==(const Set& a, const Set& b) {
  if (a.size() != b.size()) return false;
  for (const auto& item : a) {
    if (!b.contains(item)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// ValueAccess
// ---------------------------------------------------------------------------------------------

namespace detail {

char* ValueAccess::str_uninitialized(Value& out, std::size_t n) {
  out = Value();
  if (n <= Value::short_capacity) {
    out.rep_.tag = Value::Tag::short_str;
    out.rep_.short_size = static_cast<std::uint8_t>(n);
    return out.rep_.chars;
  }
  Blob* b = Blob::allocate(n);
  out.rep_.tag = Value::Tag::long_str;
  out.set_payload(b);
  return b->data();
}

Value ValueAccess::str_trusted(std::string_view utf8) {
  Value v;
  char* dst = str_uninitialized(v, utf8.size());
  if (!utf8.empty()) std::memcpy(dst, utf8.data(), utf8.size());
  return v;
}

char* ValueAccess::bytes_uninitialized(Value& out, std::size_t n) {
  out = Value();
  Blob* b = Blob::allocate(n);
  out.rep_.tag = Value::Tag::bytes;
  out.set_payload(b);
  return b->data();
}

std::vector<std::uint8_t> ValueAccess::int_magnitude(const Value& v, bool& negative) {
  std::vector<std::uint8_t> out;
  if (v.rep_.tag == Value::Tag::big_int) {
    const BigInt& b = v.payload<BigRep*>()->value;
    negative = b < 0;
    boost::multiprecision::export_bits(BigInt(boost::multiprecision::abs(b)),
                                       std::back_inserter(out), 8, false);
    while (out.size() > 1 && out.back() == 0)
      out.pop_back();
    return out;
  }
  const std::int64_t i = v.as_int();
  negative = i < 0;
  std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i);
  do {
    out.push_back(static_cast<std::uint8_t>(mag & 0xFF));
    mag >>= 8;
  } while (mag != 0);
  return out;
}

Value ValueAccess::int_from_magnitude(const std::uint8_t* le, std::size_t n, bool negative) {
  while (n > 0 && le[n - 1] == 0)
    --n;
  if (n <= 8) {
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < n; ++i)
      u |= std::uint64_t{le[i]} << (8 * i);
    if (!negative) {
      Value out;
      out.set_unsigned(u);
      return out;
    }
    if (u <= (std::uint64_t{1} << 63)) {
      return Value(static_cast<std::int64_t>(0 - u));
    }
  }
  BigInt b;
  boost::multiprecision::import_bits(b, le, le + n, 8, false);
  if (negative) b = -b;
  Value out;
  if (fits_int64(b)) {
    out.set_small_int(b.convert_to<std::int64_t>());
  } else {
    out.rep_.tag = Value::Tag::big_int;
    out.set_payload(make<BigRep>(BigRep{std::move(b)}));
  }
  return out;
}

std::string_view ValueAccess::str_unchecked(const Value& v) noexcept {
  if (v.rep_.tag == Value::Tag::short_str) return {v.rep_.chars, v.rep_.short_size};
  return v.payload<Blob*>()->view();
}

const ValueVector& ValueAccess::items_unchecked(const Value& v) noexcept {
  return v.seq_ref();
}

}  // namespace detail

}  // namespace pyro

// ---------------------------------------------------------------------------------------------
// bigint.hpp
// ---------------------------------------------------------------------------------------------

namespace pyro {

void to_value(Value& out, const BigInt& in) {
  std::vector<std::uint8_t> mag;
  boost::multiprecision::export_bits(BigInt(boost::multiprecision::abs(in)),
                                     std::back_inserter(mag), 8, false);
  out = detail::ValueAccess::int_from_magnitude(mag.data(), mag.size(), in < 0);
}

void from_value(const Value& in, BigInt& out) {
  if (!in.is_int() && !in.is_bool())
    throw TypeError("expected int, got " + std::string(in.type_name()));
  bool negative = false;
  const auto mag = detail::ValueAccess::int_magnitude(in, negative);
  BigInt v;
  boost::multiprecision::import_bits(v, mag.begin(), mag.end(), 8, false);
  out = negative ? BigInt(-v) : v;
}

}  // namespace pyro
