// First-order reference optimizers (adam, adamw, sgd) as TAO solver types (firstorder.cc).
#pragma once
#include "common.h"

namespace pml {

// Adds the types to TAO's registry, so that TaoSetType and -tao_type know them. Once, after
// PetscInitialize.
PetscErrorCode RegisterFirstOrderTypes();

// The learning rate of the current (or, before a solve, the first) step when tao is one of these
// types; false otherwise.
bool FirstOrderLearningRate(Tao tao, PetscReal *lr);

// The optimizer state at the current step's start (inside a monitor: before that step's update).
struct FirstOrderSnapshot {
  Vec m = nullptr, v = nullptr; // v is null for sgd
  PetscInt step = 0;
  PetscReal power1 = 1, power2 = 1;
};
bool FirstOrderState(Tao tao, FirstOrderSnapshot *s);

// The next TaoSolve starts at `step` with these moments (this rank's blocks, copied) and powers.
PetscErrorCode FirstOrderResume(Tao tao, PetscInt step, PetscReal power1, PetscReal power2, const PetscScalar *m, const PetscScalar *v);

} // namespace pml
