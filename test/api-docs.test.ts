/**
 * docs/API.md, the index page of the API reference (typedoc's `readme`): every name it links
 * resolves (typedoc fails on a broken link, see `npm run docs`), and every example runs as written,
 * with `densenet-sdk` resolved to this repository's sources.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import test from 'ava';

import * as sdk from '../ts/index.js';
import { TSX_IMPORT } from './helpers/cli.js';
import { tempDir } from './helpers/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const page = readFileSync(join(root, 'docs/API.md'), 'utf8');
const examples = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('typedoc uses docs/API.md as the index page; the README links to it', (t) => {
  const typedoc = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as { readme: string };
  t.is(typedoc.readme, 'docs/API.md');
  t.regex(readFileSync(join(root, 'README.md'), 'utf8'), /\]\(docs\/API\.md\)/);
});

test('docs/API.md links only names the package exports, and covers the main entry points', (t) => {
  const linked = [...page.matchAll(/\{@link ([\w.]+)\}/g)].map((m) => m[1]!.split('.')[0]!);
  const exported = new Set(Object.keys(sdk));
  // Type-only exports have no runtime value: read them from the root module's source.
  const rootSource = readFileSync(join(root, 'ts', 'index.ts'), 'utf8');
  const types = [
    ...[...rootSource.matchAll(/\btype (\w+)\b/g)].map((m) => m[1]!),
    ...[...rootSource.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((n) => n.trim())),
  ];
  t.true(types.includes('TrainEvent') && types.includes('LoadOptions'));
  for (const name of linked) t.true(exported.has(name) || types.includes(name), name);
  for (const name of ['DenseNet', 'train', 'evaluate', 'loadDataset', 'DataLoader', 'AbortError', 'TrainAbortError', 'DenseNetError', 'loadNative']) {
    t.true(linked.includes(name), `${name} is on the index page`);
  }
  t.true(examples.length >= 6, `${examples.length} examples`);
});

examples.forEach((code, i) => {
  const first = code.split('\n').find((l) => l.includes("from 'densenet-sdk'")) ?? '';
  test(`docs/API.md example ${i + 1} runs (${first.slice(9, 60)}...)`, async (t) => {
    const { dir, cleanup } = tempDir('densenet-api-example-');
    t.teardown(cleanup);
    const file = join(dir, `example-${i + 1}.mjs`);
    writeFileSync(file, code.replaceAll("from 'densenet-sdk'", `from '${pathToFileURL(join(root, 'ts/index.ts')).href}'`));
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', TSX_IMPORT, file], { cwd: dir, timeout: 240_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
    t.log(r.stdout.trim());
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr, '', 'no warnings');
  });
});
