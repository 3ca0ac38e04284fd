// serpent.cpp — the serpent codec: Python literal expressions, written like serpent 1.41's
// compact mode and read like ast.literal_eval.
#include "pyro/serpent.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "detail/text.hpp"
#include "detail/value_access.hpp"

namespace pyro {

namespace {

using detail::ValueAccess;

constexpr std::string_view header = "# serpent utf-8 python3.2\n";
// serpent's Serializer.maximum_level: min(sys.getrecursionlimit() // 5, 1000) = 200 by default.
constexpr int max_encode_level = 200;

// =============================================================================================
// Encoder
// =============================================================================================

// Writes into a chunk on the stack and appends full chunks to the output string: one bounds
// check per token, and the output is written once (growing the string by resize() would first
// zero-fill it, and the tokens would then miss the cache on a large payload).
class Encoder {
 public:
  Encoder(std::string& out, const EncodeOptions& options)
      : out_(out),
        pos_(buf_),
        options_(options),
        bytes_repr_(options.bytes_repr && options.dialect == Dialect::pyro5) {}

  // The frequent scalars inline (in the containers' loops too), by their tag, before the kind()
  // mapping; everything else out of line.
  [[gnu::always_inline]] void write(const Value& v, int level) {
    if (ValueAccess::is_small_int(v)) {
      pos_ = detail::write_int(room(24), ValueAccess::small_int(v));
    } else if (v.is_str()) {
      write_str(ValueAccess::str_unchecked(v));
    } else if (v.is_float()) {
      write_float(ValueAccess::float_value(v));
    } else {
      write_other(v, level);
    }
  }

  [[gnu::noinline]] void write_other(const Value& v, int level) {
    switch (v.kind()) {
      case Kind::none:
        put("None");
        return;
      case Kind::bool_:
        put(v.as_bool() ? std::string_view("True") : std::string_view("False"));
        return;
      case Kind::int_:
        put(v.int_text());
        return;
      case Kind::float_:
        write_float(ValueAccess::float_value(v));
        return;
      case Kind::complex: {
        const auto c = v.as_complex();
        put('(');
        write_float(c.real());
        if (c.imag() >= 0) put('+');  // serpent's rule, hence its (1.0+-0.0j) quirk
        write_float(c.imag());
        put("j)");
        return;
      }
      case Kind::str:
        write_str(ValueAccess::str_unchecked(v));
        return;
      case Kind::bytes:
        write_bytes(v.bytes_view());
        return;
      case Kind::tuple: {
        const auto& items = ValueAccess::items_unchecked(v);
        put('(');
        if (!items.empty()) check_level(level + 1);
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (i) put(',');
          write(items[i], level + 1);
        }
        if (items.size() == 1) put(',');
        put(')');
        return;
      }
      case Kind::list: {
        const auto& items = ValueAccess::items_unchecked(v);
        put('[');
        if (!items.empty()) check_level(level + 1);
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (i) put(',');
          write(items[i], level + 1);
        }
        put(']');
        return;
      }
      case Kind::dict: {
        put('{');
        bool first = true;
        for (const auto& [key, value] : v.as_dict()) {
          if (!first) put(',');
          check_key(key);
          if (first) check_level(level + 1);
          first = false;
          write(key, level + 1);
          put(':');
          write(value, level + 1);
        }
        put('}');
        return;
      }
      case Kind::set:
      case Kind::frozenset: {
        const auto& set = v.as_set();
        if (set.empty()) {  // there is no empty set literal: serpent writes an empty tuple
          put("()");
          return;
        }
        put('{');
        bool first = true;
        for (const auto& item : set) {
          if (!first) put(',');
          check_key(item);
          if (first) check_level(level + 1);
          first = false;
          write(item, level + 1);
        }
        put('}');
        return;
      }
      case Kind::datetime:
        write_str(v.as_datetime().iso());
        return;
      case Kind::date:
        write_str(v.as_date().iso());
        return;
      case Kind::object:
        write(Serializer::object_dict(v, options_), level);
        return;
    }
  }

  void put(char c) {
    *room(1) = c;
    ++pos_;
  }
  void put(std::string_view text) {
    if (text.size() <= small_token) {
      std::memcpy(room(text.size()), text.data(), text.size());
      pos_ += text.size();
    } else {
      flush();
      out_.append(text);
    }
  }
  [[gnu::always_inline]] void write_str(std::string_view text) {
    if (text.size() <= small_token) [[likely]] {
      pos_ = detail::write_str_repr(room(detail::str_repr_bound(text.size())), text);
    } else {
      flush();
      detail::append_str_repr(out_, text);
    }
  }
  // Appends what is still in the chunk; call once, at the end.
  void finish() { flush(); }

 private:
  static constexpr std::size_t chunk_size = 16384;
  static constexpr std::size_t small_token = 1024;  // str_repr_bound(small_token) < chunk_size

  // Room for n <= chunk_size bytes at pos_; the caller advances pos_.
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(buf_ + chunk_size - pos_) < n) [[unlikely]] {
      flush();
    }
    return pos_;
  }
  [[gnu::noinline]] void flush() {
    out_.append(buf_, static_cast<std::size_t>(pos_ - buf_));
    pos_ = buf_;
  }

  // serpent's Serializer._serialize refuses objects deeper than maximum_level.
  static void check_level(int level) {
    if (level > max_encode_level) [[unlikely]] {
      throw ValueError(
          "Object graph nesting too deep. Increase serializer.maximum_level if you think you need "
          "more,  but this may cause a RecursionError instead if Python's recursion limit doesn't "
          "allow it.");
    }
  }

  [[gnu::always_inline]] void write_float(double d) {
    if (!std::isfinite(d)) [[unlikely]] {
      write_nonfinite(d);
    } else {
      pos_ = detail::write_float_repr(room(detail::float_repr_max), d);
    }
  }
  [[gnu::noinline]] void write_nonfinite(double d) {
    if (std::isnan(d)) {
      put("{'__class__':'float','value':'nan'}");
    } else if (std::isinf(d)) [[unlikely]] {
      put(d > 0 ? std::string_view("1e30000") : std::string_view("-1e30000"));
    }
  }

  void write_bytes(std::string_view data) {
    flush();
    if (bytes_repr_) {
      detail::append_bytes_repr(out_, data);
    } else {
      // repr() of {'data': <base64>, 'encoding': 'base64'}; base64 never needs escaping.
      out_.reserve(out_.size() + data.size() / 3 * 4 + 48);
      out_.append("{'data': '");
      detail::append_base64(out_, data);
      out_.append("', 'encoding': 'base64'}");
    }
  }

  // serpent's _check_hashable_type: bool, bytes, str, tuple and numbers only.
  [[gnu::always_inline]] void check_key(const Value& key) {
    if (!key.is_str() && !ValueAccess::is_small_int(key)) check_other_key(key);
  }
  [[gnu::noinline]] void check_other_key(const Value& key) {
    switch (key.kind()) {
      case Kind::bool_:
      case Kind::int_:
      case Kind::float_:
      case Kind::complex:
      case Kind::str:
      case Kind::bytes:
      case Kind::tuple:
        return;
      default:
        break;
    }
    std::string type;
    switch (key.kind()) {
      case Kind::datetime:
        type = "datetime.datetime";
        break;
      case Kind::date:
        type = "datetime.date";
        break;
      case Kind::object:
        type = key.as_object()->class_name(options_.dialect);
        break;
      default:
        type = std::string(key.type_name());
    }
    throw TypeError(
        "one of the keys in a dict or set is not of a primitive hashable type: <class '" + type +
        "'>. Use simple types as keys or use a list or tuple as container.");
  }

  std::string& out_;
  char* pos_;
  const EncodeOptions& options_;
  bool bytes_repr_;
  char buf_[chunk_size];
};

// =============================================================================================
// Decoder: the subset of Python's grammar that ast.literal_eval evaluates.
// =============================================================================================

class Parser {
 public:
  Parser(std::string_view text, const DecodeOptions& options)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(options.max_depth) {}

  Value document() {
    skip_space(true);
    if (p_ == end_) fail("empty document: expected an expression");
    Value v = expression().value;
    skip_space(true);
    if (p_ != end_) fail("unexpected data after the expression");
    return v;
  }

 private:
  enum class Node { constant, signed_number, other };
  struct Parsed {
    Value value;
    Node node;
  };

  [[noreturn]] void fail(const std::string& what) const { fail_at(what, p_); }
  [[noreturn]] void fail_at(const std::string& what, const char* where) const {
    const auto offset = static_cast<std::size_t>(where - begin_);
    throw SerializeError("serpent: " + what + " at offset " + std::to_string(offset), offset);
  }
  [[noreturn]] void fail_expected(std::string_view expected) const {
    if (p_ == end_) fail("expected " + std::string(expected) + ", found end of data");
    std::string found;
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c >= 0x20 && c < 0x7F) {
      found = std::string("'") + static_cast<char>(c) + "'";
    } else {
      const char hex[] = "0123456789abcdef";
      found = std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
    }
    fail("expected " + std::string(expected) + ", found " + found);
  }

  // Spaces, tabs, form feeds, comments and line continuations; line breaks only where the
  // tokenizer ignores them (inside brackets, or before/after the whole expression).
  void skip_space(bool newlines) {
    while (p_ < end_) {
      const char c = *p_;
      if (c == ' ' || c == '\t' || c == '\f') {
        ++p_;
      } else if (c == '\n' || c == '\r') {
        if (!newlines && brackets_ == 0) return;
        ++p_;
      } else if (c == '#') {
        while (p_ < end_ && *p_ != '\n' && *p_ != '\r')
          ++p_;
      } else if (c == '\\' && p_ + 1 < end_ && (p_[1] == '\n' || p_[1] == '\r')) {
        p_ += 2;
        if (p_[-1] == '\r' && p_ < end_ && *p_ == '\n') ++p_;
      } else {
        return;
      }
    }
  }
  void skip() { skip_space(false); }

  bool at(char c) const { return p_ < end_ && *p_ == c; }

  void enter() {
    if (++depth_ > max_depth_)
      fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
  }

  // expression := signed [("+" | "-") number]      (only real +/- imaginary, as literal_eval)
  Parsed expression() {
    Parsed left = signed_atom();
    skip();
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) {
      const bool minus = *p_ == '-';
      const char* op = p_;
      ++p_;
      skip();
      const Parsed right = atom();
      if ((left.node != Node::constant && left.node != Node::signed_number) ||
          !(left.value.is_int() || left.value.is_float()) || left.value.is_bool() ||
          right.node != Node::constant || !right.value.is_complex()) {
        fail_at("malformed expression: only <real> + <imaginary> sums are literals", op);
      }
      double real = 0;
      try {
        real = left.value.as_float();
      } catch (const OverflowError& e) {
        fail_at(e.what(), op);  // Python's literal_eval: int too large to convert to float
      }
      const auto imag = right.value.as_complex();
      return {Value(std::complex<double>(minus ? real - imag.real() : real + imag.real(),
                                         minus ? -imag.imag() : imag.imag())),
              Node::other};
    }
    return left;
  }

  Parsed signed_atom() {
    if (p_ < end_ && (*p_ == '-' || *p_ == '+')) {
      const bool minus = *p_ == '-';
      const char* sign = p_;
      ++p_;
      skip();
      Parsed operand = atom();
      const Value& v = operand.value;
      if (operand.node != Node::constant || !(v.is_int() || v.is_float() || v.is_complex()) ||
          v.is_bool()) {
        fail_at("malformed expression: a sign must be followed by a number", sign);
      }
      if (!minus) return {std::move(operand.value), Node::signed_number};
      if (v.is_float()) return {Value(-v.as_float()), Node::signed_number};
      if (v.is_complex()) return {Value(-v.as_complex()), Node::signed_number};
      if (v.is_small_int() && v.as_int() != std::numeric_limits<std::int64_t>::min()) {
        return {Value(-v.as_int()), Node::signed_number};
      }
      std::string text = v.int_text();
      text = text[0] == '-' ? text.substr(1) : "-" + text;
      return {Value::int_from_text(text), Node::signed_number};
    }
    return atom();
  }

  Parsed atom() {
    if (p_ == end_) fail("expected an expression, found end of data");
    const char c = *p_;
    switch (c) {
      case '(':
        return parenthesized();
      case '[':
        return {list(), Node::other};
      case '{':
        return {braces(), Node::other};
      case '\'':
      case '"':
        return {strings(), Node::constant};
      default:
        break;
    }
    if ((c >= '0' && c <= '9') || (c == '.' && p_ + 1 < end_ && p_[1] >= '0' && p_[1] <= '9')) {
      return {number(), Node::constant};
    }
    if (is_ident_start(c)) {
      // string prefixes: r, u, b, br, rb (any case), directly followed by a quote
      const char* q = p_;
      while (q < end_ && q - p_ < 2 && is_ident_char(*q))
        ++q;
      if (q < end_ && (*q == '\'' || *q == '"') &&
          is_string_prefix(std::string_view(p_, static_cast<std::size_t>(q - p_)))) {
        return {strings(), Node::constant};
      }
      return identifier();
    }
    fail_expected("an expression");
  }

  // --- names ---------------------------------------------------------------------------------

  static bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c & 0x80);
  }
  static bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
  static bool is_string_prefix(std::string_view p) {
    if (p.size() == 1) {
      const char c = static_cast<char>(p[0] | 0x20);
      return c == 'r' || c == 'u' || c == 'b';
    }
    if (p.size() == 2) {
      const char a = static_cast<char>(p[0] | 0x20), b = static_cast<char>(p[1] | 0x20);
      return (a == 'b' && b == 'r') || (a == 'r' && b == 'b');
    }
    return false;
  }

  Parsed identifier() {
    const char* start = p_;
    while (p_ < end_ && is_ident_char(*p_))
      ++p_;
    const std::string_view name(start, static_cast<std::size_t>(p_ - start));
    if (name == "None") return {Value(), Node::constant};
    if (name == "True") return {Value(true), Node::constant};
    if (name == "False") return {Value(false), Node::constant};
    if (name == "set") {  // literal_eval accepts set() for the empty set
      skip();
      if (at('(')) {
        ++p_;
        ++brackets_;
        skip();
        if (at(')')) {
          ++p_;
          --brackets_;
          return {Value::set(), Node::other};
        }
      }
    }
    fail_at("malformed expression: name '" + std::string(name.substr(0, 64)) + "' is not a literal",
            start);
  }

  // --- containers ----------------------------------------------------------------------------

  Parsed parenthesized() {
    enter();
    ++p_;
    ++brackets_;
    skip();
    if (at(')')) {
      ++p_;
      --brackets_;
      --depth_;
      return {Value::tuple({}), Node::other};
    }
    Parsed first = expression();
    skip();
    if (at(')')) {  // a parenthesized expression, not a tuple
      ++p_;
      --brackets_;
      --depth_;
      return first;  // (1) is still the constant 1: -(1) is a literal, -(1,) is not
    }
    ValueVector items;
    items.push_back(std::move(first.value));
    while (true) {
      if (!at(',')) fail_expected("',' or ')'");
      ++p_;
      skip();
      if (at(')')) break;
      items.push_back(expression().value);
      skip();
      if (at(')')) break;
    }
    ++p_;
    --brackets_;
    --depth_;
    return {Value::tuple(std::move(items)), Node::other};
  }

  Value list() {
    enter();
    ++p_;
    ++brackets_;
    ValueVector items;
    skip();
    while (!at(']')) {
      items.push_back(expression().value);
      skip();
      if (at(']')) break;
      if (!at(',')) fail_expected("',' or ']'");
      ++p_;
      skip();
    }
    ++p_;
    --brackets_;
    --depth_;
    return Value::list(std::move(items));
  }

  Value braces() {
    enter();
    ++p_;
    ++brackets_;
    skip();
    if (at('}')) {
      ++p_;
      --brackets_;
      --depth_;
      return Value::dict();
    }
    const char* key_at = p_;
    Value first = expression().value;
    skip();
    if (at(':')) {
      Dict dict;
      ++p_;
      skip();
      Value value = expression().value;
      put(dict, std::move(first), std::move(value), key_at);
      skip();
      while (!at('}')) {
        if (!at(',')) fail_expected("',' or '}'");
        ++p_;
        skip();
        if (at('}')) break;
        key_at = p_;
        Value key = expression().value;
        skip();
        if (!at(':')) fail_expected("':'");
        ++p_;
        skip();
        Value val = expression().value;
        put(dict, std::move(key), std::move(val), key_at);
        skip();
      }
      ++p_;
      --brackets_;
      --depth_;
      return Value(std::move(dict));
    }
    Set set;
    add(set, std::move(first), key_at);
    while (!at('}')) {
      if (!at(',')) fail_expected("',' or '}'");
      ++p_;
      skip();
      if (at('}')) break;
      key_at = p_;
      add(set, expression().value, key_at);
      skip();
    }
    ++p_;
    --brackets_;
    --depth_;
    return Value(std::move(set));
  }

  void put(Dict& dict, Value key, Value value, const char* where) {
    if (!key.is_hashable())
      fail_at("unhashable dict key of type '" + std::string(key.type_name()) + "'", where);
    dict.set(std::move(key), std::move(value));
  }
  void add(Set& set, Value item, const char* where) {
    if (!item.is_hashable())
      fail_at("unhashable set element of type '" + std::string(item.type_name()) + "'", where);
    set.add(std::move(item));
  }

  // --- numbers -------------------------------------------------------------------------------

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // digits with single underscores between them; returns false when none were found
  bool digit_run(std::string& out, bool (*valid)(char)) {
    bool any = false;
    while (p_ < end_) {
      if (valid(*p_)) {
        out.push_back(*p_++);
        any = true;
      } else if (*p_ == '_' && any && p_ + 1 < end_ && valid(p_[1])) {
        ++p_;
      } else {
        break;
      }
    }
    return any;
  }

  // Plain decimal ints and floats (no underscores, prefixes or imaginary part) convert straight
  // from the input.
  bool plain_number(Value& out) {
    const char* q = p_;
    while (q < end_ && is_digit(*q))
      ++q;
    const char* int_end = q;
    bool is_float = false;
    if (q < end_ && *q == '.') {
      is_float = true;
      ++q;
      while (q < end_ && is_digit(*q))
        ++q;
    }
    if (q < end_ && (*q == 'e' || *q == 'E')) {
      is_float = true;
      ++q;
      if (q < end_ && (*q == '+' || *q == '-')) ++q;
      const char* exp_digits = q;
      while (q < end_ && is_digit(*q))
        ++q;
      if (q == exp_digits) return false;
    }
    if (q < end_ && (is_ident_char(*q) || *q == '.')) return false;  // j, _, 0x, ... or an error
    if (!is_float) {
      const auto n = static_cast<std::size_t>(int_end - p_);
      if (n > 18 || (n > 1 && *p_ == '0')) return false;
      std::int64_t v = 0;
      std::from_chars(p_, int_end, v);
      out = Value(v);
    } else {
      if (int_end == p_ && (q - p_ < 2 || !is_digit(p_[1]))) return false;
      double d = 0;
      const auto r = std::from_chars(p_, q, d);
      if (r.ec != std::errc() || r.ptr != q) return false;
      out = Value(d);
    }
    p_ = q;
    return true;
  }

  Value number() {
    if (Value plain; plain_number(plain)) return plain;
    const char* start = p_;
    // 0x / 0o / 0b integers
    if (*p_ == '0' && p_ + 1 < end_) {
      const char k = static_cast<char>(p_[1] | 0x20);
      if (k == 'x' || k == 'o' || k == 'b') {
        p_ += 2;
        if (p_ < end_ && *p_ == '_') ++p_;
        std::string digits(start, 2);
        bool (*valid)(char) =
            k == 'x'
                ? +[](char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
            : k == 'o' ? +[](char c) { return c >= '0' && c <= '7'; }
                       : +[](char c) { return c == '0' || c == '1'; };
        if (!digit_run(digits, valid)) fail_at("invalid number literal", start);
        end_of_number(start);
        return to_int(digits, start);
      }
    }
    std::string text;
    bool is_float = false;
    const bool int_part = digit_run(text, is_digit);
    if (p_ < end_ && *p_ == '.') {
      is_float = true;
      text.push_back('.');
      ++p_;
      const bool frac = digit_run(text, is_digit);
      if (!int_part && !frac) fail_at("invalid number literal", start);
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      const char* e = p_;
      std::string exponent = "e";
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) exponent.push_back(*p_++);
      if (digit_run(exponent, is_digit)) {
        is_float = true;
        text += exponent;
      } else {
        p_ = e;  // "1e" followed by a name: let end_of_number complain
      }
    }
    bool imaginary = false;
    if (p_ < end_ && (*p_ == 'j' || *p_ == 'J')) {
      imaginary = true;
      ++p_;
    }
    end_of_number(start);
    if (imaginary) return Value(std::complex<double>(0.0, to_double(text, start)));
    if (is_float) return Value(to_double(text, start));
    if (text.size() > 1 && text[0] == '0' && text.find_first_not_of('0') != std::string::npos) {
      fail_at("leading zeros in decimal integer literals are not permitted", start);
    }
    return to_int(text, start);
  }

  void end_of_number(const char* start) {
    if (p_ < end_ && (is_ident_char(*p_) || *p_ == '.')) fail_at("invalid number literal", start);
  }

  Value to_int(const std::string& digits, const char* start) {
    if (digits.size() <= 18 && digits.find_first_not_of("0123456789") == std::string::npos) {
      std::int64_t v = 0;
      std::from_chars(digits.data(), digits.data() + digits.size(), v);
      return Value(v);
    }
    try {
      return Value::int_from_text(digits);
    } catch (const ValueError& e) {
      fail_at(e.what(), start);
    }
  }

  double to_double(const std::string& text, const char* start) {
    double d = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      // Python's float literal overflows to inf (serpent writes 1e30000) and underflows to 0.
      const auto e = text.find_first_of("eE");
      const bool big_exponent = e != std::string::npos && text[e + 1] != '-';
      return big_exponent ? std::numeric_limits<double>::infinity() : 0.0;
    }
    if (r.ec != std::errc() || r.ptr != text.data() + text.size())
      fail_at("invalid number literal", start);
    return d;
  }

  // --- strings -------------------------------------------------------------------------------

  // One or more adjacent string literals (all str or all bytes), concatenated.
  // A lone plain literal ('...' without escapes or line breaks, not followed by another literal)
  // becomes a str straight from the input; anything else takes the general path.
  bool plain_string(Value& out) {
    const char quote = *p_;
    const char* body = p_ + 1;
    if (body + 1 < end_ && body[0] == quote && body[1] == quote) return false;  // triple quote
    const auto* close =
        static_cast<const char*>(std::memchr(body, quote, static_cast<std::size_t>(end_ - body)));
    if (close == nullptr) return false;
    const auto n = static_cast<std::size_t>(close - body);
    if (std::memchr(body, '\\', n) || std::memchr(body, '\n', n) || std::memchr(body, '\r', n))
      return false;
    const char* after = close + 1;
    if (after < end_ && *after != ',' && *after != ':' && *after != ')' && *after != ']' &&
        *after != '}') {
      return false;  // maybe an adjacent literal
    }
    out = ValueAccess::str_trusted(std::string_view(body, n));
    p_ = after;
    return true;
  }

  Value strings() {
    if (Value plain; plain_string(plain)) return plain;
    const char* start = p_;
    std::string text;
    bool bytes = false;
    bool first = true;
    while (true) {
      bool raw = false, is_bytes = false;
      while (p_ < end_ && *p_ != '\'' && *p_ != '"') {
        const char c = static_cast<char>(*p_ | 0x20);
        if (c == 'r') raw = true;
        if (c == 'b') is_bytes = true;
        ++p_;
      }
      if (first) {
        bytes = is_bytes;
      } else if (bytes != is_bytes) {
        fail_at("cannot mix bytes and nonbytes literals", start);
      }
      first = false;
      literal(text, raw, is_bytes);
      // adjacent literal?
      const char* save = p_;
      skip();
      if (p_ < end_ && (*p_ == '\'' || *p_ == '"')) continue;
      if (p_ < end_ && is_ident_start(*p_)) {
        const char* q = p_;
        while (q < end_ && q - p_ < 2 && is_ident_char(*q))
          ++q;
        if (q < end_ && (*q == '\'' || *q == '"') &&
            is_string_prefix(std::string_view(p_, static_cast<std::size_t>(q - p_)))) {
          continue;
        }
      }
      p_ = save;
      break;
    }
    if (bytes) return Value::bytes(text);
    return ValueAccess::str_trusted(text);
  }

  void literal(std::string& out, bool raw, bool bytes) {
    const char* open = p_;
    const char quote = *p_;
    const bool triple = p_ + 2 < end_ && p_[1] == quote && p_[2] == quote;
    p_ += triple ? 3 : 1;
    while (true) {
      // copy the plain run up to a quote, backslash or line break
      const char* run = p_;
      while (p_ < end_ && *p_ != quote && *p_ != '\\' && *p_ != '\n' && *p_ != '\r')
        ++p_;
      if (bytes) {
        for (const char* q = run; q < p_; ++q) {
          if (static_cast<unsigned char>(*q) >= 0x80)
            fail_at("bytes can only contain ASCII literal characters", q);
        }
      }
      out.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ == end_) fail_at("unterminated string literal", open);
      const char c = *p_;
      if (c == quote) {
        if (!triple) {
          ++p_;
          return;
        }
        if (p_ + 2 < end_ && p_[1] == quote && p_[2] == quote) {
          p_ += 3;
          return;
        }
        out.push_back(c);
        ++p_;
      } else if (c == '\n' || c == '\r') {
        if (!triple) fail_at("unterminated string literal", open);
        // the tokenizer reads \r\n and \r as \n
        out.push_back('\n');
        ++p_;
        if (c == '\r' && p_ < end_ && *p_ == '\n') ++p_;
      } else {
        escape(out, raw, bytes);
      }
    }
  }

  void escape(std::string& out, bool raw, bool bytes) {
    const char* esc = p_;
    ++p_;  // backslash
    if (p_ == end_) fail_at("unterminated string literal", esc);
    const char c = *p_;
    if (raw) {
      // raw strings keep the backslash; it still protects a quote or a line break
      out.push_back('\\');
      if (c == '\r') {
        out.push_back('\n');
        ++p_;
        if (p_ < end_ && *p_ == '\n') ++p_;
        return;
      }
      out.push_back(c);
      ++p_;
      return;
    }
    ++p_;
    if (const char simple = simple_escape(c)) {
      out.push_back(simple);
      return;
    }
    switch (c) {
      case '\n':
        return;  // line continuation
      case '\r':
        if (p_ < end_ && *p_ == '\n') ++p_;
        return;
      case 'x': {
        const char32_t v = hex_escape(2, esc);
        if (bytes) {
          out.push_back(static_cast<char>(v));
        } else {
          detail::append_utf8(out, v);
        }
        return;
      }
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      char32_t v = static_cast<char32_t>(c - '0');
      for (int i = 0; i < 2 && p_ < end_ && *p_ >= '0' && *p_ <= '7'; ++i)
        v = v * 8 + static_cast<char32_t>(*p_++ - '0');
      if (bytes) {
        out.push_back(static_cast<char>(v & 0xFF));
      } else {
        detail::append_utf8(out, v);
      }
      return;
    }
    if (!bytes && (c == 'u' || c == 'U')) {
      const char32_t v = hex_escape(c == 'u' ? 4 : 8, esc);
      if (v > 0x10FFFF) fail_at("illegal Unicode character in \\U escape", esc);
      detail::append_utf8(out, v);
      return;
    }
    if (!bytes && c == 'N') fail_at("\\N{...} escapes are not supported", esc);
    // an unknown escape keeps its backslash
    out.push_back('\\');
    --p_;
  }

  // The character a one-letter escape stands for (\\ \' \" \a \b \f \n \r \t \v), or 0.
  static char simple_escape(char c) {
    switch (c) {
      case '\\':
        return '\\';
      case '\'':
        return '\'';
      case '"':
        return '"';
      case 'a':
        return '\a';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'v':
        return '\v';
      default:
        return 0;
    }
  }

  char32_t hex_escape(int digits, const char* esc) {
    char32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (p_ == end_) fail_at("truncated \\x, \\u or \\U escape", esc);
      const char c = *p_;
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        d = (c | 0x20) - 'a' + 10;
      } else {
        fail_at("truncated \\x, \\u or \\U escape", esc);
      }
      v = v * 16 + static_cast<char32_t>(d);
      ++p_;
    }
    return v;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  int brackets_ = 0;
};

class SerpentSerializer final : public Serializer {
 public:
  std::string_view name() const noexcept override { return "serpent"; }
  std::string_view python_class() const noexcept override { return "SerpentSerializer"; }
  std::uint8_t id(Dialect) const noexcept override { return 1; }

  void encode(const Value& value, std::string& out, const EncodeOptions& options) const override {
    const std::size_t start = out.size();
    try {
      Encoder encoder(out, options);
      encoder.put(header);
      encoder.write(value, 0);
      encoder.finish();
    } catch (...) {
      out.resize(start);  // no half-written payload
      throw;
    }
  }

  Value decode(std::string_view data, const DecodeOptions& options) const override {
    const std::size_t bad = detail::find_invalid_utf8(data, false);
    if (bad != detail::utf8_valid) {
      throw SerializeError("serpent: invalid UTF-8 at offset " + std::to_string(bad), bad);
    }
    const void* nul = std::memchr(data.data(), 0, data.size());
    if (nul != nullptr) {
      const auto offset = static_cast<std::size_t>(static_cast<const char*>(nul) - data.data());
      throw SerializeError(
          "serpent: the data contains a 0-byte at offset " + std::to_string(offset), offset);
    }
    return Parser(data, options).document();
  }

  void encode_call(const CallEnvelope& call, std::string& out,
                   const EncodeOptions& options) const override {
    const std::size_t start = out.size();
    try {
      Encoder encoder(out, options);
      encoder.put(header);
      encoder.put('(');
      encoder.write_str(call.object);
      encoder.put(',');
      encoder.write_str(call.method);
      encoder.put(',');
      encoder.write(call.args, 1);
      encoder.put(',');
      encoder.write(call.kwargs, 1);
      encoder.put(')');
      encoder.finish();
    } catch (...) {
      out.resize(start);
      throw;
    }
  }
};

}  // namespace

const Serializer& serpent_serializer() {
  static const SerpentSerializer instance;
  return instance;
}

Value serpent_tobytes(const Value& value) {
  return detail::bytes_value_of(value);
}

}  // namespace pyro
