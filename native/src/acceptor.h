// Portable acceptor interface: one listening socket whose connection requests are offered to a
// condition function with WSAAccept's contract. Backends: posix/ (emulation on BSD sockets) and,
// later, win/ (the real WSAAccept). Everything here is plain C++ with no Node-API types, so the
// backends can be tested and reasoned about without the JS side.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace aw {

// Winsock error numbers used in results, so every platform reports the same codes.
enum WsaCode : int {
  WSA_OK = 0,
  WSAEACCES_ = 10013,
  WSAEFAULT_ = 10014,
  WSAEINVAL_ = 10022,
  WSAEMFILE_ = 10024,
  WSAEWOULDBLOCK_ = 10035,
  WSAENOTSOCK_ = 10038,
  WSAEOPNOTSUPP_ = 10045,
  WSAENETDOWN_ = 10050,
  WSAECONNRESET_ = 10054,
  WSAENOBUFS_ = 10055,
  WSAECONNREFUSED_ = 10061,
  WSANOTINITIALISED_ = 10093,
  WSATRY_AGAIN_ = 11002,
};
const char* WsaName(int code);

enum ConditionResult : int { CF_ACCEPT = 0, CF_REJECT = 1, CF_DEFER = 2 };

enum class Discipline { Winsock, Held };
enum class HandlerKind { Echo, Hold, Close, Discard };

// Who produced a verdict; mirrors the JS `Decider` strings in this order.
enum Decider : int { BY_SCRIPT = 0, BY_FALLBACK = 1, BY_PERSON = 2, BY_DEFAULT = 3, BY_SYSTEM = 4 };

enum FinalState : int { FINAL_ACCEPT = 0, FINAL_REJECT, FINAL_EXPIRE, FINAL_WITHDRAW, FINAL_ERROR };

enum DataSource : int { DATA_NONE = 0, DATA_SYN = 1, DATA_PEEK = 2 };

struct Options {
  std::string bindAddress = "127.0.0.1";
  int port = 0;
  int backlog = 128;
  Discipline discipline = Discipline::Winsock;
  HandlerKind handler = HandlerKind::Echo;
  int deferAcceptS = 0;      // TCP_DEFER_ACCEPT; 0 = off
  bool fastOpen = false;     // TCP_FASTOPEN on the listener
  bool conditionalAccept = false;  // SO_CONDITIONAL_ACCEPT before listen (Winsock only)
  int64_t deferTimeoutMs = 30000;
  int64_t reofferMs = 5;
  int64_t budgetMs = 50;     // how long the accept thread waits for a verdict
  int defaultVerdict = CF_REJECT;  // used when the budget runs out
  uint32_t callbackData = 0; // dwCallbackData, passed through untouched
  int addrlen = 128;         // size of the caller address buffer given to "WSAAccept"
  size_t maxCallerData = 1024;
  bool threaded = true;      // false: no accept thread, offers only through Call()
};

// A sockaddr as the condition function's WSABUF holds it, in Winsock layout
// (family as little-endian u16 AF_INET=2 / AF_INET6=23, port and address in network order).
struct Sockaddr {
  bool v6 = false;
  uint16_t port = 0;
  std::string address;
  uint8_t raw[28] = {0};
  int rawLen = 0;
};

constexpr uint32_t QOS_NOT_SPECIFIED = 0xFFFFFFFFu;

// FLOWSPEC in Winsock field order. `derivedMask` bit i set = field i was measured (see kFlowspecFields).
struct Flowspec {
  uint32_t f[8] = {QOS_NOT_SPECIFIED, QOS_NOT_SPECIFIED, QOS_NOT_SPECIFIED, QOS_NOT_SPECIFIED,
                   QOS_NOT_SPECIFIED, QOS_NOT_SPECIFIED, QOS_NOT_SPECIFIED, QOS_NOT_SPECIFIED};
  const char* source[8] = {nullptr};
};
enum FlowField { FS_TOKEN_RATE = 0, FS_TOKEN_BUCKET, FS_PEAK_BANDWIDTH, FS_LATENCY, FS_DELAY_VARIATION,
                 FS_SERVICE_TYPE, FS_MAX_SDU, FS_MIN_POLICED };

struct Offer {
  uint64_t id = 0;
  int attempt = 0;
  Sockaddr caller;
  Sockaddr callee;
  std::vector<uint8_t> callerData;
  int dataSource = DATA_NONE;
  bool hasQos = false;
  Flowspec sending, receiving;
  int64_t kernelDepth = -1;  // -1: the OS does not say
  int held = 0;
  int deferred = 0;
  uint32_t callbackData = 0;
};

struct Decision {
  int code = CF_REJECT;  // 0/1/2 valid; anything else is WSAEINVAL
  int by = BY_SCRIPT;
  bool park = false;     // deferred until woken (a person's decision), no timed re-offer
  std::vector<uint8_t> calleeData;
  bool hasGroup = false;
  uint32_t group = 0;
};

// Called once per offer: on the accept thread (threaded) or on the caller's thread (Call()).
using ConditionFn = std::function<Decision(const Offer&)>;

enum EventKind : int { EV_DECISION = 0, EV_HANDLER = 1, EV_DEFAULT_VERDICT = 2, EV_ERROR = 3 };
enum HandlerEventKind : int { HE_PEER_CLOSE = 0, HE_RESET = 1, HE_LOCAL_CLOSE = 2 };

struct Event {
  int kind = EV_DECISION;
  uint64_t id = 0;
  int attempts = 0;
  int finalState = FINAL_ACCEPT;
  int by = BY_SYSTEM;
  int wsa = WSA_OK;
  int64_t latencyUs = 0;
  std::string callerAddress;
  uint16_t callerPort = 0;
  int handlerEvent = HE_LOCAL_CLOSE;
  uint64_t bytesIn = 0, bytesOut = 0;
  int verdict = 0;  // EV_DEFAULT_VERDICT: the verdict applied
  std::string message;
  std::string offerJson, sqosJson;  // EV_DEFAULT_VERDICT: the offer JS did not answer in time
};

using EventSink = std::function<void(Event&&)>;

struct CallOptions {
  int addrlen = 128;
};

struct CallResult {
  int wsa = WSA_OK;   // WSA_OK: accepted
  uint64_t id = 0;    // request offered (0 when none)
  int attempt = 0;
};

struct Depths {
  int64_t kernel = -1;
  int held = 0;
  int deferred = 0;
};

class Acceptor {
 public:
  virtual ~Acceptor() = default;
  // Binds and listens. On failure returns false with a message and an errno-style code name.
  virtual bool Open(const Options& options, std::string* error, std::string* code) = 0;
  virtual std::string LocalAddress() const = 0;
  virtual int LocalPort() const = 0;
  // Starts the accept thread (and the handler thread when the handler needs one).
  virtual void Start(ConditionFn condition, EventSink sink) = 0;
  // One non-blocking WSAAccept call on the calling thread.
  virtual CallResult Call(const CallOptions& options, ConditionFn condition) = 0;
  // Offer a deferred request again now (0 = every deferred request).
  virtual void Wake(uint64_t id) = 0;
  virtual Depths QueueDepths() = 0;
  // Stops the threads, brings every pending request to a final state, closes everything.
  virtual void Stop() = 0;
  virtual const char* Backend() const = 0;
};

std::unique_ptr<Acceptor> CreateAcceptor();

}  // namespace aw
