// KSP: Krylov solvers with type, tolerances, prefix, operators (shell or not) and counts.
#include "wrap.h"

namespace pml {

class KSPWrap : public Wrapped<KSPWrap, KSP> {
public:
  static constexpr const char *kName = "KSP";
  // Never freed: a static FunctionReference was destroyed by exit() after Node had freed the env.
  static Napi::FunctionReference *ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "KSP", {
      PML_COMMON_METHODS(KSPWrap),
      InstanceMethod("setType", &KSPWrap::SetType),
      InstanceMethod("setOptionsPrefix", &KSPWrap::SetOptionsPrefix),
      InstanceMethod("setFromOptions", &KSPWrap::SetFromOptions),
      InstanceMethod("setOperators", &KSPWrap::SetOperators),
      InstanceMethod("setTolerances", &KSPWrap::SetTolerances),
      InstanceMethod("getTolerances", &KSPWrap::GetTolerances),
      InstanceMethod("getPC", &KSPWrap::GetPC),
      InstanceMethod("solve", &KSPWrap::Solve),
      InstanceMethod("getIterationNumber", &KSPWrap::GetIterationNumber),
      InstanceMethod("getConvergedReason", &KSPWrap::GetConvergedReason),
      InstanceMethod("getResidualNorm", &KSPWrap::GetResidualNorm),
    });
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("KSP", f);
  }

  explicit KSPWrap(const Napi::CallbackInfo &info) : Wrapped(info) {
    if (IsAdopting(info) || info.Env().IsExceptionPending()) return; // adopted, or refused by Wrapped
    PML_CHECK(info.Env(), KSPCreate(CommFrom(info[0]), &h_), );
  }

private:
  // Refuses re-entering a KSP that is solving (its own KSP.solve, or the Tao that owns it), or
  // swapping its operators then. Tolerances may change (Eisenstat-Walker forcing does, between
  // Newton steps).
  bool Idle(Napi::Env env, const char *what) {
    if (!Alive(env)) return false;
    if (!BorrowedBy(reinterpret_cast<PetscObject>(h_))) return true;
    pml::Throw(env, std::string("petscml: this KSP is busy: ") + what + " cannot be called from inside its own callbacks");
    return false;
  }
  Napi::Value SetType(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PML_CHECK(env, KSPSetType(h_, info[0].As<Napi::String>().Utf8Value().c_str()), env.Undefined());
    return info.This();
  }
  Napi::Value SetOptionsPrefix(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PML_CHECK(env, KSPSetOptionsPrefix(h_, info[0].IsString() ? info[0].As<Napi::String>().Utf8Value().c_str() : nullptr), env.Undefined());
    return info.This();
  }
  Napi::Value SetFromOptions(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PML_CHECK(env, KSPSetFromOptions(h_), env.Undefined());
    return info.This();
  }
  Napi::Value SetOperators(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "setOperators()")) return env.Undefined();
    Mat A = MatFrom(env, info[0], "operator");
    if (!A) return env.Undefined();
    Mat P = A;
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
      P = MatFrom(env, info[1], "preconditioning matrix");
      if (!P) return env.Undefined();
    }
    PetscInt M, N;
    PML_CHECK(env, MatGetSize(A, &M, &N), env.Undefined());
    std::string err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(A), "KSP.setOperators", "operator Mat", "KSP");
    if (err.empty() && P != A) err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(P), "KSP.setOperators", "preconditioning Mat", "KSP");
    if (!Agree(env, PetscObjectComm(reinterpret_cast<PetscObject>(h_)), "KSP.setOperators",
               {{"the number of operator rows", (double)M}, {"the number of operator columns", (double)N}}, err))
      return env.Undefined();
    PML_CHECK(env, KSPSetOperators(h_, A, P), env.Undefined());
    return info.This();
  }
  // setTolerances(rtol, atol, divtol, maxIts): NaN keeps the current value.
  Napi::Value SetTolerances(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    auto num = [&](int i) { double v = info[i].As<Napi::Number>().DoubleValue(); return v; };
    PetscReal rtol, atol, dtol;
    PetscInt maxit;
    PML_CHECK(env, KSPGetTolerances(h_, &rtol, &atol, &dtol, &maxit), env.Undefined());
    if (!std::isnan(num(0))) rtol = num(0);
    if (!std::isnan(num(1))) atol = num(1);
    if (!std::isnan(num(2))) dtol = num(2);
    if (!std::isnan(num(3)) && !GetInt(env, info[3], "KSP.setTolerances: maxIts", 0, &maxit)) return env.Undefined();
    PML_CHECK(env, KSPSetTolerances(h_, rtol, atol, dtol, maxit), env.Undefined());
    return info.This();
  }
  Napi::Value GetTolerances(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscReal rtol, atol, dtol;
    PetscInt maxit;
    PML_CHECK(env, KSPGetTolerances(h_, &rtol, &atol, &dtol, &maxit), env.Undefined());
    Napi::Object o = Napi::Object::New(env);
    o.Set("rtol", rtol);
    o.Set("atol", atol);
    o.Set("divtol", dtol);
    o.Set("maxIts", (double)maxit);
    return o;
  }
  Napi::Value GetPC(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PC pc;
    PML_CHECK(env, KSPGetPC(h_, &pc), env.Undefined());
    return WrapPC(env, pc);
  }
  Napi::Value Solve(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Idle(env, "solve()")) return env.Undefined();
    Vec b = VecFrom(env, info[0], "right-hand side");
    if (!b) return env.Undefined();
    Vec x = VecFrom(env, info[1], "solution");
    if (!x) return env.Undefined();
    PetscInt nb, nx;
    PML_CHECK(env, VecGetSize(b, &nb), env.Undefined());
    PML_CHECK(env, VecGetSize(x, &nx), env.Undefined());
    std::string err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(b), "KSP.solve", "right-hand side Vec", "KSP");
    if (err.empty()) err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(x), "KSP.solve", "solution Vec", "KSP");
    // PETSc checks layouts rank by rank: a mismatch on some ranks only left the others waiting.
    Mat A0 = nullptr;
    PetscBool hasA = PETSC_FALSE;
    KSPGetOperatorsSet(h_, &hasA, nullptr);
    if (hasA) KSPGetOperators(h_, &A0, nullptr);
    if (err.empty() && A0) {
      PetscInt m, n, lb, lx;
      MatGetLocalSize(A0, &m, &n);
      VecGetLocalSize(b, &lb);
      VecGetLocalSize(x, &lx);
      if (m != lb || n != lx)
        err = "petscml: KSP.solve: the operator's local block is " + std::to_string(m) + " x " + std::to_string(n) + " on rank " +
              std::to_string(WorldRank()) + " but b has " + std::to_string(lb) + " and x " + std::to_string(lx) + " entries there";
    }
    if (!Agree(env, PetscObjectComm(reinterpret_cast<PetscObject>(h_)), "KSP.solve",
               {{"the right-hand side size", (double)nb}, {"the solution size", (double)nx}}, err))
      return env.Undefined();
    CollectGarbage(PetscObjectComm(reinterpret_cast<PetscObject>(h_)));
    CallbackScope scope(env);
    InterruptScope interrupts;
    const char *by = "KSP.solve()";
    Mat A = nullptr, P = nullptr;
    PC pc = nullptr;
    KSPGetOperators(h_, &A, &P);
    KSPGetPC(h_, &pc);
    Borrow b0(reinterpret_cast<PetscObject>(h_), by), b1(reinterpret_cast<PetscObject>(b), by), b2(reinterpret_cast<PetscObject>(x), by),
        b3(reinterpret_cast<PetscObject>(A), by), b4(reinterpret_cast<PetscObject>(P != A ? P : nullptr), by),
        b5(reinterpret_cast<PetscObject>(pc), by);
    ResetErrorRecord();
    PetscErrorCode ierr = KSPSolve(h_, b, x);
    if (ierr) ResetAfterFailedSolve(h_);
    PML_CHECK_CODE(env, ierr, env.Undefined());
    return info[1];
  }
  Napi::Value GetIterationNumber(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscInt its;
    PML_CHECK(env, KSPGetIterationNumber(h_, &its), env.Undefined());
    return Napi::Number::New(env, its);
  }
  Napi::Value GetConvergedReason(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    KSPConvergedReason r;
    PML_CHECK(env, KSPGetConvergedReason(h_, &r), env.Undefined());
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", (double)r);
    o.Set("name", KSPConvergedReasons[r]);
    return o;
  }
  Napi::Value GetResidualNorm(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscReal r;
    PML_CHECK(env, KSPGetResidualNorm(h_, &r), env.Undefined());
    return Napi::Number::New(env, r);
  }
};

Napi::FunctionReference *KSPWrap::ctor = nullptr;
Napi::Object WrapKSP(Napi::Env env, KSP k) { return KSPWrap::Adopt(env, k); }
void InitKSP(Napi::Env env, Napi::Object exports) { KSPWrap::Init(env, exports); }

} // namespace pml
