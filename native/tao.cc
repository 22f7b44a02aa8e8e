// Tao: any TAO solver minimizing a function given by JS closures.
#include "wrap.h"
#include "firstorder.h"

#include <petsc/private/taoimpl.h>

#include <cstring>

namespace pml {
namespace {

// The objective of every rank, summed when the callbacks return rank-local contributions, agreed
// on together with the failure flag in a single reduction.
PetscErrorCode ReduceObjective(Napi::Env env, Tao tao, Closures *c, bool failed, PetscReal *f, const char *where) {
  MPI_Comm comm = PetscObjectComm(reinterpret_cast<PetscObject>(tao));
  PetscMPIInt size;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size == 1 || !(c->sumObjective || c->replicated)) return Consensus(env, comm, failed, where);
  double local[2] = {failed ? 0.0 : *f, failed ? 1.0 : 0.0}, total[2];
  PetscCallMPI(MPI_Allreduce(local, total, 2, MPI_DOUBLE, MPI_SUM, comm));
  ReplicationStats().scalarReductions++;
  if (total[1] == 0) {
    *f = total[0];
    return 0;
  }
  return Consensus(env, comm, failed, where);
}

// petscml's first-order types turn a non-finite f or ||g|| into DIVERGED_NAN (a learning rate too
// large is a training outcome); for every other type a non-finite value is a callback's mistake
// that TAO would misreport (a converged status, or a line-search failure).
// With setAllowNonFinite, every type gets them: in training, an overflow at a line search's or a
// trust region's trial point is an outcome (Armijo shrinks the step by beta_inf, NTR rejects the
// step and its radius), not a mistake; a run whose accepted point is not finite ends DIVERGED_NAN.
bool WantsFinite(Tao tao) {
  PetscReal lr;
  Closures *c = ClosuresOf(reinterpret_cast<PetscObject>(tao), false);
  if (c && c->allowNonFinite) return false;
  return !FirstOrderLearningRate(tao, &lr);
}

// The vectors a callback's views cover: the solver's own (locally owned blocks), or in replicated
// mode the full-length work vectors, with the input gathered onto every rank first.
struct CallVecs {
  Replica *replica = nullptr;
  Vec x = nullptr, y = nullptr;
};
PetscErrorCode Prepare(Tao tao, Closures *c, Vec X, Vec Y, CallVecs *v) {
  v->x = X;
  v->y = Y;
  if (!c->replicated) return 0;
  PetscCall(ReplicaFor(reinterpret_cast<PetscObject>(tao), X, &v->replica));
  PetscCall(ReplicaGather(v->replica, X));
  v->x = v->replica->in;
  if (Y) v->y = v->replica->out;
  return 0;
}

PetscErrorCode Objective(Tao tao, Vec X, PetscReal *f, void *ctx) {
  PML_ON_JS_THREAD(Objective(tao, X, f, ctx));
  Closures *c = static_cast<Closures *>(ctx);
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  const PetscScalar *x;
  PetscInt n;
  CallVecs v;
  c->nObjective++;
  PetscCall(Prepare(tao, c, X, nullptr, &v));
  PetscCall(VecGetLocalSize(v.x, &n));
  PetscCall(VecGetArrayRead(v.x, &x));
  uint64_t print = Fingerprint(x, n);
  Napi::Value r = Invoke(env, c->objective, "objective", {ViewOf(env, v.x, const_cast<PetscScalar *>(x), n)});
  bool ok = TakeNumber(env, r, f, "objective", WantsFinite(tao)) && CheckInputKept(env, print, x, n, "objective");
  PetscCall(VecRestoreArrayRead(v.x, &x));
  return ReduceObjective(env, tao, c, !ok, f, "objective");
}

PetscErrorCode Gradient(Tao tao, Vec X, Vec G, void *ctx) {
  PML_ON_JS_THREAD(Gradient(tao, X, G, ctx));
  Closures *c = static_cast<Closures *>(ctx);
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  const PetscScalar *x;
  PetscScalar *g;
  PetscInt n;
  CallVecs v;
  c->nGradient++;
  PetscCall(Prepare(tao, c, X, G, &v));
  PetscCall(VecGetLocalSize(v.x, &n));
  PetscCall(VecGetArrayRead(v.x, &x));
  PetscCall(VecGetArray(v.y, &g));
  // PETSc reuses its gradient vector: without the marker a stale gradient would pass as written.
  MarkUnwritten(g, n);
  uint64_t print = Fingerprint(x, n);
  Napi::Value r = Invoke(env, c->gradient, "gradient", {ViewOf(env, v.x, const_cast<PetscScalar *>(x), n), ViewOf(env, v.y, g, n)});
  bool failed = !CheckInputKept(env, print, x, n, "gradient") || !CheckWritten(env, g, n, "gradient", "the gradient", WantsFinite(tao), r);
  PetscCall(VecRestoreArrayRead(v.x, &x));
  PetscCall(VecRestoreArray(v.y, &g));
  PetscCall(Consensus(env, PetscObjectComm(reinterpret_cast<PetscObject>(tao)), failed, "gradient"));
  if (v.replica) PetscCall(ReplicaSum(v.replica, G));
  return 0;
}

PetscErrorCode ObjectiveAndGradient(Tao tao, Vec X, PetscReal *f, Vec G, void *ctx) {
  PML_ON_JS_THREAD(ObjectiveAndGradient(tao, X, f, G, ctx));
  Closures *c = static_cast<Closures *>(ctx);
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  const PetscScalar *x;
  PetscScalar *g;
  PetscInt n;
  CallVecs v;
  c->nObjectiveAndGradient++;
  PetscCall(Prepare(tao, c, X, G, &v));
  PetscCall(VecGetLocalSize(v.x, &n));
  PetscCall(VecGetArrayRead(v.x, &x));
  PetscCall(VecGetArray(v.y, &g));
  MarkUnwritten(g, n);
  uint64_t print = Fingerprint(x, n);
  Napi::Value r = Invoke(env, c->objectiveAndGradient, "objectiveAndGradient",
                         {ViewOf(env, v.x, const_cast<PetscScalar *>(x), n), ViewOf(env, v.y, g, n)});
  bool finite = WantsFinite(tao);
  bool ok = TakeNumber(env, r, f, "objectiveAndGradient", finite) && CheckInputKept(env, print, x, n, "objectiveAndGradient") &&
            CheckWritten(env, g, n, "objectiveAndGradient", "the gradient", finite);
  PetscCall(VecRestoreArrayRead(v.x, &x));
  PetscCall(VecRestoreArray(v.y, &g));
  // Every rank learns here whether any failed, so either all ranks reduce the gradient or none.
  PetscCall(ReduceObjective(env, tao, c, !ok, f, "objectiveAndGradient"));
  if (v.replica) PetscCall(ReplicaSum(v.replica, G));
  return 0;
}

// The user's Hessian callback gets the linearization point; products go through the shell Mat.
PetscErrorCode Hessian(Tao tao, Vec X, Mat H, Mat P, void *ctx) {
  PML_ON_JS_THREAD(Hessian(tao, X, H, P, ctx));
  Closures *c = static_cast<Closures *>(ctx);
  c->nHessian++;
  // A new Hessian starts clean: assembly drops the shifts a shell accumulates (NLS and BNLS
  // MatShift the Hessian after each evaluation; without this the shifts pile up over the solve).
  PetscCall(MatAssemblyBegin(H, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(H, MAT_FINAL_ASSEMBLY));
  if (P && P != H) {
    PetscCall(MatAssemblyBegin(P, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(P, MAT_FINAL_ASSEMBLY));
  }
  if (c->hessian.IsEmpty()) return 0;
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  const PetscScalar *x;
  PetscInt n;
  CallVecs v;
  PetscCall(Prepare(tao, c, X, nullptr, &v));
  PetscCall(VecGetLocalSize(v.x, &n));
  PetscCall(VecGetArrayRead(v.x, &x));
  uint64_t print = Fingerprint(x, n);
  Invoke(env, c->hessian, "hessian", {ViewOf(env, v.x, const_cast<PetscScalar *>(x), n)});
  bool failed = !CheckInputKept(env, print, x, n, "hessian");
  PetscCall(VecRestoreArrayRead(v.x, &x));
  return Consensus(env, PetscObjectComm(reinterpret_cast<PetscObject>(tao)), failed, "hessian");
}

PetscErrorCode Update(Tao tao, PetscInt it, void *ctx) {
  PML_ON_JS_THREAD(Update(tao, it, ctx));
  Closures *c = static_cast<Closures *>(ctx);
  c->nUpdate++;
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  Invoke(env, c->update, "update", {Napi::Number::New(env, (double)it)});
  return Consensus(env, PetscObjectComm(reinterpret_cast<PetscObject>(tao)), env.IsExceptionPending(), "update");
}

Napi::Object StatusObject(Napi::Env env, Tao tao) {
  PetscInt its;
  PetscReal f, gnorm, cnorm, xdiff, radius = 0, step = 0;
  TaoConvergedReason reason;
  Napi::Object o = Napi::Object::New(env);
  if (TaoGetSolutionStatus(tao, &its, &f, &gnorm, &cnorm, &xdiff, &reason)) return o;
  o.Set("iteration", (double)its);
  o.Set("f", f);
  o.Set("gnorm", gnorm);
  o.Set("cnorm", cnorm);
  o.Set("xdiff", xdiff);
  o.Set("reason", (double)reason);
  o.Set("reasonName", TaoConvergedReasons[reason]);
  TaoGetCurrentTrustRegionRadius(tao, &radius);
  o.Set("trustRadius", radius);
  TaoLineSearch ls = nullptr;
  if (!TaoGetLineSearch(tao, &ls) && ls) {
    TaoLineSearchGetStepLength(ls, &step);
    o.Set("stepLength", step);
  } else if (FirstOrderLearningRate(tao, &step)) {
    o.Set("stepLength", step); // adam, adamw, sgd: the learning rate of this step
  }
  PetscInt lits = 0;
  TaoGetLinearSolveIterations(tao, &lits);
  o.Set("kspIterations", (double)lits);
  return o;
}

PetscErrorCode Monitor(Tao tao, void *ctx) {
  PML_ON_JS_THREAD(Monitor(tao, ctx));
  Closures *c = static_cast<Closures *>(ctx);
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  Invoke(env, c->monitor, "monitor", {StatusObject(env, tao)});
  return Consensus(env, PetscObjectComm(reinterpret_cast<PetscObject>(tao)), env.IsExceptionPending(), "monitor");
}

bool IsShell(Mat m) {
  PetscBool shell = PETSC_FALSE;
  if (m) PetscObjectTypeCompare(reinterpret_cast<PetscObject>(m), MATSHELL, &shell);
  return shell;
}

// With a shell Hessian, PETSc's default preconditioners (ILU, ICC, block Jacobi, ASM) need
// matrix entries and fail. Unless the user chose one (in code or options), use Jacobi when the
// shell provides its diagonal, else none.
PetscErrorCode DefaultShellPC(Tao tao) {
  KSP ksp = nullptr;
  Mat H = nullptr, P = nullptr;
  PetscCall(TaoGetKSP(tao, &ksp));
  if (!ksp) return 0;
  PetscCall(TaoGetHessian(tao, &H, &P, nullptr, nullptr));
  if (!IsShell(P ? P : H)) return 0;
  PC pc;
  PCType t = nullptr;
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCGetType(pc, &t));
  const char *prefix = nullptr;
  PetscBool set = PETSC_FALSE;
  PetscCall(KSPGetOptionsPrefix(ksp, &prefix));
  PetscCall(PetscOptionsHasName(nullptr, prefix, "-pc_type", &set));
  if (set) return 0;
  if (t && strcmp(t, PCILU) && strcmp(t, PCICC) && strcmp(t, PCBJACOBI) && strcmp(t, PCASM)) return 0;
  PetscBool diag = PETSC_FALSE;
  PetscCall(MatHasOperation(P ? P : H, MATOP_GET_DIAGONAL, &diag));
  PetscCall(PCSetType(pc, diag ? PCJACOBI : PCNONE));
  return 0;
}

} // namespace

class TaoWrap : public Wrapped<TaoWrap, Tao> {
public:
  static constexpr const char *kName = "Tao";
  // Never freed: a static FunctionReference was destroyed by exit() after Node had freed the env.
  static Napi::FunctionReference *ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Tao", {
      InstanceMethod("destroy", &TaoWrap::DestroyTao),
      InstanceMethod("isDestroyed", &TaoWrap::IsDestroyed),
      InstanceMethod("getOptionsPrefix", &TaoWrap::GetPrefix),
      InstanceMethod("getType", &TaoWrap::GetTypeName),
      InstanceMethod("getCommSize", &TaoWrap::GetCommSize),
      InstanceMethod("getId", &TaoWrap::GetId),
      InstanceMethod("setType", &TaoWrap::SetType),
      InstanceMethod("setOptionsPrefix", &TaoWrap::SetOptionsPrefix),
      InstanceMethod("setFromOptions", &TaoWrap::SetFromOptions),
      InstanceMethod("setSolution", &TaoWrap::SetSolution),
      InstanceMethod("getSolution", &TaoWrap::GetSolution),
      InstanceMethod("setCallback", &TaoWrap::SetCallback),
      InstanceMethod("setHessian", &TaoWrap::SetHessian),
      InstanceMethod("setVariableBounds", &TaoWrap::SetVariableBounds),
      InstanceMethod("setTolerances", &TaoWrap::SetTolerances),
      InstanceMethod("getTolerances", &TaoWrap::GetTolerances),
      InstanceMethod("setMaximumIterations", &TaoWrap::SetMaximumIterations),
      InstanceMethod("setMaximumFunctionEvaluations", &TaoWrap::SetMaximumFunctionEvaluations),
      InstanceMethod("setObjectiveReduction", &TaoWrap::SetObjectiveReduction),
      InstanceMethod("setReplicated", &TaoWrap::SetReplicated),
      InstanceMethod("setAllowNonFinite", &TaoWrap::SetAllowNonFinite),
      InstanceMethod("getKSP", &TaoWrap::GetKSP),
      InstanceMethod("solve", &TaoWrap::Solve),
      InstanceMethod("solveAsync", &TaoWrap::SolveAsync),
      InstanceMethod("getStatus", &TaoWrap::GetStatus),
      InstanceMethod("getCounts", &TaoWrap::GetCounts),
      InstanceMethod("isSolving", &TaoWrap::IsSolving),
      InstanceMethod("stop", &TaoWrap::Stop),
      InstanceMethod("getFirstOrderState", &TaoWrap::GetFirstOrderState),
      InstanceMethod("setFirstOrderResume", &TaoWrap::SetFirstOrderResume),
      InstanceMethod("lmvmUpdateCount", &TaoWrap::LMVMUpdateCount),
      InstanceMethod("getGradientArray", &TaoWrap::GetGradientArray),
      InstanceMethod("getMaximumIterations", &TaoWrap::GetMaximumIterations),
      InstanceMethod("replayLMVM", &TaoWrap::ReplayLMVM),
    });
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("Tao", f);
  }

  explicit TaoWrap(const Napi::CallbackInfo &info) : Wrapped(info) {
    if (IsAdopting(info) || info.Env().IsExceptionPending()) return; // adopted, or refused by Wrapped
    Napi::Env env = info.Env();
    PML_CHECK(env, TaoCreate(CommFrom(info[0]), &h_), );
    ClosuresOf(reinterpret_cast<PetscObject>(h_), true)->env = env;
    SetExternal(env, 10 * kObjectBytes); // measured: 21 KB for a new lmvm Tao
  }

private:
  Closures *C() { return ClosuresOf(reinterpret_cast<PetscObject>(h_), true); }

  // Refuses what would pull the solver out from under a running TaoSolve.
  bool Idle(Napi::Env env, const char *what) {
    if (!Alive(env)) return false;
    if (C()->inSolve) {
      pml::Throw(env, std::string("this Tao is busy: ") + what + " cannot be called from inside its own callbacks");
      return false;
    }
    return true;
  }

  // The solution Vec, or null (set one with setSolution first).
  Vec Solution() {
    Vec x = nullptr;
    TaoGetSolution(h_, &x);
    return x;
  }

  Napi::Value DestroyTao(const Napi::CallbackInfo &info) {
    if (h_ && !Idle(info.Env(), "destroy()")) return info.Env().Undefined();
    return Destroy(info);
  }
  Napi::Value SetType(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setType()")) return env.Undefined();
    PML_CHECK(env, TaoSetType(h_, info[0].As<Napi::String>().Utf8Value().c_str()), env.Undefined());
    return info.This();
  }
  Napi::Value SetOptionsPrefix(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setOptionsPrefix()")) return env.Undefined();
    PML_CHECK(env, TaoSetOptionsPrefix(h_, info[0].IsString() ? info[0].As<Napi::String>().Utf8Value().c_str() : nullptr), env.Undefined());
    return info.This();
  }
  Napi::Value SetFromOptions(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setFromOptions()")) return env.Undefined();
    PML_CHECK(env, TaoSetFromOptions(h_), env.Undefined());
    return info.This();
  }
  // Sizes and communicators are agreed on by every rank of a distributed Tao, so a rank whose
  // vector differs fails with the others instead of leaving them in the next collective.
  bool Agreeable(Napi::Env env, const char *where, PetscObject o, const char *what, std::vector<Agreed> sizes) {
    std::string err = SameComm(reinterpret_cast<PetscObject>(h_), o, where, what, "Tao");
    return Agree(env, PetscObjectComm(reinterpret_cast<PetscObject>(h_)), where, sizes, err);
  }
  Napi::Value SetSolution(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setSolution()")) return env.Undefined();
    Vec x = VecFrom(env, info[0], "solution");
    if (!x) return env.Undefined();
    PetscInt N;
    PML_CHECK(env, VecGetSize(x, &N), env.Undefined());
    if (!Agreeable(env, "Tao.setSolution", reinterpret_cast<PetscObject>(x), "solution Vec", {{"the solution size", (double)N}}))
      return env.Undefined();
    PML_CHECK(env, TaoSetSolution(h_, x), env.Undefined());
    return info.This();
  }
  Napi::Value GetSolution(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Vec x = nullptr;
    PML_CHECK(env, TaoGetSolution(h_, &x), env.Undefined());
    return x ? Napi::Value(WrapVec(env, x)) : env.Null();
  }
  // setCallback(name, fn | null): objective, gradient, objectiveAndGradient, update, monitor.
  Napi::Value SetCallback(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setCallback()")) return env.Undefined();
    std::string name = info[0].As<Napi::String>().Utf8Value();
    Closures *c = C();
    bool set = info[1].IsFunction();
    Napi::FunctionReference *slot = name == "objective" ? &c->objective : name == "gradient" ? &c->gradient
                                  : name == "objectiveAndGradient" ? &c->objectiveAndGradient
                                  : name == "update" ? &c->update : name == "monitor" ? &c->monitor : nullptr;
    if (!slot) PML_THROW(env, "unknown Tao callback: " + name, env.Undefined());
    *slot = HoldCallback(info.This(), name, info[1]);
    if (env.IsExceptionPending()) return env.Undefined();
    if (name == "objective") PML_CHECK(env, TaoSetObjective(h_, set ? Objective : nullptr, c), env.Undefined());
    else if (name == "gradient") PML_CHECK(env, TaoSetGradient(h_, nullptr, set ? Gradient : nullptr, c), env.Undefined());
    else if (name == "objectiveAndGradient") PML_CHECK(env, TaoSetObjectiveAndGradient(h_, nullptr, set ? ObjectiveAndGradient : nullptr, c), env.Undefined());
    else if (name == "update") PML_CHECK(env, TaoSetUpdate(h_, set ? Update : nullptr, c), env.Undefined());
    else if (name == "monitor") {
      PML_CHECK(env, TaoCancelMonitors(h_), env.Undefined());
      if (set) PML_CHECK(env, TaoSetMonitor(h_, Monitor, c, nullptr), env.Undefined());
    }
    return info.This();
  }
  // setHessian(H: Mat, fn(x) | null): H (usually a shell) is applied by the Krylov solver; fn is
  // called with each new linearization point before products are taken.
  Napi::Value SetHessian(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setHessian()")) return env.Undefined();
    Mat H = MatFrom(env, info[0], "Hessian");
    if (!H) return env.Undefined();
    PetscInt M, N;
    PML_CHECK(env, MatGetSize(H, &M, &N), env.Undefined());
    if (!Agreeable(env, "Tao.setHessian", reinterpret_cast<PetscObject>(H), "Hessian Mat",
                   {{"the number of Hessian rows", (double)M}, {"the number of Hessian columns", (double)N}}))
      return env.Undefined();
    Closures *c = C();
    c->hessian = HoldCallback(info.This(), "hessian", info[1]);
    if (env.IsExceptionPending()) return env.Undefined();
    PML_CHECK(env, TaoSetHessian(h_, H, H, Hessian, c), env.Undefined());
    return info.This();
  }
  Napi::Value SetVariableBounds(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setVariableBounds()")) return env.Undefined();
    Vec lb = VecFrom(env, info[0], "lower bounds");
    if (!lb) return env.Undefined();
    Vec ub = VecFrom(env, info[1], "upper bounds");
    if (!ub) return env.Undefined();
    PetscInt nl, nu;
    PML_CHECK(env, VecGetSize(lb, &nl), env.Undefined());
    PML_CHECK(env, VecGetSize(ub, &nu), env.Undefined());
    std::string err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(lb), "Tao.setVariableBounds", "lower-bound Vec", "Tao");
    if (err.empty()) err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(ub), "Tao.setVariableBounds", "upper-bound Vec", "Tao");
    if (!Agree(env, PetscObjectComm(reinterpret_cast<PetscObject>(h_)), "Tao.setVariableBounds",
               {{"the lower-bound size", (double)nl}, {"the upper-bound size", (double)nu}}, err))
      return env.Undefined();
    PML_CHECK(env, TaoSetVariableBounds(h_, lb, ub), env.Undefined());
    return info.This();
  }
  // setTolerances(gatol, grtol, gttol): NaN keeps the current value.
  Napi::Value SetTolerances(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setTolerances()")) return env.Undefined();
    PetscReal t[3];
    PML_CHECK(env, TaoGetTolerances(h_, &t[0], &t[1], &t[2]), env.Undefined());
    for (int i = 0; i < 3; i++) {
      double v = info[i].As<Napi::Number>().DoubleValue();
      if (!std::isnan(v)) t[i] = v;
    }
    PML_CHECK(env, TaoSetTolerances(h_, t[0], t[1], t[2]), env.Undefined());
    return info.This();
  }
  Napi::Value GetTolerances(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscReal t[3];
    PML_CHECK(env, TaoGetTolerances(h_, &t[0], &t[1], &t[2]), env.Undefined());
    Napi::Object o = Napi::Object::New(env);
    o.Set("gatol", t[0]);
    o.Set("grtol", t[1]);
    o.Set("gttol", t[2]);
    return o;
  }
  Napi::Value SetMaximumIterations(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setMaximumIterations()")) return env.Undefined();
    PetscInt n;
    if (!GetInt(env, info[0], "Tao: maximum iterations", 0, &n)) return env.Undefined();
    PML_CHECK(env, TaoSetMaximumIterations(h_, n), env.Undefined());
    return info.This();
  }
  Napi::Value SetMaximumFunctionEvaluations(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setMaximumFunctionEvaluations()")) return env.Undefined();
    PetscInt n;
    if (!GetInt(env, info[0], "Tao: maximum function evaluations", -1, &n)) return env.Undefined();
    PML_CHECK(env, TaoSetMaximumFunctionEvaluations(h_, n), env.Undefined());
    return info.This();
  }
  // setObjectiveReduction('sum' | 'none'): 'sum' when each rank returns its local contribution.
  Napi::Value SetObjectiveReduction(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setObjectiveReduction()")) return env.Undefined();
    C()->sumObjective = info[0].As<Napi::String>().Utf8Value() == "sum";
    return info.This();
  }
  // setReplicated(on): callbacks see full-length vectors on every rank and return contributions.
  Napi::Value SetReplicated(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setReplicated()")) return env.Undefined();
    C()->replicated = info[0].ToBoolean();
    return info.This();
  }
  Napi::Value SetAllowNonFinite(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setAllowNonFinite()")) return env.Undefined();
    C()->allowNonFinite = info[0].ToBoolean();
    return info.This();
  }
  Napi::Value GetKSP(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    KSP ksp = nullptr;
    PML_CHECK(env, TaoGetKSP(h_, &ksp), env.Undefined());
    return ksp ? Napi::Value(WrapKSP(env, ksp)) : env.Null();
  }
  // What PETSc would find wrong on this rank only (it checks layouts rank by rank), so that every
  // rank fails before the solve instead of one rank failing inside it while the others wait.
  std::string LayoutError(Vec X, Mat H) {
    if (!X) return "";
    PetscObject self = reinterpret_cast<PetscObject>(h_);
    std::string e = SameComm(self, reinterpret_cast<PetscObject>(X), "Tao.solve", "solution Vec", "Tao");
    if (!e.empty()) return e;
    PetscInt n = 0, N = 0, m = 0, k = 0, M = 0, K = 0;
    VecGetLocalSize(X, &n);
    VecGetSize(X, &N);
    std::string here = " on rank " + std::to_string(WorldRank());
    if (H) {
      e = SameComm(self, reinterpret_cast<PetscObject>(H), "Tao.solve", "Hessian Mat", "Tao");
      if (!e.empty()) return e;
      MatGetLocalSize(H, &m, &k);
      MatGetSize(H, &M, &K);
      if (M != N || K != N)
        return "petscml: Tao.solve: the Hessian is " + std::to_string(M) + " x " + std::to_string(K) + " but the solution has " + std::to_string(N) + " entries";
      if (m != n || k != n)
        return "petscml: Tao.solve: the Hessian's local block is " + std::to_string(m) + " x " + std::to_string(k) + here +
               " but the solution has " + std::to_string(n) + " entries there (split the Hessian as the solution)";
    }
    Vec XL = nullptr, XU = nullptr;
    TaoGetVariableBounds(h_, &XL, &XU);
    for (Vec b : {XL, XU}) {
      if (!b) continue;
      PetscInt bn = 0, bN = 0;
      VecGetLocalSize(b, &bn);
      VecGetSize(b, &bN);
      if (bN != N || bn != n)
        return "petscml: Tao.solve: a bound has " + std::to_string(bn) + " of " + std::to_string(bN) + " entries" + here + " but the solution has " +
               std::to_string(n) + " of " + std::to_string(N);
    }
    return "";
  }
  // Before solve() and solveAsync(): a last agreement before any collective (a solution set on
  // some ranks only, or of sizes that differ, fails here on every rank), buried objects freed,
  // the evaluation counts reset. False when it threw.
  bool BeginSolve(Napi::Env env, const char *what, Vec *X, Mat *H, Mat *P) {
    PetscInt N = -1;
    if (!TaoGetSolution(h_, X) && *X) VecGetSize(*X, &N);
    TaoGetHessian(h_, H, P, nullptr, nullptr);
    MPI_Comm comm = PetscObjectComm(reinterpret_cast<PetscObject>(h_));
    if (!Agree(env, comm, what, {{"the solution size", (double)N}}, LayoutError(*X, *H))) return false;
    CollectGarbage(comm);
    Closures *c = C();
    c->nObjective = c->nGradient = c->nObjectiveAndGradient = c->nHessian = c->nUpdate = 0;
    if (*H) {
      Closures *hc = ClosuresOf(reinterpret_cast<PetscObject>(*H), false);
      if (hc) hc->nMult = 0;
    }
    return true;
  }
  Napi::Value Solve(const Napi::CallbackInfo &info) {
    BuryDead();
    Napi::Env env = info.Env();
    if (!Idle(env, "solve()")) return env.Undefined();
    Closures *c = C();
    Vec X = nullptr;
    Mat H = nullptr, P = nullptr;
    if (!BeginSolve(env, "Tao.solve", &X, &H, &P)) return env.Undefined();
    PetscErrorCode ierr;
    {
      CallbackScope scope(env);
      InterruptScope interrupts;
      c->inSolve = true;
      pml::ResetErrorRecord();
      ierr = TaoSetUp(h_);
      if (!ierr) ierr = DefaultShellPC(h_);
      // What the solve uses may not be destroyed from its callbacks.
      const char *by = "Tao.solve()";
      KSP ksp = nullptr;
      PC pc = nullptr;
      Vec XL = nullptr, XU = nullptr;
      if (!ierr) TaoGetKSP(h_, &ksp);
      if (ksp) KSPGetPC(ksp, &pc);
      if (!ierr) TaoGetVariableBounds(h_, &XL, &XU);
      Borrow b0(reinterpret_cast<PetscObject>(h_), by), b1(reinterpret_cast<PetscObject>(X), by),
          b2(reinterpret_cast<PetscObject>(H), by), b3(reinterpret_cast<PetscObject>(P != H ? P : nullptr), by),
          b4(reinterpret_cast<PetscObject>(ksp), by), b5(reinterpret_cast<PetscObject>(pc), by),
          b6(reinterpret_cast<PetscObject>(XL), by), b7(reinterpret_cast<PetscObject>(XU), by);
      if (!ierr) ierr = TaoSolve(h_);
      if (ierr && ksp) ResetAfterFailedSolve(ksp);
      c->inSolve = false;
    }
    ReportSolvedMemory(env);
    PML_CHECK_CODE(env, ierr, env.Undefined());
    return GetStatus(info);
  }
  // Set up, a Tao holds its work vectors: measured 100 KB for lmvm on 49 parameters, about 10
  // objects plus 40 vectors of the solution's length.
  void ReportSolvedMemory(napi_env env) {
    Vec X = nullptr;
    PetscInt nl = 0;
    if (TaoGetSolution(h_, &X) || !X || VecGetLocalSize(X, &nl)) return;
    SetExternal(env, 10 * kObjectBytes + 40 * (kObjectBytes + 8 * (int64_t)nl));
  }
  // What a running solveAsync holds until it ends, on the JavaScript thread: the callback scope
  // (cached views), the signal handlers, and the objects it uses (which may not be destroyed).
  struct AsyncHold {
    AsyncHold(Napi::Env env, PetscObject const (&objs)[8]) : scope(env) {
      for (int i = 0; i < 8; i++) borrows[i] = new Borrow(objs[i], "Tao.solveAsync()");
    }
    ~AsyncHold() {
      for (Borrow *b : borrows) delete b;
    }
    CallbackScope scope;
    InterruptScope interrupts;
    Borrow *borrows[8];
  };

  // solveAsync(): a Promise of the status; TaoSolve runs on its own thread (async.cc).
  Napi::Value SolveAsync(const Napi::CallbackInfo &info) {
    BuryDead();
    Napi::Env env = info.Env();
    if (!Idle(env, "solveAsync()")) return env.Undefined();
    if (AsyncSolveRunning()) PML_THROW(env, "petscml: Tao.solveAsync: another solveAsync() is running (one at a time per process)", env.Undefined());
    Closures *c = C();
    Vec X = nullptr;
    Mat H = nullptr, P = nullptr;
    if (!BeginSolve(env, "Tao.solveAsync", &X, &H, &P)) return env.Undefined();
    PML_CHECK(env, TaoSetUp(h_), env.Undefined());
    PML_CHECK(env, DefaultShellPC(h_), env.Undefined());
    KSP ksp = nullptr;
    PC pc = nullptr;
    Vec XL = nullptr, XU = nullptr;
    TaoGetKSP(h_, &ksp);
    if (ksp) KSPGetPC(ksp, &pc);
    TaoGetVariableBounds(h_, &XL, &XU);
    Tao tao = h_;
    const PetscObject objs[8] = {reinterpret_cast<PetscObject>(tao), reinterpret_cast<PetscObject>(X), reinterpret_cast<PetscObject>(H),
                                 reinterpret_cast<PetscObject>(P != H ? P : nullptr), reinterpret_cast<PetscObject>(ksp),
                                 reinterpret_cast<PetscObject>(pc), reinterpret_cast<PetscObject>(XL), reinterpret_cast<PetscObject>(XU)};
    AsyncHold *hold = new AsyncHold(env, objs);
    c->inSolve = true;
    pml::ResetErrorRecord();
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    ReportSolvedMemory(env);
    bool started = StartAsync(env, [tao] { return TaoSolve(tao); }, [tao, c, ksp, hold, deferred](napi_env e, PetscErrorCode ierr) {
      Napi::Env env(e);
      if (ierr && ksp) ResetAfterFailedSolve(ksp);
      c->inSolve = false;
      delete hold;
      if (!ierr) {
        deferred.Resolve(StatusObject(env, tao));
        return;
      }
      if (!RethrowStash(env)) ThrowPetsc(env, ierr);
      napi_value ex = nullptr;
      napi_get_and_clear_last_exception(e, &ex);
      deferred.Reject(ex ? Napi::Value(env, ex) : Napi::Value(Napi::Error::New(env, "petscml: Tao.solveAsync failed").Value()));
    });
    if (!started) {
      c->inSolve = false;
      delete hold;
      return env.Undefined();
    }
    return deferred.Promise();
  }
  Napi::Value GetStatus(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    return StatusObject(env, h_);
  }
  Napi::Value GetCounts(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Closures *c = C();
    Napi::Object o = Napi::Object::New(env);
    o.Set("objective", (double)c->nObjective);
    o.Set("gradient", (double)c->nGradient);
    o.Set("objectiveAndGradient", (double)c->nObjectiveAndGradient);
    o.Set("hessian", (double)c->nHessian);
    o.Set("update", (double)c->nUpdate);
    double mults = 0;
    Mat H = nullptr;
    if (!TaoGetHessian(h_, &H, nullptr, nullptr, nullptr) && H) {
      Closures *hc = ClosuresOf(reinterpret_cast<PetscObject>(H), false);
      if (hc) mults = (double)hc->nMult;
    }
    o.Set("hessianMult", mults);
    PetscInt lits = 0;
    PML_CHECK(env, TaoGetLinearSolveIterations(h_, &lits), env.Undefined());
    o.Set("kspIterations", (double)lits);
    PetscInt its = 0;
    PML_CHECK(env, TaoGetIterationNumber(h_, &its), env.Undefined());
    o.Set("iterations", (double)its);
    return o;
  }
  Napi::Value IsSolving(const Napi::CallbackInfo &info) {
    return Napi::Boolean::New(info.Env(), h_ && C()->inSolve);
  }
  // Every TAO solver checks the reason before its next iteration, and the default convergence
  // test keeps a reason already set: the solve ends at that boundary with CONVERGED_USER.
  // Checkpoints (src/solvers/checkpoint.ts). The first-order state is copied out as this rank's
  // blocks: { step, power1, power2, m, v } (v null for sgd); undefined for other types.
  Napi::Value GetFirstOrderState(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    FirstOrderSnapshot s;
    if (!FirstOrderState(h_, &s) || !s.m) return env.Undefined();
    auto copy = [&](Vec v) -> Napi::Value {
      if (!v) return env.Null();
      PetscInt n = 0;
      const PetscScalar *a = nullptr;
      if (VecGetLocalSize(v, &n) || VecGetArrayRead(v, &a)) return env.Undefined();
      Napi::Float64Array out = Napi::Float64Array::New(env, (size_t)n);
      for (PetscInt i = 0; i < n; i++) out[i] = a[i];
      VecRestoreArrayRead(v, &a);
      return out;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", (double)s.step);
    o.Set("power1", s.power1);
    o.Set("power2", s.power2);
    o.Set("m", copy(s.m));
    o.Set("v", copy(s.v));
    return o;
  }
  // (step, power1, power2, m, v): this rank's blocks of the moments.
  Napi::Value SetFirstOrderResume(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setFirstOrderResume()")) return env.Undefined();
    PetscInt step = 0, n = 0;
    if (!GetInt(env, info[0], "Tao.setFirstOrderResume: step", 0, &step)) return env.Undefined();
    if (!info[1].IsNumber() || !info[2].IsNumber()) PML_TYPE_THROW(env, "petscml: Tao.setFirstOrderResume: the powers must be numbers", env.Undefined());
    if (!Solution()) PML_THROW(env, "petscml: Tao.setFirstOrderResume: set a solution first", env.Undefined());
    PML_CHECK(env, VecGetLocalSize(Solution(), &n), env.Undefined());
    auto block = [&](const Napi::Value &v, const char *what, bool optional) -> const PetscScalar * {
      if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
      if (!IsTyped(v, napi_float64_array) || (PetscInt)v.As<Napi::Float64Array>().ElementLength() != n) {
        pml::ThrowRange(env, std::string("petscml: Tao.setFirstOrderResume: ") + what + " must be a Float64Array of this rank's " + std::to_string(n) + " entries");
        return nullptr;
      }
      return v.As<Napi::Float64Array>().Data();
    };
    const PetscScalar *m = block(info[3], "m", false);
    if (!m) return env.Undefined();
    const PetscScalar *v = block(info[4], "v", true);
    if (env.IsExceptionPending()) return env.Undefined();
    PML_CHECK(env, FirstOrderResume(h_, step, info[1].As<Napi::Number>().DoubleValue(), info[2].As<Napi::Number>().DoubleValue(), m, v), env.Undefined());
    return env.Undefined();
  }
  Napi::Value GetMaximumIterations(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscInt n = 0;
    PML_CHECK(env, TaoGetMaximumIterations(h_, &n), env.Undefined());
    return Napi::Number::New(env, (double)n);
  }
  // A copy of this rank's block of the gradient TAO holds (in a monitor: at the current point).
  Napi::Value GetGradientArray(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Vec g = nullptr;
    PML_CHECK(env, TaoGetGradient(h_, &g, nullptr, nullptr), env.Undefined());
    if (!g) return env.Null();
    PetscInt n = 0;
    const PetscScalar *a = nullptr;
    PML_CHECK(env, VecGetLocalSize(g, &n), env.Undefined());
    PML_CHECK(env, VecGetArrayRead(g, &a), env.Undefined());
    Napi::Float64Array out = Napi::Float64Array::New(env, (size_t)n);
    for (PetscInt i = 0; i < n; i++) out[i] = a[i];
    VecRestoreArrayRead(g, &a);
    return out;
  }
  // The LMVM matrix whose history a resumed run replays: lmvm's own, or the L-BFGS
  // preconditioner of nls and ntr (PC lmvm). Null when there is none.
  Mat LMVMMatrix() {
    const char *type = nullptr;
    TaoGetType(h_, &type);
    Mat M = nullptr;
    if (type && !strcmp(type, TAOLMVM)) {
      // PETSc 3.18 has no accessor for lmvm's matrix (TaoGetLMVMMatrix serves the bqnk types):
      // it is the first member of lmvm's context. Taken only when it is what lmvm makes there,
      // an LMVM Mat with the options prefix "tao_lmvm_", so another layout gives "no matrix".
      Mat cand = h_->data ? *static_cast<Mat *>(h_->data) : nullptr;
      if (!cand || reinterpret_cast<PetscObject>(cand)->classid != MAT_CLASSID) return nullptr;
      PetscBool isLMVM = PETSC_FALSE;
      const char *prefix = nullptr;
      if (PetscObjectBaseTypeCompare((PetscObject)cand, MATLMVM, &isLMVM) || !isLMVM) return nullptr;
      if (PetscObjectGetOptionsPrefix((PetscObject)cand, &prefix) || !prefix || strcmp(prefix, "tao_lmvm_")) return nullptr;
      return cand;
    }
    KSP ksp = nullptr;
    PC pc = nullptr;
    PetscBool isLMVM = PETSC_FALSE;
    if (TaoGetKSP(h_, &ksp) || !ksp || KSPGetPC(ksp, &pc) || PetscObjectTypeCompare((PetscObject)pc, PCLMVM, &isLMVM) || !isLMVM) return nullptr;
    if (PCLMVMGetMatLMVM(pc, &M)) return nullptr;
    return M;
  }
  // Updates stored since the LMVM matrix was last reset, accepted or rejected (-1: no matrix).
  Napi::Value LMVMUpdateCount(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Mat M = LMVMMatrix();
    if (!M) return Napi::Number::New(env, -1);
    PetscBool allocated = PETSC_FALSE;
    PML_CHECK(env, MatLMVMIsAllocated(M, &allocated), env.Undefined());
    if (!allocated) return Napi::Number::New(env, 0);
    PetscInt nup = 0, nrej = 0;
    PML_CHECK(env, MatLMVMGetUpdateCount(M, &nup), env.Undefined());
    PML_CHECK(env, MatLMVMGetRejectCount(M, &nrej), env.Undefined());
    return Napi::Number::New(env, (double)(nup + nrej));
  }
  // (points: [x0, g0, x1, g1, ...] as this rank's blocks): feeds them, in order, to the LMVM
  // matrix before the solve, which then keeps them (lmvm: recycled instead of reset). Returns the
  // pairs the matrix holds.
  Napi::Value ReplayLMVM(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "replayLMVM()")) return env.Undefined();
    Mat M = LMVMMatrix();
    if (!M) PML_THROW(env, "petscml: Tao.replayLMVM: this Tao has no LMVM matrix (lmvm, or nls/ntr with -pc_type lmvm)", env.Undefined());
    if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() % 2) PML_TYPE_THROW(env, "petscml: Tao.replayLMVM: points must be an array [x0, g0, x1, g1, ...]", env.Undefined());
    Napi::Array pts = info[0].As<Napi::Array>();
    PetscInt n = 0;
    if (!Solution()) PML_THROW(env, "petscml: Tao.replayLMVM: set a solution first", env.Undefined());
    PML_CHECK(env, VecGetLocalSize(Solution(), &n), env.Undefined());
    for (uint32_t i = 0; i < pts.Length(); i++) {
      Napi::Value p = pts.Get(i);
      if (!IsTyped(p, napi_float64_array) || (PetscInt)p.As<Napi::Float64Array>().ElementLength() != n)
        PML_RANGE_THROW(env, "petscml: Tao.replayLMVM: point " + std::to_string(i) + " must be a Float64Array of this rank's " + std::to_string(n) + " entries", env.Undefined());
    }
    const char *type = nullptr;
    TaoGetType(h_, &type);
    if (type && !strcmp(type, TAOLMVM)) PML_CHECK(env, TaoLMVMRecycle(h_, PETSC_TRUE), env.Undefined());
    Vec X = nullptr, G = nullptr;
    PML_CHECK(env, VecDuplicate(Solution(), &X), env.Undefined());
    PetscErrorCode ierr = VecDuplicate(Solution(), &G);
    for (uint32_t i = 0; !ierr && i < pts.Length(); i += 2) {
      const double *x = pts.Get(i).As<Napi::Float64Array>().Data(), *g = pts.Get(i + 1).As<Napi::Float64Array>().Data();
      PetscScalar *a = nullptr;
      ierr = VecGetArray(X, &a);
      if (ierr) break;
      for (PetscInt j = 0; j < n; j++) a[j] = x[j];
      VecRestoreArray(X, &a);
      ierr = VecGetArray(G, &a);
      if (ierr) break;
      for (PetscInt j = 0; j < n; j++) a[j] = g[j];
      VecRestoreArray(G, &a);
      ierr = MatLMVMUpdate(M, X, G);
    }
    VecDestroy(&X);
    VecDestroy(&G);
    PML_CHECK_CODE(env, ierr, env.Undefined());
    PetscInt nup = 0;
    PML_CHECK(env, MatLMVMGetUpdateCount(M, &nup), env.Undefined());
    return Napi::Number::New(env, (double)nup);
  }

  Napi::Value Stop(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (!C()->inSolve) PML_THROW(env, "petscml: Tao.stop: no solve is running (call it from a monitor or a callback of this Tao's solve)", env.Undefined());
    PML_CHECK(env, TaoSetConvergedReason(h_, TAO_CONVERGED_USER), env.Undefined());
    return env.Undefined();
  }
};

Napi::FunctionReference *TaoWrap::ctor = nullptr;
void InitTao(Napi::Env env, Napi::Object exports) { TaoWrap::Init(env, exports); }

} // namespace pml
