// json.hpp — the json codec: Python's json.dumps(ensure_ascii=False) byte for byte, and a reader
// (RapidJSON's SAX parser) that accepts what Python's json.loads accepts, NaN/Infinity included.
// Relies on serializer.hpp.
#pragma once

#include "pyro/serializer.hpp"
