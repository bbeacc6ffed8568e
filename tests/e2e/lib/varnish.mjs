// Starts and stops a real Varnish (Debian's varnishd 7.1) in front of a
// medialib server, for the cache purge tests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { sleep } from './http.mjs';

export const VARNISHD = '/usr/sbin/varnishd';

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * The VCL of a misconfigured CDN: every answer under /media/ is cached for a
 * day whatever its Cache-Control (the unversioned URLs' 302 says no-cache,
 * a deleted media's 404 says no-store), so only a purge makes a change show.
 * PURGE and BAN are accepted from loopback; BAN <path> drops that path and
 * everything under it (the contract of MEDIALIB_PURGE_METHOD=ban). X-Cache
 * tells a hit from a miss.
 */
export function misconfiguredCdnVcl(backendPort) {
  return `vcl 4.1;

backend medialib { .host = "127.0.0.1"; .port = "${backendPort}"; }

acl purgers { "127.0.0.1"; }

sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) { return (synth(405, "Not allowed")); }
    return (purge);
  }
  if (req.method == "BAN") {
    if (client.ip !~ purgers) { return (synth(405, "Not allowed")); }
    ban("req.url ~ ^" + req.url + "([/?]|$)");
    return (synth(200, "Banned"));
  }
  if (req.url ~ "^/media/") {
    unset req.http.Cookie;
    return (hash);
  }
  return (pass);
}

sub vcl_backend_response {
  if (bereq.url ~ "^/media/") {
    set beresp.ttl = 1d;
    set beresp.grace = 0s;
    return (deliver); # skips the built-in rule that honours no-cache and no-store
  }
}

sub vcl_deliver {
  if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; }
}
`;
}

/**
 * Starts varnishd in the foreground on 127.0.0.1:port with the VCL, a
 * working dir of its own (-n) and 32 MiB of malloc storage; as root it runs
 * without the privilege-dropping jail (-j none). Resolves once it answers
 * HTTP. Returns {port, baseUrl, stop(), logs()}.
 */
export async function startVarnish({ port, vcl, readyTimeout = 30_000 }) {
  if (!fs.existsSync(VARNISHD)) throw new Error(`${VARNISHD} is missing: run scripts/install-deps.sh (Debian package varnish)`);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-varnish-'));
  const vclFile = path.join(dir, 'test.vcl');
  await fsp.writeFile(vclFile, vcl);
  const args = ['-F', '-a', `127.0.0.1:${port}`, '-f', vclFile, '-n', path.join(dir, 'work'), '-s', 'malloc,32m', '-T', '127.0.0.1:0'];
  if (process.getuid?.() === 0) args.push('-j', 'none');
  const child = spawn(VARNISHD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const chunks = [];
  child.stdout.on('data', (d) => chunks.push(d));
  child.stderr.on('data', (d) => chunks.push(d));
  let exitInfo = null;
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      running.delete(child);
      resolve(exitInfo);
    }),
  );
  const logs = () => Buffer.concat(chunks).toString('utf8');
  const baseUrl = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (!exitInfo) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await fsp.rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeout;
  for (;;) {
    if (exitInfo) {
      await fsp.rm(dir, { recursive: true, force: true });
      throw new Error(`varnishd exited before it was ready (code ${exitInfo.code}, signal ${exitInfo.signal}):\n${logs()}`);
    }
    try {
      // Not under /media/: passed to the backend, never cached.
      const r = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`varnishd did not answer within ${readyTimeout} ms:\n${logs()}`);
    }
    await sleep(50);
  }
  return { port, baseUrl, stop, logs, isRunning: () => !exitInfo };
}
