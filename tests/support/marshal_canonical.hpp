// marshal_canonical.hpp — test support: CPython marshal bytes in the form our encoder writes.
// CPython sets FLAG_REF (bit 7 of a type byte) and writes back references according to object
// reference counts, and writes interned strings with their own codes; none of that changes the
// value, and a C++ encoder cannot reproduce it. Comparing canonical forms compares everything
// else byte for byte. No dependencies beyond the standard library.
#pragma once

#include <string>
#include <string_view>

namespace pyro::testing {

// The marshal data (one object, format version 4) with FLAG_REF bits cleared, back references
// ('r') replaced by the canonical bytes of the object they name, and the interned string codes
// ('t', 'A', 'Z') replaced by their plain variants ('u', 'a', 'z'). Bytes after the object are
// kept as they are. Throws std::runtime_error for data it cannot walk (truncated, code objects,
// unknown type codes, bad references).
std::string marshal_canonical(std::string_view data);

}  // namespace pyro::testing
