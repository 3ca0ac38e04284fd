// pyro-nsc — Pyro's name server control tool (python -m Pyro5.nsc, pyro5-nsc) over
// NameServerProxy: the same options, commands, output and exit statuses as Pyro5's nsc. From
// Pyro4's nsc it adds -k/--key (protocol 48 HMAC key) and the spellings listmeta_all/listmeta_any.
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pyro/errors.hpp"
#include "pyro/locate.hpp"
#include "pyro/serializer.hpp"
#include "pyro/value.hpp"

namespace {

// Pyro5's command choices, in its order (its usage text and "invalid choice" message list them).
constexpr std::string_view pyro5_commands[] = {
    "list",         "lookup",       "register",     "remove",  "removematching",
    "listmatching", "yplookup_all", "yplookup_any", "setmeta", "ping"};

// Python's repr() of a str.
std::string py_repr(std::string_view text) {
  return pyro::Value(text).repr();
}

// Python's str() of a set of str. Python prints a set in hash order, which changes from run to
// run; sorted order is the stable choice.
std::string set_literal(const std::set<std::string>& tags) {
  std::string out = "{";
  for (const auto& tag : tags) {
    if (out.size() > 1) out += ", ";
    out += py_repr(tag);
  }
  return out + "}";
}

// A Python SystemExit with a message: printed on stderr, exit status 1.
struct SystemExit {
  std::string message;
};

// A Python exception raised by the tool itself (input() at end of file: EOFError).
class PythonException : public std::runtime_error {
 public:
  PythonException(std::string name, const std::string& message)
      : std::runtime_error(message), name_(std::move(name)) {}
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
};

// ---------------------------------------------------------------------------------------------
// Command line: Python's argparse as Pyro5's nsc configures it (ArgumentParser.parse_known_args),
// so usage errors, abbreviations and stray arguments behave, and read, the same.
// ---------------------------------------------------------------------------------------------

struct Options {
  std::string host;
  std::optional<int> port;
  std::string unixsocket;
  std::optional<std::string> key;
  bool verbose = false;
  std::string command;
  std::vector<std::string> args;  // what parse_known_args leaves over, in order
};

// An argparse error: usage and "prog: error: message" on stderr, exit status 2.
struct UsageError {
  std::string message;
};
// -h/--help: the help text on stdout, exit status 0.
struct HelpRequested {};

enum class Action { help, host, port, unixsocket, verbose, key };

struct OptionString {
  std::string_view text;
  Action action;
};

// In argparse's registration order: -h first, -k last so the rest of the usage is Pyro5's.
constexpr OptionString option_strings[] = {
    {"-h", Action::help},       {"--help", Action::help},
    {"-n", Action::host},       {"--host", Action::host},
    {"-p", Action::port},       {"--port", Action::port},
    {"-u", Action::unixsocket}, {"--unixsocket", Action::unixsocket},
    {"-v", Action::verbose},    {"--verbose", Action::verbose},
    {"-k", Action::key},        {"--key", Action::key}};

std::string action_name(Action action) {
  switch (action) {
    case Action::help:
      return "-h/--help";
    case Action::host:
      return "-n/--host";
    case Action::port:
      return "-p/--port";
    case Action::unixsocket:
      return "-u/--unixsocket";
    case Action::verbose:
      return "-v/--verbose";
    case Action::key:
      return "-k/--key";
  }
  return {};
}

bool is_flag(Action action) {
  return action == Action::help || action == Action::verbose;
}

std::optional<Action> exact_option(std::string_view text) {
  for (const auto& o : option_strings) {
    if (o.text == text) return o.action;
  }
  return std::nullopt;
}

// Python's int() of a str: surrounding whitespace, a sign, and '_' between digits allowed.
std::optional<int> python_int(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  long long value = 0;
  bool after_digit = false;
  for (char c : text) {
    if (c == '_' && after_digit) {
      after_digit = false;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    after_digit = true;
    value = value * 10 + (c - '0');
    if (value > 0x7fffffff) return std::nullopt;  // no port that large; refused, not wrapped
  }
  if (!after_digit) return std::nullopt;
  return static_cast<int>(negative ? -value : value);
}

// What argparse's _parse_optional makes of one argument.
struct Optional {
  std::optional<Action> action;  // none: an unknown option, left over for the command
  std::string option_string;
  std::optional<std::string> explicit_arg;
};

class ArgumentParser {
 public:
  explicit ArgumentParser(std::vector<std::string> args) : args_(std::move(args)) {}

  Options parse() {
    // argparse marks each argument 'O' (option), 'A' (argument) or '-' (the first "--", after
    // which everything is 'A'), then alternates between options and positionals.
    std::map<std::size_t, Optional> optionals;
    bool after_dashes = false;
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (after_dashes) {
        pattern_ += 'A';
      } else if (args_[i] == "--") {
        pattern_ += '-';
        after_dashes = true;
      } else if (auto o = parse_optional(args_[i])) {
        pattern_ += 'O';
        optionals.emplace(i, std::move(*o));
      } else {
        pattern_ += 'A';
      }
    }
    std::size_t start = 0;
    while (!optionals.empty() && start <= optionals.rbegin()->first) {
      const std::size_t next = optionals.lower_bound(start)->first;
      if (start != next) {
        const std::size_t end = consume_command(start);
        if (end > start) {
          start = end;
          continue;
        }
      }
      if (!optionals.contains(start)) {
        for (std::size_t i = start; i < next; ++i)
          options_.args.push_back(args_[i]);
        start = next;
      }
      start = consume_optional(start, optionals.at(start));
    }
    for (std::size_t i = consume_command(start); i < args_.size(); ++i)
      options_.args.push_back(args_[i]);
    if (!have_command_) throw UsageError{"the following arguments are required: command"};
    return options_;
  }

 private:
  std::optional<Optional> parse_optional(const std::string& arg) const {
    if (arg.empty() || arg[0] != '-') return std::nullopt;
    if (auto a = exact_option(arg)) return Optional{a, arg, std::nullopt};
    if (arg.size() == 1) return std::nullopt;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      if (auto a = exact_option(std::string_view(arg).substr(0, eq))) {
        return Optional{a, arg.substr(0, eq), arg.substr(eq + 1)};
      }
    }
    // abbreviations of long options ("--ho"), short options with their value attached ("-p5")
    std::vector<Optional> matches;
    if (arg[1] == '-') {
      const auto eq = arg.find('=');
      const std::string prefix = arg.substr(0, eq);
      std::optional<std::string> explicit_arg;
      if (eq != std::string::npos) explicit_arg = arg.substr(eq + 1);
      for (const auto& o : option_strings) {
        if (o.text.starts_with(prefix))
          matches.push_back({o.action, std::string(o.text), explicit_arg});
      }
    } else {
      for (const auto& o : option_strings) {
        if (o.text == std::string_view(arg).substr(0, 2)) {
          matches.push_back({o.action, std::string(o.text), arg.substr(2)});
        } else if (o.text.starts_with(arg)) {
          matches.push_back({o.action, std::string(o.text), std::nullopt});
        }
      }
    }
    if (matches.size() > 1) {
      std::string names;
      for (const auto& m : matches)
        names += (names.empty() ? "" : ", ") + m.option_string;
      throw UsageError{"ambiguous option: " + arg + " could match " + names};
    }
    if (matches.size() == 1) return matches.front();
    // negative numbers (-\d+ or -\d*.\d+) and anything with a space are arguments
    const auto dot = arg.find('.');
    const std::string_view whole =
        std::string_view(arg).substr(1, dot == std::string::npos ? std::string::npos : dot - 1);
    const bool digits_only = whole.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits_only && dot == std::string::npos) return std::nullopt;
    if (digits_only && dot + 1 < arg.size() &&
        arg.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
      return std::nullopt;
    }
    if (arg.find(' ') != std::string::npos) return std::nullopt;
    return Optional{std::nullopt, arg, std::nullopt};
  }

  // The command positional takes one 'A' with any '-' around it ("-*A-*"), dropping the "--".
  std::size_t consume_command(std::size_t start) {
    if (have_command_) return start;
    std::size_t i = start;
    if (i < pattern_.size() && pattern_[i] == '-') ++i;
    if (i >= pattern_.size() || pattern_[i] != 'A') return start;
    const std::string& value = args_[i++];
    if (i < pattern_.size() && pattern_[i] == '-') ++i;
    bool known = value == "listmeta_all" || value == "listmeta_any";
    std::string choices;
    for (auto c : pyro5_commands) {
      known = known || value == c;
      choices += (choices.empty() ? "" : ", ") + py_repr(c);
    }
    if (!known) {
      throw UsageError{"argument command: invalid choice: " + py_repr(value) + " (choose from " +
                       choices + ")"};
    }
    options_.command = value;
    have_command_ = true;
    return i;
  }

  std::size_t consume_optional(std::size_t start, Optional o) {
    if (!o.action) {
      options_.args.push_back(args_[start]);
      return start + 1;
    }
    Action action = *o.action;
    while (is_flag(action) && o.explicit_arg) {
      // "-vn host": a flag with letters attached is a cluster of short options
      const std::string original = *o.explicit_arg;
      if (o.option_string[1] == '-' || original.empty()) {
        throw UsageError{"argument " + action_name(action) + ": ignored explicit argument " +
                         py_repr(original)};
      }
      apply(action, {});
      const auto next = exact_option(std::string("-") + original[0]);
      if (!next) {
        throw UsageError{"argument " + action_name(action) + ": ignored explicit argument " +
                         py_repr(original)};
      }
      action = *next;
      o.option_string = std::string("-") + original[0];
      o.explicit_arg = original.size() > 1 ? std::optional(original.substr(1)) : std::nullopt;
    }
    if (is_flag(action)) {
      apply(action, {});
      return start + 1;
    }
    if (o.explicit_arg) {
      apply(action, *o.explicit_arg);
      return start + 1;
    }
    if (start + 1 >= pattern_.size() || pattern_[start + 1] != 'A') {
      throw UsageError{"argument " + action_name(action) + ": expected one argument"};
    }
    apply(action, args_[start + 1]);
    return start + 2;
  }

  void apply(Action action, const std::string& value) {
    switch (action) {
      case Action::help:
        throw HelpRequested{};
      case Action::host:
        options_.host = value;
        break;
      case Action::port:
        options_.port = python_int(value);
        if (!options_.port) {
          throw UsageError{"argument -p/--port: invalid int value: " + py_repr(value)};
        }
        break;
      case Action::unixsocket:
        options_.unixsocket = value;
        break;
      case Action::verbose:
        options_.verbose = true;
        break;
      case Action::key:
        options_.key = value;
        break;
    }
  }

  std::vector<std::string> args_;
  std::string pattern_;
  Options options_;
  bool have_command_ = false;
};

std::string choices_text() {
  std::string out = "{";
  for (auto c : pyro5_commands)
    out += std::string(out.size() > 1 ? "," : "") + std::string(c);
  return out + "}";
}

std::string usage(const std::string& prog) {
  const std::string first = "usage: " + prog + " ";
  return first + "[-h] [-n HOST] [-p PORT] [-u UNIXSOCKET] [-v] [-k KEY]\n" +
         std::string(first.size(), ' ') + choices_text() + "\n";
}

std::string help(const std::string& prog) {
  return usage(prog) +
         "\n"
         "Pyro name server control utility.\n"
         "\n"
         "positional arguments:\n"
         "  " +
         choices_text() +
         "\n"
         "\n"
         "options:\n"
         "  -h, --help            show this help message and exit\n"
         "  -n HOST, --host HOST  hostname of the NS\n"
         "  -p PORT, --port PORT  port of the NS (or bc-port if host isn't specified)\n"
         "  -u UNIXSOCKET, --unixsocket UNIXSOCKET\n"
         "                        Unix domain socket name of the NS\n"
         "  -v, --verbose         verbose output\n"
         "  -k KEY, --key KEY     the HMAC key to use, for a Pyro4 name server (protocol 48)\n"
         "\n"
         "listmeta_all and listmeta_any (Pyro4's nsc) are accepted for yplookup_all and "
         "yplookup_any.\n";
}

// ---------------------------------------------------------------------------------------------
// Commands: Pyro5's nsc handle_command.
// ---------------------------------------------------------------------------------------------

// Python's type(x).__name__ and str(x) for what a command threw, as a Pyro5 client would have
// received it. Pyro5's serializer turns Pyro errors and builtins into their classes and refuses
// any other remote class (SerializerBase.dict_to_class), and so does this.
std::pair<std::string, std::string> python_exception(const std::exception& e) {
  if (const auto* local = dynamic_cast<const PythonException*>(&e))
    return {local->name(), e.what()};
  if (const auto* remote = dynamic_cast<const pyro::RemoteError*>(&e)) {
    const std::string& cls = remote->class_name();
    const auto dot = cls.find('.');
    if (dot == std::string::npos) return {cls, e.what()};
    const std::string space = cls.substr(0, dot), name = cls.substr(dot + 1);
    if (space == "builtins" || space == "exceptions") return {name, e.what()};
    if (space == "sqlite3" && name.ends_with("Error")) return {name, e.what()};
    if (cls == "struct.error") return {"error", e.what()};
    return {"SerializeError", "unsupported serialized class: " + cls};
  }
  if (const auto* pyro = dynamic_cast<const pyro::PyroError*>(&e))
    return {pyro->python_name(), e.what()};
  if (dynamic_cast<const pyro::TypeError*>(&e)) return {"TypeError", e.what()};
  if (dynamic_cast<const pyro::ValueError*>(&e)) return {"ValueError", e.what()};
  if (dynamic_cast<const pyro::KeyError*>(&e)) return {"KeyError", e.what()};
  if (dynamic_cast<const pyro::IndexError*>(&e)) return {"IndexError", e.what()};
  if (dynamic_cast<const pyro::OverflowError*>(&e)) return {"OverflowError", e.what()};
  if (dynamic_cast<const pyro::AttributeError*>(&e)) return {"AttributeError", e.what()};
  return {"Exception", e.what()};
}

void print_list(const std::map<std::string, pyro::NameEntry>& entries,
                const std::string& title = "") {
  std::cout << "--------START LIST " << title << "\n";
  for (const auto& [name, entry] : entries) {
    std::cout << name << " --> " << entry.uri << "\n";
    if (!entry.metadata.empty())
      std::cout << "    metadata: " << set_literal(entry.metadata) << "\n";
  }
  std::cout << "--------END LIST " << title << "\n";
}

void run_command(pyro::NameServerProxy& ns, const std::string& command,
                 const std::vector<std::string>& args) {
  if (command == "ping") {
    ns.ping();
    std::cout << "Name server ping ok.\n";
  } else if (command == "list") {
    if (args.empty()) {
      print_list(ns.list_with_metadata());
    } else {
      print_list(ns.list_with_metadata(args[0]), "- prefix '" + args[0] + "'");
    }
  } else if (command == "listmatching") {
    if (args.size() != 1) throw SystemExit{"requires one argument: pattern"};
    print_list(ns.list_with_metadata(std::nullopt, args[0]), "- regex '" + args[0] + "'");
  } else if (command == "lookup") {
    if (args.size() != 1) throw SystemExit{"requires one argument: name"};
    const auto [uri, metadata] = ns.lookup_with_metadata(args[0]);
    std::cout << uri.str() << "\n";
    if (!metadata.empty()) std::cout << "metadata: " << set_literal(metadata) << "\n";
  } else if (command == "register") {
    if (args.size() != 2) throw SystemExit{"requires two arguments: name uri"};
    // The URI travels as the string given, as Pyro's nsc sends it: the name server judges it.
    ns.proxy().call("register", args[0], args[1], pyro::kw("safe", true));
    std::cout << "Registered " << args[0] << "\n";
  } else if (command == "remove") {
    if (args.size() != 1) throw SystemExit{"requires one argument: name"};
    if (ns.remove(args[0]) > 0) {
      std::cout << "Removed " << args[0] << "\n";
    } else {
      std::cout << "Nothing removed\n";
    }
  } else if (command == "removematching") {
    if (args.size() != 1) throw SystemExit{"requires one argument: pattern"};
    std::cout << "Potentially removing lots of items from the Name server. Are you sure (y/n)?"
              << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer))
      throw PythonException("EOFError", "EOF when reading a line");
    const auto first = answer.find_first_not_of(" \t\r\n\f\v");
    answer = first == std::string::npos
                 ? std::string()
                 : answer.substr(first, answer.find_last_not_of(" \t\r\n\f\v") - first + 1);
    if (answer == "y" || answer == "Y") {
      std::cout << ns.remove_regex(args[0]) << " items removed.\n";
    }
  } else if (command == "setmeta") {
    if (args.empty()) throw SystemExit{"requires arguments: uri and zero or more meta tags"};
    const std::set<std::string> metadata(args.begin() + 1, args.end());
    ns.set_metadata(args[0], metadata);
    std::cout << (metadata.empty() ? "Metadata cleared" : "Metadata updated") << "\n";
  } else if (command == "yplookup_all" || command == "listmeta_all") {
    if (args.empty()) throw SystemExit{"requires at least one metadata tag argument"};
    print_list(ns.yplookup_all({args.begin(), args.end()}), " - searched by metadata");
  } else if (command == "yplookup_any" || command == "listmeta_any") {
    if (args.empty()) throw SystemExit{"requires at least one metadata tag argument"};
    print_list(ns.yplookup_any({args.begin(), args.end()}), " - searched by metadata");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string prog = argc > 0 ? argv[0] : "pyro-nsc";
  if (const auto slash = prog.rfind('/'); slash != std::string::npos) prog.erase(0, slash + 1);
  Options options;
  try {
    options = ArgumentParser(std::vector<std::string>(argv + 1, argv + argc)).parse();
  } catch (const UsageError& e) {
    std::cerr << usage(prog) << prog << ": error: " << e.message << std::endl;
    return 2;
  } catch (const HelpRequested&) {
    std::cout << help(prog) << std::flush;
    return 0;
  }

  try {
    pyro::Config config = pyro::Config::global();
    // Pyro4's nsc judges -k by truth value: an empty key neither warns nor clashes with
    // PYRO_HMAC_KEY, which it then uses
    const bool key_given = options.key && !options.key->empty();
    if (key_given) {
      std::cerr << "Warning: using -k to supply HMAC key on the command line is a security problem "
                   "and is deprecated since Pyro 4.72. See the documentation for an alternative."
                << std::endl;
      if (std::getenv("PYRO_HMAC_KEY") != nullptr) {
        throw SystemExit{"error: don't use -k and PYRO_HMAC_KEY at the same time"};
      }
    }
    if (key_given || (options.key && !config.hmac_key)) config.hmac_key = *options.key;
    // HMAC exists in protocol 48 only: a key (-k, even empty, or PYRO_HMAC_KEY, which Pyro4's
    // nsc reads too) means a Pyro4 name server
    if (config.hmac_key) config.protocol_version = 48;
    if (options.verbose) std::cout << "Locating name server..." << std::endl;
    const std::string host =
        options.unixsocket.empty() ? options.host : "./u:" + options.unixsocket;
    std::optional<pyro::NameServerProxy> ns;
    try {
      ns.emplace(pyro::locate_ns(host, options.port.value_or(0), true, config));
    } catch (const pyro::PyroError& e) {
      // Pyro's nsc reports this and ends normally (status 0)
      std::cout << "Error: " << e.what() << std::endl;
      return 0;
    }
    if (options.verbose) std::cout << "Name server found: " << ns->uri().str() << std::endl;
    try {
      run_command(*ns, options.command, options.args);
    } catch (const std::exception& e) {
      // Pyro5's nsc prints this, then re-raises (a traceback, status 1)
      const auto [name, message] = python_exception(e);
      std::cout << "Error: " << name << " - " << message << std::endl;
      return 1;
    }
    if (options.verbose) std::cout << "Done." << std::endl;
  } catch (const SystemExit& e) {
    std::cout << std::flush;
    std::cerr << e.message << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "pyro-nsc: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
