// log.hpp — pyrocpp's named loggers, set up the way Pyro sets up Python's logging.
// Bottom of the stack: relies on config.hpp and spdlog. Adds Pyro's PYRO_LOGLEVEL / PYRO_LOGFILE
// behaviour (Pyro5/__init__.py): silent unless a level is given, records appended to pyro5.log or
// written to standard error, in Pyro's record layout with Python's level names:
//
//   [2024-05-01 12:00:00.123,pyrocpp.server,WARNING] message
//
// Light on purpose: spdlog::logger is only declared here. A source that logs includes
// <spdlog/logger.h> and asks before it builds an expensive message:
//
//   const auto log = pyro::log::logger("pyrocpp.server");
//   if (log->should_log(spdlog::level::debug)) log->debug("request {}", describe(message));
#pragma once

#include <memory>
#include <string_view>

namespace spdlog {
class logger;
}  // namespace spdlog

namespace pyro {

struct Config;

namespace log {

// The process-wide logger called `name` (by convention "pyrocpp.<module>"), the same object for
// the same name. All of them share one destination and level, taken once from Config::global():
// LOGLEVEL DEBUG, INFO, WARNING (WARN), ERROR, CRITICAL (FATAL) or NOTSET, in any case; none or
// empty turns logging off and then no file is created. LOGFILE names the file appended to, or is
// "{stderr}". The first call with logging on records "pyrocpp log configured using built-in
// defaults, level=<LOGLEVEL>" at INFO, like Pyro. These loggers are not entered in spdlog's
// registry, so an application's own spdlog set-up neither sees nor disturbs them.
// Throws what Config::global() throws, ValueError("invalid Pyro log level: PYRO_LOGLEVEL=x"), or
// PyroError when the log file cannot be opened. Thread-safe.
std::shared_ptr<spdlog::logger> logger(std::string_view name);

// A logger configured from `config` alone, with a destination of its own (a file is opened for
// appending when its level is not off): for programs and tests that keep their own Config. Records
// are flushed as they are written, as Python's handlers do. Throws like logger().
std::shared_ptr<spdlog::logger> make_logger(std::string_view name, const Config& config);

}  // namespace log
}  // namespace pyro
