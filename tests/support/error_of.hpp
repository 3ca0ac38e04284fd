// error_of.hpp — test support: the message of the exception a callable throws.
#pragma once

#include <exception>
#include <string>

namespace pyro::testing {

// f()'s exception message, or "<no error>" when it returns normally.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace pyro::testing
