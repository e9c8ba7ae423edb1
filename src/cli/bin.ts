#!/usr/bin/env node
/**
 * The `agentstate` executable. The Node version check runs before any other module is even loaded: the
 * rest of the CLI is imported dynamically after it, so on an old Node the user sees one line saying what
 * to do instead of a crash in the native SQLite module.
 */
import { exitIfUnsupportedNode } from '../nodeVersion.ts';

exitIfUnsupportedNode();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
