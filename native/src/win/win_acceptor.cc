// Windows backend: the real WSAAccept with a real condition function.
//
// winsock discipline: every offer is a WSAAccept call; the condition function (a trampoline)
// turns the stack's arguments into an aw::Offer, asks the ConditionFn and hands the verdict back.
// CF_DEFER leaves the request inside the stack, at the head of the queue; WSAAccept gives no
// request id, so requests are recognised by their caller sockaddr (a small map of requests the
// stack has offered and not finished).
// held discipline: WSAAccept takes every connection (the trampoline answers CF_ACCEPT) and the
// workbench keeps it, offering it to the script as the POSIX backend does; a late reject is an
// abortive close, so the client sees a connection that is then reset.
//
// The stack's arguments are treated as untrusted: Wine 8 leaves lpCalleeData and *g
// uninitialised and passes a 16-byte lpCalleeId for IPv6 (its getsockname fails), so nothing is
// written through lpCalleeData->buf unless the buffer is provably the provider's (see
// WriteCalleeData) and a callee sockaddr that does not fit the listener is replaced by the
// listening socket's own address.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00  // WSAPoll, inet_pton/inet_ntop
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

// winsock2.h / qos.h define these as macros; the workbench's own names (same values, checked
// below) are used from here on.
static_assert(CF_ACCEPT == 0 && CF_REJECT == 1 && CF_DEFER == 2, "Winsock CF_* values");
static_assert(QOS_NOT_SPECIFIED == 0xFFFFFFFFu, "Winsock QOS_NOT_SPECIFIED");
#undef CF_ACCEPT
#undef CF_REJECT
#undef CF_DEFER
#undef QOS_NOT_SPECIFIED

#include "../acceptor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#ifndef SO_CONDITIONAL_ACCEPT
#define SO_CONDITIONAL_ACCEPT 0x3002
#endif

namespace aw {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Names for the WSAGetLastError values this backend can meet, for messages and error events.
const char* WsaErrorName(int e) {
  switch (e) {
    case 0: return "OK";
    case WSAEINTR: return "WSAEINTR";
    case WSAEBADF: return "WSAEBADF";
    case WSAEACCES: return "WSAEACCES";
    case WSAEFAULT: return "WSAEFAULT";
    case WSAEINVAL: return "WSAEINVAL";
    case WSAEMFILE: return "WSAEMFILE";
    case WSAEWOULDBLOCK: return "WSAEWOULDBLOCK";
    case WSAEINPROGRESS: return "WSAEINPROGRESS";
    case WSAEALREADY: return "WSAEALREADY";
    case WSAENOTSOCK: return "WSAENOTSOCK";
    case WSAEDESTADDRREQ: return "WSAEDESTADDRREQ";
    case WSAEMSGSIZE: return "WSAEMSGSIZE";
    case WSAEPROTOTYPE: return "WSAEPROTOTYPE";
    case WSAENOPROTOOPT: return "WSAENOPROTOOPT";
    case WSAEPROTONOSUPPORT: return "WSAEPROTONOSUPPORT";
    case WSAESOCKTNOSUPPORT: return "WSAESOCKTNOSUPPORT";
    case WSAEOPNOTSUPP: return "WSAEOPNOTSUPP";
    case WSAEPFNOSUPPORT: return "WSAEPFNOSUPPORT";
    case WSAEAFNOSUPPORT: return "WSAEAFNOSUPPORT";
    case WSAEADDRINUSE: return "WSAEADDRINUSE";
    case WSAEADDRNOTAVAIL: return "WSAEADDRNOTAVAIL";
    case WSAENETDOWN: return "WSAENETDOWN";
    case WSAENETUNREACH: return "WSAENETUNREACH";
    case WSAENETRESET: return "WSAENETRESET";
    case WSAECONNABORTED: return "WSAECONNABORTED";
    case WSAECONNRESET: return "WSAECONNRESET";
    case WSAENOBUFS: return "WSAENOBUFS";
    case WSAEISCONN: return "WSAEISCONN";
    case WSAENOTCONN: return "WSAENOTCONN";
    case WSAESHUTDOWN: return "WSAESHUTDOWN";
    case WSAETIMEDOUT: return "WSAETIMEDOUT";
    case WSAECONNREFUSED: return "WSAECONNREFUSED";
    case WSAEHOSTUNREACH: return "WSAEHOSTUNREACH";
    case WSASYSNOTREADY: return "WSASYSNOTREADY";
    case WSAVERNOTSUPPORTED: return "WSAVERNOTSUPPORTED";
    case WSANOTINITIALISED: return "WSANOTINITIALISED";
    case WSATRY_AGAIN: return "WSATRY_AGAIN";
    default: return "WSA_UNKNOWN";
  }
}

std::string Describe(int e) { return std::string(WsaErrorName(e)) + " (" + std::to_string(e) + ")"; }

// The workbench's result code for a WSAGetLastError value: the contract's codes as they are,
// and the codes other stacks use for the same situation folded onto them.
int MapWsa(int e) {
  switch (e) {
    case WSAENOTCONN:      // Wine: the caller reset the connection before it was accepted
    case WSAECONNABORTED:
    case WSAENETRESET:
      return WSAECONNRESET_;
    case ERROR_NOT_ENOUGH_MEMORY:
      return WSAENOBUFS_;
    default:
      return e;
  }
}

// WSAStartup / WSACleanup once per process, however many listeners come and go.
std::mutex gWsaMu;
int gWsaRefs = 0;

int WinsockAcquire() {
  std::lock_guard<std::mutex> lock(gWsaMu);
  if (gWsaRefs == 0) {
    WSADATA data;
    int r = WSAStartup(MAKEWORD(2, 2), &data);
    if (r != 0) return r;
  }
  gWsaRefs++;
  return 0;
}

void WinsockRelease() {
  std::lock_guard<std::mutex> lock(gWsaMu);
  if (gWsaRefs > 0 && --gWsaRefs == 0) WSACleanup();
}

bool RunningOnWine() {
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  return ntdll && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

std::string EnvVar(const char* name) {
  // The process environment block, not the C runtime's copy: Node's process.env writes there.
  char buf[1024];
  DWORD n = GetEnvironmentVariableA(name, buf, sizeof buf);
  if (n == 0 || n >= sizeof buf) return std::string();
  return std::string(buf, n);
}

// Is [p, p+len) committed, writable memory? Guards writes through pointers the stack handed us.
bool Writable(const void* p, size_t len) {
  if (!p || len == 0) return false;
  const char* at = static_cast<const char*>(p);
  const char* end = at + len;
  while (at < end) {
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(at, &mbi, sizeof mbi) == 0) return false;
    if (mbi.State != MEM_COMMIT || (mbi.Protect & (PAGE_GUARD | PAGE_NOACCESS))) return false;
    const DWORD writable = PAGE_READWRITE | PAGE_WRITECOPY | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY;
    if (!(mbi.Protect & writable)) return false;
    at = static_cast<const char*>(mbi.BaseAddress) + mbi.RegionSize;
  }
  return true;
}

void SetNonBlocking(SOCKET s) {
  u_long one = 1;
  ioctlsocket(s, FIONBIO, &one);
}

// Abortive close: the peer sees a reset instead of an orderly end of stream.
void CloseReset(SOCKET s) {
  struct linger lg;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
  closesocket(s);
}

// Has the peer closed its side? 1 yes, 0 no, -1 the stack cannot say. For a connection with unread
// data, where readability says nothing and WSAPoll reports no hang-up until the data is read:
// SIO_TCP_INFO's state (Windows 10 1703 and later) shows CLOSE_WAIT once the peer's FIN is in.
// mstcpip.h declares these only for NTDDI_WIN10_RS2 targets; the layout is fixed (TCP_INFO_v0).
struct TcpInfoV0 {
  int State;  // TCPSTATE: CLOSED 0, LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2,
              // CLOSE_WAIT 7, CLOSING 8, LAST_ACK 9, TIME_WAIT 10
  ULONG Mss;
  ULONG64 ConnectionTimeMs;
  BOOLEAN TimestampsEnabled;
  ULONG RttUs, MinRttUs, BytesInFlight, Cwnd, SndWnd, RcvWnd, RcvBuf;
  ULONG64 BytesOut, BytesIn;
  ULONG BytesReordered, BytesRetrans, FastRetrans, DupAcksIn, TimeoutEpisodes;
  UCHAR SynRetrans;
};
const DWORD kSioTcpInfo = _WSAIORW(IOC_VENDOR, 39);

int PeerClosed(SOCKET s) {
  DWORD version = 0;
  TcpInfoV0 info;
  DWORD bytes = 0;
  memset(&info, 0, sizeof info);
  if (WSAIoctl(s, kSioTcpInfo, &version, sizeof version, &info, sizeof info, &bytes, nullptr, nullptr) != 0 ||
      bytes < offsetof(TcpInfoV0, Mss)) {
    return -1;
  }
  switch (info.State) {
    case 0: case 7: case 8: case 9: case 10:  // CLOSED, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT
      return 1;
    default:
      return 0;
  }
}

// A sockaddr from the stack (Winsock layout already) into aw::Sockaddr; false if it is not a
// complete AF_INET / AF_INET6 address.
bool FromWinsock(const char* buf, int len, Sockaddr* out) {
  if (!buf || len < static_cast<int>(sizeof(sockaddr_in))) return false;
  uint16_t family;
  memcpy(&family, buf, 2);
  char text[INET6_ADDRSTRLEN] = {0};
  memset(out->raw, 0, sizeof out->raw);
  if (family == AF_INET6) {
    if (len < static_cast<int>(sizeof(sockaddr_in6))) return false;
    sockaddr_in6 in6;
    memcpy(&in6, buf, sizeof in6);
    if (!inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text)) return false;
    out->v6 = true;
    out->port = ntohs(in6.sin6_port);
    memcpy(out->raw, buf, 28);
    out->rawLen = 28;
  } else if (family == AF_INET) {
    sockaddr_in in4;
    memcpy(&in4, buf, sizeof in4);
    if (!inet_ntop(AF_INET, &in4.sin_addr, text, sizeof text)) return false;
    out->v6 = false;
    out->port = ntohs(in4.sin_port);
    memcpy(out->raw, buf, 16);
    out->rawLen = 16;
  } else {
    return false;
  }
  out->address = text;
  return true;
}

std::string Hex(const void* p) {
  char b[32];
  snprintf(b, sizeof b, "%p", p);
  return b;
}

// What one WSAAccept call is for, and what its condition function saw and did. The trampoline
// finds it through a thread-local pointer, so dwCallbackData carries the listener's own value.
enum class Mode { Offer, Take };
enum class Action { None, Accept, Reject, Defer, Invalid, Expire, Take };

class WinAcceptor;

struct CallCtx {
  WinAcceptor* self = nullptr;
  Mode mode = Mode::Offer;
  const ConditionFn* condition = nullptr;
  // filled by the trampoline
  bool called = false;
  Action action = Action::None;
  uint64_t id = 0;
  int attempt = 0;
  Sockaddr caller, callee;
  bool callerOk = false;
  std::vector<uint8_t> callerData;
  bool hasQos = false;
  Flowspec sending, receiving;
  int code = 0;  // what the condition function returned to the stack
  int by = BY_SCRIPT;
  bool calleeUndelivered = false;
  std::exception_ptr thrown;
};

thread_local CallCtx* tCtx = nullptr;

int CALLBACK Trampoline(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS, LPQOS lpGQOS,
                        LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP FAR* g, DWORD_PTR dwCallbackData);

// One request the workbench holds (held discipline): accepted by WSAAccept, not yet decided.
struct Held {
  uint64_t id = 0;
  SOCKET s = INVALID_SOCKET;
  Sockaddr caller, callee;
  std::vector<uint8_t> stackData;  // lpCallerData at accept time
  bool hasQos = false;
  Flowspec sending, receiving;
  int64_t arrivalNs = 0;
  int attempts = 0;
  int64_t nextOfferNs = 0;
  bool deferred = false;
  bool parked = false;
  bool sawData = false;
  bool done = false;
};

// One request the stack holds (winsock discipline): offered at least once, not yet final.
struct Known {
  uint64_t id = 0;
  Sockaddr caller;
  int64_t arrivalNs = 0;
  int attempts = 0;
  int64_t nextOfferNs = 0;
  bool deferred = false;
  bool parked = false;
};

// A datagram socket sending to itself: the wake-up both WSAPoll loops wait on beside their sockets.
class Waker {
 public:
  bool Open() {
    s_ = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    if (s_ == INVALID_SOCKET) return false;
    sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof a;
    if (bind(s_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(s_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
        connect(s_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Close();
      return false;
    }
    SetNonBlocking(s_);
    return true;
  }
  void Poke() {
    if (s_ == INVALID_SOCKET) return;
    char b = 1;
    send(s_, &b, 1, 0);
  }
  void Drain() {
    char buf[64];
    while (recv(s_, buf, sizeof buf, 0) > 0) {}
  }
  void Close() {
    if (s_ != INVALID_SOCKET) closesocket(s_);
    s_ = INVALID_SOCKET;
  }
  SOCKET socket_() const { return s_; }

 private:
  SOCKET s_ = INVALID_SOCKET;
};

// Serves accepted connections for the echo / discard / hold handlers on one thread.
class HandlerLoop {
 public:
  HandlerLoop(HandlerKind kind, EventSink* sink) : kind_(kind), sink_(sink) {}
  ~HandlerLoop() { Stop(); }

  bool Start() {
    if (!waker_.Open()) return false;
    thread_ = std::thread([this] { Run(); });
    return true;
  }

  void Add(uint64_t id, SOCKET s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      Conn c;
      c.id = id;
      c.s = s;
      incoming_.push_back(std::move(c));
    }
    waker_.Poke();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    waker_.Poke();
    thread_.join();
    waker_.Close();
  }

 private:
  struct Conn {
    uint64_t id;
    SOCKET s;
    uint64_t in = 0, out = 0;
    std::string pending;  // echo bytes the peer has not taken yet
    bool closed = false;
    bool quiet = false;   // hold: data is waiting unread, so readability says nothing; checked on a tick
  };

  void Finish(Conn& c, int how) {
    Event e;
    e.kind = EV_HANDLER;
    e.id = c.id;
    e.handlerEvent = how;
    e.bytesIn = c.in;
    e.bytesOut = c.out;
    if (how == HE_RESET) CloseReset(c.s); else closesocket(c.s);
    c.closed = true;
    (*sink_)(std::move(e));
  }

  // Reads what is there; returns false once the connection has ended.
  bool Pump(Conn& c) {
    char buf[16384];
    for (;;) {
      if (kind_ == HandlerKind::Echo && !c.pending.empty()) {
        int w = send(c.s, c.pending.data(), static_cast<int>(c.pending.size()), 0);
        if (w > 0) {
          c.out += w;
          c.pending.erase(0, w);
        } else if (w == SOCKET_ERROR && WSAGetLastError() != WSAEWOULDBLOCK) {
          Finish(c, HE_RESET);
          return false;
        }
        if (!c.pending.empty()) return true;  // wait for POLLWRNORM before reading more
      }
      int n = recv(c.s, buf, sizeof buf, 0);
      if (n > 0) {
        c.in += n;
        if (kind_ == HandlerKind::Echo) c.pending.append(buf, n);
        continue;
      }
      if (n == 0) {
        if (kind_ == HandlerKind::Echo && !c.pending.empty()) {
          int w = send(c.s, c.pending.data(), static_cast<int>(c.pending.size()), 0);
          if (w > 0) c.out += w;
        }
        Finish(c, HE_PEER_CLOSE);
        return false;
      }
      int err = WSAGetLastError();
      if (err == WSAEWOULDBLOCK) return true;
      if (err == WSAEINTR) continue;
      Finish(c, HE_RESET);
      return false;
    }
  }

  // hold: never reads; notices only that the peer went away.
  void CheckHeld(Conn& c, short revents) {
    int err = 0;
    int len = sizeof err;
    getsockopt(c.s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len);
    if (err != 0 || (revents & POLLERR)) { Finish(c, HE_RESET); return; }
    if (revents & POLLHUP) { Finish(c, HE_PEER_CLOSE); return; }
    char b;
    int n = recv(c.s, &b, 1, MSG_PEEK);
    if (n == 0) { Finish(c, HE_PEER_CLOSE); return; }
    if (n == SOCKET_ERROR) {
      int e = WSAGetLastError();
      if (e != WSAEWOULDBLOCK && e != WSAEINTR) Finish(c, HE_RESET);
      return;
    }
    c.quiet = true;  // unread data: from now on look for a hang-up on the tick
  }

  void Run() {
    std::vector<Conn> conns;
    std::vector<WSAPOLLFD> pfds;
    std::vector<size_t> index;
    const int kQuietTickMs = 50;
    while (!stopping_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto& c : incoming_) conns.push_back(std::move(c));
        incoming_.clear();
      }
      pfds.clear();
      index.clear();
      WSAPOLLFD w;
      w.fd = waker_.socket_();
      w.events = POLLRDNORM;
      w.revents = 0;
      pfds.push_back(w);
      bool anyQuiet = false;
      for (size_t i = 0; i < conns.size(); i++) {
        Conn& c = conns[i];
        if (c.quiet) { anyQuiet = true; continue; }
        WSAPOLLFD p;
        p.fd = c.s;
        p.events = POLLRDNORM;
        if (!c.pending.empty()) p.events |= POLLWRNORM;
        p.revents = 0;
        pfds.push_back(p);
        index.push_back(i);
      }
      int r = WSAPoll(pfds.data(), static_cast<ULONG>(pfds.size()), anyQuiet ? kQuietTickMs : -1);
      if (r == SOCKET_ERROR) {
        if (WSAGetLastError() == WSAEINTR) continue;
        break;
      }
      if (pfds[0].revents) waker_.Drain();
      for (size_t k = 1; k < pfds.size(); k++) {
        if (!pfds[k].revents) continue;
        Conn& c = conns[index[k - 1]];
        if (kind_ == HandlerKind::Hold) CheckHeld(c, pfds[k].revents); else Pump(c);
      }
      if (anyQuiet) {
        // Held connections with unread data: a hang-up shows as POLLHUP / POLLERR (or SO_ERROR).
        for (auto& c : conns) {
          if (!c.quiet || c.closed) continue;
          WSAPOLLFD p;
          p.fd = c.s;
          p.events = POLLRDNORM;
          p.revents = 0;
          if (WSAPoll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
            CheckHeld(c, p.revents);
          } else {
            int err = 0;
            int len = sizeof err;
            getsockopt(c.s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len);
            if (err != 0) Finish(c, HE_RESET);
            else if (PeerClosed(c.s) == 1) Finish(c, HE_PEER_CLOSE);
          }
        }
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn& c) { return c.closed; }), conns.end());
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : incoming_) conns.push_back(std::move(c));
    incoming_.clear();
    for (auto& c : conns) if (!c.closed) Finish(c, HE_LOCAL_CLOSE);
  }

  HandlerKind kind_;
  EventSink* sink_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Conn> incoming_;
  Waker waker_;
  std::atomic<bool> stopping_{false};
};

class WinAcceptor : public Acceptor {
 public:
  WinAcceptor() : onWine_(RunningOnWine()) {}
  ~WinAcceptor() override {
    Stop();
    if (winsock_) WinsockRelease();
  }

  const char* Backend() const override { return "winsock"; }

  bool Open(const Options& options, std::string* error, std::string* code) override {
    opt_ = options;
    int startup = WinsockAcquire();
    if (startup != 0) {
      *error = "WSAStartup: " + Describe(startup);
      *code = "WSANOTINITIALISED";
      return false;
    }
    winsock_ = true;
    trace_ = EnvVar("AW_WIN_TRACE");

    sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int len;
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, opt_.bindAddress.c_str(), &in4->sin_addr) == 1) {
      in4->sin_family = AF_INET;
      in4->sin_port = htons(static_cast<uint16_t>(opt_.port));
      len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, opt_.bindAddress.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<uint16_t>(opt_.port));
      len = sizeof(sockaddr_in6);
    } else {
      *error = "not an IPv4 or IPv6 address: " + opt_.bindAddress;
      *code = "EINVAL";
      return false;
    }
    if (opt_.deferAcceptS > 0 || opt_.fastOpen) {
      *error = "TCP_DEFER_ACCEPT and Fast Open are only supported on Linux";
      *code = "EOPNOTSUPP";
      return false;
    }
    v6_ = ss.ss_family == AF_INET6;
    SOCKET s = WSASocketW(ss.ss_family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
      s = WSASocketW(ss.ss_family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);  // before Windows 7 SP1
    }
    if (s == INVALID_SOCKET) return Fail(error, code, "socket", WSAGetLastError());
    // Windows' SO_REUSEADDR lets a second socket take over a port in use; exclusive use gives
    // POSIX's EADDRINUSE instead. (A stack without the option may refuse it: ignored.)
    BOOL on = TRUE;
    setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&on), sizeof on);
    if (opt_.conditionalAccept) {
      // Hold the SYN unanswered until the condition function accepts (must be set before listen).
      if (setsockopt(s, SOL_SOCKET, SO_CONDITIONAL_ACCEPT, reinterpret_cast<const char*>(&on), sizeof on) != 0) {
        int e = WSAGetLastError();
        closesocket(s);
        *error = "setsockopt(SO_CONDITIONAL_ACCEPT): " + Describe(e) + ": this Winsock stack does not offer conditional accept" +
                 (onWine_ ? " (Wine does not implement SO_CONDITIONAL_ACCEPT)" : "");
        *code = e == WSAENOPROTOOPT ? "ENOPROTOOPT" : WsaErrorName(e);
        return false;
      }
      conditionalAccept_ = true;
    }
    if (bind(s, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      int e = WSAGetLastError();
      closesocket(s);
      return Fail(error, code, "bind " + opt_.bindAddress + ":" + std::to_string(opt_.port), e);
    }
    if (listen(s, opt_.backlog) != 0) {
      int e = WSAGetLastError();
      closesocket(s);
      return Fail(error, code, "listen", e);
    }
    SetNonBlocking(s);
    sockaddr_storage bound;
    int blen = sizeof bound;
    getsockname(s, reinterpret_cast<sockaddr*>(&bound), &blen);
    FromWinsock(reinterpret_cast<const char*>(&bound), blen, &local_);
    listen_ = s;
    if (!waker_.Open()) {
      int e = WSAGetLastError();
      closesocket(listen_);
      listen_ = INVALID_SOCKET;
      return Fail(error, code, "wake socket", e);
    }
    Trace("open " + opt_.bindAddress + " port " + std::to_string(local_.port) + " wine=" + (onWine_ ? "1" : "0") +
          " conditionalAccept=" + (conditionalAccept_ ? "1" : "0"));
    return true;
  }

  std::string LocalAddress() const override { return local_.address; }
  int LocalPort() const override { return local_.port; }

  void Start(ConditionFn condition, EventSink sink) override {
    condition_ = std::move(condition);
    sink_ = std::move(sink);
    if (opt_.handler != HandlerKind::Close) {
      handler_.reset(new HandlerLoop(opt_.handler, &sink_));
      if (!handler_->Start()) {
        handler_.reset();
        EmitError(WSAGetLastError(), "handler wake socket");
      }
    }
    if (opt_.threaded) thread_ = std::thread([this] { Loop(); });
  }

  CallResult Call(const CallOptions& options, ConditionFn condition) override {
    CallResult result;
    if (listen_ == INVALID_SOCKET) { result.wsa = WSAEINVAL_; return result; }
    CallCtx ctx;
    ctx.mode = Mode::Offer;
    ctx.condition = &condition;
    int wsa = AcceptOnce(&ctx, options.addrlen, nullptr);
    result.wsa = wsa;
    result.id = ctx.id;
    result.attempt = ctx.attempt;
    if (ctx.thrown) std::rethrow_exception(ctx.thrown);  // the JS exception goes back to JS
    return result;
  }

  void Wake(uint64_t id) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (id == 0) wakeAll_ = true; else wakeIds_.insert(id);
    }
    waker_.Poke();
  }

  Depths QueueDepths() override {
    Depths d;
    d.kernel = -1;  // Winsock does not report the backlog's length
    d.held = held_.load();
    d.deferred = deferred_.load();
    return d;
  }

  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    waker_.Poke();
    if (thread_.joinable()) thread_.join();
    if (listen_ != INVALID_SOCKET) {
      // Everything still waiting - in the workbench, at the head of the stack's queue or in its
      // backlog - ends as expired: the listener is going away, nothing stays unrecorded.
      for (int i = 0; i < 100000; i++) {
        CallCtx ctx;
        ctx.mode = Mode::Take;
        SOCKET s = INVALID_SOCKET;
        int wsa = AcceptOnce(&ctx, sizeof(sockaddr_storage), &s);
        if (s != INVALID_SOCKET) {
          CloseReset(s);
          FinalizeTaken(ctx, FINAL_EXPIRE, WSAEACCES_, "listener stopped");
          continue;
        }
        if (wsa != WSAECONNRESET_ && wsa != WSAEFAULT_) break;  // empty, or the stack is failing
      }
      for (Held* req : pending_) {
        if (!req->done) FinalizeHeld(req, FINAL_EXPIRE, WSAEACCES_, BY_SYSTEM, "listener stopped");
      }
      Compact();
      // A request the stack offered and then lost track of (it never came back): expired too.
      for (auto& kv : known_) {
        Known& k = kv.second;
        EmitDecision(k.id, k.attempts, FINAL_EXPIRE, BY_SYSTEM, WSAEACCES_, k.arrivalNs, k.caller,
                     "listener stopped (the stack no longer offered this request)");
      }
      known_.clear();
      held_ = 0;
      deferred_ = 0;
      closesocket(listen_);
      listen_ = INVALID_SOCKET;
    }
    if (handler_) handler_->Stop();
    waker_.Close();
  }

  // Called by the trampoline, on the thread that called WSAAccept.
  int OnCondition(CallCtx* ctx, LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS, LPQOS lpGQOS,
                  LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP FAR* g, DWORD_PTR dwCallbackData) {
    ctx->called = true;
    if (!trace_.empty()) TraceCondition(lpCallerId, lpCallerData, lpSQOS, lpGQOS, lpCalleeId, lpCalleeData, g, dwCallbackData);
    ctx->callerOk = lpCallerId && FromWinsock(lpCallerId->buf, static_cast<int>(lpCallerId->len), &ctx->caller);
    if (!(lpCalleeId && FromWinsock(lpCalleeId->buf, static_cast<int>(lpCalleeId->len), &ctx->callee) &&
          ctx->callee.v6 == v6_)) {
      // Not a sockaddr of the listener's family (Wine: a 16-byte buffer for IPv6, left
      // uninitialised): the listening socket's own address is the best the workbench knows.
      ctx->callee = local_;
    }
    // lpCallerData: connect data from the caller; TCP has none (NULL or len 0 -> none).
    if (lpCallerData && lpCallerData->buf && lpCallerData->len > 0 && lpCallerData->len <= 65536) {
      size_t n = std::min<size_t>(lpCallerData->len, opt_.maxCallerData);
      ctx->callerData.assign(lpCallerData->buf, lpCallerData->buf + n);
    }
    if (lpSQOS) {
      ctx->hasQos = true;
      ReadFlowspec(lpSQOS->SendingFlowspec, &ctx->sending, "lpSQOS->SendingFlowspec (provider)");
      ReadFlowspec(lpSQOS->ReceivingFlowspec, &ctx->receiving, "lpSQOS->ReceivingFlowspec (provider)");
    }
    if (ctx->mode == Mode::Take) {
      ctx->action = Action::Take;
      SetNoGroupNoData(lpCalleeData);
      return CF_ACCEPT;
    }

    std::string key = CallerKey(*ctx);
    auto it = known_.find(key);
    if (it == known_.end()) {
      // The stack offers a request first seen now. Any other one still known has left the head
      // of the queue without a WSAAccept result: the stack dropped it (the caller went away).
      std::vector<std::string> gone;
      for (auto& kv : known_) gone.push_back(kv.first);
      for (auto& k : gone) {
        Known& old = known_[k];
        EmitDecision(old.id, old.attempts, FINAL_WITHDRAW, BY_SYSTEM, WSAECONNRESET_, old.arrivalNs, old.caller,
                     "the stack no longer offers this request (caller went away)");
        ForgetKnown(k);
      }
      Known k;
      k.id = nextId_++;
      k.caller = ctx->caller;
      k.arrivalNs = NowNs();
      it = known_.emplace(key, k).first;
      held_++;
    }
    Known& req = it->second;
    ctx->id = req.id;
    if (req.attempts > 0 && NowNs() - req.arrivalNs >= opt_.deferTimeoutMs * 1000000) {
      // Deferred too long: the workbench takes the connection and resets it (as the POSIX
      // backend does), reported as WSAEACCES like a request the stack timed out.
      ctx->attempt = req.attempts;
      ctx->action = Action::Expire;
      ctx->by = BY_SYSTEM;
      SetNoGroupNoData(lpCalleeData);
      return CF_ACCEPT;
    }

    Offer offer;
    offer.id = req.id;
    offer.attempt = ++req.attempts;
    ctx->attempt = offer.attempt;
    offer.caller = ctx->caller;
    offer.callee = ctx->callee;
    offer.callerData = ctx->callerData;
    offer.dataSource = offer.callerData.empty() ? DATA_NONE : DATA_SYN;
    offer.hasQos = ctx->hasQos;
    offer.sending = ctx->sending;
    offer.receiving = ctx->receiving;
    offer.kernelDepth = -1;
    offer.held = held_.load();
    offer.deferred = deferred_.load();
    offer.callbackData = static_cast<uint32_t>(dwCallbackData);

    Decision d;
    try {
      d = (*ctx->condition)(offer);
    } catch (...) {
      // Never unwind through the stack's frames: keep the request queued, rethrow after WSAAccept.
      ctx->thrown = std::current_exception();
      d.code = CF_DEFER;
      d.by = BY_SYSTEM;
      d.park = true;
    }
    ctx->by = d.by;
    ctx->code = d.code;
    if (lpCalleeData) ctx->calleeUndelivered = !WriteCalleeData(lpCalleeData, d.calleeData);
    if (d.hasGroup && g && Writable(g, sizeof *g)) *g = d.group;
    switch (d.code) {
      case CF_ACCEPT: ctx->action = Action::Accept; break;
      case CF_REJECT: ctx->action = Action::Reject; break;
      case CF_DEFER:
        ctx->action = Action::Defer;
        if (!req.deferred) { req.deferred = true; deferred_++; }
        req.parked = d.park;
        req.nextOfferNs = NowNs() + opt_.reofferMs * 1000000;
        break;
      default: ctx->action = Action::Invalid; break;
    }
    // The verdict goes to the stack as the script gave it, invalid values included: what the
    // stack makes of them is part of what the workbench shows.
    return d.code;
  }

 private:
  static void ReadFlowspec(const FLOWSPEC& in, Flowspec* out, const char* label) {
    const ULONG v[8] = {in.TokenRate, in.TokenBucketSize, in.PeakBandwidth, in.Latency,
                        in.DelayVariation, in.ServiceType, in.MaxSduSize, in.MinimumPolicedSize};
    for (int i = 0; i < 8; i++) {
      out->f[i] = v[i];
      out->source[i] = v[i] == QOS_NOT_SPECIFIED ? nullptr : label;
    }
  }

  // "No callee data": len 0, as documented; the provider's WSABUF itself is writable.
  void SetNoGroupNoData(LPWSABUF lpCalleeData) {
    if (lpCalleeData && Writable(lpCalleeData, sizeof *lpCalleeData)) lpCalleeData->len = 0;
  }

  // Copies callee data into the provider's buffer, never past lpCalleeData->len, and only when
  // the buffer is believable: Wine leaves the whole WSABUF uninitialised (garbage len and buf), so
  // on Wine nothing is written through buf. Returns false when data was given and not delivered.
  bool WriteCalleeData(LPWSABUF lpCalleeData, const std::vector<uint8_t>& data) {
    if (!Writable(lpCalleeData, sizeof *lpCalleeData)) return data.empty();
    const ULONG kSaneMax = 64 * 1024;
    ULONG cap = lpCalleeData->len;
    bool usable = !onWine_ && lpCalleeData->buf && cap > 0 && cap <= kSaneMax && Writable(lpCalleeData->buf, cap);
    if (data.empty() || !usable) {
      lpCalleeData->len = 0;
      return data.empty();
    }
    ULONG n = static_cast<ULONG>(std::min<size_t>(cap, data.size()));
    memcpy(lpCalleeData->buf, data.data(), n);
    lpCalleeData->len = n;
    return n == data.size();
  }

  static std::string CallerKey(const CallCtx& ctx) {
    if (!ctx.callerOk) return std::string("?");
    return std::string(reinterpret_cast<const char*>(ctx.caller.raw), ctx.caller.rawLen);
  }

  void ForgetKnown(const std::string& key) {
    auto it = known_.find(key);
    if (it == known_.end()) return;
    if (it->second.deferred) deferred_--;
    held_--;
    known_.erase(it);
  }

  bool Fail(std::string* error, std::string* code, const std::string& what, int e) {
    *error = what + ": " + Describe(e);
    switch (e) {
      case WSAEADDRINUSE: *code = "EADDRINUSE"; break;
      case WSAEADDRNOTAVAIL: *code = "EADDRNOTAVAIL"; break;
      case WSAEACCES: *code = "EACCES"; break;  // Windows: the port is held exclusively
      case WSAENOPROTOOPT: *code = "ENOPROTOOPT"; break;
      case WSAEAFNOSUPPORT: *code = "EAFNOSUPPORT"; break;
      default: *code = WsaErrorName(e);
    }
    return false;
  }

  void Trace(const std::string& line) {
    if (trace_.empty()) return;
    std::lock_guard<std::mutex> lock(traceMu_);
    FILE* f = fopen(trace_.c_str(), "ab");
    if (!f) return;
    fprintf(f, "%s\n", line.c_str());
    fclose(f);
  }

  // One line per condition function call: the raw arguments as the stack gave them, so a test
  // can show where a stack departs from the documentation.
  void TraceCondition(LPWSABUF callerId, LPWSABUF callerData, LPQOS sqos, LPQOS gqos, LPWSABUF calleeId,
                      LPWSABUF calleeData, GROUP FAR* g, DWORD_PTR cb) {
    std::string t = "{\"type\":\"condition\"";
    t += ",\"callerIdLen\":" + (callerId ? std::to_string(callerId->len) : std::string("null"));
    t += ",\"callerData\":" + (callerData ? "{\"len\":" + std::to_string(callerData->len) + ",\"buf\":\"" +
                                                 Hex(callerData->buf) + "\"}" : std::string("null"));
    t += std::string(",\"sqos\":") + (sqos ? "\"" + Hex(sqos) + "\"" : "null");
    t += std::string(",\"gqos\":") + (gqos ? "\"" + Hex(gqos) + "\"" : "null");
    t += ",\"calleeIdLen\":" + (calleeId ? std::to_string(calleeId->len) : std::string("null"));
    uint16_t calleeFamily = 0;
    if (calleeId && calleeId->buf && calleeId->len >= 2) memcpy(&calleeFamily, calleeId->buf, 2);
    t += ",\"calleeIdFamily\":" + std::to_string(calleeFamily);
    t += ",\"calleeData\":" + (calleeData ? "{\"len\":" + std::to_string(calleeData->len) + ",\"buf\":\"" +
                                                 Hex(calleeData->buf) + "\"}" : std::string("null"));
    t += std::string(",\"g\":") + (g ? std::to_string(static_cast<unsigned long>(*g)) : "null");
    t += ",\"callbackData\":" + std::to_string(static_cast<unsigned long long>(cb)) + "}";
    Trace(t);
  }

  void Emit(Event&& e) {
    if (sink_) sink_(std::move(e));
  }

  void EmitError(int wsaErr, const std::string& what) {
    Event e;
    e.kind = EV_ERROR;
    e.wsa = MapWsa(wsaErr);
    e.message = what + ": " + Describe(wsaErr);
    Emit(std::move(e));
  }

  void EmitDecision(uint64_t id, int attempts, int state, int by, int wsa, int64_t arrivalNs,
                    const Sockaddr& caller, const std::string& message) {
    Event e;
    e.kind = EV_DECISION;
    e.id = id;
    e.attempts = attempts;
    e.finalState = state;
    e.by = by;
    e.wsa = wsa;
    e.latencyUs = arrivalNs ? (NowNs() - arrivalNs) / 1000 : 0;
    e.callerAddress = caller.address;
    e.callerPort = caller.port;
    e.message = message;
    Emit(std::move(e));
  }

  void HandOver(uint64_t id, SOCKET s) {
    if (opt_.handler == HandlerKind::Close || !handler_) {
      closesocket(s);
      Event h;
      h.kind = EV_HANDLER;
      h.id = id;
      h.handlerEvent = HE_LOCAL_CLOSE;
      Emit(std::move(h));
    } else {
      SetNonBlocking(s);
      handler_->Add(id, s);
    }
  }

  // A request taken whole (held discipline, or the stop drain): its final event.
  void FinalizeTaken(const CallCtx& ctx, int state, int wsa, const char* message) {
    std::string key = CallerKey(ctx);
    auto it = known_.find(key);
    if (it != known_.end()) {
      Known& k = it->second;
      EmitDecision(k.id, k.attempts, state, BY_SYSTEM, wsa, k.arrivalNs, k.caller, message);
      ForgetKnown(key);
    } else {
      EmitDecision(nextId_++, 0, state, BY_SYSTEM, wsa, 0, ctx.caller, message);
    }
  }

  // One WSAAccept call. Mode::Offer: the condition function asks the ConditionFn and the result
  // is reported; Mode::Take: it answers CF_ACCEPT and *taken receives the socket.
  // Returns the workbench's result code for the call.
  int AcceptOnce(CallCtx* ctx, int addrlen, SOCKET* taken) {
    ctx->self = this;
    sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    int alen = std::min<int>(addrlen, sizeof addr);
    tCtx = ctx;
    SOCKET s = WSAAccept(listen_, reinterpret_cast<sockaddr*>(&addr), &alen, Trampoline,
                         static_cast<DWORD_PTR>(opt_.callbackData));
    int err = s == INVALID_SOCKET ? WSAGetLastError() : 0;
    tCtx = nullptr;

    if (ctx->mode == Mode::Take) {
      if (s != INVALID_SOCKET) {
        if (!ctx->called) {
          // The stack skipped the condition function: take the address WSAAccept returned.
          ctx->callerOk = FromWinsock(reinterpret_cast<const char*>(&addr), alen, &ctx->caller);
        }
        *taken = s;
        return WSA_OK;
      }
      return StackFailure(ctx, err, addrlen);
    }

    if (s != INVALID_SOCKET) {
      SetNonBlocking(s);
      std::string key = CallerKey(*ctx);
      auto it = known_.find(key);
      uint64_t id = ctx->id;
      int attempts = ctx->attempt;
      int64_t arrival = it != known_.end() ? it->second.arrivalNs : 0;
      Sockaddr caller = ctx->caller;
      if (it != known_.end()) ForgetKnown(key);
      switch (ctx->action) {
        case Action::Accept: {
          std::string note = ctx->calleeUndelivered
              ? std::string("callee data not delivered: the provider gave no usable lpCalleeData buffer") +
                    (onWine_ ? " (Wine leaves lpCalleeData uninitialised)" : "")
              : std::string();
          HandOver(id, s);
          EmitDecision(id, attempts, FINAL_ACCEPT, ctx->by, WSA_OK, arrival, caller, note);
          return WSA_OK;
        }
        case Action::Expire:
          CloseReset(s);
          EmitDecision(id, attempts, FINAL_EXPIRE, BY_SYSTEM, WSAEACCES_, arrival, caller,
                       "deferred longer than the defer timeout");
          return WSAEACCES_;
        default: {
          // A socket although the condition function did not accept: the stack ignored the verdict.
          CloseReset(s);
          std::string why = ctx->called ? "WSAAccept returned a socket although the condition function returned " +
                                              std::to_string(ctx->code)
                                        : std::string("WSAAccept returned a socket without calling the condition function");
          if (!ctx->called) id = nextId_++;
          EmitDecision(id, attempts, FINAL_ERROR, ctx->called ? ctx->by : BY_SYSTEM, WSAEINVAL_, arrival, caller, why);
          return WSAEINVAL_;
        }
      }
    }

    if (!ctx->called) return StackFailure(ctx, err, addrlen);

    // The condition function ran and WSAAccept failed: the verdict's documented result.
    std::string key = CallerKey(*ctx);
    auto it = known_.find(key);
    int64_t arrival = it != known_.end() ? it->second.arrivalNs : 0;
    switch (ctx->action) {
      case Action::Defer:
        if (err != WSATRY_AGAIN) EmitError(err, "WSAAccept after CF_DEFER (documented: WSATRY_AGAIN)");
        return WSATRY_AGAIN_;
      case Action::Reject: {
        std::string note = err == WSAECONNREFUSED ? std::string()
                                                  : "WSAAccept after CF_REJECT failed with " + Describe(err) +
                                                        " (documented: WSAECONNREFUSED)";
        EmitDecision(ctx->id, ctx->attempt, FINAL_REJECT, ctx->by, WSAECONNREFUSED_, arrival, ctx->caller, note);
        ForgetKnown(key);
        return WSAECONNREFUSED_;
      }
      case Action::Invalid: {
        // Documented: WSAEINVAL. Wine answers WSAENOTSOCK and keeps the accepted socket open
        // (the caller stays connected until the process ends); the result is the contract's.
        std::string note = "condition function returned " + std::to_string(ctx->code) + "; WSAAccept failed with " +
                           Describe(err) + (err == WSAEINVAL ? "" : " (documented: WSAEINVAL)");
        EmitDecision(ctx->id, ctx->attempt, FINAL_ERROR, ctx->by, WSAEINVAL_, arrival, ctx->caller, note);
        ForgetKnown(key);
        return WSAEINVAL_;
      }
      default: {
        // Accept or expire, and the stack failed after the condition function.
        int mapped = MapWsa(err);
        int state = mapped == WSAECONNRESET_ ? FINAL_WITHDRAW : FINAL_ERROR;
        EmitDecision(ctx->id, ctx->attempt, state, BY_SYSTEM, mapped, arrival, ctx->caller,
                     "WSAAccept failed after the condition function: " + Describe(err));
        ForgetKnown(key);
        return mapped;
      }
    }
  }

  // WSAAccept failed before calling the condition function.
  // A call failed before the condition function ran, so the stack did not say whose request it
  // was: in the winsock discipline it is the deferred head when there is one, else a new request.
  void EndHeadRequest(CallCtx* ctx, int state, int wsa, const std::string& note, const char* unknownSuffix) {
    if (!known_.empty()) {
      auto it = known_.begin();
      Known k = it->second;
      ForgetKnown(it->first);
      ctx->id = k.id;
      ctx->attempt = k.attempts;
      EmitDecision(k.id, k.attempts, state, BY_SYSTEM, wsa, k.arrivalNs, k.caller, note);
    } else {
      ctx->id = nextId_++;
      EmitDecision(ctx->id, 0, state, BY_SYSTEM, wsa, 0, Sockaddr(), note + unknownSuffix);
    }
  }

  int StackFailure(CallCtx* ctx, int err, int addrlen) {
    switch (err) {
      case WSAEWOULDBLOCK:
        if (ctx->mode == Mode::Offer) {
          // The queue is empty although a deferred request was at its head: the stack dropped it.
          std::vector<std::string> gone;
          for (auto& kv : known_) gone.push_back(kv.first);
          for (auto& key : gone) {
            Known k = known_[key];
            ForgetKnown(key);
            EmitDecision(k.id, k.attempts, FINAL_WITHDRAW, BY_SYSTEM, WSAECONNRESET_, k.arrivalNs, k.caller,
                         "the stack no longer offers this request (queue empty)");
          }
        }
        return WSAEWOULDBLOCK_;
      case WSAECONNRESET:
      case WSAENOTCONN:
      case WSAECONNABORTED:
      case WSAENETRESET: {
        // The caller went away before the call (Wine: WSAENOTCONN). The stack does not say who;
        // in the winsock discipline it is the deferred head when there is one.
        std::string note = "caller went away before accept: " + Describe(err) +
                           (err == WSAECONNRESET ? "" : ", mapped to WSAECONNRESET");
        EndHeadRequest(ctx, FINAL_WITHDRAW, WSAECONNRESET_, note, " (caller unknown)");
        return WSAECONNRESET_;
      }
      case WSAEFAULT: {
        // The address buffer is too small for the caller. Wine's accept() has already taken the
        // connection and closes it, so the request ends here in error.
        std::string note = "address buffer too small (addrlen " + std::to_string(addrlen) + "): " + Describe(err);
        EndHeadRequest(ctx, FINAL_ERROR, WSAEFAULT_, note, "");
        return WSAEFAULT_;
      }
      default: {
        int mapped = MapWsa(err);
        stackFailed_ = true;
        EmitError(err, "WSAAccept");
        return mapped;
      }
    }
  }

  // ---- held discipline: the workbench keeps accepted connections ----

  bool TakeOne() {
    CallCtx ctx;
    ctx.mode = Mode::Take;
    SOCKET s = INVALID_SOCKET;
    int wsa = AcceptOnce(&ctx, opt_.addrlen, &s);
    if (s == INVALID_SOCKET) {
      if (wsa == WSAECONNRESET_ || wsa == WSAEFAULT_) return true;  // that request ended; take the next
      if (wsa != WSAEWOULDBLOCK_) takeFailed_ = true;
      return false;
    }
    SetNonBlocking(s);
    auto* req = new Held();
    req->id = nextId_++;
    req->s = s;
    req->arrivalNs = NowNs();
    req->nextOfferNs = req->arrivalNs;
    req->caller = ctx.caller;
    req->callee = ctx.callee;
    req->stackData = ctx.callerData;
    req->hasQos = ctx.hasQos;
    req->sending = ctx.sending;
    req->receiving = ctx.receiving;
    pending_.push_back(req);
    held_++;
    return true;
  }

  // Is the caller still there? Reads caller data without consuming it.
  bool Peek(Held* req, std::vector<uint8_t>* data) {
    data->resize(std::max<size_t>(opt_.maxCallerData, 1));
    int n = recv(req->s, reinterpret_cast<char*>(data->data()), static_cast<int>(data->size()), MSG_PEEK);
    if (n > 0) {
      data->resize(std::min<size_t>(n, opt_.maxCallerData));
      req->sawData = true;
      return true;
    }
    data->clear();
    if (n == 0) return false;
    int e = WSAGetLastError();
    return e == WSAEWOULDBLOCK || e == WSAEINTR;
  }

  int OfferHeld(Held* req) {
    if (req->attempts > 0 && NowNs() - req->arrivalNs >= opt_.deferTimeoutMs * 1000000) {
      FinalizeHeld(req, FINAL_EXPIRE, WSAEACCES_, BY_SYSTEM, "deferred longer than the defer timeout");
      return WSAEACCES_;
    }
    Offer offer;
    std::vector<uint8_t> peeked;
    if (!Peek(req, &peeked)) {
      FinalizeHeld(req, FINAL_WITHDRAW, WSAECONNRESET_, BY_SYSTEM, "caller went away");
      return WSAECONNRESET_;
    }
    if (!req->stackData.empty()) {
      offer.callerData = req->stackData;
      offer.dataSource = DATA_SYN;
    } else {
      offer.callerData = std::move(peeked);
      offer.dataSource = offer.callerData.empty() ? DATA_NONE : DATA_PEEK;
    }
    offer.id = req->id;
    offer.attempt = ++req->attempts;
    offer.caller = req->caller;
    offer.callee = req->callee;
    offer.hasQos = req->hasQos;
    offer.sending = req->sending;
    offer.receiving = req->receiving;
    offer.kernelDepth = -1;
    offer.held = held_.load();
    offer.deferred = deferred_.load();
    offer.callbackData = opt_.callbackData;

    Decision d = condition_(offer);
    if (req->done) return WSAEACCES_;
    switch (d.code) {
      case CF_ACCEPT:
        FinalizeHeld(req, FINAL_ACCEPT, WSA_OK, d.by, "");
        return WSA_OK;
      case CF_REJECT:
        FinalizeHeld(req, FINAL_REJECT, WSAECONNREFUSED_, d.by, "");
        return WSAECONNREFUSED_;
      case CF_DEFER:
        if (!req->deferred) { req->deferred = true; deferred_++; }
        req->parked = d.park;
        req->nextOfferNs = NowNs() + opt_.reofferMs * 1000000;
        return WSATRY_AGAIN_;
      default:
        FinalizeHeld(req, FINAL_ERROR, WSAEINVAL_, d.by, "condition function returned an invalid value");
        return WSAEINVAL_;
    }
  }

  void FinalizeHeld(Held* req, int state, int wsa, int by, const char* message) {
    req->done = true;
    if (state == FINAL_ACCEPT) HandOver(req->id, req->s); else CloseReset(req->s);
    req->s = INVALID_SOCKET;
    held_--;
    if (req->deferred) deferred_--;
    EmitDecision(req->id, req->attempts, state, by, wsa, req->arrivalNs, req->caller, message);
  }

  void Compact() {
    auto it = std::remove_if(pending_.begin(), pending_.end(), [](Held* r) {
      if (!r->done) return false;
      delete r;
      return true;
    });
    pending_.erase(it, pending_.end());
  }

  void CheckGone(Held* req, short revents) {
    std::vector<uint8_t> scratch;
    if ((revents & (POLLHUP | POLLERR)) || !Peek(req, &scratch)) {
      FinalizeHeld(req, FINAL_WITHDRAW, WSAECONNRESET_, BY_SYSTEM, "caller went away");
    } else if (!req->parked && req->sawData) {
      req->nextOfferNs = NowNs();  // caller data arrived: offer again now
    }
  }

  // Wake-ups from Wake(): un-park and offer again now.
  void ApplyWakes() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!wakeAll_ && wakeIds_.empty()) return;
    int64_t now = NowNs();
    for (Held* req : pending_) {
      if (wakeAll_ || wakeIds_.count(req->id)) {
        req->parked = false;
        req->nextOfferNs = now;
      }
    }
    for (auto& kv : known_) {
      if (wakeAll_ || wakeIds_.count(kv.second.id)) {
        kv.second.parked = false;
        kv.second.nextOfferNs = now;
      }
    }
    wakeAll_ = false;
    wakeIds_.clear();
  }

  int WaitMs(int64_t deadline) {
    if (deadline == INT64_MAX) return -1;
    int64_t wait = deadline - NowNs();
    return wait <= 0 ? 0 : static_cast<int>(std::min<int64_t>((wait + 999999) / 1000000, 1 << 30));
  }

  void Loop() {
    if (opt_.discipline == Discipline::Held) HeldLoop(); else WinsockLoop();
  }

  // winsock: the head of the stack's queue is offered again and again; later requests wait in
  // the backlog until it is decided.
  void WinsockLoop() {
    while (!stopping_) {
      ApplyWakes();
      const Known* head = known_.empty() ? nullptr : &known_.begin()->second;
      int64_t now = NowNs();
      if (head) {
        int64_t expiry = head->arrivalNs + opt_.deferTimeoutMs * 1000000;
        bool due = (!head->parked && head->nextOfferNs <= now) || (head->attempts > 0 && now >= expiry);
        if (due) {
          OfferOnce();
          // The stack fails the call (the head stays where it is): do not spin on it.
          if (stackFailed_) Sleep(static_cast<DWORD>(std::max<int64_t>(opt_.reofferMs, 10)));
          continue;
        }
        int64_t deadline = expiry;
        if (!head->parked) deadline = std::min(deadline, head->nextOfferNs);
        WSAPOLLFD p;
        p.fd = waker_.socket_();
        p.events = POLLRDNORM;
        p.revents = 0;
        int r = WSAPoll(&p, 1, WaitMs(deadline));
        if (r > 0) waker_.Drain();
        continue;
      }
      WSAPOLLFD p[2];
      p[0].fd = waker_.socket_();
      p[0].events = POLLRDNORM;
      p[0].revents = 0;
      p[1].fd = listen_;
      p[1].events = POLLRDNORM;
      p[1].revents = 0;
      int r = WSAPoll(p, 2, -1);
      if (r == SOCKET_ERROR) {
        int e = WSAGetLastError();
        if (e == WSAEINTR) continue;
        EmitError(e, "WSAPoll on the listening socket");
        Sleep(50);
        continue;
      }
      if (p[0].revents) waker_.Drain();
      if (stopping_) break;
      if (p[1].revents) {
        OfferOnce();
        if (stackFailed_)
          Sleep(static_cast<DWORD>(std::max<int64_t>(opt_.reofferMs, 10)));  // do not spin on a failing stack
      }
    }
  }

  int OfferOnce() {
    stackFailed_ = false;
    CallCtx ctx;
    ctx.mode = Mode::Offer;
    ctx.condition = &condition_;
    int wsa = AcceptOnce(&ctx, opt_.addrlen, nullptr);
    if (ctx.thrown) {
      // Not expected on the accept thread (the addon catches there); keep the request and go on.
      ctx.thrown = nullptr;
    }
    return wsa;
  }

  // held: take everything from the stack, decide each request on its own.
  void HeldLoop() {
    std::vector<WSAPOLLFD> pfds;
    std::vector<Held*> watched;
    while (!stopping_) {
      ApplyWakes();
      takeFailed_ = false;
      for (int i = 0; i < 256 && TakeOne(); i++) {}
      if (takeFailed_) Sleep(static_cast<DWORD>(std::max<int64_t>(opt_.reofferMs, 10)));  // do not spin on a failing stack
      int64_t now = NowNs();
      for (size_t i = 0; i < pending_.size() && !stopping_; i++) {
        Held* req = pending_[i];
        if (req->done) continue;
        bool expired = req->attempts > 0 && now - req->arrivalNs >= opt_.deferTimeoutMs * 1000000;
        if (expired || (!req->parked && req->nextOfferNs <= now)) OfferHeld(req);
      }
      Compact();
      if (stopping_) break;

      int64_t deadline = INT64_MAX;
      pfds.clear();
      watched.clear();
      WSAPOLLFD w;
      w.fd = waker_.socket_();
      w.events = POLLRDNORM;
      w.revents = 0;
      pfds.push_back(w);
      w.fd = listen_;
      pfds.push_back(w);
      size_t firstReq = pfds.size();
      bool quiet = false;
      for (Held* req : pending_) {
        if (!req->parked) deadline = std::min(deadline, req->nextOfferNs);
        if (req->attempts > 0) deadline = std::min(deadline, req->arrivalNs + opt_.deferTimeoutMs * 1000000);
        if (req->sawData) { quiet = true; continue; }  // readable for good: looked at on a tick
        WSAPOLLFD p;
        p.fd = req->s;
        p.events = POLLRDNORM;
        p.revents = 0;
        pfds.push_back(p);
        watched.push_back(req);
      }
      int timeoutMs = WaitMs(deadline);
      if (quiet && (timeoutMs < 0 || timeoutMs > 50)) timeoutMs = 50;
      int r = WSAPoll(pfds.data(), static_cast<ULONG>(pfds.size()), timeoutMs);
      if (r == SOCKET_ERROR) {
        int e = WSAGetLastError();
        if (e != WSAEINTR) {
          EmitError(e, "WSAPoll");
          Sleep(50);
        }
        continue;
      }
      if (pfds[0].revents) waker_.Drain();
      for (size_t i = firstReq; i < pfds.size(); i++) {
        if (pfds[i].revents) CheckGone(watched[i - firstReq], pfds[i].revents);
      }
      if (quiet) {
        for (Held* req : pending_) {
          if (req->done || !req->sawData) continue;
          WSAPOLLFD p;
          p.fd = req->s;
          p.events = POLLRDNORM;
          p.revents = 0;
          if (WSAPoll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) CheckGone(req, p.revents);
          else if (PeerClosed(req->s) == 1) CheckGone(req, POLLHUP);
        }
      }
      Compact();
    }
  }

  Options opt_;
  const bool onWine_;
  bool winsock_ = false;
  bool v6_ = false;
  bool conditionalAccept_ = false;
  bool takeFailed_ = false;
  bool stackFailed_ = false;  // the last OfferOnce failed in the stack (no condition call)
  SOCKET listen_ = INVALID_SOCKET;
  Sockaddr local_;
  Waker waker_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  ConditionFn condition_;
  EventSink sink_;
  std::unique_ptr<HandlerLoop> handler_;
  std::vector<Held*> pending_;           // held discipline, arrival order; accept thread only
  std::map<std::string, Known> known_;   // winsock discipline: requests inside the stack, by caller
  std::mutex mu_;                        // guards the wake requests
  std::unordered_set<uint64_t> wakeIds_;
  bool wakeAll_ = false;
  std::atomic<int> held_{0}, deferred_{0};
  uint64_t nextId_ = 1;
  std::string trace_;
  std::mutex traceMu_;
};

int CALLBACK Trampoline(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS, LPQOS lpGQOS,
                        LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP FAR* g, DWORD_PTR dwCallbackData) {
  CallCtx* ctx = tCtx;
  if (!ctx || !ctx->self) return CF_REJECT;  // called outside a workbench WSAAccept call: refuse
  return ctx->self->OnCondition(ctx, lpCallerId, lpCallerData, lpSQOS, lpGQOS, lpCalleeId, lpCalleeData, g,
                                dwCallbackData);
}

}  // namespace

std::unique_ptr<Acceptor> CreateAcceptor() { return std::unique_ptr<Acceptor>(new WinAcceptor()); }

}  // namespace aw
