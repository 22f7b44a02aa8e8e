// Replicated callbacks: data-parallel training over an MPI-distributed parameter Vec.
//
// The solver's vectors are split across ranks, but a model's loss on a shard of the data needs
// every parameter. In replicated mode a trampoline gathers the whole input vector onto every rank
// (one allgather through a cached VecScatter), the JS closure sees full-length views of a
// sequential work vector and writes this rank's full-length contribution (gradient, Hessian
// product) into a second one, and the contributions are summed straight into each rank's owned
// block with one MPI_Reduce_scatter: every rank sends N doubles and receives its n_r, half the
// traffic of an MPI_Allreduce of the whole vector followed by a copy.
//
// The work vectors and the scatter live on the object that calls back (a Tao or a shell Mat),
// composed as a PetscContainer, and are rebuilt only when a vector with another layout arrives.
#include "wrap.h"

#include <cstring>

namespace pml {
namespace {

ReplicaStats g_stats;
bool g_useAllreduce = false;

PetscErrorCode ReplicaFree(Replica *r) {
  PetscCall(VecScatterDestroy(&r->toAll));
  PetscCall(VecDestroy(&r->in));
  PetscCall(VecDestroy(&r->out));
  PetscCall(PetscLayoutDestroy(&r->map));
  r->counts.clear();
  return 0;
}

PetscErrorCode DestroyReplica(void *p) {
  Replica *r = static_cast<Replica *>(p);
  PetscErrorCode ierr = ReplicaFree(r);
  delete r;
  return ierr;
}

// Is `map` the layout the replica was built for (same object, or the same ownership ranges)?
PetscErrorCode SameLayout(const Replica *r, PetscLayout map, PetscBool *same) {
  *same = PETSC_FALSE;
  if (!r->map) return 0;
  if (r->map == map) {
    *same = PETSC_TRUE;
    return 0;
  }
  return PetscLayoutCompare(r->map, map, same);
}

} // namespace

PetscErrorCode ReplicaFor(PetscObject owner, Vec like, Replica **out) {
  PetscObject found = nullptr;
  Replica *r = nullptr;
  PetscCall(PetscObjectQuery(owner, "petscml_replica", &found));
  if (found) {
    void *p = nullptr;
    PetscCall(PetscContainerGetPointer(reinterpret_cast<PetscContainer>(found), &p));
    r = static_cast<Replica *>(p);
  } else {
    r = new Replica();
    PetscContainer box;
    PetscCall(PetscContainerCreate(PETSC_COMM_SELF, &box));
    PetscCall(PetscContainerSetPointer(box, r));
    PetscCall(PetscContainerSetUserDestroy(box, DestroyReplica));
    PetscCall(PetscObjectCompose(owner, "petscml_replica", reinterpret_cast<PetscObject>(box)));
    PetscCall(PetscContainerDestroy(&box));
  }
  PetscLayout map;
  PetscBool same;
  PetscCall(VecGetLayout(like, &map));
  PetscCall(SameLayout(r, map, &same));
  if (!same) {
    PetscCall(ReplicaFree(r));
    PetscCall(VecScatterCreateToAll(like, &r->toAll, &r->in));
    PetscCall(VecDuplicate(r->in, &r->out));
    PetscCall(PetscLayoutReference(map, &r->map));
    const PetscInt *ranges;
    PetscMPIInt size;
    r->comm = PetscObjectComm(reinterpret_cast<PetscObject>(like));
    PetscCallMPI(MPI_Comm_size(r->comm, &size));
    PetscCall(PetscLayoutGetRanges(map, &ranges));
    r->counts.resize(size);
    for (PetscMPIInt i = 0; i < size; i++) r->counts[i] = static_cast<PetscMPIInt>(ranges[i + 1] - ranges[i]);
    PetscCall(VecGetSize(like, &r->N));
  }
  *out = r;
  return 0;
}

PetscErrorCode ReplicaGather(Replica *r, Vec x) {
  PetscLayout map;
  PetscBool same;
  PetscCall(VecGetLayout(x, &map));
  PetscCall(SameLayout(r, map, &same));
  PetscCheck(same, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "replicated callback: the input vector's layout differs from the solver's");
  PetscCall(VecScatterBegin(r->toAll, x, r->in, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(r->toAll, x, r->in, INSERT_VALUES, SCATTER_FORWARD));
  g_stats.gathers++;
  g_stats.gatheredDoubles += r->N;
  return 0;
}

PetscErrorCode ReplicaSum(Replica *r, Vec y) {
  PetscLayout map;
  PetscBool same;
  PetscCall(VecGetLayout(y, &map));
  PetscCall(SameLayout(r, map, &same));
  PetscCheck(same, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "replicated callback: the output vector's layout differs from the input's");
  const PetscScalar *full;
  PetscScalar *mine;
  PetscCall(VecGetArrayRead(r->out, &full));
  PetscCall(VecGetArray(y, &mine));
  int rc;
  if (g_useAllreduce) {
    PetscInt lo, n;
    PetscCall(VecGetOwnershipRange(y, &lo, nullptr));
    PetscCall(VecGetLocalSize(y, &n));
    // In place on the work vector, whose array the JS view also covers: the view is not read
    // again before the next callback overwrites it.
    rc = MPI_Allreduce(MPI_IN_PLACE, const_cast<PetscScalar *>(full), static_cast<int>(r->N), MPIU_SCALAR, MPI_SUM, r->comm);
    if (rc == MPI_SUCCESS) std::memcpy(mine, full + lo, sizeof(PetscScalar) * static_cast<size_t>(n));
  } else {
    rc = MPI_Reduce_scatter(full, mine, r->counts.data(), MPIU_SCALAR, MPI_SUM, r->comm);
  }
  PetscCall(VecRestoreArray(y, &mine));
  PetscCall(VecRestoreArrayRead(r->out, &full));
  PetscCallMPI(rc);
  g_stats.reductions++;
  g_stats.reducedDoubles += r->N;
  return 0;
}

ReplicaStats &ReplicationStats() { return g_stats; }
void SetReplicaAllreduce(bool on) { g_useAllreduce = on; }

} // namespace pml
