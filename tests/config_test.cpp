#include "pyro/config.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <thread>
#include <typeinfo>
#include <unistd.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include "pyro/errors.hpp"
#include "pyro/log.hpp"

extern char** environ;

namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

// Pins an exception's exact type (not a subclass) and message.
#define EXPECT_THROW_MSG(statement, Type, message)                                         \
  do {                                                                                     \
    try {                                                                                  \
      statement;                                                                           \
      ADD_FAILURE() << "no exception from " #statement;                                    \
    } catch (const Type& e) {                                                              \
      EXPECT_EQ(typeid(e), typeid(Type)) << "caught a subclass of " #Type;                 \
      EXPECT_EQ(std::string(e.what()), std::string(message));                              \
    } catch (const std::exception& e) {                                                    \
      ADD_FAILURE() << "expected " #Type ", got " << typeid(e).name() << ": " << e.what(); \
    }                                                                                      \
  } while (false)

// Clears every variable pyrocpp reads (PYRO_*, PYROCPP_*) for the life of a test and puts the
// process environment back afterwards, so no test depends on the environment it was started in.
class ScopedEnvironment {
 public:
  ScopedEnvironment() {
    for (const auto& name : ours()) {
      saved_[name] = ::getenv(name.c_str());
      ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnvironment() {
    for (const auto& name : ours())
      ::unsetenv(name.c_str());
    for (const auto& [name, value] : saved_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

  void set(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }

 private:
  static std::vector<std::string> ours() {
    std::vector<std::string> names;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string variable = *entry;
      const std::string name = variable.substr(0, variable.find('='));
      if (name.starts_with("PYRO_") || name.starts_with("PYROCPP_")) names.push_back(name);
    }
    return names;
  }
  std::map<std::string, std::string> saved_;
};

// A file name in the temporary directory, removed at the end of the test.
class TempFile {
 public:
  TempFile() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("pyrocpp_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
             ".log");
    std::filesystem::remove(path_);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> lines() const {
    std::ifstream in(path_);
    std::vector<std::string> result;
    for (std::string line; std::getline(in, line);)
      result.push_back(line);
    return result;
  }

 private:
  std::filesystem::path path_;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// =============================================================================================
// Defaults
// =============================================================================================

TEST(ConfigDefaults, EqualPyro5sTable) {
  const pyro::Config c = pyro::Config::defaults();
  EXPECT_EQ(c.host, "localhost");
  EXPECT_EQ(c.ns_host, "localhost");
  EXPECT_EQ(c.ns_port, 9090);
  EXPECT_EQ(c.ns_bcport, 9091);
  EXPECT_EQ(c.ns_bchost, std::nullopt);
  EXPECT_EQ(c.ns_autoclean, 0.0);
  EXPECT_EQ(c.ns_lookup_delay, 0.0);
  EXPECT_EQ(c.nathost, std::nullopt);
  EXPECT_EQ(c.natport, 0);
  EXPECT_FALSE(c.compression);
  EXPECT_EQ(c.servertype, "thread");
  EXPECT_EQ(c.commtimeout, 0.0);
  EXPECT_EQ(c.polltimeout, 2.0);
  EXPECT_EQ(c.max_retries, 0);
  EXPECT_TRUE(c.sock_reuse);
  EXPECT_FALSE(c.sock_nodelay);
  EXPECT_FALSE(c.detailed_traceback);
  EXPECT_EQ(c.threadpool_size, 80);
  EXPECT_EQ(c.threadpool_size_min, 4);
  EXPECT_EQ(c.max_message_size, 1073741824);
  EXPECT_THAT(c.broadcast_addrs, ElementsAre("<broadcast>", "0.0.0.0"));
  EXPECT_EQ(c.prefer_ip_version, 0);
  EXPECT_EQ(c.serializer, "serpent");
  EXPECT_FALSE(c.serpent_bytes_repr);
  EXPECT_TRUE(c.iter_streaming);
  EXPECT_EQ(c.iter_stream_lifetime, 0.0);
  EXPECT_EQ(c.iter_stream_linger, 30.0);
  EXPECT_EQ(c.logfile, "pyro5.log");
  EXPECT_EQ(c.loglevel, std::nullopt);
  EXPECT_FALSE(c.logwire);
  EXPECT_FALSE(c.ssl);
  EXPECT_EQ(c.ssl_servercert, "");
  EXPECT_EQ(c.ssl_serverkey, "");
  EXPECT_EQ(c.ssl_serverkeypasswd, "");
  EXPECT_FALSE(c.ssl_requireclientcert);
  EXPECT_EQ(c.ssl_clientcert, "");
  EXPECT_EQ(c.ssl_clientkey, "");
  EXPECT_EQ(c.ssl_clientkeypasswd, "");
  EXPECT_EQ(c.ssl_cacerts, "");
}

TEST(ConfigDefaults, Pyro4ItemsTakePyro4sDefaultsAndProtocolIs502) {
  const pyro::Config c = pyro::Config::defaults();
  EXPECT_EQ(c.hmac_key, std::nullopt);
  EXPECT_EQ(c.serializers_accepted, (std::set<std::string>{"serpent", "marshal", "json"}));
  EXPECT_EQ(c.protocol_version, 502);
}

TEST(ConfigDefaults, AreWhatADefaultConstructedConfigHolds) {
  EXPECT_EQ(pyro::Config::defaults(), pyro::Config{});
}

TEST(Config, IsARegularValue) {
  pyro::Config a;
  pyro::Config b = a;
  EXPECT_EQ(a, b);
  b.broadcast_addrs.push_back("10.0.0.255");
  EXPECT_NE(a, b);
  a = b;
  EXPECT_EQ(a, b);
}

TEST(Config, ItemNamesArePyro5sInPyro5sOrderThenPyro4sThenPyrocpps) {
  const std::vector<std::string> expected = {"HOST",
                                             "NS_HOST",
                                             "NS_PORT",
                                             "NS_BCPORT",
                                             "NS_BCHOST",
                                             "NS_AUTOCLEAN",
                                             "NS_LOOKUP_DELAY",
                                             "NATHOST",
                                             "NATPORT",
                                             "COMPRESSION",
                                             "SERVERTYPE",
                                             "COMMTIMEOUT",
                                             "POLLTIMEOUT",
                                             "MAX_RETRIES",
                                             "SOCK_REUSE",
                                             "SOCK_NODELAY",
                                             "DETAILED_TRACEBACK",
                                             "THREADPOOL_SIZE",
                                             "THREADPOOL_SIZE_MIN",
                                             "MAX_MESSAGE_SIZE",
                                             "BROADCAST_ADDRS",
                                             "PREFER_IP_VERSION",
                                             "SERIALIZER",
                                             "SERPENT_BYTES_REPR",
                                             "ITER_STREAMING",
                                             "ITER_STREAM_LIFETIME",
                                             "ITER_STREAM_LINGER",
                                             "LOGFILE",
                                             "LOGLEVEL",
                                             "LOGWIRE",
                                             "SSL",
                                             "SSL_SERVERCERT",
                                             "SSL_SERVERKEY",
                                             "SSL_SERVERKEYPASSWD",
                                             "SSL_REQUIRECLIENTCERT",
                                             "SSL_CLIENTCERT",
                                             "SSL_CLIENTKEY",
                                             "SSL_CLIENTKEYPASSWD",
                                             "SSL_CACERTS",
                                             "HMAC_KEY",
                                             "SERIALIZERS_ACCEPTED",
                                             "PROTOCOL_VERSION"};
  EXPECT_EQ(pyro::Config::item_names(), expected);
}

// =============================================================================================
// get: values as Python's str() shows them
// =============================================================================================

TEST(ConfigGet, ShowsDefaultsAsPythonPrintsThem) {
  const pyro::Config c;
  EXPECT_EQ(c.get("HOST"), "localhost");
  EXPECT_EQ(c.get("NS_PORT"), "9090");
  EXPECT_EQ(c.get("NS_BCHOST"), "None");
  EXPECT_EQ(c.get("NS_AUTOCLEAN"), "0.0");
  EXPECT_EQ(c.get("COMPRESSION"), "False");
  EXPECT_EQ(c.get("SOCK_REUSE"), "True");
  EXPECT_EQ(c.get("POLLTIMEOUT"), "2.0");
  EXPECT_EQ(c.get("ITER_STREAM_LINGER"), "30.0");
  EXPECT_EQ(c.get("MAX_MESSAGE_SIZE"), "1073741824");
  EXPECT_EQ(c.get("BROADCAST_ADDRS"), "['<broadcast>', '0.0.0.0']");
  EXPECT_EQ(c.get("SSL_CACERTS"), "");
  EXPECT_EQ(c.get("LOGLEVEL"), "None");
  EXPECT_EQ(c.get("HMAC_KEY"), "None");
  EXPECT_EQ(c.get("SERIALIZERS_ACCEPTED"), "{'json', 'marshal', 'serpent'}");
  EXPECT_EQ(c.get("PROTOCOL_VERSION"), "502");
}

TEST(ConfigGet, WritesFloatsAsPythonsRepr) {
  pyro::Config c;
  const std::vector<std::pair<double, std::string>> cases = {
      {0.0, "0.0"},       {-0.0, "-0.0"},          {100.0, "100.0"},
      {0.1, "0.1"},       {123.456, "123.456"},    {0.0001, "0.0001"},
      {0.00001, "1e-05"}, {1.234e-5, "1.234e-05"}, {1e15, "1000000000000000.0"},
      {1e16, "1e+16"},    {1.5e16, "1.5e+16"},     {12345678901234567.0, "1.2345678901234568e+16"},
      {1e300, "1e+300"},  {5e-324, "5e-324"},      {2.5, "2.5"}};
  for (const auto& [value, text] : cases) {
    c.commtimeout = value;
    EXPECT_EQ(c.get("COMMTIMEOUT"), text) << value;
  }
  c.commtimeout = std::numeric_limits<double>::infinity();
  EXPECT_EQ(c.get("COMMTIMEOUT"), "inf");
  c.commtimeout = -std::numeric_limits<double>::infinity();
  EXPECT_EQ(c.get("COMMTIMEOUT"), "-inf");
  c.commtimeout = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(c.get("COMMTIMEOUT"), "nan");
}

TEST(ConfigGet, QuotesListElementsAsPythonsRepr) {
  pyro::Config c;
  c.broadcast_addrs = {"it's", "say \"hi\"", "both ' \"", "back\\slash", "tab\there", ""};
  EXPECT_EQ(c.get("BROADCAST_ADDRS"),
            R"(["it's", 'say "hi"', 'both \' "', 'back\\slash', 'tab\there', ''])");
  c.broadcast_addrs.clear();
  EXPECT_EQ(c.get("BROADCAST_ADDRS"), "[]");
}

TEST(ConfigGet, ShowsAnEmptySetAsPythonDoes) {
  pyro::Config c;
  c.serializers_accepted.clear();
  EXPECT_EQ(c.get("SERIALIZERS_ACCEPTED"), "set()");
}

TEST(ConfigGet, RefusesUnknownItems) {
  const pyro::Config c;
  EXPECT_THROW_MSG(c.get("FOO"), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_FOO");
  EXPECT_THROW_MSG(c.get("host"), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_host");
}

// =============================================================================================
// set: the conversions of the environment
// =============================================================================================

TEST(ConfigSet, ReadsBooleansInAnyCase) {
  pyro::Config c;
  for (const char* text : {"0", "off", "no", "false", "OFF", "No", "FALSE", "fAlSe"}) {
    c.compression = true;
    c.set("COMPRESSION", text);
    EXPECT_FALSE(c.compression) << text;
  }
  for (const char* text : {"1", "yes", "on", "true", "YES", "On", "TRUE", "tRuE"}) {
    c.compression = false;
    c.set("COMPRESSION", text);
    EXPECT_TRUE(c.compression) << text;
  }
}

TEST(ConfigSet, RefusesOtherBooleansShowingTheValueLowered) {
  pyro::Config c;
  EXPECT_THROW_MSG(c.set("COMPRESSION", "Maybe"), pyro::ValueError,
                   "invalid boolean value: PYRO_COMPRESSION=maybe");
  EXPECT_THROW_MSG(c.set("SSL", " true"), pyro::ValueError,
                   "invalid boolean value: PYRO_SSL= true");
  EXPECT_THROW_MSG(c.set("SSL", ""), pyro::ValueError, "invalid boolean value: PYRO_SSL=");
  EXPECT_THROW_MSG(c.set("SSL", "2"), pyro::ValueError, "invalid boolean value: PYRO_SSL=2");
}

TEST(ConfigSet, ReadsIntegersAsPythonsInt) {
  pyro::Config c;
  const std::vector<std::pair<std::string, int>> cases = {
      {"42", 42}, {" 42 ", 42}, {"\t7\n", 7},    {"+7", 7},
      {"-3", -3}, {"007", 7},   {"1_000", 1000}, {"2147483647", 2147483647}};
  for (const auto& [text, value] : cases) {
    c.set("NS_PORT", text);
    EXPECT_EQ(c.ns_port, value) << text;
  }
}

TEST(ConfigSet, RefusesWhatPythonsIntRefuses) {
  pyro::Config c;
  for (const char* text :
       {"", " ", "4.0", "0x10", "1e3", "1__0", "_1", "1_", "abc", "- 1", "++1", "1 2"}) {
    EXPECT_THROW_MSG(c.set("NS_PORT", text), pyro::ValueError,
                     std::string("invalid Pyro environment config value: PYRO_NS_PORT=") + text);
  }
  EXPECT_EQ(c.ns_port, 9090);
}

TEST(ConfigSet, RefusesIntegersBeyondTheMembersRange) {
  pyro::Config c;
  EXPECT_THROW_MSG(c.set("THREADPOOL_SIZE", "3000000000"), pyro::ValueError,
                   "invalid Pyro environment config value: PYRO_THREADPOOL_SIZE=3000000000");
  EXPECT_THROW_MSG(c.set("MAX_MESSAGE_SIZE", "99999999999999999999"), pyro::ValueError,
                   "invalid Pyro environment config value: PYRO_MAX_MESSAGE_SIZE="
                   "99999999999999999999");
}

TEST(ConfigSet, TakesMessageSizesBeyond32Bits) {
  pyro::Config c;
  c.set("MAX_MESSAGE_SIZE", "5000000000");
  EXPECT_EQ(c.max_message_size, 5000000000);
}

TEST(ConfigSet, ReadsFloatsAsPythonsFloat) {
  pyro::Config c;
  const std::vector<std::pair<std::string, double>> cases = {
      {"2.5", 2.5},
      {" 2.5 ", 2.5},
      {"5", 5.0},
      {"5.", 5.0},
      {".5", 0.5},
      {"-1.5", -1.5},
      {"+1.5", 1.5},
      {"1E3", 1000.0},
      {"1e-3", 0.001},
      {"2.5e+2", 250.0},
      {"1_0.2_5", 10.25},
      {"1e1_0", 1e10},
      {"1e999", std::numeric_limits<double>::infinity()},
      {"-1e999", -std::numeric_limits<double>::infinity()},
      {"1e-999", 0.0},
      {"inf", std::numeric_limits<double>::infinity()},
      {"-Infinity", -std::numeric_limits<double>::infinity()},
      {"INF", std::numeric_limits<double>::infinity()}};
  for (const auto& [text, value] : cases) {
    c.set("COMMTIMEOUT", text);
    EXPECT_EQ(c.commtimeout, value) << text;
  }
  c.set("COMMTIMEOUT", "nan");
  EXPECT_TRUE(std::isnan(c.commtimeout));
  c.set("COMMTIMEOUT", "-NaN");
  EXPECT_TRUE(std::isnan(c.commtimeout));
}

TEST(ConfigSet, RefusesWhatPythonsFloatRefuses) {
  pyro::Config c;
  for (const char* text : {"", ".", "e5", "1e", "1e+", "0x1p3", "1..2", "1_.5", "1._5", "_1.0",
                           "1.0_", "infinit", "nan1", "1,5", "1.5 s"}) {
    EXPECT_THROW_MSG(
        c.set("POLLTIMEOUT", text), pyro::ValueError,
        std::string("invalid Pyro environment config value: PYRO_POLLTIMEOUT=") + text);
  }
  EXPECT_EQ(c.polltimeout, 2.0);
}

TEST(ConfigSet, TakesStringsVerbatim) {
  pyro::Config c;
  c.set("HOST", " my host ");
  EXPECT_EQ(c.host, " my host ");
  c.set("SERVERTYPE", "");
  EXPECT_EQ(c.servertype, "");
}

TEST(ConfigSet, TakesItemsWithoutADefaultAsStrings) {
  pyro::Config c;
  c.set("NATHOST", "None");
  EXPECT_EQ(c.nathost, std::optional<std::string>("None"));
  c.set("NS_BCHOST", "");
  EXPECT_EQ(c.ns_bchost, std::optional<std::string>(""));
  c.set("LOGLEVEL", "DEBUG");
  EXPECT_EQ(c.loglevel, std::optional<std::string>("DEBUG"));
  c.set("HMAC_KEY", "s3cret key");
  EXPECT_EQ(c.hmac_key, std::optional<std::string>("s3cret key"));
}

TEST(ConfigSet, SplitsListsOnCommasAndStripsEachElement) {
  pyro::Config c;
  c.set("BROADCAST_ADDRS", "192.168.1.255, <broadcast> ,\t10.0.0.255");
  EXPECT_THAT(c.broadcast_addrs, ElementsAre("192.168.1.255", "<broadcast>", "10.0.0.255"));
  c.set("BROADCAST_ADDRS", "");
  EXPECT_THAT(c.broadcast_addrs, ElementsAre(""));
  c.set("BROADCAST_ADDRS", "a,,b,");
  EXPECT_THAT(c.broadcast_addrs, ElementsAre("a", "", "b", ""));
}

TEST(ConfigSet, SplitsAcceptedSerializersIntoASet) {
  pyro::Config c;
  c.set("SERIALIZERS_ACCEPTED", "json , msgpack,json");
  EXPECT_EQ(c.serializers_accepted, (std::set<std::string>{"json", "msgpack"}));
}

TEST(ConfigSet, NamesPyrocppsOwnVariableInItsMessages) {
  pyro::Config c;
  c.set("PROTOCOL_VERSION", "48");
  EXPECT_EQ(c.protocol_version, 48);
  EXPECT_THROW_MSG(c.set("PROTOCOL_VERSION", "four"), pyro::ValueError,
                   "invalid Pyro environment config value: PYROCPP_PROTOCOL_VERSION=four");
}

TEST(ConfigSet, RefusesUnknownItems) {
  pyro::Config c;
  EXPECT_THROW_MSG(c.set("FOO", "1"), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_FOO");
  EXPECT_THROW_MSG(c.set("ONEWAY_THREADED", "1"), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_ONEWAY_THREADED");
  EXPECT_THROW_MSG(c.set("", "1"), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_");
}

TEST(ConfigSet, RoundTripsEveryScalarItemThroughGet) {
  pyro::Config changed;
  changed.set("NS_AUTOCLEAN", "4.25");
  changed.set("COMPRESSION", "yes");
  changed.set("NATHOST", "gateway");
  changed.set("NATPORT", "5555");
  for (const auto& name : pyro::Config::item_names()) {
    if (name == "BROADCAST_ADDRS" || name == "SERIALIZERS_ACCEPTED" || name == "HMAC_KEY" ||
        name == "NS_BCHOST" || name == "LOGLEVEL") {
      continue;  // lists, sets and None do not read back from their str()
    }
    pyro::Config copy;
    copy.set(name, changed.get(name));
    EXPECT_EQ(copy.get(name), changed.get(name)) << name;
  }
}

// =============================================================================================
// The environment
// =============================================================================================

TEST(ConfigEnvironment, WithoutVariablesGivesTheDefaults) {
  ScopedEnvironment env;
  EXPECT_EQ(pyro::Config::from_environment(), pyro::Config::defaults());
}

TEST(ConfigEnvironment, AppliesEveryPyroVariable) {
  ScopedEnvironment env;
  env.set("PYRO_COMPRESSION", "true");
  env.set("PYRO_SERVERTYPE", "multiplex");
  env.set("PYRO_MAX_MESSAGE_SIZE", "2000");
  env.set("PYRO_BROADCAST_ADDRS", "192.168.1.255, <broadcast>");
  env.set("PYRO_COMMTIMEOUT", "1.5");
  env.set("PYRO_NATHOST", "example.com");
  env.set("PYRO_LOGFILE", "{stderr}");
  const auto c = pyro::Config::from_environment();
  EXPECT_TRUE(c.compression);
  EXPECT_EQ(c.servertype, "multiplex");
  EXPECT_EQ(c.max_message_size, 2000);
  EXPECT_THAT(c.broadcast_addrs, ElementsAre("192.168.1.255", "<broadcast>"));
  EXPECT_EQ(c.commtimeout, 1.5);
  EXPECT_EQ(c.nathost, std::optional<std::string>("example.com"));
  EXPECT_EQ(c.logfile, "{stderr}");
  EXPECT_EQ(c.ns_port, 9090);
}

TEST(ConfigEnvironment, KeepsAnEmptyLogLevelAsPyroDoes) {
  ScopedEnvironment env;
  env.set("PYRO_LOGLEVEL", "");
  EXPECT_EQ(pyro::Config::from_environment().loglevel, std::optional<std::string>(""));
}

TEST(ConfigEnvironment, RefusesUnknownPyroVariables) {
  ScopedEnvironment env;
  env.set("PYRO_FOO", "1");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_FOO");
}

TEST(ConfigEnvironment, RefusesVariablesNamedInTheWrongCase) {
  ScopedEnvironment env;
  env.set("PYRO_host", "x");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_host");
}

TEST(ConfigEnvironment, RefusesProtocolVersionUnderThePyroPrefix) {
  ScopedEnvironment env;
  env.set("PYRO_PROTOCOL_VERSION", "48");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid Pyro environment config variable: PYRO_PROTOCOL_VERSION");
}

TEST(ConfigEnvironment, ReportsBadValuesWithTheVariable) {
  ScopedEnvironment env;
  env.set("PYRO_NS_PORT", "ninety");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid Pyro environment config value: PYRO_NS_PORT=ninety");
}

TEST(ConfigEnvironment, ReportsBadBooleansLowered) {
  ScopedEnvironment env;
  env.set("PYRO_SSL", "Sure");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid boolean value: PYRO_SSL=sure");
}

TEST(ConfigEnvironment, ReadsPyro4sHmacKeyAndAcceptedSerializers) {
  ScopedEnvironment env;
  env.set("PYRO_HMAC_KEY", "secret");
  env.set("PYRO_SERIALIZERS_ACCEPTED", "json,marshal");
  const auto c = pyro::Config::from_environment();
  EXPECT_EQ(c.hmac_key, std::optional<std::string>("secret"));
  EXPECT_EQ(c.serializers_accepted, (std::set<std::string>{"json", "marshal"}));
}

TEST(ConfigEnvironment, AcceptsAndIgnoresPyro4sOtherItems) {
  ScopedEnvironment env;
  env.set("PYRO_ONEWAY_THREADED", "false");
  env.set("PYRO_AUTOPROXY", "no");
  env.set("PYRO_METADATA", "0");
  env.set("PYRO_REQUIRE_EXPOSE", "off");
  env.set("PYRO_USE_MSG_WAITALL", "yes");
  env.set("PYRO_FLAME_ENABLED", "true");
  env.set("PYRO_PICKLE_PROTOCOL_VERSION", "4");
  env.set("PYRO_DILL_PROTOCOL_VERSION", "-1");
  env.set("PYRO_JSON_MODULE", "ujson");
  EXPECT_EQ(pyro::Config::from_environment(), pyro::Config::defaults());
}

TEST(ConfigEnvironment, StillChecksTheValuesOfPyro4sIgnoredItems) {
  ScopedEnvironment env;
  env.set("PYRO_ONEWAY_THREADED", "perhaps");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid boolean value: PYRO_ONEWAY_THREADED=perhaps");
}

TEST(ConfigEnvironment, ChecksIntegerValuesOfPyro4sIgnoredItems) {
  ScopedEnvironment env;
  env.set("PYRO_PICKLE_PROTOCOL_VERSION", "highest");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid Pyro environment config value: PYRO_PICKLE_PROTOCOL_VERSION=highest");
}

TEST(ConfigEnvironment, ReadsTheProtocolVersionFromPyrocppsOwnVariable) {
  ScopedEnvironment env;
  env.set("PYROCPP_PROTOCOL_VERSION", "48");
  EXPECT_EQ(pyro::Config::from_environment().protocol_version, 48);
}

TEST(ConfigEnvironment, ReportsABadProtocolVersionWithItsVariable) {
  ScopedEnvironment env;
  env.set("PYROCPP_PROTOCOL_VERSION", "4.8");
  EXPECT_THROW_MSG(pyro::Config::from_environment(), pyro::ValueError,
                   "invalid Pyro environment config value: PYROCPP_PROTOCOL_VERSION=4.8");
}

TEST(ConfigEnvironment, LeavesOtherPyrocppVariablesAlone) {
  ScopedEnvironment env;
  env.set("PYROCPP_BUILD_DIR", "build");
  env.set("PYROCPP_HOST", "elsewhere");
  EXPECT_EQ(pyro::Config::from_environment(), pyro::Config::defaults());
}

TEST(ConfigEnvironment, IgnoresVariablesWithoutThePrefix) {
  ScopedEnvironment env;
  env.set("PYRO", "1");
  env.set("XPYRO_HOST", "1");
  env.set("pyro_host", "1");
  EXPECT_EQ(pyro::Config::from_environment(), pyro::Config::defaults());
  ::unsetenv("PYRO");
  ::unsetenv("XPYRO_HOST");
  ::unsetenv("pyro_host");
}

TEST(ConfigGlobal, IsOneObjectForEveryThread) {
  ScopedEnvironment env;
  std::vector<const pyro::Config*> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = &pyro::Config::global(); });
  }
  for (auto& thread : threads)
    thread.join();
  for (const auto* config : seen)
    EXPECT_EQ(config, &pyro::Config::global());
}

TEST(ConfigGlobal, DoesNotFollowLaterChangesToTheEnvironment) {
  ScopedEnvironment env;
  const pyro::Config before = pyro::Config::global();
  env.set("PYRO_NS_PORT", "1234");
  EXPECT_EQ(pyro::Config::global(), before);
}

// =============================================================================================
// dump
// =============================================================================================

TEST(ConfigDump, FollowsPyro5CheckConfigsLayout) {
  const auto lines = split_lines(pyro::Config{}.dump());
  const auto items = pyro::Config::item_names();
  ASSERT_EQ(lines.size(), 5 + items.size());
  EXPECT_EQ(lines[0], "pyrocpp version: 0.1.0");
  EXPECT_THAT(lines[1], StartsWith("Loaded from: /"));
  EXPECT_THAT(lines[2], MatchesRegex("C\\+\\+ version: .+, C\\+\\+[0-9]+ \\(.+, .+\\)"));
  EXPECT_EQ(lines[3], "Protocol version: 502");
  EXPECT_EQ(lines[4], "Currently active configuration settings:");
  std::vector<std::string> sorted = items;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(lines[5 + i], sorted[i] + " = " + pyro::Config{}.get(sorted[i]));
  }
  EXPECT_EQ(lines[5], "BROADCAST_ADDRS = ['<broadcast>', '0.0.0.0']");
  EXPECT_EQ(lines.back(), "THREADPOOL_SIZE_MIN = 4");
}

TEST(ConfigDump, ShowsTheConfiguredProtocolVersion) {
  pyro::Config c;
  c.protocol_version = 48;
  EXPECT_THAT(c.dump(), HasSubstr("\nProtocol version: 48\n"));
}

TEST(ConfigDump, HidesTheHmacKey) {
  pyro::Config c;
  EXPECT_THAT(c.dump(), HasSubstr("\nHMAC_KEY = None\n"));
  c.hmac_key = "swordfish";
  EXPECT_THAT(c.dump(), HasSubstr("\nHMAC_KEY = <hidden>\n"));
  EXPECT_THAT(c.dump(), Not(HasSubstr("swordfish")));
}

// =============================================================================================
// validate
// =============================================================================================

TEST(ConfigValidate, AcceptsTheDefaults) {
  EXPECT_NO_THROW(pyro::Config{}.validate());
}

TEST(ConfigValidate, AcceptsBothServerTypes) {
  pyro::Config c;
  c.servertype = "multiplex";
  EXPECT_NO_THROW(c.validate());
}

TEST(ConfigValidate, RefusesAnUnknownServerTypeWithPyrosMessage) {
  pyro::Config c;
  c.servertype = "processes";
  EXPECT_THROW_MSG(c.validate(), pyro::PyroError, "invalid server type 'processes'");
}

TEST(ConfigValidate, RefusesThreadPoolSizesBelowOne) {
  pyro::Config c;
  c.threadpool_size = 0;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError, "threadpool sizes must be greater than zero");
  c = pyro::Config{};
  c.threadpool_size_min = 0;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError, "threadpool sizes must be greater than zero");
}

TEST(ConfigValidate, RefusesAMinimumPoolAboveTheMaximum) {
  pyro::Config c;
  c.threadpool_size = 3;
  c.threadpool_size_min = 4;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError,
                   "minimum threadpool size must be less than or equal to max size");
  c.threadpool_size_min = 3;
  EXPECT_NO_THROW(c.validate());
}

TEST(ConfigValidate, RefusesANatPortWithoutNatHost) {
  pyro::Config c;
  c.natport = 5000;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError, "must provide natport with nathost");
  c.nathost = "gateway";
  EXPECT_NO_THROW(c.validate());
  c.natport = 0;
  EXPECT_NO_THROW(c.validate());
}

TEST(ConfigValidate, RefusesAnAutocleanPeriodBelowThreeSeconds) {
  pyro::Config c;
  c.ns_autoclean = 2.5;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError, "NS_AUTOCLEAN cannot be smaller than 3");
  c.ns_autoclean = 3;
  EXPECT_NO_THROW(c.validate());
}

TEST(ConfigValidate, RefusesAnUnknownSerializer) {
  pyro::Config c;
  for (const char* name : {"serpent", "json", "marshal", "msgpack"}) {
    c.serializer = name;
    EXPECT_NO_THROW(c.validate()) << name;
  }
  c.serializer = "pickle";
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError, "unknown serializer configured");
}

TEST(ConfigValidate, RefusesAnIpVersionOtherThan0Or4Or6) {
  pyro::Config c;
  c.prefer_ip_version = 5;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError,
                   "invalid PREFER_IP_VERSION 5: must be 0, 4 or 6");
}

TEST(ConfigValidate, RefusesProtocolsOtherThan502And48) {
  pyro::Config c;
  c.protocol_version = 48;
  EXPECT_NO_THROW(c.validate());
  c.protocol_version = 47;
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError,
                   "unsupported protocol version 47: pyrocpp speaks 502 (Pyro5) and 48 (Pyro4)");
}

TEST(ConfigValidate, RefusesAnUnknownLogLevel) {
  pyro::Config c;
  for (const char* level :
       {"", "DEBUG", "info", "Warning", "WARN", "ERROR", "critical", "FATAL", "NOTSET"}) {
    c.loglevel = level;
    EXPECT_NO_THROW(c.validate()) << level;
  }
  c.loglevel = "VERBOSE";
  EXPECT_THROW_MSG(c.validate(), pyro::ValueError, "invalid Pyro log level: PYRO_LOGLEVEL=VERBOSE");
}

// =============================================================================================
// log
// =============================================================================================

pyro::Config logging_to(const TempFile& file, const char* level) {
  pyro::Config c;
  c.logfile = file.path().string();
  c.loglevel = level;
  return c;
}

TEST(Log, WritesPyrosRecordLayout) {
  TempFile file;
  const auto logger = pyro::log::make_logger("pyrocpp.test", logging_to(file, "DEBUG"));
  logger->info("hello {}", 42);
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], MatchesRegex(R"(\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})"
                                     R"(\.[0-9]{3},pyrocpp\.test,INFO\] hello 42)"));
}

TEST(Log, StampsRecordsWithTheLocalTime) {
  TempFile file;
  const auto logger = pyro::log::make_logger("pyrocpp.test", logging_to(file, "INFO"));
  const std::time_t now = std::time(nullptr);
  logger->info("now");
  std::tm local{};
  ::localtime_r(&now, &local);
  char date[16];
  std::strftime(date, sizeof date, "%Y-%m-%d", &local);
  ASSERT_EQ(file.lines().size(), 1u);
  EXPECT_THAT(file.lines()[0], StartsWith(std::string("[") + date + " "));
}

TEST(Log, NamesLevelsAsPython) {
  TempFile file;
  const auto logger = pyro::log::make_logger("pyrocpp.levels", logging_to(file, "DEBUG"));
  logger->debug("d");
  logger->info("i");
  logger->warn("w");
  logger->error("e");
  logger->critical("c");
  std::vector<std::string> names;
  for (const auto& line : file.lines()) {
    ASSERT_THAT(line, MatchesRegex(R"(\[[^,]+,pyrocpp\.levels,[A-Z]+\] .)"));
    const auto comma = line.rfind(',');
    names.push_back(line.substr(comma + 1, line.find(']') - comma - 1));
  }
  EXPECT_THAT(names, ElementsAre("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"));
}

TEST(Log, LeavesOutRecordsBelowTheLevel) {
  TempFile file;
  const auto logger = pyro::log::make_logger("pyrocpp.test", logging_to(file, "WARNING"));
  EXPECT_FALSE(logger->should_log(spdlog::level::info));
  EXPECT_TRUE(logger->should_log(spdlog::level::warn));
  logger->info("quiet");
  logger->warn("loud");
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(",WARNING] loud"));
}

TEST(Log, TakesLevelNamesInAnyCase) {
  TempFile file;
  EXPECT_EQ(pyro::log::make_logger("a", logging_to(file, "debug"))->level(), spdlog::level::debug);
  EXPECT_EQ(pyro::log::make_logger("a", logging_to(file, "Info"))->level(), spdlog::level::info);
  EXPECT_EQ(pyro::log::make_logger("a", logging_to(file, "warn"))->level(), spdlog::level::warn);
  EXPECT_EQ(pyro::log::make_logger("a", logging_to(file, "error"))->level(), spdlog::level::err);
  EXPECT_EQ(pyro::log::make_logger("a", logging_to(file, "FATAL"))->level(),
            spdlog::level::critical);
  EXPECT_EQ(pyro::log::make_logger("a", logging_to(file, "notset"))->level(), spdlog::level::trace);
}

TEST(Log, IsSilentAndCreatesNoFileWithoutALevel) {
  TempFile file;
  pyro::Config c;
  c.logfile = file.path().string();
  const auto logger = pyro::log::make_logger("pyrocpp.test", c);
  EXPECT_EQ(logger->level(), spdlog::level::off);
  EXPECT_FALSE(logger->should_log(spdlog::level::critical));
  logger->critical("nobody hears this");
  EXPECT_FALSE(std::filesystem::exists(file.path()));
}

TEST(Log, IsSilentWithAnEmptyLevel) {
  TempFile file;
  const auto logger = pyro::log::make_logger("pyrocpp.test", logging_to(file, ""));
  EXPECT_EQ(logger->level(), spdlog::level::off);
  EXPECT_FALSE(std::filesystem::exists(file.path()));
}

TEST(Log, RefusesAnUnknownLevel) {
  TempFile file;
  EXPECT_THROW_MSG(pyro::log::make_logger("pyrocpp.test", logging_to(file, "LOUD")),
                   pyro::ValueError, "invalid Pyro log level: PYRO_LOGLEVEL=LOUD");
  EXPECT_FALSE(std::filesystem::exists(file.path()));
}

TEST(Log, AppendsToAnExistingFile) {
  TempFile file;
  std::ofstream(file.path()) << "earlier line\n";
  pyro::log::make_logger("pyrocpp.test", logging_to(file, "INFO"))->info("later");
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "earlier line");
  EXPECT_THAT(lines[1], HasSubstr(",INFO] later"));
}

TEST(Log, ReportsALogFileThatCannotBeOpened) {
  TempFile not_a_directory;
  std::ofstream(not_a_directory.path()) << "a file\n";
  pyro::Config c;
  c.loglevel = "INFO";
  c.logfile = (not_a_directory.path() / "pyro.log").string();
  try {
    pyro::log::make_logger("pyrocpp.test", c);
    ADD_FAILURE() << "no exception";
  } catch (const pyro::PyroError& e) {
    EXPECT_THAT(e.what(), StartsWith("cannot open log file '" + c.logfile + "': "));
  }
}

TEST(Log, CreatesNoDirectoriesForTheLogFile) {
  TempFile missing;
  pyro::Config c;
  c.loglevel = "INFO";
  c.logfile = (missing.path() / "pyro.log").string();
  EXPECT_THROW(pyro::log::make_logger("pyrocpp.test", c), pyro::PyroError);
  EXPECT_FALSE(std::filesystem::exists(missing.path()));
}

TEST(Log, WritesToStandardErrorWhenAsked) {
  pyro::Config c;
  c.loglevel = "ERROR";
  c.logfile = "{stderr}";
  const auto logger = pyro::log::make_logger("pyrocpp.stderr", c);
  testing::internal::CaptureStderr();
  logger->error("to stderr");
  const std::string captured = testing::internal::GetCapturedStderr();
  ASSERT_THAT(captured, EndsWith("\n"));
  EXPECT_THAT(captured.substr(0, captured.size() - 1),
              MatchesRegex(R"(\[.+,pyrocpp\.stderr,ERROR\] to stderr)"));
}

TEST(LogGlobal, HandsOutOneLoggerPerNameSilentWithoutPyroLoglevel) {
  ScopedEnvironment env;
  const auto cwd = std::filesystem::current_path();
  TempFile dir;
  std::filesystem::create_directory(dir.path());
  std::filesystem::current_path(dir.path());
  const auto first = pyro::log::logger("pyrocpp.server");
  const auto again = pyro::log::logger("pyrocpp.server");
  const auto other = pyro::log::logger("pyrocpp.client");
  first->critical("not written");
  std::filesystem::current_path(cwd);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  EXPECT_EQ(first->name(), "pyrocpp.server");
  EXPECT_EQ(first->level(), spdlog::level::off);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "pyro5.log"));
  std::filesystem::remove(dir.path());
}

TEST(LogGlobal, GivesEveryThreadTheSameLogger) {
  ScopedEnvironment env;
  std::vector<std::shared_ptr<spdlog::logger>> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = pyro::log::logger("pyrocpp.threads"); });
  }
  for (auto& thread : threads)
    thread.join();
  for (const auto& logger : seen)
    EXPECT_EQ(logger, seen.front());
}

}  // namespace
