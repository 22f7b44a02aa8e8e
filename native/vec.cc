// Vec: sequential or MPI-distributed vectors, copies in and out, zero-copy scoped views, algebra.
#include "wrap.h"

namespace pml {

class VecWrap : public Wrapped<VecWrap, Vec> {
public:
  static constexpr const char *kName = "Vec";
  // Never freed: a static FunctionReference was destroyed by exit() after Node had freed the env.
  static Napi::FunctionReference *ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Vec", {
      PML_COMMON_METHODS(VecWrap),
      InstanceMethod("getSize", &VecWrap::GetSize),
      InstanceMethod("getLocalSize", &VecWrap::GetLocalSize),
      InstanceMethod("getOwnershipRange", &VecWrap::GetOwnershipRange),
      InstanceMethod("set", &VecWrap::Set),
      InstanceMethod("setValues", &VecWrap::SetValues),
      InstanceMethod("getValues", &VecWrap::GetValues),
      InstanceMethod("toArray", &VecWrap::ToArray),
      InstanceMethod("setArray", &VecWrap::SetArray),
      InstanceMethod("withArray", &VecWrap::WithArray),
      InstanceMethod("duplicate", &VecWrap::Duplicate),
      InstanceMethod("copy", &VecWrap::Copy),
      InstanceMethod("norm", &VecWrap::Norm),
      InstanceMethod("dot", &VecWrap::Dot),
      InstanceMethod("axpy", &VecWrap::Axpy),
      InstanceMethod("aypx", &VecWrap::Aypx),
      InstanceMethod("scale", &VecWrap::Scale),
      InstanceMethod("sum", &VecWrap::Sum),
      InstanceMethod("gatherAll", &VecWrap::GatherAll),
    });
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("Vec", f);
  }

  // new Vec(comm: 'self'|'world', localSize: number (-1 = decide), globalSize: number (-1 = decide))
  explicit VecWrap(const Napi::CallbackInfo &info) : Wrapped(info) {
    if (IsAdopting(info)) return;
    Napi::Env env = info.Env();
    MPI_Comm comm = CommFrom(info[0]);
    PetscInt n = info[1].As<Napi::Number>().Int64Value(), N = info[2].As<Napi::Number>().Int64Value();
    PML_CHECK(env, VecCreate(comm, &h_), );
    PML_CHECK(env, VecSetSizes(h_, n < 0 ? PETSC_DECIDE : n, N < 0 ? PETSC_DECIDE : N), );
    PML_CHECK(env, VecSetFromOptions(h_), );
  }

private:
  Napi::Value GetSize(const Napi::CallbackInfo &info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    PetscInt n;
    PML_CHECK(info.Env(), VecGetSize(h_, &n), info.Env().Undefined());
    return Napi::Number::New(info.Env(), n);
  }
  Napi::Value GetLocalSize(const Napi::CallbackInfo &info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    PetscInt n;
    PML_CHECK(info.Env(), VecGetLocalSize(h_, &n), info.Env().Undefined());
    return Napi::Number::New(info.Env(), n);
  }
  Napi::Value GetOwnershipRange(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscInt lo, hi;
    PML_CHECK(env, VecGetOwnershipRange(h_, &lo, &hi), env.Undefined());
    Napi::Array r = Napi::Array::New(env, 2);
    r.Set(0u, Napi::Number::New(env, lo));
    r.Set(1u, Napi::Number::New(env, hi));
    return r;
  }
  Napi::Value Set(const Napi::CallbackInfo &info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    PML_CHECK(info.Env(), VecSet(h_, info[0].As<Napi::Number>().DoubleValue()), info.Env().Undefined());
    return info.This();
  }
  // setValues(indices: Int32Array (global), values: Float64Array, add: boolean) then assembles.
  // Collective: every rank calls it, with possibly empty arrays.
  Napi::Value SetValues(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Napi::Int32Array idx = info[0].As<Napi::Int32Array>();
    Napi::Float64Array val = info[1].As<Napi::Float64Array>();
    InsertMode mode = info[2].ToBoolean() ? ADD_VALUES : INSERT_VALUES;
    std::vector<PetscInt> ix(idx.Data(), idx.Data() + idx.ElementLength());
    PML_CHECK(env, VecSetValues(h_, (PetscInt)ix.size(), ix.data(), val.Data(), mode), env.Undefined());
    PML_CHECK(env, VecAssemblyBegin(h_), env.Undefined());
    PML_CHECK(env, VecAssemblyEnd(h_), env.Undefined());
    return info.This();
  }
  // getValues(indices: Int32Array of locally owned global indices) -> Float64Array
  Napi::Value GetValues(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Napi::Int32Array idx = info[0].As<Napi::Int32Array>();
    std::vector<PetscInt> ix(idx.Data(), idx.Data() + idx.ElementLength());
    Napi::Float64Array out = Napi::Float64Array::New(env, ix.size());
    PML_CHECK(env, VecGetValues(h_, (PetscInt)ix.size(), ix.data(), out.Data()), env.Undefined());
    return out;
  }
  Napi::Value ToArray(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscInt n;
    const PetscScalar *a;
    PML_CHECK(env, VecGetLocalSize(h_, &n), env.Undefined());
    Napi::Float64Array out = Napi::Float64Array::New(env, n);
    PML_CHECK(env, VecGetArrayRead(h_, &a), env.Undefined());
    if (n) std::copy(a, a + n, out.Data());
    PML_CHECK(env, VecRestoreArrayRead(h_, &a), env.Undefined());
    return out;
  }
  Napi::Value SetArray(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Napi::Float64Array in = info[0].As<Napi::Float64Array>();
    PetscInt n;
    PML_CHECK(env, VecGetLocalSize(h_, &n), env.Undefined());
    if ((PetscInt)in.ElementLength() != n)
      PML_THROW(env, "setArray: array length " + std::to_string(in.ElementLength()) + " does not match the local size " + std::to_string(n), env.Undefined());
    PetscScalar *a;
    PML_CHECK(env, VecGetArrayWrite(h_, &a), env.Undefined());
    if (n) std::copy(in.Data(), in.Data() + n, a);
    PML_CHECK(env, VecRestoreArrayWrite(h_, &a), env.Undefined());
    return info.This();
  }
  // withArray(fn): calls fn(view) with a zero-copy view of the local part; the view is detached
  // when withArray returns. Writes through the view are seen by PETSc.
  Napi::Value WithArray(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Napi::Function fn = info[0].As<Napi::Function>();
    PetscInt n;
    PetscScalar *a;
    PML_CHECK(env, VecGetLocalSize(h_, &n), env.Undefined());
    Napi::Value r;
    {
      CallbackScope scope(env);
      ResetErrorRecord();
      PML_CHECK(env, VecGetArray(h_, &a), env.Undefined());
      r = fn.Call({ViewOf(env, h_, a, n)});
      PetscErrorCode ierr = VecRestoreArray(h_, &a);
      if (env.IsExceptionPending()) return env.Undefined();
      PML_CHECK_CODE(env, ierr, env.Undefined());
    }
    return r;
  }
  Napi::Value Duplicate(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    Vec d;
    PML_CHECK(env, VecDuplicate(h_, &d), env.Undefined());
    Napi::Object o = Adopt(env, d);
    PetscObjectDereference(reinterpret_cast<PetscObject>(d));
    return o;
  }
  // copy(dst): dst <- this
  Napi::Value Copy(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecWrap *d = From(env, info[0], "copy destination");
    if (!d) return env.Undefined();
    PML_CHECK(env, VecCopy(h_, d->h_), env.Undefined());
    return info[0];
  }
  Napi::Value Norm(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    std::string t = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "2";
    NormType nt = t == "1" ? NORM_1 : t == "inf" ? NORM_INFINITY : NORM_2;
    PetscReal r;
    PML_CHECK(env, VecNorm(h_, nt, &r), env.Undefined());
    return Napi::Number::New(env, r);
  }
  Napi::Value Dot(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecWrap *o = From(env, info[0], "dot");
    if (!o) return env.Undefined();
    PetscScalar r;
    PML_CHECK(env, VecDot(h_, o->h_, &r), env.Undefined());
    return Napi::Number::New(env, r);
  }
  // axpy(alpha, x): this <- this + alpha x
  Napi::Value Axpy(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecWrap *x = From(env, info[1], "axpy");
    if (!x) return env.Undefined();
    PML_CHECK(env, VecAXPY(h_, info[0].As<Napi::Number>().DoubleValue(), x->h_), env.Undefined());
    return info.This();
  }
  // aypx(alpha, x): this <- x + alpha this
  Napi::Value Aypx(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecWrap *x = From(env, info[1], "aypx");
    if (!x) return env.Undefined();
    PML_CHECK(env, VecAYPX(h_, info[0].As<Napi::Number>().DoubleValue(), x->h_), env.Undefined());
    return info.This();
  }
  Napi::Value Scale(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PML_CHECK(env, VecScale(h_, info[0].As<Napi::Number>().DoubleValue()), env.Undefined());
    return info.This();
  }
  Napi::Value Sum(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PetscScalar s;
    PML_CHECK(env, VecSum(h_, &s), env.Undefined());
    return Napi::Number::New(env, s);
  }
  // gatherAll(): the whole vector on every rank, as a new Float64Array (collective).
  Napi::Value GatherAll(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecScatter sc;
    Vec all;
    PML_CHECK(env, VecScatterCreateToAll(h_, &sc, &all), env.Undefined());
    ResetErrorRecord();
    PetscErrorCode ierr = VecScatterBegin(sc, h_, all, INSERT_VALUES, SCATTER_FORWARD);
    if (!ierr) ierr = VecScatterEnd(sc, h_, all, INSERT_VALUES, SCATTER_FORWARD);
    PetscInt n = 0;
    const PetscScalar *a = nullptr;
    if (!ierr) ierr = VecGetLocalSize(all, &n);
    Napi::Float64Array out = Napi::Float64Array::New(env, ierr ? 0 : n);
    if (!ierr) ierr = VecGetArrayRead(all, &a);
    if (!ierr) {
      if (n) std::copy(a, a + n, out.Data());
      ierr = VecRestoreArrayRead(all, &a);
    }
    VecScatterDestroy(&sc);
    VecDestroy(&all);
    PML_CHECK_CODE(env, ierr, env.Undefined());
    return out;
  }
  friend Vec VecFrom(Napi::Env, const Napi::Value &, const char *);
  friend Napi::Object WrapVec(Napi::Env, Vec);
};

Napi::FunctionReference *VecWrap::ctor = nullptr;

Vec VecFrom(Napi::Env env, const Napi::Value &v, const char *what) {
  VecWrap *w = VecWrap::From(env, v, what);
  return w ? w->handle() : nullptr;
}
Napi::Object WrapVec(Napi::Env env, Vec v) { return VecWrap::Adopt(env, v); }
void InitVec(Napi::Env env, Napi::Object exports) { VecWrap::Init(env, exports); }

} // namespace pml
