// json.cpp — the json codec: Python's json.dumps(ensure_ascii=False) byte for byte, and a reader
// that accepts exactly what Pyro's JsonSerializer.loads accepts (bytes.decode("utf-8") followed
// by json.loads), NaN and Infinity included.
//
// The reader is RapidJSON's SAX Reader with a handler that builds Values. Where RapidJSON 1.1 and
// Python's json differ, Python wins: numbers RapidJSON cannot hold in a double are read again
// (see quote_long_numbers), and the spellings "-NaN", "Inf" and "-Inf" that RapidJSON accepts
// are refused. One difference remains: RapidJSON refuses lone surrogate escapes ("\ud800"),
// which Python accepts but which no Python peer can send (its UTF-8 encoding of the payload
// fails first).
#include "pyro/json.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "detail/text.hpp"
#include "detail/value_access.hpp"

namespace pyro {

namespace {

using detail::ValueAccess;

constexpr std::string_view serializer_class = "JsonSerializer";
// Python's json encoder recurses through the interpreter and fails with RecursionError around
// sys.getrecursionlimit() (1000) levels; we refuse deeper nesting the same way.
constexpr std::size_t max_encode_depth = 1000;
constexpr char hex_digits[] = "0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Eight bytes at a time (SWAR): each test is exact as "does any byte match".
// ---------------------------------------------------------------------------------------------

constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t highs = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}
inline std::uint64_t zero_bytes(std::uint64_t x) {
  return (x - ones) & ~x & highs;
}
inline std::uint64_t bytes_equal(std::uint64_t x, unsigned char c) {
  return zero_bytes(x ^ (ones * c));
}
inline std::uint64_t bytes_below_0x20(std::uint64_t x) {
  return (x - ones * 0x20) & ~x & highs;
}

// Advances p over bytes for which `special` finds nothing, eight at a time; stops at the first
// block that may hold a special byte (exactly at it on little-endian hosts).
template <class Special>
inline const char* skip_blocks(const char* p, const char* end, Special special) {
  while (end - p >= 8) {
    const std::uint64_t hits = special(load8(p));
    if (hits != 0) {
      if constexpr (std::endian::native == std::endian::little) p += std::countr_zero(hits) / 8;
      return p;
    }
    p += 8;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

// What json.dumps does with each byte of a str: 0 = copy, 'u' = \u00XX, 'S' = 0xED (maybe the
// start of a lone surrogate), anything else = that short escape after a backslash.
constexpr auto escape_table = [] {
  std::array<char, 256> t{};
  for (auto& kind : std::span(t).first(0x20))
    kind = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  t[0xED] = 'S';
  return t;
}();

inline std::uint64_t needs_escape(std::uint64_t x) {
  return bytes_below_0x20(x) | bytes_equal(x, '"') | bytes_equal(x, '\\') | bytes_equal(x, 0xED);
}

// "\\u" and four lowercase hex digits, as Python's json writes them.
void append_u_escape(std::string& out, unsigned cp) {
  char esc[6] = {'\\', 'u'};
  for (int i = 0; i < 4; ++i) {
    esc[2 + i] = hex_digits[(cp >> (12 - 4 * i)) & 15];
  }
  out.append(esc, sizeof esc);
}

// A JSON string as Python writes it with ensure_ascii=False: '"', '\' and control characters
// escaped, everything else raw UTF-8 (0x7F and U+2028 included). Lone surrogates, which Python
// could not encode to UTF-8 at all, are written as "\udXXX" escapes, which Python reads back.
void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;
  for (;;) {
    p = skip_blocks(p, end, needs_escape);
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p);
    const char kind = escape_table[c];
    if (kind == 0) {
      ++p;
      continue;
    }
    if (kind == 'S') {
      // ED A0..BF xx is U+D800..U+DFFF; ED 80..9F xx is an ordinary character.
      if (end - p < 3 || static_cast<unsigned char>(p[1]) < 0xA0) {
        ++p;
        continue;
      }
      out.append(run, p);
      append_u_escape(out, 0xD000u | ((static_cast<unsigned char>(p[1]) & 0x3Fu) << 6) |
                               (static_cast<unsigned char>(p[2]) & 0x3Fu));
      p += 3;
      run = p;
      continue;
    }
    out.append(run, p);
    if (kind == 'u') {
      append_u_escape(out, c);
    } else {
      const char esc[2] = {'\\', kind};
      out.append(esc, 2);
    }
    ++p;
    run = p;
  }
  out.append(run, end);
  out.push_back('"');
}

void append_int64(std::string& out, std::int64_t i) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, res.ptr);
}

// float.__repr__ with json's spellings of the non-finite values.
void append_float(std::string& out, double d) {
  if (std::isnan(d)) {
    out.append("NaN");
  } else if (std::isinf(d)) {
    out.append(d > 0 ? "Infinity" : "-Infinity");
  } else {
    detail::append_float_repr(out, d);
  }
}

// Python's type(key).__name__ as json's key error shows it (the C type name for datetimes).
std::string key_type_name(const Value& key) {
  switch (key.kind()) {
    case Kind::datetime:
      return "datetime.datetime";
    case Kind::date:
      return "datetime.date";
    case Kind::object: {
      const std::string name = key.as_object()->class_name(Dialect::pyro5);
      const auto dot = name.rfind('.');
      return dot == std::string::npos ? name : name.substr(dot + 1);
    }
    default:
      return std::string(key.type_name());
  }
}

// Serializer's helpers for codec implementations, reachable from the encoder.
struct Helpers : Serializer {
  using Serializer::cannot_serialize;
  using Serializer::object_dict;
};

class Encoder {
 public:
  Encoder(std::string& out, const EncodeOptions& options) : out_(out), options_(options) {}

  void value(const Value& v, std::size_t depth) {
    switch (v.kind()) {
      case Kind::none:
        out_.append("null");
        return;
      case Kind::bool_:
        out_.append(v.as_bool() ? "true" : "false");
        return;
      case Kind::int_:
        if (ValueAccess::is_small_int(v)) {
          append_int64(out_, ValueAccess::small_int(v));
        } else {
          out_.append(v.int_text());  // ValueError beyond 4300 digits, as CPython
        }
        return;
      case Kind::float_:
        append_float(out_, ValueAccess::float_value(v));
        return;
      case Kind::str:
        append_string(out_, ValueAccess::str_unchecked(v));
        return;
      case Kind::tuple:
      case Kind::list:
        array(ValueAccess::items_unchecked(v), depth + 1);
        return;
      case Kind::set:  // Pyro's default(): tuple(set)
        array(v.as_set().items(), depth + 1);
        return;
      case Kind::dict:
        object(v.as_dict(), depth + 1);
        return;
      case Kind::datetime:
        string_ascii(v.as_datetime().iso());
        return;
      case Kind::date:
        string_ascii(v.as_date().iso());
        return;
      case Kind::object: {
        check_depth(depth + 1);
        value(Helpers::object_dict(v, options_), depth + 1);
        return;
      }
      case Kind::complex:
      case Kind::bytes:
      case Kind::frozenset:
        Helpers::cannot_serialize(v.type_name(), serializer_class);
    }
  }

  void array(std::span<const Value> items, std::size_t depth) {
    check_depth(depth);
    out_.push_back('[');
    bool first = true;
    for (const Value& item : items) {
      if (!first) out_.append(", ");
      first = false;
      value(item, depth);
    }
    out_.push_back(']');
  }

  void object(const Dict& dict, std::size_t depth) {
    check_depth(depth);
    out_.push_back('{');
    bool first = true;
    for (const auto& [k, v] : dict) {
      if (!first) out_.append(", ");
      first = false;
      key(k);
      out_.append(": ");
      value(v, depth);
    }
    out_.push_back('}');
  }

  // json.dumps turns int, float, bool and None keys into their JSON text, quoted.
  void key(const Value& k) {
    switch (k.kind()) {
      case Kind::str:
        append_string(out_, ValueAccess::str_unchecked(k));
        return;
      case Kind::int_:
        out_.push_back('"');
        value(k, 0);
        out_.push_back('"');
        return;
      case Kind::float_:
        out_.push_back('"');
        append_float(out_, ValueAccess::float_value(k));
        out_.push_back('"');
        return;
      case Kind::bool_:
        out_.append(k.as_bool() ? "\"true\"" : "\"false\"");
        return;
      case Kind::none:
        out_.append("\"null\"");
        return;
      default:
        throw TypeError("keys must be str, int, float, bool or None, not " + key_type_name(k));
    }
  }

  void string_ascii(const std::string& s) {
    out_.push_back('"');
    out_.append(s);
    out_.push_back('"');
  }

 private:
  static void check_depth(std::size_t depth) {
    if (depth > max_encode_depth) {
      throw ValueError("json: nesting deeper than " + std::to_string(max_encode_depth) +
                       " levels while encoding");
    }
  }

  std::string& out_;
  const EncodeOptions& options_;
};

// ---------------------------------------------------------------------------------------------
// Decoder: RapidJSON's SAX reader builds Values through a handler.
// ---------------------------------------------------------------------------------------------

// RapidJSON 1.1 refuses numbers it cannot hold in a double even with kParseNumbersAsStringsFlag
// ("Number too big to be stored in double": ints of more than ~309 digits, exponents beyond
// 308). Python writes ints of up to 4300 digits. When RapidJSON refuses such a number, the
// document is read again with every long number token quoted; the handler recognises those
// strings by where they end and converts them as numbers.
constexpr std::size_t long_number = 300;

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The payload as a RapidJSON input stream (Peek/Take/Tell); '\0' marks the end for RapidJSON,
// so a NUL in the payload is checked for separately.
struct Input {
  using Ch = char;
  Input(const char* b, std::size_t n) : begin(b), p(b), end(b + n) {}
  Ch Peek() const { return p < end ? *p : '\0'; }
  Ch Take() { return p < end ? *p++ : '\0'; }
  std::size_t Tell() const { return static_cast<std::size_t>(p - begin); }
  // unused (in situ parsing only)
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

  const char* begin;
  const char* p;
  const char* end;
};

class Handler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Handler> {
 public:
  Handler(const Input& input, std::size_t max_depth, const std::vector<std::size_t>* quoted_ends)
      : input_(input), max_depth_(max_depth), quoted_ends_(quoted_ends) {}

  bool Null() { return push(Value()); }
  bool Bool(bool b) { return push(Value(b)); }
  bool Int(int i) { return push(Value(i)); }
  bool Uint(unsigned u) { return push(Value(u)); }
  bool Int64(std::int64_t i) { return push(Value(i)); }
  bool Uint64(std::uint64_t u) { return push(Value(u)); }  // a big int above 2**63 - 1
  // RapidJSON's own decimal conversion is not always correctly rounded (and some tiny values
  // come out absurd), and it gives ints beyond 64 bits as doubles: the token's text is read
  // instead, as Python's float() and int() would.
  bool Double(double) {
    const std::string_view t = token_before(input_.Tell());
    return RawNumber(t.data(), static_cast<rapidjson::SizeType>(t.size()), true);
  }
  bool RawNumber(const char* text, rapidjson::SizeType n, bool) {
    Value v;
    // errors point at the token's start; a quoted long number also has its closing quote behind
    const std::size_t quote =
        quoted_ends_ != nullptr && input_.Tell() > 0 && input_.begin[input_.Tell() - 1] == '"' ? 1
                                                                                               : 0;
    if (!number(std::string_view(text, n), v)) {
      error_offset_ = input_.Tell() - n - quote - quote;
      return false;
    }
    return push(std::move(v));
  }
  bool String(const char* text, rapidjson::SizeType n, bool) {
    if (quoted_ends_ != nullptr &&
        std::binary_search(quoted_ends_->begin(), quoted_ends_->end(), input_.Tell())) {
      return RawNumber(text, n, true);  // one of the long numbers quoted for the second reading
    }
    return push(ValueAccess::str_trusted(std::string_view(text, n)));
  }
  bool Key(const char* text, rapidjson::SizeType n, bool) {
    frames_.back().key = ValueAccess::str_trusted(std::string_view(text, n));
    return true;
  }
  bool StartObject() { return open(true); }
  bool StartArray() { return open(false); }
  bool EndObject(rapidjson::SizeType) {
    Value done(std::move(frames_.back().dict));
    frames_.pop_back();
    return push(std::move(done));
  }
  bool EndArray(rapidjson::SizeType) {
    Value done = Value::list(std::move(frames_.back().items));
    frames_.pop_back();
    return push(std::move(done));
  }

  Value result() { return std::move(result_); }
  // Why the handler stopped the reader, with where; empty when it did not.
  const std::string& error() const { return error_; }
  std::size_t error_offset() const { return error_offset_; }

 private:
  // The container being read: items go straight into their final storage.
  struct Container {
    bool object;
    ValueVector items;  // an array's
    Dict dict;          // an object's
    Value key;          // the object's key waiting for its value
  };

  bool push(Value v) {
    if (frames_.empty()) {
      result_ = std::move(v);
    } else if (Container& top = frames_.back(); top.object) {
      top.dict.set(std::move(top.key), std::move(v));  // a repeated key: last value wins
    } else {
      top.items.push_back(std::move(v));
    }
    return true;
  }
  bool open(bool object) {
    if (frames_.size() >= max_depth_) {
      stop("nesting deeper than " + std::to_string(max_depth_) + " levels");
      error_offset_ -= 1;  // RapidJSON has consumed the bracket
      return false;
    }
    frames_.emplace_back().object = object;
    return true;
  }
  bool stop(std::string why) {
    error_ = std::move(why);
    error_offset_ = input_.Tell();
    return false;
  }
  bool stop_number(std::string why) {
    error_ = std::move(why);
    return false;  // RawNumber sets the offset
  }

  // A number token as Python's json reads it: NaN/Infinity/-Infinity, an int of any size (up to
  // CPython's 4300 digits), or a float (out-of-range ones become inf or 0, as float() does).
  bool number(std::string_view t, Value& out) {
    if (t == "NaN") {
      out = Value(std::numeric_limits<double>::quiet_NaN());
      return true;
    }
    if (t == "Infinity" || t == "-Infinity") {
      out = Value(t[0] == '-' ? -std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::infinity());
      return true;
    }
    if (!t.empty() && !is_digit(t.back()))
      return stop_number("invalid number '" + std::string(t.substr(0, 32)) + "'");
    bool integral = true;
    for (const char c : t) {
      if (c == '.' || c == 'e' || c == 'E') {
        integral = false;
        break;
      }
    }
    if (integral) {
      const std::size_t digits = t.size() - (t[0] == '-');
      if (digits <= 18) {
        std::int64_t v = 0;
        std::from_chars(t.data(), t.data() + t.size(), v);
        out = Value(v);
        return true;
      }
      try {
        out = Value::int_from_text(t);
      } catch (const ValueError& e) {
        return stop_number(e.what());
      }
      return true;
    }
    double d = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      const auto e = t.find_first_of("eE");
      const bool overflow = e == std::string_view::npos || t[e + 1] != '-';
      d = overflow ? std::numeric_limits<double>::infinity() : 0.0;
      if (t[0] == '-') d = -d;
    } else if (r.ec != std::errc() || r.ptr != t.data() + t.size()) {
      return stop_number("invalid number '" + std::string(t.substr(0, 32)) + "'");
    }
    out = Value(d);
    return true;
  }

  // The number token that ends at end (RapidJSON has just consumed it).
  std::string_view token_before(std::size_t end) const {
    std::size_t start = end;
    while (start > 0) {
      const char c = input_.begin[start - 1];
      if (!(is_digit(c) || c == '-' || c == '+' || c == '.' || (c >= 'A' && c <= 'Z') ||
            (c >= 'a' && c <= 'z'))) {
        break;
      }
      --start;
    }
    return std::string_view(input_.begin + start, end - start);
  }

  const Input& input_;
  std::size_t max_depth_;
  const std::vector<std::size_t>* quoted_ends_;
  std::vector<Container> frames_;
  Value result_;
  std::string error_;
  std::size_t error_offset_ = 0;
};

// Recursive descent (RapidJSON's faster mode): the handler refuses nesting beyond max_depth, so
// the recursion stays bounded.
constexpr unsigned parse_flags = rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseNanAndInfFlag | rapidjson::kParseStopWhenDoneFlag;

[[noreturn]] void fail(std::string_view data, std::size_t offset, const std::string& what) {
  std::string message = "json: " + what + " at offset " + std::to_string(offset) + ", found ";
  if (offset >= data.size()) {
    message += "end of input";
  } else if (data[offset] >= 0x20 && data[offset] < 0x7F) {
    message += '\'';
    message += data[offset];
    message += '\'';
  } else {
    const auto b = static_cast<unsigned char>(data[offset]);
    message += "byte 0x";
    message += hex_digits[b >> 4];
    message += hex_digits[b & 15];
  }
  throw SerializeError(message, offset);
}

// RapidJSON's error, in this codec's words.
std::string describe(rapidjson::ParseErrorCode code, std::string_view data, std::size_t offset) {
  using namespace rapidjson;
  const bool control = offset < data.size() && static_cast<unsigned char>(data[offset]) < 0x20;
  switch (code) {
    case kParseErrorDocumentEmpty:
      return "expected a value";
    case kParseErrorDocumentRootNotSingular:
      return "extra data after the document";
    case kParseErrorValueInvalid:
      return "expected a value";
    case kParseErrorObjectMissName:
      return "expected a property name in double quotes";
    case kParseErrorObjectMissColon:
      return "expected ':'";
    case kParseErrorObjectMissCommaOrCurlyBracket:
      return "expected ',' or '}'";
    case kParseErrorArrayMissCommaOrSquareBracket:
      return "expected ',' or ']'";
    case kParseErrorStringUnicodeEscapeInvalidHex:
      return "invalid \\uXXXX escape";
    case kParseErrorStringUnicodeSurrogateInvalid:
      return "lone surrogate in \\uXXXX escape";
    case kParseErrorStringEscapeInvalid:
      return control ? "invalid control character in string" : "invalid escape";
    case kParseErrorStringMissQuotationMark:
      return offset < data.size() ? "invalid control character in string" : "unterminated string";
    case kParseErrorStringInvalidEncoding:
      return control ? "invalid control character in string" : "invalid UTF-8";
    case kParseErrorNumberMissFraction:
      return "expected digits after the decimal point";
    case kParseErrorNumberMissExponent:
      return "expected digits in the exponent";
    default:
      return GetParseError_En(code);
  }
}

// Copies the document with every number token longer than long_number characters (or with a
// 3-digit exponent) in quotes; quoted_ends receives where each quoted token ends in the copy.
std::string quote_long_numbers(std::string_view data, std::vector<std::size_t>& quoted_ends) {
  std::string out;
  out.reserve(data.size() + 64);
  std::size_t i = 0;
  while (i < data.size()) {
    const char c = data[i];
    if (c == '"') {  // copy a string literal whole
      std::size_t j = i + 1;
      while (j < data.size() && data[j] != '"')
        j += data[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, data.size());
      out.append(data.substr(i, j - i));
      i = j;
      continue;
    }
    if (c == '-' || is_digit(c)) {
      std::size_t j = i + 1;
      std::size_t exponent_digits = 0;
      bool in_exponent = false;
      while (j < data.size() &&
             (is_digit(data[j]) || data[j] == '.' || data[j] == 'e' || data[j] == 'E' ||
              ((data[j] == '+' || data[j] == '-') && in_exponent))) {
        if (data[j] == 'e' || data[j] == 'E') in_exponent = true;
        if (in_exponent && is_digit(data[j])) ++exponent_digits;
        ++j;
      }
      const std::string_view token = data.substr(i, j - i);
      if (token.size() > long_number || exponent_digits >= 3) {
        out.push_back('"');
        out.append(token);
        out.push_back('"');
        quoted_ends.push_back(out.size());
      } else {
        out.append(token);
      }
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

// An offset in the copy made by quote_long_numbers, as an offset in the original document.
std::size_t original_offset(std::size_t offset, const std::vector<std::size_t>& quoted_ends,
                            std::string_view copy) {
  std::size_t shift = 0;
  for (const std::size_t end : quoted_ends) {
    if (offset >= end) {
      shift += 2;
    } else {
      // inside the token: one quote before it (the token starts after the opening quote)
      std::size_t open = end - 1;
      while (open > 0 && copy[open - 1] != '"')
        --open;
      if (offset >= open) shift += 1;
      break;
    }
  }
  return offset - std::min(shift, offset);
}

// One reading of the document by RapidJSON. original is the payload as received; data is what
// is read (the same, or the copy with long numbers quoted, whose quoted_ends are given).
Value parse(std::string_view original, std::string_view data, std::size_t max_depth,
            const std::vector<std::size_t>* quoted_ends, rapidjson::ParseErrorCode& code) {
  auto error_at = [&](std::size_t offset, const std::string& what) {
    fail(original, quoted_ends ? original_offset(offset, *quoted_ends, data) : offset, what);
  };
  Input input(data.data(), data.size());
  Handler handler(input, max_depth, quoted_ends);
  rapidjson::Reader reader;
  const rapidjson::ParseResult result = reader.Parse<parse_flags>(input, handler);
  code = result.Code();
  if (result.IsError()) {
    if (code == rapidjson::kParseErrorTermination && !handler.error().empty()) {
      error_at(handler.error_offset(), handler.error());
    }
    if (code == rapidjson::kParseErrorNumberTooBig && quoted_ends == nullptr) return Value();
    error_at(result.Offset(), describe(code, data, result.Offset()));
  }
  // RapidJSON stops at the end of the value; only whitespace may follow (a NUL looks like the
  // end to RapidJSON, so it is checked here too).
  std::size_t rest = input.Tell();
  while (rest < data.size() &&
         (data[rest] == ' ' || data[rest] == '\t' || data[rest] == '\n' || data[rest] == '\r')) {
    ++rest;
  }
  if (rest != data.size()) error_at(rest, "extra data after the document");
  return handler.result();
}

// ---------------------------------------------------------------------------------------------
// The serializer
// ---------------------------------------------------------------------------------------------

// Pyro's JsonSerializer (Pyro5 id 3, Pyro4 id 2).
class JsonSerializer final : public Serializer {
 public:
  std::string_view name() const noexcept override { return "json"; }
  std::string_view python_class() const noexcept override { return serializer_class; }
  std::uint8_t id(Dialect dialect) const noexcept override {
    return dialect == Dialect::pyro5 ? 3 : 2;
  }

  void encode(const Value& value, std::string& out, const EncodeOptions& options) const override {
    const std::size_t start = out.size();
    try {
      Encoder(out, options).value(value, 0);
    } catch (...) {
      out.resize(start);  // no half-written payload
      throw;
    }
  }

  Value decode(std::string_view data, const DecodeOptions& options) const override {
    rapidjson::ParseErrorCode code;
    Value v = parse(data, data, options.max_depth, nullptr, code);
    if (code != rapidjson::kParseErrorNumberTooBig) return v;
    // A number RapidJSON cannot hold: read again with the long numbers quoted (see above).
    std::vector<std::size_t> quoted_ends;
    const std::string quoted = quote_long_numbers(data, quoted_ends);
    return parse(data, quoted, options.max_depth, &quoted_ends, code);
  }

  // Pyro's JsonSerializer.dumpsCall: {"object": OBJ, "method": METHOD, "params": ARGS,
  // "kwargs": KWARGS} in this order.
  void encode_call(const CallEnvelope& call, std::string& out,
                   const EncodeOptions& options) const override {
    for (const std::string* s : {&call.object, &call.method}) {
      if (detail::find_invalid_utf8(*s, true) != detail::utf8_valid) {
        throw SerializeError("json: object id and method name must be valid UTF-8");
      }
    }
    const std::size_t start = out.size();
    try {
      Encoder encoder(out, options);
      out.append("{\"object\": ");
      append_string(out, call.object);
      out.append(", \"method\": ");
      append_string(out, call.method);
      out.append(", \"params\": ");
      encoder.value(call.args, 1);
      out.append(", \"kwargs\": ");
      encoder.value(call.kwargs, 1);
      out.push_back('}');
    } catch (...) {
      out.resize(start);
      throw;
    }
  }

  // Pyro's JsonSerializer.loadsCall reads the four keys and ignores any others.
  CallEnvelope decode_call(std::string_view data, const DecodeOptions& options) const override {
    Value decoded = decode(data, options);
    if (!decoded.is_dict()) {
      throw SerializeError("json: invalid call envelope: expected an object, got " +
                           std::string(decoded.type_name()));
    }
    Dict& dict = decoded.as_dict();
    std::vector<Value> parts;
    parts.reserve(4);
    for (const std::string_view key : {"object", "method", "params", "kwargs"}) {
      Value* v = dict.find(ValueAccess::str_trusted(key));
      if (v == nullptr) {
        throw SerializeError("json: invalid call envelope: missing \"" + std::string(key) + "\"");
      }
      parts.push_back(std::move(*v));
    }
    return call_from_sequence(Value::tuple(std::move(parts)), "json");
  }
};

}  // namespace

const Serializer& json_serializer() {
  static const JsonSerializer instance;
  return instance;
}

}  // namespace pyro
