// uri.cpp — Pyro URI parsing/printing and the URI and proxy class dicts.
#include "pyro/uri.hpp"

#include <algorithm>

#include "detail/text.hpp"

namespace pyro {

namespace {

// Python's str.isspace(), which is what the regex class \s matches for str patterns.
bool is_py_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
         c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// Code points of text, tolerating invalid UTF-8 (each bad byte is its own "character").
std::vector<std::pair<char32_t, std::size_t>> code_points(std::string_view text) {
  std::vector<std::pair<char32_t, std::size_t>> out;  // (code point, byte offset)
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = pos;
    const std::size_t bad = detail::find_invalid_utf8(text.substr(pos, 4), true);
    if (bad == 0) {
      out.emplace_back(0xFFFD, start);
      ++pos;
      continue;
    }
    out.emplace_back(detail::next_code_point(text, pos), start);
  }
  return out;
}

std::string_view strip_py_space(std::string_view s) {
  auto cps = code_points(s);
  std::size_t first = 0, last = cps.size();
  while (first < last && is_py_space(cps[first].first))
    ++first;
  while (last > first && is_py_space(cps[last - 1].first))
    --last;
  if (first == last) return {};
  const std::size_t begin = cps[first].second;
  const std::size_t end = last < cps.size() ? cps[last].second : s.size();
  return s.substr(begin, end - begin);
}

// Python's int(text) in base 10 (whitespace, sign, single underscores between digits).
std::optional<std::int64_t> parse_py_int(std::string_view text) {
  text = strip_py_space(text);
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  bool last_underscore = true;
  for (char c : text) {
    if (c == '_') {
      if (last_underscore) return std::nullopt;
      last_underscore = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
    last_underscore = false;
  }
  if (last_underscore) return std::nullopt;
  return negative ? -v : v;
}

[[noreturn]] void invalid(const std::string& what) {
  throw PyroError(what);
}

bool is_ipv6_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '%';
}

void split_tags(std::string_view object, std::vector<std::string>& tags) {
  tags.clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = object.find(',', start);
    std::string tag(strip_py_space(object.substr(start, comma - start)));
    if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(std::move(tag));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

std::string join_tags(const std::vector<std::string>& tags) {
  std::string out;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i) out.push_back(',');
    out += tags[i];
  }
  return out;
}

std::string_view class_prefix(Dialect d) {
  return d == Dialect::pyro4 ? "Pyro4." : "Pyro5.";
}

std::vector<Value> string_tuple(const std::vector<std::string>& names) {
  std::vector<Value> out;
  out.reserve(names.size());
  for (const auto& n : names)
    out.emplace_back(n);
  return out;
}

std::vector<std::string> names_of(const Value& v) {
  std::vector<std::string> out;
  if (v.is_none()) return out;
  std::span<const Value> items;
  if (v.is_sequence()) {
    items = v.items();
  } else if (v.is_any_set()) {
    items = v.as_set().items();
  } else {
    throw TypeError("expected a collection of names, got " + std::string(v.type_name()));
  }
  for (const auto& item : items)
    out.emplace_back(item.as_str());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Uri
// ---------------------------------------------------------------------------------------------

Uri::Uri(std::string_view text) {
  // Pyro matches "(?P<protocol>[Pp][Yy][Rr][Oo][a-zA-Z]*):(?P<object>\S+?)(@(?P<location>.+))?$";
  // Python's $ also matches before one trailing newline.
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  // A Python URI is a str: text that is not UTF-8 cannot be one.
  if (detail::find_invalid_utf8(text, false) != detail::utf8_valid) invalid("invalid uri");
  std::size_t colon = 0;
  while (colon < text.size() && ((text[colon] | 0x20) >= 'a' && (text[colon] | 0x20) <= 'z')) {
    ++colon;
  }
  if (colon < 4 || colon >= text.size() || text[colon] != ':') invalid("invalid uri");
  for (std::size_t i = 0; i < 4; ++i) {
    if ((text[i] | 0x20) != "pyro"[i]) invalid("invalid uri");
  }
  std::string protocol(text.substr(0, colon));
  for (auto& c : protocol)
    c = static_cast<char>(c & ~0x20);
  const std::string_view rest = text.substr(colon + 1);

  // Shortest object of non-space characters followed by the end or by "@" and a location.
  const auto cps = code_points(rest);
  std::optional<std::size_t> object_end;
  std::optional<std::string_view> location;
  for (std::size_t k = 1; k <= cps.size(); ++k) {
    if (is_py_space(cps[k - 1].first)) break;
    if (k == cps.size()) {
      object_end = rest.size();
      break;
    }
    const std::size_t at = cps[k].second;
    if (rest[at] == '@' && at + 1 < rest.size() &&
        rest.find('\n', at + 1) == std::string_view::npos) {
      object_end = at;
      location = rest.substr(at + 1);
      break;
    }
  }
  if (!object_end) invalid("invalid uri");
  protocol_ = std::move(protocol);
  object_ = std::string(rest.substr(0, *object_end));
  if (protocol_ == "PYRONAME") {
    if (location) parse_location(*location, default_ns_port);
  } else if (protocol_ == "PYRO") {
    if (!location) invalid("invalid uri");
    parse_location(*location, std::nullopt);
  } else if (protocol_ == "PYROMETA") {
    split_tags(object_, tags_);
    object_ = join_tags(tags_);
    if (location) parse_location(*location, default_ns_port);
  } else {
    invalid("invalid uri (protocol)");
  }
}

void Uri::parse_location(std::string_view location, std::optional<std::int64_t> default_port) {
  if (location.starts_with("./u:")) {
    const std::string_view name = location.substr(4);
    if (name.empty() || name.find(':') != std::string_view::npos) invalid("invalid uri (location)");
    sockname_ = std::string(name);
    return;
  }
  std::string_view host, port;
  if (location.starts_with("[")) {
    if (location.starts_with("[[")) invalid("invalid ipv6 address: enclosed in too many brackets");
    std::size_t i = 1;
    while (i < location.size() && is_ipv6_char(location[i]))
      ++i;
    if (i == 1 || i >= location.size() || location[i] != ']') {
      invalid("invalid ipv6 address: the part between brackets must be a numeric ipv6 address");
    }
    host = location.substr(1, i - 1);
    ++i;
    if (i < location.size() && location[i] == ':') {
      std::size_t j = i + 1;
      while (j < location.size() && location[j] >= '0' && location[j] <= '9')
        ++j;
      if (j > i + 1) port = location.substr(i + 1, j - i - 1);
    }
  } else {
    const std::size_t colon = location.find(':');
    host = location.substr(0, colon);
    if (colon != std::string_view::npos) port = location.substr(colon + 1);
  }
  host_ = std::string(host);
  if (port.empty()) {
    if (!default_port) invalid("invalid port in uri, port=None");
    port_ = default_port;
    return;
  }
  const auto p = parse_py_int(port);
  if (!p) invalid("invalid port in uri, port=" + std::string(port));
  port_ = p;
}

Uri Uri::for_tcp(std::string object, std::string host, std::int64_t port) {
  Uri u;
  u.protocol_ = "PYRO";
  u.object_ = std::move(object);
  u.host_ = std::move(host);
  u.port_ = port;
  return u;
}

Uri Uri::for_unix(std::string object, std::string socket_name) {
  Uri u;
  u.protocol_ = "PYRO";
  u.object_ = std::move(object);
  u.sockname_ = std::move(socket_name);
  return u;
}

Uri Uri::from_state(std::string protocol, std::string object, std::optional<std::string> sockname,
                    std::optional<std::string> host, std::optional<std::int64_t> port) {
  if (protocol != "PYRO" && protocol != "PYRONAME" && protocol != "PYROMETA") {
    invalid("invalid uri (protocol)");
  }
  Uri u;
  u.protocol_ = std::move(protocol);
  u.object_ = std::move(object);
  if (u.protocol_ == "PYROMETA") {
    split_tags(u.object_, u.tags_);
    u.object_ = join_tags(u.tags_);
  }
  u.sockname_ = std::move(sockname);
  u.host_ = std::move(host);
  u.port_ = port;
  return u;
}

std::string Uri::location() const {
  if (host_ && !host_->empty()) {
    const std::string port = port_ ? std::to_string(*port_) : "None";
    if (host_->find(':') != std::string::npos) return "[" + *host_ + "]:" + port;
    return *host_ + ":" + port;
  }
  if (sockname_ && !sockname_->empty()) return "./u:" + *sockname_;
  return {};
}

std::string Uri::str() const {
  std::string out = protocol_ + ":" + object_;
  const std::string loc = location();
  if (!loc.empty()) out += "@" + loc;
  return out;
}

Value Uri::to_dict(Dialect dialect) const {
  Value object;
  if (protocol_ == "PYROMETA") {
    Set tags;
    for (const auto& t : tags_)
      tags.add(Value(t));
    object = Value(std::move(tags));
  } else {
    object = Value(object_);
  }
  Dict d;
  d.set("__class__", std::string(class_prefix(dialect)) + "core.URI");
  d.set("state",
        Value::tuple({Value(protocol_), std::move(object), sockname_ ? Value(*sockname_) : Value(),
                      host_ ? Value(*host_) : Value(), port_ ? Value(*port_) : Value()}));
  return Value(std::move(d));
}

namespace {
Uri uri_from_state(const Value& state) {
  if (!state.is_sequence() || state.items().size() != 5) {
    throw TypeError("URI state must be a 5-tuple, got " + state.repr());
  }
  const auto s = state.items();
  std::string object;
  if (s[1].is_str()) {
    object = std::string(s[1].as_str());
  } else {
    object = join_tags(names_of(s[1]));
  }
  auto opt_str = [](const Value& v) -> std::optional<std::string> {
    if (v.is_none()) return std::nullopt;
    return std::string(v.as_str());
  };
  return Uri::from_state(
      std::string(s[0].as_str()), std::move(object), opt_str(s[2]), opt_str(s[3]),
      s[4].is_none() ? std::nullopt : std::optional<std::int64_t>(s[4].as_int()));
}

bool is_class(const Value& v, std::string_view suffix) {
  if (!v.is_dict()) return false;
  const Value* c = v.find("__class__");
  if (c == nullptr || !c->is_str()) return false;
  const auto name = c->as_str();
  return (name.starts_with("Pyro5.") || name.starts_with("Pyro4.")) && name.substr(6) == suffix;
}
}  // namespace

void to_value(Value& out, const Uri& in) {
  out = Value::object(std::make_shared<UriObject>(in));
}

void from_value(const Value& in, Uri& out) {
  if (in.is_object()) {
    if (const auto* u = dynamic_cast<const UriObject*>(in.as_object().get())) {
      out = u->uri();
      return;
    }
    if (const auto* p = dynamic_cast<const ProxyObject*>(in.as_object().get())) {
      out = p->state().uri;
      return;
    }
  }
  if (in.is_str()) {
    out = Uri(in.as_str());
    return;
  }
  if (is_class(in, "core.URI")) {
    out = uri_from_state(in.at("state"));
    return;
  }
  throw TypeError("expected a Pyro URI, got " + std::string(in.type_name()));
}

// ---------------------------------------------------------------------------------------------
// ProxyState
// ---------------------------------------------------------------------------------------------

bool operator==(const ProxyState& a, const ProxyState& b) {
  return a.uri == b.uri && a.oneway == b.oneway && a.methods == b.methods && a.attrs == b.attrs &&
         identical(a.handshake, b.handshake) && a.serializer == b.serializer &&
         a.timeout == b.timeout && a.hmac_key == b.hmac_key && a.max_retries == b.max_retries;
}

Value ProxyState::to_dict(Dialect dialect) const {
  Dict d;
  std::vector<Value> state;
  state.emplace_back(uri.str());
  state.push_back(Value::tuple(string_tuple(oneway)));
  state.push_back(Value::tuple(string_tuple(methods)));
  state.push_back(Value::tuple(string_tuple(attrs)));
  if (dialect == Dialect::pyro4) {
    d.set("__class__", "Pyro4.core.Proxy");
    state.emplace_back(timeout);
    if (hmac_key) {
      std::string b64 = "b64:";
      detail::append_base64(b64, *hmac_key);
      state.emplace_back(b64);
    } else {
      state.emplace_back();
    }
    state.push_back(handshake);
    state.emplace_back(max_retries);
  } else {
    d.set("__class__", "Pyro5.client.Proxy");
    state.push_back(handshake);
  }
  state.push_back(serializer ? Value(*serializer) : Value());
  d.set("state", Value::tuple(std::move(state)));
  return Value(std::move(d));
}

void to_value(Value& out, const ProxyState& in) {
  out = Value::object(std::make_shared<ProxyObject>(in));
}

void from_value(const Value& in, ProxyState& out) {
  if (in.is_object()) {
    if (const auto* p = dynamic_cast<const ProxyObject*>(in.as_object().get())) {
      out = p->state();
      return;
    }
  }
  const bool pyro5 = is_class(in, "client.Proxy");
  const bool pyro4 = is_class(in, "core.Proxy");
  if (!pyro5 && !pyro4)
    throw TypeError("expected a Pyro proxy, got " + std::string(in.type_name()));
  const Value& state = in.at("state");
  if (!state.is_sequence()) throw TypeError("proxy state must be a tuple, got " + state.repr());
  const auto s = state.items();
  ProxyState p;
  auto opt_str = [](const Value& v) -> std::optional<std::string> {
    if (v.is_none()) return std::nullopt;
    return std::string(v.as_str());
  };
  if (s.size() == 6) {  // Pyro5: uri, oneway, methods, attrs, handshake, serializer
    p.uri = Uri(s[0].as_str());
    p.oneway = names_of(s[1]);
    p.methods = names_of(s[2]);
    p.attrs = names_of(s[3]);
    p.handshake = s[4];
    p.serializer = opt_str(s[5]);
  } else if (s.size() == 9) {  // Pyro4: uri, oneway, methods, attrs, timeout, hmac, handshake,
                               // retries, serializer
    p.uri = Uri(s[0].as_str());
    p.oneway = names_of(s[1]);
    p.methods = names_of(s[2]);
    p.attrs = names_of(s[3]);
    p.timeout = s[4].is_none() ? 0.0 : s[4].as_float();
    if (s[5].is_str()) {
      std::string_view h = s[5].as_str();
      if (h.starts_with("b64:")) {
        auto key = detail::decode_base64(h.substr(4));
        if (!key) throw ValueError("invalid base64 HMAC key in proxy state");
        p.hmac_key = std::move(*key);
      } else {
        p.hmac_key = std::string(h);
      }
    } else if (s[5].is_bytes()) {
      p.hmac_key = std::string(s[5].bytes_view());
    }
    p.handshake = s[6];
    p.max_retries = s[7].is_none() ? 0 : s[7].as_int();
    p.serializer = opt_str(s[8]);
    p.pyro4 = true;
  } else if (s.size() == 7) {  // Pyrolite: uri, oneway, methods, attrs, timeout, handshake, retries
    p.uri = Uri(s[0].as_str());
    p.oneway = names_of(s[1]);
    p.methods = names_of(s[2]);
    p.attrs = names_of(s[3]);
    p.timeout = s[4].is_none() ? 0.0 : s[4].as_float();
    p.handshake = s[5];
    p.max_retries = s[6].is_none() ? 0 : s[6].as_int();
    p.pyro4 = true;
  } else {
    throw ValueError("proxy state must have 6 (Pyro5) or 9 (Pyro4) elements, got " +
                     std::to_string(s.size()));
  }
  out = std::move(p);
}

// ---------------------------------------------------------------------------------------------
// Object wrappers
// ---------------------------------------------------------------------------------------------

std::string UriObject::class_name(Dialect dialect) const {
  return std::string(class_prefix(dialect)) + "core.URI";
}

bool UriObject::equals(const Object& other) const noexcept {
  const auto* o = dynamic_cast<const UriObject*>(&other);
  return o != nullptr && o->uri_ == uri_;
}

std::size_t UriObject::hash() const noexcept {
  return std::hash<std::string>{}(uri_.str());
}

std::string UriObject::repr() const {
  return "<Pyro5.core.URI; " + uri_.str() + ">";
}

std::string ProxyObject::class_name(Dialect dialect) const {
  return dialect == Dialect::pyro4 ? "Pyro4.core.Proxy" : "Pyro5.client.Proxy";
}

bool ProxyObject::equals(const Object& other) const noexcept {
  const auto* o = dynamic_cast<const ProxyObject*>(&other);
  return o != nullptr && o->state_ == state_;
}

std::string ProxyObject::repr() const {
  return "<Pyro5.client.Proxy; " + state_.uri.str() + ">";
}

}  // namespace pyro
