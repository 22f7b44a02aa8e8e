// PC: preconditioner type, and a shell preconditioner whose apply is a JS closure.
#include "wrap.h"

namespace pml {
namespace {

PetscErrorCode ShellApply(PC pc, Vec x, Vec y) {
  return CallWithVecPair(reinterpret_cast<PetscObject>(pc), &Closures::apply, x, y, "PC apply");
}

} // namespace

class PCWrap : public Wrapped<PCWrap, PC> {
public:
  static constexpr const char *kName = "PC";
  // Never freed: a static FunctionReference was destroyed by exit() after Node had freed the env.
  static Napi::FunctionReference *ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "PC", {
      PML_COMMON_METHODS(PCWrap),
      InstanceMethod("setType", &PCWrap::SetType),
      InstanceMethod("setShellApply", &PCWrap::SetShellApply),
    });
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("PC", f);
  }

  explicit PCWrap(const Napi::CallbackInfo &info) : Wrapped(info) {
    if (IsAdopting(info) || info.Env().IsExceptionPending()) return; // adopted, or refused by Wrapped
    PML_CHECK(info.Env(), PCCreate(CommFrom(info[0]), &h_), );
  }

private:
  Napi::Value SetType(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    PML_CHECK(env, PCSetType(h_, info[0].As<Napi::String>().Utf8Value().c_str()), env.Undefined());
    return info.This();
  }
  // setShellApply(fn(x, y)): makes this a PCSHELL applying y = M^{-1} x through fn.
  Napi::Value SetShellApply(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (!info[0].IsFunction()) PML_TYPE_THROW(env, "petscml: PC.setShell: expected a function", env.Undefined());
    PML_CHECK(env, PCSetType(h_, PCSHELL), env.Undefined());
    Closures *c = ClosuresOf(reinterpret_cast<PetscObject>(h_), true);
    c->env = env;
    c->apply = HoldCallback(info.This(), "apply", info[0]);
    if (env.IsExceptionPending()) return env.Undefined();
    PML_CHECK(env, PCShellSetApply(h_, ShellApply), env.Undefined());
    return info.This();
  }
};

Napi::FunctionReference *PCWrap::ctor = nullptr;
Napi::Object WrapPC(Napi::Env env, PC p) { return PCWrap::Adopt(env, p); }
void InitPC(Napi::Env env, Napi::Object exports) { PCWrap::Init(env, exports); }

} // namespace pml
