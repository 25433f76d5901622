// The workbench in a real browser: Debian's Chromium, driven by playwright-core, against the built
// CLI's `serve` (built renderer, host child process, WebSocket with the per-run token). A person
// creates a listener with an "ask" script through the UI, real TCP clients connect, and the person
// decides one request with the keyboard and another with a click.
//
// Chromium missing: skipped on a developer machine, a failure with CI=true (install it with
// scripts/system-deps.sh). AW_SCREENSHOTS=1 saves screenshots of the main view to docs/screenshots/.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCREENSHOTS, browserSuite, caller, ci, createListenerInForm, missingChromium, until } from './helpers';

describe.skipIf(missingChromium && !ci)('workbench in Chromium against `serve`', () => {
  const { callers, problems, open } = browserSuite();

  it('create a listener with an ask script; decide one request by keyboard and one by click', async () => {
    const page = await open();
    await expect(page.getByTestId('backend').textContent()).resolves.toMatch(/Backend: POSIX emulation|Backend: Winsock/);

    // A listener through the form: winsock discipline, an "ask" script, and TCP_DEFER_ACCEPT so
    // the caller's first bytes are there on the first offer.
    const port = await createListenerInForm(page, 1, { select: { Discipline: 'winsock', 'Condition script': 'ask' }, fill: { 'Defer-accept (s)': '1' } });

    // Two real callers. In the winsock discipline the first one holds the head of the queue and
    // the second waits behind it in the kernel backlog.
    callers.push(caller(port, 'hello-1'), caller(port, 'hello-2'));
    const pendingRows = page.getByTestId('pending-row');
    await pendingRows.first().waitFor();
    await expect(pendingRows.count()).resolves.toBe(1);
    await page.getByTestId('head-of-line-1').waitFor();
    const firstKey = (await pendingRows.first().getAttribute('data-key'))!;
    await pendingRows.first().click();
    const inspector = page.getByTestId('inspector');
    await inspector.getByTestId('caller-data-hex').getByText(/hello-[12]/).waitFor();
    const firstGreeting = /hello-[12]/.exec((await inspector.getByTestId('caller-data-hex').textContent()) ?? '')![0];
    await expect(inspector.getByTestId('caller-data-source').textContent()).resolves.toMatch(/7 bytes, from a peek/);
    // The caller's QOS: both FLOWSPECs, fields nobody measured "not specified", derived ones
    // labelled with their TCP_INFO source (the POSIX emulation derives them; Winsock gives NULL).
    const qos = inspector.locator('.insp-block', { has: page.getByRole('heading', { name: 'Caller QOS (lpSQOS)' }) });
    const qosText = (await qos.textContent()) ?? '';
    if (/POSIX/.test((await page.getByTestId('backend').textContent()) ?? '')) {
      expect(qosText).toContain('SendingFlowspec');
      expect(qosText).toContain('ReceivingFlowspec');
      expect(qosText).toContain('not specified');
      expect(qosText).toMatch(/derived from tcpi_rtt/);
    }
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'queue.png') });

    // Keyboard: the queue has focus after the click; A accepts the selected request.
    await page.keyboard.press('a');
    const [first, second] = firstGreeting === 'hello-1' ? [callers[0]!, callers[1]!] : [callers[1]!, callers[0]!];
    await until(() => first.received() === firstGreeting, 10_000, 'the accepted caller to get its greeting echoed');

    // The second caller reaches the head; a click on its row, then on Reject.
    const secondGreeting = firstGreeting === 'hello-1' ? 'hello-2' : 'hello-1';
    const next = page.locator(`[data-testid="pending-row"]:not([data-key="${firstKey}"])`);
    await next.first().waitFor();
    await next.first().click();
    await inspector.getByTestId('caller-data-hex').getByText(secondGreeting).waitFor();
    await page.getByRole('button', { name: 'Reject', exact: true }).click();
    await expect(second.ended).resolves.toBe('reset');

    // The decisions log has both, decided by a person.
    const log = page.getByTestId('decision-row');
    await until(async () => (await log.count()) === 2, 10_000, 'two decisions in the log');
    await expect(page.getByTestId('decision-count').textContent()).resolves.toBe('2');
    const texts = await log.allTextContents();
    expect(texts.some((t) => /accept\s*person/.test(t))).toBe(true);
    expect(texts.some((t) => /reject\s*person/.test(t))).toBe(true);
    // Filter the log by verdict; open the accepted one in the inspector: its final state and data.
    await page.getByLabel('Filter decisions by verdict').selectOption('accept');
    await until(async () => (await log.count()) === 1, 5000, 'filtered log');
    await log.first().click();
    await inspector.getByTestId('final').getByText('person').waitFor();
    await inspector.getByTestId('caller-data-hex').getByText(firstGreeting).waitFor();
    await page.getByLabel('Filter decisions by verdict').selectOption('all');
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'decided.png') });

    // The script panel shows the running version; a broken script is refused with its position.
    await page.getByRole('tab', { name: 'Script' }).click();
    await page.getByTestId('running-version').getByText(/running v1 \(ask\.js/).waitFor();
    const editor = page.locator('.cm-content');
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\nexport const broken = (;');
    await page.keyboard.press('Control+s');
    await page.getByTestId('compile-problem').getByText(/ask\.js:\d+:\d+/).waitFor();
    await page.locator('.cm-lintRange-error').first().waitFor();
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'script.png') });

    // A script typed in the editor and applied with Ctrl+S replaces the running one: v2 refuses
    // callers that greet with "no" and accepts the rest.
    await editor.click();
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Delete');
    // insertText: as pasted, without the editor's bracket closing and indentation on each key.
    await page.keyboard.insertText([
      'export default function condition(req) {',
      "if (req.callerData.length === 0) return 'defer';",
      "return new TextDecoder().decode(req.callerData).startsWith('no') ? 'reject' : 'accept';",
      '}',
    ].join('\n'));
    await page.keyboard.press('Control+s');
    await page.getByTestId('running-version').getByText(/running v2/).waitFor();
    const refused = caller(port, 'no thanks');
    const welcome = caller(port, 'hi there');
    callers.push(refused, welcome);
    await expect(refused.ended).resolves.toBe('reset');
    await until(() => welcome.received() === 'hi there', 10_000, 'the accepted caller echoed');

    if (SCREENSHOTS) {
      // The same view in the dark theme (it follows prefers-color-scheme).
      await page.getByRole('tab', { name: 'Inspector' }).click();
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'decided-dark.png') });
    }
    expect(problems).toEqual([]);
  }, 90_000);
});
