// Guards at the JS/PETSc boundary (issue 10): integer arguments, ranks that disagree, objects in
// use, callbacks that misbehave (async, unwritten or non-finite outputs), and interrupts.
#include "common.h"

#include <petsc/private/pcimpl.h>

#include <signal.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <unordered_map>

namespace pml {

// ---------------------------------------------------------------------------------------------
// Integers. PetscInt is 32-bit here: a JS number above 2^31-1 used to wrap silently.

static std::string Describe(const Napi::Value &v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return v.ToString().Utf8Value();
  if (v.IsString()) return "the string \"" + v.As<Napi::String>().Utf8Value() + "\"";
  if (v.IsBoolean()) return v.ToBoolean() ? "true" : "false";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsFunction()) return "a function";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsArray()) return "an array";
  return "an object";
}

std::string IntError(const Napi::Value &v, const char *what, int64_t min, int64_t max, PetscInt *out) {
  std::string range = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!v.IsNumber()) return std::string("petscml: ") + what + ": expected " + range + ", got " + Describe(v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < (double)min || d > (double)max)
    return std::string("petscml: ") + what + ": expected " + range + ", got " + Describe(v);
  *out = static_cast<PetscInt>(d);
  return "";
}

bool GetInt(Napi::Env env, const Napi::Value &v, const char *what, int64_t min, PetscInt *out) {
  std::string e = IntError(v, what, min, PETSC_MAX_INT, out);
  if (e.empty()) return true;
  if (v.IsNumber()) pml::ThrowRange(env, e);
  else pml::ThrowType(env, e);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Agreement across ranks. A collective entry point whose arguments differ by rank (sizes from a
// rank's own data, a sequential object on one rank) must fail on every rank, not on one while
// the others wait in the next collective. One MPI_Allreduce (MAXLOC over value/rank pairs) gives
// each value's minimum and maximum with their ranks, and the lowest rank that failed locally.

static std::string Shown(double v) { return v < 0 ? "none" : std::to_string((long long)v); }

bool Agree(Napi::Env env, MPI_Comm comm, const char *where, const std::vector<Agreed> &values, const std::string &localError,
           bool localIsType) {
  int size = 1, rank = 0;
  MPI_Comm_size(comm, &size);
  if (size > 1) {
    MPI_Comm_rank(comm, &rank);
    struct Pair {
      double v;
      int r;
    };
    std::vector<Pair> buf;
    for (const Agreed &a : values) {
      buf.push_back({a.value, rank});
      buf.push_back({-a.value, rank});
    }
    buf.push_back({localError.empty() ? 0.0 : 1.0, rank});
    // Not counted in ReplicationStats: those report what replicated callbacks cost per evaluation.
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), (int)buf.size(), MPI_DOUBLE_INT, MPI_MAXLOC, comm);
    const Pair &fail = buf.back();
    if (fail.v > 0 && localError.empty()) {
      pml::Throw(env, std::string("petscml: ") + where + ": the call failed on rank " + std::to_string(fail.r) +
                                " (see the error there)");
      return false;
    }
    if (fail.v == 0) {
      for (size_t i = 0; i < values.size(); i++) {
        const Pair &hi = buf[2 * i], &lo = buf[2 * i + 1];
        if (hi.v != -lo.v) {
          const Pair first = lo.r < hi.r ? Pair{-lo.v, lo.r} : hi, second = lo.r < hi.r ? hi : Pair{-lo.v, lo.r};
          pml::Throw(env, std::string("petscml: ") + where + ": ranks disagree on " + values[i].what + ": rank " +
                                    std::to_string(first.r) + " has " + Shown(first.v) + ", rank " + std::to_string(second.r) +
                                    " has " + Shown(second.v));
          return false;
        }
      }
    }
  }
  if (!localError.empty()) {
    if (localIsType) pml::ThrowType(env, localError);
    else pml::ThrowRange(env, localError);
    return false;
  }
  return true;
}

bool CheckLocalSum(Napi::Env env, MPI_Comm comm, const char *where, const char *what, PetscInt local) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (size == 1) return true;
  double mine = (double)local, total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_DOUBLE, MPI_SUM, comm);
  if (total <= (double)PETSC_MAX_INT) return true;
  pml::ThrowRange(env, std::string("petscml: ") + where + ": the " + what + " add up to " + std::to_string((long long)total) +
                                 ", more than a PetscInt holds (2147483647)");
  return false;
}

std::string SameComm(PetscObject a, PetscObject b, const char *where, const char *what, const char *owner) {
  int cmp = MPI_UNEQUAL;
  MPI_Comm ca = PetscObjectComm(a), cb = PetscObjectComm(b);
  MPI_Comm_compare(ca, cb, &cmp);
  if (cmp == MPI_IDENT || cmp == MPI_CONGRUENT) return "";
  int sa = 1, sb = 1;
  MPI_Comm_size(ca, &sa);
  MPI_Comm_size(cb, &sb);
  if (sa == 1 && sb == 1) return ""; // self and a one-rank world are the same thing
  auto name = [](int s) { return s == 1 ? "'self'" : "'world'"; };
  return std::string("petscml: ") + where + ": the " + what + " is on " + name(sb) + " but the " + owner + " is on " + name(sa);
}

// ---------------------------------------------------------------------------------------------
// Objects in use. Destroying a Vec while withArray holds its array, or a Mat while PETSc is
// inside its product, freed memory that was then read or written. Borrowed objects also hold a
// reference, so nothing can free them before the borrow ends.

namespace {
struct Use {
  int count = 0;
  const char *by = nullptr;
};
std::unordered_map<PetscObject, Use> g_inUse;
} // namespace

Borrow::Borrow(PetscObject o, const char *by) : o_(o) {
  if (!o_) return;
  PetscObjectReference(o_);
  Use &u = g_inUse[o_];
  if (u.count++ == 0) u.by = by;
}
Borrow::~Borrow() {
  if (!o_) return;
  auto it = g_inUse.find(o_);
  if (it != g_inUse.end() && --it->second.count == 0) g_inUse.erase(it);
  PetscObjectDereference(o_);
}

const char *BorrowedBy(PetscObject o) {
  auto it = g_inUse.find(o);
  return it == g_inUse.end() ? nullptr : it->second.by;
}

// ---------------------------------------------------------------------------------------------
// Interrupts. During a solve SIGINT and SIGTERM only set a flag, which every callback boundary
// checks; the solve then fails on every rank through the usual consensus. A second signal before
// the solve has stopped ends the process at once (default action).

namespace {
volatile sig_atomic_t g_signal = 0;
int g_interruptDepth = 0;
struct Saved {
  int sig;
  struct sigaction old;
  bool installed;
} g_saved[] = {{SIGINT, {}, false}, {SIGTERM, {}, false}};

void OnSignal(int s) {
  if (g_signal) {
    signal(s, SIG_DFL);
    raise(s);
    return;
  }
  g_signal = s;
}
Napi::FunctionReference *g_interruptedClass = nullptr;
} // namespace

InterruptScope::InterruptScope() {
  if (g_interruptDepth++ > 0) return;
  g_signal = 0;
  for (Saved &s : g_saved) {
    s.installed = false;
    if (sigaction(s.sig, nullptr, &s.old) != 0) continue;
    // An ignored signal stays ignored (nohup, background jobs).
    if (!(s.old.sa_flags & SA_SIGINFO) && s.old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    s.installed = sigaction(s.sig, &sa, nullptr) == 0;
  }
}

InterruptScope::~InterruptScope() {
  if (--g_interruptDepth > 0) return;
  for (Saved &s : g_saved)
    if (s.installed) sigaction(s.sig, &s.old, nullptr);
  g_signal = 0;
}

int PendingSignal() { return g_signal; }
const char *SignalName(int s) { return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "a signal"; }

void SetInterruptedClass(Napi::Function ctor) {
  if (!g_interruptedClass) g_interruptedClass = new Napi::FunctionReference();
  *g_interruptedClass = Napi::Persistent(ctor);
}

bool ThrowIfInterrupted(Napi::Env env) {
  int s = g_signal;
  if (!s) return false;
  std::string msg = std::string("petscml: the solve was interrupted by ") + SignalName(s);
  Napi::Object err;
  if (g_interruptedClass && !g_interruptedClass->IsEmpty()) {
    err = g_interruptedClass->New({Napi::String::New(env, msg)});
    if (env.IsExceptionPending()) return true;
  } else {
    err = Napi::Object(env, pml::MakeError(env, msg));
    err.Set("name", "InterruptedError");
  }
  err.Set("signal", SignalName(s));
  err.Set("rank", WorldRank());
  napi_throw(env, err);
  return true;
}

void ForgetInterruptedClass() {
  // Deliberately leaked: see SetErrorClass in errors.cc.
  g_interruptedClass = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Calling a callback.

Napi::Value Invoke(Napi::Env env, Napi::FunctionReference &fn, const char *name, const std::vector<napi_value> &args) {
  Napi::Function f = fn.IsEmpty() ? Napi::Function() : fn.Value();
  if (f.IsEmpty() || !f.IsFunction()) {
    pml::Throw(env, std::string("petscml: the ") + name + " callback is gone (the object it was set on was garbage-collected)");
    return Napi::Value();
  }
  return Invoke(env, f, name, args);
}

Napi::Value Invoke(Napi::Env env, Napi::Function fn, const char *name, const std::vector<napi_value> &args) {
  if (ThrowIfInterrupted(env)) return Napi::Value();
  Napi::Value r = fn.Call(env.Undefined(), args);
  if (env.IsExceptionPending()) return r;
  if (r.IsObject() || r.IsFunction()) {
    Napi::Object o = r.As<Napi::Object>();
    Napi::Value then = o.Get("then");
    if (env.IsExceptionPending()) return Napi::Value();
    if (then.IsFunction()) {
      // The async body goes on after the solve, on views that are detached by then: keep its
      // rejection from ending the process (the solve already reports the mistake).
      if (r.IsPromise()) {
        Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo &i) { return i.Env().Undefined(); });
        then.As<Napi::Function>().Call(o, {env.Undefined(), noop});
        if (env.IsExceptionPending()) return Napi::Value();
      }
      pml::ThrowType(env, std::string("petscml: the ") + name + " callback returned a Promise; callbacks must be synchronous");
      return Napi::Value();
    }
  }
  return r;
}

// A quiet NaN with a payload JS never produces (JS writes canonical NaNs), so an entry still
// holding it was not written by the callback, whatever PETSc left in the vector before.
static const uint64_t kUnwritten = 0x7ff8dead0badf00dULL;

void MarkUnwritten(PetscScalar *a, PetscInt n) {
  for (PetscInt i = 0; i < n; i++) std::memcpy(&a[i], &kUnwritten, sizeof kUnwritten);
}

bool CheckWritten(Napi::Env env, const PetscScalar *a, PetscInt n, const char *name, const char *what, bool finite, Napi::Value returned) {
  if (env.IsExceptionPending()) return false;
  PetscInt untouched = 0, first = -1, last = -1, bad = -1;
  for (PetscInt i = 0; i < n; i++) {
    uint64_t bits;
    std::memcpy(&bits, &a[i], sizeof bits);
    if (bits == kUnwritten) {
      if (first < 0) first = i;
      last = i;
      untouched++;
    } else if (finite && bad < 0 && !std::isfinite(a[i])) {
      bad = i;
    }
  }
  std::string total = std::to_string(n);
  if (untouched) {
    std::string which = untouched == 1 ? "entry " + std::to_string(first) + " of " + total
                        : last - first + 1 == untouched ? "entries " + std::to_string(first) + ".." + std::to_string(last) + " of " + total
                        : std::to_string(untouched) + " entries of " + total + ", the first " + std::to_string(first);
    bool gaveArray = !returned.IsEmpty() && (returned.IsTypedArray() || returned.IsArray());
    pml::Throw(env, std::string("petscml: the ") + name + " callback did not write " + what + " (" + which +
                              " untouched): it must set every entry of its output array" +
                              (gaveArray ? " (it returned an array instead: write the result into the output argument)" : ""));
    return false;
  }
  if (bad >= 0) {
    const char *v = std::isnan(a[bad]) ? "NaN" : a[bad] > 0 ? "Infinity" : "-Infinity";
    pml::Throw(env, std::string("petscml: the ") + name + " callback wrote " + v + " at entry " + std::to_string(bad) +
                              " (of " + total + ") of " + what);
    return false;
  }
  return true;
}

// Callbacks get writable views of PETSc's read-only input arrays: a callback that changed its
// input (in-place normalization, x.sort()) silently changed the solver's iterate.
// Above 4096 entries only 4096 evenly spread ones (and the last) are hashed: the check stays
// O(1) per call, so the crossing does not grow with n, and still sees whole-array rewrites
// (normalizing, sorting, filling); a single changed entry between samples can pass.
uint64_t Fingerprint(const PetscScalar *a, PetscInt n) {
  const PetscInt kSamples = 4096;
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](PetscInt i) {
    uint64_t w;
    std::memcpy(&w, &a[i], sizeof w);
    h = (h ^ w) * 1099511628211ULL;
  };
  if (n <= kSamples) {
    for (PetscInt i = 0; i < n; i++) mix(i);
  } else {
    for (PetscInt k = 0; k < kSamples; k++) mix((PetscInt)((double)k * (double)n / (double)kSamples));
    mix(n - 1);
  }
  return h;
}

bool CheckInputKept(Napi::Env env, uint64_t before, const PetscScalar *a, PetscInt n, const char *name) {
  if (env.IsExceptionPending()) return false;
  if (Fingerprint(a, n) == before) return true;
  pml::Throw(env, std::string("petscml: the ") + name +
                            " callback wrote into its input array x: inputs are read-only views of the solver's vector (copy before changing)");
  return false;
}

bool TakeNumber(Napi::Env env, Napi::Value r, PetscReal *f, const char *name, bool finite) {
  if (env.IsExceptionPending() || r.IsEmpty()) return false;
  if (!r.IsNumber()) {
    pml::ThrowType(env, std::string(name) + " callback must return a number, got " +
                                  (r.IsUndefined() ? "undefined" : r.IsNull() ? "null" : r.IsBigInt() ? "a bigint" : r.IsString() ? "a string" : r.IsBoolean() ? "a boolean" : "an object"));
    return false;
  }
  *f = r.As<Napi::Number>().DoubleValue();
  if (finite && !std::isfinite(*f)) {
    pml::Throw(env, std::string("petscml: the ") + name + " callback returned " + (std::isnan(*f) ? "NaN" : *f > 0 ? "Infinity" : "-Infinity") +
                              "; the objective must be finite");
    return false;
  }
  return true;
}

} // namespace pml

namespace pml {

// PCPreSolve counts nested solves and PCPostSolve uncounts them, but an error unwinds past
// PCPostSolve: after two failed solves (a callback that threw) the PC refused every later solve
// ("Cannot embed PCPreSolve() more than twice"). No solve of this KSP runs any more here.
void ResetAfterFailedSolve(KSP ksp) {
  PC pc = nullptr;
  if (ksp && !KSPGetPC(ksp, &pc) && pc) pc->presolvedone = 0;
}

} // namespace pml
