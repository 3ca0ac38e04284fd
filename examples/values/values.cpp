// values — C++ values crossing Pyro's four serializers.
// Builds a value tree from C++ types (a struct declared with PYRO_FIELDS, containers, a URI),
// encodes it with serpent, json, marshal and msgpack, prints each encoding, and writes the
// payloads to <dir>/values.<serializer> so that Python can read them (read_with_python.py).
// Then reads back <dir>/python.<serializer> if Python wrote them, and prints what C++ sees.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pyro/serializer.hpp"

namespace greenhouse {
struct Reading {
  std::string sensor;
  double celsius = 0;
  std::vector<int> history;
};
PYRO_FIELDS(Reading, "greenhouse.Reading", sensor, celsius, history)
}  // namespace greenhouse

namespace {

std::string printable(const std::string& bytes, bool text) {
  if (text) return bytes;
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
    out.push_back(' ');
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  const greenhouse::Reading reading{"north-bed", 21.5, {19, 20, 22}};
  const std::map<std::string, double> targets{{"day", 22.0}, {"night", 17.5}};

  pyro::Dict tree;
  tree.set("reading", pyro::to_value(reading));
  tree.set("targets", pyro::to_value(targets));
  tree.set("big", pyro::Value::int_from_text("1180591620717411303424"));
  tree.set("text", "h\xc3\xa9llo \xe2\x88\x91 \xf0\x9f\x98\x80");
  tree.set("where", pyro::to_value(pyro::Uri("PYRO:greenhouse@localhost:9999")));
  tree.set("none", pyro::Value());
  const pyro::Value value(std::move(tree));

  std::cout << "C++ value: " << value.repr() << "\n\n";
  // Like Python Pyro, reconstruct() refuses class dicts it does not know: accept Reading's.
  pyro::ClassRegistry registry;
  registry.register_dict_to_class<greenhouse::Reading>();
  for (const char* name : {"serpent", "json", "marshal", "msgpack"}) {
    const pyro::Serializer& ser = pyro::serializer_by_name(name);
    std::string payload;
    try {
      payload = ser.encode(value);
    } catch (const std::exception& e) {
      // as in Python Pyro: marshal cannot carry a URI nested inside a container
      std::cout << name << ": cannot encode this value: " << e.what() << "\n\n";
      pyro::Dict without_uri = value.as_dict();
      without_uri.erase("where");
      payload = ser.encode(pyro::Value(std::move(without_uri)));
    }
    const bool text = std::string(name) == "serpent" || std::string(name) == "json";
    std::cout << name << " (id " << int(ser.id(pyro::Dialect::pyro5)) << ", " << payload.size()
              << " bytes):\n  " << printable(payload, text) << "\n";
    std::ofstream(dir / ("values." + std::string(name)), std::ios::binary) << payload;

    // what comes back from C++'s own decoder, with Pyro's class dicts reconstructed
    const pyro::Value back =
        pyro::reconstruct(ser.decode(payload), ser.reconstruct_order(), &registry);
    const auto r = back.at("reading").get<greenhouse::Reading>();
    std::cout << "  decoded again in C++: sensor=" << r.sensor << " celsius=" << r.celsius;
    if (const pyro::Value* where = back.find("where")) {
      std::cout << " where=" << pyro::from_value<pyro::Uri>(*where).str();
    }
    std::cout << "\n\n";
  }

  for (const char* name : {"serpent", "json", "marshal", "msgpack"}) {
    std::ifstream in(dir / ("python." + std::string(name)), std::ios::binary);
    if (!in) continue;
    std::stringstream ss;
    ss << in.rdbuf();
    const pyro::Value v = pyro::serializer_by_name(name).decode(ss.str());
    std::cout << "from Python via " << name << ": " << v.repr() << "\n";
  }
  return 0;
}
