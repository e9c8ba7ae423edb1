// Adds package-lock entries for optional platform packages (other OS/CPU builds of biome, rollup, ...)
// that the registry mirror of our build machines does not serve. Without an entry `npm ci` refuses the
// lock file as "out of sync"; with one, npm skips the package like any optional dependency it cannot
// install on this platform. Idempotent; plain JS so it runs on any Node before `npm ci`.
//
// Each entry also records the platform its name states (`os`, `cpu`, `libc`), e.g. @biomejs/cli-win32-x64
// is win32/x64: without them npm cannot tell that the package is for another platform and installs every
// one of them (nine biome binaries, about 750 MB unpacked, a large share of the time `npm ci` took).
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
// <os>-<cpu>[-<libc>] at the end of a platform package's name.
const PLATFORM =
  /-(aix|android|darwin|freebsd|linux|netbsd|openbsd|sunos|win32)-(arm|arm64|ia32|loong64|mips64el|ppc64|riscv64|s390x|x64)(?:-(gnu|musl|msvc))?$/;

/** `{ os, cpu, libc }` as package.json states them, from a platform package's name; {} when it is none. */
function platformOf(name) {
  const match = PLATFORM.exec(name);
  if (!match) return {};
  const [, os, cpu, abi] = match;
  const libc = abi === 'gnu' ? ['glibc'] : abi === 'musl' ? ['musl'] : undefined;
  return { os: [os], cpu: [cpu], ...(libc && { libc }) };
}

let added = 0;
let completed = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${path === '' ? '' : `${path}/`}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    packages[`node_modules/${name}`] = {
      version: String(range).replace(/^[\^~=]/, ''),
      ...(entry.dev && { dev: true }),
      optional: true,
      ...platformOf(name),
    };
    added++;
  }
}
// Entries written without a platform (by this script before it recorded one, or by hand) get it now.
for (const [path, entry] of Object.entries(packages)) {
  if (!entry.optional || entry.integrity || entry.os || entry.cpu) continue;
  const platform = platformOf(path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  if (!platform.os) continue;
  Object.assign(entry, platform);
  completed++;
}
if (added + completed > 0) writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  `complete-lockfile: ${added} optional platform entr${added === 1 ? 'y' : 'ies'} added, ${completed} given their platform`,
);
