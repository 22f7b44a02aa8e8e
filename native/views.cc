// Zero-copy Float64Array views over PETSc's Vec arrays.
//
// Views are cached per Vec while any native entry point that can call back is active, and
// detached (length 0) when the outermost one returns, or at once when PETSc destroys the Vec or
// moves its array: a retained view is never left pointing at freed memory.
//
// The ArrayBuffers are made with V8's own API, not napi_create_external_arraybuffer: Node-API
// wraps every external buffer in a finalizer record that Node frees only when the event loop
// turns (PLATFORM.md: ~416 B a view), so a synchronous loop of solves grew by that much per Vec
// per solve. A V8 backing store with the empty deleter owns nothing and is reclaimed by the
// garbage collector alone. The addon is compiled against the running Node's own headers (npm and
// cmake-js both build it at install), so this V8 use cannot meet another V8.
#include "common.h"

#include <cstring>
#include <unordered_map>

#include <v8.h>

namespace pml {
namespace {

struct CachedView {
  PetscScalar *data;
  PetscInt n;
  Napi::Reference<Napi::ArrayBuffer> buffer;
  Napi::Reference<Napi::Float64Array> array;
};

std::unordered_map<Vec, CachedView> g_views;
int g_depth = 0;
napi_env g_env = nullptr;

void Detach(CachedView &cv) {
  if (!cv.buffer.IsEmpty()) {
    Napi::ArrayBuffer buf = cv.buffer.Value();
    if (!buf.IsEmpty() && !buf.IsDetached()) buf.Detach();
  }
  cv.buffer.Reset();
  cv.array.Reset();
}

// Runs when PETSc destroys a Vec that has a cached view (the container is composed on the Vec).
PetscErrorCode OnVecDestroyed(void *ctx) {
  PML_ON_JS_THREAD(OnVecDestroyed(ctx));
  Vec v = static_cast<Vec>(ctx);
  auto it = g_views.find(v);
  if (it != g_views.end()) {
    if (g_env) {
      Napi::HandleScope scope{Napi::Env(g_env)};
      Detach(it->second);
    }
    g_views.erase(it);
  }
  return 0;
}

// An ArrayBuffer over memory it does not own and never frees (detached before that memory goes).
Napi::ArrayBuffer UnownedArrayBuffer(Napi::Env env, void *data, size_t bytes) {
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  std::shared_ptr<v8::BackingStore> store =
      v8::ArrayBuffer::NewBackingStore(data, bytes, v8::BackingStore::EmptyDeleter, nullptr);
  v8::Local<v8::ArrayBuffer> local = v8::ArrayBuffer::New(isolate, std::move(store));
  // napi_value is a v8::Local in Node's implementation (node_api.cc: JsValueFromV8LocalValue).
  static_assert(sizeof(napi_value) == sizeof(v8::Local<v8::Value>), "napi_value is a v8::Local");
  v8::Local<v8::Value> value = local;
  napi_value nv;
  std::memcpy(&nv, &value, sizeof nv);
  return Napi::ArrayBuffer(env, nv);
}

} // namespace

CallbackScope::CallbackScope(Napi::Env env) : env_(env) {
  g_env = env;
  g_depth++;
}

CallbackScope::~CallbackScope() {
  if (--g_depth == 0) ForgetViews(env_);
}

int CallbackDepth() { return g_depth; }

void ForgetViews(Napi::Env env) {
  if (g_views.empty()) return;
  Napi::HandleScope scope(env);
  // Taken out first: dropping a hook below runs OnVecDestroyed, which looks in g_views.
  std::unordered_map<Vec, CachedView> views;
  views.swap(g_views);
  for (auto &kv : views) {
    Detach(kv.second);
    // Drop the destroy hook: its Vec may outlive this scope and must not call back later.
    PetscObjectCompose(reinterpret_cast<PetscObject>(kv.first), "petscml_view", nullptr);
  }
}

Napi::Float64Array ViewOf(Napi::Env env, Vec v, PetscScalar *data, PetscInt n) {
  auto it = g_views.find(v);
  if (it != g_views.end()) {
    if (it->second.data == data && it->second.n == n) return it->second.array.Value();
    Detach(it->second);
    g_views.erase(it);
  }
  Napi::ArrayBuffer buf = UnownedArrayBuffer(env, data, sizeof(PetscScalar) * static_cast<size_t>(n));
  Napi::Float64Array arr = Napi::Float64Array::New(env, static_cast<size_t>(n), buf, 0);
  if (g_depth > 0) {
    PetscContainer c = nullptr;
    if (!PetscContainerCreate(PETSC_COMM_SELF, &c) && !PetscContainerSetPointer(c, v) &&
        !PetscContainerSetUserDestroy(c, OnVecDestroyed)) {
      PetscObjectCompose(reinterpret_cast<PetscObject>(v), "petscml_view", reinterpret_cast<PetscObject>(c));
    }
    if (c) PetscContainerDestroy(&c);
    g_views.emplace(v, CachedView{data, n, Napi::Persistent(buf), Napi::Persistent(arr)});
  }
  return arr;
}

} // namespace pml
