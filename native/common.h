// Shared by every native source: PETSc and node-addon-api in one error mode, and the small
// helpers each wrapped class needs. Policy (validation, defaults) lives in TypeScript.
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#ifndef NAPI_DISABLE_CPP_EXCEPTIONS
#define NAPI_DISABLE_CPP_EXCEPTIONS
#endif
#include <napi.h>
#include <petsc.h>
#include <petsctao.h>

#include <string>
#include <vector>

#if PETSC_VERSION_LT(3, 18, 0)
#error "petscml needs PETSc 3.18 or newer (Debian 12: apt-get install petsc-dev)."
#endif
#if !defined(PETSC_USE_REAL_DOUBLE) || defined(PETSC_USE_COMPLEX)
#error "petscml needs a PETSc configured with real double-precision scalars."
#endif

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
int AgreeOnFailure(MPI_Comm comm, bool failedHere);

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
    pml::ResetErrorRecord();                                                                       \
    PML_CHECK_CODE(env, (expr), ret);                                                              \
  } while (0)

#define PML_THROW(env, msg, ret)                                                                   \
  do {                                                                                             \
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();                                       \
    return ret;                                                                                    \
  } while (0)

#define PML_TYPE_THROW(env, msg, ret)                                                              \
  do {                                                                                             \
    Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();                                   \
    return ret;                                                                                    \
  } while (0)
