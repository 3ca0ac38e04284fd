// marshal_canonical.cpp — CPython marshal bytes without reference bookkeeping (see the header).
#include "support/marshal_canonical.hpp"

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace pyro::testing {

namespace {

constexpr unsigned char flag_ref = 0x80;

// A walk over the marshal format that copies each object, canonicalized.
class Walker {
 public:
  explicit Walker(std::string_view in) : in_(in) {}

  std::string object() {
    const auto code = static_cast<unsigned char>(take(1)[0]);
    const char type = static_cast<char>(code & ~flag_ref);
    switch (type) {
      case '0':
      case 'N':
      case 'F':
      case 'T':
      case 'S':
      case '.':
        return std::string(1, type);  // singletons never enter the reference table
      case 'r': {
        const std::uint32_t index = u32(take(4));
        if (index >= refs_.size() || !refs_[index].done) {
          throw std::runtime_error("marshal_canonical: bad back reference " +
                                   std::to_string(index));
        }
        return refs_[index].bytes;
      }
      default:
        break;
    }
    const std::size_t slot = refs_.size();
    if (code & flag_ref) refs_.emplace_back();
    std::string out = body(type);
    if (code & flag_ref) refs_[slot] = Ref{out, true};
    return out;
  }

  std::size_t position() const noexcept { return pos_; }

 private:
  struct Ref {
    std::string bytes;
    bool done = false;
  };

  std::string body(char type) {
    switch (type) {
      case 'i':
        return "i" + take(4);
      case 'l': {
        const std::string n = take(4);
        const auto digits = static_cast<std::int32_t>(u32(n));
        const std::uint64_t count = digits < 0 ? -static_cast<std::int64_t>(digits) : digits;
        return "l" + n + take(2 * count);
      }
      case 'g':
        return "g" + take(8);
      case 'y':
        return "y" + take(16);
      case 'f': {
        const std::string n = take(1);
        return "f" + n + take(static_cast<unsigned char>(n[0]));
      }
      case 'x': {
        std::string out = "x";
        for (int part = 0; part < 2; ++part) {
          const std::string n = take(1);
          out += n + take(static_cast<unsigned char>(n[0]));
        }
        return out;
      }
      case 's':
      case 'u':
      case 't':
      case 'a':
      case 'A': {
        const std::string n = take(4);
        const char plain = type == 't' ? 'u' : type == 'A' ? 'a' : type;
        return std::string(1, plain) + n + take(u32(n));
      }
      case 'z':
      case 'Z': {
        const std::string n = take(1);
        return "z" + n + take(static_cast<unsigned char>(n[0]));
      }
      case ')': {
        const std::string n = take(1);
        std::string out = ")" + n;
        for (unsigned i = 0; i < static_cast<unsigned char>(n[0]); ++i)
          out += object();
        return out;
      }
      case '(':
      case '[':
      case '<':
      case '>': {
        const std::string n = take(4);
        std::string out = std::string(1, type) + n;
        for (std::uint32_t i = 0, count = u32(n); i < count; ++i)
          out += object();
        return out;
      }
      case '{': {
        std::string out = "{";
        for (;;) {
          const std::string key = object();
          out += key;
          if (key == "0") return out;
          out += object();
        }
      }
      default:
        throw std::runtime_error("marshal_canonical: unsupported type code 0x" +
                                 std::to_string(static_cast<unsigned char>(type)) + " at offset " +
                                 std::to_string(pos_ - 1));
    }
  }

  std::string take(std::size_t n) {
    if (n > in_.size() - pos_) throw std::runtime_error("marshal_canonical: truncated data");
    std::string out(in_.substr(pos_, n));
    pos_ += n;
    return out;
  }

  static std::uint32_t u32(std::string_view b) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(b[i]);
    return v;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::vector<Ref> refs_;
};

}  // namespace

std::string marshal_canonical(std::string_view data) {
  Walker walker(data);
  std::string out = walker.object();
  out.append(data.substr(walker.position()));
  return out;
}

}  // namespace pyro::testing
