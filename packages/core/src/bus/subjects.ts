/**
 * Subscription patterns follow NATS subject rules so they mean the same on every transport:
 * tokens separated by '.', '*' matches exactly one token, '>' (last) matches one or more.
 */
export function isPattern(subject: string): boolean {
  return subject === '>' || subject === '*' || subject.includes('*') || subject.endsWith('.>');
}

export function compilePattern(pattern: string): (subject: string) => boolean {
  const tokens = pattern.split('.');
  const tail = tokens[tokens.length - 1] === '>';
  if (tokens.some((t, i) => t === '' || (t === '>' && i !== tokens.length - 1) || (t !== '*' && t !== '>' && /[*>]/.test(t)))) {
    throw new Error(`Invalid subscription pattern '${pattern}': use '.'-separated tokens, '*' for one token, '>' as the last token for the rest.`);
  }
  return (subject: string) => {
    const parts = subject.split('.');
    if (tail ? parts.length < tokens.length : parts.length !== tokens.length) return false;
    const n = tail ? tokens.length - 1 : tokens.length;
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (t !== '*' && t !== parts[i]) return false;
    }
    return true;
  };
}

/** Event names a pattern selects, at the type level: `'order.*'` → `'order.requested' | 'order.updated'`. */
export type MatchingKeys<Keys extends string, P extends string> = P extends '>'
  ? Keys
  : P extends `${infer Prefix}.>`
    ? Extract<Keys, `${Prefix}.${string}`>
    : P extends `${infer Prefix}.*`
      ? Extract<Keys, `${Prefix}.${string}`> extends infer M extends string
        ? M extends `${Prefix}.${infer Rest}`
          ? Rest extends `${string}.${string}`
            ? never
            : M
          : never
        : never
      : P extends `*.${infer Suffix}`
        ? Extract<Keys, `${string}.${Suffix}`>
        : Extract<Keys, P>;

/** Patterns accepted where a wildcard subscription is allowed. */
export type SubscriptionPattern<Keys extends string> = Keys | '>' | `${string}.*` | `${string}.>` | `*.${string}`;
