// text.hpp — Python's text conventions that several codecs share: float repr, str and bytes
// repr, UTF-8 validation, base64. Private to the library (value layer and above).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pyro::detail {

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
char* write_str_repr(char* out, std::string_view utf8);
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

}  // namespace pyro::detail
