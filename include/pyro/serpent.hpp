// serpent.hpp — the serpent codec (Pyro's default): Python literal expressions in UTF-8.
// Relies on serializer.hpp. Writes exactly what Python's serpent 1.41 writes (compact mode,
// "# serpent utf-8 python3.2" header) and reads any Python literal expression serpent accepts.
#pragma once

#include "pyro/serializer.hpp"

namespace pyro {

// serpent's tobytes(): the bytes of a bytes value, or of the {'data': <base64>, 'encoding':
// 'base64'} dict serpent sends bytes as. Throws TypeError for anything else.
Value serpent_tobytes(const Value& value);

}  // namespace pyro
