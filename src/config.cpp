// config.cpp — Pyro's configuration items: defaults, PYRO_* conversions, dump and checks.
#include "pyro/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "pyro/errors.hpp"

// POSIX's process environment, for from_environment(): Pyro walks os.environ, which is this.
extern char** environ;

namespace pyro {
namespace {

// =============================================================================================
// Text conversions as Python performs them
// =============================================================================================

// What str.strip() removes from ASCII text: the whitespace int() and float() skip as well.
constexpr std::string_view python_whitespace = " \t\n\v\f\r\x1c\x1d\x1e\x1f";

std::string_view strip(std::string_view text) {
  const auto first = text.find_first_not_of(python_whitespace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(python_whitespace);
  return text.substr(first, last - first + 1);
}

std::string ascii_lower(std::string_view text) {
  std::string result{text};
  for (char& c : result) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return result;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads a run of digits in which single underscores may separate digits (PEP 515), appending the
// digits to `out`. Returns false unless at least one digit was read and no underscore dangles.
bool read_digits(std::string_view text, std::size_t& pos, std::string& out) {
  if (pos >= text.size() || !is_digit(text[pos])) return false;
  while (pos < text.size()) {
    if (is_digit(text[pos])) {
      out += text[pos++];
    } else if (text[pos] == '_' && pos + 1 < text.size() && is_digit(text[pos + 1])) {
      ++pos;
    } else {
      break;
    }
  }
  return true;
}

// Python's int(text): surrounding whitespace, a sign, decimal digits with underscores between
// them. Values beyond 64 bits, which Python would accept, are refused (nullopt).
std::optional<std::int64_t> parse_python_int(std::string_view text) {
  text = strip(text);
  std::string digits;
  std::size_t pos = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    if (text[pos] == '-') digits += '-';
    ++pos;
  }
  if (!read_digits(text, pos, digits) || pos != text.size()) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Python's float(text): surrounding whitespace, a sign, inf/infinity/nan in any case, or a decimal
// literal with optional fraction and exponent and underscores between digits. Like Python,
// literals too large become infinity and too small become zero.
std::optional<double> parse_python_float(std::string_view text) {
  text = strip(text);
  std::size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    negative = text[pos] == '-';
    ++pos;
  }
  const std::string word = ascii_lower(text.substr(pos));
  if (word == "inf" || word == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (word == "nan") return std::numeric_limits<double>::quiet_NaN();

  std::string literal = negative ? "-" : "";
  std::string integer_part;
  std::string fraction_part;
  const bool has_integer = read_digits(text, pos, integer_part);
  bool has_fraction = false;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    has_fraction = read_digits(text, pos, fraction_part);
  }
  if (!has_integer && !has_fraction) return std::nullopt;
  literal += integer_part.empty() ? "0" : integer_part;
  literal += '.';
  literal += fraction_part.empty() ? "0" : fraction_part;
  std::int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    std::string exponent_text;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      if (text[pos] == '-') exponent_text += '-';
      ++pos;
    }
    if (!read_digits(text, pos, exponent_text)) return std::nullopt;
    literal += 'e';
    literal += exponent_text;
    // Saturates: only the sign of a huge exponent matters below.
    const auto [end, ec] = std::from_chars(exponent_text.data(),
                                           exponent_text.data() + exponent_text.size(), exponent);
    if (ec == std::errc::result_out_of_range) {
      exponent = exponent_text.starts_with('-') ? std::numeric_limits<std::int32_t>::min()
                                                : std::numeric_limits<std::int32_t>::max();
    }
  }
  if (pos != text.size()) return std::nullopt;

  double value = 0;
  const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
  if (ec == std::errc::result_out_of_range) {
    // Overflow or underflow: where the leading significant digit sits decides which.
    const std::string all_digits = integer_part + fraction_part;
    const auto leading = all_digits.find_first_not_of('0');
    const std::int64_t magnitude = static_cast<std::int64_t>(integer_part.size()) - 1 -
                                   static_cast<std::int64_t>(leading) + exponent;
    value = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    return negative ? -value : value;
  }
  if (ec != std::errc{}) return std::nullopt;
  return value;
}

// Python's repr(float): the shortest text that reads back as the same double, written fixed with
// at least one fractional digit, or with an exponent of two or more digits when the decimal
// exponent is below -4 or at least 16.
std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  std::array<char, 64> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                       std::chars_format::scientific);
  const std::string_view text(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
  // text is [-]d[.ddd]e(+|-)dd
  std::string result;
  std::size_t pos = 0;
  if (text[pos] == '-') {
    result += '-';
    ++pos;
  }
  const auto e = text.find('e');
  std::string digits;
  for (std::size_t i = pos; i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  int exponent = 0;
  const auto exponent_text = text.substr(e + 1);
  std::from_chars(exponent_text.data() + (exponent_text[0] == '+' ? 1 : 0),
                  exponent_text.data() + exponent_text.size(), exponent);

  if (exponent < -4 || exponent >= 16) {
    result += digits[0];
    if (digits.size() > 1) {
      result += '.';
      result.append(digits, 1);
    }
    result += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  } else if (exponent < 0) {
    result += "0.";
    result.append(static_cast<std::size_t>(-exponent - 1), '0');
    result += digits;
  } else {
    const auto integer_digits = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() < integer_digits) digits.append(integer_digits - digits.size(), '0');
    result.append(digits, 0, integer_digits);
    result += '.';
    result += digits.size() > integer_digits ? digits.substr(integer_digits) : "0";
  }
  return result;
}

// Python's repr(str) for the text a config item holds: single quotes unless only double quotes
// avoid escaping, backslash escapes for the quote, backslash and control characters.
std::string python_str_repr(std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string result(1, quote);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      result += '\\';
      result += c;
    } else if (c == '\t') {
      result += "\\t";
    } else if (c == '\n') {
      result += "\\n";
    } else if (c == '\r') {
      result += "\\r";
    } else if (byte < 0x20 || byte == 0x7f) {
      result += fmt::format("\\x{:02x}", byte);
    } else {
      result += c;
    }
  }
  result += quote;
  return result;
}

std::vector<std::string> split_and_strip(std::string_view text) {
  std::vector<std::string> parts;
  while (true) {
    const auto comma = text.find(',');
    parts.emplace_back(strip(text.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// =============================================================================================
// The item table
// =============================================================================================

constexpr std::string_view pyro_prefix = "PYRO_";
constexpr std::string_view pyrocpp_prefix = "PYROCPP_";

using Member = std::variant<std::string Config::*, std::optional<std::string> Config::*,
                            int Config::*, std::int64_t Config::*, double Config::*, bool Config::*,
                            std::vector<std::string> Config::*, std::set<std::string> Config::*>;

struct Item {
  std::string_view name;    // Pyro's name, e.g. "NS_HOST"
  std::string_view prefix;  // of its environment variable
  Member member;
};

constexpr std::array items = {
    Item{"HOST", pyro_prefix, &Config::host},
    Item{"NS_HOST", pyro_prefix, &Config::ns_host},
    Item{"NS_PORT", pyro_prefix, &Config::ns_port},
    Item{"NS_BCPORT", pyro_prefix, &Config::ns_bcport},
    Item{"NS_BCHOST", pyro_prefix, &Config::ns_bchost},
    Item{"NS_AUTOCLEAN", pyro_prefix, &Config::ns_autoclean},
    Item{"NS_LOOKUP_DELAY", pyro_prefix, &Config::ns_lookup_delay},
    Item{"NATHOST", pyro_prefix, &Config::nathost},
    Item{"NATPORT", pyro_prefix, &Config::natport},
    Item{"COMPRESSION", pyro_prefix, &Config::compression},
    Item{"SERVERTYPE", pyro_prefix, &Config::servertype},
    Item{"COMMTIMEOUT", pyro_prefix, &Config::commtimeout},
    Item{"POLLTIMEOUT", pyro_prefix, &Config::polltimeout},
    Item{"MAX_RETRIES", pyro_prefix, &Config::max_retries},
    Item{"SOCK_REUSE", pyro_prefix, &Config::sock_reuse},
    Item{"SOCK_NODELAY", pyro_prefix, &Config::sock_nodelay},
    Item{"DETAILED_TRACEBACK", pyro_prefix, &Config::detailed_traceback},
    Item{"THREADPOOL_SIZE", pyro_prefix, &Config::threadpool_size},
    Item{"THREADPOOL_SIZE_MIN", pyro_prefix, &Config::threadpool_size_min},
    Item{"MAX_MESSAGE_SIZE", pyro_prefix, &Config::max_message_size},
    Item{"BROADCAST_ADDRS", pyro_prefix, &Config::broadcast_addrs},
    Item{"PREFER_IP_VERSION", pyro_prefix, &Config::prefer_ip_version},
    Item{"SERIALIZER", pyro_prefix, &Config::serializer},
    Item{"SERPENT_BYTES_REPR", pyro_prefix, &Config::serpent_bytes_repr},
    Item{"ITER_STREAMING", pyro_prefix, &Config::iter_streaming},
    Item{"ITER_STREAM_LIFETIME", pyro_prefix, &Config::iter_stream_lifetime},
    Item{"ITER_STREAM_LINGER", pyro_prefix, &Config::iter_stream_linger},
    Item{"LOGFILE", pyro_prefix, &Config::logfile},
    Item{"LOGLEVEL", pyro_prefix, &Config::loglevel},
    Item{"LOGWIRE", pyro_prefix, &Config::logwire},
    Item{"SSL", pyro_prefix, &Config::ssl},
    Item{"SSL_SERVERCERT", pyro_prefix, &Config::ssl_servercert},
    Item{"SSL_SERVERKEY", pyro_prefix, &Config::ssl_serverkey},
    Item{"SSL_SERVERKEYPASSWD", pyro_prefix, &Config::ssl_serverkeypasswd},
    Item{"SSL_REQUIRECLIENTCERT", pyro_prefix, &Config::ssl_requireclientcert},
    Item{"SSL_CLIENTCERT", pyro_prefix, &Config::ssl_clientcert},
    Item{"SSL_CLIENTKEY", pyro_prefix, &Config::ssl_clientkey},
    Item{"SSL_CLIENTKEYPASSWD", pyro_prefix, &Config::ssl_clientkeypasswd},
    Item{"SSL_CACERTS", pyro_prefix, &Config::ssl_cacerts},
    Item{"HMAC_KEY", pyro_prefix, &Config::hmac_key},
    Item{"SERIALIZERS_ACCEPTED", pyro_prefix, &Config::serializers_accepted},
    Item{"PROTOCOL_VERSION", pyrocpp_prefix, &Config::protocol_version},
};

// Pyro4's items that mean nothing to pyrocpp: their PYRO_* variables are converted like Pyro4
// converts them (so a bad boolean is still an error) and then dropped. A member pointer names the
// type of each; the Config it would point into is a scratch copy.
constexpr std::array pyro4_ignored = {
    Item{"ONEWAY_THREADED", pyro_prefix, &Config::compression},
    Item{"AUTOPROXY", pyro_prefix, &Config::compression},
    Item{"METADATA", pyro_prefix, &Config::compression},
    Item{"REQUIRE_EXPOSE", pyro_prefix, &Config::compression},
    Item{"USE_MSG_WAITALL", pyro_prefix, &Config::compression},
    Item{"FLAME_ENABLED", pyro_prefix, &Config::compression},
    Item{"PICKLE_PROTOCOL_VERSION", pyro_prefix, &Config::ns_port},
    Item{"DILL_PROTOCOL_VERSION", pyro_prefix, &Config::ns_port},
    Item{"JSON_MODULE", pyro_prefix, &Config::host},
};

template <typename List>
const Item* find_item(const List& list, std::string_view name) {
  for (const Item& item : list) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

const Item& item_or_throw(std::string_view name) {
  const Item* item = find_item(items, name);
  if (item == nullptr) {
    throw ValueError(
        fmt::format("invalid Pyro environment config variable: {}{}", pyro_prefix, name));
  }
  return *item;
}

[[noreturn]] void throw_bad_value(const Item& item, std::string_view value) {
  throw ValueError(
      fmt::format("invalid Pyro environment config value: {}{}={}", item.prefix, item.name, value));
}

// Sets `item` of `config` from text the way Pyro5's reset() converts an environment variable,
// by the type of the item's default.
void assign(Config& config, const Item& item, std::string_view value) {
  std::visit(
      [&](auto member) {
        auto& field = config.*member;
        using T = std::remove_reference_t<decltype(field)>;
        if constexpr (std::is_same_v<T, bool>) {
          const std::string lowered = ascii_lower(value);
          if (lowered == "0" || lowered == "off" || lowered == "no" || lowered == "false") {
            field = false;
          } else if (lowered == "1" || lowered == "yes" || lowered == "on" || lowered == "true") {
            field = true;
          } else {
            // Pyro reports the value lowered, as it has compared it.
            throw ValueError(
                fmt::format("invalid boolean value: {}{}={}", item.prefix, item.name, lowered));
          }
        } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, std::int64_t>) {
          const auto parsed = parse_python_int(value);
          if (!parsed || *parsed < std::numeric_limits<T>::min() ||
              *parsed > std::numeric_limits<T>::max()) {
            throw_bad_value(item, value);
          }
          field = static_cast<T>(*parsed);
        } else if constexpr (std::is_same_v<T, double>) {
          const auto parsed = parse_python_float(value);
          if (!parsed) throw_bad_value(item, value);
          field = *parsed;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          field = split_and_strip(value);
        } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
          const auto parts = split_and_strip(value);
          field = std::set<std::string>(parts.begin(), parts.end());
        } else {
          field = std::string(value);  // str, and the None-valued items, verbatim
        }
      },
      item.member);
}

// An item as Python's str() shows its value.
std::string show(const Config& config, const Item& item) {
  return std::visit(
      [&](auto member) -> std::string {
        const auto& field = config.*member;
        using T = std::remove_cvref_t<decltype(field)>;
        if constexpr (std::is_same_v<T, bool>) {
          return field ? "True" : "False";
        } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, std::int64_t>) {
          return std::to_string(field);
        } else if constexpr (std::is_same_v<T, double>) {
          return python_float_repr(field);
        } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
          return field ? *field : "None";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string result = "[";
          for (std::size_t i = 0; i < field.size(); ++i) {
            if (i > 0) result += ", ";
            result += python_str_repr(field[i]);
          }
          return result + "]";
        } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
          // Python's set order is arbitrary; sorted is one of its orders, and stable.
          if (field.empty()) return "set()";
          std::string result = "{";
          for (const auto& element : field) {
            if (result.size() > 1) result += ", ";
            result += python_str_repr(element);
          }
          return result + "}";
        } else {
          return field;
        }
      },
      item.member);
}

// "GCC 12.2.0, C++20 (Linux, posix)": the counterpart of Pyro's Python version line.
std::string build_description() {
#if defined(__clang__)
  const std::string compiler = fmt::format("Clang {}", __clang_version__);
#elif defined(__GNUC__)
  const std::string compiler = fmt::format("GCC {}", __VERSION__);
#elif defined(_MSC_VER)
  const std::string compiler = fmt::format("MSVC {}", _MSC_VER);
#else
  const std::string compiler = "unknown compiler";
#endif
#if defined(__linux__)
  constexpr std::string_view system = "Linux";
#elif defined(__APPLE__)
  constexpr std::string_view system = "Darwin";
#elif defined(_WIN32)
  constexpr std::string_view system = "Windows";
#else
  constexpr std::string_view system = "unknown";
#endif
#if defined(_WIN32)
  constexpr std::string_view os_name = "nt";
#else
  constexpr std::string_view os_name = "posix";
#endif
  return fmt::format("{}, C++{} ({}, {})", compiler, __cplusplus / 100 % 100, system, os_name);
}

// Where the running program is: pyrocpp is linked into it.
std::string loaded_from() {
  std::error_code error;
  const auto executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "unknown";
  return executable.parent_path().string();
}

}  // namespace

// =============================================================================================
// Config
// =============================================================================================

Config Config::defaults() {
  return Config{};
}

Config Config::from_environment() {
  Config config;
  Config scratch;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view variable{*entry};
    const auto equals = variable.find('=');
    if (equals == std::string_view::npos) continue;
    const std::string_view name = variable.substr(0, equals);
    const std::string_view value = variable.substr(equals + 1);
    if (name.starts_with(pyro_prefix)) {
      const std::string_view item_name = name.substr(pyro_prefix.size());
      if (const Item* item = find_item(items, item_name); item && item->prefix == pyro_prefix) {
        assign(config, *item, value);
      } else if (const Item* ignored = find_item(pyro4_ignored, item_name)) {
        assign(scratch, *ignored, value);
      } else {
        throw ValueError(fmt::format("invalid Pyro environment config variable: {}", name));
      }
    } else if (name.starts_with(pyrocpp_prefix)) {
      const Item* item = find_item(items, name.substr(pyrocpp_prefix.size()));
      if (item && item->prefix == pyrocpp_prefix) assign(config, *item, value);
    }
  }
  return config;
}

const Config& Config::global() {
  static const Config config = from_environment();
  return config;
}

std::vector<std::string> Config::item_names() {
  std::vector<std::string> names;
  names.reserve(items.size());
  for (const Item& item : items)
    names.emplace_back(item.name);
  return names;
}

std::string Config::get(std::string_view item) const {
  return show(*this, item_or_throw(item));
}

void Config::set(std::string_view item, std::string_view value) {
  assign(*this, item_or_throw(item), value);
}

std::string Config::dump() const {
  std::vector<const Item*> sorted;
  for (const Item& item : items)
    sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(),
            [](const Item* a, const Item* b) { return a->name < b->name; });

  std::string result = fmt::format(
      "pyrocpp version: {}\nLoaded from: {}\nC++ version: {}\nProtocol version: {}\n"
      "Currently active configuration settings:",
      version, loaded_from(), build_description(), protocol_version);
  for (const Item* item : sorted) {
    const bool secret = item->name == "HMAC_KEY" && hmac_key.has_value();
    result += fmt::format("\n{} = {}", item->name, secret ? "<hidden>" : show(*this, *item));
  }
  return result;
}

void Config::validate() const {
  // Pyro5/server.py Daemon.__init__
  if (servertype != "thread" && servertype != "multiplex") {
    throw PyroError(fmt::format("invalid server type '{}'", servertype));
  }
  // Pyro5/svr_threads.py Pool.__init__
  if (threadpool_size < 1 || threadpool_size_min < 1) {
    throw ValueError("threadpool sizes must be greater than zero");
  }
  if (threadpool_size_min > threadpool_size) {
    throw ValueError("minimum threadpool size must be less than or equal to max size");
  }
  // Pyro5/server.py Daemon.__init__ checks its arguments so; a configured NATPORT without NATHOST
  // is refused here too rather than silently ignored.
  if (natport != 0 && !nathost) throw ValueError("must provide natport with nathost");
  // Pyro5/nameserver.py NameServerDaemon.__init__
  if (ns_autoclean > 0 && ns_autoclean < 3) {
    throw ValueError("NS_AUTOCLEAN cannot be smaller than 3");
  }
  // Pyro5/client.py Proxy.__init__
  if (serializer != "serpent" && serializer != "json" && serializer != "marshal" &&
      serializer != "msgpack") {
    throw ValueError("unknown serializer configured");
  }
  if (prefer_ip_version != 0 && prefer_ip_version != 4 && prefer_ip_version != 6) {
    throw ValueError(
        fmt::format("invalid PREFER_IP_VERSION {}: must be 0, 4 or 6", prefer_ip_version));
  }
  if (protocol_version != 502 && protocol_version != 48) {
    throw ValueError(
        fmt::format("unsupported protocol version {}: pyrocpp speaks 502 (Pyro5) and 48 (Pyro4)",
                    protocol_version));
  }
  // Pyro5/__init__.py looks the level up in Python's logging module at import.
  if (loglevel && !loglevel->empty()) {
    static constexpr std::array<std::string_view, 8> levels = {
        "debug", "info", "warning", "warn", "error", "critical", "fatal", "notset"};
    const std::string lowered = ascii_lower(*loglevel);
    if (std::find(levels.begin(), levels.end(), lowered) == levels.end()) {
      throw ValueError(fmt::format("invalid Pyro log level: PYRO_LOGLEVEL={}", *loglevel));
    }
  }
}

}  // namespace pyro
