#include "pyro/protocol.hpp"

#include <gtest/gtest.h>
