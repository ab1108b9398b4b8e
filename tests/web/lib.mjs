// Helpers for enclave's browser tests: headless Debian chromium driven by playwright-core
// (no browser download), TOTP codes from oathtool, screenshots as test artefacts, and a
// strict check that pages log no console error, page error or CSP violation.
//
// Every script reads its inputs from the environment and exits 0 on success:
//   ENCLAVE_URL        base URL of the HTTPS door, e.g. https://127.0.0.1:8443 (required)
//   ENCLAVE_CERT       the server's PEM certificate (e.g. DIR/tls/cert.pem): when set, chromium
//                      trusts exactly that key (SPKI pin) and every other certificate error fails;
//                      when unset, certificate errors are ignored (with a warning)
//   ENCLAVE_WEB_USERS  JSON {"carol": {"password": "...", "totp": "BASE32SECRET"}, ...}
//   ENCLAVE_ARTIFACTS  folder for screenshots (default: target/web-artifacts in the repository)
//   CHROMIUM           the browser (default: /usr/bin/chromium)

import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folder for artefacts; screenshots go to `${artifacts}/screenshots/`. */
export const artifacts = path.resolve(
  repoRoot,
  process.env.ENCLAVE_ARTIFACTS || path.join('target', 'web-artifacts'),
);

/** A required environment variable (throws when unset or empty). */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** `ENCLAVE_URL` without a trailing slash. */
export function baseUrl() {
  return env('ENCLAVE_URL').replace(/\/+$/, '');
}

/** `ENCLAVE_WEB_USERS`, parsed: { name: { password, totp } }. */
export function users() {
  return JSON.parse(env('ENCLAVE_WEB_USERS'));
}

/** One user's credentials from `ENCLAVE_WEB_USERS`: { password, totp }. */
export function credentials(name) {
  const user = users()[name];
  if (!user || !user.password || !user.totp) {
    throw new Error(`ENCLAVE_WEB_USERS has no password and totp for ${name}`);
  }
  return user;
}

// Everything the pages did wrong (console errors, page errors, CSP violations), checked by
// finish(); and every browser launched, so that a failing step can photograph all open pages.
const problems = [];
const browsers = [];

/** The problems collected so far (strings); finish() fails when there are any. */
export function pageProblems() {
  return [...problems];
}

/**
 * Returns the problems collected so far and forgets them: for a step that expects one, such
 * as chromium's console error "Failed to load resource: ... status of 403" on a refused page.
 * Check what it returns; everything else still fails the script at finish().
 */
export function takePageProblems() {
  return problems.splice(0);
}

/** base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as chromium's SPKI list wants. */
export function spkiHash(pemPath) {
  const certificate = new X509Certificate(readFileSync(pemPath));
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * Launches headless chromium and opens a context and a page in it.
 * options: { locale = 'en-US', timezoneId = 'Asia/Tokyo', viewport = {width: 1280, height: 900} }
 * Returns { browser, context, page }. More contexts (another user's session, another
 * locale) come from newContext(browser, options).
 */
export async function launch(options = {}) {
  const args = [
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  // chromium's own sandbox cannot start as root (containers, CI): only then go without it.
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const cert = process.env.ENCLAVE_CERT;
  if (cert) {
    // Trust exactly the server's key; any other certificate still fails.
    // (chromium honours this flag only with --user-data-dir, which playwright always passes.)
    args.push(`--ignore-certificate-errors-spki-list=${spkiHash(cert)}`);
  } else {
    console.error('warning: ENCLAVE_CERT is not set; ignoring certificate errors');
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args,
  });
  browsers.push(browser);
  const { context, page } = await newContext(browser, options);
  return { browser, context, page };
}

/**
 * A new browser context (its own cookies: one per logged-in user) with one page; every page in
 * it reports console errors, page errors and CSP violations to the collected problems.
 * options: { locale = 'en-US', timezoneId = 'Asia/Tokyo', viewport }
 */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({
    locale: options.locale || 'en-US',
    timezoneId: options.timezoneId || 'Asia/Tokyo',
    viewport: options.viewport || { width: 1280, height: 900 },
    ignoreHTTPSErrors: !process.env.ENCLAVE_CERT,
    acceptDownloads: true,
  });
  const label = options.locale || 'en-US';
  // CSP violations also appear as console errors; the event gives the directive and URI.
  await context.exposeBinding('__enclaveCspViolation', ({ page }, violation) => {
    problems.push(`[${label}] CSP violation on ${page.url()}: ${violation}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__enclaveCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || '(inline)'}` +
          ` at ${event.sourceFile || '?'}:${event.lineNumber || '?'}`,
      );
    });
  });
  context.on('page', (page) => watch(page, label));
  const page = await context.newPage();
  return { context, page };
}

function watch(page, label) {
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const at = message.location();
      problems.push(
        `[${label}] console error on ${page.url()}: ${message.text()}` +
          (at && at.url ? ` (${at.url}:${at.lineNumber})` : ''),
      );
    }
  });
  page.on('pageerror', (error) => {
    problems.push(`[${label}] page error on ${page.url()}: ${error.message}`);
  });
}

/**
 * The TOTP code for a base32 secret, from oathtool (RFC 6238: SHA-1, 30 s, 6 digits): now, or
 * at the Date `at` (e.g. one step back, to test that a server refuses a stale or replayed code).
 */
export function totp(secret, at = undefined) {
  const args = ['--totp', '-b'];
  if (at) args.push('-N', `@${Math.floor(at.getTime() / 1000)}`);
  const code = execFileSync('oathtool', [...args, secret], { encoding: 'utf8' }).trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`oathtool printed ${JSON.stringify(code)}`);
  return code;
}

/** Seconds until the current 30-second TOTP step ends. */
function secondsLeftInStep() {
  return 30 - ((Date.now() / 1000) % 30);
}

/**
 * Logs in through the login page: fills user, password and a fresh TOTP code, submits, and
 * waits for the next page. Throws with the page's error text when it is still on /login.
 * A code about to expire is not used: it waits for the next 30-second step first.
 */
export async function login(page, base, user, password, totpSecret) {
  const response = await page.goto(`${base}/login`);
  if (!response || !response.ok()) {
    throw new Error(`GET ${base}/login answered ${response ? response.status() : 'nothing'}`);
  }
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  if (secondsLeftInStep() < 3) await page.waitForTimeout(secondsLeftInStep() * 1000 + 200);
  await page.fill('input[name=totp]', totp(totpSecret));
  const navigated = page.waitForNavigation();
  await page.click('button[type=submit]');
  await navigated;
  if (new URL(page.url()).pathname.replace(/\/+$/, '') === '/login') {
    const alert = page.locator('[role=alert], .error, .errors').first();
    const message = (await alert.count())
      ? await alert.innerText()
      : (await page.locator('body').innerText()).slice(0, 500);
    throw new Error(`login as ${user} failed: ${message.trim()}`);
  }
}

/** login() with ENCLAVE_URL and the user's entry in ENCLAVE_WEB_USERS. */
export async function loginAs(page, user) {
  const { password, totp: secret } = credentials(user);
  await login(page, baseUrl(), user, password, secret);
}

/** Full-page screenshot to `${artifacts}/screenshots/<name>.png`; returns the path. */
export async function shot(page, name) {
  const dir = path.join(artifacts, 'screenshots');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
  return file;
}

/** Throws `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/**
 * Runs one named step. On failure: logs the error, takes `failure-<step>.png` of every open
 * page (numbered when there are several), prints each page's URL and visible text, closes the
 * browsers and exits 1. Returns what fn returns.
 */
export async function step(name, fn) {
  const started = Date.now();
  console.log(`step: ${name}`);
  try {
    const result = await fn();
    console.log(`  ok (${Date.now() - started} ms)`);
    return result;
  } catch (error) {
    console.error(`FAILED step "${name}": ${error && error.stack ? error.stack : error}`);
    await dumpPages(`failure-${name}`);
    if (problems.length) console.error(`page problems so far:\n  ${problems.join('\n  ')}`);
    await closeAll();
    process.exit(1);
  }
}

async function dumpPages(prefix) {
  const pages = browsers.flatMap((b) => b.contexts().flatMap((c) => c.pages()));
  for (const [i, page] of pages.entries()) {
    const name = pages.length > 1 ? `${prefix}-${i + 1}` : prefix;
    try {
      await shot(page, name);
    } catch (error) {
      console.error(`  (no screenshot: ${error.message})`);
    }
    let text = '';
    try {
      text = await page.locator('body').innerText({ timeout: 2000 });
    } catch (error) {
      text = `(no text: ${error.message})`;
    }
    console.error(`  page ${i + 1}: ${page.url()}\n----- visible text -----\n${text}\n------------------------`);
  }
}

async function closeAll() {
  for (const browser of browsers.splice(0)) {
    await browser.close().catch(() => {});
  }
}

/**
 * Ends a script: fails (exit 1) when any page logged a console error, threw, or violated the
 * CSP; otherwise closes the browsers and prints `ok`. Call it last.
 */
export async function finish() {
  if (problems.length) {
    console.error(`FAILED: ${problems.length} page problem(s):\n  ${problems.join('\n  ')}`);
    await dumpPages('failure-page-problems');
    await closeAll();
    process.exit(1);
  }
  await closeAll();
  console.log('ok');
}
