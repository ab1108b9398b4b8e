// Compliance staff in the browser: the audit trail filtered by actor and action, paged back,
// exported as CSV and JSON Lines (checked line by line), the chain verified, a job's
// provenance read, and the language switched. Inputs (besides lib.mjs's): ENCLAVE_JOB (a job
// whose release carol voted on), ENCLAVE_MODULE_SHA256 (its module's hash).

import { readFileSync } from 'node:fs';

import { baseUrl, check, env, finish, launch, loginAs, shot, step } from './lib.mjs';

const base = baseUrl();
const job = env('ENCLAVE_JOB');
const { page } = await launch({ locale: 'ja-JP' });

await step('erin signs in with password and TOTP and opens the audit trail', async () => {
  await loginAs(page, 'erin');
  await page.goto(`${base}/audit`);
  check((await page.locator('h1').innerText()).includes('監査ログ'), 'Japanese heading');
  check(await page.locator('#events tbody tr').count() === 50, 'a full first page of 50');
  await shot(page, 'compliance-trail-ja');
});

await step('paging back shows older events', async () => {
  const newest = Number(await page.locator('#events tbody tr').first().getAttribute('data-seq'));
  const oldestShown = Number(await page.locator('#events tbody tr').last().getAttribute('data-seq'));
  await Promise.all([page.waitForNavigation(), page.click('#next-page')]);
  const first = Number(await page.locator('#events tbody tr').first().getAttribute('data-seq'));
  check(first < oldestShown && oldestShown < newest, `page 2 starts at ${first} < ${oldestShown}`);
  await shot(page, 'compliance-trail-page2-ja');
});

await step('filter by actor and action', async () => {
  await page.goto(`${base}/audit`);
  await page.fill('#filters input[name=actor]', 'carol');
  await page.fill('#filters input[name=action]', 'release.vote');
  await Promise.all([page.waitForNavigation(), page.click('#filters button[type=submit]')]);
  const rows = page.locator('#events tbody tr');
  const count = await rows.count();
  check(count >= 2, `carol's votes: ${count}`);
  for (let i = 0; i < count; i += 1) {
    check(await rows.nth(i).getAttribute('data-actor') === 'carol', 'actor filter');
    check(await rows.nth(i).getAttribute('data-action') === 'release.vote', 'action filter');
  }
  await page.selectOption('#filters select[name=outcome]', 'ok');
  await Promise.all([page.waitForNavigation(), page.click('#filters button[type=submit]')]);
  check(await page.locator('#events tbody tr[data-outcome="ok"]').count() === 2, 'two ok votes');
  check(await page.locator('#events tbody tr:not([data-outcome="ok"])').count() === 0, 'only ok');
  await shot(page, 'compliance-filtered-ja');
});

async function exported(selector) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return readFileSync(await download.path(), 'utf8');
}

await step('export the filtered events as CSV and JSON Lines, led by the checkpoint', async () => {
  const jsonl = (await exported('#export-jsonl')).trim().split('\n');
  const header = JSON.parse(jsonl[0]);
  check(header.checkpoint && header.checkpoint.root_hash, 'checkpoint leads the export');
  const events = jsonl.slice(1).map((line) => JSON.parse(line));
  check(events.length === 2, `JSON Lines events: ${events.length}`);
  for (const e of events) {
    check(e.actor === 'carol' && e.action === 'release.vote' && e.outcome === 'ok', 'filtered');
  }
  const csv = (await exported('#export-csv')).trim().split('\n');
  check(csv.some((line) => /^seq,/.test(line) || /seq/.test(line)), 'CSV header');
  check(csv.filter((line) => line.includes('release.vote')).length === 2, 'CSV has both votes');
});

await step('the chain verifies', async () => {
  await page.goto(`${base}/audit/verify`);
  check(await page.locator('#chain-status').getAttribute('data-status') === 'ok', 'chain ok');
  check(Number(await page.locator('#verified-events').innerText()) > 50, 'events counted');
  await shot(page, 'compliance-verify-ja');
});

await step('provenance of the job: module hash, dataset, limits, outputs, checks, votes', async () => {
  await page.goto(`${base}/provenance/${job}`);
  const text = await page.locator('#provenance').innerText();
  check(text.includes(env('ENCLAVE_MODULE_SHA256')), 'module hash');
  for (const word of ['risky.csv', 'carol', 'dave', 'approve']) {
    check(text.includes(word), `provenance mentions ${word}`);
  }
  await shot(page, 'compliance-provenance-ja');
});

await step('switch to English and back', async () => {
  await page.goto(`${base}/audit`);
  await Promise.all([page.waitForNavigation(), page.click('#lang-en')]);
  check((await page.locator('h1').innerText()) === 'Audit trail', 'English heading');
  check((await page.locator('html').getAttribute('lang')) === 'en', 'html lang en');
  await shot(page, 'compliance-trail-en');
  await Promise.all([page.waitForNavigation(), page.click('#lang-ja')]);
  check((await page.locator('html').getAttribute('lang')) === 'ja', 'back to Japanese');
});

await finish();
