// Shared by the web phone's browser scripts.

// Polls an async page function until it returns something truthy (Playwright's
// waitForFunction takes a returned promise itself as the answer, and Puppeteer's differs);
// on time-out the error names what was awaited and, if given, what `diagnose` reads from
// the page.
export async function until(page, fn, arg, timeoutMs, what, diagnose) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > end) {
      const why = diagnose ? ': ' + JSON.stringify(await page.evaluate(diagnose)) : '';
      throw new Error('timed out waiting for ' + what + why);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
