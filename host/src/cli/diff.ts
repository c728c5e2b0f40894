// A unified diff of two texts by lines (longest common subsequence), with a few lines of context per hunk.

type Op = { readonly type: ' ' | '-' | '+'; readonly line: string };

function operations(a: readonly string[], b: readonly string[]): Op[] {
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..]; objects are small.
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ type: ' ', line: a[i++]! });
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals before additions on a tie, so a changed line reads as `-old` then `+new`.
      ops.push({ type: '-', line: a[i++]! });
    } else {
      ops.push({ type: '+', line: b[j++]! });
    }
  }
  return ops;
}

/** An empty text has no lines (not one empty line): a created object's diff is all additions. */
function lines(text: string): string[] {
  const trimmed = text.trimEnd();
  return trimmed === '' ? [] : trimmed.split('\n');
}

/** '' when the texts are equal; otherwise the changed lines with `context` lines around, hunks separated by `@@`. */
export function unifiedDiff(
  before: string,
  after: string,
  labels: { before: string; after: string },
  context = 3,
): string {
  const ops = operations(lines(before), lines(after));
  if (ops.every((o) => o.type === ' ')) return '';
  const keep = new Array<boolean>(ops.length).fill(false);
  ops.forEach((o, k) => {
    if (o.type === ' ') return;
    for (let d = Math.max(0, k - context); d <= Math.min(ops.length - 1, k + context); d++) keep[d] = true;
  });
  const out = [`--- ${labels.before}`, `+++ ${labels.after}`];
  let inHunk = false;
  ops.forEach((o, k) => {
    if (!keep[k]) {
      inHunk = false;
      return;
    }
    if (!inHunk) out.push('@@');
    inHunk = true;
    out.push(`${o.type}${o.line}`);
  });
  return `${out.join('\n')}\n`;
}
