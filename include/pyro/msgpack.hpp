// msgpack.hpp — the msgpack codec with Pyro's extension types (complex, big int, datetime, date),
// built on msgpack-cxx's packer and visitor parser. Relies on serializer.hpp.
#pragma once

#include "pyro/serializer.hpp"
