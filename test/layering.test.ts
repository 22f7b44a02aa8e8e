// The one-way layering of ARCHITECTURE.md: models, problems and the function layer know no solver
// and no PETSc; data knows no solver. An import across the line fails here, with the file named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const src = path.resolve(__dirname, '../src');
function imports(folder: string): { file: string; from: string }[] {
  const out: { file: string; from: string }[] = [];
  for (const f of fs.readdirSync(path.join(src, folder), { recursive: true }) as string[]) {
    if (!f.endsWith('.ts')) continue;
    const text = fs.readFileSync(path.join(src, folder, f), 'utf8');
    for (const m of text.matchAll(/(?:from|import\()\s*'(\.\.?\/[^']+)'/g)) {
      out.push({ file: `${folder}/${f}`, from: path.relative(src, path.resolve(path.dirname(path.join(src, folder, f)), m[1])) });
    }
  }
  return out;
}

describe('layering', () => {
  it.each([
    // backend.ts loads the addon for its tfjs engine (src/engine), not for PETSc
    ['functions', ['petsc', 'solvers', 'reproduce', 'cli', 'models', 'problems']],
    ['models', ['petsc', 'solvers', 'reproduce', 'cli', 'native']],
    ['problems', ['petsc', 'solvers', 'reproduce', 'cli', 'functions', 'models', 'native']],
    ['data', ['solvers', 'reproduce', 'cli', 'models', 'native']],
    ['collective', ['petsc', 'solvers', 'functions', 'native']],
  ])('%s imports none of %j', (folder, banned) => {
    const bad = imports(folder as string).filter((i) => (banned as string[]).some((b) => i.from === b || i.from.startsWith(b + '/')));
    expect(bad).toEqual([]);
  });
});
