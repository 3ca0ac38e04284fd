#include "pyro/serpent.hpp"

#include <gtest/gtest.h>
