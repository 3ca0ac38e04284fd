// value_access.hpp — the codecs' allocation-free paths into pyro::Value: building str and bytes
// in place, trusted (already validated) text, and the magnitude form of big ints.
// Private to the library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "pyro/value.hpp"

namespace pyro::detail {

struct ValueAccess {
  // Makes out a str of n bytes and returns where the caller writes them (valid UTF-8, the
  // caller's promise). Short strings live inside `out` itself: the pointer is valid only while
  // `out` stays where it is, so write the bytes before moving it.
  static char* str_uninitialized(Value& out, std::size_t n);
  // A str from text the caller has already validated as UTF-8.
  static Value str_trusted(std::string_view utf8);
  // Makes out a bytes value of n bytes and returns where the caller writes them.
  static char* bytes_uninitialized(Value& out, std::size_t n);
  // The magnitude of an int as little-endian bytes (no sign byte), and its sign.
  static std::vector<std::uint8_t> int_magnitude(const Value& v, bool& negative);
  static Value int_from_magnitude(const std::uint8_t* little_endian, std::size_t n, bool negative);
  // Fast checks without the kind() mapping.
  static bool is_small_int(const Value& v) noexcept { return v.is_small_int(); }
  static std::int64_t small_int(const Value& v) noexcept { return v.payload<std::int64_t>(); }
  static double float_value(const Value& v) noexcept { return v.payload<double>(); }
  static std::int64_t datetime_micros(const Value& v) noexcept { return v.payload<std::int64_t>(); }
  static std::int32_t date_days(const Value& v) noexcept {
    return static_cast<std::int32_t>(v.payload<std::int64_t>());
  }
  // The text of a str, without the kind check.
  static std::string_view str_unchecked(const Value& v) noexcept;
  static const ValueVector& items_unchecked(const Value& v) noexcept;
  // A tuple, list or dict that has items (an empty one has no heap part), by tag.
  static bool has_items(const Value& v) noexcept {
    return (v.rep_.tag == Value::Tag::tuple || v.rep_.tag == Value::Tag::list ||
            v.rep_.tag == Value::Tag::dict) &&
           v.has_heap_part();
  }
  // Calls f(Value&) on each item of a tuple or list, each value of a dict, to change in place;
  // nothing for other kinds and for empty containers (which are not given a heap part).
  template <class F>
  static void for_each_item(Value& v, F&& f) {
    if (!v.has_heap_part()) return;
    if (v.rep_.tag == Value::Tag::dict) {
      Dict& d = *v.payload<Dict*>();
      for (std::size_t i = 0; i < d.size(); ++i)
        f(d.value_at(i));
    } else if (v.rep_.tag == Value::Tag::tuple || v.rep_.tag == Value::Tag::list) {
      for (Value& item : *v.payload<ValueVector*>())
        f(item);
    }
  }
  // Makes out (None: nothing to release) a short str of the n <= short_str_max bytes at text,
  // which the caller has validated as UTF-8.
  static constexpr std::size_t short_str_max = Value::short_capacity;
  static void set_short_str(Value& out, const char* text, std::size_t n) noexcept {
    out.rep_.tag = Value::Tag::short_str;
    out.rep_.short_size = static_cast<std::uint8_t>(n);
    __builtin_memcpy(out.rep_.chars, text, n);
  }
};

// CPython's default limit on int <-> decimal text conversions (sys.get_int_max_str_digits()).
inline constexpr std::size_t int_max_str_digits = 4300;

}  // namespace pyro::detail
