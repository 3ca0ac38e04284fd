// support.hpp — what the benchmark programs share: CPU pinning, servers in pinned child
// processes, raw TCP over loopback (the physical limit the tables compare with), timing.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <sched.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    std::perror("sched_setaffinity");
    std::exit(1);
  }
}

// A server in a child process pinned to a CPU; it announces itself with one line (a URI or a
// port) on its standard output or the pipe it is given.
struct Child {
  pid_t pid = -1;
  std::string line;

  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

inline std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n')
    line.push_back(c);
  return line;
}

// Runs serve(fd) in a child pinned to cpu; serve writes its announcement line to fd.
inline Child spawn(int cpu, const std::function<void(int)>& serve) {
  int p[2];
  if (::pipe(p) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    pin(cpu);
    try {
      serve(p[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "server: %s\n", e.what());
    }
    ::_exit(0);
  }
  ::close(p[1]);
  Child child{pid, read_line(p[0])};
  ::close(p[0]);
  return child;
}

// Runs a program pinned to cpu with its standard output on a pipe; returns the child and the
// pipe's read end.
inline std::pair<pid_t, int> run_pinned(int cpu, const std::vector<std::string>& argv) {
  int p[2];
  if (::pipe(p) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    pin(cpu);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::perror(args[0]);
    ::_exit(127);
  }
  ::close(p[1]);
  return {pid, p[0]};
}

// Runs a program to its end; its standard output, or nullopt when it failed.
inline std::optional<std::string> run_to_end(int cpu, const std::vector<std::string>& argv) {
  auto [pid, fd] = run_pinned(cpu, argv);
  std::string out;
  char buffer[512];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    out.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

// ---- raw TCP ping-pong ---------------------------------------------------------------------

inline bool transfer(int fd, char* data, std::size_t size, bool sending) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = sending ? ::send(fd, data + done, size - done, MSG_NOSIGNAL)
                              : ::recv(fd, data + done, size - done, 0);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

inline void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A listening socket on a free loopback port, announced (the port and a newline) on the
// announce descriptor, which is then closed. -1 on failure (reported as `what`).
inline int listen_and_announce(int announce, const char* what) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listener, 16) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror(what);
    return -1;
  }
  const std::string port = std::to_string(ntohs(addr.sin_port)) + "\n";
  if (::write(announce, port.data(), port.size()) < 0) return -1;
  ::close(announce);
  return listener;
}

// Blocking echo of fixed-size messages, a thread per connection.
inline void echo_server(int announce, std::size_t size) {
  const int listener = listen_and_announce(announce, "echo server");
  if (listener < 0) return;
  for (;;) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    set_nodelay(fd);
    std::thread([fd, size] {
      std::vector<char> message(size);
      while (transfer(fd, message.data(), size, false) &&
             transfer(fd, message.data(), size, true)) {
      }
      ::close(fd);
    }).detach();
  }
}

inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("connect to echo server");
    std::exit(1);
  }
  set_nodelay(fd);
  return fd;
}

// Seconds per operation of count calls of f(i).
template <class F>
double seconds_per_op(std::size_t count, F&& f) {
  const auto start = Clock::now();
  for (std::size_t i = 0; i < count; ++i)
    f(i);
  return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(count);
}

// The number after "key": in the helper's one-line JSON; 0 when absent or null.
inline double json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\": ");
  if (at == std::string::npos) return 0;
  return std::strtod(json.c_str() + at + key.size() + 4, nullptr);
}

}  // namespace bench
