// Registers the exports; PETSc initialization and finalization for the whole process.
#include "wrap.h"
#include "firstorder.h"

#include <dlfcn.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <vector>

namespace pml {
namespace {

// PETSc keeps the argv pointers it is given: they must outlive the library.
std::vector<std::string> g_args;
std::vector<char *> g_argv;
int g_argc = 0;
char **g_argvp = nullptr;

bool Initialized() {
  PetscBool b = PETSC_FALSE;
  PetscInitialized(&b);
  return b;
}
bool Finalized() {
  PetscBool b = PETSC_FALSE;
  PetscFinalized(&b);
  return b;
}

// Open MPI's plugins expect libmpi's symbols in the global scope; an addon is loaded with
// RTLD_LOCAL, so promote the libmpi we are linked against before MPI_Init.
void PromoteLibMPI() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&MPI_Init), &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

// A communicator of its own for the exit barrier, so it can never match a collective that
// another rank is still in.
MPI_Comm g_exitComm = MPI_COMM_NULL;
MPI_Comm g_worldInner = MPI_COMM_NULL;

// Seconds a rank waits at exit for the others (PETSCML_EXIT_TIMEOUT; 0, negative or 'inf':
// forever, as MPI_Finalize would). Long enough for a rank that writes results after the
// others finished; short enough that a job whose rank left early does not sit forever.
double ExitTimeout() {
  const char *s = getenv("PETSCML_EXIT_TIMEOUT");
  if (!s || !*s) return 30;
  char *end = nullptr;
  double t = strtod(s, &end);
  if (end == s || !(t > 0) || t != t) return -1;
  return t;
}

[[noreturn]] void EndJob(const std::string &why, int code) {
  std::string msg = "petscml: rank " + std::to_string(WorldRank()) + " " + why + "; ending the job\n";
  fputs(msg.c_str(), stderr);
  fflush(stderr);
  MPI_Abort(PETSC_COMM_WORLD, code ? code : 1);
  _exit(code ? code : 1);
}

// With other ranks, MPI_Finalize waits for all of them: if one left while the others are still
// in a collective (or will enter one), the job never ends. Wait for them at a nonblocking
// barrier for a bounded time instead; if they do not come, end the job with a message.
void AwaitOtherRanks() {
  int size = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  if (size == 1 || g_exitComm == MPI_COMM_NULL) return;
  MPI_Request req;
  if (MPI_Ibarrier(g_exitComm, &req) != MPI_SUCCESS) return;
  double limit = ExitTimeout(), t0 = MPI_Wtime();
  for (int done = 0;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (limit > 0 && MPI_Wtime() - t0 > limit) EndJob("exited while other ranks were still running", 1);
    usleep(1000);
  }
}

void DoFinalize(napi_env env) {
  if (!Initialized() || Finalized()) return;
  AwaitOtherRanks();
  if (env) ForgetViews(Napi::Env(env));
  // Every rank is here (AwaitOtherRanks): the collective clean-up cannot wait for a missing one.
  CollectGarbage(PETSC_COMM_WORLD);
  if (g_worldInner != MPI_COMM_NULL) PetscCommDestroy(&g_worldInner);
  PetscFinalize();
}

Napi::Value Initialize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (Finalized()) PML_THROW(env, "PETSc has been finalized in this process and cannot be initialized again", env.Undefined());
  if (!Initialized()) {
    Napi::Array args = info[0].As<Napi::Array>();
    g_args.clear();
    for (uint32_t i = 0; i < args.Length(); i++) g_args.push_back(args.Get(i).As<Napi::String>().Utf8Value());
    g_argv.clear();
    for (auto &s : g_args) g_argv.push_back(&s[0]);
    g_argv.push_back(nullptr);
    g_argc = (int)g_args.size();
    g_argvp = g_argv.data();

    // PETSc and Open MPI install signal handlers that would replace Node's (wasm traps, EPIPE):
    // keep Node's as they were.
    std::vector<struct sigaction> saved(NSIG);
    std::vector<bool> ok(NSIG, false);
    for (int s = 1; s < NSIG; s++) ok[s] = sigaction(s, nullptr, &saved[s]) == 0;
    PromoteLibMPI();
    // solveAsync runs TaoSolve (and so MPI) on a thread of its own, one thread at a time.
    PETSC_MPI_THREAD_REQUIRED = MPI_THREAD_SERIALIZED;
    PetscErrorCode ierr = PetscInitialize(&g_argc, &g_argvp, nullptr, nullptr);
    for (int s = 1; s < NSIG; s++)
      if (ok[s] && s != SIGKILL && s != SIGSTOP) sigaction(s, &saved[s], nullptr);
    if (ierr) PML_THROW(env, "PetscInitialize failed with error code " + std::to_string(ierr), env.Undefined());
    // Our own TAO types (adam, adamw, sgd), known to TaoSetType and -tao_type from here on.
    ierr = RegisterFirstOrderTypes();
    if (ierr) PML_THROW(env, "registering the first-order TAO types failed with error code " + std::to_string(ierr), env.Undefined());
    InstallErrorHandler();
    MPI_Comm_dup(PETSC_COMM_WORLD, &g_exitComm);
    // Held until finalize: PETSc frees its inner communicator with the last object on it, and the
    // next object then duplicates it again, collectively. Ranks whose objects die at different
    // times (a borrowed wrapper collected on one rank) would otherwise duplicate on one rank only.
    PetscCommDuplicate(PETSC_COMM_WORLD, &g_worldInner, nullptr);
    napi_add_env_cleanup_hook(env, [](void *arg) {
      DoFinalize(static_cast<napi_env>(arg));
      MarkEnvDead();
    }, (napi_env)env);
  }
  PetscMPIInt rank, size;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", rank);
  o.Set("size", size);
  return o;
}

Napi::Value Finalize(const Napi::CallbackInfo &info) {
  if (AsyncSolveRunning())
    PML_THROW(info.Env(), "petscml: finalize() cannot be called while a solveAsync() is running (await it first)", info.Env().Undefined());
  // PETSc is still running the call that made this callback: finalizing under it aborted in MPI.
  if (CallbackDepth() > 0 && Initialized() && !Finalized())
    PML_THROW(info.Env(), "petscml: finalize() cannot be called inside a callback (PETSc is still running the call that made it)", info.Env().Undefined());
  DoFinalize(info.Env());
  return info.Env().Undefined();
}

// exitFinalize(code): the process is exiting (process.on('exit')). With several ranks an error
// exit, or an exit from inside a callback (other ranks wait in a collective for this one), ends
// the whole job at once; a normal exit waits a bounded time for the others, then finalizes.
Napi::Value ExitFinalize(const Napi::CallbackInfo &info) {
  int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  if (!Initialized() || Finalized()) return info.Env().Undefined();
  int size = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  if (size > 1 && code != 0) MPI_Abort(PETSC_COMM_WORLD, code);
  if (size > 1 && CallbackDepth() > 0) EndJob("called process.exit() inside a callback while a solve was running", 1);
  if (AsyncSolveRunning()) AbandonAsync();
  DoFinalize(info.Env());
  return info.Env().Undefined();
}

// Ends every rank of the job at once: for an exit with an error under mpirun, where waiting in
// MPI_Finalize for ranks stuck in a collective would hang.
Napi::Value Abort(const Napi::CallbackInfo &info) {
  int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  if (Initialized() && !Finalized()) MPI_Abort(PETSC_COMM_WORLD, code);
  return info.Env().Undefined();
}

// collectGarbage(): collective on PETSC_COMM_WORLD; frees the distributed objects every rank has
// dropped. Refused inside a callback, where PETSc may still use them.
Napi::Value CollectGarbageJS(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!PetscIsLive()) PML_THROW(env, "petscml: collectGarbage(): PETSc is not initialized, or has been finalized", env.Undefined());
  if (RefusedWhileAsync(env, "collectGarbage()")) return env.Undefined();
  if (CallbackDepth() > 0) PML_THROW(env, "petscml: collectGarbage() cannot be called inside a callback (PETSc may still use what it would free)", env.Undefined());
  CollectGarbage(PETSC_COMM_WORLD);
  return env.Undefined();
}

Napi::Value State(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("initialized", Initialized());
  o.Set("finalized", Finalized());
  return o;
}

Napi::Value Version(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  char buf[256];
  PetscGetVersion(buf, sizeof buf);
  Napi::Object o = Napi::Object::New(env);
  o.Set("major", PETSC_VERSION_MAJOR);
  o.Set("minor", PETSC_VERSION_MINOR);
  o.Set("subminor", PETSC_VERSION_SUBMINOR);
  o.Set("text", buf);
  o.Set("scalarBytes", (double)sizeof(PetscScalar));
  o.Set("indexBytes", (double)sizeof(PetscInt));
  return o;
}

// Collectives issued by replicated callbacks since the last reset, and the reduction to use for
// them ('allreduce' instead of the default reduce-scatter, for measurements).
Napi::Value Replication(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  ReplicaStats &s = ReplicationStats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("gathers", s.gathers);
  o.Set("gatheredDoubles", s.gatheredDoubles);
  o.Set("reductions", s.reductions);
  o.Set("reducedDoubles", s.reducedDoubles);
  o.Set("scalarReductions", s.scalarReductions);
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object opts = info[0].As<Napi::Object>();
    if (opts.Get("reset").ToBoolean()) s = ReplicaStats{};
    Napi::Value mode = opts.Get("reduce");
    if (mode.IsString()) SetReplicaAllreduce(mode.As<Napi::String>().Utf8Value() == "allreduce");
  }
  return o;
}

// allreduce(values, op): element-wise sum / min / max over PETSC_COMM_WORLD, in place (collective).
Napi::Value Allreduce(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!Initialized() || Finalized()) PML_THROW(env, "PETSc is not initialized", env.Undefined());
  if (RefusedWhileAsync(env, "allreduce()")) return env.Undefined();
  if (!IsTyped(info[0], napi_float64_array)) PML_TYPE_THROW(env, "petscml: allreduce: expected a Float64Array", env.Undefined());
  Napi::Float64Array a = info[0].As<Napi::Float64Array>();
  std::string op = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  // Different lengths on different ranks would truncate or hang in MPI.
  if (!Agree(env, PETSC_COMM_WORLD, "allreduce", {{"the array length", (double)a.ElementLength()}})) return env.Undefined();
  MPI_Op mop = op == "max" ? MPI_MAX : op == "min" ? MPI_MIN : MPI_SUM;
  int rc = MPI_Allreduce(MPI_IN_PLACE, a.Data(), static_cast<int>(a.ElementLength()), MPI_DOUBLE, mop, PETSC_COMM_WORLD);
  if (rc != MPI_SUCCESS) PML_THROW(env, "MPI_Allreduce failed with code " + std::to_string(rc), env.Undefined());
  return a;
}

// Heap bytes in use now (glibc's arenas plus mmapped blocks; PETSc allocates there too): RSS keeps
// freed pages, so leak checks need this to tell garbage that waits for the event loop (Node-API
// finalizers) from memory that is really held.
Napi::Value NativeMemory(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#if defined(__GLIBC__)
  struct mallinfo2 mi = mallinfo2();
  o.Set("heapInUse", static_cast<double>(mi.uordblks + mi.hblkhd));
#endif
  return o;
}

Napi::Value SetErrorClassJS(const Napi::CallbackInfo &info) {
  SetErrorClass(info[0].As<Napi::Function>());
  if (info.Length() > 1 && info[1].IsFunction()) SetInterruptedClass(info[1].As<Napi::Function>());
  return info.Env().Undefined();
}

} // namespace

bool PetscIsLive() { return EnvAlive() && Initialized() && !Finalized(); }

namespace {
std::vector<PetscObject> g_dead;
}

void Bury(PetscObject o) { g_dead.push_back(o); }

napi_env g_externalEnv = nullptr;
int64_t g_buriedExternal = 0;
void BuryExternal(napi_env env, int64_t bytes) {
  g_externalEnv = env;
  g_buriedExternal += bytes;
}

void BuryDead() {
  if (g_buriedExternal && g_externalEnv && EnvAlive()) {
    int64_t now = 0;
    if (napi_adjust_external_memory(g_externalEnv, -g_buriedExternal, &now) == napi_ok) g_buriedExternal = 0;
  }
  if (g_dead.empty() || CallbackDepth() > 0 || !PetscIsLive()) return;
  std::vector<PetscObject> dead;
  dead.swap(g_dead); // a destroy may collect more
  for (PetscObject o : dead) {
    // Each rank's GC runs when it likes: a distributed object destroyed at once on one rank and
    // later on another left the ranks out of step (a freed inner communicator made the next
    // object's creation an MPI_Comm_dup on one rank only: the job hung). PETSc's delayed destroy
    // stashes it by creation index; CollectGarbage destroys what every rank has stashed.
    int size = 1;
    MPI_Comm_size(PetscObjectComm(o), &size);
    if (size > 1) PetscObjectDelayedDestroy(&o);
    else PetscObjectDestroy(&o);
  }
}

void CollectGarbage(MPI_Comm comm) {
  BuryDead();
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (size > 1 && CallbackDepth() == 0 && PetscIsLive()) PetscGarbageCleanup(comm);
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  SetJsThread();
  exports.Set("initialize", Napi::Function::New(env, Initialize));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("exitFinalize", Napi::Function::New(env, ExitFinalize));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("state", Napi::Function::New(env, State));
  exports.Set("nativeMemory", Napi::Function::New(env, NativeMemory));
  exports.Set("collectGarbage", Napi::Function::New(env, CollectGarbageJS));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClassJS));
  exports.Set("replication", Napi::Function::New(env, Replication));
  exports.Set("allreduce", Napi::Function::New(env, Allreduce));
  InitVec(env, exports);
  InitMat(env, exports);
  InitKSP(env, exports);
  InitPC(env, exports);
  InitTao(env, exports);
  InitOptions(env, exports);
  InitEngine(env, exports);
  return exports;
}

} // namespace pml

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return pml::InitAll(env, exports); }
NODE_API_MODULE(petscml, Init)
