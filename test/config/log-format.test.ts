import { expect, test } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { resolveLogFormat } from '../../src/logger.js';

test('LOG_FORMAT=auto is pretty only in development on a terminal; json everywhere else', () => {
  expect(resolveLogFormat('auto', 'development', true)).toBe('pretty');
  expect(resolveLogFormat('auto', 'development', false)).toBe('json');
  expect(resolveLogFormat('auto', 'production', true)).toBe('json');
  expect(resolveLogFormat('auto', 'test', true)).toBe('json');
  expect(resolveLogFormat('json', 'development', true)).toBe('json');
  expect(resolveLogFormat('pretty', 'production', false)).toBe('pretty');
});

test('LOG_FORMAT takes auto, json or pretty', () => {
  expect(loadConfig({}).logFormat).toBe('auto');
  expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
  expect(() => loadConfig({ LOG_FORMAT: 'text' })).toThrow(/LOG_FORMAT must be one of auto, json, pretty/);
});
