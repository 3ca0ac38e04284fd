// convert.cpp — the out-of-line parts of the built-in conversions, and DateTime/Date.
#include "pyro/convert.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "detail/text.hpp"
#include "detail/value_access.hpp"

namespace pyro {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month, day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned table[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : table[m - 1];
}

[[noreturn]] void bad_iso(std::string_view kind, std::string_view text) {
  std::string shown;
  detail::append_str_repr(shown, text);
  throw ValueError("Invalid isoformat string for " + std::string(kind) + ": " + shown);
}

// Reads exactly n digits at pos.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return true;
}

bool parse_date_part(std::string_view s, std::size_t& pos, std::int64_t& days) {
  unsigned y, m, d;
  if (!digits(s, pos, 4, y) || pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, m) ||
      pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, d)) {
    return false;
  }
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return false;
  days = days_from_civil(y, m, d);
  return true;
}

// "HH:MM[:SS[.ffffff]]" after the date; micros of the day.
bool parse_time_part(std::string_view s, std::size_t& pos, std::int64_t& micros) {
  unsigned h, mi, sec = 0, frac = 0;
  if (!digits(s, pos, 2, h) || pos >= s.size() || s[pos++] != ':' || !digits(s, pos, 2, mi)) {
    return false;
  }
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!digits(s, pos, 2, sec)) return false;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      std::size_t n = 0;
      while (pos + n < s.size() && s[pos + n] >= '0' && s[pos + n] <= '9')
        ++n;
      if (n != 3 && n != 6) return false;
      if (!digits(s, pos, n, frac)) return false;
      if (n == 3) frac *= 1000;
    }
  }
  if (h > 23 || mi > 59 || sec > 59) return false;
  micros = ((static_cast<std::int64_t>(h) * 60 + mi) * 60 + sec) * 1000000 + frac;
  return true;
}

// Parses a datetime with an optional UTC offset; returns micros (naive, offset not applied).
bool parse_datetime(std::string_view s, std::int64_t& micros, std::int64_t& offset_micros,
                    bool& has_offset) {
  std::size_t pos = 0;
  std::int64_t days = 0;
  if (!parse_date_part(s, pos, days)) return false;
  std::int64_t time = 0;
  has_offset = false;
  offset_micros = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return false;
    ++pos;
    if (!parse_time_part(s, pos, time)) return false;
    if (pos < s.size()) {
      if (s[pos] == 'Z') {
        has_offset = true;
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        const bool neg = s[pos] == '-';
        ++pos;
        unsigned oh, om;
        if (!digits(s, pos, 2, oh) || pos >= s.size() || s[pos++] != ':' ||
            !digits(s, pos, 2, om)) {
          return false;
        }
        has_offset = true;
        offset_micros = (static_cast<std::int64_t>(oh) * 60 + om) * 60 * 1000000;
        if (neg) offset_micros = -offset_micros;
      }
    }
    if (pos != s.size()) return false;
  }
  micros = days * 86400000000LL + time;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// DateTime, Date
// ---------------------------------------------------------------------------------------------

std::string DateTime::iso() const {
  std::int64_t days = micros / 86400000000LL;
  std::int64_t rest = micros % 86400000000LL;
  if (rest < 0) {
    rest += 86400000000LL;
    --days;
  }
  const Civil c = civil_from_days(days);
  const auto us = static_cast<unsigned>(rest % 1000000);
  const auto secs = rest / 1000000;
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(c.year), c.month, c.day,
                        static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                        static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<std::size_t>(n));
  if (us != 0) {
    n = std::snprintf(buf, sizeof buf, ".%06u", us);
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

DateTime DateTime::parse_iso(std::string_view text) {
  std::int64_t micros, offset;
  bool has_offset;
  if (!parse_datetime(text, micros, offset, has_offset) || has_offset) bad_iso("datetime", text);
  return DateTime{micros};
}

std::string Date::iso() const {
  const Civil c = civil_from_days(days);
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.year),
                              c.month, c.day);
  return std::string(buf, static_cast<std::size_t>(n));
}

Date Date::parse_iso(std::string_view text) {
  std::size_t pos = 0;
  std::int64_t days;
  if (!parse_date_part(text, pos, days) || pos != text.size()) bad_iso("date", text);
  return Date{static_cast<std::int32_t>(days)};
}

Date Date::from_ymd(int year, unsigned month, unsigned day) {
  if (year < 1 || year > 9999)
    throw ValueError("year " + std::to_string(year) + " is out of range");
  if (month < 1 || month > 12) throw ValueError("month must be in 1..12");
  if (day < 1 || day > days_in_month(year, month))
    throw ValueError("day is out of range for month");
  return Date{static_cast<std::int32_t>(days_from_civil(year, month, day))};
}

void from_value(const Value& in, DateTime& out) {
  if (in.is_datetime()) {
    out = in.as_datetime();
  } else if (in.is_str()) {
    out = DateTime::parse_iso(in.as_str());
  } else {
    detail::throw_type_error("datetime", in);
  }
}

void from_value(const Value& in, Date& out) {
  if (in.is_date()) {
    out = in.as_date();
  } else if (in.is_str()) {
    out = Date::parse_iso(in.as_str());
  } else {
    detail::throw_type_error("date", in);
  }
}

// ---------------------------------------------------------------------------------------------
// detail helpers
// ---------------------------------------------------------------------------------------------

namespace detail {

void throw_type_error(std::string_view expected, const Value& actual) {
  throw TypeError("expected " + std::string(expected) + ", got " + std::string(actual.type_name()));
}

void throw_int_overflow(std::string_view target, const Value& actual) {
  std::string shown;
  try {
    shown = actual.int_text();
  } catch (const std::exception&) {
    shown = "<" + std::to_string(actual.int_bit_length()) + "-bit int>";
  }
  throw OverflowError("int " + shown + " out of range for " + std::string(target));
}

std::span<const Value> sequence_items(const Value& in, std::string_view expected,
                                      bool accept_sets) {
  if (in.is_sequence()) return in.items();
  if (accept_sets && in.is_any_set()) return in.as_set().items();
  throw_type_error(expected, in);
}

void check_arity(std::span<const Value> items, std::size_t expected, std::string_view target) {
  if (items.size() != expected) {
    throw ValueError("expected a sequence of " + std::to_string(expected) + " items for " +
                     std::string(target) + ", got " + std::to_string(items.size()));
  }
}

// The text of serpent's base64 form of bytes ({'data': ..., 'encoding': 'base64'}), else null.
// (Pyro does not convert it back; we do, like serpent.tobytes.)
static const Value* serpent_base64_data(const Value& in) {
  if (!in.is_dict()) return nullptr;
  const Value* data = in.find("data");
  const Value* encoding = in.find("encoding");
  if (data != nullptr && encoding != nullptr && data->is_str() && encoding->is_str() &&
      encoding->as_str() == "base64")
    return data;
  return nullptr;
}

[[noreturn]] static void throw_bad_base64() {
  throw ValueError("invalid base64 data in serpent bytes dict");
}

std::string bytes_text_of(const Value& in) {
  if (in.is_bytes()) return std::string(in.bytes_view());
  if (const Value* data = serpent_base64_data(in)) {
    auto decoded = decode_base64(data->as_str());
    if (!decoded) throw_bad_base64();
    return std::move(*decoded);
  }
  throw_type_error("bytes", in);
}

Value bytes_value_of(const Value& in) {
  if (in.is_bytes()) return in;
  if (const Value* data = serpent_base64_data(in)) {
    const std::string_view text = data->as_str();
    const std::optional<std::size_t> n = base64_decoded_size(text);
    Value out;
    if (!n || !decode_base64_into(text, ValueAccess::bytes_uninitialized(out, *n)))
      throw_bad_base64();
    return out;
  }
  throw_type_error("bytes", in);
}

std::vector<std::byte> bytes_of(const Value& in) {
  std::string_view view;
  std::string decoded;
  if (in.is_bytes()) {
    view = in.bytes_view();
  } else {
    decoded = bytes_text_of(in);
    view = decoded;
  }
  const auto* p = reinterpret_cast<const std::byte*>(view.data());
  return std::vector<std::byte>(p, p + view.size());
}

const Value& field_of(const Value& dict, std::string_view type, std::string_view field) {
  if (!dict.is_dict()) throw_type_error(std::string(type) + " (a dict)", dict);
  const Value* v = dict.find(Value(field));
  if (v == nullptr) {
    throw ValueError(std::string(type) + ": missing field '" + std::string(field) + "'");
  }
  return *v;
}

void throw_no_variant_alternative(const Value& in, std::string_view errors) {
  throw TypeError("no alternative of the variant accepts a " + std::string(in.type_name()) + " (" +
                  std::string(errors) + ")");
}

std::int64_t time_point_micros(const Value& in) {
  if (in.is_datetime()) return in.as_datetime().micros;
  if (in.is_str()) {
    std::int64_t micros, offset;
    bool has_offset;
    if (!parse_datetime(in.as_str(), micros, offset, has_offset)) bad_iso("datetime", in.as_str());
    return micros - offset;
  }
  if (in.is_float() || in.is_int()) {
    const double secs = in.as_float();
    if (!std::isfinite(secs) || std::fabs(secs) > 9.2e12) {
      throw ValueError("timestamp out of range: " + in.repr());
    }
    return static_cast<std::int64_t>(std::llround(secs * 1e6));
  }
  throw_type_error("datetime", in);
}

}  // namespace detail

}  // namespace pyro
