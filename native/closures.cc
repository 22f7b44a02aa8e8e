#include "wrap.h"

#include <signal.h>

namespace pml {
namespace {
bool g_envAlive = true;

PetscErrorCode DestroyClosures(void *p) {
  PML_ON_JS_THREAD(DestroyClosures(p));
  Closures *c = static_cast<Closures *>(p);
  // After env teardown the references are gone with the env: deleting them would touch freed state.
  if (!g_envAlive) return 0;
  // Deleted now, not by their destructors: node-addon-api's ~Reference posts the deletion to a later
  // turn of the event loop, which a synchronous loop of solves never reaches. This runs where PETSc
  // destroys the object (destroy(), or a native entry point freeing buried objects), never inside GC.
  for (Napi::FunctionReference *r : {&c->mult, &c->multTranspose, &c->getDiagonal, &c->apply, &c->objective, &c->gradient,
                                     &c->objectiveAndGradient, &c->hessian, &c->update, &c->monitor})
    r->Reset();
  c->keep.Reset();
  delete c;
  return 0;
}
} // namespace

bool EnvAlive() { return g_envAlive; }
void MarkEnvDead() { g_envAlive = false; }

Closures *ClosuresOf(PetscObject o, bool create) {
  PetscObject found = nullptr;
  if (PetscObjectQuery(o, "petscml_closures", &found)) return nullptr;
  if (found) {
    void *p = nullptr;
    PetscContainerGetPointer(reinterpret_cast<PetscContainer>(found), &p);
    return static_cast<Closures *>(p);
  }
  if (!create) return nullptr;
  Closures *c = new Closures();
  PetscContainer box;
  if (PetscContainerCreate(PETSC_COMM_SELF, &box)) { delete c; return nullptr; }
  PetscContainerSetPointer(box, c);
  PetscContainerSetUserDestroy(box, DestroyClosures);
  PetscObjectCompose(o, "petscml_closures", reinterpret_cast<PetscObject>(box));
  PetscContainerDestroy(&box);
  return c;
}

PetscErrorCode Consensus(Napi::Env env, MPI_Comm comm, bool failedHere, const char *where) {
  if (failedHere) StashException(env);
  int sig = failedHere ? PendingSignal() : 0;
  int reason = 0;
  int who = AgreeOnFailure(comm, failedHere, sig == SIGINT ? 1 : sig == SIGTERM ? 2 : 0, &reason);
  if (who < 0) return 0;
  if (failedHere)
    return PetscError(PETSC_COMM_SELF, __LINE__, where, __FILE__, PETSC_ERR_USER, PETSC_ERROR_INITIAL,
                      "exception raised in a JavaScript callback");
  if (reason)
    return PetscError(PETSC_COMM_SELF, __LINE__, where, __FILE__, PETSC_ERR_USER, PETSC_ERROR_INITIAL,
                      "aborted: rank %d was interrupted by %s", who, SignalName(reason == 1 ? SIGINT : SIGTERM));
  return PetscError(PETSC_COMM_SELF, __LINE__, where, __FILE__, PETSC_ERR_USER, PETSC_ERROR_INITIAL,
                    "aborted: a JavaScript callback failed on rank %d", who);
}

PetscErrorCode CallWithVecPair(PetscObject owner, Napi::FunctionReference Closures::*which, Vec x, Vec y,
                               const char *where) {
  PML_ON_JS_THREAD(CallWithVecPair(owner, which, x, y, where));
  Closures *c = ClosuresOf(owner, false);
  if (!c || (c->*which).IsEmpty()) {
    const char *cls = "object";
    PetscObjectGetClassName(owner, &cls);
    SETERRQ(PetscObjectComm(owner), PETSC_ERR_SUP, "no %s callback was given for this %s", where, cls);
  }
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  // Replicated mode: the closure sees x whole and writes this rank's contribution to y whole.
  Replica *rep = nullptr;
  Vec xs = x, ys = y;
  if (c->replicated) {
    PetscCall(ReplicaFor(owner, x, &rep));
    PetscCall(ReplicaGather(rep, x));
    xs = rep->in;
    ys = rep->out;
  }
  const PetscScalar *xa;
  PetscScalar *ya;
  PetscInt nx, ny;
  PetscCall(VecGetLocalSize(xs, &nx));
  PetscCall(VecGetLocalSize(ys, &ny));
  PetscCall(VecGetArrayRead(xs, &xa));
  PetscCall(VecGetArray(ys, &ya));
  if (which == &Closures::mult) c->nMult++;
  MarkUnwritten(ya, ny);
  uint64_t print = Fingerprint(xa, nx);
  Napi::Value r = Invoke(env, c->*which, where, {ViewOf(env, xs, const_cast<PetscScalar *>(xa), nx), ViewOf(env, ys, ya, ny)});
  bool failed = !CheckInputKept(env, print, xa, nx, where) || !CheckWritten(env, ya, ny, where, "its output", true, r);
  PetscCall(VecRestoreArrayRead(xs, &xa));
  PetscCall(VecRestoreArray(ys, &ya));
  PetscCall(Consensus(env, PetscObjectComm(owner), failed, where));
  if (rep) PetscCall(ReplicaSum(rep, y));
  return 0;
}

} // namespace pml
