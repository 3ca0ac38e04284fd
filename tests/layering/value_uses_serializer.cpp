// Must NOT compile with the value layer's include path: a wrong-way include (value → serializers).
#include "pyro/serializer.hpp"
#include "pyro/value.hpp"

int main() {
  return 0;
}
