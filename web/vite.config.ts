import { defaultClientConditions, defineConfig } from 'vite';

// The app is plain Preact with TypeScript's JSX transform (tsconfig: jsxImportSource),
// so Vite needs no framework plugin. `npm run dev` proxies the API and the WebSocket to
// a natter on :8080, so the app is developed against the real server. The SDK is used
// from its TypeScript sources (its `source` export condition), so no separate SDK build
// has to come first.
export default defineConfig({
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  server: {
    proxy: {
      '/api': { target: 'http://localhost:8080', ws: true },
    },
  },
});
