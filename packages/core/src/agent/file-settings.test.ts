import { describe, expect, it } from 'vitest';
import { resolveFileSettings } from './file-settings.js';

describe('resolveFileSettings', () => {
  const settings = {
    models: [
      { name: 'a', source: { kind: 'onnx', file: 'models/a.onnx' } },
      { name: 'b', source: { kind: 'onnx', file: '/abs/b.onnx' } },
      { name: 'c', source: { kind: 'oip', url: 'http://127.0.0.1:8080' } },
    ],
    registry: { file: '../registry.json', window: 5 },
    label: 'models/a.onnx',
  };

  it('takes relative paths at the named settings from the base folder, leaves absolute ones and everything else', () => {
    const resolved = resolveFileSettings(settings, ['models[].source.file', 'registry.file'], '/etc/bot');
    expect(resolved.models[0]!.source).toEqual({ kind: 'onnx', file: '/etc/bot/models/a.onnx' });
    expect(resolved.models[1]!.source).toEqual({ kind: 'onnx', file: '/abs/b.onnx' });
    expect(resolved.models[2]!.source).toEqual({ kind: 'oip', url: 'http://127.0.0.1:8080' });
    expect(resolved.registry).toEqual({ file: '/etc/registry.json', window: 5 });
    expect(resolved.label).toBe('models/a.onnx');
  });

  it('does not change the settings it was given, and without patterns returns them as they are', () => {
    const copy = structuredClone(settings);
    resolveFileSettings(settings, ['models[].source.file'], '/etc/bot');
    expect(settings).toEqual(copy);
    expect(resolveFileSettings(settings, [], '/etc/bot')).toBe(settings);
  });
});
