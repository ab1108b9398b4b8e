// Checkers review and approve a release request in the browser; the researcher then sees it
// released and downloads the file. Inputs (besides lib.mjs's): ENCLAVE_REQUEST (a request of
// table.csv, which passed, and risky.csv, which failed with a flagged cell and has a suggested
// version), ENCLAVE_JOB (its job), ENCLAVE_RISKY (risky.csv's bytes, to compare the download).

import { readFileSync } from 'node:fs';

import {
  baseUrl, check, credentials, env, finish, launch, login, loginAs, newContext, shot, step,
  takePageProblems, totp,
} from './lib.mjs';

const base = baseUrl();
const request = env('ENCLAVE_REQUEST');
const job = env('ENCLAVE_JOB');
const { browser, page } = await launch({ locale: 'ja-JP' });

await step('a wrong TOTP code is refused on the login page', async () => {
  const { password, totp: secret } = credentials('carol');
  const stale = totp(secret, new Date(Date.now() - 5 * 60 * 1000));
  await page.goto(`${base}/login`);
  await page.fill('input[name=user]', 'carol');
  await page.fill('input[name=password]', password);
  await page.fill('input[name=totp]', stale);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  check(new URL(page.url()).pathname === '/login', `still on /login, got ${page.url()}`);
  const error = await page.locator('#login-error').innerText();
  check(error.includes('ユーザー名、パスワードまたはコードが正しくありません'),
    `login error in Japanese: ${error}`);
  await shot(page, 'login-refused-ja');
  // The 401 page is expected: chromium logs it as a failed resource.
  takePageProblems();
});

await step('carol signs in with password and TOTP (Japanese)', async () => {
  await loginAs(page, 'carol');
  await page.goto(`${base}/review`);
  check((await page.locator('html').getAttribute('lang')) === 'ja', 'page language is ja');
  check((await page.locator('h1').innerText()).includes('審査待ち'), 'queue heading in Japanese');
  check(await page.locator(`tr[data-request="${request}"]`).count() === 1, `${request} queued`);
  await shot(page, 'checker-queue-ja');
});

await step('the request page shows context, flagged cells, verdicts and the suggestion', async () => {
  await page.click(`a[href="/review/${request}"]`);
  check((await page.locator('#context').innerText()).includes('counts by group'), 'context');
  check((await page.locator('#justification').innerText()).length > 3, 'justification');
  const flagged = page.locator('#original-risky-csv td.flagged.fail');
  check(await flagged.count() === 1, `one failing cell, got ${await flagged.count()}`);
  check((await flagged.innerText()).trim() === '3', 'the failing cell is the 3');
  const reason = await flagged.getAttribute('title');
  check(/threshold|min/i.test(reason), `reason on hover: ${reason}`);
  check(await page.locator('#original-table-csv td.flagged').count() === 0, 'table.csv clean');
  check(await page.locator('#suggested-risky-csv').count() === 1, 'suggested version shown');
  check(!(await page.locator('#suggested-risky-csv').innerText()).match(/\b3\b/),
    'the suggestion hides the 3');
  check(await page.locator('section.file[data-file="risky.csv"] .verdict.fail').count() >= 1,
    'fail verdict shown');
  await shot(page, 'checker-review-ja');
});

async function vote(p, file, choice, comment) {
  const form = p.locator(`section.file[data-file="${file}"] form.vote`);
  await form.locator(`input[name=vote][value=${choice}]`).check();
  await form.locator('textarea[name=comment]').fill(comment);
  await Promise.all([p.waitForNavigation(), form.locator('button[type=submit]').click()]);
}

await step('approving a failed file without a comment is refused, with the rule', async () => {
  await vote(page, 'risky.csv', 'approve', '');
  const error = await page.locator('#vote-error').innerText();
  check(/comment/i.test(error), `vote error names the comment rule: ${error}`);
  await shot(page, 'checker-vote-refused-ja');
  takePageProblems();
});

await step('carol approves both files', async () => {
  await page.goto(`${base}/review/${request}`);
  await vote(page, 'table.csv', 'approve', '');
  check((await page.locator('#notice').count()) === 1, 'vote recorded notice');
  await vote(page, 'risky.csv', 'approve',
    'The 3 is protected: the justification shows the group is public knowledge.');
  check(await page.locator('section.file .voted').count() === 2, 'both files voted');
  check(await page.locator('#blinded').count() === 1, 'other votes hidden until decided');
  await shot(page, 'checker-voted-ja');
});

await step('text outputs mark pseudonym-like tokens; images are shown inline', async () => {
  const other = env('ENCLAVE_REQUEST_OTHER');
  await page.goto(`${base}/review/${other}`);
  const marks = page.locator('section.file[data-file="notes.txt"] mark.pseudonym');
  check(await marks.count() === 1, `one pseudonym marked, got ${await marks.count()}`);
  check((await marks.innerText()) === 'P0123456789abcdef', 'the pseudonym is the marked token');
  const image = page.locator('section.file[data-file="plot.png"] img.output');
  check(await image.count() === 1, 'the image is inline');
  const width = await image.evaluate((img) => img.naturalWidth);
  check(width === 8, `the image loaded (naturalWidth ${width})`);
  await shot(page, 'checker-review-text-image-ja');
});

const dave = await newContext(browser, { locale: 'en-US' });
await step('dave signs in (English) and approves both files: released', async () => {
  await loginAs(dave.page, 'dave');
  await dave.page.goto(`${base}/review/${request}`);
  check((await dave.page.locator('h1').innerText()).startsWith('Review'), 'English heading');
  check(await dave.page.locator('#votes tbody tr').count() === 0, 'carol\'s votes are blinded');
  await vote(dave.page, 'table.csv', 'approve', '');
  await vote(dave.page, 'risky.csv', 'approve', 'Agree with the justification.');
  const state = await dave.page.locator('#request-state').innerText();
  check(/released/.test(state), `request state after two approvals: ${state}`);
  check(await dave.page.locator('#votes tbody tr').count() === 4, 'all four votes unblinded');
  await shot(dave.page, 'checker-released-en');
});

await step('the queue no longer lists the request', async () => {
  await dave.page.goto(`${base}/review`);
  check(await dave.page.locator(`tr[data-request="${request}"]`).count() === 0, 'left the queue');
  await shot(dave.page, 'checker-queue-empty-en');
});

const alice = await newContext(browser, { locale: 'en-US' });
await step('alice sees her jobs, outputs with verdicts and the released request', async () => {
  await loginAs(alice.page, 'alice');
  await alice.page.goto(`${base}/jobs`);
  check(await alice.page.locator(`a[href="/jobs/${job}"]`).count() === 1, 'job listed');
  await shot(alice.page, 'researcher-jobs-en');
  await alice.page.goto(`${base}/jobs/${job}`);
  const risky = alice.page.locator('#outputs tr', { hasText: 'risky.csv' });
  check(await risky.locator('.verdict.fail').count() === 1, 'risky.csv verdict fail');
  await shot(alice.page, 'researcher-job-en');
  await alice.page.goto(`${base}/requests/${request}`);
  check(/released/.test(await alice.page.locator('#request-state').innerText()), 'released');
  await shot(alice.page, 'researcher-request-en');
});

await step('alice downloads the released file: the bytes under review', async () => {
  const [download] = await Promise.all([
    alice.page.waitForEvent('download'),
    alice.page.click('a.download[href$="/risky.csv"]'),
  ]);
  const bytes = readFileSync(await download.path(), 'utf8');
  check(bytes === env('ENCLAVE_RISKY'), `downloaded ${JSON.stringify(bytes)}`);
});

await step('carol signs out; her session cookie no longer opens pages', async () => {
  await page.goto(`${base}/review`);
  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
  check(new URL(page.url()).pathname === '/login', `after sign-out: ${page.url()}`);
  await page.goto(`${base}/review`);
  check(new URL(page.url()).pathname === '/login', 'pages need a new sign-in');
});

await finish();
