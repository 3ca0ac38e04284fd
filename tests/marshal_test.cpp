#include "pyro/marshal.hpp"

#include <gtest/gtest.h>
