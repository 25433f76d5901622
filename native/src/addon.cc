// Node-API face of the acceptor. Each listener owns one accept thread (in the backend); an offer
// crosses to JS through a ThreadSafeFunction blocking call, and the accept thread waits for the
// verdict at most `budgetMs`, then applies the listener's default verdict. Events (final
// decisions, handler events) are batched: one queued JS call drains everything produced since.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "acceptor.h"
#include "fast_open_client.h"

namespace aw {

const char* WsaName(int code) {
  switch (code) {
    case WSA_OK: return "OK";
    case WSAEACCES_: return "WSAEACCES";
    case WSAEFAULT_: return "WSAEFAULT";
    case WSAEINVAL_: return "WSAEINVAL";
    case WSAEMFILE_: return "WSAEMFILE";
    case WSAEWOULDBLOCK_: return "WSAEWOULDBLOCK";
    case WSAENOTSOCK_: return "WSAENOTSOCK";
    case WSAEOPNOTSUPP_: return "WSAEOPNOTSUPP";
    case WSAENETDOWN_: return "WSAENETDOWN";
    case WSAECONNRESET_: return "WSAECONNRESET";
    case WSAENOBUFS_: return "WSAENOBUFS";
    case WSAECONNREFUSED_: return "WSAECONNREFUSED";
    case WSANOTINITIALISED_: return "WSANOTINITIALISED";
    case WSATRY_AGAIN_: return "WSATRY_AGAIN";
    default: return "WSA_UNKNOWN";
  }
}

namespace {

const char* kFinalNames[] = {"accept", "reject", "expire", "withdraw", "error"};
const char* kDeciderNames[] = {"script", "fallback", "person", "default", "system"};
const char* kSourceNames[] = {"none", "syn", "peek"};
const char* kHandlerEventNames[] = {"close", "reset", "local-close"};
const char* kFlowFieldNames[] = {"tokenRate", "tokenBucketSize", "peakBandwidth", "latency",
                                 "delayVariation", "serviceType", "maxSduSize", "minimumPolicedSize"};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

void AppendBase64(std::string* out, const uint8_t* data, size_t len) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (i < len) {
    uint32_t v = data[i] << 16;
    if (i + 1 < len) v |= data[i + 1] << 8;
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(i + 1 < len ? kAlphabet[(v >> 6) & 63] : '=');
    out->push_back('=');
  }
}

void AppendSockaddr(std::string* out, const Sockaddr& a) {
  out->append("{\"family\":\"");
  out->append(a.v6 ? "ipv6" : "ipv4");
  out->append("\",\"address\":\"");
  out->append(a.address);  // inet_ntop output: nothing to escape
  out->append("\",\"port\":");
  out->append(std::to_string(a.port));
  out->append(",\"raw\":\"");
  AppendBase64(out, a.raw, a.rawLen);
  out->append("\"}");
}

void AppendFlowspec(std::string* out, const Flowspec& f) {
  out->push_back('{');
  for (int i = 0; i < 8; i++) {
    out->push_back('"');
    out->append(kFlowFieldNames[i]);
    out->append("\":");
    out->append(std::to_string(f.f[i]));
    out->push_back(',');
  }
  out->append("\"derived\":{");
  bool first = true;
  for (int i = 0; i < 8; i++) {
    if (!f.source[i]) continue;
    if (!first) out->push_back(',');
    first = false;
    out->push_back('"');
    out->append(kFlowFieldNames[i]);
    out->append("\":\"");
    out->append(f.source[i]);  // fixed labels: nothing to escape
    out->push_back('"');
  }
  out->append("}}");
}

// The offer as JSON, built on the accept thread so the JS thread only receives one string.
// Its shape is the condition function's `req` (less `listener` and `sqos`, which travels apart),
// with raw sockaddrs and caller data in base64 as the session file records them.
std::string OfferToJson(const Offer& offer) {
  std::string out;
  out.reserve(1024 + offer.callerData.size() * 4 / 3);
  out.append("{\"id\":");
  out.append(std::to_string(offer.id));
  out.append(",\"attempt\":");
  out.append(std::to_string(offer.attempt));
  out.append(",\"caller\":");
  AppendSockaddr(&out, offer.caller);
  out.append(",\"callee\":");
  AppendSockaddr(&out, offer.callee);
  out.append(",\"callerData\":\"");
  AppendBase64(&out, offer.callerData.data(), offer.callerData.size());
  out.append("\",\"callerDataSource\":\"");
  out.append(kSourceNames[offer.dataSource]);
  out.append("\"");
  out.append(",\"gqos\":null,\"queue\":{\"kernel\":");
  out.append(offer.kernelDepth < 0 ? std::string("null") : std::to_string(offer.kernelDepth));
  out.append(",\"held\":");
  out.append(std::to_string(offer.held));
  out.append(",\"deferred\":");
  out.append(std::to_string(offer.deferred));
  out.append("},\"callbackData\":");
  out.append(std::to_string(offer.callbackData));
  out.push_back('}');
  return out;
}

// The SQOS FLOWSPECs as JSON, or "" for none (lpSQOS NULL). Kept apart from the offer JSON: it is
// its largest part, and a condition script that never reads req.sqos should not pay for parsing it.
std::string SqosToJson(const Offer& offer) {
  if (!offer.hasQos) return std::string();
  std::string out;
  out.reserve(768);
  out.append("{\"sending\":");
  AppendFlowspec(&out, offer.sending);
  out.append(",\"receiving\":");
  AppendFlowspec(&out, offer.receiving);
  out.append(",\"providerSpecific\":\"\"}");
  return out;
}

// The offer callback's arguments: (id, attempt, offerJson, sqosJson | null).
std::vector<napi_value> OfferArgs(Napi::Env env, const Offer& offer, const std::string& json, const std::string& sqos) {
  return {Napi::Number::New(env, static_cast<double>(offer.id)), Napi::Number::New(env, offer.attempt),
          Napi::String::New(env, json), sqos.empty() ? env.Null() : Napi::String::New(env, sqos)};
}

// Accepts a number (the verdict) or {verdict, by?, park?, calleeData?, group?}.
// Anything unreadable becomes an invalid verdict, which the backend turns into WSAEINVAL.
Decision DecisionFromJs(Napi::Value v) {
  Decision d;
  d.code = -1;
  if (v.IsNumber()) {
    double n = v.As<Napi::Number>().DoubleValue();
    d.code = (n == static_cast<int>(n)) ? static_cast<int>(n) : -1;
    return d;
  }
  if (!v.IsObject()) return d;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value verdict = o.Get("verdict");
  if (verdict.IsNumber()) {
    double n = verdict.As<Napi::Number>().DoubleValue();
    d.code = (n == static_cast<int>(n)) ? static_cast<int>(n) : -1;
  }
  Napi::Value by = o.Get("by");
  if (by.IsNumber()) d.by = std::clamp(by.As<Napi::Number>().Int32Value(), 0, 4);
  Napi::Value park = o.Get("park");
  d.park = park.IsBoolean() && park.As<Napi::Boolean>().Value();
  Napi::Value callee = o.Get("calleeData");
  if (callee.IsTypedArray()) {
    auto arr = callee.As<Napi::Uint8Array>();
    d.calleeData.assign(arr.Data(), arr.Data() + arr.ByteLength());
  }
  Napi::Value group = o.Get("group");
  if (group.IsNumber()) {
    d.hasGroup = true;
    d.group = group.As<Napi::Number>().Uint32Value();
  }
  return d;
}

void AppendJsonString(std::string* out, const std::string& text) {
  out->push_back('"');
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

// Events cross to JS as one JSON array per batch: one string and one JSON.parse instead of
// a dozen property sets per event through Node-API.
void AppendEventJson(std::string* out, const Event& e) {
  out->append("{\"id\":");
  out->append(std::to_string(e.id));
  switch (e.kind) {
    case EV_DECISION:
      out->append(",\"type\":\"decision\",\"verdict\":\"");
      out->append(kFinalNames[e.finalState]);
      out->append("\",\"attempts\":");
      out->append(std::to_string(e.attempts));
      out->append(",\"by\":\"");
      out->append(kDeciderNames[e.by]);
      out->append("\",\"result\":\"");
      out->append(WsaName(e.wsa));
      out->append("\",\"code\":");
      out->append(std::to_string(e.wsa));
      out->append(",\"latencyUs\":");
      out->append(std::to_string(e.latencyUs));
      out->append(",\"callerAddress\":\"");
      out->append(e.callerAddress);  // inet_ntop output
      out->append("\",\"callerPort\":");
      out->append(std::to_string(e.callerPort));
      if (!e.message.empty()) {
        out->append(",\"message\":");
        AppendJsonString(out, e.message);
      }
      break;
    case EV_HANDLER:
      out->append(",\"type\":\"handler\",\"event\":\"");
      out->append(kHandlerEventNames[e.handlerEvent]);
      out->append("\",\"bytesIn\":");
      out->append(std::to_string(e.bytesIn));
      out->append(",\"bytesOut\":");
      out->append(std::to_string(e.bytesOut));
      break;
    case EV_DEFAULT_VERDICT:
      out->append(",\"type\":\"default-verdict\",\"attempt\":");
      out->append(std::to_string(e.attempts));
      out->append(",\"verdict\":");
      out->append(std::to_string(e.verdict));
      out->append(",\"offer\":");
      out->append(e.offerJson);
      out->append(",\"sqos\":");
      out->append(e.sqosJson.empty() ? std::string("null") : e.sqosJson);
      break;
    default:
      out->append(",\"type\":\"error\",\"result\":\"");
      out->append(WsaName(e.wsa));
      out->append("\",\"code\":");
      out->append(std::to_string(e.wsa));
      out->append(",\"message\":");
      AppendJsonString(out, e.message);
  }
  out->push_back('}');
}

// One offer waiting for JS. Shared by the accept thread and the JS callback: whichever of
// "JS answered" and "budget ran out" happens first wins.
struct Slot {
  Offer offer;
  std::string json;
  std::string sqos;
  Decision decision;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;
};

class Listener : public Napi::ObjectWrap<Listener> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Listener", {
      InstanceMethod("start", &Listener::Start),
      InstanceMethod("call", &Listener::Call),
      InstanceMethod("wake", &Listener::Wake),
      InstanceMethod("queueDepths", &Listener::QueueDepths),
      InstanceMethod("roundTrip", &Listener::RoundTrip),
      InstanceMethod("stop", &Listener::Stop),
      InstanceAccessor("address", &Listener::Address, nullptr),
      InstanceAccessor("port", &Listener::Port, nullptr),
      InstanceAccessor("backend", &Listener::BackendName, nullptr),
    });
  }

  // new Listener(options)
  explicit Listener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Listener>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      Napi::TypeError::New(env, "options object expected").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    auto str = [&](const char* k, const std::string& dflt) {
      Napi::Value v = o.Get(k);
      return v.IsString() ? v.As<Napi::String>().Utf8Value() : dflt;
    };
    auto num = [&](const char* k, double dflt) {
      Napi::Value v = o.Get(k);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
    };
    auto flag = [&](const char* k, bool dflt) {
      Napi::Value v = o.Get(k);
      return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
    };
    opt_.bindAddress = str("address", "127.0.0.1");
    opt_.port = static_cast<int>(num("port", 0));
    opt_.backlog = static_cast<int>(num("backlog", 128));
    std::string discipline = str("discipline", "winsock");
    if (discipline == "winsock") opt_.discipline = Discipline::Winsock;
    else if (discipline == "held") opt_.discipline = Discipline::Held;
    else { Throw(env, "discipline must be winsock or held"); return; }
    std::string handler = str("handler", "echo");
    if (handler == "echo") opt_.handler = HandlerKind::Echo;
    else if (handler == "hold") opt_.handler = HandlerKind::Hold;
    else if (handler == "close") opt_.handler = HandlerKind::Close;
    else if (handler == "discard") opt_.handler = HandlerKind::Discard;
    else { Throw(env, "handler must be echo, hold, close or discard"); return; }
    opt_.deferAcceptS = static_cast<int>(num("deferAcceptS", 0));
    opt_.fastOpen = flag("fastOpen", false);
    opt_.conditionalAccept = flag("conditionalAccept", false);
    opt_.deferTimeoutMs = static_cast<int64_t>(num("deferTimeoutMs", 30000));
    opt_.reofferMs = static_cast<int64_t>(num("reofferMs", 5));
    opt_.budgetMs = static_cast<int64_t>(num("budgetMs", 250));
    opt_.defaultVerdict = static_cast<int>(num("defaultVerdict", CF_REJECT));
    opt_.callbackData = static_cast<uint32_t>(num("callbackData", 0));
    opt_.addrlen = static_cast<int>(num("addrlen", 128));
    opt_.maxCallerData = static_cast<size_t>(num("maxCallerData", 1024));
    opt_.threaded = !flag("manual", false);

    acceptor_ = CreateAcceptor();
    std::string error, code;
    if (!acceptor_->Open(opt_, &error, &code)) {
      Napi::Error err = Napi::Error::New(env, error);
      err.Set("code", code);
      err.ThrowAsJavaScriptException();
      acceptor_.reset();
    }
  }

  ~Listener() override {
    StopInternal();
  }

 private:
  void Throw(Napi::Env env, const char* message) {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  }

  // start(onOffer(id, attempt, offerJson, sqosJson) -> decision, onEvents(eventsJson))
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!acceptor_ || started_) {
      Throw(env, started_ ? "listener already started" : "listener is not open");
      return env.Undefined();
    }
    if (!info[0].IsFunction() || !info[1].IsFunction()) {
      Throw(env, "start(onOffer, onEvents) expects two functions");
      return env.Undefined();
    }
    started_ = true;
    onOffer_ = Napi::Persistent(info[0].As<Napi::Function>());
    onEvents_ = Napi::Persistent(info[1].As<Napi::Function>());
    eventsTsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "aw-events", 0, 1);
    if (opt_.threaded) {
      offerTsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "aw-offer", 0, 1);
    }
    acceptor_->Start(
        [this](const Offer& offer) { return AskJs(offer); },
        [this](Event&& e) { QueueEvent(std::move(e)); });
    return env.Undefined();
  }

  // Called on the accept thread.
  Decision AskJs(const Offer& offer) {
    auto slot = std::make_shared<Slot>();
    slot->offer.id = offer.id;
    slot->offer.attempt = offer.attempt;
    slot->json = OfferToJson(offer);
    slot->sqos = SqosToJson(offer);
    int64_t t0 = NowNs();
    {
      std::lock_guard<std::mutex> lock(currentMu_);
      current_ = slot;
    }
    auto* ref = new std::shared_ptr<Slot>(slot);
    napi_status st = offerTsfn_.BlockingCall(ref, [](Napi::Env env, Napi::Function fn, std::shared_ptr<Slot>* data) {
      std::shared_ptr<Slot> s = *data;
      delete data;
      {
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->abandoned || env == nullptr) return;
      }
      Decision d;
      Napi::Value r = fn.Call(OfferArgs(env, s->offer, s->json, s->sqos));
      if (env.IsExceptionPending()) {
        env.GetAndClearPendingException();
        d.code = -1;
      } else {
        d = DecisionFromJs(r);
      }
      std::lock_guard<std::mutex> lock(s->mu);
      s->decision = std::move(d);
      s->done = true;
      s->cv.notify_one();
    });
    if (st != napi_ok) {
      delete ref;
      Decision d;
      d.code = CF_DEFER;  // shutting down: the request is expired by Stop()
      d.by = BY_SYSTEM;
      return d;
    }
    std::unique_lock<std::mutex> lock(slot->mu);
    bool answered = slot->cv.wait_for(lock, std::chrono::milliseconds(opt_.budgetMs), [&] {
      return slot->done || stopping_.load();
    });
    if (answered && slot->done) {
      RecordRoundTrip(NowNs() - t0);
      return slot->decision;
    }
    slot->abandoned = true;
    lock.unlock();
    Decision d;
    if (stopping_) {
      d.code = CF_DEFER;
      d.by = BY_SYSTEM;
      return d;
    }
    d.code = opt_.defaultVerdict;
    d.by = BY_DEFAULT;
    Event e;
    e.kind = EV_DEFAULT_VERDICT;
    e.id = offer.id;
    e.attempts = offer.attempt;
    e.verdict = d.code;
    e.offerJson = slot->json;
    e.sqosJson = slot->sqos;
    QueueEvent(std::move(e));
    return d;
  }

  void RecordRoundTrip(int64_t ns) {
    std::lock_guard<std::mutex> lock(statsMu_);
    if (roundTrips_.size() < kMaxSamples) roundTrips_.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
    else roundTrips_[roundTripCount_ % kMaxSamples] = static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX));
    roundTripCount_++;
  }

  void QueueEvent(Event&& e) {
    bool schedule;
    {
      std::lock_guard<std::mutex> lock(eventsMu_);
      events_.push_back(std::move(e));
      schedule = !eventsScheduled_;
      eventsScheduled_ = true;
    }
    if (schedule && eventsTsfn_) {
      if (eventsTsfn_.NonBlockingCall([this](Napi::Env env, Napi::Function fn) { DeliverEvents(env, fn); }) != napi_ok) {
        std::lock_guard<std::mutex> lock(eventsMu_);
        eventsScheduled_ = false;
      }
    }
  }

  void DeliverEvents(Napi::Env env, Napi::Function fn) {
    if (env == nullptr) return;
    std::vector<Event> batch;
    {
      std::lock_guard<std::mutex> lock(eventsMu_);
      batch.swap(events_);
      eventsScheduled_ = false;
    }
    if (batch.empty()) return;
    Napi::HandleScope scope(env);
    std::string json;
    json.reserve(batch.size() * 160 + 2);
    json.push_back('[');
    for (size_t i = 0; i < batch.size(); i++) {
      if (i) json.push_back(',');
      AppendEventJson(&json, batch[i]);
    }
    json.push_back(']');
    fn.Call({Napi::String::New(env, json)});
    if (env.IsExceptionPending()) {
      // Let the host's uncaught-exception handling see it: an event consumer bug is not ours to hide.
      return;
    }
  }

  // call({addrlen}, condition) -> {result, code, id, attempt}: one non-blocking WSAAccept call
  // on the JS thread (only for listeners created with manual: true).
  Napi::Value Call(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!acceptor_ || !started_ || opt_.threaded) {
      Throw(env, "call() needs a started listener created with manual: true");
      return env.Undefined();
    }
    CallOptions co;
    if (info[0].IsObject()) {
      Napi::Value a = info[0].As<Napi::Object>().Get("addrlen");
      if (a.IsNumber()) co.addrlen = a.As<Napi::Number>().Int32Value();
    }
    Napi::Function fn = info[1].IsFunction() ? info[1].As<Napi::Function>() : onOffer_.Value();
    bool threw = false;
    CallResult r = acceptor_->Call(co, [&](const Offer& offer) {
      Decision d;
      Napi::Value v = fn.Call(OfferArgs(env, offer, OfferToJson(offer), SqosToJson(offer)));
      if (env.IsExceptionPending()) {
        threw = true;
        d.code = -1;
        return d;
      }
      return DecisionFromJs(v);
    });
    if (threw) return env.Undefined();  // rethrows the pending exception
    Napi::Object o = Napi::Object::New(env);
    o.Set("result", WsaName(r.wsa));
    o.Set("code", r.wsa);
    o.Set("id", Napi::Number::New(env, static_cast<double>(r.id)));
    o.Set("attempt", r.attempt);
    return o;
  }

  Napi::Value Wake(const Napi::CallbackInfo& info) {
    if (acceptor_) {
      uint64_t id = info[0].IsNumber() ? static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()) : 0;
      acceptor_->Wake(id);
    }
    return info.Env().Undefined();
  }

  Napi::Value QueueDepths(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Depths d;
    if (acceptor_) d = acceptor_->QueueDepths();
    Napi::Object o = Napi::Object::New(env);
    o.Set("kernel", d.kernel < 0 ? env.Null() : Napi::Number::New(env, double(d.kernel)));
    o.Set("held", d.held);
    o.Set("deferred", d.deferred);
    return o;
  }

  // roundTrip() -> {samples, p50Us, p99Us, maxUs}: native → JS → native, as the accept thread saw it.
  Napi::Value RoundTrip(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<uint32_t> copy;
    {
      std::lock_guard<std::mutex> lock(statsMu_);
      copy = roundTrips_;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("samples", Napi::Number::New(env, static_cast<double>(roundTripCount_)));
    if (copy.empty()) {
      o.Set("p50Us", env.Null());
      o.Set("p99Us", env.Null());
      o.Set("maxUs", env.Null());
      return o;
    }
    std::sort(copy.begin(), copy.end());
    auto pct = [&](double p) { return copy[std::min(copy.size() - 1, static_cast<size_t>(p * copy.size()))] / 1000.0; };
    o.Set("p50Us", pct(0.50));
    o.Set("p99Us", pct(0.99));
    o.Set("maxUs", copy.back() / 1000.0);
    return o;
  }

  // stop(): ends the threads, finalizes every pending request and delivers the last events
  // synchronously, so a caller can write its summary right after.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    StopInternal();
    if (!onEvents_.IsEmpty()) {
      DeliverEvents(env, onEvents_.Value());
    }
    return env.Undefined();
  }

  void StopInternal() {
    if (stoppedInternal_) return;
    stoppedInternal_ = true;
    stopping_ = true;
    {
      // An offer may be waiting for this very thread to answer: release it now.
      std::lock_guard<std::mutex> lock(currentMu_);
      if (current_) {
        std::lock_guard<std::mutex> slotLock(current_->mu);
        current_->cv.notify_all();
      }
      current_.reset();
    }
    if (acceptor_) acceptor_->Stop();
    if (offerTsfn_) offerTsfn_.Release();
    if (eventsTsfn_) eventsTsfn_.Release();
  }

  Napi::Value Address(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), acceptor_ ? acceptor_->LocalAddress() : opt_.bindAddress);
  }
  Napi::Value Port(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), acceptor_ ? acceptor_->LocalPort() : opt_.port);
  }
  Napi::Value BackendName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), acceptor_ ? acceptor_->Backend() : "none");
  }

  static constexpr size_t kMaxSamples = 1 << 18;
  Options opt_;
  std::unique_ptr<Acceptor> acceptor_;
  bool started_ = false;
  bool stoppedInternal_ = false;
  std::atomic<bool> stopping_{false};
  Napi::FunctionReference onOffer_, onEvents_;
  Napi::ThreadSafeFunction offerTsfn_, eventsTsfn_;
  std::mutex eventsMu_;
  std::vector<Event> events_;
  bool eventsScheduled_ = false;
  std::mutex currentMu_;
  std::shared_ptr<Slot> current_;  // the offer the accept thread is waiting on, if any
  std::mutex statsMu_;
  std::vector<uint32_t> roundTrips_;
  uint64_t roundTripCount_ = 0;
};

// fastOpenConnect({host, port, data, localAddress?, localPort?}) -> {fd, sent}: a connecting socket
// and how many bytes of data went out with the SYN, for the caller simulator.
Napi::Value FastOpenConnectJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "options object expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value data = o.Get("data");
  if (!data.IsTypedArray() || !o.Get("host").IsString() || !o.Get("port").IsNumber()) {
    Napi::TypeError::New(env, "host (string), port (number) and data (Uint8Array) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto bytes = data.As<Napi::Uint8Array>();
  std::string local = o.Get("localAddress").IsString() ? o.Get("localAddress").As<Napi::String>().Utf8Value() : "";
  int localPort = o.Get("localPort").IsNumber() ? o.Get("localPort").As<Napi::Number>().Int32Value() : 0;
  std::string error, code;
  size_t sent = 0;
  int fd = FastOpenConnect(o.Get("host").As<Napi::String>().Utf8Value(), o.Get("port").As<Napi::Number>().Int32Value(),
                           local, localPort, bytes.Data(), bytes.ByteLength(), &sent, &error, &code);
  if (fd < 0) {
    Napi::Error err = Napi::Error::New(env, error);
    err.Set("code", code);
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("sent", Napi::Number::New(env, static_cast<double>(sent)));
  return result;
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("Listener", Listener::Init(env));
  exports.Set("fastOpenConnect", Napi::Function::New(env, FastOpenConnectJs, "fastOpenConnect"));
  Napi::Object codes = Napi::Object::New(env);
  for (int c : {0, 10013, 10014, 10022, 10024, 10035, 10038, 10045, 10050, 10054, 10055, 10061, 10093, 11002}) {
    codes.Set(WsaName(c), c);
  }
  exports.Set("wsaCodes", codes);
  return exports;
}

}  // namespace
}  // namespace aw

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return aw::InitAll(env, exports); }
NODE_API_MODULE(accept_workbench, Init)
