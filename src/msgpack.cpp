// msgpack.cpp — Pyro's MsgpackSerializer: msgpack-cxx's packer writes Values, its visitor parser
// builds them, with Pyro's extension types for complex, big ints, datetime and date
// (serializers.md §9). Output is byte-identical to Python's
// msgpack.packb(obj, use_bin_type=True, default=<Pyro's hook>); input is read the way
// msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=<Pyro's hook>) reads it.
#include "pyro/msgpack.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <time.h>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <msgpack/null_visitor.hpp>
#include <msgpack/pack.hpp>
#include <msgpack/parse.hpp>
#include <msgpack/unpack.hpp>

#include "detail/text.hpp"
#include "detail/value_access.hpp"

namespace pyro {

namespace {

using detail::ValueAccess;

// Pyro's extension type codes (Pyro5/serializers.py, MsgpackSerializer.default / ext_hook).
constexpr std::int8_t ext_complex = 0x30;
constexpr std::int8_t ext_int = 0x31;
constexpr std::int8_t ext_datetime = 0x32;
constexpr std::int8_t ext_date = 0x33;

// msgpack-python's packer refuses values nested deeper than this (DEFAULT_RECURSE_LIMIT): the
// top-level value has depth 0, and a value at depth 512 fails with "recursion limit exceeded".
constexpr std::size_t max_encode_depth = 511;

// Lengths are 32-bit in msgpack.
constexpr std::size_t max_length = 0xFFFFFFFFu;

constexpr std::int64_t micros_per_second = 1000000;
// date.toordinal() of 1970-01-01, and of the last date Python knows (9999-12-31).
constexpr std::int64_t ordinal_1970 = 719163;
constexpr std::int64_t max_ordinal = 3652059;

// --- little-endian doubles and longs (Pyro packs them with struct's native order; every host
// Pyro runs on is little-endian, and serializers.md §9 asks portable peers to write LE) --------

void store_le64(char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(v >> (8 * i));
  }
}

std::uint64_t load_le64(const char* in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  }
  return v;
}

void store_le_double(char* out, double d) {
  store_le64(out, std::bit_cast<std::uint64_t>(d));
}
double load_le_double(const char* in) {
  return std::bit_cast<double>(load_le64(in));
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// --- naive local time <-> POSIX timestamps, the way CPython's datetime does it ----------------

// Days between 1970-01-01 and a proleptic Gregorian date, for any year (March-based years make
// the leap day the last day of the year, so the day of the year is a linear formula).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  if (month <= 2) --year;
  const std::int64_t era = floor_div(year, 400);
  const auto year_of_era = static_cast<std::int64_t>(year - era * 400);      // 0..399
  const unsigned shifted_month = month > 2 ? month - 3 : month + 9;          // March = 0
  const std::int64_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;  // 0..365
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // 0..146096
  return era * 146097 + day_of_era - 719468;  // 719468: days from 0000-03-01 to 1970-01-01
}

// The local wall-clock time at POSIX time t, as seconds of a naive clock counting from
// 1970-01-01T00:00 (CPython's local() in _datetimemodule.c, shifted to the Unix epoch).
bool local_naive_seconds(std::int64_t t, std::int64_t& naive) {
  const auto tt = static_cast<time_t>(t);
  struct tm tm {};
  if (localtime_r(&tt, &tm) == nullptr) return false;
  naive = days_from_civil(std::int64_t{tm.tm_year} + 1900, static_cast<unsigned>(tm.tm_mon + 1),
                          static_cast<unsigned>(tm.tm_mday)) *
              86400 +
          tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
  return true;
}

// POSIX seconds of a naive local wall-clock time given as naive seconds since 1970-01-01T00:00.
// Follows CPython's local_to_seconds() with fold=0: in a repeated hour the earlier instant, in a
// skipped hour the later offset. Returns false when the C library cannot convert.
bool local_to_posix(std::int64_t naive, std::int64_t& posix) {
  constexpr std::int64_t max_fold_seconds = 24 * 3600;
  std::int64_t lt;
  if (!local_naive_seconds(naive, lt)) return false;
  const std::int64_t a = lt - naive;
  const std::int64_t u1 = naive - a;
  std::int64_t t1;
  if (!local_naive_seconds(u1, t1)) return false;
  std::int64_t b;
  if (t1 == naive) {
    // One solution; an earlier one exists only if the offset a day before differs.
    const std::int64_t probe = u1 - max_fold_seconds;
    std::int64_t lp;
    if (!local_naive_seconds(probe, lp)) return false;
    b = lp - probe;
    if (a == b) {
      posix = u1;
      return true;
    }
  } else {
    b = t1 - u1;
  }
  const std::int64_t u2 = naive - b;
  std::int64_t t2;
  if (!local_naive_seconds(u2, t2)) return false;
  if (t2 == naive) {
    posix = u2;
  } else if (t1 == naive) {
    posix = u1;
  } else {
    posix = std::max(u1, u2);  // in a gap
  }
  return true;
}

// Python's naive datetime.timestamp(): the seconds of the local time, plus the microseconds.
bool datetime_timestamp(std::int64_t micros, double& timestamp) {
  const std::int64_t seconds = floor_div(micros, micros_per_second);
  const std::int64_t us = micros - seconds * micros_per_second;
  std::int64_t posix;
  if (!local_to_posix(seconds, posix)) return false;
  timestamp = static_cast<double>(posix) + static_cast<double>(us) / 1e6;
  return true;
}

// Python's round() with ties to even (CPython's _PyTime_ROUND_HALF_EVEN).
double round_half_even(double x) {
  double rounded = std::round(x);
  if (std::fabs(x - rounded) == 0.5) rounded = 2.0 * std::round(x / 2.0);
  return rounded;
}

// Python's datetime.fromtimestamp(ts) for a naive result: split into whole seconds and
// microseconds rounded half-even, then the local wall-clock time of those seconds (a leap second
// becomes :59). Returns nullptr on success, otherwise why it failed.
const char* datetime_from_timestamp(double timestamp, std::int64_t& micros) {
  if (std::isnan(timestamp)) return "timestamp is NaN";
  double whole;
  double fraction = std::modf(timestamp, &whole);
  fraction = round_half_even(fraction * 1e6);
  if (fraction >= 1e6) {
    fraction -= 1e6;
    whole += 1.0;
  } else if (fraction < 0) {
    fraction += 1e6;
    whole -= 1.0;
  }
  // Years 1..9999 lie well within +-1e12 seconds; beyond that time_t conversion is pointless.
  if (!(whole > -1e12 && whole < 1e12)) return "timestamp out of range";
  const auto t = static_cast<time_t>(whole);
  struct tm tm {};
  if (localtime_r(&t, &tm) == nullptr) return "timestamp out of range for the C library";
  const std::int64_t year = std::int64_t{tm.tm_year} + 1900;
  if (year < 1 || year > 9999) return "datetime year is out of range";
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(tm.tm_mon + 1),
                                            static_cast<unsigned>(tm.tm_mday));
  const std::int64_t seconds =
      std::int64_t{tm.tm_hour} * 3600 + tm.tm_min * 60 + std::min(tm.tm_sec, 59);
  micros = (days * 86400 + seconds) * micros_per_second + static_cast<std::int64_t>(fraction);
  return nullptr;
}

// Python's type name for a decoded value, as msgpack-python's strict map key error shows it.
std::string_view python_type_name(const Value& v) {
  if (v.is_datetime()) return "datetime.datetime";
  if (v.is_date()) return "datetime.date";
  return v.type_name();
}

// Whether text is plain ASCII, checked inline: most strs are short identifiers, and this spares
// them the call into the full UTF-8 validator.
inline bool is_ascii(std::string_view text) noexcept {
  const char* p = text.data();
  std::size_t n = text.size();
  std::uint64_t high = 0;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t chunk;
    std::memcpy(&chunk, p, 8);
    high |= chunk;
  }
  for (; n > 0; --n, ++p) {
    high |= static_cast<unsigned char>(*p);
  }
  return (high & 0x8080808080808080ULL) == 0;
}

// The packer's output stream: appends to the caller's string.
class StringSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(const char* data, std::size_t n) { out_.append(data, n); }

 private:
  std::string& out_;
};

// ---------------------------------------------------------------------------------------------
// Decoding: msgpack-cxx's parser walks the input and calls these; containers are built in
// place, each finished value is handed to the container that is open (or becomes the result).
// ---------------------------------------------------------------------------------------------

class Builder : public msgpack::null_visitor {
 public:
  Builder(std::string_view input, std::size_t max_depth) : input_(input), max_depth_(max_depth) {}

  bool visit_nil() { return emit(nullptr); }
  bool visit_boolean(bool b) { return emit(b); }
  bool visit_positive_integer(std::uint64_t u) {
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return emit(static_cast<std::int64_t>(u));
    }
    return put(Value(u));
  }
  // msgpack-cxx reports every signed format (int8..int64) here, non-negative values included.
  bool visit_negative_integer(std::int64_t i) { return emit(i); }
  bool visit_float32(float f) { return emit(static_cast<double>(f)); }
  bool visit_float64(double d) { return emit(d); }

  bool visit_str(const char* data, std::uint32_t n) {
    const std::string_view text(data, n);
    if (!is_ascii(text)) check_utf8(text);
    if (n <= ValueAccess::short_str_max && !stack_.empty() && stack_.back().items != nullptr) {
      // built right in its array slot, as emit() does
      ValueAccess::set_short_str(stack_.back().items->emplace_back(), data, n);
      return true;
    }
    return put(ValueAccess::str_trusted(text));
  }

  bool visit_bin(const char* data, std::uint32_t n) {
    Value v;
    char* dst = ValueAccess::bytes_uninitialized(v, n);
    if (n != 0) std::memcpy(dst, data, n);
    return put(std::move(v));
  }

  // data points at the type byte; n counts it.
  bool visit_ext(const char* data, std::uint32_t n) {
    const std::size_t at = offset_of(data);
    // n == 0 only when msgpack-cxx's 32-bit size wrapped (ext32 of 0xFFFFFFFF bytes).
    if (n == 0) fail_at("ext data too long", at);
    const auto code = static_cast<std::int8_t>(data[0]);
    const char* body = data + 1;
    const std::size_t size = n - 1;
    switch (code) {
      case ext_complex: {
        if (size != 16) fail_at("complex ext 0x30 needs 16 bytes, got " + std::to_string(size), at);
        return put(Value(std::complex<double>(load_le_double(body), load_le_double(body + 8))));
      }
      case ext_int:
        return put(int_from_ext(std::string_view(body, size), at));
      case ext_datetime: {
        if (size != 8) fail_at("datetime ext 0x32 needs 8 bytes, got " + std::to_string(size), at);
        std::int64_t micros = 0;
        if (const char* why = datetime_from_timestamp(load_le_double(body), micros)) {
          fail_at(why, at);
        }
        return put(Value(DateTime{micros}));
      }
      case ext_date: {
        if (size != 8) fail_at("date ext 0x33 needs 8 bytes, got " + std::to_string(size), at);
        const auto ordinal = static_cast<std::int64_t>(load_le64(body));
        if (ordinal < 1 || ordinal > max_ordinal) {
          fail_at("date ordinal " + std::to_string(ordinal) + " is out of range", at);
        }
        return put(Value(Date{static_cast<std::int32_t>(ordinal - ordinal_1970)}));
      }
      default:
        // Pyro's own message (ext_hook); msgpack's Timestamp (-1) is not a Pyro type either.
        throw SerializeError("invalid ext code for msgpack: " + std::to_string(code), at);
    }
  }

  // An empty container needs no frame: msgpack-cxx ends it right after starting it.
  bool start_array(std::uint32_t n) {
    if (n == 0) return start_empty(Value::list());
    if (!open(n, n, "array")) return false;
    Frame& f = stack_.emplace_back(Value::list());
    f.items = &f.container.items();
    f.items->reserve(n);
    return true;
  }
  bool end_array_item() {
    --pending_;
    return true;
  }
  bool end_array() { return close(); }

  bool start_map(std::uint32_t n) {
    if (n == 0) return start_empty(Value::dict());
    if (!open(std::uint64_t{n} * 2, n, "map")) return false;
    Frame& f = stack_.emplace_back(Value::dict());
    f.dict = &f.container.as_dict();
    f.dict->reserve(n);
    return true;
  }
  bool end_map_key() {
    --pending_;
    return true;
  }
  bool end_map_value() {
    --pending_;
    return true;
  }
  bool end_map() { return close(); }

  void parse_error(std::size_t /*parsed_offset*/, std::size_t error_offset) {
    problem_ = "invalid type byte 0xc1";
    problem_offset_ = error_offset;
  }
  void insufficient_bytes(std::size_t /*parsed_offset*/, std::size_t error_offset) {
    problem_ = "truncated input";
    problem_offset_ = error_offset;
  }

  // Why the parser stopped early (empty when it did not), and where.
  const std::string& problem() const noexcept { return problem_; }
  std::size_t problem_offset() const noexcept { return problem_offset_; }
  Value take_result() { return std::move(result_); }

 private:
  // Values move in and out of frames by construction only: Value's assignment operators are
  // out of line, and this is the hottest path of the decoder.
  struct Frame {
    explicit Frame(Value c) noexcept : container(std::move(c)) {}
    Value container;
    ValueVector* items = nullptr;  // set for an array
    Dict* dict = nullptr;          // set for a map
    Value key;                     // a map's key waiting for its value, else None
    bool have_key = false;
  };

  std::size_t offset_of(const char* p) const noexcept {
    return static_cast<std::size_t>(p - input_.data());
  }

  // raw=False: str must be UTF-8 (surrogates excluded), as Python's bytes.decode("utf-8").
  void check_utf8(std::string_view text) const {
    const std::size_t bad = detail::find_invalid_utf8(text, false);
    if (bad != detail::utf8_valid) {
      const std::size_t at = offset_of(text.data()) + bad;
      throw SerializeError("msgpack: invalid UTF-8 in str at offset " + std::to_string(at), at);
    }
  }

  [[noreturn]] static void fail_at(const std::string& what, std::size_t at) {
    throw SerializeError("msgpack: " + what + " at offset " + std::to_string(at), at);
  }

  // Before a container of n entries (slots = values it will hold): the depth limit, and a bound
  // on forged lengths. Every announced value still to come needs at least one byte of input, so
  // the announced-but-unread values of all open containers can never outnumber the input bytes;
  // this keeps every reserve() below proportional to the input size.
  bool open(std::uint64_t slots, std::uint32_t n, const char* what) {
    if (too_deep()) return false;
    if (slots > input_.size() - pending_) {
      problem_ = std::string(what) + " of " + std::to_string(n) + " entries does not fit in " +
                 std::to_string(input_.size()) + " bytes of input";
      return false;
    }
    pending_ += slots;
    return true;
  }

  bool too_deep() {
    if (stack_.size() < max_depth_) return false;
    problem_ = "nesting deeper than " + std::to_string(max_depth_) + " levels";
    return true;
  }

  bool start_empty(Value empty) {
    if (too_deep()) return false;
    empty_open_ = true;
    return put(std::move(empty));
  }

  bool close() {
    if (empty_open_) {  // the empty container start_empty() has put already
      empty_open_ = false;
      return true;
    }
    Value done = std::move(stack_.back().container);
    stack_.pop_back();
    return put(std::move(done));
  }

  // A scalar: constructed right in its array slot when an array is open (building it elsewhere
  // and moving it costs a store-forwarding stall per value).
  template <class T>
  bool emit(T scalar) {
    if (!stack_.empty() && stack_.back().items != nullptr) {
      stack_.back().items->emplace_back(scalar);
      return true;
    }
    return put(Value(scalar));
  }

  bool put(Value v) {
    if (stack_.empty()) {
      result_ = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.items != nullptr) {
      f.items->push_back(std::move(v));
    } else if (!f.have_key) {
      std::construct_at(&f.key, std::move(v));  // f.key is None: nothing to destroy
      f.have_key = true;
    } else {
      // msgpack-python checks the key once its value is complete (unpack_callback_map_item).
      if (!f.key.is_str() && !f.key.is_bytes()) {
        throw ValueError(std::string(python_type_name(f.key)) +
                         " is not allowed for map key when strict_map_key=True");
      }
      f.dict->set(std::move(f.key), std::move(v));  // leaves f.key None
      f.have_key = false;
    }
    return true;
  }

  // Ext 0x31: Python's int(data), base 10 (no 0x/0o/0b prefixes), within CPython's digit limit.
  static Value int_from_ext(std::string_view text, std::size_t at) {
    std::size_t i = 0;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                               text[i] == '\r' || text[i] == '\f' || text[i] == '\v')) {
      ++i;
    }
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (i + 1 < text.size() && text[i] == '0' && text[i + 1] != '_' &&
        (text[i + 1] < '0' || text[i + 1] > '9')) {
      fail_at("invalid int text in ext 0x31", at);
    }
    try {
      return Value::int_from_text(text);
    } catch (const ValueError& e) {
      fail_at(std::string("invalid int text in ext 0x31: ") + e.what(), at);
    }
  }

  std::string_view input_;
  std::size_t max_depth_;
  std::size_t pending_ = 0;  // values announced by open containers and not yet read
  bool empty_open_ = false;  // an empty container started and not yet ended
  // open containers, innermost last; typical payloads nest only a few levels, so no allocation
  boost::container::small_vector<Frame, 8> stack_;
  Value result_;
  std::string problem_;
  std::size_t problem_offset_ = SerializeError::npos;
};

// ---------------------------------------------------------------------------------------------
// The serializer
// ---------------------------------------------------------------------------------------------

class MsgpackSerializer final : public Serializer {
 public:
  using Serializer::decode;
  using Serializer::encode;

  std::string_view name() const noexcept override { return "msgpack"; }
  std::string_view python_class() const noexcept override { return "MsgpackSerializer"; }
  std::uint8_t id(Dialect dialect) const noexcept override {
    return dialect == Dialect::pyro4 ? 6 : 4;
  }
  // Pyro's object_hook runs on every map as msgpack finishes it: innermost first.
  ReconstructOrder reconstruct_order() const noexcept override {
    return ReconstructOrder::bottom_up;
  }

  void encode(const Value& value, std::string& out, const EncodeOptions& options) const override;
  Value decode(std::string_view data, const DecodeOptions& options) const override;
  void encode_call(const CallEnvelope& call, std::string& out,
                   const EncodeOptions& options) const override;

 private:
  class Encoder;
};

class MsgpackSerializer::Encoder {
 public:
  Encoder(std::string& out, const EncodeOptions& options)
      : out_(out), sink_(out), packer_(sink_), options_(options) {}

  void write(const Value& v, std::size_t depth) {
    if (depth > max_encode_depth) throw SerializeError("msgpack: recursion limit exceeded");
    switch (v.kind()) {
      case Kind::none:
        packer_.pack_nil();
        return;
      case Kind::bool_:
        if (v.as_bool()) {
          packer_.pack_true();
        } else {
          packer_.pack_false();
        }
        return;
      case Kind::int_:
        write_int(v);
        return;
      case Kind::float_:
        write_float64(ValueAccess::float_value(v));
        return;
      case Kind::complex: {
        const std::complex<double> c = v.as_complex();
        char body[16];
        store_le_double(body, c.real());
        store_le_double(body + 8, c.imag());
        write_ext(ext_complex, body, sizeof body);
        return;
      }
      case Kind::str:
        write_str(ValueAccess::str_unchecked(v));
        return;
      case Kind::bytes: {
        const std::string_view b = v.bytes_view();
        check_length(b.size(), "bytes");
        packer_.pack_bin(static_cast<std::uint32_t>(b.size()));
        if (options_.external != nullptr && b.size() >= external_bytes_min) {
          options_.external->push_back({out_.size(), v});
          return;
        }
        packer_.pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
        return;
      }
      case Kind::tuple:
      case Kind::list: {
        const std::span<const Value> items = v.items();
        write_array_header(items.size(), v.is_tuple() ? "tuple" : "list");
        for (const Value& item : items) {
          write(item, depth + 1);
        }
        return;
      }
      case Kind::dict: {
        const Dict& d = v.as_dict();
        write_map_header(d.size());
        for (const auto& [key, item] : d) {
          write(key, depth + 1);
          write(item, depth + 1);
        }
        return;
      }
      case Kind::set: {
        // Pyro's hook sends a set as tuple(set).
        const Set& s = v.as_set();
        write_array_header(s.size(), "set");
        for (const Value& item : s) {
          write(item, depth + 1);
        }
        return;
      }
      case Kind::frozenset:
        cannot_serialize("frozenset", "MsgpackSerializer");
      case Kind::datetime: {
        double timestamp = 0;
        if (!datetime_timestamp(ValueAccess::datetime_micros(v), timestamp)) {
          throw SerializeError("msgpack: cannot convert datetime " + v.as_datetime().iso() +
                               " to a timestamp in the local timezone");
        }
        char body[8];
        store_le_double(body, timestamp);
        write_ext(ext_datetime, body, sizeof body);
        return;
      }
      case Kind::date: {
        char body[8];
        store_le64(body, static_cast<std::uint64_t>(ValueAccess::date_days(v) + ordinal_1970));
        write_ext(ext_date, body, sizeof body);
        return;
      }
      case Kind::object: {
        // Pyro's hook returns class_to_dict(obj), which msgpack packs at the same depth.
        const Value dict = object_dict(v, options_);
        if (dict.is_object()) {
          throw SerializeError("msgpack: converter for " +
                               v.as_object()->class_name(options_.dialect) +
                               " returned another object");
        }
        write(dict, depth);
        return;
      }
    }
  }

  void write_call(const CallEnvelope& call) {
    packer_.pack_array(4);
    write_text(call.object, "object id");
    write_text(call.method, "method name");
    write(call.args, 1);
    write(call.kwargs, 1);
  }

 private:
  static void check_length(std::size_t n, const char* what) {
    // msgpack-python: ValueError("%s is too large")
    if (n > max_length) throw SerializeError(std::string("msgpack: ") + what + " is too large");
  }

  // Always float64, like msgpack-python. (msgpack-cxx's pack_double writes integral doubles
  // such as 2.0 or -0.0 as ints, which Python would read back as ints.)
  void write_float64(double d) {
    const auto bits = std::bit_cast<std::uint64_t>(d);
    char buf[9];
    buf[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) {
      buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    }
    sink_.write(buf, sizeof buf);
  }

  // The fix formats (one byte of header, or the value itself) are written directly: they are
  // what most values of a call take, and going through the packer costs more than the byte.
  void write_array_header(std::size_t n, const char* what) {
    if (n < 16) {
      out_.push_back(static_cast<char>(0x90 | n));  // fixarray
      return;
    }
    check_length(n, what);
    packer_.pack_array(static_cast<std::uint32_t>(n));
  }

  void write_map_header(std::size_t n) {
    if (n < 16) {
      out_.push_back(static_cast<char>(0x80 | n));  // fixmap
      return;
    }
    check_length(n, "dict");
    packer_.pack_map(static_cast<std::uint32_t>(n));
  }

  void write_int(const Value& v) {
    if (ValueAccess::is_small_int(v)) {
      const std::int64_t i = ValueAccess::small_int(v);
      if (i >= -32 && i < 128) {
        out_.push_back(static_cast<char>(i));  // positive / negative fixint
        return;
      }
      // Non-negative ints take the uint formats, negative ones the int formats, smallest first:
      // msgpack-cxx chooses exactly as msgpack-python does.
      packer_.pack_int64(i);
      return;
    }
    bool negative = false;
    const std::vector<std::uint8_t> magnitude = ValueAccess::int_magnitude(v, negative);
    if (!negative && magnitude.size() <= 8) {
      std::uint64_t u = 0;
      for (std::size_t i = magnitude.size(); i-- > 0;) {
        u = (u << 8) | magnitude[i];
      }
      packer_.pack_uint64(u);
      return;
    }
    // Beyond [-2**63, 2**64): msgpack overflows, Pyro's hook sends str(int) as ext 0x31.
    std::string text;
    try {
      text = v.int_text();
    } catch (const ValueError& e) {
      throw SerializeError(std::string("msgpack: ") + e.what());
    }
    write_ext(ext_int, text.data(), text.size());
  }

  void write_str(std::string_view s) {
    // A str may hold lone surrogates (marshal and json can carry them); Python cannot encode
    // those as UTF-8. They start with 0xED, so only strings with that byte need a closer look.
    if (std::memchr(s.data(), 0xED, s.size()) != nullptr &&
        detail::find_invalid_utf8(s, false) != detail::utf8_valid) {
      throw SerializeError("msgpack: str with a lone surrogate cannot be encoded as UTF-8");
    }
    if (s.size() < 32) {  // fixstr: header and text in one append
      char buf[32];
      buf[0] = static_cast<char>(0xa0 | s.size());
      std::memcpy(buf + 1, s.data(), s.size());
      out_.append(buf, 1 + s.size());
      return;
    }
    check_length(s.size(), "str");
    packer_.pack_str(static_cast<std::uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }

  void write_text(const std::string& s, const char* what) {
    if (!is_ascii(s) && detail::find_invalid_utf8(s, false) != detail::utf8_valid) {
      throw SerializeError(std::string("msgpack: ") + what + " is not valid UTF-8");
    }
    write_str(s);
  }

  // msgpack-python's ExtType: fixext 1/2/4/8/16 for those exact sizes, else ext 8/16/32; so is
  // msgpack-cxx's pack_ext.
  void write_ext(std::int8_t code, const char* body, std::size_t n) {
    check_length(n, "ext data");
    packer_.pack_ext(n, code);
    packer_.pack_ext_body(body, static_cast<std::uint32_t>(n));
  }

  std::string& out_;
  StringSink sink_;
  msgpack::packer<StringSink> packer_;
  const EncodeOptions& options_;
};

void MsgpackSerializer::encode(const Value& value, std::string& out,
                               const EncodeOptions& options) const {
  Encoder encoder(out, options);
  encoder.write(value, 0);
}

Value MsgpackSerializer::decode(std::string_view data, const DecodeOptions& options) const {
  Builder builder(data, options.max_depth);
  std::size_t offset = 0;
  const bool complete = msgpack::parse(data.data(), data.size(), offset, builder);
  if (!builder.problem().empty()) {
    // The builder's own stops report the parser's position; truncation and bad bytes theirs.
    const std::size_t at =
        builder.problem_offset() != SerializeError::npos ? builder.problem_offset() : offset;
    throw SerializeError("msgpack: " + builder.problem() + " at offset " + std::to_string(at), at);
  }
  if (!complete) {
    throw SerializeError("msgpack: malformed input at offset " + std::to_string(offset), offset);
  }
  if (offset != data.size()) {
    // msgpack.unpackb raises ExtraData.
    throw SerializeError("msgpack: extra data after the value at offset " + std::to_string(offset),
                         offset);
  }
  return builder.take_result();
}

void MsgpackSerializer::encode_call(const CallEnvelope& call, std::string& out,
                                    const EncodeOptions& options) const {
  Encoder encoder(out, options);
  encoder.write_call(call);
}

}  // namespace

const Serializer& msgpack_serializer() {
  static const MsgpackSerializer instance;
  return instance;
}

}  // namespace pyro
