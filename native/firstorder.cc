// First-order reference optimizers as TAO solver types: adam, adamw and sgd (heavy-ball momentum,
// optionally Nesterov), with a per-epoch learning-rate schedule. They are chosen like any TAO type
// (TaoSetType, -[prefix]tao_type adam), so the same driver, monitors, logs and convergence tests
// serve the Newton-type solvers and their first-order baselines.
//
// One step k = 0, 1, ...:
//   update hook (k)            mini-batch selection lives there (it sees k, the step number)
//   f, g at x_k                on the batch the hook selected
//   history, monitor (k, f, ||g||, lr_k), convergence test (max_it, gatol, grtol, ...)
//   x_{k+1} = step(x_k, g)
// so -tao_max_it N performs exactly N steps, and the last evaluation (at x_N) reports the final f.
// The optimizer state (moments, momentum, bias-correction powers) starts from zero in every
// TaoSolve, as a freshly constructed PyTorch or tfjs optimizer does, unless FirstOrderResume set
// a checkpoint's state for the next TaoSolve: then it starts at that step, with those moments.
//
// The update formulas are those of tfjs 4.22 (adam_optimizer.ts, momentum_optimizer.ts) and of
// PyTorch's Adam/AdamW/SGD, in float64:
//   adam:   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  mhat = m / (1-b1^(k+1));
//           vhat = v / (1-b2^(k+1));  x -= lr (mhat / (sqrt(vhat) + eps))
//   adamw:  the same, with decoupled weight decay: x -= lr (mhat / (sqrt(vhat) + eps) + wd x)
//   sgd:    a = mu a + g;  x -= lr a            (Nesterov: x -= lr (g + mu a), with the new a)
// adam and sgd take a coupled L2 weight decay as PyTorch's Adam and SGD `weight_decay` do (and the
// FNO and GreenLearning scripts' Adam): g is replaced by g + wd x before the update.
#include "firstorder.h"

#include <petsc/private/taoimpl.h>

#include <cmath>
#include <string>

namespace pml {
namespace {

enum Method { kAdam, kAdamW, kSGD };
enum Schedule { kConstant, kStaircase, kInverseTime };
const char *const kScheduleNames[] = {"constant", "staircase", "inverse_time"};
const char *const kTypeNames[] = {"adam", "adamw", "sgd"};

struct FirstOrder {
  Method method;
  PetscReal lr;      // lr0, before the schedule
  PetscReal beta1, beta2, epsilon, weightDecay; // adam, adamw
  PetscReal momentum;                           // sgd
  PetscBool nesterov;
  Schedule schedule;
  PetscReal decayRate;
  PetscInt decayEpochs;   // the schedule's k
  PetscInt stepsPerEpoch; // steps (mini-batches) per epoch
  PetscReal lrNow;        // the learning rate of the current step, for monitors
  Vec m, v;               // adam: first and second moments; sgd: the momentum accumulation in m
  PetscInt step;          // the current step, counted from the start of the run (resumes included)
  PetscReal power1, power2; // beta1^step, beta2^step at the current step's start
  // Set by FirstOrderResume for the next TaoSolve only.
  PetscBool resume;
  PetscInt resumeStep;
  PetscReal resumePower1, resumePower2;
};

FirstOrder *Data(Tao tao) { return static_cast<FirstOrder *>(tao->data); }

// epoch = floor(k / steps_per_epoch)
//   constant:      lr0
//   staircase:     lr0 * rate^floor(epoch / decay_epochs)
//   inverse_time:  lr0 / (1 + rate * epoch / decay_epochs)
PetscReal LearningRate(const FirstOrder *fo, PetscInt k) {
  const PetscInt epoch = k / fo->stepsPerEpoch;
  switch (fo->schedule) {
  case kStaircase:
    return fo->lr * PetscPowReal(fo->decayRate, (PetscReal)(epoch / fo->decayEpochs));
  case kInverseTime:
    return fo->lr / (1 + fo->decayRate * (PetscReal)epoch / (PetscReal)fo->decayEpochs);
  case kConstant:
  default:
    return fo->lr;
  }
}

std::string OptionName(Tao tao, const char *name) {
  const char *prefix = ((PetscObject)tao)->prefix;
  return std::string("-") + (prefix ? prefix : "") + "tao_" + kTypeNames[Data(tao)->method] + "_" + name;
}

// Checked after the options are read: defaults are valid, and options are the only way to set these.
PetscErrorCode Validate(Tao tao) {
  FirstOrder *fo = Data(tao);
  MPI_Comm comm = PetscObjectComm((PetscObject)tao);
  PetscFunctionBegin;
  PetscCheck(std::isfinite(fo->lr) && fo->lr > 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s must be a finite number > 0, got %g",
             OptionName(tao, "lr").c_str(), (double)fo->lr);
  if (fo->method != kSGD) {
    PetscCheck(fo->beta1 >= 0 && fo->beta1 < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s must be in [0, 1), got %g",
               OptionName(tao, "beta1").c_str(), (double)fo->beta1);
    PetscCheck(fo->beta2 >= 0 && fo->beta2 < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s must be in [0, 1), got %g",
               OptionName(tao, "beta2").c_str(), (double)fo->beta2);
    // eps = 0 would make 0/0 of every parameter whose gradient is exactly zero (unused weights).
    PetscCheck(std::isfinite(fo->epsilon) && fo->epsilon > 0, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "%s must be a finite number > 0, got %g", OptionName(tao, "epsilon").c_str(), (double)fo->epsilon);
  }
  PetscCheck(std::isfinite(fo->weightDecay) && fo->weightDecay >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE,
               "%s must be a finite number >= 0, got %g", OptionName(tao, "weight_decay").c_str(), (double)fo->weightDecay);
  if (fo->method == kSGD) {
    PetscCheck(fo->momentum >= 0 && fo->momentum < 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s must be in [0, 1), got %g",
               OptionName(tao, "momentum").c_str(), (double)fo->momentum);
    PetscCheck(!fo->nesterov || fo->momentum > 0, comm, PETSC_ERR_ARG_INCOMP, "%s needs a momentum > 0 (%s is 0)",
               OptionName(tao, "nesterov").c_str(), OptionName(tao, "momentum").c_str());
  }
  PetscCheck(fo->stepsPerEpoch >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s must be an integer >= 1, got %" PetscInt_FMT,
             OptionName(tao, "steps_per_epoch").c_str(), fo->stepsPerEpoch);
  PetscCheck(fo->decayEpochs >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "%s must be an integer >= 1, got %" PetscInt_FMT,
             OptionName(tao, "lr_decay_epochs").c_str(), fo->decayEpochs);
  PetscCheck(std::isfinite(fo->decayRate) && fo->decayRate >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s must be a finite number >= 0, got %g", OptionName(tao, "lr_decay_rate").c_str(), (double)fo->decayRate);
  PetscCheck(fo->schedule != kStaircase || fo->decayRate > 0, comm, PETSC_ERR_ARG_OUTOFRANGE,
             "%s must be > 0 for the staircase schedule (0 would stop training after the first stair)",
             OptionName(tao, "lr_decay_rate").c_str());
  fo->lrNow = LearningRate(fo, 0);
  PetscFunctionReturn(0);
}

PetscErrorCode SetFromOptions(Tao tao, PetscOptionItems *PetscOptionsObject) {
  FirstOrder *fo = Data(tao);
  const char *heading[] = {"Adam (-tao_type adam)", "AdamW, decoupled weight decay (-tao_type adamw)",
                           "SGD with momentum (-tao_type sgd)"};
  const std::string type = kTypeNames[fo->method];
  auto name = [&](const char *n) { return "-tao_" + type + "_" + n; };
  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, heading[fo->method]);
  PetscCall(PetscOptionsReal(name("lr").c_str(), "Initial learning rate lr0", "", fo->lr, &fo->lr, nullptr));
  if (fo->method != kSGD) {
    PetscCall(PetscOptionsReal(name("beta1").c_str(), "Decay of the first-moment average", "", fo->beta1, &fo->beta1, nullptr));
    PetscCall(PetscOptionsReal(name("beta2").c_str(), "Decay of the second-moment average", "", fo->beta2, &fo->beta2, nullptr));
    PetscCall(PetscOptionsReal(name("epsilon").c_str(), "Added to sqrt(vhat) in the denominator", "", fo->epsilon, &fo->epsilon, nullptr));
  }
  if (fo->method == kAdamW)
    PetscCall(PetscOptionsReal(name("weight_decay").c_str(), "Decoupled weight decay wd: x -= lr*wd*x each step", "",
                               fo->weightDecay, &fo->weightDecay, nullptr));
  else
    PetscCall(PetscOptionsReal(name("weight_decay").c_str(), "Coupled L2 weight decay wd: g += wd*x before the update (PyTorch's weight_decay)", "",
                               fo->weightDecay, &fo->weightDecay, nullptr));
  if (fo->method == kSGD) {
    PetscCall(PetscOptionsReal(name("momentum").c_str(), "Heavy-ball momentum mu: a = mu*a + g", "", fo->momentum, &fo->momentum, nullptr));
    PetscCall(PetscOptionsBool(name("nesterov").c_str(), "Nesterov momentum: x -= lr*(g + mu*a)", "", fo->nesterov, &fo->nesterov, nullptr));
  }
  PetscInt schedule = fo->schedule;
  PetscCall(PetscOptionsEList(name("lr_schedule").c_str(), "Learning-rate schedule over epochs", "", kScheduleNames, 3,
                              kScheduleNames[fo->schedule], &schedule, nullptr));
  fo->schedule = (Schedule)schedule;
  PetscCall(PetscOptionsReal(name("lr_decay_rate").c_str(), "Schedule rate: staircase lr0*rate^floor(epoch/k), inverse_time lr0/(1+rate*epoch/k)",
                             "", fo->decayRate, &fo->decayRate, nullptr));
  PetscCall(PetscOptionsInt(name("lr_decay_epochs").c_str(), "Schedule period k, in epochs", "", fo->decayEpochs, &fo->decayEpochs, nullptr));
  PetscCall(PetscOptionsInt(name("steps_per_epoch").c_str(), "Steps (mini-batches) per epoch: epoch = floor(step/steps_per_epoch)", "",
                            fo->stepsPerEpoch, &fo->stepsPerEpoch, nullptr));
  PetscOptionsHeadEnd();
  PetscCall(Validate(tao));
  PetscFunctionReturn(0);
}

PetscErrorCode View(Tao tao, PetscViewer viewer) {
  FirstOrder *fo = Data(tao);
  PetscBool ascii = PETSC_FALSE;
  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &ascii));
  if (!ascii) PetscFunctionReturn(0);
  switch (fo->method) {
  case kAdam:
    PetscCall(PetscViewerASCIIPrintf(viewer, "Adam: lr %g, beta1 %g, beta2 %g, epsilon %g, coupled L2 weight decay %g\n", (double)fo->lr,
                                     (double)fo->beta1, (double)fo->beta2, (double)fo->epsilon, (double)fo->weightDecay));
    break;
  case kAdamW:
    PetscCall(PetscViewerASCIIPrintf(viewer, "AdamW: lr %g, beta1 %g, beta2 %g, epsilon %g, decoupled weight decay %g\n", (double)fo->lr,
                                     (double)fo->beta1, (double)fo->beta2, (double)fo->epsilon, (double)fo->weightDecay));
    break;
  case kSGD:
    PetscCall(PetscViewerASCIIPrintf(viewer, "SGD: lr %g, heavy-ball momentum %g, Nesterov %s, coupled L2 weight decay %g\n", (double)fo->lr,
                                     (double)fo->momentum, fo->nesterov ? "yes" : "no", (double)fo->weightDecay));
    break;
  }
  switch (fo->schedule) {
  case kConstant:
    PetscCall(PetscViewerASCIIPrintf(viewer, "learning-rate schedule: constant\n"));
    break;
  case kStaircase:
    PetscCall(PetscViewerASCIIPrintf(viewer, "learning-rate schedule: staircase, lr = lr0 * %g^floor(epoch / %" PetscInt_FMT ")\n",
                                     (double)fo->decayRate, fo->decayEpochs));
    break;
  case kInverseTime:
    PetscCall(PetscViewerASCIIPrintf(viewer, "learning-rate schedule: inverse_time, lr = lr0 / (1 + %g * epoch / %" PetscInt_FMT ")\n",
                                     (double)fo->decayRate, fo->decayEpochs));
    break;
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "steps per epoch %" PetscInt_FMT " (epoch = floor(step / %" PetscInt_FMT "))\n",
                                   fo->stepsPerEpoch, fo->stepsPerEpoch));
  PetscCall(PetscViewerASCIIPrintf(viewer, "current learning rate %g\n", (double)fo->lrNow));
  PetscFunctionReturn(0);
}

PetscErrorCode SetUp(Tao tao) {
  FirstOrder *fo = Data(tao);
  PetscFunctionBegin;
  PetscCheck(!tao->XL && !tao->XU && !tao->ops->computebounds, PetscObjectComm((PetscObject)tao), PETSC_ERR_SUP,
             "Tao type %s is for unconstrained problems: variable bounds are not supported", kTypeNames[fo->method]);
  if (!tao->gradient) PetscCall(VecDuplicate(tao->solution, &tao->gradient));
  if (!fo->m) PetscCall(VecDuplicate(tao->solution, &fo->m));
  if (fo->method != kSGD && !fo->v) PetscCall(VecDuplicate(tao->solution, &fo->v));
  PetscFunctionReturn(0);
}

PetscErrorCode Destroy(Tao tao) {
  FirstOrder *fo = Data(tao);
  PetscFunctionBegin;
  PetscCall(VecDestroy(&fo->m));
  PetscCall(VecDestroy(&fo->v));
  PetscCall(PetscFree(tao->data));
  PetscFunctionReturn(0);
}

// x_{k+1} from x_k and g_k; `power1`, `power2` are beta1^(k+1), beta2^(k+1).
PetscErrorCode Step(Tao tao, PetscReal lr, PetscReal power1, PetscReal power2) {
  FirstOrder *fo = Data(tao);
  PetscInt n;
  PetscScalar *x, *m, *v = nullptr;
  const PetscScalar *g;
  PetscFunctionBegin;
  PetscCall(VecGetLocalSize(tao->solution, &n));
  PetscCall(VecGetArray(tao->solution, &x));
  PetscCall(VecGetArrayRead(tao->gradient, &g));
  PetscCall(VecGetArray(fo->m, &m));
  // With wd = 0, g + 0*x is g exactly: the runs are those without weight decay bit for bit.
  const PetscReal l2 = fo->method == kAdamW ? 0 : fo->weightDecay;
  if (fo->method == kSGD) {
    const PetscReal mu = fo->momentum;
    if (fo->nesterov) {
      for (PetscInt i = 0; i < n; i++) {
        const PetscReal gi = g[i] + l2 * x[i];
        m[i] = mu * m[i] + gi;
        x[i] -= lr * (gi + mu * m[i]);
      }
    } else {
      for (PetscInt i = 0; i < n; i++) {
        m[i] = mu * m[i] + g[i] + l2 * x[i];
        x[i] -= lr * m[i];
      }
    }
  } else {
    PetscCall(VecGetArray(fo->v, &v));
    const PetscReal b1 = fo->beta1, b2 = fo->beta2, eps = fo->epsilon;
    const PetscReal c1 = 1 - power1, c2 = 1 - power2;
    // Adam is AdamW with wd = 0: u + 0*x is u exactly, so the two types agree bit for bit.
    const PetscReal wd = fo->method == kAdamW ? fo->weightDecay : 0;
    for (PetscInt i = 0; i < n; i++) {
      const PetscReal gi = g[i] + l2 * x[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const PetscReal mhat = m[i] / c1, vhat = v[i] / c2;
      x[i] -= lr * (mhat / (PetscSqrtReal(vhat) + eps) + wd * x[i]);
    }
    PetscCall(VecRestoreArray(fo->v, &v));
  }
  PetscCall(VecRestoreArray(fo->m, &m));
  PetscCall(VecRestoreArrayRead(tao->gradient, &g));
  PetscCall(VecRestoreArray(tao->solution, &x));
  PetscFunctionReturn(0);
}

PetscErrorCode Solve(Tao tao) {
  FirstOrder *fo = Data(tao);
  PetscReal f, gnorm, power1 = 1, power2 = 1;
  PetscInt k0 = 0;
  PetscFunctionBegin;
  if (fo->resume) {
    // The moments were copied in by FirstOrderResume; the powers are the checkpoint's own
    // doubles (not recomputed), so the resumed steps are the uninterrupted run's bit for bit.
    fo->resume = PETSC_FALSE;
    k0 = fo->resumeStep;
    power1 = fo->resumePower1;
    power2 = fo->resumePower2;
  } else {
    PetscCall(VecSet(fo->m, 0));
    if (fo->v) PetscCall(VecSet(fo->v, 0));
  }
  tao->reason = TAO_CONTINUE_ITERATING;
  // tao->niter counts this solve's steps (tao_max_it bounds them); the schedule, the update hook
  // (mini-batch selection) and the bias correction see the run's step k0 + k.
  for (PetscInt k = 0;; k++) {
    tao->niter = k;
    fo->step = k0 + k;
    fo->power1 = power1;
    fo->power2 = power2;
    if (tao->ops->update) PetscCall((*tao->ops->update)(tao, k0 + k, tao->user_update));
    PetscCall(TaoComputeObjectiveAndGradient(tao, tao->solution, &f, tao->gradient));
    PetscCall(VecNorm(tao->gradient, NORM_2, &gnorm));
    const PetscReal lr = LearningRate(fo, k0 + k);
    fo->lrNow = lr;
    if (PetscIsInfOrNanReal(f) || PetscIsInfOrNanReal(gnorm)) {
      // A learning rate too large for the problem is an ordinary outcome of training, not a
      // programming error: stop with a reason (TaoMonitor would raise an error on Inf/NaN).
      tao->fc = f;
      tao->residual = gnorm;
      tao->step = lr;
      tao->reason = TAO_DIVERGED_NAN;
      break;
    }
    PetscCall(TaoLogConvergenceHistory(tao, f, gnorm, 0.0, tao->ksp_its));
    PetscCall(TaoMonitor(tao, k, f, gnorm, 0.0, lr));
    PetscCall((*tao->ops->convergencetest)(tao, tao->cnvP));
    if (tao->reason != TAO_CONTINUE_ITERATING) break;
    power1 *= fo->beta1;
    power2 *= fo->beta2;
    PetscCall(Step(tao, lr, power1, power2));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode Create(Tao tao, Method method) {
  FirstOrder *fo;
  PetscFunctionBegin;
  PetscCall(PetscNew(&fo));
  fo->method = method;
  fo->lr = method == kSGD ? 1e-2 : 1e-3;
  fo->beta1 = 0.9;
  fo->beta2 = 0.999;
  fo->epsilon = 1e-8;
  fo->weightDecay = method == kAdamW ? 1e-2 : 0;
  fo->momentum = method == kSGD ? 0.9 : 0;
  fo->nesterov = PETSC_FALSE;
  fo->schedule = kConstant;
  fo->decayRate = 0.5;
  fo->decayEpochs = 1;
  fo->stepsPerEpoch = 1;
  fo->lrNow = fo->lr;
  fo->power1 = fo->power2 = 1;
  tao->data = fo;
  tao->ops->setup = SetUp;
  tao->ops->solve = Solve;
  tao->ops->view = View;
  tao->ops->setfromoptions = SetFromOptions;
  tao->ops->destroy = Destroy;
  PetscFunctionReturn(0);
}

PetscErrorCode CreateAdam(Tao tao) { return Create(tao, kAdam); }
PetscErrorCode CreateAdamW(Tao tao) { return Create(tao, kAdamW); }
PetscErrorCode CreateSGD(Tao tao) { return Create(tao, kSGD); }

} // namespace

PetscErrorCode RegisterFirstOrderTypes() {
  PetscFunctionBegin;
  PetscCall(TaoRegister(kTypeNames[kAdam], CreateAdam));
  PetscCall(TaoRegister(kTypeNames[kAdamW], CreateAdamW));
  PetscCall(TaoRegister(kTypeNames[kSGD], CreateSGD));
  PetscFunctionReturn(0);
}

static bool IsFirstOrder(Tao tao) {
  PetscBool match = PETSC_FALSE;
  if (!tao || PetscObjectTypeCompareAny((PetscObject)tao, &match, kTypeNames[kAdam], kTypeNames[kAdamW], kTypeNames[kSGD], "") || !match)
    return false;
  return tao->data != nullptr;
}

bool FirstOrderLearningRate(Tao tao, PetscReal *lr) {
  if (!IsFirstOrder(tao)) return false;
  *lr = Data(tao)->lrNow;
  return true;
}

bool FirstOrderState(Tao tao, FirstOrderSnapshot *s) {
  if (!IsFirstOrder(tao)) return false;
  const FirstOrder *fo = Data(tao);
  s->m = fo->m;
  s->v = fo->v;
  s->step = fo->step;
  s->power1 = fo->power1;
  s->power2 = fo->power2;
  return true;
}

PetscErrorCode FirstOrderResume(Tao tao, PetscInt step, PetscReal power1, PetscReal power2, const PetscScalar *m, const PetscScalar *v) {
  PetscFunctionBegin;
  PetscCheck(IsFirstOrder(tao), PetscObjectComm((PetscObject)tao), PETSC_ERR_ARG_WRONG, "not an adam, adamw or sgd Tao");
  PetscCall(TaoSetUp(tao)); // makes the moment vectors
  FirstOrder *fo = Data(tao);
  PetscInt n;
  PetscScalar *a;
  PetscCall(VecGetLocalSize(fo->m, &n));
  PetscCall(VecGetArray(fo->m, &a));
  for (PetscInt i = 0; i < n; i++) a[i] = m[i];
  PetscCall(VecRestoreArray(fo->m, &a));
  if (fo->v) {
    PetscCheck(v, PetscObjectComm((PetscObject)tao), PETSC_ERR_ARG_NULL, "adam and adamw resume with both moments");
    PetscCall(VecGetArray(fo->v, &a));
    for (PetscInt i = 0; i < n; i++) a[i] = v[i];
    PetscCall(VecRestoreArray(fo->v, &a));
  }
  fo->resume = PETSC_TRUE;
  fo->resumeStep = step;
  fo->resumePower1 = power1;
  fo->resumePower2 = power2;
  PetscFunctionReturn(0);
}

} // namespace pml
