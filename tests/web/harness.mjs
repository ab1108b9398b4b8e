// Self-test of lib.mjs against any running enclave, so that a green page test means something:
// TOTP codes match RFC 6238's published vector, a CSP violation, an uncaught page error and a
// refused page are each caught, and screenshots are written.
//   ENCLAVE_URL=https://127.0.0.1:PORT ENCLAVE_CERT=DIR/tls/cert.pem node tests/web/harness.mjs

import { existsSync } from 'node:fs';

import { baseUrl, check, finish, launch, shot, step, takePageProblems, totp } from './lib.mjs';

await step('totp matches RFC 6238 (SHA-1 vector at T=1111111109)', () => {
  // RFC 6238 appendix B: secret "12345678901234567890", 8 digits 07081804; 6 digits keep the tail.
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  check(totp(secret, new Date(1111111109 * 1000)) === '081804', 'oathtool disagrees with RFC 6238');
  check(/^\d{6}$/.test(totp(secret)), 'current code is not 6 digits');
});

const base = baseUrl();
const { page } = await launch({ locale: 'ja-JP' });

await step('locale reaches the page', async () => {
  await page.goto(`${base}/healthz`);
  const language = await page.evaluate(() => navigator.language);
  check(language === 'ja-JP', `navigator.language is ${language}`);
});

await step('a CSP violation is caught', async () => {
  // /healthz is served with default-src 'none': an image must be blocked and reported.
  await page.evaluate(() => {
    const image = document.createElement('img');
    image.src = '/harness-selftest.png';
    document.body.append(image);
  });
  await page.waitForTimeout(300);
  const problems = takePageProblems();
  check(problems.some((p) => p.includes('CSP violation') && p.includes('img-src')), `not seen: ${problems}`);
  check(problems.some((p) => p.includes('console error') && p.includes('Content Security Policy')), `not seen: ${problems}`);
});

await step('an uncaught page error is caught', async () => {
  await page.evaluate(() => setTimeout(() => { throw new Error('harness self-test'); }, 0));
  await page.waitForTimeout(300);
  const problems = takePageProblems();
  check(problems.some((p) => p.includes('page error') && p.includes('harness self-test')), `not seen: ${problems}`);
});

await step('a refused page is caught', async () => {
  const response = await page.goto(`${base}/harness-selftest-no-such-page`);
  check(response.status() === 404, `status ${response.status()}`);
  await page.waitForTimeout(300);
  const problems = takePageProblems();
  check(problems.some((p) => p.includes('status of 404')), `not seen: ${problems}`);
});

await step('screenshot', async () => {
  await page.goto(`${base}/healthz`);
  check(existsSync(await shot(page, 'harness-healthz-ja')), 'screenshot not written');
});

await finish();
