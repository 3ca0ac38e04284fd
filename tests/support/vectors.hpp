// vectors.hpp — test support: the recorded Pyro traffic in tests/vectors (copied from the
// project's shared interop vectors) as C++ values: scenarios, messages, payloads, and the tagged
// JSON notation of scenario.json turned into pyro::Value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "pyro/value.hpp"

namespace pyro::testing {

// A value in scenario.json's tagged notation ({"$tuple": [...]}, {"$int": "..."}, ...) as the
// Value our decoders produce for the same bytes. msgpack extension values ({"$ext": ...}) become
// what the msgpack codec makes of them (complex, int, datetime, date).
Value tagged_to_value(const rapidjson::Value& json);

struct RecordedMessage {
  int index = 0;
  std::string file;
  std::string direction;  // "c2s" or "s2c"
  std::string framing;    // "pyro", "raw", "datagram"
  std::string bytes;      // the whole message as it went over the wire
  int type = 0;           // message type (pyro framing)
  int serializer_id = 0;
  int flags = 0;
  std::size_t payload_offset = 0;
  std::size_t payload_size = 0;
  bool compressed = false;
  std::optional<Value> decoded;  // payload.decoded, when present
};

struct Scenario {
  std::filesystem::path dir;
  std::string name;        // e.g. "pyro5/serpent/echo_rich_types"
  std::string protocol;    // "pyro5" / "pyro4"
  std::string serializer;  // "serpent", "json", "marshal", "msgpack", "raw"
  std::vector<RecordedMessage> messages;
  rapidjson::Document json;  // the whole scenario.json
};

std::filesystem::path vectors_dir();
// Every scenario listed in index.json, loaded with its messages.
std::vector<Scenario> load_scenarios();

// The payload bytes of a message, decompressed when the COMPRESSED flag was set.
std::string payload_of(const RecordedMessage& m);

std::string read_file(const std::filesystem::path& path);
std::string zlib_decompress(std::string_view data);

}  // namespace pyro::testing
