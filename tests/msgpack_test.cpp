#include "pyro/msgpack.hpp"

#include <gtest/gtest.h>
