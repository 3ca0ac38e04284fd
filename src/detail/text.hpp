// text.hpp — Python's text conventions that several codecs share: float repr, str and bytes
// repr, UTF-8 validation, base64. Private to the library (value layer and above).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pyro::detail {

// Decimal integers, written forward into a buffer with room (20 bytes for write_uint, 21 for
// write_int; short numbers are stored as 8 bytes, past their digits); return the end. Two digits
// per step from a table, no leading zeros.
inline constexpr char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
inline constexpr std::uint64_t powers_of_10[] = {1ULL,
                                                 10ULL,
                                                 100ULL,
                                                 1000ULL,
                                                 10000ULL,
                                                 100000ULL,
                                                 1000000ULL,
                                                 10000000ULL,
                                                 100000000ULL,
                                                 1000000000ULL,
                                                 10000000000ULL,
                                                 100000000000ULL,
                                                 1000000000000ULL,
                                                 10000000000000ULL,
                                                 100000000000000ULL,
                                                 1000000000000000ULL,
                                                 10000000000000000ULL,
                                                 100000000000000000ULL,
                                                 1000000000000000000ULL,
                                                 10000000000000000000ULL};
// Number of decimal digits of u (1 for 0).
inline int decimal_length(std::uint64_t u) noexcept {
  u |= 1;  // same length (powers of ten are even), and 0 counts as one digit
  const int t = ((64 - std::countl_zero(u)) * 1233) >> 12;  // floor(log10(2**bits))
  return t + (u >= powers_of_10[t]);
}
// Exactly n digits of u (u < 10**n), zero-padded on the left, ending at end.
inline void write_digits_backward(char* end, std::uint64_t u, int n) noexcept {
  for (; n >= 2 && u > 0xFFFFFFFFu; n -= 2) {
    const std::uint64_t q = u / 100;
    end -= 2;
    std::memcpy(end, digit_pairs + 2 * (u - q * 100), 2);
    u = q;
  }
  auto w = static_cast<std::uint32_t>(u);  // cheaper divisions from here on
  for (; n >= 2; n -= 2) {
    const std::uint32_t q = w / 100;
    end -= 2;
    std::memcpy(end, digit_pairs + 2 * (w - q * 100), 2);
    w = q;
  }
  if (n) *--end = static_cast<char>('0' + w);
}
// The same for 32-bit values: 32-bit multiplications only.
inline int decimal_length32(std::uint32_t u) noexcept {
  u |= 1;
  const int t = ((32 - std::countl_zero(u)) * 1233) >> 12;
  return t + (u >= powers_of_10[t]);
}
inline void write_digits_backward32(char* end, std::uint32_t u, int n) noexcept {
  for (; n >= 2; n -= 2) {
    const std::uint32_t q = u / 100;
    end -= 2;
    std::memcpy(end, digit_pairs + 2 * (u - q * 100), 2);
    u = q;
  }
  if (n) *--end = static_cast<char>('0' + u);
}
// The eight decimal digits of x < 10**8 (leading zeros included) as ASCII bytes, the first digit
// in the lowest byte: two steps of lane-parallel division by multiplication, no loop.
inline std::uint64_t eight_digits(std::uint32_t x) noexcept {
  const std::uint32_t hi = x / 10000;
  std::uint64_t v = hi | std::uint64_t{x - hi * 10000} << 32;     // 2 lanes < 10**4
  std::uint64_t t = ((v * 10486) >> 20) & 0x0000007F0000007FULL;  // lane / 100
  v = t | (v - t * 100) << 16;                                    // 4 lanes < 100
  t = ((v * 103) >> 10) & 0x000F000F000F000FULL;                  // lane / 10
  v = t | (v - t * 10) << 8;                                      // 8 digits
  return v | 0x3030303030303030ULL;
}
// Writes 8 bytes; returns out + n, n = number of digits of x < 10**8.
inline char* write_uint_below_1e8(char* out, std::uint32_t x) noexcept {
  if (x < 100) {
    if (x < 10) {
      *out = static_cast<char>('0' + x);
      return out + 1;
    }
    std::memcpy(out, digit_pairs + 2 * x, 2);
    return out + 2;
  }
  const int n = decimal_length32(x);
  const std::uint64_t digits = eight_digits(x) >> (8 * (8 - n));
  std::memcpy(out, &digits, 8);
  return out + n;
}
[[gnu::always_inline]] inline char* write_uint(char* out, std::uint64_t u) noexcept {
  if (u < 100000000) return write_uint_below_1e8(out, static_cast<std::uint32_t>(u));
  std::uint64_t top = u / 100000000;
  const auto low = static_cast<std::uint32_t>(u - top * 100000000);
  if (top < 100000000) {
    out = write_uint_below_1e8(out, static_cast<std::uint32_t>(top));
  } else {
    const std::uint64_t top2 = top / 100000000;  // < 1845
    out = write_uint_below_1e8(out, static_cast<std::uint32_t>(top2));
    const std::uint64_t mid = eight_digits(static_cast<std::uint32_t>(top - top2 * 100000000));
    std::memcpy(out, &mid, 8);
    out += 8;
  }
  const std::uint64_t last = eight_digits(low);
  std::memcpy(out, &last, 8);
  return out + 8;
}
[[gnu::always_inline]] inline char* write_int(char* out, std::int64_t i) noexcept {
  std::uint64_t u = static_cast<std::uint64_t>(i);
  if (i < 0) {
    *out++ = '-';
    u = 0 - u;
  }
  return write_uint(out, u);
}

// Python's repr() of a finite double: shortest round-trip digits, "123.0", "1e-05", "1e+16".
void append_float_repr(std::string& out, double d);
// The same into a buffer of at least float_repr_max bytes; returns the end.
inline constexpr std::size_t float_repr_max = 32;
char* write_float_repr(char* out, double d);
// Python's repr() of a str given as UTF-8 (lone surrogates as 3-byte sequences allowed):
// quote choice, escapes and non-printable characters exactly as CPython 3.11 writes them.
void append_str_repr(std::string& out, std::string_view utf8);
// The same into a buffer of at least str_repr_bound(utf8.size()) bytes; returns the end.
constexpr std::size_t str_repr_bound(std::size_t n) {
  return 4 * n + 2;
}
inline char* write_str_repr(char* out, std::string_view utf8);
// The general case, without write_str_repr's fast path for short plain text.
char* write_str_repr_general(char* out, std::string_view utf8);
namespace swar {
// Eight bytes at a time (exact "is there any byte such that" tests).
inline constexpr std::uint64_t ones = 0x0101010101010101ULL;
inline constexpr std::uint64_t highs = 0x8080808080808080ULL;
inline std::uint64_t any_zero(std::uint64_t v) noexcept {
  return (v - ones) & ~v & highs;
}
inline std::uint64_t any_byte(std::uint64_t v, unsigned char b) noexcept {
  return any_zero(v ^ (ones * b));
}
inline std::uint64_t any_below(std::uint64_t v, unsigned char n) noexcept {
  return (v - ones * n) & ~v & highs;
}
// Whether any byte needs more than copying between single quotes: a control character, DEL,
// non-ASCII, a backslash or a quote.
inline std::uint64_t needs_care(std::uint64_t v) noexcept {
  return (v & highs) | any_below(v, 0x20) | any_byte(v, 0x7F) | any_byte(v, '\\') |
         any_byte(v, '\'') | any_byte(v, '"');
}
}  // namespace swar

// needs_care over two words at once.
inline bool needs_care2(std::uint64_t lo, std::uint64_t hi) noexcept {
#if defined(__SSE2__)
  const __m128i v = _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo));
  // signed bytes: below 0x20 catches the controls and every non-ASCII byte
  const __m128i m = _mm_or_si128(
      _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))),
      _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')),
                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\''))),
                   _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));
  return _mm_movemask_epi8(m) != 0;
#else
  return (swar::needs_care(lo) | swar::needs_care(hi)) != 0;
#endif
}

inline char* write_str_repr(char* out, std::string_view utf8) {
  const std::size_t n = utf8.size();
  if (n <= 16) {
    // Short text: one or two (overlapping) words cover every byte; plain text is stored back
    // from them, without a scan loop or a memcpy call.
    const char* s = utf8.data();
    if (n >= 8) {
      std::uint64_t lo, hi;
      std::memcpy(&lo, s, 8);
      std::memcpy(&hi, s + n - 8, 8);
      if (!needs_care2(lo, hi)) {
        out[0] = '\'';
        std::memcpy(out + 1, &lo, 8);
        std::memcpy(out + 1 + n - 8, &hi, 8);
        out[n + 1] = '\'';
        return out + n + 2;
      }
    } else if (n >= 4) {
      std::uint32_t lo, hi;
      std::memcpy(&lo, s, 4);
      std::memcpy(&hi, s + n - 4, 4);
      const std::uint64_t v = lo | std::uint64_t{hi} << 32;
      if (!needs_care2(v, v)) {
        out[0] = '\'';
        std::memcpy(out + 1, &lo, 4);
        std::memcpy(out + 1 + n - 4, &hi, 4);
        out[n + 1] = '\'';
        return out + n + 2;
      }
    } else if (n > 0) {
      const auto b0 = static_cast<unsigned char>(s[0]);
      const auto b1 = static_cast<unsigned char>(s[n / 2]);
      const auto b2 = static_cast<unsigned char>(s[n - 1]);
      const std::uint64_t v = 0x6161616161000000ULL | b0 | std::uint64_t{b1} << 8 |
                              std::uint64_t{b2} << 16;  // padded with 'a'
      if (!needs_care2(v, v)) {
        out[0] = '\'';
        out[1] = static_cast<char>(b0);
        out[1 + n / 2] = static_cast<char>(b1);
        out[n] = static_cast<char>(b2);
        out[n + 1] = '\'';
        return out + n + 2;
      }
    } else {
      out[0] = '\'';
      out[1] = '\'';
      return out + 2;
    }
  }
  return write_str_repr_general(out, utf8);
}

// Python's repr() of bytes: b'...' with the same quote rule.
void append_bytes_repr(std::string& out, std::string_view data);

// Whether the code point is printable for Python's str.isprintable() (repr writes it as is).
bool is_printable(char32_t cp) noexcept;

// Validates UTF-8. Surrogate code points (U+D800..U+DFFF as ED A0..BF xx) are accepted only with
// allow_surrogates (CPython's marshal and json can carry lone surrogates). Returns the offset of
// the first invalid byte, or npos when valid.
inline constexpr std::size_t utf8_valid = static_cast<std::size_t>(-1);
std::size_t find_invalid_utf8(std::string_view text, bool allow_surrogates) noexcept;
// Number of code points in valid UTF-8.
std::size_t count_code_points(std::string_view utf8) noexcept;
// Decodes one code point at pos (input known valid), advancing pos.
char32_t next_code_point(std::string_view utf8, std::size_t& pos) noexcept;
void append_utf8(std::string& out, char32_t cp);

// Standard base64 with padding.
void append_base64(std::string& out, std::string_view data);
// Decodes standard base64 (padding optional, whitespace rejected); nullopt when malformed.
std::optional<std::string> decode_base64(std::string_view text);
// The same in two steps, for a destination of one's own: the decoded size (nullopt when the
// length is impossible), then the decoding into `out` (false when a character is invalid).
std::optional<std::size_t> base64_decoded_size(std::string_view text);
bool decode_base64_into(std::string_view text, char* out);

}  // namespace pyro::detail
