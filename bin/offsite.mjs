#!/usr/bin/env node
// Entry of `offsite` from a checkout (bin/offsite, npm link). Plain JavaScript that any Node
// can read: an older Node gets one line saying what to do instead of ERR_UNKNOWN_FILE_EXTENSION ".ts".
import { fileURLToPath } from 'node:url';
import module from 'node:module';

const REQUIRED = 24;
if (Number(process.versions.node.split('.')[0]) < REQUIRED) {
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  process.stderr.write(
    `offsite needs Node.js ${REQUIRED} or newer, but ${process.execPath} is ${process.version}: run \`. .ci/node.sh\` in ${root} (installs Node ${REQUIRED} into .cache/node24 and puts it on PATH), or install Node.js ${REQUIRED} from https://nodejs.org\n`,
  );
  process.exit(1);
}
// Node's compile cache (NODE_COMPILE_CACHE when set, as the image does; else a directory in the
// system's temporary directory): later starts skip type-stripping the sources and compiling the
// dependencies, and the TypeScript stripper is not loaded at all (about 17 MiB less per process).
module.enableCompileCache?.();
import('../src/main.ts').then((main) => main.start(process.argv.slice(2)));
