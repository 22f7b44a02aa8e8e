// Mat: shell matrices whose mult / multTranspose / getDiagonal are JS closures.
#include "wrap.h"

namespace pml {
namespace {

PetscErrorCode ShellMult(Mat A, Vec x, Vec y) {
  return CallWithVecPair(reinterpret_cast<PetscObject>(A), &Closures::mult, x, y, "mult");
}
PetscErrorCode ShellMultTranspose(Mat A, Vec x, Vec y) {
  return CallWithVecPair(reinterpret_cast<PetscObject>(A), &Closures::multTranspose, x, y, "multTranspose");
}

PetscErrorCode ShellGetDiagonal(Mat A, Vec d) {
  PML_ON_JS_THREAD(ShellGetDiagonal(A, d));
  PetscObject o = reinterpret_cast<PetscObject>(A);
  Closures *c = ClosuresOf(o, false);
  if (!c || c->getDiagonal.IsEmpty()) SETERRQ(PetscObjectComm(o), PETSC_ERR_SUP, "this shell matrix has no getDiagonal callback");
  Napi::Env env(c->env);
  Napi::HandleScope scope(env);
  Replica *rep = nullptr;
  Vec ds = d;
  if (c->replicated) {
    PetscCall(ReplicaFor(o, d, &rep));
    ds = rep->out;
  }
  PetscScalar *da;
  PetscInt n;
  PetscCall(VecGetLocalSize(ds, &n));
  PetscCall(VecGetArray(ds, &da));
  MarkUnwritten(da, n);
  Invoke(env, c->getDiagonal, "getDiagonal", {ViewOf(env, ds, da, n)});
  bool failed = !CheckWritten(env, da, n, "getDiagonal", "the diagonal", true);
  PetscCall(VecRestoreArray(ds, &da));
  PetscCall(Consensus(env, PetscObjectComm(o), failed, "getDiagonal"));
  if (rep) PetscCall(ReplicaSum(rep, d));
  return 0;
}

} // namespace

class MatWrap : public Wrapped<MatWrap, Mat> {
public:
  static constexpr const char *kName = "Mat";
  // Never freed: a static FunctionReference was destroyed by exit() after Node had freed the env.
  static Napi::FunctionReference *ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Mat", {
      PML_COMMON_METHODS(MatWrap),
      InstanceMethod("getSize", &MatWrap::GetSize),
      InstanceMethod("getLocalSize", &MatWrap::GetLocalSize),
      InstanceMethod("setCallback", &MatWrap::SetCallback),
      InstanceMethod("mult", &MatWrap::Mult),
      InstanceMethod("multTranspose", &MatWrap::MultTranspose),
      InstanceMethod("getDiagonal", &MatWrap::GetDiagonal),
      InstanceMethod("getMultCount", &MatWrap::GetMultCount),
      InstanceMethod("setReplicated", &MatWrap::SetReplicated),
    });
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("Mat", f);
  }

  // new Mat(comm, m, n, M, N): a shell matrix (sizes -1 = PETSC_DECIDE).
  explicit MatWrap(const Napi::CallbackInfo &info) : Wrapped(info) {
    if (IsAdopting(info) || info.Env().IsExceptionPending()) return; // adopted, or refused by Wrapped
    Napi::Env env = info.Env();
    MPI_Comm comm = CommFrom(info[0]);
    // Sizes: null or undefined = PETSc decides. Checked on every rank before any rank leaves.
    const char *names[] = {nullptr, "ShellMat: localRows", "ShellMat: localCols", "ShellMat: rows", "ShellMat: cols"};
    PetscInt sz[5] = {0, -1, -1, -1, -1};
    std::string err;
    bool typeErr = false;
    for (int i = 1; i <= 4 && err.empty(); i++) {
      if (info[i].IsUndefined() || info[i].IsNull()) continue;
      err = IntError(info[i], names[i], 0, PETSC_MAX_INT, &sz[i]);
      typeErr = !info[i].IsNumber();
    }
    if (!Agree(env, comm, "ShellMat", {{"the number of rows", (double)sz[3]}, {"the number of columns", (double)sz[4]}}, err, typeErr)) return;
    if (sz[1] >= 0 && !CheckLocalSum(env, comm, "ShellMat", "local row counts", sz[1])) return;
    if (sz[2] >= 0 && !CheckLocalSum(env, comm, "ShellMat", "local column counts", sz[2])) return;
    CollectGarbage(comm);
    auto d = [](PetscInt v) { return v < 0 ? PETSC_DECIDE : v; };
    PML_CHECK(env, MatCreateShell(comm, d(sz[1]), d(sz[2]), d(sz[3]), d(sz[4]), nullptr, &h_), );
    SetExternal(env, 3 * kObjectBytes); // measured: 5.7 KB with one callback
    Closures *c = ClosuresOf(reinterpret_cast<PetscObject>(h_), true);
    c->env = env;
    PML_CHECK(env, MatShellSetOperation(h_, MATOP_MULT, (void (*)(void))ShellMult), );
    PML_CHECK(env, MatSetUp(h_), );
  }

private:
  Napi::Value GetSize(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscInt m, n;
    PML_CHECK(env, MatGetSize(h_, &m, &n), env.Undefined());
    Napi::Array r = Napi::Array::New(env, 2);
    r.Set(0u, Napi::Number::New(env, m));
    r.Set(1u, Napi::Number::New(env, n));
    return r;
  }
  Napi::Value GetLocalSize(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscInt m, n;
    PML_CHECK(env, MatGetLocalSize(h_, &m, &n), env.Undefined());
    Napi::Array r = Napi::Array::New(env, 2);
    r.Set(0u, Napi::Number::New(env, m));
    r.Set(1u, Napi::Number::New(env, n));
    return r;
  }
  // setCallback(name: 'mult'|'multTranspose'|'getDiagonal', fn | null)
  Napi::Value SetCallback(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (!info[0].IsString()) PML_TYPE_THROW(env, "petscml: ShellMat.setCallback: expected an operation name", env.Undefined());
    std::string name = info[0].As<Napi::String>().Utf8Value();
    Closures *c = ClosuresOf(reinterpret_cast<PetscObject>(h_), true);
    c->env = env;
    Napi::FunctionReference *slot = name == "mult" ? &c->mult : name == "multTranspose" ? &c->multTranspose
                                  : name == "getDiagonal" ? &c->getDiagonal : nullptr;
    if (!slot) PML_THROW(env, "unknown shell operation: " + name, env.Undefined());
    *slot = HoldCallback(info.This(), name, info[1]);
    if (env.IsExceptionPending()) return env.Undefined();
    if (name == "multTranspose")
      PML_CHECK(env, MatShellSetOperation(h_, MATOP_MULT_TRANSPOSE, slot->IsEmpty() ? nullptr : (void (*)(void))ShellMultTranspose), env.Undefined());
    if (name == "getDiagonal")
      PML_CHECK(env, MatShellSetOperation(h_, MATOP_GET_DIAGONAL, slot->IsEmpty() ? nullptr : (void (*)(void))ShellGetDiagonal), env.Undefined());
    return info.This();
  }
  Napi::Value Apply(const Napi::CallbackInfo &info, PetscErrorCode (*op)(Mat, Vec, Vec), const char *by) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Vec x = VecFrom(env, info[0], "x");
    if (!x) return env.Undefined();
    Vec y = VecFrom(env, info[1], "y");
    if (!y) return env.Undefined();
    // The shell's callbacks agree with the other ranks: a layout PETSc refuses on some ranks
    // only would leave the others waiting there. So every rank checks first, together.
    PetscObject self = reinterpret_cast<PetscObject>(h_);
    std::string err = SameComm(self, reinterpret_cast<PetscObject>(x), by, "input Vec", "Mat");
    if (err.empty()) err = SameComm(self, reinterpret_cast<PetscObject>(y), by, "output Vec", "Mat");
    if (err.empty()) {
      PetscInt m, n, lx, ly;
      MatGetLocalSize(h_, &m, &n);
      VecGetLocalSize(x, &lx);
      VecGetLocalSize(y, &ly);
      bool t = op == MatMultTranspose;
      if ((t ? m : n) != lx || (t ? n : m) != ly)
        err = std::string("petscml: ") + by + ": the matrix's local block is " + std::to_string(m) + " x " + std::to_string(n) + " on rank " +
              std::to_string(WorldRank()) + " but x has " + std::to_string(lx) + " and y " + std::to_string(ly) + " entries there";
    }
    if (!Agree(env, PetscObjectComm(self), by, {}, err)) return env.Undefined();
    CallbackScope scope(env);
    Borrow b0(reinterpret_cast<PetscObject>(h_), by), b1(reinterpret_cast<PetscObject>(x), by), b2(reinterpret_cast<PetscObject>(y), by);
    PML_CHECK(env, op(h_, x, y), env.Undefined());
    return info[1];
  }
  Napi::Value Mult(const Napi::CallbackInfo &info) { return Apply(info, MatMult, "ShellMat.mult()"); }
  Napi::Value MultTranspose(const Napi::CallbackInfo &info) { return Apply(info, MatMultTranspose, "ShellMat.multTranspose()"); }
  Napi::Value GetDiagonal(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Vec d = VecFrom(env, info[0], "diagonal");
    if (!d) return env.Undefined();
    CallbackScope scope(env);
    Borrow b0(reinterpret_cast<PetscObject>(h_), "ShellMat.getDiagonal()"), b1(reinterpret_cast<PetscObject>(d), "ShellMat.getDiagonal()");
    PML_CHECK(env, MatGetDiagonal(h_, d), env.Undefined());
    return info[0];
  }
  // setReplicated(on): closures see full-length vectors on every rank and write contributions.
  Napi::Value SetReplicated(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Closures *c = ClosuresOf(reinterpret_cast<PetscObject>(h_), true);
    c->replicated = info[0].ToBoolean();
    return info.This();
  }
  Napi::Value GetMultCount(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Closures *c = ClosuresOf(reinterpret_cast<PetscObject>(h_), false);
    return Napi::Number::New(env, c ? (double)c->nMult : 0.0);
  }
};

Napi::FunctionReference *MatWrap::ctor = nullptr;

Mat MatFrom(Napi::Env env, const Napi::Value &v, const char *what) {
  MatWrap *w = MatWrap::From(env, v, what);
  return w ? w->handle() : nullptr;
}
void InitMat(Napi::Env env, Napi::Object exports) { MatWrap::Init(env, exports); }

} // namespace pml
