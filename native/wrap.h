// One template for every wrapped PETSc object: ownership, type-checked unwrapping, destroy().
#pragma once
#include "common.h"

namespace pml {

bool PetscIsLive(); // initialized and not yet finalized
bool EnvAlive();     // the Node environment has not been torn down

// A wrapper collected by the GC hands its PETSc object here: a finalizer runs inside garbage
// collection, possibly in the middle of a PETSc call, where destroying an object (which may run
// its callbacks' Node-API clean-up) is not safe. BuryDead() destroys them at the next native
// entry point outside any callback (a new object, a solve, finalize).
void Bury(PetscObject o);
// The external memory of a collected wrapper, given back to V8 at the next native entry point
// (a finalizer runs inside GC, where Node-API may not adjust it).
void BuryExternal(napi_env env, int64_t bytes);
void BuryDead();
// BuryDead, then (collective on comm, outside callbacks) destroys the distributed objects that
// every rank of comm has buried. Called where the ranks are in step anyway: creating a
// distributed Vec or ShellMat, solving, allreduce, finalize, collectGarbage().
void CollectGarbage(MPI_Comm comm);

// A callback set on a wrapped object is held by the wrapper's JS object (a hidden property) and
// by the PETSc object only weakly. Callbacks usually reach their own wrapper (a monitor reading
// tao.status, closures sharing a scope with the objects they were made for), and a strong
// reference from native memory made that cycle immortal: every Tao, Mat or PC dropped without
// destroy() stayed alive for good. PETSc calls them only while the wrapper is reachable: from the
// wrapper's own methods, or from an owner's (Tao, KSP) that keeps its operators and borrowed
// objects (the TypeScript classes do).
inline Napi::FunctionReference HoldCallback(const Napi::Value &self, const std::string &name, const Napi::Value &fn) {
  Napi::Env env = self.Env();
  self.As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value(
      "petscml_callback_" + name, fn.IsFunction() ? fn : env.Undefined(), static_cast<napi_property_attributes>(napi_writable | napi_configurable)));
  return fn.IsFunction() && !env.IsExceptionPending() ? Napi::Weak(fn.As<Napi::Function>()) : Napi::FunctionReference();
}

// What one PETSc object's header and bookkeeping take (measured: a Vec of 10 entries, 2.2 KB).
constexpr int64_t kObjectBytes = 2048;

template <class T, class H> class Wrapped : public Napi::ObjectWrap<T> {
public:
  explicit Wrapped(const Napi::CallbackInfo &info) : Napi::ObjectWrap<T>(info) {
    // The native classes are reachable before initialize() (through the addon itself): their
    // constructors' first MPI call then aborted the process.
    if (!PetscIsLive()) {
      pml::Throw(info.Env(), std::string("petscml: cannot create a ") + T::kName + ": PETSc is not initialized (or has been finalized)");
      return;
    }
    if (RefusedWhileAsync(info.Env(), (std::string("new ") + T::kName).c_str())) return;
    BuryDead();
    // ObjectWrap keeps the reference napi_wrap returns, and its finalizer hands the deletion of
    // that reference to a later turn of the event loop (node_api_post_finalizer): in a
    // synchronous loop every collected wrapper held ~200 B until the loop ended. Re-wrapped with
    // no result reference, Node owns the wrap's record and frees it as the finalizer runs.
    if (this->IsEmpty()) return;
    napi_env env = info.Env();
    env_of_ctor_ = env;
    env_ = env;
    self_ = info.This();
    if (napi_remove_wrap(env, self_, nullptr) != napi_ok) { // keeps ObjectWrap's own wrap
      self_ = nullptr;
      return;
    }
    this->Reset();
    if (napi_wrap(env, self_, static_cast<T *>(this), &Wrapped::Finalize, nullptr, nullptr) != napi_ok) {
      self_ = nullptr;
      pml::Throw(env, std::string("petscml: could not wrap a new ") + T::kName);
    }
  }
  ~Wrapped() override {
    // Deleted outside the finalizer only when the constructor failed (node-addon-api deletes the
    // instance in the constructor's own scope, where self_ is still valid): unhook it first, or
    // the finalizer would delete it again.
    if (!finalized_ && self_) napi_remove_wrap(env_of_ctor_, self_, nullptr);
    if (external_ && env_) BuryExternal(env_, external_);
    // GC finalizers may run after PetscFinalize (exit hooks run first): then there is nothing to free.
    if (h_ && PetscIsLive()) Bury(reinterpret_cast<PetscObject>(h_));
    h_ = nullptr;
  }

  H handle() const { return h_; }

  // Unwraps `v` only if it is an instance of T that is still alive; else throws and returns nullptr.
  static T *From(Napi::Env env, const Napi::Value &v, const char *what) {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(T::ctor->Value())) {
      pml::ThrowType(env, std::string("expected a ") + T::kName + " for " + what);
      return nullptr;
    }
    T *t = T::Unwrap(v.As<Napi::Object>());
    if (!t->Alive(env)) return nullptr;
    if (!t->h_) {
      pml::Throw(env, std::string("this ") + T::kName + " has been destroyed");
      return nullptr;
    }
    return t;
  }

  // Wraps an existing handle, taking a new reference to it.
  static Napi::Object Adopt(Napi::Env env, H h) {
    Napi::Object o = T::ctor->New({Napi::External<void>::New(env, nullptr)});
    T *t = T::Unwrap(o);
    PetscObjectReference(reinterpret_cast<PetscObject>(h));
    t->h_ = h;
    return o;
  }

protected:
  bool Alive(Napi::Env env) {
    if (RefusedWhileAsync(env, (std::string("this ") + T::kName).c_str())) return false;
    if (h_ && !PetscIsLive()) {
      pml::Throw(env, std::string("PETSc has been finalized: this ") + T::kName + " can no longer be used");
      return false;
    }
    if (h_) return true;
    pml::Throw(env, std::string("this ") + T::kName + " has been destroyed");
    return false;
  }
  static bool IsAdopting(const Napi::CallbackInfo &info) { return info.Length() == 1 && info[0].IsExternal(); }

  // Refuses to free an object a running native call still uses (its array, its product, its
  // solve): that used to free memory PETSc then read or wrote.
  bool NotInUse(Napi::Env env) {
    const char *by = h_ ? BorrowedBy(reinterpret_cast<PetscObject>(h_)) : nullptr;
    if (!by) return true;
    pml::Throw(env, std::string("petscml: cannot destroy this ") + T::kName + ": it is in use by " + by +
                              " (destroy it after that call returns)");
    return false;
  }
  // The native memory this wrapper's object holds, as V8 is told (an estimate): V8 sees only the
  // small JS wrapper, so objects dropped without destroy() in a loop piled up native memory
  // (1.2 GB for 10,000 dropped L-BFGS solvers) before it ran a major collection.
  void SetExternal(napi_env env, int64_t bytes) {
    int64_t now = 0;
    if (bytes == external_ || napi_adjust_external_memory(env, bytes - external_, &now) != napi_ok) return;
    external_ = bytes;
  }

  Napi::Value Destroy(const Napi::CallbackInfo &info) {
    if (!NotInUse(info.Env())) return info.Env().Undefined();
    SetExternal(info.Env(), 0);
    if (h_ && PetscIsLive()) PML_CHECK(info.Env(), PetscObjectDestroy(reinterpret_cast<PetscObject *>(&h_)), info.Env().Undefined());
    h_ = nullptr;
    return info.Env().Undefined();
  }
  // Drops this wrapper's reference only, for a second wrapper of an object another wrapper still
  // holds (so the object lives on, and may be in use by a running call).
  Napi::Value DropReference(const Napi::CallbackInfo &info) {
    SetExternal(info.Env(), 0);
    if (h_ && PetscIsLive()) PetscObjectDestroy(reinterpret_cast<PetscObject *>(&h_));
    h_ = nullptr;
    return info.Env().Undefined();
  }
  Napi::Value IsDestroyed(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), h_ == nullptr); }
  Napi::Value GetPrefix(const Napi::CallbackInfo &info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    const char *p = nullptr;
    PML_CHECK(info.Env(), PetscObjectGetOptionsPrefix(reinterpret_cast<PetscObject>(h_), &p), info.Env().Undefined());
    return p ? Napi::String::New(info.Env(), p) : info.Env().Null();
  }
  Napi::Value GetTypeName(const Napi::CallbackInfo &info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    const char *t = nullptr;
    PML_CHECK(info.Env(), PetscObjectGetType(reinterpret_cast<PetscObject>(h_), &t), info.Env().Undefined());
    return t ? Napi::String::New(info.Env(), t) : info.Env().Null();
  }
  // The PETSc object's address (0 once destroyed): tells whether two wrappers hold the same object.
  Napi::Value GetId(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), static_cast<double>(reinterpret_cast<uintptr_t>(h_)));
  }
  Napi::Value GetCommSize(const Napi::CallbackInfo &info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    PetscMPIInt size = 1;
    MPI_Comm_size(PetscObjectComm(reinterpret_cast<PetscObject>(h_)), &size);
    return Napi::Number::New(info.Env(), size);
  }

  H h_ = nullptr;

private:
  // A basic finalizer: it runs inside garbage collection, so it calls no JS and no PETSc (the
  // destructor only buries the handle).
  static void Finalize(node_api_basic_env, void *data, void *) {
    T *t = static_cast<T *>(data);
    t->finalized_ = true;
    delete t;
  }
  napi_value self_ = nullptr;
  napi_env env_of_ctor_ = nullptr;
  napi_env env_ = nullptr;
  int64_t external_ = 0;
  bool finalized_ = false;
};

#define PML_COMMON_METHODS(T)                                                                      \
  T::InstanceMethod("destroy", &T::Destroy), T::InstanceMethod("isDestroyed", &T::IsDestroyed),    \
      T::InstanceMethod("getOptionsPrefix", &T::GetPrefix), T::InstanceMethod("getType", &T::GetTypeName), \
      T::InstanceMethod("getCommSize", &T::GetCommSize), T::InstanceMethod("getId", &T::GetId), \
      T::InstanceMethod("dropReference", &T::DropReference)

void InitVec(Napi::Env env, Napi::Object exports);
void InitMat(Napi::Env env, Napi::Object exports);
void InitKSP(Napi::Env env, Napi::Object exports);
void InitPC(Napi::Env env, Napi::Object exports);
void InitTao(Napi::Env env, Napi::Object exports);
void InitOptions(Napi::Env env, Napi::Object exports);
void InitEngine(Napi::Env env, Napi::Object exports);

Vec VecFrom(Napi::Env env, const Napi::Value &v, const char *what);
Napi::Object WrapVec(Napi::Env env, Vec v); // takes a new reference
Mat MatFrom(Napi::Env env, const Napi::Value &v, const char *what);
Napi::Object WrapKSP(Napi::Env env, KSP k);
Napi::Object WrapPC(Napi::Env env, PC p);

} // namespace pml

namespace pml {

// The JS closures a PETSc object calls back, stored on that object (composed as a PetscContainer),
// so that a callback lives exactly as long as the object that calls it.
struct Closures {
  napi_env env = nullptr;
  Napi::FunctionReference mult, multTranspose, getDiagonal; // Mat shell
  Napi::FunctionReference apply;                            // PC shell
  Napi::FunctionReference objective, gradient, objectiveAndGradient, hessian, update, monitor; // Tao
  bool sumObjective = true; // objective values are rank-local contributions, summed across ranks
  // Callbacks see full-length vectors on every rank and return this rank's contributions, which
  // are summed (replicated.cc); off: they see the locally owned blocks.
  bool replicated = false;
  // Tao: non-finite objective and gradient values go to TAO (see WantsFinite in tao.cc).
  bool allowNonFinite = false;
  bool inSolve = false;
  // Evaluation counts (TAO 3.18 exposes no totals for these).
  long nObjective = 0, nGradient = 0, nObjectiveAndGradient = 0, nHessian = 0, nMult = 0, nUpdate = 0;
  Napi::Reference<Napi::Object> keep; // JS objects the closures' owner must keep alive
};

// The closures composed on `o`, created on first use when `create` is set.
Closures *ClosuresOf(PetscObject o, bool create);
bool EnvAlive();
void MarkEnvDead();

// y = op(x) through a two-array closure (Mat shell mult, PC shell apply), with zero-copy views.
PetscErrorCode CallWithVecPair(PetscObject owner, Napi::FunctionReference Closures::*which, Vec x, Vec y,
                               const char *where);

// After a callback: stashes a pending exception, agrees with the other ranks of comm, and returns
// the PETSc error code every rank's trampoline must return (0 when nobody failed).
PetscErrorCode Consensus(Napi::Env env, MPI_Comm comm, bool failedHere, const char *where);

} // namespace pml
