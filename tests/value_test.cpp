#include "pyro/value.hpp"

#include <gtest/gtest.h>

TEST(Value, Smoke) {
  pyro::Value v = pyro::Value::dict({{"a", 1}, {"b", pyro::Value::list({1.5, "x", nullptr})}});
  EXPECT_EQ(v.repr(), "{'a': 1, 'b': [1.5, 'x', None]}");
}
