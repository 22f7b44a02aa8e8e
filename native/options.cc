// The PETSc options database: set, get, clear, list. Prefixes are applied in TypeScript.
#include "wrap.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace pml {
namespace {

std::string Name(const Napi::Value &v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  return s.size() && s[0] == '-' ? s : "-" + s;
}

// PETSc's own parser wraps an integer above 2^31-1 (-tao_max_it 4294967297 became 1): refuse any
// value written as an integer that PetscInt cannot hold. Reals written with a point or an
// exponent are left alone.
std::string IntValueError(const std::string &name, const std::string &value) {
  size_t i = (value[0] == '+' || value[0] == '-') ? 1 : 0;
  if (value.size() <= i || value.find_first_not_of("0123456789", i) != std::string::npos) return "";
  std::string digits = value.substr(i);
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
  bool over = digits.size() > 10 || std::stod(digits) > (double)PETSC_MAX_INT;
  if (!over) return "";
  return "petscml: option " + name + ": " + value + " is outside the range of a PetscInt (an integer in [-2147483647, 2147483647]); "
         "write a real as 4.2e9 if one was meant";
}

Napi::Value SetValue(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) PML_TYPE_THROW(env, "petscml: Options: an option name must be a string", env.Undefined());
  std::string name = Name(info[0]);
  if (info[1].IsString()) {
    std::string e = IntValueError(name, info[1].As<Napi::String>().Utf8Value());
    if (!e.empty()) PML_RANGE_THROW(env, e, env.Undefined());
  }
  std::string value = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  PML_CHECK(env, PetscOptionsSetValue(nullptr, name.c_str(), info[1].IsString() ? value.c_str() : nullptr), env.Undefined());
  return env.Undefined();
}

// getValue(name) -> string ('' for a flag without value) or null when unset.
Napi::Value GetValue(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name = Name(info[0]);
  PetscBool has = PETSC_FALSE, set = PETSC_FALSE;
  PML_CHECK(env, PetscOptionsHasName(nullptr, nullptr, name.c_str(), &has), env.Undefined());
  if (!has) return env.Null();
  char buf[4096] = {0};
  PML_CHECK(env, PetscOptionsGetString(nullptr, nullptr, name.c_str(), buf, sizeof buf, &set), env.Undefined());
  return Napi::String::New(env, set ? buf : "");
}

Napi::Value ClearValue(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name = Name(info[0]);
  PML_CHECK(env, PetscOptionsClearValue(nullptr, name.c_str()), env.Undefined());
  return env.Undefined();
}

Napi::Value InsertString(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) PML_TYPE_THROW(env, "petscml: Options.insert: expected a string", env.Undefined());
  std::string text = info[0].As<Napi::String>().Utf8Value();
  std::istringstream words(text);
  std::string word, name = "?";
  while (words >> word) {
    if (word.size() > 1 && word[0] == '-' && !isdigit((unsigned char)word[1])) {
      name = word;
      continue;
    }
    std::string e = IntValueError(name, word);
    if (!e.empty()) PML_RANGE_THROW(env, e, env.Undefined());
  }
  PML_CHECK(env, PetscOptionsInsertString(nullptr, text.c_str()), env.Undefined());
  return env.Undefined();
}

Napi::Value GetAll(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  char *all = nullptr;
  PML_CHECK(env, PetscOptionsGetAll(nullptr, &all), env.Undefined());
  Napi::String s = Napi::String::New(env, all ? all : "");
  PetscFree(all);
  return s;
}

// used(name) -> whether PETSc has queried the option since it was set (what -options_left reports).
Napi::Value Used(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  // The database keeps names without their dash, and PetscOptionsUsed compares them verbatim.
  std::string name = Name(info[0]).substr(1);
  PetscBool used = PETSC_FALSE;
  PML_CHECK(env, PetscOptionsUsed(nullptr, name.c_str(), &used), env.Undefined());
  return Napi::Boolean::New(env, used);
}

} // namespace

void InitOptions(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("setValue", Napi::Function::New(env, SetValue));
  o.Set("getValue", Napi::Function::New(env, GetValue));
  o.Set("clearValue", Napi::Function::New(env, ClearValue));
  o.Set("insertString", Napi::Function::New(env, InsertString));
  o.Set("getAll", Napi::Function::New(env, GetAll));
  o.Set("used", Napi::Function::New(env, Used));
  exports.Set("options", o);
}

} // namespace pml
