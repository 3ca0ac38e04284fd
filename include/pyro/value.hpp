// value.hpp — pyro::Value, Python's data model in C++: what travels in every Pyro payload.
// Relies on errors.hpp only. Adds None, bool, int (64-bit fast path, unbounded otherwise), float,
// complex, str, bytes, tuple, list, dict (any hashable key, insertion ordered), set, frozenset,
// naive datetime and date, and opaque objects that travel as Pyro class dicts.
// Conversions between Value and C++ types are in convert.hpp (included at the end of this file).
#pragma once

#include <complex>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyro/errors.hpp"

namespace pyro {

// The Python type of a Value. Ints keep one kind whether they fit 64 bits or not.
enum class Kind : std::uint8_t {
  none,
  bool_,
  int_,
  float_,
  complex,
  str,
  bytes,
  tuple,
  list,
  dict,
  set,
  frozenset,
  datetime,
  date,
  object,
};

// Python's name for a kind: "NoneType", "bool", "int", "float", "str", "dict", ...
std::string_view kind_name(Kind kind) noexcept;

// Which Pyro generation a class dict is written for: class names differ ("Pyro5.core.URI" versus
// "Pyro4.core.URI") and so does the proxy state layout.
enum class Dialect : std::uint8_t { pyro5, pyro4 };

// A naive date and time (Python's datetime.datetime without tzinfo), in microseconds since
// 1970-01-01T00:00:00 of the proleptic Gregorian calendar. Not a point in time: no timezone.
struct DateTime {
  std::int64_t micros = 0;
  friend bool operator==(const DateTime&, const DateTime&) = default;
  // ISO 8601 as Python's isoformat(): "2024-05-17T13:45:30" or "...30.250000".
  std::string iso() const;
  // Parses what isoformat() writes (and the "YYYY-MM-DD HH:MM:SS[.ffffff]" form); a trailing
  // timezone offset or "Z" is rejected. Throws ValueError.
  static DateTime parse_iso(std::string_view text);
};

// A calendar date (Python's datetime.date), in days since 1970-01-01 (proleptic Gregorian).
struct Date {
  std::int32_t days = 0;
  friend bool operator==(const Date&, const Date&) = default;
  std::string iso() const;                                       // "2024-05-17"
  static Date parse_iso(std::string_view text);                  // throws ValueError
  static Date from_ymd(int year, unsigned month, unsigned day);  // throws ValueError
};

class Value;
class Dict;
class Set;
class Object;

namespace detail {
struct ValueAccess;  // the codecs' fast paths into Value (src/detail/value_access.hpp)

// Memory for Values' heap parts: small blocks come from a per-thread cache in front of
// operator new (decoding builds and drops many small containers; the cache makes that cheap).
void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes) noexcept;

// Memory for big buffers (from `large_block_min` bytes; pool_allocate sends those here too):
// mapped with transparent huge pages where the system allows them, and kept warm for reuse in a
// small process-wide cache (at most 8 blocks, 256 MiB; a block unused for 10 s is unmapped
// at the next big allocation or free), so that a
// stream of big messages does not fault in fresh pages for every one. Any thread may free.
inline constexpr std::size_t large_block_min = std::size_t{256} << 10;
void* large_allocate(std::size_t bytes);
void large_deallocate(void* p, std::size_t bytes) noexcept;

// std::string buffers for big message bodies and payloads, which cannot use the cache above:
// take_buffer returns an empty string with at least `capacity` reserved (0: the newest spare,
// or a new string), a recycled one when it fits (fresh memory is advised to use huge pages);
// recycle_buffer keeps a big string's memory for a later take_buffer (process-wide, at most four
// strings of up to 128 MiB, 256 MiB in all, aged out after 10 s like the blocks).
std::string take_buffer(std::size_t capacity);
// A string of exactly `size` bytes whose content is to be overwritten: a spare that already had
// that many bytes is not zero-filled again.
std::string take_buffer_sized(std::size_t size);
void recycle_buffer(std::string&& buffer) noexcept;

template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  friend bool operator==(const PoolAllocator&, const PoolAllocator<U>&) noexcept {
    return true;
  }
};
}  // namespace detail

// The storage of a tuple's or list's items.
using ValueVector = std::vector<Value, detail::PoolAllocator<Value>>;

// A value of Python's data model.
//
// Regular type: copying copies the whole value (long strings and bytes are shared, immutable,
// so copying them is O(1)); moving is a 16-byte copy and leaves None behind.
// Equality and hashing follow Python: 1 == 1.0 == True and they hash alike; NaN != NaN;
// a tuple never equals a list; a set equals a frozenset with the same elements.
// Thread safety: thread-compatible, like a std::vector (const access from many threads is safe).
class Value {
 public:
  // --- construction ---------------------------------------------------------------------------
  Value() noexcept { rep_.tag = Tag::none; }
  Value(std::nullptr_t) noexcept : Value() {}
  // Only a real bool: a pointer must not silently become True.
  template <std::same_as<bool> B>
  Value(B b) noexcept {
    rep_.tag = b ? Tag::true_ : Tag::false_;
  }
  template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
           !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> &&
           !std::is_same_v<T, char32_t> && !std::is_same_v<T, wchar_t>) Value(T i)
  noexcept(std::is_signed_v<T> || sizeof(T) < sizeof(std::int64_t)) {
    if constexpr (std::is_signed_v<T> || sizeof(T) < sizeof(std::int64_t)) {
      set_small_int(static_cast<std::int64_t>(i));
    } else {
      set_unsigned(static_cast<std::uint64_t>(i));
    }
  }
  Value(char) = delete;  // Python has no char type: write Value(std::string(1, c)) or an int
  Value(double d) noexcept {
    rep_.tag = Tag::float_;
    set_payload(d);
  }
  Value(float f) noexcept : Value(static_cast<double>(f)) {}
  Value(std::complex<double> c);
  // A str from UTF-8 text. Throws ValueError when the text is not valid UTF-8.
  Value(std::string_view text);
  Value(const char* text) : Value(std::string_view(text)) {}
  Value(const std::string& text) : Value(std::string_view(text)) {}
  Value(DateTime dt) noexcept {
    rep_.tag = Tag::datetime;
    set_payload(dt.micros);
  }
  Value(Date d) noexcept {
    rep_.tag = Tag::date;
    set_payload(static_cast<std::int64_t>(d.days));
  }
  Value(Dict dict);
  Value(Set set);

  static Value bytes(std::span<const std::byte> data);
  static Value bytes(std::string_view raw);
  static Value tuple(ValueVector items);
  static Value tuple(const std::vector<Value>& items);
  static Value tuple(std::vector<Value>&& items);
  static Value tuple(std::initializer_list<Value> items);
  static Value list(ValueVector items = {});
  static Value list(const std::vector<Value>& items);
  static Value list(std::vector<Value>&& items);
  static Value list(std::initializer_list<Value> items);
  static Value dict();
  static Value dict(std::initializer_list<std::pair<Value, Value>> items);
  static Value set(std::initializer_list<Value> items = {});
  static Value frozenset(std::initializer_list<Value> items = {});
  static Value frozenset(Set set);
  static Value object(std::shared_ptr<const Object> object);
  // An int of any size from its decimal text ("-1180591620717411303424"); also accepts Python's
  // "_" separators and 0x/0o/0b prefixes. Throws ValueError on anything else.
  static Value int_from_text(std::string_view text);
  // An int from its little-endian two's complement bytes (any length).
  static Value int_from_bytes(std::span<const std::uint8_t> little_endian, bool is_signed);

  Value(const Value& other);
  Value(Value&& other) noexcept : rep_(other.rep_) { other.rep_.tag = Tag::none; }
  Value& operator=(const Value& other);
  Value& operator=(Value&& other) noexcept {
    if (this != &other) {
      if (has_heap_part()) release();
      rep_ = other.rep_;
      other.rep_.tag = Tag::none;
    }
    return *this;
  }
  ~Value() {
    if (has_heap_part()) release();
  }

  // --- inspection -----------------------------------------------------------------------------
  Kind kind() const noexcept { return kind_of(rep_.tag); }
  std::string_view type_name() const noexcept { return kind_name(kind()); }
  bool is_none() const noexcept { return rep_.tag == Tag::none; }
  bool is_bool() const noexcept { return rep_.tag == Tag::false_ || rep_.tag == Tag::true_; }
  bool is_int() const noexcept { return rep_.tag == Tag::small_int || rep_.tag == Tag::big_int; }
  // An int that fits std::int64_t.
  bool is_small_int() const noexcept { return rep_.tag == Tag::small_int; }
  bool is_float() const noexcept { return rep_.tag == Tag::float_; }
  bool is_complex() const noexcept { return rep_.tag == Tag::complex; }
  bool is_str() const noexcept { return rep_.tag == Tag::short_str || rep_.tag == Tag::long_str; }
  bool is_bytes() const noexcept { return rep_.tag == Tag::bytes; }
  bool is_tuple() const noexcept { return rep_.tag == Tag::tuple; }
  bool is_list() const noexcept { return rep_.tag == Tag::list; }
  // A tuple or a list.
  bool is_sequence() const noexcept { return rep_.tag == Tag::tuple || rep_.tag == Tag::list; }
  bool is_dict() const noexcept { return rep_.tag == Tag::dict; }
  bool is_set() const noexcept { return rep_.tag == Tag::set; }
  bool is_frozenset() const noexcept { return rep_.tag == Tag::frozenset; }
  // A set or a frozenset.
  bool is_any_set() const noexcept { return rep_.tag == Tag::set || rep_.tag == Tag::frozenset; }
  bool is_datetime() const noexcept { return rep_.tag == Tag::datetime; }
  bool is_date() const noexcept { return rep_.tag == Tag::date; }
  bool is_object() const noexcept { return rep_.tag == Tag::object; }
  // A number: bool, int, float or complex.
  bool is_number() const noexcept {
    return (rep_.tag >= Tag::false_ && rep_.tag <= Tag::float_) || rep_.tag == Tag::complex;
  }

  // --- access (each throws TypeError naming the expected and the actual type) -------------------
  bool as_bool() const;
  // An int or a bool. Throws OverflowError when the int does not fit 64 bits.
  std::int64_t as_int() const {
    return rep_.tag == Tag::small_int ? payload<std::int64_t>() : as_int_other();
  }
  // An int's decimal text, whatever its size.
  std::string int_text() const;
  // The little-endian two's complement bytes of an int (minimal length, at least one byte).
  std::vector<std::uint8_t> int_bytes() const;
  // Number of bits of |int| (Python's int.bit_length()).
  std::size_t int_bit_length() const;
  // A float, an int or a bool as a double (big ints round like Python's float(n); OverflowError
  // when they exceed the double range).
  double as_float() const;
  // A complex; real numbers are accepted too.
  std::complex<double> as_complex() const;
  std::string_view as_str() const {
    return rep_.tag == Tag::short_str ? std::string_view(rep_.chars, rep_.short_size)
                                      : as_str_other();
  }
  std::span<const std::byte> as_bytes() const;
  // The bytes of a bytes value, viewed as characters.
  std::string_view bytes_view() const;
  DateTime as_datetime() const;
  Date as_date() const;
  // The items of a tuple or a list.
  std::span<const Value> items() const {
    if (!is_sequence()) [[unlikely]]
      type_mismatch("tuple or list");
    const auto* items = payload<const ValueVector*>();
    return items != nullptr ? std::span<const Value>(items->data(), items->size())
                            : std::span<const Value>();
  }
  // The mutable items of a tuple or a list.
  ValueVector& items();
  inline const Dict& as_dict() const;
  Dict& as_dict();
  // The elements of a set or a frozenset.
  const Set& as_set() const;
  Set& as_set();
  const std::shared_ptr<const Object>& as_object() const;

  // Python's len(): code points of a str, bytes of bytes, items of a container.
  std::size_t size() const;
  // Item of a tuple or list (negative indices count from the end). Throws IndexError.
  const Value& operator[](std::ptrdiff_t index) const;
  const Value& at(std::ptrdiff_t index) const { return (*this)[index]; }
  // Item of a dict. at() throws KeyError when absent; find() returns nullptr.
  const Value& at(const Value& key) const;
  const Value* find(const Value& key) const;
  // Appends to a list (or tuple, while it is being built).
  void append(Value item);

  // Converts to a C++ type through Converter<T> (convert.hpp); throws TypeError/ValueError.
  template <class T>
  T get() const;

  // Python's ==: numbers compare by value across bool/int/float/complex, containers by content.
  friend bool operator==(const Value& a, const Value& b);
  // Python's hash(): ints, floats, complex, bool, tuples and frozensets hash exactly as CPython
  // does; str and bytes use a fast hash of their own (CPython randomizes those per process).
  // Throws TypeError("unhashable type: 'list'") for list, dict and set.
  std::size_t hash() const;
  bool is_hashable() const noexcept;
  // Python's repr(): "{'a': [1, 2.5, None]}".
  std::string repr() const;

  // Strict structural identity, for tests and round trips: kinds must match exactly (1, 1.0 and
  // True differ; a tuple is not a list; a set is not a frozenset), NaN is identical to NaN, dicts
  // must have the same items in the same order, sets the same elements in any order.
  friend bool identical(const Value& a, const Value& b);

 private:
  enum class Tag : std::uint8_t {
    none,
    false_,
    true_,
    small_int,
    float_,
    datetime,
    date,
    short_str,
    // everything from here on owns heap memory
    long_str,
    bytes,
    big_int,
    complex,
    tuple,
    list,
    dict,
    set,
    frozenset,
    object,
    first_heap = long_str,
  };
  static constexpr std::size_t short_capacity = 14;

  // 16 bytes: a tag, then either an inline short string (size + 14 chars) or an 8-byte payload
  // at offset 8 (int64, double, or a pointer to the heap representation).
  struct Rep {
    Tag tag = Tag::none;
    std::uint8_t short_size;
    char chars[short_capacity];
  };
  static_assert(sizeof(Rep) == 16);

  template <class T>
  T payload() const noexcept {
    static_assert(sizeof(T) == 8);
    T out;
    __builtin_memcpy(&out, rep_.chars + 6, 8);
    return out;
  }
  template <class T>
  void set_payload(T v) noexcept {
    static_assert(sizeof(T) == 8);
    __builtin_memcpy(rep_.chars + 6, &v, 8);
  }
  void set_small_int(std::int64_t i) noexcept {
    rep_.tag = Tag::small_int;
    set_payload(i);
  }
  void set_unsigned(std::uint64_t u);
  static constexpr Kind kind_of(Tag tag) noexcept {
    constexpr Kind kinds[] = {
        Kind::none,  Kind::bool_, Kind::bool_, Kind::int_,  Kind::float_,    Kind::datetime,
        Kind::date,  Kind::str,   Kind::str,   Kind::bytes, Kind::int_,      Kind::complex,
        Kind::tuple, Kind::list,  Kind::dict,  Kind::set,   Kind::frozenset, Kind::object};
    return kinds[static_cast<std::uint8_t>(tag)];
  }
  void release() noexcept;
  // (an empty tuple, list or dict has a heap tag but a null payload)
  bool has_heap_part() const noexcept {
    return rep_.tag >= Tag::first_heap && payload<void*>() != nullptr;
  }
  void copy_from(const Value& other);
  // A tuple, list or dict without items has no heap part (a null payload) until it is changed:
  // calls carry an empty kwargs dict, and often an empty args tuple, both ways.
  const ValueVector& seq_ref() const noexcept;
  const Dict& dict_ref() const noexcept;
  [[noreturn]] void type_mismatch(std::string_view expected) const;
  // The slow paths of the inline accessors.
  std::int64_t as_int_other() const;
  std::string_view as_str_other() const;
  const Value* find_in_dict(const Value& key) const;

  friend class Dict;
  friend class Set;
  friend struct detail::ValueAccess;

  alignas(8) Rep rep_;
};
static_assert(sizeof(Value) == 16);

// An insertion-ordered dict with Python's key semantics: any hashable Value is a key; assigning
// an existing key keeps its position and the original key object (as `d[k] = v` does).
// Thread safety: thread-compatible.
class Dict {
 public:
  using Item = std::pair<Value, Value>;

  Dict() = default;
  Dict(std::initializer_list<Item> items);
  Dict(const Dict& other);
  Dict(Dict&&) noexcept = default;
  Dict& operator=(const Dict& other);
  Dict& operator=(Dict&&) noexcept = default;

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  const Item* begin() const noexcept { return items_.data(); }
  const Item* end() const noexcept { return items_.data() + items_.size(); }
  std::span<const Item> items() const noexcept { return items_; }
  // The value of the i-th item (insertion order), for in-place updates; keys stay immutable.
  Value& value_at(std::size_t i) { return items_.at(i).second; }

  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  bool contains(const Value& key) const { return find(key) != nullptr; }
  // Throws KeyError with the key's repr.
  const Value& at(const Value& key) const;
  Value& at(const Value& key);
  // Python's d[key]: the value for key, inserting None first if absent.
  Value& operator[](const Value& key);
  // Python's d[key] = value. Throws TypeError for unhashable keys.
  void set(Value key, Value value);
  // Inserts only when key is absent; returns whether it inserted.
  bool insert(Value key, Value value);
  bool erase(const Value& key);
  void reserve(std::size_t n) { items_.reserve(n); }
  void clear() noexcept;

  // Equal keys map to equal values (order-insensitive, like Python).
  friend bool operator==(const Dict& a, const Dict& b);

 private:
  // Index of key in items_, or npos. Small dicts are scanned; larger ones use index_.
  std::size_t locate(const Value& key, std::size_t hash) const;
  void rebuild_index();
  void index_insert(std::size_t item, std::size_t hash);
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  static constexpr std::size_t scan_limit = 8;

  std::vector<Item, detail::PoolAllocator<Item>> items_;
  // open addressing, slot = item index + 1, 0 = empty
  std::vector<std::uint32_t, detail::PoolAllocator<std::uint32_t>> index_;
};

inline const Dict& Value::as_dict() const {
  if (rep_.tag != Tag::dict) [[unlikely]]
    type_mismatch("dict");
  const Dict* dict = payload<const Dict*>();
  return dict != nullptr ? *dict : dict_ref();
}

// A set of hashable Values, kept in insertion order (Python's iteration order is arbitrary, so
// any order is faithful; insertion order keeps encodings deterministic).
// Thread safety: thread-compatible.
class Set {
 public:
  Set() = default;
  Set(std::initializer_list<Value> items);
  Set(const Set& other);
  Set(Set&&) noexcept = default;
  Set& operator=(const Set& other);
  Set& operator=(Set&&) noexcept = default;

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  const Value* begin() const noexcept { return items_.data(); }
  const Value* end() const noexcept { return items_.data() + items_.size(); }
  std::span<const Value> items() const noexcept { return items_; }

  bool contains(const Value& item) const;
  // Returns whether it was added (false when an equal element was present).
  bool add(Value item);
  bool erase(const Value& item);
  void reserve(std::size_t n) { items_.reserve(n); }
  void clear() noexcept;

  friend bool operator==(const Set& a, const Set& b);

 private:
  std::size_t locate(const Value& item, std::size_t hash) const;
  void rebuild_index();
  void index_insert(std::size_t item, std::size_t hash);
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  static constexpr std::size_t scan_limit = 8;

  ValueVector items_;
  std::vector<std::uint32_t, detail::PoolAllocator<std::uint32_t>> index_;
};

// A value that is not part of Python's data model but travels as a Pyro class dict:
// URIs, proxies, exceptions, and objects produced by registered dict-to-class converters.
// Immutable once shared through a Value. Subclasses must be thread-safe for const access.
class Object {
 public:
  virtual ~Object() = default;
  // The "__class__" this object has on the wire, e.g. "Pyro5.core.URI".
  virtual std::string class_name(Dialect dialect) const = 0;
  // The dict that represents this object on the wire ("__class__" included).
  virtual Value to_dict(Dialect dialect) const = 0;
  virtual bool equals(const Object& other) const noexcept { return this == &other; }
  virtual std::size_t hash() const noexcept;
  virtual std::string repr() const;
};

}  // namespace pyro

template <>
struct std::hash<pyro::Value> {
  std::size_t operator()(const pyro::Value& v) const { return v.hash(); }
};

#include "pyro/convert.hpp"
