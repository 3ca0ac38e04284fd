// serializer.cpp — what the four codecs share: lookup, call envelopes, exception dicts,
// registries and class reconstruction.
#include "pyro/serializer.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <mutex>
#include <new>
#include <system_error>
#include <typeinfo>

#include "detail/text.hpp"
#include "detail/value_access.hpp"

namespace pyro {

// ---------------------------------------------------------------------------------------------
// Serializer base
// ---------------------------------------------------------------------------------------------

CallEnvelope Serializer::decode_call(std::string_view data, const DecodeOptions& options) const {
  return call_from_sequence(decode(data, options), name());
}

CallEnvelope Serializer::call_from_sequence(Value decoded, std::string_view serializer) {
  auto bad = [&](const std::string& why) {
    return SerializeError(std::string(serializer) + ": invalid call envelope: " + why);
  };
  if (!decoded.is_sequence())
    throw bad("expected a 4-tuple, got " + std::string(decoded.type_name()));
  auto& items = decoded.items();
  if (items.size() != 4) throw bad("expected 4 items, got " + std::to_string(items.size()));
  if (!items[0].is_str())
    throw bad("object id must be a str, got " + std::string(items[0].type_name()));
  if (!items[1].is_str())
    throw bad("method must be a str, got " + std::string(items[1].type_name()));
  if (!items[2].is_sequence()) {
    throw bad("arguments must be a tuple or list, got " + std::string(items[2].type_name()));
  }
  if (!items[3].is_dict() && !items[3].is_none()) {
    throw bad("keyword arguments must be a dict or None, got " + std::string(items[3].type_name()));
  }
  CallEnvelope call;
  call.object = std::string(items[0].as_str());
  call.method = std::string(items[1].as_str());
  call.args = std::move(items[2]);
  call.kwargs = std::move(items[3]);
  return call;
}

Value Serializer::object_dict(const Value& object, const EncodeOptions& options) {
  const Object& o = *object.as_object();
  if (options.registry != nullptr) {
    if (auto converted = options.registry->class_to_dict(o)) return std::move(*converted);
  }
  return o.to_dict(options.dialect);
}

void Serializer::cannot_serialize(std::string_view python_type, std::string_view serializer) {
  throw SerializeError("don't know how to serialize class <class '" + std::string(python_type) +
                       "'> using serializer " + std::string(serializer) +
                       ". Give it vars() or an appropriate __getstate__");
}

const Serializer& serializer_by_name(std::string_view name) {
  if (name == "serpent") return serpent_serializer();
  if (name == "json") return json_serializer();
  if (name == "marshal") return marshal_serializer();
  if (name == "msgpack") return msgpack_serializer();
  throw ValueError("unknown serializer configured");
}

const Serializer* serializer_by_id(std::uint8_t id, Dialect dialect) noexcept {
  using Table = std::array<const Serializer*, 256>;  // by id, for one dialect
  static const std::array<Table, 2> tables = [] {
    std::array<Table, 2> t{};
    for (const Serializer* s : {&serpent_serializer(), &json_serializer(), &marshal_serializer(),
                                &msgpack_serializer()}) {
      t[0][s->id(Dialect::pyro4)] = s;
      t[1][s->id(Dialect::pyro5)] = s;
    }
    return t;
  }();
  return tables[dialect == Dialect::pyro4 ? 0 : 1][id];
}

// ---------------------------------------------------------------------------------------------
// ExceptionInfo
// ---------------------------------------------------------------------------------------------

namespace {

constexpr std::string_view pyro_error_names[] = {
    "PyroError",     "CommunicationError",   "ConnectionClosedError", "TimeoutError",
    "ProtocolError", "MessageTooLargeError", "SerializeError",        "NamingError",
    "DaemonError",   "SecurityError"};

bool is_pyro_error_name(std::string_view name) {
  for (auto n : pyro_error_names) {
    if (n == name) return true;
  }
  return false;
}

// "Pyro5.errors.NamingError" / "Pyro4.errors.NamingError" / bare "NamingError" -> "NamingError".
std::optional<std::string_view> pyro_error_short_name(std::string_view class_name) {
  std::string_view name = class_name;
  if (name.starts_with("Pyro5.errors.") || name.starts_with("Pyro4.errors.")) {
    name.remove_prefix(13);
  } else if (name.find('.') != std::string_view::npos) {
    return std::nullopt;
  }
  if (is_pyro_error_name(name)) return name;
  return std::nullopt;
}

std::string str_of(const Value& v) {
  return v.is_str() ? std::string(v.as_str()) : v.repr();
}

}  // namespace

std::string ExceptionInfo::message() const {
  if (args.empty()) return {};
  if (args.size() == 1) {
    // KeyError's str() is the repr of its key.
    if (class_name == "builtins.KeyError" || class_name == "KeyError") return args[0].repr();
    return str_of(args[0]);
  }
  return Value::tuple(std::vector<Value>(args)).repr();
}

std::vector<std::string> ExceptionInfo::traceback() const {
  std::vector<std::string> out;
  const Value* tb = attributes.find("_pyroTraceback");
  if (tb == nullptr || tb->is_none()) return out;
  if (tb->is_str()) {
    out.emplace_back(tb->as_str());
  } else if (tb->is_sequence()) {
    for (const auto& line : tb->items())
      out.push_back(str_of(line));
  }
  return out;
}

void ExceptionInfo::set_traceback(std::vector<std::string> lines) {
  std::vector<Value> items;
  items.reserve(lines.size());
  for (auto& l : lines)
    items.emplace_back(l);
  attributes.set("_pyroTraceback", Value::list(std::move(items)));
}

Value ExceptionInfo::to_dict(Dialect dialect) const {
  std::string name = class_name;
  if (auto short_name = pyro_error_short_name(class_name)) {
    name = std::string(dialect == Dialect::pyro4 ? "Pyro4.errors." : "Pyro5.errors.") +
           std::string(*short_name);
  }
  Dict d;
  d.reserve(4);
  d.set("__class__", std::move(name));
  d.set("__exception__", true);
  d.set("args", Value::tuple(std::vector<Value>(args)));
  d.set("attributes", Value(attributes));
  return Value(std::move(d));
}

ExceptionInfo ExceptionInfo::from_dict(const Value& dict) {
  if (!dict.is_dict())
    throw SerializeError("exception must be a dict, got " + std::string(dict.type_name()));
  const Value* cls = dict.find("__class__");
  if (cls == nullptr || !cls->is_str()) throw SerializeError("exception dict without __class__");
  ExceptionInfo info;
  info.class_name = std::string(cls->as_str());
  if (auto short_name = pyro_error_short_name(info.class_name)) {
    info.class_name = "Pyro5.errors." + std::string(*short_name);
  }
  if (const Value* args = dict.find("args")) {
    if (args->is_sequence()) {
      info.args.assign(args->items().begin(), args->items().end());
    } else if (!args->is_none()) {
      info.args.push_back(*args);
    }
  }
  if (const Value* attrs = dict.find("attributes")) {
    if (attrs->is_dict()) info.attributes = attrs->as_dict();
  }
  return info;
}

ExceptionInfo ExceptionInfo::from_exception(const std::exception& e) {
  if (const auto* remote = dynamic_cast<const RemoteError*>(&e)) return remote->info();
  ExceptionInfo info;
  info.args.emplace_back(std::string(e.what()));
  if (const auto* pyro = dynamic_cast<const PyroError*>(&e)) {
    info.class_name = "Pyro5.errors." + std::string(pyro->python_name());
    if (!pyro->remote_traceback().empty()) info.set_traceback(pyro->remote_traceback());
  } else if (dynamic_cast<const TypeError*>(&e)) {
    info.class_name = "builtins.TypeError";
  } else if (dynamic_cast<const AttributeError*>(&e)) {
    info.class_name = "builtins.AttributeError";
  } else if (dynamic_cast<const KeyError*>(&e)) {
    info.class_name = "builtins.KeyError";
  } else if (dynamic_cast<const IndexError*>(&e) || dynamic_cast<const std::out_of_range*>(&e)) {
    info.class_name = "builtins.IndexError";
  } else if (dynamic_cast<const OverflowError*>(&e) ||
             dynamic_cast<const std::overflow_error*>(&e) ||
             dynamic_cast<const std::range_error*>(&e)) {
    info.class_name = "builtins.OverflowError";
  } else if (dynamic_cast<const std::underflow_error*>(&e)) {
    info.class_name = "builtins.ArithmeticError";
  } else if (dynamic_cast<const std::invalid_argument*>(&e) ||
             dynamic_cast<const std::domain_error*>(&e) ||
             dynamic_cast<const std::length_error*>(&e)) {
    info.class_name = "builtins.ValueError";
  } else if (dynamic_cast<const std::bad_alloc*>(&e)) {
    info.class_name = "builtins.MemoryError";
    info.args.clear();
  } else if (dynamic_cast<const std::system_error*>(&e)) {
    info.class_name = "builtins.OSError";
  } else if (dynamic_cast<const std::runtime_error*>(&e) ||
             dynamic_cast<const std::logic_error*>(&e)) {
    info.class_name = "builtins.RuntimeError";
  } else {
    info.class_name = "builtins.Exception";
  }
  return info;
}

ExceptionInfo ExceptionInfo::from_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return from_exception(e);
  } catch (...) {
    ExceptionInfo info;
    info.class_name = "builtins.Exception";
    info.args.emplace_back("unknown C++ exception");
    return info;
  }
}

namespace {
template <class E>
[[noreturn]] void throw_pyro(const ExceptionInfo& info) {
  E e(info.message());
  e.set_remote_traceback(info.traceback());
  throw e;
}
}  // namespace

void ExceptionInfo::raise() const {
  if (auto short_name = pyro_error_short_name(class_name)) {
    const std::string_view n = *short_name;
    if (n == "CommunicationError") throw_pyro<CommunicationError>(*this);
    if (n == "ConnectionClosedError") throw_pyro<ConnectionClosedError>(*this);
    if (n == "TimeoutError") throw_pyro<TimeoutError>(*this);
    if (n == "ProtocolError") throw_pyro<ProtocolError>(*this);
    if (n == "MessageTooLargeError") throw_pyro<MessageTooLargeError>(*this);
    if (n == "SerializeError") throw_pyro<SerializeError>(*this);
    if (n == "NamingError") throw_pyro<NamingError>(*this);
    if (n == "DaemonError") throw_pyro<DaemonError>(*this);
    if (n == "SecurityError") throw_pyro<SecurityError>(*this);
    throw_pyro<PyroError>(*this);
  }
  throw RemoteError(*this);
}

RemoteError::RemoteError(ExceptionInfo info)
    : PyroError(info.message()), info_(std::make_shared<const ExceptionInfo>(std::move(info))) {
  set_remote_traceback(info_->traceback());
}

std::string ExceptionObject::class_name(Dialect dialect) const {
  return info_.to_dict(dialect).at("__class__").as_str().data();
}

std::string ExceptionObject::repr() const {
  std::string out = info_.class_name;
  out += Value::tuple(std::vector<Value>(info_.args)).repr();
  return out;
}

std::string ExceptionWrapperObject::class_name(Dialect dialect) const {
  return dialect == Dialect::pyro4 ? "Pyro4.futures._ExceptionWrapper"
                                   : "Pyro5.core._ExceptionWrapper";
}

Value ExceptionWrapperObject::to_dict(Dialect dialect) const {
  Dict d;
  d.set("__class__", class_name(dialect));
  d.set("exception", info_.to_dict(dialect));
  return Value(std::move(d));
}

// ---------------------------------------------------------------------------------------------
// ClassRegistry
// ---------------------------------------------------------------------------------------------

void ClassRegistry::register_class_to_dict(std::type_index type, ClassToDict converter) {
  std::unique_lock lock(mutex_);
  class_to_dict_[type] = std::move(converter);
}

void ClassRegistry::unregister_class_to_dict(std::type_index type) {
  std::unique_lock lock(mutex_);
  class_to_dict_.erase(type);
}

void ClassRegistry::register_dict_to_class(std::string class_name, DictToClass converter) {
  std::unique_lock lock(mutex_);
  dict_to_class_[std::move(class_name)] = std::move(converter);
}

void ClassRegistry::unregister_dict_to_class(std::string_view class_name) {
  std::unique_lock lock(mutex_);
  if (auto it = dict_to_class_.find(class_name); it != dict_to_class_.end())
    dict_to_class_.erase(it);
}

std::optional<Value> ClassRegistry::class_to_dict(const Object& object) const {
  ClassToDict converter;
  {
    std::shared_lock lock(mutex_);
    auto it = class_to_dict_.find(typeid(object));
    if (it == class_to_dict_.end()) return std::nullopt;
    converter = it->second;
  }
  return converter(object);
}

std::optional<Value> ClassRegistry::dict_to_class(std::string_view class_name,
                                                  const Value& dict) const {
  DictToClass converter;
  {
    std::shared_lock lock(mutex_);
    auto it = dict_to_class_.find(class_name);
    if (it == dict_to_class_.end()) return std::nullopt;
    converter = it->second;
  }
  return converter(class_name, dict);
}

Value keep_as_dict(std::string_view, const Value& dict) {
  return dict;
}

ClassRegistry::DictToClass ClassRegistry::keep_as_dict_converter() {
  return keep_as_dict;
}

// ---------------------------------------------------------------------------------------------
// reconstruct
// ---------------------------------------------------------------------------------------------

namespace {

using detail::ValueAccess;

Value convert_class_dict(const Value& dict, std::string_view name, const ClassRegistry* registry) {
  if (registry != nullptr) {
    if (auto converted = registry->dict_to_class(name, dict)) return std::move(*converted);
  }
  if (name.find("__") != std::string_view::npos) {
    throw SecurityError("refused to deserialize types with double underscores in their name: " +
                        std::string(name));
  }
  if (name == "Pyro5.core.URI" || name == "Pyro4.core.URI") return to_value(from_value<Uri>(dict));
  if (name == "Pyro5.client.Proxy" || name == "Pyro4.core.Proxy") {
    return to_value(from_value<ProxyState>(dict));
  }
  if (name == "Pyro5.server.Daemon" || name == "Pyro4.core.Daemon")
    return Value();  // a placeholder
  if (name == "Pyro5.core._ExceptionWrapper" || name == "Pyro4.futures._ExceptionWrapper") {
    const Value& inner = dict.at("exception");
    // bottom-up reconstruction (msgpack) has converted the inner exception already
    if (inner.is_object()) {
      if (const auto* e = dynamic_cast<const ExceptionObject*>(inner.as_object().get())) {
        return Value::object(std::make_shared<ExceptionWrapperObject>(e->info()));
      }
    }
    return Value::object(std::make_shared<ExceptionWrapperObject>(ExceptionInfo::from_dict(inner)));
  }
  if (name == "float") {
    const Value* v = dict.find("value");
    if (v != nullptr && v->is_str() && v->as_str() == "nan") {
      return Value(std::numeric_limits<double>::quiet_NaN());
    }
  }
  const Value* is_exception = dict.find("__exception__");
  if (pyro_error_short_name(name) || name == "struct.error" ||
      (is_exception != nullptr && is_exception->is_bool() && is_exception->as_bool())) {
    return Value::object(std::make_shared<ExceptionObject>(ExceptionInfo::from_dict(dict)));
  }
  throw SerializeError("unsupported serialized class: " + std::string(name));
}

void reconstruct_in_place(Value& v, ReconstructOrder order, const ClassRegistry* registry,
                          int depth);

// Walks only into containers that have items: most of what a payload holds is scalars and
// empty containers.
void reconstruct_children(Value& v, ReconstructOrder order, const ClassRegistry* registry,
                          int depth) {
  ValueAccess::for_each_item(v, [&](Value& item) {
    if (ValueAccess::has_items(item)) reconstruct_in_place(item, order, registry, depth + 1);
  });
}

// v is a tuple, list or dict that has items.
void reconstruct_in_place(Value& v, ReconstructOrder order, const ClassRegistry* registry,
                          int depth) {
  if (depth > 10000) throw SerializeError("reconstruct: nesting too deep");
  if (v.is_dict()) {
    static const Value class_key("__class__");
    const Value* cls = std::as_const(v).as_dict().find(class_key);
    if (cls != nullptr && cls->is_str()) {
      if (order == ReconstructOrder::bottom_up) reconstruct_children(v, order, registry, depth);
      const std::string name(cls->as_str());
      v = convert_class_dict(v, name, registry);
      return;
    }
  }
  reconstruct_children(v, order, registry, depth);
}

}  // namespace

Value reconstruct(Value value, ReconstructOrder order, const ClassRegistry* registry) {
  if (ValueAccess::has_items(value)) reconstruct_in_place(value, order, registry, 0);
  return value;
}

}  // namespace pyro

namespace pyro {

// ---------------------------------------------------------------------------------------------
// SerializedBlob
// ---------------------------------------------------------------------------------------------

struct SerializedBlob::Data {
  Value info;
  Value data;  // a client's value (when payload is unset)
  const Serializer* serializer = nullptr;
  Dialect dialect = Dialect::pyro5;
  std::optional<std::string> payload;
};

namespace {
// How a blob travels inside a Value: as an argument on its way into a call.
class BlobObject final : public Object {
 public:
  explicit BlobObject(SerializedBlob blob) : blob_(std::move(blob)) {}
  const SerializedBlob& blob() const noexcept { return blob_; }
  std::string class_name(Dialect dialect) const override {
    return dialect == Dialect::pyro4 ? "Pyro4.core.SerializedBlob" : "Pyro5.client.SerializedBlob";
  }
  Value to_dict(Dialect) const override {
    throw SerializeError("if SerializedBlob is used, it must be the only argument");
  }

 private:
  SerializedBlob blob_;
};
}  // namespace

SerializedBlob::SerializedBlob(Value info, Value data) {
  auto d = std::make_shared<Data>();
  d->info = std::move(info);
  d->data = std::move(data);
  data_ = std::move(d);
}

SerializedBlob SerializedBlob::from_payload(Value info, const Serializer& serializer,
                                            Dialect dialect, std::string payload) {
  auto d = std::make_shared<Data>();
  d->info = std::move(info);
  d->serializer = &serializer;
  d->dialect = dialect;
  d->payload = std::move(payload);
  SerializedBlob blob;
  blob.data_ = std::move(d);
  return blob;
}

const Value& SerializedBlob::info() const {
  static const Value none;
  return data_ ? data_->info : none;
}
bool SerializedBlob::contains_blob() const {
  return data_ && data_->payload.has_value();
}
const Serializer& SerializedBlob::serializer() const {
  if (!contains_blob()) throw PyroError("this SerializedBlob holds a value, not a payload");
  return *data_->serializer;
}
Dialect SerializedBlob::dialect() const {
  return data_ ? data_->dialect : Dialect::pyro5;
}
const std::string& SerializedBlob::payload() const {
  if (!contains_blob()) throw PyroError("this SerializedBlob holds a value, not a payload");
  return *data_->payload;
}

Value SerializedBlob::deserialized(const ClassRegistry* registry) const {
  if (!data_) return Value();
  if (!data_->payload) return data_->data;
  const Serializer& ser = *data_->serializer;
  Value call = ser.decode(*data_->payload, {});
  // the arguments slot of the call envelope: a dict's "params" (json), else the third item
  Value slot;
  if (call.is_dict()) {
    const Value* params = call.find("params");
    if (params == nullptr) throw SerializeError("SerializedBlob: payload is not a call");
    slot = *params;
  } else if (call.is_sequence() && call.size() == 4) {
    slot = std::move(call.items()[2]);
  } else {
    throw SerializeError("SerializedBlob: payload is not a call");
  }
  return reconstruct(std::move(slot), ser.reconstruct_order(), registry);
}

Value to_value(const SerializedBlob& blob) {
  return Value::object(std::make_shared<BlobObject>(blob));
}

void from_value(const Value& in, SerializedBlob& out) {
  if (in.is_object()) {
    if (const auto* b = dynamic_cast<const BlobObject*>(in.as_object().get())) {
      out = b->blob();
      return;
    }
  }
  throw TypeError("expected SerializedBlob, got " + std::string(in.type_name()));
}

std::optional<SerializedBlob> blob_argument(const Value& args) {
  if (!args.is_sequence()) return std::nullopt;
  for (const Value& a : args.items()) {
    if (a.is_object() && dynamic_cast<const BlobObject*>(a.as_object().get()) != nullptr) {
      if (args.size() > 1)
        throw SerializeError("if SerializedBlob is used, it must be the only argument");
      SerializedBlob blob;
      from_value(a, blob);
      return blob;
    }
  }
  return std::nullopt;
}

}  // namespace pyro
