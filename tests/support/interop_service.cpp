// interop_service.cpp — the recorded interop service in C++ (see interop_service.hpp).
#include "support/interop_service.hpp"

#include <cctype>
#include <cstdint>
#include <string_view>
#include <vector>

#include "pyro/protocol.hpp"

namespace pyro::testing {

namespace {

// str.upper() for the ASCII texts of the recordings.
std::string upper(std::string text) {
  for (char& c : text)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// kwcall(a, b, c, **extra): Python binds positional arguments first, then keywords; the keywords
// that name no parameter are collected in `extra`, in the order they came.
Value kwcall(const CallArgs& args) {
  static constexpr std::string_view names[] = {"a", "b", "c"};
  if (args.positional.size() > 3) {
    throw TypeError("Service.kwcall() takes from 2 to 4 positional arguments but " +
                    std::to_string(args.positional.size() + 1) + " were given");
  }
  Value bound[3];
  bool given[3] = {false, false, false};
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    bound[i] = args.positional[i];
    given[i] = true;
  }
  Dict extra;
  if (args.keywords != nullptr) {
    for (const auto& [key, value] : *args.keywords) {
      std::size_t slot = 3;
      for (std::size_t i = 0; i < 3; ++i) {
        if (key.is_str() && key.as_str() == names[i]) slot = i;
      }
      if (slot == 3) {
        extra.set(key, value);
        continue;
      }
      if (given[slot]) {
        throw TypeError("Service.kwcall() got multiple values for argument '" +
                        std::string(names[slot]) + "'");
      }
      bound[slot] = value;
      given[slot] = true;
    }
  }
  if (!given[0]) throw TypeError("Service.kwcall() missing 1 required positional argument: 'a'");
  return Value::dict({{"a", bound[0]}, {"b", bound[1]}, {"c", bound[2]}, {"extra", Value(extra)}});
}

// The request annotations as text; the reply gets XSRV.
Value annotated(const std::string& what) {
  CallContext& ctx = current_context();
  Dict seen;
  for (const auto& [id, value] : ctx.annotations)
    seen.set(Value(id), Value(value));
  ctx.response_annotations.set("XSRV", "reply to " + what);
  return Value(std::move(seen));
}

}  // namespace

void InteropService::fire(Value v) {
  std::lock_guard lock(mutex_);
  last_ = std::move(v);
}

Value InteropService::last() const {
  std::lock_guard lock(mutex_);
  return last_;
}

Value InteropService::value() const {
  std::lock_guard lock(mutex_);
  return value_;
}

void InteropService::set_value(Value v) {
  std::lock_guard lock(mutex_);
  value_ = std::move(v);
}

InteropPeers expose_interop_service(Daemon& daemon, InteropKind kind) {
  InteropPeers peers;
  peers.sub = std::make_shared<InteropSub>();
  peers.service = std::make_shared<InteropService>(peers.sub);

  const auto sub_type =
      Exposed<InteropSub>("Sub").method("whoami", [](InteropSub& s) { return "sub:" + s.name; });

  const auto service_type =
      Exposed<InteropService>("Service")
          .method("calc",
                  [](InteropService&, std::int64_t a, const std::string& s, double f) {
                    return Value::list({Value(a * 2), Value(upper(s)), Value(f * 2)});
                  },
                  {"a", "s", "f"})
          .raw("kwcall", [](InteropService&, const CallArgs& a) { return kwcall(a); })
          .method("echo", [](InteropService&, Value v) { return v; }, {"value"})
          .method("add", [](InteropService&, std::int64_t a, std::int64_t b) { return a + b; },
                  {"a", "b"})
          .method("upper", [](InteropService&, const std::string& s) { return upper(s); }, {"text"})
          .method("fail_value",
                  [](InteropService&, const std::string& text) -> Value {
                    throw ValueError("invalid value: " + text);
                  },
                  {"text"})
          .method("fail_custom",
                  [](InteropService&, std::int64_t code) -> Value {
                    Dict attributes;
                    attributes.set("code", code);
                    throw RemoteError(ExceptionInfo{"interop_service.InteropError",
                                                    {Value("custom failure"), Value(code)},
                                                    std::move(attributes)});
                  },
                  {"code"})
          .oneway("fire", [](InteropService& s, Value v) { s.fire(std::move(v)); }, {"value"})
          .method("last", [](InteropService& s) { return s.last(); })
          .method("count",
                  [](InteropService&, std::int64_t n) {
                    std::vector<std::string> items;
                    for (std::int64_t i = 0; i < n; ++i)
                      items.push_back("item-" + std::to_string(i));
                    return ItemStream::from(std::move(items));
                  },
                  {"n"})
          .method("annotated",
                  [](InteropService&, const std::string& what) { return annotated(what); },
                  {"what"})
          .method("correlation",
                  [](InteropService&) -> Value {
                    const auto& id = current_context().correlation_id;
                    return id ? Value(correlation_id_text(*id)) : Value();
                  })
          .method("make_sub", [](InteropService& s) { return s.make_sub(); })
          .property(
              "value", [](InteropService& s) { return s.value(); },
              [](InteropService& s, Value v) { s.set_value(std::move(v)); })
          .unexposed("hidden");

  daemon.expose(peers.sub, "example.sub", sub_type);
  daemon.expose(peers.service, "example.service", service_type);

  if (kind == InteropKind::guarded) {
    daemon.set_handshake_validator([](const HandshakeInfo& info) -> Value {
      const Value* token = info.data.is_dict() ? info.data.find("token") : nullptr;
      if (token == nullptr || !token->is_str() || token->as_str() != "let-me-in") {
        throw ValueError("handshake rejected: bad token");
      }
      return Value::dict({{"welcome", true}, {"server", "guarded"}});
    });
  }
  return peers;
}

}  // namespace pyro::testing
