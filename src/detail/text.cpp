// text.cpp — Python's float/str/bytes repr, UTF-8 validation and base64.
#include "detail/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

namespace pyro::detail {

// ---------------------------------------------------------------------------------------------
// float repr
// ---------------------------------------------------------------------------------------------

namespace {

// The double x (|x| < 2**53) rounded to the nearest integer, ties to even: one cvtsd2si on x86-64
// (default rounding mode), no libm call.
inline std::int64_t round_to_int(double x) noexcept {
#if defined(__x86_64__) || defined(_M_X64)
  return _mm_cvtsd_si64(_mm_set_sd(x));
#else
  return static_cast<std::int64_t>(std::nearbyint(x));
#endif
}

char* write_shortest(char* out, double a);

// u / 10**k for k in 1..4, each a constant divisor (a multiplication).
template <class U>
inline U divide_by_pow10(U u, int k) noexcept {
  switch (k) {
    case 1:
      return u / 10;
    case 2:
      return u / 100;
    case 3:
      return u / 1000;
    default:
      return u / 10000;
  }
}

// u / 10**k with k (1..4) decimals, u < 2**32.
inline char* write_fixed32(char* out, std::uint32_t u, int k) noexcept {
  const std::uint32_t whole = divide_by_pow10(u, k);
  const auto frac = static_cast<std::uint32_t>(u - whole * powers_of_10[k]);
  out = write_uint(out, whole);
  *out++ = '.';
  if (k == 1) {
    *out = static_cast<char>('0' + frac);
  } else if (k == 2) {
    std::memcpy(out, digit_pairs + 2 * frac, 2);
  } else {
    const std::uint64_t digits = eight_digits(frac) >> (8 * (8 - k));  // k digits, zero-padded
    std::memcpy(out, &digits, 8);
  }
  return out + k;
}

}  // namespace

char* write_float_repr(char* out, double d) {
  // Shortest round-trip digits from {fmt}'s Dragonbox (fmt::detail::dragonbox::to_decimal, the
  // engine behind fmt's "{}"; Debian 12 pins fmt 9), laid out as Python's repr(): exponent form
  // when the decimal exponent is < -4 or >= 16 with at least two exponent digits, ".0" on
  // integral values.
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  if (bits >> 63) *out++ = '-';
  bits &= ~(std::uint64_t{1} << 63);
  if (bits == 0) {
    std::memcpy(out, "0.0", 3);
    return out + 3;
  }
  // Fast path for values with at most four decimals (prices, halves, counts): when v / 10**k
  // is d for the smallest such k, v's digits are the shortest round-trip digits (any other
  // decimal that rounds to d lies within 10**k ulps/2 of v, so it is v), and Python writes them in
  // fixed notation since 1e-4 <= |d| < 2**53.
  double a;
  std::memcpy(&a, &bits, sizeof a);
  constexpr double two53 = 9007199254740992.0;
  if (a < two53 && a >= 1e-4) {
    const std::int64_t v0 = round_to_int(a);
    if (static_cast<double>(v0) == a) {  // integral: "123.0"
      out = write_uint(out, static_cast<std::uint64_t>(v0));
      std::memcpy(out, ".0", 2);
      return out + 2;
    }
    static constexpr double scale[] = {1.0, 10.0, 100.0, 1000.0, 10000.0};
    for (int k = 1; k < 5; ++k) {
      const double x = a * scale[k];
      if (!(x < two53)) break;
      const std::int64_t v = round_to_int(x);
      if (static_cast<double>(v) / scale[k] != a) continue;
      const auto u = static_cast<std::uint64_t>(v);
      if (u <= 0xFFFFFFFFu) return write_fixed32(out, static_cast<std::uint32_t>(u), k);
      const std::uint64_t whole = divide_by_pow10(u, k);
      out = write_uint(out, whole);
      *out++ = '.';
      write_digits_backward(out + k, u - whole * powers_of_10[k], k);
      return out + k;
    }
  }
  return write_shortest(out, a);
}

namespace {

// The general case of write_float_repr for a positive finite a: Dragonbox's digits.
[[gnu::noinline]] char* write_shortest(char* out, double a) {
  const auto dec = fmt::detail::dragonbox::to_decimal(a);
  const std::uint64_t sig = dec.significand;
  const int n = decimal_length(sig);
  const int e10 = dec.exponent + n - 1;  // decimal exponent of the first digit
  if (e10 < -4 || e10 >= 16) {
    // d.ddd: the digits one place to the right, then the first one moved in front of the point
    write_digits_backward(out + 1 + n, sig, n);
    out[0] = out[1];
    if (n > 1) {
      out[1] = '.';
      out += n + 1;
    } else {
      out += 1;
    }
    *out++ = 'e';
    *out++ = e10 < 0 ? '-' : '+';
    const unsigned x = static_cast<unsigned>(e10 < 0 ? -e10 : e10);
    if (x < 100) {
      std::memcpy(out, digit_pairs + 2 * x, 2);
      return out + 2;
    }
    out[0] = static_cast<char>('0' + x / 100);
    std::memcpy(out + 1, digit_pairs + 2 * (x % 100), 2);
    return out + 3;
  }
  if (e10 < 0) {  // 0.000ddd
    *out++ = '0';
    *out++ = '.';
    for (int i = 0; i < -e10 - 1; ++i)
      *out++ = '0';
    write_digits_backward(out + n, sig, n);
    return out + n;
  }
  if (dec.exponent >= 0) {  // ddd000.0
    write_digits_backward(out + n, sig, n);
    out += n;
    for (int i = 0; i < dec.exponent; ++i)
      *out++ = '0';
    *out++ = '.';
    *out++ = '0';
    return out;
  }
  // ddd.ddd: the digits one place to the right, then the whole part moved in front of the point
  const int whole = e10 + 1;
  write_digits_backward(out + 1 + n, sig, n);
  for (int i = 0; i < whole; ++i)
    out[i] = out[i + 1];
  out[whole] = '.';
  return out + n + 1;
}

}  // namespace

void append_float_repr(std::string& out, double d) {
  char buf[float_repr_max];
  out.append(buf, write_float_repr(buf, d));
}

// ---------------------------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------------------------

std::size_t find_invalid_utf8(std::string_view text, bool allow_surrogates) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Fast path: 8 ASCII bytes at a time.
    if (i + 8 <= n) {
      std::uint64_t chunk;
      std::memcpy(&chunk, s + i, 8);
      if ((chunk & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return i;
      i += 2;
      continue;
    }
    if (c >= 0xE0 && c <= 0xEF) {
      if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return i;
      if (c == 0xE0 && s[i + 1] < 0xA0) return i;  // overlong
      if (c == 0xED && s[i + 1] >= 0xA0 && !allow_surrogates) return i;
      i += 3;
      continue;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
          (s[i + 3] & 0xC0) != 0x80) {
        return i;
      }
      if (c == 0xF0 && s[i + 1] < 0x90) return i;   // overlong
      if (c == 0xF4 && s[i + 1] >= 0x90) return i;  // beyond U+10FFFF
      i += 4;
      continue;
    }
    return i;
  }
  return utf8_valid;
}

std::size_t count_code_points(std::string_view utf8) noexcept {
  std::size_t count = 0;
  for (char c : utf8)
    count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

char32_t next_code_point(std::string_view utf8, std::size_t& pos) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(utf8.data());
  const unsigned char c = s[pos];
  if (c < 0x80) {
    ++pos;
    return c;
  }
  if (c < 0xE0) {
    const char32_t cp = (char32_t{c} & 0x1F) << 6 | (s[pos + 1] & 0x3F);
    pos += 2;
    return cp;
  }
  if (c < 0xF0) {
    const char32_t cp =
        (char32_t{c} & 0x0F) << 12 | (char32_t{s[pos + 1]} & 0x3F) << 6 | (s[pos + 2] & 0x3F);
    pos += 3;
    return cp;
  }
  const char32_t cp = (char32_t{c} & 0x07) << 18 | (char32_t{s[pos + 1]} & 0x3F) << 12 |
                      (char32_t{s[pos + 2]} & 0x3F) << 6 | (s[pos + 3] & 0x3F);
  pos += 4;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// ---------------------------------------------------------------------------------------------
// str / bytes repr
// ---------------------------------------------------------------------------------------------

namespace {
struct Range {
  char32_t first, last;
};
constexpr Range nonprintable[] = {
#include "detail/unicode_nonprintable.inc"
};

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex_escape(std::string& out, char kind, char32_t cp, int width) {
  out.push_back('\\');
  out.push_back(kind);
  for (int shift = (width - 1) * 4; shift >= 0; shift -= 4)
    out.push_back(hex_digits[(cp >> shift) & 0xF]);
}

char choose_quote(std::string_view text) {
  // repr uses single quotes unless the text has a ' and no ".
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  return has_single && !has_double ? '"' : '\'';
}
}  // namespace

bool is_printable(char32_t cp) noexcept {
  if (cp < 0x80) return cp >= 0x20 && cp != 0x7F;
  const auto* it = std::upper_bound(std::begin(nonprintable), std::end(nonprintable), cp,
                                    [](char32_t v, const Range& r) { return v < r.first; });
  if (it == std::begin(nonprintable)) return true;
  --it;
  return cp > it->last;
}

namespace {

// Eight bytes at a time: does any byte need more than copying (control, DEL, non-ASCII,
// backslash)? Are there single or double quotes?
constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t highs = 0x8080808080808080ULL;
inline std::uint64_t any_zero(std::uint64_t v) {
  return (v - ones) & ~v & highs;
}
inline std::uint64_t any_byte(std::uint64_t v, unsigned char b) {
  return any_zero(v ^ (ones * b));
}
inline std::uint64_t any_below(std::uint64_t v, unsigned char n) {
  return (v - ones * n) & ~v & highs;
}

struct Scan {
  bool plain = true;  // printable ASCII without backslashes
  bool single = false;
  bool dbl = false;
};

Scan scan_text(std::string_view text) {
  Scan r;
  const char* p = text.data();
  const char* end = p + text.size();
  for (; end - p >= 8; p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    if ((v & highs) || any_below(v, 0x20) || any_byte(v, 0x7F) || any_byte(v, '\\'))
      r.plain = false;
    if (any_byte(v, '\'')) r.single = true;
    if (any_byte(v, '"')) r.dbl = true;
  }
  for (; p < end; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    r.single |= c == '\'';
    r.dbl |= c == '"';
    r.plain &= c >= 0x20 && c < 0x7F && c != '\\';
  }
  return r;
}

char* put_hex_escape(char* out, char kind, char32_t cp, int width) {
  *out++ = '\\';
  *out++ = kind;
  for (int shift = (width - 1) * 4; shift >= 0; shift -= 4)
    *out++ = hex_digits[(cp >> shift) & 0xF];
  return out;
}

}  // namespace

char* write_str_repr_general(char* out, std::string_view utf8) {
  const Scan scan = scan_text(utf8);
  // repr uses single quotes unless the text has a ' and no ".
  const char quote = scan.single && !scan.dbl ? '"' : '\'';
  *out++ = quote;
  if (scan.plain && !(scan.single && scan.dbl)) {
    std::memcpy(out, utf8.data(), utf8.size());
    out += utf8.size();
    *out++ = quote;
    return out;
  }
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    // Copy runs of plain printable ASCII in one go.
    std::size_t run = pos;
    while (run < utf8.size()) {
      const unsigned char c = static_cast<unsigned char>(utf8[run]);
      if (c < 0x20 || c >= 0x7F || c == '\\' || c == static_cast<unsigned char>(quote)) break;
      ++run;
    }
    std::memcpy(out, utf8.data() + pos, run - pos);
    out += run - pos;
    pos = run;
    if (pos >= utf8.size()) break;
    const std::size_t start = pos;
    const char32_t cp = next_code_point(utf8, pos);
    char short_escape = 0;
    switch (cp) {
      case '\\':
        short_escape = '\\';
        break;
      case '\t':
        short_escape = 't';
        break;
      case '\n':
        short_escape = 'n';
        break;
      case '\r':
        short_escape = 'r';
        break;
      default:
        break;
    }
    if (short_escape != 0) {
      *out++ = '\\';
      *out++ = short_escape;
    } else if (cp == static_cast<char32_t>(quote)) {
      *out++ = '\\';
      *out++ = quote;
    } else if (cp < 0x20 || cp == 0x7F) {
      out = put_hex_escape(out, 'x', cp, 2);
    } else if (cp < 0x80 || is_printable(cp)) {
      std::memcpy(out, utf8.data() + start, pos - start);
      out += pos - start;
    } else if (cp <= 0xFF) {
      out = put_hex_escape(out, 'x', cp, 2);
    } else if (cp <= 0xFFFF) {
      out = put_hex_escape(out, 'u', cp, 4);
    } else {
      out = put_hex_escape(out, 'U', cp, 8);
    }
  }
  *out++ = quote;
  return out;
}

void append_str_repr(std::string& out, std::string_view utf8) {
  const std::size_t start = out.size();
  out.resize(start + str_repr_bound(utf8.size()));
  char* end = write_str_repr(out.data() + start, utf8);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

void append_bytes_repr(std::string& out, std::string_view data) {
  const char quote = choose_quote(data);
  out.push_back('b');
  out.push_back(quote);
  for (char ch : data) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == static_cast<unsigned char>(quote)) {
      out.push_back('\\');
      out.push_back(quote);
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c < 0x20 || c >= 0x7F) {
      append_hex_escape(out, 'x', c, 2);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back(quote);
}

// ---------------------------------------------------------------------------------------------
// base64
// ---------------------------------------------------------------------------------------------

namespace {
constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_b64_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t)
    v = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto b64_table = make_b64_table();

// Two base64 characters per 12 input bits.
constexpr std::array<std::array<char, 2>, 4096> make_b64_pairs() {
  std::array<std::array<char, 2>, 4096> t{};
  for (int i = 0; i < 4096; ++i) {
    t[i][0] = b64_alphabet[i >> 6];
    t[i][1] = b64_alphabet[i & 63];
  }
  return t;
}
constexpr auto b64_pairs = make_b64_pairs();
}  // namespace

void append_base64(std::string& out, std::string_view data) {
  const auto* s = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  const std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* o = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = std::uint32_t{s[i]} << 16 | std::uint32_t{s[i + 1]} << 8 | s[i + 2];
    std::memcpy(o, b64_pairs[v >> 12].data(), 2);
    std::memcpy(o + 2, b64_pairs[v & 0xFFF].data(), 2);
    o += 4;
  }
  if (i < n) {
    std::uint32_t v = std::uint32_t{s[i]} << 16;
    if (i + 1 < n) v |= std::uint32_t{s[i + 1]} << 8;
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
}

// The text without its '=' padding; nullopt when no base64 text has that length.
static std::optional<std::string_view> unpadded_base64(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  return text;
}

std::optional<std::size_t> base64_decoded_size(std::string_view padded) {
  const std::optional<std::string_view> unpadded = unpadded_base64(padded);
  if (!unpadded) return std::nullopt;
  const std::string_view text = *unpadded;
  return text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
}

bool decode_base64_into(std::string_view padded, char* out) {
  const std::optional<std::string_view> unpadded = unpadded_base64(padded);
  if (!unpadded) return false;
  const std::string_view text = *unpadded;
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t full = text.size() / 4 * 4;
  // four characters, three bytes at a time; an invalid character makes the OR negative
  for (std::size_t i = 0; i < full; i += 4, out += 3) {
    const int a = b64_table[in[i]];
    const int b = b64_table[in[i + 1]];
    const int c = b64_table[in[i + 2]];
    const int d = b64_table[in[i + 3]];
    if ((a | b | c | d) < 0) return false;
    const auto v = static_cast<std::uint32_t>(a << 18 | b << 12 | c << 6 | d);
    out[0] = static_cast<char>(v >> 16);
    out[1] = static_cast<char>(v >> 8);
    out[2] = static_cast<char>(v);
  }
  const std::size_t rest = text.size() - full;
  if (rest >= 2) {
    const int a = b64_table[in[full]];
    const int b = b64_table[in[full + 1]];
    const int c = rest == 3 ? b64_table[in[full + 2]] : 0;
    if ((a | b | c) < 0) return false;
    const auto v = static_cast<std::uint32_t>(a << 12 | b << 6 | c);  // 18 bits
    out[0] = static_cast<char>(v >> 10);
    if (rest == 3) out[1] = static_cast<char>(v >> 2);
  }
  return true;
}

std::optional<std::string> decode_base64(std::string_view text) {
  const std::optional<std::size_t> n = base64_decoded_size(text);
  if (!n) return std::nullopt;
  std::string out(*n, '\0');
  if (!decode_base64_into(text, out.data())) return std::nullopt;
  return out;
}

}  // namespace pyro::detail
