/**
 * The browser the browser tests drive: Debian's chromium package (which `npm
 * test` installs where it can, tools/test-prerequisites.mjs), or the one
 * REALTIME_CHROMIUM names. Never a downloaded build.
 */
export const CHROMIUM = process.env.REALTIME_CHROMIUM || '/usr/bin/chromium';
