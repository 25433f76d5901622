// The Simulator and Charts views in a real browser (Debian's Chromium via playwright-core) against
// the built CLI's `serve`: a person creates an accept-everything listener, runs a caller simulation
// against it from the Simulator view, watches its progress and reads the outcome table, sees the
// charts draw the decisions it caused, and cancels a second, slower run.
//
// Chromium missing: skipped on a developer machine, a failure with CI=true. AW_SCREENSHOTS=1 saves
// screenshots of both views to docs/screenshots/.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCREENSHOTS, browserSuite, ci, createListenerInForm, missingChromium, until } from './helpers';

describe.skipIf(missingChromium && !ci)('simulator and charts in Chromium against `serve`', () => {
  const { problems, open } = browserSuite();

  it('simulate against a listener from the UI: progress, outcome table, charts drawn, a cancel', async () => {
    const page = await open({ width: 1400, height: 1000 });

    const port = await createListenerInForm(page, 1, { select: { Discipline: 'held', 'Condition script': 'accept' } });

    // The Simulator view: the running listener is the target already.
    await page.getByRole('tab', { name: 'Simulator' }).click();
    const form = page.getByRole('form', { name: 'Simulation' });
    await expect(form.getByLabel('Target').inputValue()).resolves.toBe('1');
    await form.getByLabel('Connections').fill('400');
    await form.getByLabel('Concurrency').fill('20');
    await form.getByLabel('Rate (per second)').fill('200');
    await form.getByLabel('Data sent by each client').fill('hello');
    // A mistake first: the field says what is wrong, nothing starts.
    await form.getByLabel('Timeout (ms)').fill('0');
    await form.getByRole('button', { name: 'Start' }).click();
    await form.getByText('Milliseconds from 1 to 600,000 (10 min).').waitFor();
    await expect(page.getByTestId('sim-run').count()).resolves.toBe(0);
    await form.getByLabel('Timeout (ms)').fill('5000');
    await form.getByRole('button', { name: 'Start' }).click();

    // Progress while it runs (400 at 200/s: about two seconds, progress four times a second).
    const run = page.getByTestId('sim-run');
    await run.and(page.locator('[data-state="running"]')).waitFor();
    const midway = await until(async () => {
      const m = /^(\d[\d,]*) \/ 400 done$/.exec((await page.getByTestId('sim-progress').textContent()) ?? '');
      const done = m ? Number(m[1]!.replace(/,/g, '')) : -1;
      return done > 0 && done < 400 ? done : null;
    }, 10_000, 'progress part of the way');
    expect(midway).toBeGreaterThan(0);
    await expect(page.getByTestId('sim-counts').textContent()).resolves.toMatch(/served \d/);

    // Done: the outcome table.
    await run.and(page.locator('[data-state="done"]')).waitFor({ timeout: 20_000 });
    await expect(page.getByTestId('sim-progress').textContent()).resolves.toBe('400 / 400 done');
    await expect(page.getByTestId('outcome-served').textContent()).resolves.toMatch(/^served400100\.0%/);
    await expect(page.getByTestId('sim-report').textContent()).resolves.toContain('400 connected; 2.0 KiB sent, 2.0 KiB received.');
    await expect(run.textContent()).resolves.toContain(`127.0.0.1:${port}`);
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'simulator.png') });

    // The Charts view: the listener's 400 decisions, drawn.
    await page.getByRole('tab', { name: 'Charts' }).click();
    const group = page.getByTestId('charts-1');
    await until(async () => /^([\d,]+) latency points kept$/.exec((await group.getByTestId('latency-points').textContent()) ?? '')?.[1] === '400', 10_000, '400 latency points in the charts');
    const curves = group.getByTestId('chart-latency').locator('path.recharts-line-curve');
    await until(async () => (await curves.count()) === 2, 5000, 'the p50 and p99 lines');
    const d = (await curves.first().getAttribute('d')) ?? '';
    expect(d.split(/[ML]/).length).toBeGreaterThan(5); // a line through several bins
    await expect(group.getByTestId('chart-latency').textContent()).resolves.toMatch(/400 decisions, p50 [\d.]+ (µs|ms), p99/);
    expect(await group.getByTestId('chart-verdicts').locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
    expect(await group.getByTestId('chart-histogram').locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
    await expect(group.getByTestId('chart-condition').textContent()).resolves.toMatch(/400 script calls/);
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'charts.png') });

    // Pause while the Charts view is shown and decisions stream in (a second, slower run): the
    // charts hold still while the note counts what arrives; Resume catches up. Then that run is
    // cancelled from the Simulator view.
    await page.getByRole('tab', { name: 'Simulator' }).click();
    await form.getByLabel('Connections').fill('5000');
    await form.getByLabel('Rate (per second)').fill('100');
    await form.getByRole('button', { name: 'Start' }).click();
    await until(async () => Number(/^(\d+)/.exec((await page.getByTestId('sim-progress').textContent()) ?? '')?.[1] ?? 0) >= 20, 10_000, 'the second run under way');
    await page.getByRole('tab', { name: 'Charts' }).click();
    const kept = async (): Promise<number> => Number(/^([\d,]+) latency points kept$/.exec((await group.getByTestId('latency-points').textContent()) ?? '')?.[1]?.replace(/,/g, '') ?? NaN);
    const streaming = await kept();
    await until(async () => (await kept()) > streaming, 5000, 'the charts to follow the run');
    await page.getByRole('button', { name: 'Pause' }).click();
    // Read once the note is up (a redraw under way at the click may still land before that).
    const note = page.getByTestId('charts-paused');
    await note.getByText(/more decisions? so far/).waitFor({ timeout: 5000 });
    const held = await kept();
    const noted = async (): Promise<number> => Number(/\(([\d,]+) more decisions? so far\)/.exec((await note.textContent()) ?? '')?.[1]?.replace(/,/g, '') ?? 0);
    const before = await noted();
    await until(async () => (await noted()) >= before + 50, 10_000, 'more decisions while paused');
    expect(await kept()).toBe(held);
    await page.getByRole('button', { name: 'Resume' }).click();
    await until(async () => (await kept()) > held, 5000, 'the charts to catch up');

    await page.getByRole('tab', { name: 'Simulator' }).click();
    await run.getByRole('button', { name: 'Cancel' }).click();
    await run.and(page.locator('[data-state="cancelled"]')).waitFor({ timeout: 10_000 });
    await expect(page.getByTestId('sim-report').textContent()).resolves.toMatch(/of 5,000 connections had an outcome in .* \(cancelled\)/);
    expect(problems).toEqual([]);
  }, 120_000);
});
