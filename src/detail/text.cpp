// text.cpp — Python's float/str/bytes repr, UTF-8 validation and base64.
#include "detail/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <iterator>

namespace pyro::detail {

// ---------------------------------------------------------------------------------------------
// float repr
// ---------------------------------------------------------------------------------------------

void append_float_repr(std::string& out, double d) {
  // Shortest round-trip digits in scientific form: "-1.2345e+17", "5e-324".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  bool negative = false;
  if (!sci.empty() && sci.front() == '-') {
    negative = true;
    sci.remove_prefix(1);
  }
  const auto epos = sci.find('e');
  std::string_view mantissa = sci.substr(0, epos);
  int exp10 = 0;
  std::from_chars(sci.data() + epos + 1 + (sci[epos + 1] == '+'), sci.data() + sci.size(), exp10);
  char digits[32];
  std::size_t ndigits = 0;
  for (char c : mantissa) {
    if (c != '.') digits[ndigits++] = c;
  }
  if (negative) out.push_back('-');
  // CPython's repr (float_repr_style 'short'): exponent form when exp10 < -4 or exp10 >= 16.
  if (exp10 < -4 || exp10 >= 16) {
    out.push_back(digits[0]);
    if (ndigits > 1) {
      out.push_back('.');
      out.append(digits + 1, ndigits - 1);
    }
    out.push_back('e');
    out.push_back(exp10 < 0 ? '-' : '+');
    const int a = exp10 < 0 ? -exp10 : exp10;
    if (a < 10) out.push_back('0');
    char ebuf[8];
    auto er = std::to_chars(ebuf, ebuf + sizeof ebuf, a);
    out.append(ebuf, er.ptr);
    return;
  }
  if (exp10 < 0) {
    out.append("0.");
    out.append(static_cast<std::size_t>(-exp10 - 1), '0');
    out.append(digits, ndigits);
    return;
  }
  const std::size_t int_digits = static_cast<std::size_t>(exp10) + 1;
  if (ndigits <= int_digits) {
    out.append(digits, ndigits);
    out.append(int_digits - ndigits, '0');
    out.append(".0");
  } else {
    out.append(digits, int_digits);
    out.push_back('.');
    out.append(digits + int_digits, ndigits - int_digits);
  }
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

void append_str_repr(std::string& out, std::string_view utf8) {
  // Fast path: printable ASCII without backslashes and without both kinds of quote is written
  // as it is between quotes.
  bool has_single = false, has_double = false, plain = true;
  for (char ch : utf8) {
    const unsigned char c = static_cast<unsigned char>(ch);
    has_single |= c == '\'';
    has_double |= c == '"';
    plain &= c >= 0x20 && c < 0x7F && c != '\\';
  }
  if (plain && !(has_single && has_double)) {
    const char q = has_single ? '"' : '\'';
    out.reserve(out.size() + utf8.size() + 2);
    out.push_back(q);
    out.append(utf8);
    out.push_back(q);
    return;
  }
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    // Copy runs of plain printable ASCII in one go.
    std::size_t run = pos;
    while (run < utf8.size()) {
      const unsigned char c = static_cast<unsigned char>(utf8[run]);
      if (c < 0x20 || c >= 0x7F || c == '\\' || c == static_cast<unsigned char>(quote)) break;
      ++run;
    }
    out.append(utf8.data() + pos, run - pos);
    pos = run;
    if (pos >= utf8.size()) break;
    const std::size_t start = pos;
    const char32_t cp = next_code_point(utf8, pos);
    switch (cp) {
      case '\\':
        out.append("\\\\");
        continue;
      case '\t':
        out.append("\\t");
        continue;
      case '\n':
        out.append("\\n");
        continue;
      case '\r':
        out.append("\\r");
        continue;
      default:
        break;
    }
    if (cp == static_cast<char32_t>(quote)) {
      out.push_back('\\');
      out.push_back(quote);
    } else if (cp < 0x20 || cp == 0x7F) {
      append_hex_escape(out, 'x', cp, 2);
    } else if (cp < 0x80 || is_printable(cp)) {
      out.append(utf8.data() + start, pos - start);
    } else if (cp <= 0xFF) {
      append_hex_escape(out, 'x', cp, 2);
    } else if (cp <= 0xFFFF) {
      append_hex_escape(out, 'u', cp, 4);
    } else {
      append_hex_escape(out, 'U', cp, 8);
    }
  }
  out.push_back(quote);
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

std::optional<std::string> decode_base64(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    const int v = b64_table[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace pyro::detail
