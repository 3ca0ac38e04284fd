// bigint.hpp — Python's unbounded ints as boost::multiprecision::cpp_int.
// Relies on value.hpp. Include it only where big integers are wanted: the Boost header is heavy.
#pragma once

#include <boost/multiprecision/cpp_int.hpp>

#include "pyro/value.hpp"

namespace pyro {

using BigInt = boost::multiprecision::cpp_int;

void to_value(Value& out, const BigInt& in);
// Accepts any int (and bool); throws TypeError otherwise.
void from_value(const Value& in, BigInt& out);

}  // namespace pyro
