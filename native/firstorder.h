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

} // namespace pml
