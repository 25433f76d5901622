// Caller-side TCP Fast Open (Linux): returns a connecting, non-blocking socket and in *sent how
// many bytes of `data` went out with the SYN (0 until the kernel holds a cookie for the server:
// the rest is the caller's to send once connected), or -1 with a message and an errno-style code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace aw {

int FastOpenConnect(const std::string& host, int port, const std::string& localAddress, int localPort,
                    const uint8_t* data, size_t length, size_t* sent, std::string* error, std::string* code);

}  // namespace aw
