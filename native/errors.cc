// PETSc errors as typed JS errors, and JS exceptions carried through PETSc's C frames.
//
// A JS exception raised inside a callback is taken off the env (so no exception is pending while
// PETSc's C code runs), kept here, and the trampoline returns PETSC_ERR_USER. PETSc unwinds to the
// JS entry point, which throws the original object back to the caller.
#include "common.h"

#include <vector>

namespace pml {
namespace {

struct ErrorRecord {
  PetscErrorCode code = 0;
  std::string message;
  std::vector<std::string> traceback;
};

ErrorRecord g_record;
// Held in a one-element array: thrown primitives (throw 'x') cannot be referenced directly.
Napi::Reference<Napi::Array> *g_stash = new Napi::Reference<Napi::Array>();
bool g_hasStash = false;
// Both never freed: static references were destroyed by exit() after Node had freed the env.
Napi::FunctionReference *g_errorClass = new Napi::FunctionReference();

PetscErrorCode RecordingHandler(MPI_Comm, int line, const char *fun, const char *file, PetscErrorCode n,
                                PetscErrorType p, const char *mess, void *) {
  if (p == PETSC_ERROR_INITIAL) {
    g_record = ErrorRecord{};
    g_record.code = n;
    if (mess) g_record.message = mess;
  }
  std::string frame = std::string(fun ? fun : "?") + "() at " + (file ? file : "?") + ":" + std::to_string(line);
  if (g_record.traceback.size() < 64) g_record.traceback.push_back(frame);
  return n;
}

} // namespace

void InstallErrorHandler() { PetscPushErrorHandler(RecordingHandler, nullptr); }

void ResetErrorRecord() {
  if (g_record.code) g_record = ErrorRecord{};
}

void SetErrorClass(Napi::Function ctor) { *g_errorClass = Napi::Persistent(ctor); }

int WorldRank() {
  int rank = 0, init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  return rank;
}

static void ThrowTyped(Napi::Env env, PetscErrorCode code, const std::string &message,
                       const std::vector<std::string> &traceback) {
  const char *generic = nullptr;
  PetscErrorMessage(code, &generic, nullptr);
  std::string text = generic ? generic : "PETSc error " + std::to_string(code);
  if (!message.empty()) text += ": " + message;
  Napi::Object err;
  if (!g_errorClass->IsEmpty()) {
    err = g_errorClass->New({Napi::String::New(env, text)});
    if (env.IsExceptionPending()) return;
  } else {
    err = Napi::Object(env, pml::MakeError(env, text));
  }
  err.Set("code", Napi::Number::New(env, code));
  err.Set("petscMessage", Napi::String::New(env, message));
  err.Set("rank", Napi::Number::New(env, WorldRank()));
  Napi::Array tb = Napi::Array::New(env, traceback.size());
  for (size_t i = 0; i < traceback.size(); i++) tb.Set(i, Napi::String::New(env, traceback[i]));
  err.Set("traceback", tb);
  napi_throw(env, err);
}

void ThrowPetsc(Napi::Env env, PetscErrorCode ierr) {
  ErrorRecord rec = g_record;
  g_record = ErrorRecord{};
  if (rec.code != ierr) rec.message.clear();
  ThrowTyped(env, ierr, rec.message, rec.traceback);
}

void StashException(Napi::Env env) {
  napi_value thrown = nullptr;
  if (napi_get_and_clear_last_exception(env, &thrown) != napi_ok || !thrown) return;
  // Keep the first exception: later ones are consequences of unwinding.
  if (g_hasStash) return;
  Napi::Array holder = Napi::Array::New(env, 1);
  holder.Set(0u, Napi::Value(env, thrown));
  *g_stash = Napi::Persistent(holder);
  g_hasStash = true;
}

bool RethrowStash(Napi::Env env) {
  if (!g_hasStash) return false;
  Napi::Value v = g_stash->Value().Get(0u);
  g_stash->Reset();
  g_hasStash = false;
  g_record = ErrorRecord{};
  napi_throw(env, v);
  return true;
}

int AgreeOnFailure(MPI_Comm comm, bool failedHere, int reasonHere, int *reason) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (reason) *reason = reasonHere;
  if (size == 1) return failedHere ? 0 : -1;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  // The failing rank's reason travels in the same integer: rank * 4 + reason.
  int mine = failedHere ? rank * 4 + (reasonHere & 3) : size * 4, lowest = size * 4;
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm);
  ReplicationStats().scalarReductions++;
  if (lowest == size * 4) return -1;
  if (reason) *reason = lowest % 4;
  return lowest / 4;
}

MPI_Comm CommFrom(const Napi::Value &v) {
  if (v.IsString() && v.As<Napi::String>().Utf8Value() == "world") return PETSC_COMM_WORLD;
  return PETSC_COMM_SELF;
}

} // namespace pml
