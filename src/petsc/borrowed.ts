import { NativeObject } from '../native';

/**
 * Wrappers of objects that belong to another (a Tao's KSP and solution, a KSP's PC). Each holds a
 * PETSc reference, which Node would drop only when its finalizer runs, and Node runs finalizers
 * only when the event loop turns: a synchronous loop of solver lifecycles kept every Tao's KSP,
 * work vectors and Hessian operator alive (~100 KB each). The owner therefore hands out one wrapper
 * per object and releases them all when it is destroyed; one used after that throws "has been
 * destroyed".
 */
export class Borrowed {
  private readonly held = new Map<number, { wrapper: unknown; handle: NativeObject; release: () => void }>();

  /** The wrapper for `h`, the one handed out before when it is the same object. */
  get<W>(h: NativeObject, wrap: (h: NativeObject) => W, release?: (w: W) => void): W {
    const id = h.getId();
    const known = this.held.get(id);
    if (known && !known.handle.isDestroyed()) {
      h.dropReference?.(); // the new handle's reference; the wrapper handed out keeps its own
      return known.wrapper as W;
    }
    const wrapper = wrap(h);
    this.held.set(id, { wrapper, handle: h, release: release ? () => release(wrapper) : () => h.destroy() });
    return wrapper;
  }

  /** Releases every wrapper handed out (the owner is being destroyed). */
  releaseAll(): void {
    const all = [...this.held.values()];
    this.held.clear();
    for (const b of all) if (!b.handle.isDestroyed()) b.release();
  }
}
