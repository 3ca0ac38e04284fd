// convert.hpp — conversions between pyro::Value and C++ types, through one customization point.
// Relies on value.hpp (which includes this file at its end). Adds pyro::Converter<T>, the
// ValueConvertible / ValueExtractable concepts, built-in conversions for the standard library
// types, and PYRO_FIELDS to make a struct travel as a Pyro class dict in one line.
//
// A user type gets conversions by two free functions in its own namespace, found by ADL:
//   void to_value(pyro::Value& out, const Reading& r);
//   void from_value(const pyro::Value& in, Reading& r);
// or by specializing pyro::Converter<Reading> for a type you cannot touch.
#pragma once

#include <array>
#include <chrono>
#include <complex>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "pyro/value.hpp"

namespace pyro {

namespace detail::adl {
// Looked up from here, an unqualified to_value/from_value finds the overloads in namespace pyro
// (Value& is an argument) and in the namespace of the user's type, never this poison pill.
void to_value() = delete;
void from_value() = delete;

template <class T>
concept AdlToValue = requires(Value& out, const T& in) {
  to_value(out, in);
};
template <class T>
concept AdlFromValue = requires(const Value& in, T& out) {
  from_value(in, out);
};

template <class T>
void adl_to_value(Value& out, const T& in) {
  to_value(out, in);
}
template <class T>
void adl_from_value(const Value& in, T& out) {
  from_value(in, out);
}
}  // namespace detail::adl

// The one place the library converts through. The primary template forwards to the ADL pair;
// specialize it for types you do not own.
template <class T>
struct Converter {
  static void to_value(Value& out, const T& in) requires detail::adl::AdlToValue<T> {
    detail::adl::adl_to_value(out, in);
  }
  static void from_value(const Value& in, T& out) requires detail::adl::AdlFromValue<T> {
    detail::adl::adl_from_value(in, out);
  }
};

template <class T>
concept ValueConvertible = requires(Value& out, const std::remove_cvref_t<T>& in) {
  Converter<std::remove_cvref_t<T>>::to_value(out, in);
};
template <class T>
concept ValueExtractable = std::is_default_constructible_v<T> && requires(const Value& in, T& out) {
  Converter<T>::from_value(in, out);
};

// Converts any convertible C++ value to a Value.
template <class T>
Value to_value(const T& in) {
  static_assert(ValueConvertible<T>,
                "this type is not convertible to pyro::Value: give it a to_value(pyro::Value&, "
                "const T&) in its namespace, PYRO_FIELDS, or a pyro::Converter specialization");
  if constexpr (std::is_same_v<T, Value>) {
    return in;
  } else {
    Value out;
    Converter<T>::to_value(out, in);
    return out;
  }
}

// Converts a Value to a C++ value; throws TypeError/ValueError/OverflowError naming the expected
// and the actual type.
template <class T>
T from_value(const Value& in) {
  static_assert(ValueExtractable<T>,
                "this type cannot be extracted from pyro::Value: give it a from_value(const "
                "pyro::Value&, T&) in its namespace, PYRO_FIELDS, or a pyro::Converter "
                "specialization (and a default constructor)");
  T out{};
  Converter<T>::from_value(in, out);
  return out;
}

template <class T>
T Value::get() const {
  if constexpr (std::is_same_v<T, Value>) {
    return *this;
  } else {
    return from_value<T>(*this);
  }
}

namespace detail {
template <class T>
constexpr std::string_view int_type_name() {
  if constexpr (std::is_signed_v<T>) {
    return sizeof(T) == 1 ? "int8" : sizeof(T) == 2 ? "int16" : sizeof(T) == 4 ? "int32" : "int64";
  } else {
    return sizeof(T) == 1   ? "uint8"
           : sizeof(T) == 2 ? "uint16"
           : sizeof(T) == 4 ? "uint32"
                            : "uint64";
  }
}
[[noreturn]] void throw_type_error(std::string_view expected, const Value& actual);
[[noreturn]] void throw_int_overflow(std::string_view target, const Value& actual);
// Tuple/list items, or (for targets that accept them) set elements; TypeError otherwise.
std::span<const Value> sequence_items(const Value& in, std::string_view expected, bool accept_sets);
// The bytes of a bytes value, or of serpent's {'data': <base64>, 'encoding': 'base64'} dict.
std::vector<std::byte> bytes_of(const Value& in);
std::string bytes_text_of(const Value& in);
// The same as a bytes value (a bytes value itself, or the dict's bytes decoded straight into one).
Value bytes_value_of(const Value& in);
// Field of a PYRO_FIELDS class dict; ValueError naming the class when absent.
const Value& field_of(const Value& dict, std::string_view type, std::string_view field);
// Checks the size of a tuple/list converted to a fixed-size C++ type.
void check_arity(std::span<const Value> items, std::size_t expected, std::string_view target);
std::int64_t time_point_micros(const Value& in);  // DateTime, ISO str (with offset), or number
}  // namespace detail

// ---- None, Value, bool ------------------------------------------------------------------------

inline void to_value(Value& out, const Value& in) {
  out = in;
}
inline void from_value(const Value& in, Value& out) {
  out = in;
}
inline void to_value(Value& out, std::nullptr_t) {
  out = Value();
}
inline void to_value(Value& out, std::monostate) {
  out = Value();
}
inline void from_value(const Value& in, std::monostate&) {
  if (!in.is_none()) detail::throw_type_error("NoneType", in);
}
template <std::same_as<bool> B>
void to_value(Value& out, B in) {
  out = Value(in);
}
inline void from_value(const Value& in, bool& out) {
  if (!in.is_bool()) detail::throw_type_error("bool", in);
  out = in.as_bool();
}

// ---- integers ---------------------------------------------------------------------------------

template <class T>
concept PlainInteger =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
    !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t> &&
    !std::is_same_v<T, wchar_t>;

template <PlainInteger T>
void to_value(Value& out, T in) {
  out = Value(in);
}

template <PlainInteger T>
void from_value(const Value& in, T& out) {
  if (!in.is_int() && !in.is_bool()) detail::throw_type_error("int", in);
  if (in.is_small_int() || in.is_bool()) {
    const std::int64_t v = in.as_int();
    if constexpr (std::is_signed_v<T>) {
      if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          v > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
        detail::throw_int_overflow(detail::int_type_name<T>(), in);
      }
    } else {
      if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max()) {
        detail::throw_int_overflow(detail::int_type_name<T>(), in);
      }
    }
    out = static_cast<T>(v);
    return;
  }
  // A big int (outside int64) fits only an unsigned 64-bit target, and only below 2**64.
  if constexpr (std::is_unsigned_v<T> && sizeof(T) == 8) {
    const auto bytes = in.int_bytes();         // little endian two's complement, minimal length
    if (bytes.size() == 9 && bytes[8] == 0) {  // 2**63 <= v < 2**64
      std::uint64_t v = 0;
      for (std::size_t i = 0; i < 8; ++i)
        v |= std::uint64_t{bytes[i]} << (8 * i);
      out = static_cast<T>(v);
      return;
    }
  }
  detail::throw_int_overflow(detail::int_type_name<T>(), in);
}

// ---- floating point, complex ------------------------------------------------------------------

template <class T>
requires std::is_floating_point_v<T>
void to_value(Value& out, T in) {
  out = Value(static_cast<double>(in));
}
template <class T>
requires std::is_floating_point_v<T>
void from_value(const Value& in, T& out) {
  if (!in.is_float() && !in.is_int() && !in.is_bool()) detail::throw_type_error("float", in);
  out = static_cast<T>(in.as_float());
}
template <class T>
void to_value(Value& out, const std::complex<T>& in) {
  out = Value(std::complex<double>(in.real(), in.imag()));
}
template <class T>
void from_value(const Value& in, std::complex<T>& out) {
  if (!in.is_number()) detail::throw_type_error("complex", in);
  const auto c = in.as_complex();
  out = std::complex<T>(static_cast<T>(c.real()), static_cast<T>(c.imag()));
}

// ---- text and bytes ---------------------------------------------------------------------------

inline void to_value(Value& out, std::string_view in) {
  out = Value(in);
}
inline void to_value(Value& out, const std::string& in) {
  out = Value(in);
}
inline void to_value(Value& out, const char* in) {
  out = Value(in);
}
inline void from_value(const Value& in, std::string& out) {
  if (!in.is_str()) detail::throw_type_error("str", in);
  out.assign(in.as_str());
}

inline void to_value(Value& out, const std::vector<std::byte>& in) {
  out = Value::bytes(in);
}
inline void from_value(const Value& in, std::vector<std::byte>& out) {
  out = detail::bytes_of(in);
}
template <std::size_t N>
void to_value(Value& out, const std::array<std::byte, N>& in) {
  out = Value::bytes(std::span<const std::byte>(in));
}
template <std::size_t N>
void from_value(const Value& in, std::array<std::byte, N>& out) {
  const auto data = detail::bytes_of(in);
  if (data.size() != N) {
    throw ValueError("expected bytes of length " + std::to_string(N) + ", got length " +
                     std::to_string(data.size()));
  }
  std::copy(data.begin(), data.end(), out.begin());
}

// ---- DateTime, Date, chrono -------------------------------------------------------------------

inline void to_value(Value& out, DateTime in) {
  out = Value(in);
}
void from_value(const Value& in, DateTime& out);  // DateTime or ISO str
inline void to_value(Value& out, Date in) {
  out = Value(in);
}
void from_value(const Value& in, Date& out);  // Date or ISO str

// A time point travels as a naive UTC datetime (Python's datetime.utcfromtimestamp()).
template <class Duration>
void to_value(Value& out, const std::chrono::time_point<std::chrono::system_clock, Duration>& in) {
  out =
      Value(DateTime{std::chrono::floor<std::chrono::microseconds>(in.time_since_epoch()).count()});
}
// Accepts a naive datetime (taken as UTC), an ISO string (a "+hh:mm" offset is applied), or a
// number of seconds since the epoch.
template <class Duration>
void from_value(const Value& in,
                std::chrono::time_point<std::chrono::system_clock, Duration>& out) {
  using namespace std::chrono;
  out = time_point<system_clock, Duration>(
      duration_cast<Duration>(microseconds(detail::time_point_micros(in))));
}
inline void to_value(Value& out, const std::chrono::year_month_day& in) {
  out =
      Value(Date{static_cast<std::int32_t>(std::chrono::sys_days(in).time_since_epoch().count())});
}
inline void from_value(const Value& in, std::chrono::year_month_day& out) {
  Date d;
  from_value(in, d);
  out = std::chrono::year_month_day(std::chrono::sys_days(std::chrono::days(d.days)));
}
// A duration travels as float seconds (as serpent sends a timedelta).
template <class Rep, class Period>
void to_value(Value& out, const std::chrono::duration<Rep, Period>& in) {
  out = Value(std::chrono::duration<double>(in).count());
}
template <class Rep, class Period>
void from_value(const Value& in, std::chrono::duration<Rep, Period>& out) {
  if (!in.is_float() && !in.is_int()) detail::throw_type_error("float (seconds)", in);
  out = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(
      std::chrono::duration<double>(in.as_float()));
}

// ---- optional, variant ------------------------------------------------------------------------

template <class T>
void to_value(Value& out, const std::optional<T>& in) {
  if (in) {
    Converter<T>::to_value(out, *in);
  } else {
    out = Value();
  }
}
template <class T>
void from_value(const Value& in, std::optional<T>& out) {
  if (in.is_none()) {
    out.reset();
  } else {
    T v{};
    Converter<T>::from_value(in, v);
    out = std::move(v);
  }
}

template <class... Ts>
void to_value(Value& out, const std::variant<Ts...>& in) {
  std::visit(
      [&out](const auto& alt) { Converter<std::decay_t<decltype(alt)>>::to_value(out, alt); }, in);
}
namespace detail {
[[noreturn]] void throw_no_variant_alternative(const Value& in, std::string_view errors);
template <class V, std::size_t I>
bool try_variant_alternative(const Value& in, V& out, std::string& errors) {
  using Alt = std::variant_alternative_t<I, V>;
  try {
    Alt alt{};
    Converter<Alt>::from_value(in, alt);
    out.template emplace<I>(std::move(alt));
    return true;
  } catch (const std::exception& e) {
    if (!errors.empty()) errors += "; ";
    errors += e.what();
    return false;
  }
}
}  // namespace detail
// The first alternative (in declaration order) that accepts the value wins.
template <class... Ts>
void from_value(const Value& in, std::variant<Ts...>& out) {
  std::string errors;
  const bool ok = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (detail::try_variant_alternative<std::variant<Ts...>, I>(in, out, errors) || ...);
  }
  (std::index_sequence_for<Ts...>{});
  if (!ok) detail::throw_no_variant_alternative(in, errors);
}

// ---- sequences (list), fixed arrays and tuples (tuple) ----------------------------------------

template <class T, class A>
requires(!std::is_same_v<T, std::byte>) void to_value(Value& out, const std::vector<T, A>& in) {
  std::vector<Value> items;
  items.reserve(in.size());
  for (const auto& item : in) {
    Value v;
    Converter<T>::to_value(v, item);
    items.push_back(std::move(v));
  }
  out = Value::list(std::move(items));
}
template <class T, class A>
requires(!std::is_same_v<T, std::byte>) void from_value(const Value& in, std::vector<T, A>& out) {
  const auto items = detail::sequence_items(in, "list", true);
  out.clear();
  out.reserve(items.size());
  for (const auto& item : items) {
    T v{};
    Converter<T>::from_value(item, v);
    out.push_back(std::move(v));
  }
}

template <class T, std::size_t N>
requires(!std::is_same_v<T, std::byte>) void to_value(Value& out, const std::array<T, N>& in) {
  std::vector<Value> items;
  items.reserve(N);
  for (const auto& item : in) {
    Value v;
    Converter<T>::to_value(v, item);
    items.push_back(std::move(v));
  }
  out = Value::tuple(std::move(items));
}
template <class T, std::size_t N>
requires(!std::is_same_v<T, std::byte>) void from_value(const Value& in, std::array<T, N>& out) {
  const auto items = detail::sequence_items(in, "tuple", false);
  detail::check_arity(items, N, "std::array");
  for (std::size_t i = 0; i < N; ++i)
    Converter<T>::from_value(items[i], out[i]);
}

template <class... Ts>
void to_value(Value& out, const std::tuple<Ts...>& in) {
  std::vector<Value> items;
  items.reserve(sizeof...(Ts));
  std::apply(
      [&items](const auto&... e) {
        (
            [&] {
              Value v;
              Converter<std::decay_t<decltype(e)>>::to_value(v, e);
              items.push_back(std::move(v));
            }(),
            ...);
      },
      in);
  out = Value::tuple(std::move(items));
}
template <class... Ts>
void from_value(const Value& in, std::tuple<Ts...>& out) {
  const auto items = detail::sequence_items(in, "tuple", false);
  detail::check_arity(items, sizeof...(Ts), "std::tuple");
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (Converter<Ts>::from_value(items[I], std::get<I>(out)), ...);
  }
  (std::index_sequence_for<Ts...>{});
}
template <class A, class B>
void to_value(Value& out, const std::pair<A, B>& in) {
  Value a, b;
  Converter<A>::to_value(a, in.first);
  Converter<B>::to_value(b, in.second);
  out = Value::tuple({std::move(a), std::move(b)});
}
template <class A, class B>
void from_value(const Value& in, std::pair<A, B>& out) {
  const auto items = detail::sequence_items(in, "tuple", false);
  detail::check_arity(items, 2, "std::pair");
  Converter<A>::from_value(items[0], out.first);
  Converter<B>::from_value(items[1], out.second);
}

// ---- sets -------------------------------------------------------------------------------------

namespace detail {
template <class Container, class T>
void set_to_value(Value& out, const Container& in) {
  Set set;
  set.reserve(in.size());
  for (const auto& item : in) {
    Value v;
    Converter<T>::to_value(v, item);
    set.add(std::move(v));
  }
  out = Value(std::move(set));
}
template <class Container, class T>
void set_from_value(const Value& in, Container& out) {
  // json and msgpack carry sets as lists, serpent writes an empty set as (): accept all three.
  const auto items = sequence_items(in, "set", true);
  out.clear();
  for (const auto& item : items) {
    T v{};
    Converter<T>::from_value(item, v);
    out.insert(std::move(v));
  }
}
}  // namespace detail

template <class T, class C, class A>
void to_value(Value& out, const std::set<T, C, A>& in) {
  detail::set_to_value<std::set<T, C, A>, T>(out, in);
}
template <class T, class C, class A>
void from_value(const Value& in, std::set<T, C, A>& out) {
  detail::set_from_value<std::set<T, C, A>, T>(in, out);
}
template <class T, class H, class E, class A>
void to_value(Value& out, const std::unordered_set<T, H, E, A>& in) {
  detail::set_to_value<std::unordered_set<T, H, E, A>, T>(out, in);
}
template <class T, class H, class E, class A>
void from_value(const Value& in, std::unordered_set<T, H, E, A>& out) {
  detail::set_from_value<std::unordered_set<T, H, E, A>, T>(in, out);
}

// ---- maps (dict) ------------------------------------------------------------------------------

namespace detail {
template <class Map, class K, class V>
void map_to_value(Value& out, const Map& in) {
  Dict dict;
  dict.reserve(in.size());
  for (const auto& [key, value] : in) {
    Value k, v;
    Converter<K>::to_value(k, key);
    Converter<V>::to_value(v, value);
    dict.set(std::move(k), std::move(v));
  }
  out = Value(std::move(dict));
}
template <class Map, class K, class V>
void map_from_value(const Value& in, Map& out) {
  if (!in.is_dict()) throw_type_error("dict", in);
  out.clear();
  for (const auto& [key, value] : in.as_dict()) {
    K k{};
    V v{};
    Converter<K>::from_value(key, k);
    Converter<V>::from_value(value, v);
    out.insert_or_assign(std::move(k), std::move(v));
  }
}
}  // namespace detail

template <class K, class V, class C, class A>
void to_value(Value& out, const std::map<K, V, C, A>& in) {
  detail::map_to_value<std::map<K, V, C, A>, K, V>(out, in);
}
template <class K, class V, class C, class A>
void from_value(const Value& in, std::map<K, V, C, A>& out) {
  detail::map_from_value<std::map<K, V, C, A>, K, V>(in, out);
}
template <class K, class V, class H, class E, class A>
void to_value(Value& out, const std::unordered_map<K, V, H, E, A>& in) {
  detail::map_to_value<std::unordered_map<K, V, H, E, A>, K, V>(out, in);
}
template <class K, class V, class H, class E, class A>
void from_value(const Value& in, std::unordered_map<K, V, H, E, A>& out) {
  detail::map_from_value<std::unordered_map<K, V, H, E, A>, K, V>(in, out);
}

inline void to_value(Value& out, const Dict& in) {
  out = Value(in);
}
inline void from_value(const Value& in, Dict& out) {
  if (!in.is_dict()) detail::throw_type_error("dict", in);
  out = in.as_dict();
}
inline void to_value(Value& out, const Set& in) {
  out = Value(in);
}
inline void from_value(const Value& in, Set& out) {
  if (!in.is_any_set()) detail::throw_type_error("set", in);
  out = in.as_set();
}

// ---- PYRO_FIELDS: a struct as a Pyro class dict -----------------------------------------------

namespace detail {
template <class T>
void put_field(Dict& dict, std::string_view name, const T& field) {
  Value v;
  Converter<T>::to_value(v, field);
  dict.set(Value(name), std::move(v));
}
template <class T>
void get_field(const Value& in, std::string_view type, std::string_view name, T& field) {
  Converter<T>::from_value(field_of(in, type, name), field);
}
}  // namespace detail

}  // namespace pyro

// Makes a struct travel as Pyro's class dict {"field": ..., ..., "__class__": "module.Name"}
// (the layout Python's vars()-based class_to_dict produces). Place it in the struct's namespace:
//   struct Reading { std::string sensor; double celsius = 0; };
//   PYRO_FIELDS(Reading, "greenhouse.Reading", sensor, celsius)
// Decoding accepts any dict holding the fields (the "__class__" key is not checked: Pyro4's json
// and marshal send custom objects without it). Up to 24 fields.
#define PYRO_FIELDS(Type, class_name, ...)                                                  \
  [[maybe_unused]] inline constexpr std::string_view pyro_class_name(const Type*) {         \
    return class_name;                                                                      \
  }                                                                                         \
  [[maybe_unused]] inline void to_value(::pyro::Value& pyro_out_, const Type& pyro_in_) {   \
    ::pyro::Dict pyro_dict_;                                                                \
    PYRO_DETAIL_FOR_EACH(PYRO_DETAIL_PUT_FIELD, __VA_ARGS__)                                \
    pyro_dict_.set(::pyro::Value("__class__"), ::pyro::Value(class_name));                  \
    pyro_out_ = ::pyro::Value(std::move(pyro_dict_));                                       \
  }                                                                                         \
  [[maybe_unused]] inline void from_value(const ::pyro::Value& pyro_in_, Type& pyro_out_) { \
    PYRO_DETAIL_FOR_EACH(PYRO_DETAIL_GET_FIELD, __VA_ARGS__)                                \
    (void)pyro_in_;                                                                         \
    (void)pyro_out_;                                                                        \
  }

#define PYRO_DETAIL_PUT_FIELD(field) ::pyro::detail::put_field(pyro_dict_, #field, pyro_in_.field);
#define PYRO_DETAIL_GET_FIELD(field) \
  ::pyro::detail::get_field(pyro_in_, pyro_class_name(&pyro_out_), #field, pyro_out_.field);

#define PYRO_DETAIL_EXPAND(x) x
#define PYRO_DETAIL_FE_1(m, x) m(x)
#define PYRO_DETAIL_FE_2(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_1(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_3(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_2(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_4(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_3(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_5(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_4(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_6(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_5(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_7(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_6(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_8(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_7(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_9(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_8(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_10(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_9(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_11(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_10(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_12(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_11(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_13(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_12(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_14(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_13(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_15(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_14(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_16(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_15(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_17(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_16(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_18(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_17(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_19(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_18(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_20(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_19(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_21(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_20(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_22(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_21(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_23(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_22(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_24(m, x, ...) m(x) PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_23(m, __VA_ARGS__))
#define PYRO_DETAIL_FE_PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                            _17, _18, _19, _20, _21, _22, _23, _24, name, ...)                     \
  name
#define PYRO_DETAIL_FOR_EACH(m, ...)                                                               \
  PYRO_DETAIL_EXPAND(PYRO_DETAIL_FE_PICK(                                                          \
      __VA_ARGS__, PYRO_DETAIL_FE_24, PYRO_DETAIL_FE_23, PYRO_DETAIL_FE_22, PYRO_DETAIL_FE_21,     \
      PYRO_DETAIL_FE_20, PYRO_DETAIL_FE_19, PYRO_DETAIL_FE_18, PYRO_DETAIL_FE_17,                  \
      PYRO_DETAIL_FE_16, PYRO_DETAIL_FE_15, PYRO_DETAIL_FE_14, PYRO_DETAIL_FE_13,                  \
      PYRO_DETAIL_FE_12, PYRO_DETAIL_FE_11, PYRO_DETAIL_FE_10, PYRO_DETAIL_FE_9, PYRO_DETAIL_FE_8, \
      PYRO_DETAIL_FE_7, PYRO_DETAIL_FE_6, PYRO_DETAIL_FE_5, PYRO_DETAIL_FE_4, PYRO_DETAIL_FE_3,    \
      PYRO_DETAIL_FE_2, PYRO_DETAIL_FE_1)(m, __VA_ARGS__))
