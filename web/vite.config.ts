// Builds the admin UI into dist/, which `make` embeds into the medialib binary
// (scripts/embed-web.py). Relative asset URLs: the page works wherever /admin/ is.
import { defineConfig } from 'vite';

// `npm run dev` proxies the API and files to a server started with `make run`.
const server = process.env.MEDIALIB_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No data: URIs for assets and no inline polyfill script: the server's CSP allows neither.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { '/api': server, '/media': server } },
});
