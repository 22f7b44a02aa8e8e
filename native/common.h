// Shared by every native source: PETSc and node-addon-api in one error mode, and the small
// helpers each wrapped class needs. Policy (validation, defaults) lives in TypeScript.
#pragma once

// Experimental Node-API, for one reason: its finalizers run during garbage collection instead of
// waiting for the event loop, so the PETSc objects of wrappers dropped in a synchronous loop are
// freed as the loop runs (see Bury in wrap.h). Finalizers therefore call no JS and no PETSc.
#if !defined(NAPI_EXPERIMENTAL) && !defined(NAPI_VERSION)
#define NAPI_EXPERIMENTAL
#endif
#ifndef NAPI_DISABLE_CPP_EXCEPTIONS
#define NAPI_DISABLE_CPP_EXCEPTIONS
#endif
#include <napi.h>
#include <petsc.h>
#include <petsctao.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#if PETSC_VERSION_LT(3, 18, 0)
#error "petscml needs PETSc 3.18 or newer (Debian 12: apt-get install petsc-dev)."
#endif
#if !defined(PETSC_USE_REAL_DOUBLE) || defined(PETSC_USE_COMPLEX)
#error "petscml needs a PETSc configured with real double-precision scalars."
#endif

// Exported by PETSc since 3.18, declared in a private header its packages do not ship.
PETSC_EXTERN PetscErrorCode PetscObjectDelayedDestroy(PetscObject *);
PETSC_EXTERN PetscErrorCode PetscGarbageCleanup(MPI_Comm);

namespace pml {

// A callback's JS exception, kept while PETSc unwinds its C frames (see errors.cc).
void StashException(Napi::Env env);
// Throws the stashed exception (or a PetscError) into env. Returns true when something was thrown.
bool RethrowStash(Napi::Env env);
// Turns a PETSc error code into a pending PetscError on env, with PETSc's own message and traceback.
void ThrowPetsc(Napi::Env env, PetscErrorCode ierr);
void ResetErrorRecord();
void InstallErrorHandler();
void SetErrorClass(Napi::Function ctor);

int WorldRank();

// Fails every rank together: returns -1 when no rank of comm failed, else the lowest failing rank.
// One MPI_Allreduce when size > 1; nothing at all on one rank.
// `reason`: 0 an exception, 1 SIGINT, 2 SIGTERM (the lowest failing rank's, when given).
int AgreeOnFailure(MPI_Comm comm, bool failedHere, int reasonHere = 0, int *reason = nullptr);

// Counts nested native entry points that may run JS callbacks; views are detached when the
// outermost one returns (views.cc).
class CallbackScope {
public:
  explicit CallbackScope(Napi::Env env);
  ~CallbackScope();
private:
  Napi::Env env_;
};

Napi::Float64Array ViewOf(Napi::Env env, Vec v, PetscScalar *data, PetscInt n);
void ForgetViews(Napi::Env env);

MPI_Comm CommFrom(const Napi::Value &v);

// Replicated callbacks (replicated.cc): full-length work vectors for a distributed layout.
struct Replica {
  PetscLayout map = nullptr; // the layout these were built for (a reference)
  VecScatter toAll = nullptr;
  Vec in = nullptr, out = nullptr; // sequential, full length: the gathered input, this rank's contribution
  std::vector<PetscMPIInt> counts; // every rank's owned length, for the reduce-scatter
  MPI_Comm comm = MPI_COMM_NULL;
  PetscInt N = 0;
};
// The replica composed on `owner`, (re)built for the layout of `like`.
PetscErrorCode ReplicaFor(PetscObject owner, Vec like, Replica **r);
// x (distributed) -> r->in on every rank (collective).
PetscErrorCode ReplicaGather(Replica *r, Vec x);
// Sum over ranks of r->out -> the owned block of y (collective).
PetscErrorCode ReplicaSum(Replica *r, Vec y);

// Collectives issued by replicated callbacks, for communication-volume reports.
struct ReplicaStats {
  double gathers = 0, gatheredDoubles = 0, reductions = 0, reducedDoubles = 0, scalarReductions = 0;
};
ReplicaStats &ReplicationStats();
void SetReplicaAllreduce(bool on);

// Guards (guard.cc). Integer arguments: PetscInt is 32-bit, so anything outside [min, 2^31-1],
// fractional or not a number is refused by name instead of wrapping.
std::string IntError(const Napi::Value &v, const char *what, int64_t min, int64_t max, PetscInt *out);
bool GetInt(Napi::Env env, const Napi::Value &v, const char *what, int64_t min, PetscInt *out);

// A value every rank of a collective call must agree on (-1: none given).
struct Agreed {
  const char *what;
  double value;
};
// Collective on comm (nothing on one rank): throws on every rank when a value differs between
// ranks or any rank's localError is set (that rank gets its own error). Returns false after throwing.
bool Agree(Napi::Env env, MPI_Comm comm, const char *where, const std::vector<Agreed> &values,
           const std::string &localError = "", bool localIsType = false);
// Collective: the local sizes of all ranks must add up to a PetscInt.
bool CheckLocalSum(Napi::Env env, MPI_Comm comm, const char *where, const char *what, PetscInt local);
// "" when b's communicator matches a's, else the error text for `where`.
std::string SameComm(PetscObject a, PetscObject b, const char *where, const char *what, const char *owner);

// An object held by a running native call (withArray, a product, a solve): destroy() is refused
// while any borrow is alive, and the borrow holds a reference.
class Borrow {
public:
  Borrow(PetscObject o, const char *by);
  ~Borrow();
  Borrow(const Borrow &) = delete;
  Borrow &operator=(const Borrow &) = delete;
private:
  PetscObject o_;
};
const char *BorrowedBy(PetscObject o);

// SIGINT / SIGTERM during a solve: caught into a flag for the duration of the outermost scope.
class InterruptScope {
public:
  InterruptScope();
  ~InterruptScope();
};
int PendingSignal();
const char *SignalName(int s);
void SetInterruptedClass(Napi::Function ctor);
// Throws an InterruptedError when a signal is pending; true when it did.
bool ThrowIfInterrupted(Napi::Env env);

// Calls a callback: refused when interrupted, and a returned thenable is an error naming `name`.
// An empty value or a pending exception means it failed.
Napi::Value Invoke(Napi::Env env, Napi::FunctionReference &fn, const char *name, const std::vector<napi_value> &args);
Napi::Value Invoke(Napi::Env env, Napi::Function fn, const char *name, const std::vector<napi_value> &args);
// Output arrays are filled with a marker before a callback: entries it did not write are found
// after, and (when `finite`) NaN or Inf entries are errors naming the callback.
void MarkUnwritten(PetscScalar *a, PetscInt n);
bool CheckWritten(Napi::Env env, const PetscScalar *a, PetscInt n, const char *name, const char *what, bool finite,
                  Napi::Value returned = Napi::Value());
// Input views are writable but must not be written: a fingerprint before, compared after.
uint64_t Fingerprint(const PetscScalar *a, PetscInt n);
bool CheckInputKept(Napi::Env env, uint64_t before, const PetscScalar *a, PetscInt n, const char *name);
// An objective's return value: a number, and finite when `finite`.
bool TakeNumber(Napi::Env env, Napi::Value r, PetscReal *f, const char *name, bool finite);

int CallbackDepth();

// Asynchronous solves (async.cc). The thread that loaded the addon is the JavaScript thread.
void SetJsThread();
bool OffJsThread();
bool AsyncSolveRunning();
// Runs fn on the JavaScript thread (at once when already there), the caller waiting for it.
PetscErrorCode OnJsThread(const std::function<PetscErrorCode()> &fn);
// JavaScript outside the callbacks of a running solveAsync: throws naming `what`, returns true.
bool RefusedWhileAsync(napi_env env, const char *what);
// Runs work on a new thread; then done(env, its error code) on the JavaScript thread.
bool StartAsync(napi_env env, std::function<PetscErrorCode()> work, std::function<void(napi_env, PetscErrorCode)> done);
// At exit: fails the running solve's callbacks and waits for its thread.
void AbandonAsync();
// After a KSP solve that failed (by an error unwinding through it): makes its PC usable again.
void ResetAfterFailedSolve(KSP ksp);

inline bool IsTyped(const Napi::Value &v, napi_typedarray_type t) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == t;
}

// Errors are thrown through plain Node-API, never through Napi::Error: a Napi::Error holds a
// strong reference to its JS object, and node-addon-api posts the deletion of that reference to
// a later turn of the event loop, so every error thrown in a synchronous loop (a retry loop, a
// validation sweep) kept its object, stack and ~220 B of C heap until the loop ended.
enum class ErrorKind { Error, Type, Range };
inline napi_value MakeError(napi_env env, const std::string &msg, ErrorKind kind = ErrorKind::Error) {
  napi_value m = nullptr, e = nullptr;
  if (napi_create_string_utf8(env, msg.data(), msg.size(), &m) != napi_ok) return nullptr;
  napi_status s = kind == ErrorKind::Type    ? napi_create_type_error(env, nullptr, m, &e)
                  : kind == ErrorKind::Range ? napi_create_range_error(env, nullptr, m, &e)
                                             : napi_create_error(env, nullptr, m, &e);
  return s == napi_ok ? e : nullptr;
}
inline void Throw(napi_env env, const std::string &msg, ErrorKind kind = ErrorKind::Error) {
  if (napi_value e = MakeError(env, msg, kind)) napi_throw(env, e);
}
inline void ThrowType(napi_env env, const std::string &msg) { Throw(env, msg, ErrorKind::Type); }
inline void ThrowRange(napi_env env, const std::string &msg) { Throw(env, msg, ErrorKind::Range); }

} // namespace pml

// For a code already returned by a PETSc call made after ResetErrorRecord(): throws a PetscError
// (or the stashed JS exception that caused it) and returns `ret` from the calling function.
#define PML_CHECK_CODE(env, code, ret)                                                             \
  do {                                                                                             \
    PetscErrorCode pml_ierr_ = (code);                                                             \
    if (pml_ierr_) {                                                                               \
      if (!pml::RethrowStash(env)) pml::ThrowPetsc(env, pml_ierr_);                                \
      return ret;                                                                                  \
    }                                                                                              \
    if (pml::RethrowStash(env)) return ret;                                                        \
  } while (0)

// Runs a PETSc call from a JS entry point, with a fresh error record.
#define PML_CHECK(env, expr, ret)                                                                  \
  do {                                                                                             \
    if (pml::RefusedWhileAsync(env, "this PETSc call")) return ret;                              \
    pml::ResetErrorRecord();                                                                       \
    PML_CHECK_CODE(env, (expr), ret);                                                              \
  } while (0)

#define PML_THROW(env, msg, ret)                                                                   \
  do {                                                                                             \
    pml::Throw(env, msg);                                       \
    return ret;                                                                                    \
  } while (0)

#define PML_RANGE_THROW(env, msg, ret)                                                             \
  do {                                                                                             \
    pml::ThrowRange(env, msg);                                  \
    return ret;                                                                                    \
  } while (0)

#define PML_TYPE_THROW(env, msg, ret)                                                              \
  do {                                                                                             \
    pml::ThrowType(env, msg);                                   \
    return ret;                                                                                    \
  } while (0)

// First line of every PETSc callback that reaches JavaScript: on the solver thread of a
// solveAsync, the callback runs again on the JavaScript thread (the solver thread waits).
#define PML_ON_JS_THREAD(call)                                                                     \
  do {                                                                                             \
    if (pml::OffJsThread()) return pml::OnJsThread([&]() -> PetscErrorCode { return call; });      \
  } while (0)
