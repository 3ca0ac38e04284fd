// serializer.hpp — the codec interface shared by serpent, json, marshal and msgpack, the call
// envelope, Pyro's exception dicts, and the class registries (register_class_to_dict /
// register_dict_to_class). Relies on value.hpp and uri.hpp. Never touches message headers
// (protocol does) or sockets (transport does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "pyro/uri.hpp"
#include "pyro/value.hpp"

namespace pyro {

class ClassRegistry;

// A bytes value left out of an encoded payload (EncodeOptions::external).
struct ExternalBytes {
  std::size_t offset = 0;  // where its bytes belong in the payload as written
  Value bytes;             // a bytes value; keeps them alive until they are sent
};

// From this size on, bytes values are candidates for EncodeOptions::external.
inline constexpr std::size_t external_bytes_min = std::size_t{256} << 10;

// How a value is written.
struct EncodeOptions {
  // Class names and proxy layout of URIs, proxies and exceptions ("Pyro5." or "Pyro4.").
  Dialect dialect = Dialect::pyro5;
  // serpent only: bytes as b'...' literals instead of base64 dicts (Pyro5's SERPENT_BYTES_REPR;
  // ignored for the Pyro4 dialect, whose serpent never does this).
  bool bytes_repr = false;
  // Converters for object values (register_class_to_dict); may be null.
  const ClassRegistry* registry = nullptr;
  // marshal and msgpack, for a sender that can send pieces in place: a bytes value of at least
  // external_bytes_min bytes is written without its bytes (its header only) and recorded here,
  // in order. The payload is then the output with each one's bytes inserted at its offset.
  std::vector<ExternalBytes>* external = nullptr;
};

// How a payload is read. Decoding never reconstructs classes: dicts with "__class__" stay dicts
// (payload.decoded in the vectors); reconstruct() below does what Pyro does with them.
struct DecodeOptions {
  // Deeper nesting of containers is refused with SerializeError (a nesting bomb never reaches
  // the stack limit). Python's own decoders stop around 200 (serpent) to 2000 (marshal) levels.
  std::size_t max_depth = 1000;
};

// An INVOKE payload: which object and method, positional and keyword arguments.
struct CallEnvelope {
  std::string object;
  std::string method;
  // A tuple or a list; serpent keeps the difference (tuple for ordinary calls, list for calls
  // the proxy makes itself), json/msgpack/marshal always send a list.
  Value args = Value::tuple({});
  // A dict, or None for __getattr__/__setattr__ and batch calls.
  Value kwargs = Value::dict();
};

// Where class reconstruction starts: Pyro's msgpack hook converts the innermost class dicts
// first, the other serializers convert outermost dicts and leave their contents alone.
enum class ReconstructOrder { top_down, bottom_up };

// A payload codec. Instances are stateless singletons: thread-safe, never destroyed.
class Serializer {
 public:
  virtual ~Serializer() = default;

  // "serpent", "json", "marshal", "msgpack"
  virtual std::string_view name() const noexcept = 0;
  // The Python class name used in Pyro's messages: "SerpentSerializer", ...
  virtual std::string_view python_class() const noexcept = 0;
  // Wire id: Pyro5 serpent 1, marshal 2, json 3, msgpack 4; Pyro4 serpent 1, json 2, marshal 3,
  // msgpack 6.
  virtual std::uint8_t id(Dialect dialect) const noexcept = 0;
  virtual ReconstructOrder reconstruct_order() const noexcept { return ReconstructOrder::top_down; }

  // Appends the encoding of value to out. Throws SerializeError for values this serializer
  // cannot carry, with Pyro's message ("don't know how to serialize class <class 'bytes'> using
  // serializer JsonSerializer. ...").
  virtual void encode(const Value& value, std::string& out, const EncodeOptions& options) const = 0;
  // Decodes one complete payload. Throws SerializeError with the byte offset of the problem.
  virtual Value decode(std::string_view data, const DecodeOptions& options) const = 0;

  // The INVOKE envelope in this serializer's layout (serializers.md §2).
  virtual void encode_call(const CallEnvelope& call, std::string& out,
                           const EncodeOptions& options) const = 0;
  virtual CallEnvelope decode_call(std::string_view data, const DecodeOptions& options) const;

  std::string encode(const Value& value, const EncodeOptions& options = {}) const {
    std::string out;
    encode(value, out, options);
    return out;
  }
  Value decode(std::string_view data) const { return decode(data, DecodeOptions{}); }

  // --- helpers for codec implementations ---
  // Builds the envelope from a decoded (object, method, args, kwargs) 4-sequence.
  static CallEnvelope call_from_sequence(Value decoded, std::string_view serializer);
  // The dict an object value is written as (registry first, then Object::to_dict).
  static Value object_dict(const Value& object, const EncodeOptions& options);
  // SerializeError "don't know how to serialize class <class 'X'> using serializer Y. ...".
  [[noreturn]] static void cannot_serialize(std::string_view python_type,
                                            std::string_view serializer);
};

const Serializer& serpent_serializer();
const Serializer& json_serializer();
const Serializer& marshal_serializer();
const Serializer& msgpack_serializer();

// By name ("serpent", "json", "marshal", "msgpack"); throws ValueError("unknown serializer
// configured") otherwise, like Pyro's proxy creation.
const Serializer& serializer_by_name(std::string_view name);
// By wire id of the given generation; nullptr when unknown.
const Serializer* serializer_by_id(std::uint8_t id, Dialect dialect) noexcept;

// ---------------------------------------------------------------------------------------------
// Exceptions on the wire
// ---------------------------------------------------------------------------------------------

// An exception as Pyro sends it: {"__class__": "builtins.ValueError", "__exception__": True,
// "args": (...), "attributes": {"_pyroTraceback": [...], ...}}.
struct ExceptionInfo {
  // The class as on the wire ("builtins.ValueError", "Pyro5.errors.NamingError", "mod.MyError");
  // Pyro's own errors are kept with the "Pyro5.errors." prefix whatever the dialect they came in.
  std::string class_name;
  std::vector<Value> args;
  Dict attributes;

  // Python's str(exception): "", str(args[0]), or the repr of the args tuple.
  std::string message() const;
  // The "_pyroTraceback" attribute as lines (empty when absent or None).
  std::vector<std::string> traceback() const;
  void set_traceback(std::vector<std::string> lines);

  // The wire dict; Pyro errors get the dialect's prefix.
  Value to_dict(Dialect dialect) const;
  // Reads an exception dict ("__exception__" true, or a Pyro error class); throws SerializeError
  // when the dict is not one.
  static ExceptionInfo from_dict(const Value& dict);
  // The Python class for a C++ exception: PyroErrors keep their class ("Pyro5.errors.X"),
  // pyro::TypeError → builtins.TypeError, std::invalid_argument → builtins.ValueError,
  // std::out_of_range → builtins.IndexError, std::bad_alloc → builtins.MemoryError, any other
  // std::exception → builtins.Exception... args = (what(),).
  static ExceptionInfo from_exception(const std::exception& e);
  static ExceptionInfo from_current_exception();

  // Throws the matching C++ exception: Pyro errors as their pyro:: class, builtins TypeError,
  // ValueError, KeyError, IndexError, OverflowError as pyro:: ones, anything else as
  // RemoteError. The remote traceback is attached.
  [[noreturn]] void raise() const;
};

// A remote exception that has no C++ counterpart: its class name, args and traceback travel
// along. what() is Python's str() of the exception.
class RemoteError : public PyroError {
 public:
  explicit RemoteError(ExceptionInfo info);
  const std::string& class_name() const noexcept { return info_->class_name; }
  const ExceptionInfo& info() const noexcept { return *info_; }
  const char* python_name() const noexcept override { return "RemoteError"; }

 private:
  std::shared_ptr<const ExceptionInfo> info_;
};

// An exception inside a Value (what reconstruct() makes of an exception dict).
class ExceptionObject final : public Object {
 public:
  explicit ExceptionObject(ExceptionInfo info) : info_(std::move(info)) {}
  const ExceptionInfo& info() const noexcept { return info_; }
  std::string class_name(Dialect dialect) const override;
  Value to_dict(Dialect dialect) const override { return info_.to_dict(dialect); }
  std::string repr() const override;

 private:
  ExceptionInfo info_;
};

// A failed call inside a batch result: {"__class__": "Pyro5.core._ExceptionWrapper",
// "exception": {...}} ("Pyro4.futures._ExceptionWrapper" for Pyro4).
class ExceptionWrapperObject final : public Object {
 public:
  explicit ExceptionWrapperObject(ExceptionInfo info) : info_(std::move(info)) {}
  const ExceptionInfo& info() const noexcept { return info_; }
  std::string class_name(Dialect dialect) const override;
  Value to_dict(Dialect dialect) const override;

 private:
  ExceptionInfo info_;
};

// ---------------------------------------------------------------------------------------------
// Objects of user types, and the registries
// ---------------------------------------------------------------------------------------------

// Any C++ value carried inside a Value as an object with a Python class name. Without a
// registered class_to_dict converter it is written as to_value(value) plus "__class__" when T is
// convertible, otherwise it cannot be serialized (Pyro's SerializeError).
template <class T>
class ObjectOf final : public Object {
 public:
  ObjectOf(T value, std::string class_name)
      : value_(std::move(value)), class_name_(std::move(class_name)) {}
  const T& value() const noexcept { return value_; }
  std::string class_name(Dialect) const override { return class_name_; }
  Value to_dict(Dialect) const override {
    if constexpr (ValueConvertible<T>) {
      Value v = pyro::to_value(value_);
      if (v.is_dict() && !v.as_dict().contains("__class__"))
        v.as_dict().set("__class__", class_name_);
      return v;
    } else {
      throw SerializeError("don't know how to serialize class <class '" + class_name_ +
                           "'>. Give it vars() or an appropriate __getstate__");
    }
  }

 private:
  T value_;
  std::string class_name_;
};

template <class T>
Value make_object(T value, std::string class_name) {
  return Value::object(std::make_shared<ObjectOf<T>>(std::move(value), std::move(class_name)));
}

// Python's register_class_to_dict / register_dict_to_class: converters consulted when an object
// value is written, and when a class dict is reconstructed after decoding.
// Thread safety: thread-safe; registering while other threads encode or decode is allowed.
class ClassRegistry {
 public:
  using ClassToDict = std::function<Value(const Object& object)>;
  using DictToClass = std::function<Value(std::string_view class_name, const Value& dict)>;

  // Objects holding a T (ObjectOf<T>) are written as converter(value).
  template <class T>
  void register_class_to_dict(std::function<Value(const T&)> converter) {
    register_class_to_dict(typeid(ObjectOf<T>),
                           [converter = std::move(converter)](const Object& o) {
                             return converter(static_cast<const ObjectOf<T>&>(o).value());
                           });
  }
  template <class T>
  void unregister_class_to_dict() {
    unregister_class_to_dict(typeid(ObjectOf<T>));
  }
  // For any Object subclass, by its dynamic type.
  void register_class_to_dict(std::type_index type, ClassToDict converter);
  void unregister_class_to_dict(std::type_index type);

  // Class dicts with this exact "__class__" become converter(class_name, dict). Takes precedence
  // over every built-in rule, including the refusal of names with "__".
  void register_dict_to_class(std::string class_name, DictToClass converter);
  // Accepts the class dicts of a PYRO_FIELDS type as they are (from_value<T> reads them).
  template <class T>
  void register_dict_to_class() {
    register_dict_to_class(std::string(pyro_class_name(static_cast<const T*>(nullptr))),
                           keep_as_dict_converter());
  }
  void unregister_dict_to_class(std::string_view class_name);

  std::optional<Value> class_to_dict(const Object& object) const;
  std::optional<Value> dict_to_class(std::string_view class_name, const Value& dict) const;

 private:
  static DictToClass keep_as_dict_converter();
  mutable std::shared_mutex mutex_;
  std::map<std::type_index, ClassToDict> class_to_dict_;           // guarded by mutex_
  std::map<std::string, DictToClass, std::less<>> dict_to_class_;  // guarded by mutex_
};

// A DictToClass converter that accepts the dict as it is (for class names a C++ side handles as
// plain dicts, e.g. PYRO_FIELDS structs).
Value keep_as_dict(std::string_view class_name, const Value& dict);

// What Pyro does with the class dicts of a decoded call or result (serializers.md §5.2): registered
// converters first; names with "__" → SecurityError; URIs and proxies of either generation →
// Uri / ProxyState objects; exception dicts and Pyro errors → ExceptionObject; batch exception
// wrappers → ExceptionWrapperObject; serpent's {'__class__': 'float', 'value': 'nan'} → NaN;
// anything else → SerializeError("unsupported serialized class: X").
Value reconstruct(Value value, ReconstructOrder order, const ClassRegistry* registry = nullptr);

// A call argument that stays serialized (Pyro's SerializedBlob): a dispatcher receives it as it
// arrived and forwards it without decoding; the final receiver decodes it once. Made by a client
// from any value (sent as the call's arguments slot), or by a daemon from the payload of a call
// that came with FLAGS_KEEPSERIALIZED. It must be the only argument of a call.
// A handle: copies share the data. Thread safety: immutable.
class SerializedBlob {
 public:
  SerializedBlob() = default;
  // info: a small marshal-able description (a topic, an id); data: the payload to carry.
  SerializedBlob(Value info, Value data);
  // A blob holding the undecoded payload of a call (as a daemon receives it).
  static SerializedBlob from_payload(Value info, const Serializer& serializer, Dialect dialect,
                                     std::string payload);

  const Value& info() const;
  // Whether it holds an undecoded payload (rather than a value to serialize).
  bool contains_blob() const;
  // For contains_blob(): the payload's serializer, dialect and bytes.
  const Serializer& serializer() const;
  Dialect dialect() const;
  const std::string& payload() const;
  // The value the client put in, decoded from the payload when needed (class dicts reconstructed
  // as reconstruct() does, with registry).
  Value deserialized(const ClassRegistry* registry = nullptr) const;

  struct Data;

 private:
  std::shared_ptr<const Data> data_;
};

Value to_value(const SerializedBlob& blob);
void from_value(const Value& in, SerializedBlob& out);
// The blob among a call's arguments (a tuple or list) when it is the only one.
std::optional<SerializedBlob> blob_argument(const Value& args);

}  // namespace pyro
