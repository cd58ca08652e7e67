import { describe, expect, it } from 'vitest';
import { IdGenerator } from './ids.js';

describe('IdGenerator', () => {
  it('makes unique ids that sort by time, then by generation order', () => {
    const gen = new IdGenerator();
    const ids = [gen.next(1_000), gen.next(1_000), gen.next(1_001), gen.next(2_000_000_000_000)];
    expect(new Set(ids).size).toBe(4);
    expect([...ids].sort()).toEqual(ids);
  });

  it('differs between generators (processes) at the same time', () => {
    expect(new IdGenerator().next(5)).not.toBe(new IdGenerator().next(5));
  });
});
