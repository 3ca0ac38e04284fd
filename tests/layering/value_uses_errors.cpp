// Must compile with the value layer's include path: value may use the layer below it.
#include "pyro/errors.hpp"
#include "pyro/value.hpp"

int main() {
  return 0;
}
