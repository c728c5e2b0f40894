// Parses and matches Kubernetes label selectors: the string grammar and the LabelSelector object form.

import { WrError } from '../errors.ts';

export type Operator = 'in' | 'notin' | 'exists' | '!exists';

/** One requirement; `=`/`==` parse to `in` with one value and `!=` to `notin` with one value. */
export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
}

export interface LabelSelector {
  readonly requirements: readonly Requirement[];
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
  /** Canonical text (sorted requirements and values): equal selectors print equal, so it keys shared watches. */
  toString(): string;
}

/** The metav1.LabelSelector object form, as found in specs. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_SELECTOR_CHARS = 16_384;

function invalid(message: string, selector: string): WrError {
  return new WrError('WR_SELECTOR_INVALID', message, { details: { selector: selector.slice(0, 256) } });
}

function checkKey(key: string, selector: string): void {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    throw invalid(`label key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`, selector);
  }
  if (!NAME.test(name)) throw invalid(`label key ${JSON.stringify(key)} is not a valid label name`, selector);
}

function checkValue(value: string, selector: string): void {
  if (value !== '' && !NAME.test(value)) throw invalid(`label value ${JSON.stringify(value)} is not valid`, selector);
}

type Token = { kind: 'id'; text: string } | { kind: '=' | '==' | '!=' | '!' | '(' | ')' | ',' } | { kind: 'end' };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c });
      i++;
    } else if (c === '=') {
      if (input[i + 1] === '=') {
        tokens.push({ kind: '==' });
        i += 2;
      } else {
        tokens.push({ kind: '=' });
        i++;
      }
    } else if (c === '!') {
      if (input[i + 1] === '=') {
        tokens.push({ kind: '!=' });
        i += 2;
      } else {
        tokens.push({ kind: '!' });
        i++;
      }
    } else {
      let j = i;
      while (j < input.length && !' \t\n\r(),=!'.includes(input[j]!)) j++;
      tokens.push({ kind: 'id', text: input.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

/** Parses the string form, e.g. `app=web,tier in (a,b),!legacy,env`. Throws WR_SELECTOR_INVALID. */
export function parseLabelSelector(input: string): LabelSelector {
  if (input.length > MAX_SELECTOR_CHARS) throw invalid(`selector longer than ${MAX_SELECTOR_CHARS} characters`, input);
  const tokens = tokenize(input);
  let pos = 0;
  const peek = () => tokens[pos]!;
  const take = () => tokens[pos++]!;
  const identifier = (what: string): string => {
    const t = take();
    if (t.kind !== 'id') throw invalid(`expected ${what} at token ${pos}`, input);
    return t.text;
  };
  const requirements: Requirement[] = [];
  if (peek().kind === 'end') return makeSelector(requirements);
  for (;;) {
    if (peek().kind === '!') {
      take();
      const key = identifier('a label key after "!"');
      checkKey(key, input);
      requirements.push({ key, operator: '!exists', values: [] });
    } else {
      const key = identifier('a label key');
      checkKey(key, input);
      const op = peek();
      if (op.kind === '=' || op.kind === '==' || op.kind === '!=') {
        take();
        // An empty value is legal: `a=` selects labels whose value is the empty string.
        const value = peek().kind === 'id' ? identifier('a label value') : '';
        checkValue(value, input);
        requirements.push({ key, operator: op.kind === '!=' ? 'notin' : 'in', values: [value] });
      } else if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
        take();
        if (take().kind !== '(') throw invalid(`expected "(" after ${op.text}`, input);
        const values: string[] = [];
        for (;;) {
          const value = peek().kind === 'id' ? identifier('a label value') : '';
          checkValue(value, input);
          values.push(value);
          const sep = take();
          if (sep.kind === ')') break;
          if (sep.kind !== ',') throw invalid(`expected "," or ")" in the ${op.text} list`, input);
        }
        requirements.push({ key, operator: op.text, values });
      } else {
        requirements.push({ key, operator: 'exists', values: [] });
      }
    }
    const sep = take();
    if (sep.kind === 'end') break;
    if (sep.kind !== ',') throw invalid('expected "," between requirements', input);
  }
  return makeSelector(requirements);
}

/** Converts the metav1.LabelSelector object form; an empty object selects everything. */
export function labelSelectorFromObject(obj: LabelSelectorObject): LabelSelector {
  const requirements: Requirement[] = [];
  const source = JSON.stringify(obj).slice(0, 256);
  for (const [key, value] of Object.entries(obj.matchLabels ?? {})) {
    checkKey(key, source);
    checkValue(value, source);
    requirements.push({ key, operator: 'in', values: [value] });
  }
  for (const expr of obj.matchExpressions ?? []) {
    checkKey(expr.key, source);
    const values = expr.values ?? [];
    for (const v of values) checkValue(v, source);
    const op = expr.operator;
    if (op === 'In' || op === 'NotIn') {
      if (values.length === 0) throw invalid(`operator ${op} needs at least one value`, source);
      requirements.push({ key: expr.key, operator: op === 'In' ? 'in' : 'notin', values });
    } else if (op === 'Exists' || op === 'DoesNotExist') {
      if (values.length !== 0) throw invalid(`operator ${op} takes no values`, source);
      requirements.push({ key: expr.key, operator: op === 'Exists' ? 'exists' : '!exists', values: [] });
    } else {
      throw invalid(`unknown operator ${JSON.stringify(op)}`, source);
    }
  }
  return makeSelector(requirements);
}

function makeSelector(requirements: Requirement[]): LabelSelector {
  const canonical = requirements
    .map((r) => ({ ...r, values: [...new Set(r.values)].sort() }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.operator < b.operator ? -1 : 1));
  const text = canonical.map(print).join(',');
  return {
    requirements: canonical,
    matches(labels) {
      for (const r of canonical) {
        const value = labels?.[r.key];
        const present = value !== undefined && Object.hasOwn(labels ?? {}, r.key);
        switch (r.operator) {
          case 'exists':
            if (!present) return false;
            break;
          case '!exists':
            if (present) return false;
            break;
          case 'in':
            if (!present || !r.values.includes(value)) return false;
            break;
          case 'notin':
            if (present && r.values.includes(value)) return false;
            break;
        }
      }
      return true;
    },
    toString: () => text,
  };
}

function print(r: Requirement): string {
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!exists':
      return `!${r.key}`;
    case 'in':
      return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
    case 'notin':
      return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
  }
}
