import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const fixtures = path.resolve(__dirname, '../fixtures');
const node = (args: string[], opts: { shell?: string } = {}) =>
  opts.shell
    ? spawnSync('bash', ['-c', opts.shell], { encoding: 'utf8', cwd: fixtures, timeout: 30_000 })
    : spawnSync(process.execPath, args, { encoding: 'utf8', cwd: fixtures, timeout: 30_000 });

describe('the process around PETSc', () => {
  it('keeps Node’s handling of WebAssembly traps', () => {
    for (const init of ['plain', 'petsc']) {
      const r = node(['signals.js', init, 'wasm']);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('caught RuntimeError');
    }
  });

  it('keeps Node’s handling of a closed pipe (EPIPE, not SIGPIPE)', () => {
    const outcome = (init: string) => {
      const r = node([], { shell: `node signals.js ${init} epipe | head -1; echo "status=\${PIPESTATUS[0]}"` });
      return r.stdout.trim().split('\n').pop() + ' ' + r.stderr.trim();
    };
    expect(outcome('plain')).toBe('status=0 stdout error EPIPE');
    expect(outcome('petsc')).toBe('status=0 stdout error EPIPE');
  });

  it('passes process.exit codes through and finalizes', () => {
    expect(node(['exit.js', 'exit-code', '0']).status).toBe(0);
    expect(node(['exit.js', 'exit-code', '3']).status).toBe(3);
  });

  it('lets wrapped objects be collected after finalize without harm', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', 'exit.js', 'gc-after-finalize'], { encoding: 'utf8', cwd: fixtures });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['finalized true', 'collected']);
    expect(r.status).toBe(0);
  });

  it('refuses use of objects after finalize with a clear error', () => {
    const r = node(['exit.js', 'use-after-finalize']);
    expect(r.stdout.trim()).toBe('PETSc has been finalized: this Vec can no longer be used');
    expect(r.status).toBe(0);
  });
});
