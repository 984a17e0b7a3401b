/**
 * The user-facing pages (README.md, BENCHMARKS.md, docs/*.md): every relative link points at a
 * file that exists, and every page moved out of the README is linked from it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f));
const pages = [join(root, 'README.md'), join(root, 'BENCHMARKS.md'), ...docs];

/** Markdown link and image targets outside code blocks and code spans. */
function linkTargets(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens. */
function anchors(text: string): Set<string> {
  const prose = text.replace(/```[\s\S]*?```/g, '');
  const headings = [...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!);
  return new Set(headings.map((h) => h.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
}

for (const page of pages) {
  test(`relative links in ${relative(root, page)} resolve, anchors included`, (t) => {
    const broken = linkTargets(readFileSync(page, 'utf8'))
      .filter((target) => !/^[a-z]+:/i.test(target))
      .filter((target) => {
        const [path, anchor] = target.split('#');
        const file = path ? join(dirname(page), decodeURI(path)) : page;
        if (!existsSync(file)) return true;
        return anchor !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor);
      });
    t.deepEqual(broken, []);
  });
}

test('the README links every page in docs/', (t) => {
  const linked = new Set(linkTargets(readFileSync(join(root, 'README.md'), 'utf8')).map((target) => target.split('#')[0]));
  const missing = docs.map((page) => relative(root, page)).filter((page) => page !== 'docs/benchmarks-history.md' && !linked.has(page));
  t.deepEqual(missing, []);
});

test('the README stays short', (t) => {
  t.true(readFileSync(join(root, 'README.md'), 'utf8').split('\n').length <= 300);
});
