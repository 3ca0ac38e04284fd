#include "pyro/json.hpp"

#include <gtest/gtest.h>
