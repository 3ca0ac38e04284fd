#include "pyro/config.hpp"

#include <gtest/gtest.h>
