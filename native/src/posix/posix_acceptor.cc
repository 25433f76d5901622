// POSIX backend: reproduces WSAAccept's contract on BSD sockets. The kernel completes the
// handshake before accept() returns, so a "request" here is an accepted socket that the workbench
// has not yet handed over: reject = abortive close (the caller sees a reset), defer = keep it.
// Linux adds TCP_INFO (kernel queue depth, FLOWSPEC), TCP_DEFER_ACCEPT and Fast Open; other
// POSIX systems compile without them.
#include "../acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_set>

#ifndef POLLRDHUP
#define POLLRDHUP 0
#endif
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

namespace aw {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void SetCloexec(int fd) { fcntl(fd, F_SETFD, FD_CLOEXEC); }

// Abortive close: the peer sees a reset instead of an orderly end of stream.
void CloseReset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

int AcceptNonBlocking(int listenFd, sockaddr_storage* ss, socklen_t* len) {
#if defined(__linux__)
  return accept4(listenFd, reinterpret_cast<sockaddr*>(ss), len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  int fd = accept(listenFd, reinterpret_cast<sockaddr*>(ss), len);
  if (fd >= 0) {
    SetNonBlocking(fd);
    SetCloexec(fd);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
  }
  return fd;
#endif
}

void ToSockaddr(const sockaddr_storage& ss, Sockaddr* out) {
  char text[INET6_ADDRSTRLEN] = {0};
  memset(out->raw, 0, sizeof out->raw);
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    out->v6 = true;
    out->port = ntohs(in6->sin6_port);
    out->raw[0] = 23;  // AF_INET6 on Windows, little-endian u16
    memcpy(out->raw + 2, &in6->sin6_port, 2);
    memcpy(out->raw + 4, &in6->sin6_flowinfo, 4);
    memcpy(out->raw + 8, &in6->sin6_addr, 16);
    uint32_t scope = in6->sin6_scope_id;  // ULONG in host (little-endian) order on Windows
    for (int i = 0; i < 4; i++) out->raw[24 + i] = static_cast<uint8_t>(scope >> (8 * i));
    out->rawLen = 28;
  } else {
    auto* in4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
    out->v6 = false;
    out->port = ntohs(in4->sin_port);
    out->raw[0] = 2;
    memcpy(out->raw + 2, &in4->sin_port, 2);
    memcpy(out->raw + 4, &in4->sin_addr, 4);
    out->rawLen = 16;
  }
  out->address = text;
}

#if defined(__linux__)
// glibc's struct tcp_info stops before the pacing fields; the kernel ABI only ever appends.
struct TcpInfoExt {
  struct tcp_info base;
  uint64_t pacing_rate;
  uint64_t max_pacing_rate;
};

uint32_t Clamp32(uint64_t v) { return v >= QOS_NOT_SPECIFIED ? QOS_NOT_SPECIFIED - 1 : static_cast<uint32_t>(v); }

// FLOWSPECs derived from what the kernel measured on this connection; everything else stays
// QOS_NOT_SPECIFIED. Returns whether TCP_INFO was available; *synData tells if the SYN carried data.
bool DeriveQos(int fd, Offer* offer, bool* synData) {
  TcpInfoExt info;
  memset(&info, 0, sizeof info);
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  *synData = (info.base.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
  Flowspec& s = offer->sending;
  Flowspec& r = offer->receiving;
  auto set = [](Flowspec& f, int field, uint32_t value, const char* source) {
    f.f[field] = value;
    f.source[field] = source;
  };
  if (len >= sizeof info && info.pacing_rate != 0 && info.pacing_rate != ~0ULL)
    set(s, FS_TOKEN_RATE, Clamp32(info.pacing_rate), "tcpi_pacing_rate");
  set(s, FS_TOKEN_BUCKET, Clamp32(uint64_t(info.base.tcpi_snd_cwnd) * info.base.tcpi_snd_mss),
      "tcpi_snd_cwnd*tcpi_snd_mss");
  set(s, FS_LATENCY, info.base.tcpi_rtt, "tcpi_rtt");
  set(s, FS_DELAY_VARIATION, info.base.tcpi_rttvar, "tcpi_rttvar");
  set(s, FS_MAX_SDU, info.base.tcpi_snd_mss, "tcpi_snd_mss");
  set(r, FS_TOKEN_BUCKET, info.base.tcpi_rcv_space, "tcpi_rcv_space");
  set(r, FS_LATENCY, info.base.tcpi_rtt, "tcpi_rtt");
  set(r, FS_DELAY_VARIATION, info.base.tcpi_rttvar, "tcpi_rttvar");
  set(r, FS_MAX_SDU, info.base.tcpi_advmss, "tcpi_advmss");
  return true;
}
#else
bool DeriveQos(int, Offer*, bool* synData) {
  *synData = false;
  return false;
}
#endif

struct Request {
  uint64_t id = 0;
  int fd = -1;
  Sockaddr caller, callee;
  int callerLen = 0;  // bytes the caller's sockaddr needs in the address buffer
  int64_t arrivalNs = 0;
  int attempts = 0;
  int64_t nextOfferNs = 0;
  bool deferred = false;
  bool parked = false;   // waiting to be woken (a person's decision)
  bool sawData = false;  // caller data seen: stop watching for POLLIN
  bool done = false;
};

// Serves accepted connections for the echo / discard / hold handlers on one thread.
class HandlerLoop {
 public:
  HandlerLoop(HandlerKind kind, EventSink* sink) : kind_(kind), sink_(sink) {}
  ~HandlerLoop() { Stop(); }

  void Start() {
    if (pipe(wake_) != 0) return;
    SetNonBlocking(wake_[0]);
    SetNonBlocking(wake_[1]);
    SetCloexec(wake_[0]);
    SetCloexec(wake_[1]);
    thread_ = std::thread([this] { Run(); });
  }

  void Add(uint64_t id, int fd) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      Conn c;
      c.id = id;
      c.fd = fd;
      incoming_.push_back(std::move(c));
    }
    Wake();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    Wake();
    thread_.join();
    close(wake_[0]);
    close(wake_[1]);
  }

 private:
  struct Conn {
    uint64_t id;
    int fd;
    uint64_t in = 0, out = 0;
    std::string pending;  // echo bytes the peer has not taken yet
    bool closed = false;
  };

  void Wake() {
    char b = 1;
    ssize_t n = write(wake_[1], &b, 1);
    (void)n;
  }

  void Finish(Conn& c, int how) {
    Event e;
    e.kind = EV_HANDLER;
    e.id = c.id;
    e.handlerEvent = how;
    e.bytesIn = c.in;
    e.bytesOut = c.out;
    if (how == HE_RESET) CloseReset(c.fd); else close(c.fd);
    c.closed = true;
    (*sink_)(std::move(e));
  }

  // Reads what is there; returns false once the connection has ended.
  bool Pump(Conn& c) {
    char buf[16384];
    for (;;) {
      if (kind_ == HandlerKind::Echo && !c.pending.empty()) {
        ssize_t w = send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
          c.out += w;
          c.pending.erase(0, w);
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          Finish(c, HE_RESET);
          return false;
        }
        if (!c.pending.empty()) return true;  // wait for POLLOUT before reading more
      }
      ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        c.in += n;
        if (kind_ == HandlerKind::Echo) c.pending.append(buf, n);
        continue;
      }
      if (n == 0) {
        if (kind_ == HandlerKind::Echo && !c.pending.empty()) {
          // Flush what is owed before closing, best effort.
          ssize_t w = send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w > 0) c.out += w;
        }
        Finish(c, HE_PEER_CLOSE);
        return false;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      Finish(c, HE_RESET);
      return false;
    }
  }

  // hold: never reads; notices only that the peer went away (pending data does not hide it).
  void CheckHeld(Conn& c, short revents) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) { Finish(c, HE_RESET); return; }
    if (revents & (POLLRDHUP | POLLHUP | POLLERR)) { Finish(c, HE_PEER_CLOSE); return; }
    char b;
    ssize_t n = recv(c.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) Finish(c, HE_PEER_CLOSE);
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Finish(c, HE_RESET);
  }

  void Run() {
    std::vector<Conn> conns;
    std::vector<pollfd> pfds;
    while (!stopping_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto& c : incoming_) conns.push_back(std::move(c));
        incoming_.clear();
      }
      pfds.clear();
      pfds.push_back({wake_[0], POLLIN, 0});
      for (auto& c : conns) {
        short ev = POLLRDHUP;
        if (kind_ != HandlerKind::Hold) ev |= POLLIN;
        if (!c.pending.empty()) ev |= POLLOUT;
        pfds.push_back({c.fd, ev, 0});
      }
      int r = poll(pfds.data(), pfds.size(), -1);
      if (r < 0 && errno != EINTR) break;
      if (pfds[0].revents) {
        char drain[64];
        while (read(wake_[0], drain, sizeof drain) > 0) {}
      }
      for (size_t i = 1; i < pfds.size(); i++) {
        if (!pfds[i].revents) continue;
        Conn& c = conns[i - 1];
        if (kind_ == HandlerKind::Hold) CheckHeld(c, pfds[i].revents); else Pump(c);
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn& c) { return c.closed; }),
                  conns.end());
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
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
};

class PosixAcceptor : public Acceptor {
 public:
  ~PosixAcceptor() override { Stop(); }

  const char* Backend() const override { return "posix"; }

  bool Open(const Options& options, std::string* error, std::string* code) override {
    opt_ = options;
    sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
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
    if (opt_.conditionalAccept) {
      // The verdict-before-handshake of Winsock's SO_CONDITIONAL_ACCEPT has no BSD-socket equivalent.
      *error = "SO_CONDITIONAL_ACCEPT is a Winsock option; on this platform the kernel completes the handshake before any verdict";
      *code = "EOPNOTSUPP";
      return false;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) return Fail(error, code, "socket");
    SetCloexec(fd);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#if defined(__linux__)
    if (opt_.deferAcceptS > 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &opt_.deferAcceptS, sizeof opt_.deferAcceptS) != 0) {
      close(fd);
      return Fail(error, code, "TCP_DEFER_ACCEPT");
    }
    if (opt_.fastOpen) {
      int qlen = opt_.backlog > 0 ? opt_.backlog : 16;
      if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen) != 0) {
        close(fd);
        return Fail(error, code, "TCP_FASTOPEN");
      }
    }
#else
    if (opt_.deferAcceptS > 0 || opt_.fastOpen) {
      close(fd);
      *error = "TCP_DEFER_ACCEPT and Fast Open are only supported on Linux";
      *code = "EOPNOTSUPP";
      return false;
    }
#endif
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      int e = errno;
      close(fd);
      errno = e;
      return Fail(error, code, "bind " + opt_.bindAddress + ":" + std::to_string(opt_.port));
    }
    if (listen(fd, opt_.backlog) != 0) {
      int e = errno;
      close(fd);
      errno = e;
      return Fail(error, code, "listen");
    }
    SetNonBlocking(fd);
    sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
    Sockaddr local;
    ToSockaddr(bound, &local);
    localAddress_ = local.address;
    localPort_ = local.port;
    listenFd_ = fd;
    if (pipe(wake_) != 0) return Fail(error, code, "pipe");
    SetNonBlocking(wake_[0]);
    SetNonBlocking(wake_[1]);
    SetCloexec(wake_[0]);
    SetCloexec(wake_[1]);
    return true;
  }

  std::string LocalAddress() const override { return localAddress_; }
  int LocalPort() const override { return localPort_; }

  void Start(ConditionFn condition, EventSink sink) override {
    condition_ = std::move(condition);
    sink_ = std::move(sink);
    if (opt_.handler != HandlerKind::Close) {
      handler_.reset(new HandlerLoop(opt_.handler, &sink_));
      handler_->Start();
    }
    if (opt_.threaded) thread_ = std::thread([this] { Loop(); });
  }

  CallResult Call(const CallOptions& options, ConditionFn condition) override {
    CallResult result;
    if (listenFd_ < 0) { result.wsa = WSAEINVAL_; return result; }
    if (pending_.empty() && !AcceptOne()) {
      result.wsa = WSAEWOULDBLOCK_;
      return result;
    }
    Request* req = pending_.front();
    result.id = req->id;
    if (options.addrlen < req->callerLen) {
      result.wsa = WSAEFAULT_;  // the request stays queued, as with WSAAccept
      result.attempt = req->attempts;
      return result;
    }
    result.wsa = OfferRequest(req, condition);
    result.attempt = req->attempts;
    Compact();
    return result;
  }

  void Wake(uint64_t id) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (id == 0) wakeAll_ = true; else wakeIds_.insert(id);
    }
    PokeThread();
  }

  Depths QueueDepths() override {
    Depths d;
    d.kernel = KernelDepth();
    d.held = held_.load();
    d.deferred = deferred_.load();
    return d;
  }

  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    PokeThread();
    if (thread_.joinable()) thread_.join();
    if (listenFd_ >= 0) {
      // Everything still waiting, in the workbench or in the kernel's queue, ends as expired:
      // the listener is going away, so nothing stays undecided and unrecorded.
      while (AcceptOne()) {}
      for (Request* req : pending_) {
        if (!req->done) Finalize(req, FINAL_EXPIRE, WSAEACCES_, BY_SYSTEM, "listener stopped");
      }
      Compact();
      close(listenFd_);
      listenFd_ = -1;
    }
    if (handler_) handler_->Stop();
    if (wake_[0] >= 0) { close(wake_[0]); close(wake_[1]); wake_[0] = wake_[1] = -1; }
  }

 private:
  bool Fail(std::string* error, std::string* code, const std::string& what) {
    int e = errno;
    *error = what + ": " + strerror(e);
    switch (e) {
      case EADDRINUSE: *code = "EADDRINUSE"; break;
      case EADDRNOTAVAIL: *code = "EADDRNOTAVAIL"; break;
      case EACCES: *code = "EACCES"; break;
      case ENOPROTOOPT: *code = "ENOPROTOOPT"; break;
      default: *code = "E" + std::to_string(e);
    }
    return false;
  }

  void PokeThread() {
    if (wake_[1] < 0) return;
    char b = 1;
    ssize_t n = write(wake_[1], &b, 1);
    (void)n;
  }

  int64_t KernelDepth() {
#if defined(__linux__)
    if (listenFd_ < 0) return -1;
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (getsockopt(listenFd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
    return info.tcpi_unacked;  // on a listening socket: the accept queue's length
#else
    return -1;
#endif
  }

  // Takes one connection from the kernel into the workbench's queue.
  bool AcceptOne() {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = AcceptNonBlocking(listenFd_, &ss, &len);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        Event e;
        e.kind = EV_ERROR;
        e.wsa = (errno == ENOBUFS || errno == ENOMEM) ? WSAENOBUFS_ : WSAEMFILE_;
        e.message = std::string("accept: ") + strerror(errno);
        Emit(std::move(e));
      }
      return false;
    }
    auto* req = new Request();
    req->id = nextId_++;
    req->fd = fd;
    req->arrivalNs = NowNs();
    req->nextOfferNs = req->arrivalNs;
    ToSockaddr(ss, &req->caller);
    req->callerLen = req->caller.rawLen;
    sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0) ToSockaddr(local, &req->callee);
    pending_.push_back(req);
    held_++;
    return true;
  }

  // Is the caller still there? Reads caller data without consuming it.
  // Returns false when the peer is gone (FIN with nothing to read, or a reset).
  bool Peek(Request* req, std::vector<uint8_t>* data) {
    data->resize(opt_.maxCallerData);
    ssize_t n = recv(req->fd, data->data(), data->size(), MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      data->resize(n);
      req->sawData = true;
      return true;
    }
    data->clear();
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }

  // One WSAAccept-equivalent call on this request: returns the WSA result of the call.
  int OfferRequest(Request* req, const ConditionFn& condition) {
    int64_t now = NowNs();
    if (req->attempts > 0 && now - req->arrivalNs >= opt_.deferTimeoutMs * 1000000) {
      Finalize(req, FINAL_EXPIRE, WSAEACCES_, BY_SYSTEM, "deferred longer than the defer timeout");
      return WSAEACCES_;
    }
    Offer offer;
    if (!Peek(req, &offer.callerData)) {
      Finalize(req, FINAL_WITHDRAW, WSAECONNRESET_, BY_SYSTEM, "caller went away");
      return WSAECONNRESET_;
    }
    if (opt_.addrlen < req->callerLen) {
      Finalize(req, FINAL_ERROR, WSAEFAULT_, BY_SYSTEM, "address buffer too small");
      return WSAEFAULT_;
    }
    offer.id = req->id;
    offer.attempt = ++req->attempts;
    offer.caller = req->caller;
    offer.callee = req->callee;
    bool synData = false;
    offer.hasQos = DeriveQos(req->fd, &offer, &synData);
    offer.dataSource = offer.callerData.empty() ? DATA_NONE : (synData ? DATA_SYN : DATA_PEEK);
    offer.kernelDepth = KernelDepth();
    offer.held = held_.load();
    offer.deferred = deferred_.load();
    offer.callbackData = opt_.callbackData;

    Decision d = condition(offer);
    if (req->done) return WSAEACCES_;  // finalized meanwhile (stop)
    switch (d.code) {
      case CF_ACCEPT:
        Finalize(req, FINAL_ACCEPT, WSA_OK, d.by, "");
        return WSA_OK;
      case CF_REJECT:
        Finalize(req, FINAL_REJECT, WSAECONNREFUSED_, d.by, "");
        return WSAECONNREFUSED_;
      case CF_DEFER:
        if (!req->deferred) { req->deferred = true; deferred_++; }
        req->parked = d.park;
        req->nextOfferNs = NowNs() + opt_.reofferMs * 1000000;
        return WSATRY_AGAIN_;
      default:
        Finalize(req, FINAL_ERROR, WSAEINVAL_, d.by, "condition function returned an invalid value");
        return WSAEINVAL_;
    }
  }

  void Finalize(Request* req, int state, int wsa, int by, const char* message) {
    req->done = true;
    int64_t now = NowNs();
    if (state == FINAL_ACCEPT) {
      if (opt_.handler == HandlerKind::Close || !handler_) {
        close(req->fd);
        Event h;
        h.kind = EV_HANDLER;
        h.id = req->id;
        h.handlerEvent = HE_LOCAL_CLOSE;
        Emit(std::move(h));
      } else {
        handler_->Add(req->id, req->fd);
      }
    } else {
      CloseReset(req->fd);
    }
    req->fd = -1;
    held_--;
    if (req->deferred) deferred_--;
    Event e;
    e.kind = EV_DECISION;
    e.id = req->id;
    e.attempts = req->attempts;
    e.finalState = state;
    e.by = by;
    e.wsa = wsa;
    e.latencyUs = (now - req->arrivalNs) / 1000;
    e.callerAddress = req->caller.address;
    e.callerPort = req->caller.port;
    e.message = message;
    Emit(std::move(e));
  }

  void Emit(Event&& e) {
    if (sink_) sink_(std::move(e));
  }

  void Compact() {
    auto it = std::remove_if(pending_.begin(), pending_.end(), [](Request* r) {
      if (!r->done) return false;
      delete r;
      return true;
    });
    pending_.erase(it, pending_.end());
  }

  void ApplyWakes() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!wakeAll_ && wakeIds_.empty()) return;
    int64_t now = NowNs();
    for (Request* req : pending_) {
      if (wakeAll_ || wakeIds_.count(req->id)) {
        req->parked = false;
        req->nextOfferNs = now;
      }
    }
    wakeAll_ = false;
    wakeIds_.clear();
  }

  void CheckGone(Request* req, short revents) {
    std::vector<uint8_t> scratch;
    // A hang-up counts even when data is still buffered: the caller has stopped waiting.
    if ((revents & (POLLRDHUP | POLLHUP | POLLERR)) || !Peek(req, &scratch)) {
      Finalize(req, FINAL_WITHDRAW, WSAECONNRESET_, BY_SYSTEM, "caller went away");
    } else if (!req->parked && req->sawData) {
      req->nextOfferNs = NowNs();  // caller data arrived: offer again now
    }
  }

  void Loop() {
    std::vector<pollfd> pfds;
    std::vector<Request*> watched;
    const bool held = opt_.discipline == Discipline::Held;
    while (!stopping_) {
      ApplyWakes();
      // Take from the kernel: everything (held) or only when nothing blocks the head (winsock).
      if (held) {
        for (int i = 0; i < 256 && AcceptOne(); i++) {}
      } else if (pending_.empty()) {
        AcceptOne();
      }
      int64_t now = NowNs();
      bool progressed = false;
      for (size_t i = 0; i < pending_.size() && !stopping_; i++) {
        Request* req = pending_[i];
        if (req->done) continue;
        bool expired = req->attempts > 0 && now - req->arrivalNs >= opt_.deferTimeoutMs * 1000000;
        if (expired || (!req->parked && req->nextOfferNs <= now)) {
          OfferRequest(req, condition_);
          if (req->done) progressed = true;
        }
      }
      Compact();
      if (stopping_) break;
      if (progressed && !held) continue;  // the head moved on: take the next one straight away

      // Wait for: a wake-up, a new connection (when we would take one), a pending caller going
      // away or sending data, the next re-offer or expiry.
      int64_t deadline = INT64_MAX;
      pfds.clear();
      watched.clear();
      pfds.push_back({wake_[0], POLLIN, 0});
      if (held || pending_.empty()) pfds.push_back({listenFd_, POLLIN, 0});
      size_t firstReq = pfds.size();
      for (Request* req : pending_) {
        short ev = POLLRDHUP;
        if (!req->sawData) ev |= POLLIN;
        pfds.push_back({req->fd, ev, 0});
        watched.push_back(req);
        if (!req->parked) deadline = std::min(deadline, req->nextOfferNs);
        if (req->attempts > 0) deadline = std::min(deadline, req->arrivalNs + opt_.deferTimeoutMs * 1000000);
      }
      int timeoutMs = -1;
      if (deadline != INT64_MAX) {
        int64_t wait = deadline - NowNs();
        timeoutMs = wait <= 0 ? 0 : static_cast<int>((wait + 999999) / 1000000);
      }
      int r = poll(pfds.data(), pfds.size(), timeoutMs);
      if (r < 0 && errno != EINTR) break;
      if (r <= 0) continue;
      if (pfds[0].revents) {
        char drain[64];
        while (read(wake_[0], drain, sizeof drain) > 0) {}
      }
      for (size_t i = firstReq; i < pfds.size(); i++) {
        if (pfds[i].revents) CheckGone(watched[i - firstReq], pfds[i].revents);
      }
      Compact();
    }
  }

  Options opt_;
  int listenFd_ = -1;
  int wake_[2] = {-1, -1};
  std::string localAddress_;
  int localPort_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  ConditionFn condition_;
  EventSink sink_;
  std::unique_ptr<HandlerLoop> handler_;
  std::vector<Request*> pending_;  // arrival order; only the accept thread (or Call) touches it
  std::mutex mu_;                  // guards the wake requests
  std::unordered_set<uint64_t> wakeIds_;
  bool wakeAll_ = false;
  std::atomic<int> held_{0}, deferred_{0};
  uint64_t nextId_ = 1;
};

}  // namespace

std::unique_ptr<Acceptor> CreateAcceptor() { return std::unique_ptr<Acceptor>(new PosixAcceptor()); }

}  // namespace aw
