// Helpers for the browser tests: a real wagwd on the sandbox engine, its API, an event stream,
// a webhook receiver and Debian's Chromium. Nothing here sleeps: every wait is for an event.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const ADMIN = { username: 'admin', password: 'admin' };

/** Rejects after `ms` with `what` in the message: a guard against hanging, not a pause. */
export function within(ms, what, promise) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Starts wagwd in a fresh temp dir and resolves once it prints the address it listens on. */
export async function startWagwd() {
  const dir = await mkdtemp(path.join(tmpdir(), 'wagw-e2e-'));
  const binary = path.resolve(repo, process.env.WAGWD || 'target/debug/wagwd');
  const env = { ...process.env };
  // The default admin/admin, accepted from loopback only, is what the tests sign in with.
  delete env.ADMIN_USER;
  delete env.ADMIN_PASSWORD;
  Object.assign(env, {
    WAGW_ENGINE: 'sandbox',
    PORT: '0',
    HOST: '127.0.0.1',
    DB_PATH: path.join(dir, 'wagw.db'),
    MEDIA_DIR: path.join(dir, 'media'),
    CREDENTIALS_DIR: path.join(dir, 'credentials'),
    WAGW_SOCKET: path.join(dir, 'wagw.sock'),
    RUST_LOG: process.env.RUST_LOG || 'warn',
  });
  // cwd is the temp dir so that no .env file of the developer's is read.
  const child = spawn(binary, [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });

  const port = await within(30000, 'wagwd to listen', new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`wagwd exited with ${code} before listening:\n${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^wagwd listening on http:\/\/\S+:(\d+)$/.exec(line.trim());
      if (match) resolve(Number(match[1]));
    });
  }));

  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    dir,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await within(10000, 'wagwd to stop', exited);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function basic({ username, password }) {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Calls the JSON API; resolves to { status, body }. */
export async function api(base, method, route, { as, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (as) headers.Authorization = basic(as);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(base + route, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

/**
 * Follows GET /events and lets a test wait for the first event matching a predicate, including
 * events that arrived before the wait began.
 */
export async function followEvents(base, as, query = '') {
  const controller = new AbortController();
  const response = await fetch(`${base}/events${query}`, {
    headers: { Authorization: basic(as), Accept: 'text/event-stream' },
    signal: controller.signal,
  });
  if (!response.ok) throw new Error(`/events answered ${response.status}`);
  const seen = [];
  const waiters = [];
  (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          if (!data) continue;
          const event = JSON.parse(data);
          seen.push(event);
          for (const waiter of [...waiters]) {
            if (waiter.match(event)) {
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.resolve(event);
            }
          }
        }
      }
    } catch {
      // Aborted when the test closes the stream.
    }
  })();
  return {
    seen,
    waitFor(match, what, ms = 15000) {
      const already = seen.find(match);
      if (already) return Promise.resolve(already);
      return within(ms, what, new Promise((resolve) => waiters.push({ match, resolve })));
    },
    close: () => controller.abort(),
  };
}

/** A real HTTP server that records every request, for webhook deliveries. */
export async function startReceiver() {
  const received = [];
  const waiters = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const entry = { method: request.method, url: request.url, headers: request.headers, body };
      received.push(entry);
      for (const waiter of [...waiters]) {
        if (waiter.match(entry)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(entry);
        }
      }
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end('{"ok":true}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    received,
    waitFor(match, what, ms = 15000) {
      const already = received.find(match);
      if (already) return Promise.resolve(already);
      return within(ms, what, new Promise((resolve) => waiters.push({ match, resolve })));
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** Debian's Chromium, headless, with its calls to Google's services turned off. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export const screenshots = path.join(repo, 'artifacts', 'screenshots');
