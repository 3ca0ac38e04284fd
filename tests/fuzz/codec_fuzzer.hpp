// codec_fuzzer.hpp — the property every decoder fuzz target checks: a decoder either returns a
// Value or throws SerializeError (never crashes, hangs or throws anything else), and a decoded
// Value that encodes again decodes to the identical Value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pyro/serializer.hpp"

namespace pyro::fuzz {

// v with every empty set and frozenset replaced by an empty tuple: serpent writes them as "()"
// (a set literal cannot be empty), as Python's serpent does, so they read back as tuples.
inline Value empty_sets_as_tuples(const Value& v) {
  if ((v.is_set() || v.is_frozenset()) && v.as_set().empty()) return Value::tuple({});
  if (v.is_list() || v.is_tuple()) {
    std::vector<Value> items;
    for (const Value& item : v.items())
      items.push_back(empty_sets_as_tuples(item));
    return v.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
  }
  if (v.is_dict()) {
    Dict d;
    for (const auto& [key, value] : v.as_dict())
      d.set(empty_sets_as_tuples(key), empty_sets_as_tuples(value));
    return Value(std::move(d));
  }
  if (v.is_set() || v.is_frozenset()) {
    Set s;
    for (const Value& item : v.as_set())
      s.add(empty_sets_as_tuples(item));
    return v.is_set() ? Value(std::move(s)) : Value::frozenset(std::move(s));
  }
  return v;
}

inline int check_codec(const Serializer& ser, const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Value v;
  try {
    v = ser.decode(input);
  } catch (const SerializeError&) {
    return 0;
  } catch (const ValueError&) {
    // msgpack's strict map keys are Python's ValueError by design
    if (ser.name() != "msgpack") std::abort();
    return 0;
  }
  // Pyro5 dialect with bytes literals: everything the decoder accepts must come back identical.
  // Pyro4 dialect: only must not fail in any other way than the documented errors.
  for (Dialect dialect : {Dialect::pyro5, Dialect::pyro4}) {
    EncodeOptions options;
    options.dialect = dialect;
    options.bytes_repr = true;
    std::string encoded;
    try {
      encoded = ser.encode(v, options);
    } catch (const PyroError&) {
      continue;
    } catch (const TypeError&) {
      continue;  // e.g. json's non-str keys, serpent's unhashable key types
    } catch (const ValueError&) {
      continue;  // e.g. serpent's nesting limit, CPython's int digit limit
    }
    if (dialect != Dialect::pyro5) continue;
    try {
      const Value again = ser.decode(encoded);
      const bool serpent = ser.name() == "serpent";
      if (!identical(again, serpent ? empty_sets_as_tuples(v) : v)) std::abort();
    } catch (const SerializeError&) {
      // a few encodings are not readable back, as in Python (serpent's (1.0+-0.0j))
    } catch (const ValueError&) {
    }
  }
  try {
    (void)ser.decode_call(input, {});
  } catch (const SerializeError&) {
  } catch (const ValueError&) {
  }
  return 0;
}

}  // namespace pyro::fuzz
