// vectors.cpp — loading the recorded interop vectors for tests.
#include "support/vectors.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <zlib.h>

#include "pyro/uri.hpp"

namespace pyro::testing {

namespace {

std::string hex_decode(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

double tagged_float(const rapidjson::Value& v) {
  if (v.IsString()) {
    const std::string s = v.GetString();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    throw std::runtime_error("bad $float " + s);
  }
  if (v.IsObject() && v.HasMember("$float")) return tagged_float(v["$float"]);
  return v.GetDouble();
}

Value ext_value(int code, const std::string& data) {
  auto le_double = [&](std::size_t at) {
    double d;
    std::memcpy(&d, data.data() + at, 8);
    return d;
  };
  switch (code) {
    case 0x30:
      return Value(std::complex<double>(le_double(0), le_double(8)));
    case 0x31:
      return Value::int_from_text(data);
    case 0x32: {
      // seconds since the epoch of a naive local datetime; the recordings' local time is UTC
      const double ts = le_double(0);
      return Value(DateTime{static_cast<std::int64_t>(std::llround(ts * 1e6))});
    }
    case 0x33: {
      std::int64_t ordinal;
      std::memcpy(&ordinal, data.data(), 8);
      return Value(Date{static_cast<std::int32_t>(ordinal - 719163)});  // 1970-01-01 is 719163
    }
    default:
      throw std::runtime_error("unknown $ext code " + std::to_string(code));
  }
}

}  // namespace

Value tagged_to_value(const rapidjson::Value& j) {
  if (j.IsNull()) return Value();
  if (j.IsBool()) return Value(j.GetBool());
  if (j.IsInt64()) return Value(j.GetInt64());
  if (j.IsUint64()) return Value(j.GetUint64());
  if (j.IsDouble()) return Value(j.GetDouble());
  if (j.IsString()) return Value(std::string_view(j.GetString(), j.GetStringLength()));
  if (j.IsArray()) {
    std::vector<Value> items;
    for (const auto& e : j.GetArray())
      items.push_back(tagged_to_value(e));
    return Value::list(std::move(items));
  }
  // object: tagged or a dict with string keys
  if (j.MemberCount() == 1 && j.MemberBegin()->name.GetString()[0] == '$') {
    const std::string tag = j.MemberBegin()->name.GetString();
    const auto& v = j.MemberBegin()->value;
    if (tag == "$int") return Value::int_from_text(v.GetString());
    if (tag == "$float") return Value(tagged_float(v));
    if (tag == "$bytes") return Value::bytes(hex_decode(v.GetString()));
    if (tag == "$tuple" || tag == "$set" || tag == "$frozenset") {
      std::vector<Value> items;
      for (const auto& e : v.GetArray())
        items.push_back(tagged_to_value(e));
      if (tag == "$tuple") return Value::tuple(std::move(items));
      Set s;
      for (auto& e : items)
        s.add(std::move(e));
      return tag == "$set" ? Value(std::move(s)) : Value::frozenset(std::move(s));
    }
    if (tag == "$dict") {
      Dict d;
      for (const auto& kv : v.GetArray())
        d.set(tagged_to_value(kv[0]), tagged_to_value(kv[1]));
      return Value(std::move(d));
    }
    if (tag == "$complex")
      return Value(std::complex<double>(tagged_float(v[0]), tagged_float(v[1])));
    if (tag == "$uuid" || tag == "$decimal") return Value(v.GetString());
    if (tag == "$datetime") return Value(DateTime::parse_iso(v.GetString()));
    if (tag == "$date") return Value(Date::parse_iso(v.GetString()));
    if (tag == "$ext") return ext_value(v["code"].GetInt(), hex_decode(v["data"].GetString()));
    if (tag == "$uri") return to_value(Uri(v.GetString()));
    throw std::runtime_error("unsupported tag " + tag);
  }
  Dict d;
  for (const auto& m : j.GetObject()) {
    d.set(Value(std::string_view(m.name.GetString(), m.name.GetStringLength())),
          tagged_to_value(m.value));
  }
  return Value(std::move(d));
}

std::filesystem::path vectors_dir() {
  return PYRO_TEST_VECTORS;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Scenario> load_scenarios() {
  rapidjson::Document index;
  const std::string index_text = read_file(vectors_dir() / "index.json");
  index.Parse(index_text.c_str());
  std::vector<Scenario> out;
  for (const auto& entry : index["scenarios"].GetArray()) {
    Scenario s;
    s.name = entry["path"].GetString();
    s.dir = vectors_dir() / s.name;
    const std::string text = read_file(s.dir / "scenario.json");
    s.json.Parse(text.c_str());
    if (s.json.HasParseError()) throw std::runtime_error("bad json in " + s.name);
    s.protocol = s.json["protocol"].GetString();
    s.serializer = s.json["serializer"].GetString();
    for (const auto& m : s.json["messages"].GetArray()) {
      RecordedMessage rm;
      rm.index = m["index"].GetInt();
      rm.file = m["file"].GetString();
      rm.direction = m["direction"].GetString();
      rm.framing = m["framing"].GetString();
      rm.bytes = read_file(s.dir / rm.file);
      if (rm.framing == "pyro") {
        const auto& h = m["header"];
        rm.type = h["type"].GetInt();
        rm.serializer_id = h["serializer_id"].GetInt();
        rm.flags = h["flags"].GetInt();
        const auto& p = m["payload"];
        rm.payload_offset = p["offset"].GetUint();
        rm.payload_size = p["size"].GetUint();
        rm.compressed = p["compressed"].GetBool();
        if (p.HasMember("decoded")) rm.decoded = tagged_to_value(p["decoded"]);
      }
      s.messages.push_back(std::move(rm));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string zlib_decompress(std::string_view data) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw std::runtime_error("inflateInit");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("zlib error");
    }
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

std::string payload_of(const RecordedMessage& m) {
  std::string p = m.bytes.substr(m.payload_offset, m.payload_size);
  return m.compressed ? zlib_decompress(p) : p;
}

}  // namespace pyro::testing
