// The caller side of TCP Fast Open (Linux; elsewhere it says so), for the caller simulator: Node's net cannot put data in a SYN.
// Opens a non-blocking socket and hands the data to the kernel with MSG_FASTOPEN, which sends it
// in the SYN when the kernel holds a cookie for the server (net.ipv4.tcp_fastopen bit 1), or
// falls back to a plain handshake (the data follows it). The caller wraps the descriptor in a
// net.Socket.
#include "fast_open_client.h"

#if defined(__linux__)
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace aw {

int FastOpenConnect(const std::string& host, int port, const std::string& localAddress, int localPort,
                    const uint8_t* data, size_t length, size_t* sent, std::string* error, std::string* code) {
#if defined(__linux__) && defined(MSG_FASTOPEN)
  sockaddr_storage to, from;
  memset(&to, 0, sizeof to);
  memset(&from, 0, sizeof from);
  socklen_t toLen, fromLen = 0;
  auto* to4 = reinterpret_cast<sockaddr_in*>(&to);
  auto* to6 = reinterpret_cast<sockaddr_in6*>(&to);
  if (inet_pton(AF_INET, host.c_str(), &to4->sin_addr) == 1) {
    to4->sin_family = AF_INET;
    to4->sin_port = htons(static_cast<uint16_t>(port));
    toLen = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &to6->sin6_addr) == 1) {
    to6->sin6_family = AF_INET6;
    to6->sin6_port = htons(static_cast<uint16_t>(port));
    toLen = sizeof(sockaddr_in6);
  } else {
    *error = "not an IPv4 or IPv6 address: " + host;
    *code = "EINVAL";
    return -1;
  }
  if (!localAddress.empty() || localPort != 0) {
    from.ss_family = to.ss_family;
    std::string local = localAddress.empty() ? (to.ss_family == AF_INET ? "0.0.0.0" : "::") : localAddress;
    void* addr = to.ss_family == AF_INET ? static_cast<void*>(&reinterpret_cast<sockaddr_in*>(&from)->sin_addr)
                                         : static_cast<void*>(&reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr);
    if (inet_pton(to.ss_family, local.c_str(), addr) != 1) {
      *error = "local address " + local + " is not of the target's family";
      *code = "EINVAL";
      return -1;
    }
    if (to.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&from)->sin_port = htons(static_cast<uint16_t>(localPort));
    else reinterpret_cast<sockaddr_in6*>(&from)->sin6_port = htons(static_cast<uint16_t>(localPort));
    fromLen = to.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  }
  int fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + strerror(errno);
    *code = "E" + std::to_string(errno);
    return -1;
  }
  if (fromLen != 0) {
    // As libuv does for a bound client socket: a local port still in TIME_WAIT can be reused.
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (fromLen != 0 && bind(fd, reinterpret_cast<sockaddr*>(&from), fromLen) != 0) {
    int e = errno;
    close(fd);
    *error = std::string("bind: ") + strerror(e);
    *code = e == EADDRINUSE ? "EADDRINUSE" : e == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "E" + std::to_string(e);
    return -1;
  }
  ssize_t n = sendto(fd, data, length, MSG_FASTOPEN | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&to), toLen);
  if (n < 0 && errno == EINPROGRESS) {
    // No cookie yet: the SYN asks for one and carries no data; the caller sends it once connected.
    *sent = 0;
    return fd;
  }
  if (n < 0) {
    int e = errno;
    close(fd);
    *error = std::string("sendto(MSG_FASTOPEN): ") + strerror(e);
    *code = e == ECONNREFUSED ? "ECONNREFUSED" : e == EOPNOTSUPP ? "EOPNOTSUPP" : "E" + std::to_string(e);
    return -1;
  }
  // What did not fit in the SYN is the caller's to send once connected.
  *sent = static_cast<size_t>(n);
  return fd;
#else
  (void)host; (void)port; (void)localAddress; (void)localPort; (void)data; (void)length; (void)sent;
  *error = "TCP Fast Open on the caller side needs Linux";
  *code = "EOPNOTSUPP";
  return -1;
#endif
}

}  // namespace aw
