// Vec: sequential or MPI-distributed vectors, copies in and out, zero-copy scoped views, algebra.
#include "wrap.h"

#include <cmath>

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

  // new Vec(comm: 'self'|'world', localSize: number | null (decide), globalSize: number | null (decide))
  explicit VecWrap(const Napi::CallbackInfo &info) : Wrapped(info) {
    if (IsAdopting(info) || info.Env().IsExceptionPending()) return; // adopted, or refused by Wrapped
    Napi::Env env = info.Env();
    MPI_Comm comm = CommFrom(info[0]);
    PetscInt n = -1, N = -1;
    bool given[2] = {!info[1].IsUndefined() && !info[1].IsNull(), !info[2].IsUndefined() && !info[2].IsNull()};
    // Checked before any rank leaves: a bad size on one rank fails every rank (Agree).
    std::string err;
    bool typeErr = false;
    if (!given[0] && !given[1]) err = "petscml: Vec.create: a local or a global size is needed";
    if (err.empty() && given[0]) err = IntError(info[1], "Vec.create: local size", 0, PETSC_MAX_INT, &n), typeErr = !info[1].IsNumber();
    if (err.empty() && given[1]) err = IntError(info[2], "Vec.create: global size", 0, PETSC_MAX_INT, &N), typeErr = !info[2].IsNumber();
    if (!Agree(env, comm, "Vec.create", {{"the vector size", given[1] ? (double)N : -1.0}}, err, typeErr)) return;
    if (given[0] && !CheckLocalSum(env, comm, "Vec.create", "local sizes", n)) return;
    CollectGarbage(comm);
    PML_CHECK(env, VecCreate(comm, &h_), );
    PML_CHECK(env, VecSetSizes(h_, n < 0 ? PETSC_DECIDE : n, N < 0 ? PETSC_DECIDE : N), );
    PML_CHECK(env, VecSetFromOptions(h_), );
    PetscInt nl = 0;
    VecGetLocalSize(h_, &nl);
    SetExternal(env, kObjectBytes + 8 * (int64_t)nl);
  }

private:
  // Binary operations on distributed vectors: PETSc checks layouts on each rank, so a mismatch
  // found on some ranks only left the others in the operation's collective (or out of step).
  bool Compatible(Napi::Env env, const char *where, Vec o) {
    int size = 1;
    MPI_Comm_size(PetscObjectComm(reinterpret_cast<PetscObject>(h_)), &size);
    if (size == 1) return true;
    std::string err = SameComm(reinterpret_cast<PetscObject>(h_), reinterpret_cast<PetscObject>(o), where, "other Vec", "Vec");
    PetscInt n1 = 0, n2 = 0, N1 = 0, N2 = 0;
    VecGetLocalSize(h_, &n1);
    VecGetLocalSize(o, &n2);
    VecGetSize(h_, &N1);
    VecGetSize(o, &N2);
    if (err.empty() && (n1 != n2 || N1 != N2))
      err = std::string("petscml: ") + where + ": the vectors are laid out differently on rank " + std::to_string(WorldRank()) + " (" +
            std::to_string(n1) + " of " + std::to_string(N1) + " entries here, " + std::to_string(n2) + " of " + std::to_string(N2) + " in the other)";
    return Agree(env, PetscObjectComm(reinterpret_cast<PetscObject>(h_)), where, {}, err);
  }
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
    bool i32 = IsTyped(info[0], napi_int32_array);
    if (!i32 && !IsTyped(info[0], napi_float64_array))
      PML_TYPE_THROW(env, "petscml: Vec.setValues: indices must be an Int32Array or a Float64Array", env.Undefined());
    if (!IsTyped(info[1], napi_float64_array)) PML_TYPE_THROW(env, "petscml: Vec.setValues: values must be a Float64Array", env.Undefined());
    Napi::TypedArray idx = info[0].As<Napi::TypedArray>();
    Napi::Float64Array val = info[1].As<Napi::Float64Array>();
    InsertMode mode = info[2].ToBoolean() ? ADD_VALUES : INSERT_VALUES;
    PetscInt N;
    PML_CHECK(env, VecGetSize(h_, &N), env.Undefined());
    // Collective (assembly): a bad index on one rank must fail every rank, not leave the others
    // waiting in VecAssemblyEnd.
    std::string err;
    size_t count = idx.ElementLength();
    std::vector<PetscInt> ix(count);
    if (val.ElementLength() != count)
      err = "petscml: Vec.setValues: " + std::to_string(count) + " indices but " + std::to_string(val.ElementLength()) + " values";
    for (size_t i = 0; i < count && err.empty(); i++) {
      double k = i32 ? idx.As<Napi::Int32Array>()[i] : idx.As<Napi::Float64Array>()[i];
      if (!(k >= 0 && k < (double)N && k == std::floor(k))) {
        err = "petscml: Vec.setValues: indices[" + std::to_string(i) + "]: expected an integer in [0, " + std::to_string(N) + "), got " +
              Napi::Number::New(env, k).ToString().Utf8Value();
      }
      ix[i] = (PetscInt)k;
    }
    if (!Agree(env, PetscObjectComm(reinterpret_cast<PetscObject>(h_)), "Vec.setValues", {}, err)) return env.Undefined();
    PML_CHECK(env, VecSetValues(h_, (PetscInt)ix.size(), ix.data(), val.Data(), mode), env.Undefined());
    PML_CHECK(env, VecAssemblyBegin(h_), env.Undefined());
    PML_CHECK(env, VecAssemblyEnd(h_), env.Undefined());
    return info.This();
  }
  // getValues(indices: Int32Array of locally owned global indices) -> Float64Array
  Napi::Value GetValues(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (!IsTyped(info[0], napi_int32_array)) PML_TYPE_THROW(env, "petscml: Vec.getValues: indices must be an Int32Array", env.Undefined());
    Napi::Int32Array idx = info[0].As<Napi::Int32Array>();
    std::vector<PetscInt> ix(idx.Data(), idx.Data() + idx.ElementLength());
    PetscInt lo, hi;
    PML_CHECK(env, VecGetOwnershipRange(h_, &lo, &hi), env.Undefined());
    for (PetscInt i : ix)
      if (i < lo || i >= hi)
        PML_RANGE_THROW(env, "petscml: Vec.getValues: index " + std::to_string(i) + " is not owned by this rank (owns [" + std::to_string(lo) + ", " + std::to_string(hi) + "))", env.Undefined());
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
    Napi::Float64Array out = Napi::Float64Array::New(env, static_cast<size_t>(n));
    PML_CHECK(env, VecGetArrayRead(h_, &a), env.Undefined());
    if (n) std::copy(a, a + n, out.Data());
    PML_CHECK(env, VecRestoreArrayRead(h_, &a), env.Undefined());
    return out;
  }
  Napi::Value SetArray(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (!IsTyped(info[0], napi_float64_array)) PML_TYPE_THROW(env, "petscml: Vec.setArray: expected a Float64Array", env.Undefined());
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
    if (!info[0].IsFunction()) PML_TYPE_THROW(env, "petscml: Vec.withArray: expected a function", env.Undefined());
    Napi::Function fn = info[0].As<Napi::Function>();
    PetscInt n;
    PetscScalar *a;
    PML_CHECK(env, VecGetLocalSize(h_, &n), env.Undefined());
    Napi::Value r;
    {
      CallbackScope scope(env);
      Borrow held(reinterpret_cast<PetscObject>(h_), "withArray()");
      ResetErrorRecord();
      PML_CHECK(env, VecGetArray(h_, &a), env.Undefined());
      r = Invoke(env, fn, "withArray", {ViewOf(env, h_, a, n)});
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
    if (!d || !Compatible(env, "Vec.copy", d->h_)) return env.Undefined();
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
    if (!o || !Compatible(env, "Vec.dot", o->h_)) return env.Undefined();
    PetscScalar r;
    PML_CHECK(env, VecDot(h_, o->h_, &r), env.Undefined());
    return Napi::Number::New(env, r);
  }
  // axpy(alpha, x): this <- this + alpha x
  Napi::Value Axpy(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecWrap *x = From(env, info[1], "axpy");
    if (!x || !Compatible(env, "Vec.axpy", x->h_)) return env.Undefined();
    PML_CHECK(env, VecAXPY(h_, info[0].As<Napi::Number>().DoubleValue(), x->h_), env.Undefined());
    return info.This();
  }
  // aypx(alpha, x): this <- x + alpha this
  Napi::Value Aypx(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    VecWrap *x = From(env, info[1], "aypx");
    if (!x || !Compatible(env, "Vec.aypx", x->h_)) return env.Undefined();
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
