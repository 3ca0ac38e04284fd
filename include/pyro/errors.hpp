// errors.hpp — the exception hierarchy, mirroring Pyro5's Pyro5/errors.py and Python's builtins.
// Bottom of the stack: relies on the standard library only. Every layer above throws these.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace pyro {

// Base of every Pyro error. When the error came over the wire, remote_traceback() holds the
// traceback lines the remote side sent (Pyro's `_pyroTraceback`), otherwise it is empty.
class PyroError : public std::runtime_error {
 public:
  explicit PyroError(const std::string& message) : std::runtime_error(message) {}

  const std::vector<std::string>& remote_traceback() const noexcept { return remote_traceback_; }
  void set_remote_traceback(std::vector<std::string> lines) {
    remote_traceback_ = std::move(lines);
  }

  // Python's class name of this error as Pyro puts it on the wire, without module prefix.
  virtual const char* python_name() const noexcept { return "PyroError"; }

 private:
  std::vector<std::string> remote_traceback_;
};

#define PYRO_DECLARE_ERROR(Name, Base)                                  \
  class Name : public Base {                                            \
   public:                                                              \
    using Base::Base;                                                   \
    const char* python_name() const noexcept override { return #Name; } \
  }

PYRO_DECLARE_ERROR(CommunicationError, PyroError);
PYRO_DECLARE_ERROR(ConnectionClosedError, CommunicationError);
PYRO_DECLARE_ERROR(TimeoutError, CommunicationError);
PYRO_DECLARE_ERROR(ProtocolError, CommunicationError);
PYRO_DECLARE_ERROR(MessageTooLargeError, ProtocolError);
PYRO_DECLARE_ERROR(NamingError, PyroError);
PYRO_DECLARE_ERROR(DaemonError, PyroError);
PYRO_DECLARE_ERROR(SecurityError, PyroError);

#undef PYRO_DECLARE_ERROR

// A payload that could not be encoded or decoded. Decoders report the byte offset at which they
// gave up (npos when the error has no position, e.g. an unencodable value).
class SerializeError : public ProtocolError {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  explicit SerializeError(const std::string& message, std::size_t offset = npos)
      : ProtocolError(message), offset_(offset) {}

  std::size_t offset() const noexcept { return offset_; }
  const char* python_name() const noexcept override { return "SerializeError"; }

 private:
  std::size_t offset_;
};

// Errors of the Python data model itself, raised by pyro::Value and the conversions. They carry
// the names of Python's builtin exceptions, so a daemon reports them to a Python caller as
// builtins.TypeError etc. They are not PyroErrors: they are about values, not communication.
class TypeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};
class KeyError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};
class IndexError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};
class OverflowError : public std::range_error {
 public:
  using std::range_error::range_error;
};
// A name that is not there or not exposed (Python's AttributeError).
class AttributeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pyro
