import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// `make bench` (P5) only: measurements, never run by `make test`.
export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: '*.bench.ts',
  outputDir: './test-results/bench',
  timeout: 300_000,
});
