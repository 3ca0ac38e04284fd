// marshal.hpp — the marshal codec: CPython's marshal format (version 4, little endian) for the
// data types Pyro sends, back references included. Relies on serializer.hpp.
#pragma once

#include "pyro/serializer.hpp"
