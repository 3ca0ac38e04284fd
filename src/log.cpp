// log.cpp — named spdlog loggers configured from PYRO_LOGLEVEL / PYRO_LOGFILE like Pyro's logging.
#include "pyro/log.hpp"

#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "pyro/config.hpp"
#include "pyro/errors.hpp"

namespace pyro::log {
namespace {

// Pyro5/__init__.py: "[%(asctime)s.%(msecs)03d,%(name)s,%(levelname)s] %(message)s" with asctime
// as "%Y-%m-%d %H:%M:%S" in local time. %* is the Python level name below.
constexpr const char* record_pattern = "[%Y-%m-%d %H:%M:%S.%e,%n,%*] %v";

// Python's level names. Python has nothing below DEBUG, so trace records are shown as DEBUG too.
std::string_view python_level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "INFO";
    case spdlog::level::warn:
      return "WARNING";
    case spdlog::level::err:
      return "ERROR";
    case spdlog::level::critical:
      return "CRITICAL";
    default:
      return "NOTSET";
  }
}

class PythonLevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& out) override {
    const std::string_view name = python_level_name(message.level);
    out.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PythonLevelFlag>();
  }
};

// The level PYRO_LOGLEVEL names: the attributes of Python's logging module Pyro looks it up
// among, in any case (Python insists on upper case). Also listed in Config::validate().
spdlog::level::level_enum level_of(const Config& config) {
  if (!config.loglevel || config.loglevel->empty()) return spdlog::level::off;
  std::string name = *config.loglevel;
  for (char& c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (name == "DEBUG") return spdlog::level::debug;
  if (name == "INFO") return spdlog::level::info;
  if (name == "WARNING" || name == "WARN") return spdlog::level::warn;
  if (name == "ERROR") return spdlog::level::err;
  if (name == "CRITICAL" || name == "FATAL") return spdlog::level::critical;
  if (name == "NOTSET") return spdlog::level::trace;  // Python's level 0 lets everything through
  throw ValueError(fmt::format("invalid Pyro log level: PYRO_LOGLEVEL={}", *config.loglevel));
}

// The destination for `config`, or null when logging is off (no file is touched then). Files are
// appended to, as Python's FileHandler does by default.
spdlog::sink_ptr make_sink(const Config& config, spdlog::level::level_enum level) {
  if (level == spdlog::level::off) return nullptr;
  spdlog::sink_ptr sink;
  if (config.logfile == "{stderr}") {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // spdlog would create missing directories; Python's FileHandler refuses, and so do we.
    const auto directory = std::filesystem::path(config.logfile).parent_path();
    std::error_code error;
    if (!directory.empty() && !std::filesystem::is_directory(directory, error)) {
      throw PyroError(fmt::format("cannot open log file '{}': no directory {}", config.logfile,
                                  directory.string()));
    }
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.logfile, false);
    } catch (const spdlog::spdlog_ex& e) {
      throw PyroError(fmt::format("cannot open log file '{}': {}", config.logfile, e.what()));
    }
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<PythonLevelFlag>('*').set_pattern(record_pattern);
  sink->set_formatter(std::move(formatter));
  return sink;
}

std::shared_ptr<spdlog::logger> make(std::string_view name, const spdlog::sink_ptr& sink,
                                     spdlog::level::level_enum level) {
  std::vector<spdlog::sink_ptr> sinks;
  if (sink) sinks.push_back(sink);
  auto result = std::make_shared<spdlog::logger>(std::string(name), sinks.begin(), sinks.end());
  result->set_level(level);
  result->flush_on(spdlog::level::trace);  // Python's handlers flush every record
  return result;
}

// The loggers logger() hands out. One per process, like Python's logging; it holds no Pyro state,
// only where records go.
// Thread safety: thread-safe.
class Registry {
 public:
  explicit Registry(const Config& config)
      : level_(level_of(config)), sink_(make_sink(config, level_)) {
    if (sink_) {
      get("pyrocpp")->info("pyrocpp log configured using built-in defaults, level={}",
                           *config.loglevel);
    }
  }

  std::shared_ptr<spdlog::logger> get(std::string_view name) {
    const std::lock_guard lock(mutex_);
    auto found = loggers_.find(name);
    if (found == loggers_.end()) {
      found = loggers_.emplace(std::string(name), make(name, sink_, level_)).first;
    }
    return found->second;
  }

 private:
  const spdlog::level::level_enum level_;
  const spdlog::sink_ptr sink_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>>
      loggers_;  // guarded by mutex_
};

}  // namespace

std::shared_ptr<spdlog::logger> logger(std::string_view name) {
  // Built on first use; when building throws (a bad environment) the next call tries again.
  static Registry registry{Config::global()};
  return registry.get(name);
}

std::shared_ptr<spdlog::logger> make_logger(std::string_view name, const Config& config) {
  const auto level = level_of(config);
  return make(name, make_sink(config, level), level);
}

}  // namespace pyro::log
