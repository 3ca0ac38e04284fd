// custom_data.hpp — the data the client sends to the listeners, shared by those two programs
// (the dispatcher never sees it decoded). It travels as Pyro's class dict
// {"__class__": "blobdispatch.CustomData", "a": ..., "b": ..., "c": ...}, the layout of the
// Python example's CustomData.to_dict, so Python clients and listeners understand it too.
#pragma once

#include <cstdint>
#include <string>

#include "pyro/convert.hpp"

namespace blobdispatch {

struct CustomData {
  std::int64_t a = 0;
  std::string b;
  std::string c;  // a timestamp (Python's serpent sends a datetime as its ISO text)
};
PYRO_FIELDS(CustomData, "blobdispatch.CustomData", a, b, c)

}  // namespace blobdispatch
